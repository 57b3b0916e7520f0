//! `issc train`: dataset/ → a classifier over SFace embeddings in runs/NAME/.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use issc_train::{
    EmbeddingCache, Mode, Precision, TrainDevice, TrainOptions, embed_dataset, load_dataset, load_faces,
    train_finetune, train_head,
};

use crate::cli::Context;

/// `--mode` values.
#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum TrainModeArg {
    /// A softmax head on frozen SFace embeddings (cached by crop BLAKE3).
    #[default]
    Head,
    /// Fine-tune SFace's last --unfreeze stages with the head, on augmented crops (burn, CPU: minutes).
    Finetune,
}

/// `--device` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DeviceArg {
    /// burn's flex CPU backend.
    Cpu,
    /// NVIDIA GPU 0 (needs a build with `--features cuda`).
    Cuda,
    /// The default wgpu adapter (needs a build with `--features wgpu`).
    Wgpu,
}

/// `--precision` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PrecisionArg {
    /// 32-bit floats.
    F32,
    /// Half precision (GPU).
    F16,
    /// bfloat16 (GPU).
    Bf16,
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
    /// Maximum number of epochs [default: 500 head, 30 finetune].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many epochs without a lower validation loss [default: 20 head, 6 finetune].
    #[arg(long)]
    pub patience: Option<usize>,
    /// AdamW learning rate of the head [default: 0.05 head, 0.01 finetune].
    #[arg(long)]
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Mini-batch size [default: 32 head, 16 finetune].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of initialisation and shuffling (same seed, same data: same model).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hidden units of a small MLP head (default: a linear head).
    #[arg(long, value_name = "N")]
    pub hidden: Option<usize>,
    /// finetune: how many of SFace's 15 stages, from the end, are trained (1 = the embedding layer; 15 = all).
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub unfreeze: usize,
    /// finetune: the backbone's learning rate is --lr times this.
    #[arg(long, value_name = "F", default_value_t = 0.01)]
    pub backbone_lr_scale: f64,
    /// Where to train: cpu (always), cuda or wgpu (builds with `--features cuda` / `--features wgpu`).
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Float precision; f16 / bf16 only on a GPU device.
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionArg,
    /// finetune: no augmentation (flips, small shifts/rotations/scale, brightness and contrast jitter).
    #[arg(long)]
    pub no_augment: bool,
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

/// A finished `issc train`: the report and what the summary prints.
pub struct Trained {
    /// The training report.
    pub report: issc_train::TrainReport,
    /// Labels in class order.
    pub labels: Vec<String>,
    /// Train, val and test faces.
    pub sizes: [usize; 3],
    /// Seconds spent embedding (head mode).
    pub embed_secs: Option<f64>,
    /// Embedding cache use (head mode).
    pub cache: Option<issc_train::CacheStats>,
    /// The embedding cache folder.
    pub cache_dir: PathBuf,
    /// What was trained.
    pub mode: Mode,
}

/// The training settings `args` ask for (mode defaults filled in).
pub fn options(args: &TrainArgs) -> TrainOptions {
    let mode = match args.mode {
        TrainModeArg::Head => Mode::Head,
        TrainModeArg::Finetune => Mode::Finetune,
    };
    let defaults = TrainOptions::for_mode(mode);
    TrainOptions {
        mode,
        epochs: args.epochs.unwrap_or(defaults.epochs),
        patience: args.patience.unwrap_or(defaults.patience),
        lr: args.lr.unwrap_or(defaults.lr),
        weight_decay: args.weight_decay,
        batch: args.batch.unwrap_or(defaults.batch),
        seed: args.seed,
        hidden: args.hidden,
        unfreeze: args.unfreeze,
        backbone_lr_scale: args.backbone_lr_scale,
        augment: !args.no_augment,
        device: match args.device {
            DeviceArg::Cpu => TrainDevice::Cpu,
            DeviceArg::Cuda => TrainDevice::Cuda,
            DeviceArg::Wgpu => TrainDevice::Wgpu,
        },
        precision: match args.precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::Bf16 => Precision::Bf16,
        },
        resume: args.resume,
    }
}

