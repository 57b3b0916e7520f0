//! The train stage: a prepared dataset → a classifier over SFace embeddings (head) or a fine-tuned SFace, in a run
//! folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use issc_train::{
    EmbeddingCache, Mode, Precision, TrainDevice, TrainOptions, embed_dataset, load_dataset, load_faces,
    train_finetune, train_head,
};
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, Result};
use crate::{Progress, Runtime};

/// The embedding cache folder when none is set.
pub const DEFAULT_CACHE: &str = ".issc-cache/embeddings";

/// What to train and how: `[train]` of `issc.toml` / `pipeline.toml`, and `issc train`'s flags. Unset values take
/// [`TrainOptions::for_mode`]'s defaults for the mode (the one place they are written).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TrainSettings {
    /// `issc run`: the run folder's name under `<work>/runs/` (default: the mode).
    pub name: Option<String>,
    /// What is trained.
    pub mode: Mode,
    /// Maximum epochs.
    pub epochs: Option<usize>,
    /// Early-stopping patience (epochs without a lower validation loss).
    pub patience: Option<usize>,
    /// AdamW learning rate.
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay.
    pub weight_decay: Option<f64>,
    /// Mini-batch size.
    pub batch: Option<usize>,
    /// Seed of initialisation and shuffling.
    pub seed: Option<u64>,
    /// Hidden units of an MLP head (default: a linear head).
    pub hidden: Option<usize>,
    /// finetune: SFace stages trained, from the end.
    pub unfreeze: Option<usize>,
    /// finetune: the backbone's learning rate is `lr` times this.
    pub backbone_lr_scale: Option<f64>,
    /// finetune: augmentation.
    pub augment: Option<bool>,
    /// The embedding cache folder (`issc run`: `<work>/cache/embeddings`; `issc train`: [`DEFAULT_CACHE`]).
    pub cache: Option<PathBuf>,
    /// Where to train.
    pub device: TrainDevice,
    /// Float precision (GPU only).
    pub precision: Precision,
}

impl TrainSettings {
    /// The trainer's options: the mode's defaults with these settings over them.
    pub fn options(&self) -> TrainOptions {
        let d = TrainOptions::for_mode(self.mode);
        TrainOptions {
            mode: self.mode,
            epochs: self.epochs.unwrap_or(d.epochs),
            patience: self.patience.unwrap_or(d.patience),
            lr: self.lr.unwrap_or(d.lr),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            batch: self.batch.unwrap_or(d.batch),
            seed: self.seed.unwrap_or(d.seed),
            hidden: self.hidden.or(d.hidden),
            unfreeze: self.unfreeze.unwrap_or(d.unfreeze),
            backbone_lr_scale: self.backbone_lr_scale.unwrap_or(d.backbone_lr_scale),
            augment: self.augment.unwrap_or(d.augment),
            device: self.device,
            precision: self.precision,
            resume: false,
        }
    }

    /// The run folder's name: `name`, else the mode.
    pub fn run_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.mode.name().into())
    }
}

/// A finished training run: the report and what a summary prints.
#[derive(Debug)]
#[non_exhaustive]
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

impl Trained {
    /// The report as one JSON object (`issc train --json`): the training report plus mode, labels, sizes and the
    /// embedding cache.
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.report).unwrap_or_default();
        v["mode"] = serde_json::json!(self.mode);
        v["embedding_seconds"] = serde_json::json!(self.embed_secs);
        v["cache_dir"] = serde_json::json!(self.cache_dir.display().to_string());
        v["labels"] = serde_json::json!(self.labels);
        v["train_faces"] = serde_json::json!(self.sizes[0]);
        v["val_faces"] = serde_json::json!(self.sizes[1]);
        v
    }
}

