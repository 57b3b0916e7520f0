//! `model.json` of a training run (the training card): one serde type, read and written only here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::{HeadConfig, Mode, OpenSetCalibration};

/// The card's file name in a run folder.
pub const CARD_FILE: &str = "model.json";
/// The card's format (`format` key).
pub const CARD_FORMAT: &str = "issc-train/1";

/// The embedder a run was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedderSpec {
    /// `sface`.
    pub name: String,
    /// Embedding size (128).
    pub dim: usize,
    /// Input `[C, H, W]`.
    pub input: [usize; 3],
    /// Cosine at or above which two faces are the same person.
    pub verification_threshold: f32,
}

/// A run's final figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Epoch of the kept (best) model.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Early stopping ended the run.
    pub stopped_early: bool,
    /// Validation loss of the best model.
    pub val_loss: f64,
    /// Validation accuracy of the best model.
    pub val_accuracy: f64,
    /// Validation faces.
    pub val_faces: usize,
    /// Test accuracy of the best model.
    pub test_accuracy: f64,
    /// Test faces.
    pub test_faces: usize,
    /// Training faces.
    pub train_faces: usize,
    /// Mean seconds per epoch.
    pub seconds_per_epoch: f64,
}

/// How a run was trained, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Maximum epochs asked for.
    pub epochs: usize,
    /// Early-stopping patience.
    pub patience: usize,
    /// Learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Mini-batch size.
    pub batch: usize,
    /// Seed.
    pub seed: u64,
    /// `AdamW`.
    pub optimizer: String,
    /// The loss.
    pub loss: String,
    /// The dataset folder.
    pub dataset: String,
    /// The dataset's fingerprint (`dataset.json`).
    pub dataset_fingerprint: String,
}

/// `model.json` of a training run: labels, head, open-set calibration, centroids, metrics, settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainCard {
    /// [`CARD_FORMAT`].
    pub format: String,
    /// The issc-train version that wrote it.
    pub issc_train_version: String,
    /// What was trained.
    pub mode: Mode,
    /// The embedder.
    pub embedder: EmbedderSpec,
    /// Labels in class order.
    pub labels: Vec<String>,
    /// Unknown-rejection rules and the chosen one.
    pub open_set: OpenSetCalibration,
    /// Per label, the mean of its training embeddings (L2-normalised).
    pub centroids: BTreeMap<String, Vec<f32>>,
    /// Final figures.
    pub metrics: RunMetrics,
    /// Settings.
    pub training: TrainingRecord,
    /// The classifier head.
    pub head: HeadConfig,
    /// The weights file, relative to the run folder.
    pub weights: String,
    /// Fine-tuning only: the backbone's stages, parameters and augmentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone: Option<serde_json::Value>,
}

impl TrainCard {
    /// Read `<run>/model.json`; errors say what to do (train the run, or train it again).
    pub fn read(run: &Path) -> Result<Self, TrainError> {
        let path = run.join(CARD_FILE);
        let bad = |reason: String| TrainError::Run { path: path.clone(), reason };
        let text = std::fs::read(&path).map_err(|e| {
            bad(format!("cannot read it ({e}): not a finished training run; train one there first (`issc train`)"))
        })?;
        let card: TrainCard = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("not a training card ({e}); train the run again")))?;
        if card.format != CARD_FORMAT {
            return Err(bad(format!(
                "format {:?}, not {CARD_FORMAT}: written by another issc version; train the run again",
                card.format
            )));
        }
        Ok(card)
    }

    /// Write `<run>/model.json` atomically.
    pub fn write(&self, run: &Path) -> Result<(), TrainError> {
        crate::trainer::write_json(&run.join(CARD_FILE), self)
    }

    /// The centroids in label order, `labels × dim` values.
    pub fn centroid_matrix(&self) -> Result<Vec<f32>, String> {
        let mut out = Vec::with_capacity(self.labels.len() * self.embedder.dim);
        for l in &self.labels {
            let c = self.centroids.get(l).ok_or_else(|| format!("no centroid for {l}"))?;
            if c.len() != self.embedder.dim {
                return Err(format!("centroid of {l} has {} values, not {}", c.len(), self.embedder.dim));
            }
            out.extend(c);
        }
        Ok(out)
    }
}