/// Train as `issc train` does (warnings and progress on stderr), without printing the summary.
pub fn train(ctx: &Context, args: &TrainArgs) -> anyhow::Result<Trained> {
    let opts = options(args);
    let mode = opts.mode;
    let files = load_dataset(&args.data)?;
    for w in &files.warnings {
        eprintln!("warning: {w}");
    }
    ctx.engine()?;
    let models = ctx.models()?;
    let cache_dir = args.cache.clone().unwrap_or_else(|| PathBuf::from(".issc-cache/embeddings"));

    let started = Instant::now();
    let bar = ProgressBar::new(files.files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} embedding [{bar:30}] {pos}/{len} crops {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let epoch_bar = ProgressBar::new(opts.epochs as u64);
    epoch_bar.set_style(
        ProgressStyle::with_template("{spinner} training [{bar:30}] epoch {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut on_epoch = |m: &issc_train::EpochMetrics| {
        tracing::info!(
            "epoch {:4}: train loss {:.4} acc {:.3} · val loss {:.4} acc {:.3} · {:.3} s",
            m.epoch,
            m.train_loss,
            m.train_accuracy,
            m.val_loss,
            m.val_accuracy,
            m.seconds
        );
        epoch_bar.set_position(m.epoch as u64);
        epoch_bar
            .set_message(format!("val loss {:.4} acc {:.3} · {:.1} s/epoch", m.val_loss, m.val_accuracy, m.seconds));
    };
    let (report, labels, sizes, embed_secs, cache) = match mode {
        Mode::Head => {
            let embedder = issc_detect::SFace::new(models)
                .with_context(|| format!("cannot load SFace from {}", models.path().display()))?;
            let cache = EmbeddingCache::new(&cache_dir);
            let set = embed_dataset(&files, &embedder, &cache, &ctx.load, &|done, _| bar.set_position(done as u64))?;
            bar.finish_and_clear();
            let embed_secs = started.elapsed().as_secs_f64();
            let report = train_head(&set, &args.out, &opts, &mut on_epoch)?;
            let sizes = [set.train.len(), set.val.len(), set.test.len()];
            (report, set.labels, sizes, Some(embed_secs), Some(set.cache))
        }
        Mode::Finetune => {
            bar.finish_and_clear();
            let set = load_faces(&files, &ctx.load)?;
            let sface = models.load(&issc_detect::models::SFACE_DEQUANT)?;
            eprintln!(
                "fine-tuning the last {} of SFace's 15 stages on {} crops (burn, CPU); this takes minutes",
                opts.unfreeze.min(15),
                set.train.y.len()
            );
            let report = train_finetune(&set, &sface, &args.out, &opts, &mut on_epoch)?;
            let sizes = [set.train.y.len(), set.val.y.len(), set.test.y.len()];
            (report, set.labels, sizes, None, None)
        }
    };
    epoch_bar.finish_and_clear();
    Ok(Trained { report, labels, sizes, embed_secs, cache, cache_dir, mode })
}

/// `issc train`.
pub fn run(ctx: &Context, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let Trained { report, labels, sizes, embed_secs, cache, cache_dir, mode } = train(ctx, &args)?;
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["mode"] = serde_json::json!(mode);
        v["embedding_seconds"] = serde_json::json!(embed_secs);
        v["cache_dir"] = serde_json::json!(cache_dir.display().to_string());
        v["labels"] = serde_json::json!(labels);
        v["train_faces"] = serde_json::json!(sizes[0]);
        v["val_faces"] = serde_json::json!(sizes[1]);
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    if let (Some(secs), Some(c)) = (embed_secs, cache) {
        println!(
            "embeddings: {} crops in {secs:.1} s (cache {}: {} hits, {} misses)",
            sizes.iter().sum::<usize>(),
            cache_dir.display(),
            c.hits,
            c.misses
        );
    }
    println!("{} labels · train {} · val {} · test {}", labels.len(), sizes[0], sizes[1], sizes[2]);
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
