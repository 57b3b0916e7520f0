//! What [`run`](crate::run) did: per person and per stage, as `--json` prints it and `issc-run.json` keeps it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One person's figures across the stages.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PersonSummary {
    /// Label (folder name and class).
    pub label: String,
    /// `dir`, `urls` or `query`.
    pub source: String,
    /// The folder, file or query.
    pub from: String,
    /// Photos stored in `raw/<label>/`.
    pub photos: usize,
    /// Faces found in them.
    pub faces: usize,
    /// Faces kept for the dataset (`[crop] faces`).
    pub kept: usize,
    /// Photos without a face.
    pub no_face: usize,
    /// Photos that could not be read.
    pub unreadable: usize,
    /// Faces in the training split.
    pub train: usize,
    /// Faces in the validation split.
    pub val: usize,
    /// Faces in the test split.
    pub test: usize,
    /// Faces removed (duplicates, conflicts).
    pub removed: usize,
    /// Left out of the dataset (fewer than `min_per_label` usable faces).
    pub left_out: bool,
}

/// The fetch stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchStage {
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// Seconds spent.
    pub seconds: f64,
    /// People whose sources were fetched in this run.
    pub fetched: usize,
    /// Photos downloaded in this run.
    pub downloaded: usize,
    /// Downloads already stored (same content).
    pub duplicates: usize,
    /// Downloads refused (not an image, too small, ...).
    pub rejected: usize,
    /// URLs that failed.
    pub failed: usize,
    /// Photos stored for the configured people, all runs together.
    pub stored: usize,
}

/// The crop stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CropStage {
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// Seconds spent.
    pub seconds: f64,
    /// Photos of the configured people.
    pub photos: usize,
    /// Photos cropped in this run.
    pub processed: usize,
    /// Faces found (every face of every photo).
    pub faces: usize,
    /// Photos without a face.
    pub no_face: usize,
    /// Photos that could not be read.
    pub unreadable: usize,
    /// Faces kept for the dataset.
    pub kept: usize,
    /// Faces left out by the policy (bystanders).
    pub left_out: usize,
    /// `[crop] faces`.
    pub policy: String,
}

/// The prepare stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrepareStage {
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// Seconds spent.
    pub seconds: f64,
    /// Files in the dataset.
    pub files: usize,
    /// Faces in the training split.
    pub train: usize,
    /// Faces in the validation split.
    pub val: usize,
    /// Faces in the test split.
    pub test: usize,
    /// Faces removed (duplicates, conflicts).
    pub removed: usize,
    /// Removed faces by reason.
    pub removed_by_reason: BTreeMap<String, usize>,
    /// Near-duplicate pairs kept together.
    pub near_duplicate_pairs: usize,
    /// Labels left out for having too few usable faces.
    pub skipped_labels: Vec<String>,
}

/// The train stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainStage {
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// The run was interrupted before and continued from its last checkpoint.
    pub resumed: bool,
    /// Seconds spent.
    pub seconds: f64,
    /// The run folder.
    pub run: String,
    /// `head` or `finetune`.
    pub mode: String,
    /// Labels (people).
    pub labels: usize,
    /// Training faces.
    pub train_faces: usize,
    /// Validation faces.
    pub val_faces: usize,
    /// Test faces.
    pub test_faces: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Epoch of the kept model.
    pub best_epoch: usize,
    /// Early stopping ended the run.
    pub stopped_early: bool,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
}

/// The chosen unknown-rejection rule, as calibrated on the validation split.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenSetSummary {
    /// `max_probability` or `centroid_cosine`.
    pub rule: String,
    /// Accept at or above this score.
    pub threshold: f64,
    /// Share of known people's validation faces accepted.
    pub known_accept: f64,
    /// Share of validation faces of people held out of the classifier rejected as unknown.
    pub unknown_reject: f64,
    /// ROC AUC of known against unknown.
    pub auc: f64,
    /// Validation faces.
    pub val_faces: usize,
}

/// The export stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportStage {
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// Seconds spent.
    pub seconds: f64,
    /// The exported model folder.
    pub dir: String,
    /// SHA-256 of `model.onnx`.
    pub sha256: String,
    /// Size of `model.onnx`.
    pub bytes: u64,
    /// Labels (people).
    pub labels: Vec<String>,
    /// Largest |Δprobability| between the graph and the trained model (the exporter's check).
    pub parity: Option<f32>,
    /// Faces the exporter compared.
    pub parity_faces: Option<usize>,
}

/// One stranger's face and the model's answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StrangerFace {
    /// The photo.
    pub photo: String,
    /// The model's answer (`unknown` when rejected).
    pub label: String,
    /// Its probability.
    pub probability: f32,
    /// The most probable person, whether or not accepted.
    pub best: String,
    /// Aligned crop, relative to the work folder.
    pub crop: String,
}

/// Photos of people not trained on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StrangersStage {
    /// Nothing needed doing.
    pub up_to_date: bool,
    /// Seconds spent.
    pub seconds: f64,
    /// The strangers' folder.
    pub folder: String,
    /// Photos.
    pub photos: usize,
    /// Faces found.
    pub faces: usize,
    /// Faces answered `unknown`.
    pub unknown: usize,
    /// One answer per face.
    pub answers: Vec<StrangerFace>,
    /// Photos that could not be read, with the reason.
    pub errors: Vec<String>,
}

/// Every stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    /// Fetch.
    pub fetch: FetchStage,
    /// Crop.
    pub crop: CropStage,
    /// Prepare.
    pub prepare: PrepareStage,
    /// Faces in the training split.
    pub train: TrainStage,
    /// Export.
    pub export: ExportStage,
    /// Strangers (when configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strangers: Option<StrangersStage>,
}

/// What `issc run` did and where everything is (`--json` prints it; `issc-run.json` keeps it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `issc-run/1`.
    pub format: String,
    /// The pipeline file.
    pub config: String,
    /// The work folder.
    pub work: String,
    /// The inference engine used.
    pub engine: String,
    /// Per person.
    pub people: Vec<PersonSummary>,
    /// Per stage.
    pub stages: Stages,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// The unknown-rejection rule.
    pub open_set: OpenSetSummary,
    /// The exported model folder (`issc predict --model`, `issc serve`).
    pub model: String,
    /// `report.html`.
    pub report: String,
    /// Seconds spent.
    pub seconds: f64,
}

/// A finished `issc run`.
pub struct Outcome {
    /// The exported model folder (model.onnx + model.json).
    pub model_dir: PathBuf,
    /// `report.html`.
    pub report: PathBuf,
    /// The summary of the run.
    pub summary: Summary,
}

impl std::fmt::Display for Outcome {
    /// The run's last lines: test accuracy, the unknown-rejection rule, where the model and report are, the engine
    /// and the total time.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        let t = &s.stages.train;
        writeln!(f, "test accuracy: {:.3} on {} faces (best epoch {})", t.test_accuracy, t.test_faces, t.best_epoch)?;
        let os = &s.open_set;
        writeln!(
            f,
            "unknown rejection: {} ≥ {:.4} · on validation: known people accepted {:.3}, unknown rejected {:.3} \
             (AUC {:.3})",
            os.rule, os.threshold, os.known_accept, os.unknown_reject, os.auc
        )?;
        writeln!(f, "model:  {}", crate::show(&self.model_dir))?;
        writeln!(f, "report: {}", crate::show(&self.report))?;
        writeln!(f, "engine: {}", s.engine)?;
        writeln!(f, "total:  {:.1} s", s.seconds)
    }
}
