//! `issc train`: dataset/ → a classifier over SFace embeddings in runs/NAME/.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use issc_train::{EmbeddingCache, Mode, TrainOptions, embed_dataset, load_dataset, train_head};

use crate::cli::Context;

/// `--mode` values.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum TrainModeArg {
    /// A softmax head on frozen SFace embeddings (cached by crop BLAKE3).
    #[default]
    Head,
    /// Fine-tune SFace's last blocks with the head (not implemented yet).
    Finetune,
}

/// `issc train` flags.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset folder written by `issc prepare` (holds dataset.json and {train,val,test}/<label>/).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Run folder: checkpoints/, best/, metrics.json, test.json, model.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// What to train.
    #[arg(long, value_enum, default_value = "head")]
    pub mode: TrainModeArg,
    /// Maximum number of epochs.
    #[arg(long, default_value_t = 500)]
    pub epochs: usize,
    /// Stop after this many epochs without a lower validation loss.
    #[arg(long, default_value_t = 20)]
    pub patience: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Seed of initialisation and shuffling (same seed, same data: same model).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hidden units of a small MLP head (default: a linear head).
    #[arg(long, value_name = "N")]
    pub hidden: Option<usize>,
    /// Continue the run in --out from its last checkpoint (identical to an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Embedding cache folder [default: .issc-cache/embeddings].
    #[arg(long, value_name = "DIR", env = "ISSC_CACHE_DIR")]
    pub cache: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `issc train`.
pub fn run(ctx: &Context, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let opts = TrainOptions {
        mode: match args.mode {
            TrainModeArg::Head => Mode::Head,
            TrainModeArg::Finetune => Mode::Finetune,
        },
        epochs: args.epochs,
        patience: args.patience,
        lr: args.lr,
        weight_decay: args.weight_decay,
        batch: args.batch,
        seed: args.seed,
        hidden: args.hidden,
        resume: args.resume,
    };
    if opts.mode == Mode::Finetune {
        anyhow::bail!("--mode finetune is not implemented yet; use --mode head");
    }
    let files = load_dataset(&args.data)?;
    for w in &files.warnings {
        eprintln!("warning: {w}");
    }
    ctx.engine()?;
    let models = ctx.models()?;
    let embedder = issc_detect::SFace::new(models)
        .with_context(|| format!("cannot load SFace from {}", models.path().display()))?;
    let cache_dir = args.cache.clone().unwrap_or_else(|| PathBuf::from(".issc-cache/embeddings"));
    let cache = EmbeddingCache::new(&cache_dir);

    let started = Instant::now();
    let bar = ProgressBar::new(files.files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} embedding [{bar:30}] {pos}/{len} crops {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let set = embed_dataset(&files, &embedder, &cache, &ctx.load, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let embed_secs = started.elapsed().as_secs_f64();

    let bar = ProgressBar::new(opts.epochs as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} training [{bar:30}] epoch {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = train_head(&set, &args.out, &opts, &mut |m| {
        tracing::info!(
            "epoch {:4}: train loss {:.4} acc {:.3} · val loss {:.4} acc {:.3} · {:.3} s",
            m.epoch,
            m.train_loss,
            m.train_accuracy,
            m.val_loss,
            m.val_accuracy,
            m.seconds
        );
        bar.set_position(m.epoch as u64);
        bar.set_message(format!("val loss {:.4} acc {:.3}", m.val_loss, m.val_accuracy));
    })?;
    bar.finish_and_clear();

    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["embedding_seconds"] = serde_json::json!(embed_secs);
        v["cache_dir"] = serde_json::json!(cache_dir.display().to_string());
        v["labels"] = serde_json::json!(set.labels);
        v["train_faces"] = serde_json::json!(set.train.len());
        v["val_faces"] = serde_json::json!(set.val.len());
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "embeddings: {} crops in {embed_secs:.1} s (cache {}: {} hits, {} misses)",
        set.train.len() + set.val.len() + set.test.len(),
        cache_dir.display(),
        set.cache.hits,
        set.cache.misses
    );
    println!(
        "{} labels · train {} · val {} · test {}",
        set.labels.len(),
        set.train.len(),
        set.val.len(),
        set.test.len()
    );
    if let Some(n) = report.resumed_from {
        println!("resumed after epoch {n}");
    }
    println!(
        "epochs: {}{} · best epoch {} · {:.4} s/epoch",
        report.epochs,
        if report.stopped_early { " (early stop)" } else { "" },
        report.best_epoch,
        report.seconds_per_epoch
    );
    println!("validation: loss {:.4} · accuracy {:.3}", report.val_loss, report.val_accuracy);
    println!("test: accuracy {:.3} on {} faces", report.test_accuracy, report.test_faces);
    let os = &report.open_set;
    for t in [&os.max_probability, &os.centroid_cosine] {
        println!(
            "open set {}: threshold {:.4} · known accepted {:.3} · unknown rejected {:.3} · AUC {:.3}{}",
            t.score,
            t.threshold,
            t.known_accept,
            t.unknown_reject,
            t.auc,
            if t.score == os.chosen { " (chosen)" } else { "" }
        );
    }
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