impl std::fmt::Display for Trained {
    /// The report in lines: embeddings, sizes, epochs, validation, test and the open-set rules.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (report, sizes) = (&self.report, self.sizes);
        if let (Some(secs), Some(c)) = (self.embed_secs, &self.cache) {
            let n = sizes.iter().sum::<usize>();
            let dir = self.cache_dir.display();
            writeln!(f, "embeddings: {n} crops in {secs:.1} s (cache {dir}: {} hits, {} misses)", c.hits, c.misses)?;
        }
        writeln!(f, "{} labels · train {} · val {} · test {}", self.labels.len(), sizes[0], sizes[1], sizes[2])?;
        if let Some(n) = report.resumed_from {
            writeln!(f, "resumed after epoch {n}")?;
        }
        writeln!(
            f,
            "epochs: {}{} · best epoch {} · {:.4} s/epoch",
            report.epochs,
            if report.stopped_early { " (early stop)" } else { "" },
            report.best_epoch,
            report.seconds_per_epoch
        )?;
        writeln!(f, "validation: loss {:.4} · accuracy {:.3}", report.val_loss, report.val_accuracy)?;
        writeln!(f, "test: accuracy {:.3} on {} faces", report.test_accuracy, report.test_faces)?;
        let os = &report.open_set;
        for t in [&os.max_probability, &os.centroid_cosine] {
            writeln!(
                f,
                "open set {}: threshold {:.4} · known accepted {:.3} · unknown rejected {:.3} · AUC {:.3}{}",
                t.score,
                t.threshold,
                t.known_accept,
                t.unknown_reject,
                t.auc,
                if t.score == os.chosen { " (chosen)" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// Train on the dataset in `data` into the run folder `out` (embeddings cached in `cache_dir`).
pub fn train(
    runtime: &Runtime,
    data: &Path,
    out: &Path,
    opts: &TrainOptions,
    cache_dir: &Path,
    progress: &dyn Progress,
) -> Result<Trained> {
    let mode = opts.mode;
    let files = load_dataset(data).ctx(|| format!("dataset {}", data.display()))?;
    for w in &files.warnings {
        progress.warn(w);
    }
    runtime.engine()?;
    let models = runtime.models()?;
    let started = Instant::now();
    let epochs = progress.task("training", "epochs", opts.epochs as u64);
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
        let msg = format!("val loss {:.4} acc {:.3} · {:.1} s/epoch", m.val_loss, m.val_accuracy, m.seconds);
        epochs.set(m.epoch as u64, opts.epochs as u64, &msg);
    };
    let run = || format!("training run {}", out.display());
    let (report, labels, sizes, embed_secs, cache) = match mode {
        Mode::Head => {
            let embedder = issc_detect::SFace::new(models)
                .ctx(|| format!("cannot load SFace from {}", models.path().display()))?;
            let cache = EmbeddingCache::new(cache_dir);
            let bar = progress.task("embedding", "crops", files.files.len() as u64);
            let set = embed_dataset(&files, &embedder, &cache, runtime.load(), &|done, total| {
                bar.set(done as u64, total as u64, "")
            })
            .ctx(run)?;
            drop(bar);
            let embed_secs = started.elapsed().as_secs_f64();
            let report = train_head(&set, out, opts, &mut on_epoch).ctx(run)?;
            let sizes = [set.train.len(), set.val.len(), set.test.len()];
            (report, set.labels, sizes, Some(embed_secs), Some(set.cache))
        }
        Mode::Finetune => {
            let set = load_faces(&files, runtime.load()).ctx(run)?;
            let sface = models.load(&issc_detect::models::SFACE_DEQUANT).ctx(|| "cannot load SFace for training")?;
            progress.warn(&format!(
                "fine-tuning the last {} of SFace's 15 stages on {} crops (burn, CPU); this takes minutes",
                opts.unfreeze.min(15),
                set.train.y.len()
            ));
            let report = train_finetune(&set, &sface, out, opts, &mut on_epoch).ctx(run)?;
            let sizes = [set.train.y.len(), set.val.y.len(), set.test.y.len()];
            (report, set.labels, sizes, None, None)
        }
    };
    drop(epochs);
    Ok(Trained { report, labels, sizes, embed_secs, cache, cache_dir: cache_dir.to_path_buf(), mode })
}
