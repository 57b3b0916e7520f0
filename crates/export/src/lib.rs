//! `issc export`: a training run → one ONNX graph and a model card.
//!
//! The graph is SFace with the trained head appended: aligned face `face [N,3,112,112]` (RGB, raw 0..255) in,
//! `embedding [N,128]` (L2-normalised) and `probabilities [N,C]` out, so a deployment needs the bundled detector and
//! this one file. The card (`model.json`, [`issc_predict::ModelCard`]) holds the labels in output order, the
//! open-set rejection rule and how it was chosen, the verification threshold, metrics, the input spec, the graph's
//! SHA-256, the training settings and the issc version.
//!
//! Before anything is written the exporter runs the new graph on the run's test faces (validation faces when there
//! is no test split) next to the training model, and refuses to export when their probabilities differ by more
//! than [`PARITY_TOLERANCE`].
//!
//! ```no_run
//! use std::path::Path;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let models = issc_detect::ModelDir::locate(None)?;
//! let report = issc_export::export_run(Path::new("runs/first"), Path::new("model"), &models, &Default::default())?;
//! println!("{} ({} labels)", report.model_path.display(), report.labels);
//! # Ok(()) }
//! ```

pub mod fast;
mod graph;
/// The int8 rewrite of SFace-like graphs (it lives in `issc-predict`, which applies it when loading a model).
pub use issc_predict::int8;

use std::path::{Path, PathBuf};

use image::RgbImage;
use issc_detect::{DetectError, Embedder, ModelDir, OnnxModel};
use issc_predict::{
    BaseModel, CARD_FILE, CARD_FORMAT, ExportCheck, InputSpec, MODEL_FILE, ModelCard, ModelFileSpec, OutputSpec,
    Rejection, UNKNOWN,
};
use issc_train::{Classifier, EMBEDDING_DIM, TrainError};

pub use graph::{EMBEDDING, INPUT, PROBABILITIES};

/// Largest accepted difference between the exported graph's probabilities and the training model's.
pub const PARITY_TOLERANCE: f32 = 1e-4;
/// Most faces the export check runs.
pub const CHECK_FACES: usize = 64;

/// Errors of `issc export`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The run folder is not a finished training run.
    #[error("{path}: {reason}")]
    Run {
        /// The run.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The output folder cannot be used.
    #[error("{path}: {reason}")]
    Out {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Building the graph failed.
    #[error("building the ONNX graph: {0}")]
    Graph(String),
    /// The exported graph disagrees with the trained model.
    #[error(
        "the exported graph's probabilities differ from the trained model's by {diff:.3e} on {faces} faces (more \
         than {PARITY_TOLERANCE:.0e}); nothing was written. This is a bug: please report it with the run folder"
    )]
    Parity {
        /// Largest absolute difference.
        diff: f32,
        /// Faces compared.
        faces: usize,
    },
    /// Loading the run's model failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Running a model failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

/// Export settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// Run the graph against the training model on the run's test faces before writing (default on).
    pub check: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self { check: true }
    }
}

/// What was exported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    /// `model.onnx`.
    pub model_path: PathBuf,
    /// `model.json`.
    pub card_path: PathBuf,
    /// SHA-256 of `model.onnx`.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Number of labels.
    pub labels: usize,
    /// `head` or `finetune`.
    pub mode: String,
    /// The parity check, when it ran.
    pub check: Option<ExportCheck>,
    /// Why the check did not run, when it did not.
    pub check_skipped: Option<String>,
}

impl std::fmt::Display for ExportReport {
    /// What was written, and the parity check's result (or why it was skipped).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "exported {} labels ({} mode): {} ({:.1} MB, sha256 {}) and {}",
            self.labels,
            self.mode,
            self.model_path.display(),
            self.bytes as f64 / 1e6,
            self.sha256.get(..16).unwrap_or(&self.sha256),
            self.card_path.display()
        )?;
        match (&self.check, &self.check_skipped) {
            (Some(c), _) => writeln!(
                f,
                "parity: max |Δp| = {:.2e} between the graph ({}) and the trained model on {} faces",
                c.max_abs_diff_probabilities, c.engine, c.faces
            ),
            (None, Some(why)) => writeln!(f, "parity check skipped: {why}"),
            (None, None) => Ok(()),
        }
    }
}

/// The folder may receive an export: absent, empty, or a previous export (which is replaced).
fn check_out(out: &Path) -> Result<(), ExportError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(ExportError::Out { path: out.into(), reason: "exists and is not a folder".into() });
    }
    let mut entries = std::fs::read_dir(out).map_err(io(out))?.flatten().peekable();
    if entries.peek().is_none() {
        return Ok(());
    }
    let card = out.join(CARD_FILE);
    let ours = std::fs::read(&card)
        .ok()
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["format"] == CARD_FORMAT);
    if ours {
        return Ok(());
    }
    Err(ExportError::Out {
        path: out.into(),
        reason: "is not empty and does not hold an earlier export; choose an empty or new folder".into(),
    })
}

/// Faces for the parity check: the run's test crops, else validation crops (at most [`CHECK_FACES`]).
fn check_faces(dataset: &Path) -> Result<Vec<RgbImage>, String> {
    let files = issc_train::load_dataset(dataset).map_err(|e| e.to_string())?;
    let pick = |fate| files.files.iter().filter(move |f| f.fate == fate);
    let chosen: Vec<_> = if pick(issc_train::Fate::Test).next().is_some() {
        pick(issc_train::Fate::Test).take(CHECK_FACES).collect()
    } else {
        pick(issc_train::Fate::Val).take(CHECK_FACES).collect()
    };
    let mut faces = vec![];
    for f in chosen {
        let img = issc_core::load_image(&f.path, &Default::default()).map_err(|e| e.to_string())?;
        if img.rgb.dimensions() != (112, 112) {
            return Err(format!("{}: not a 112x112 aligned crop", f.path.display()));
        }
        faces.push(img.rgb);
    }
    if faces.is_empty() {
        return Err("the dataset has no test or validation crops".into());
    }
    Ok(faces)
}

/// The training model's probabilities on aligned faces (row-major `[n, C]`): for a `head` run SFace (on the
/// inference engine) then the burn head; for a `finetune` run the fine-tuned SFace and head, both in burn.
pub fn reference_probabilities(
    classifier: &Classifier,
    embedder: &dyn Embedder,
    faces: &[RgbImage],
) -> Result<Vec<f32>, ExportError> {
    if let Some(x) = classifier.embed_faces(faces) {
        return Ok(classifier.probabilities(&x));
    }
    let mut x = Vec::with_capacity(faces.len() * EMBEDDING_DIM);
    for f in faces {
        x.extend_from_slice(embedder.embed(f)?.as_slice());
    }
    Ok(classifier.probabilities(&x))
}

/// Largest absolute difference of two equally long slices (infinite when the lengths differ).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Export the run in `run` (written by `issc train`) to `out/model.onnx` + `out/model.json`.
pub fn export_run(
    run: &Path,
    out: &Path,
    models: &ModelDir,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let bad_run = |reason: String| ExportError::Run { path: run.to_path_buf(), reason };
    let train_card = issc_train::TrainCard::read(run)?;
    let mode = train_card.mode.name().to_string();
    check_out(out)?;

    let classifier = Classifier::load_with_models(run, Some(models))?;
    let labels = classifier.labels().to_vec();
    if let Some(l) = labels.iter().find(|l| l.eq_ignore_ascii_case(UNKNOWN)) {
        return Err(bad_run(format!(
            "a person is labelled '{l}', which predict uses for faces of nobody known; rename that folder and train \
             again"
        )));
    }

    let base_bytes = models.load(&issc_detect::models::SFACE_DEQUANT)?;
    let mut model = graph::decode(&base_bytes).map_err(ExportError::Graph)?;
    if let Some(weights) = classifier.backbone_weights() {
        // A fine-tuned run: its SFace weights replace the bundled ones, the rest of the graph is unchanged.
        graph::replace_initializers(&mut model, &weights).map_err(ExportError::Graph)?;
    }
    let layers = classifier.layers();
    graph::append_head(
        &mut model,
        graph::HeadSpec {
            layers: &layers,
            embedding_dim: EMBEDDING_DIM,
            metadata: vec![
                ("issc.format".into(), CARD_FORMAT.into()),
                ("issc.labels".into(), serde_json::to_string(&labels).unwrap_or_default()),
                ("issc.mode".into(), mode.clone()),
            ],
            doc: format!(
                "isshesarahconnor face classifier: SFace (opencv_zoo, 2021dec{}) + trained {} head over {} people. \
                 Input: aligned face RGB 0..255 NCHW 112x112. Outputs: L2-normalised embedding, softmax \
                 probabilities (labels in metadata issc.labels and model.json).",
                if mode == "finetune" { ", fine-tuned" } else { "" },
                if layers.len() > 1 { "MLP" } else { "linear" },
                labels.len()
            ),
        },
    )
    .map_err(ExportError::Graph)?;
    // The same graph in the form ONNX Runtime runs about 3x faster (per-channel PRelu rewritten; `fast`).
    fast::rewrite_prelu(&mut model).map_err(ExportError::Graph)?;
    let bytes = graph::encode(&model);
    let sha256 = issc_predict::sha256_hex(&bytes);

    // Parity with the training model, before anything is written.
    let (mut check, mut check_skipped) = (None, None);
    if opts.check {
        let dataset = PathBuf::from(&train_card.training.dataset);
        match check_faces(&dataset) {
            Ok(faces) => {
                let exported = OnnxModel::from_bytes(bytes.clone())?;
                let data = issc_detect::faces_to_nchw(&faces, 112)?;
                let outs = exported.run(&[faces.len(), 3, 112, 112], &data)?;
                let probs = outs
                    .iter()
                    .find(|t| t.name == PROBABILITIES)
                    .map(|t| t.data.clone())
                    .ok_or_else(|| ExportError::Graph("the exported graph has no probabilities output".into()))?;
                let embedder = issc_detect::SFace::new(models)?;
                let reference = reference_probabilities(&classifier, &embedder, &faces)?;
                let diff = max_abs_diff(&probs, &reference);
                if diff.is_nan() || diff > PARITY_TOLERANCE {
                    return Err(ExportError::Parity { diff, faces: faces.len() });
                }
                let engine = issc_detect::engine_info().map_or_else(|| "unknown".into(), |e| e.kind.to_string());
                check = Some(ExportCheck { faces: faces.len(), max_abs_diff_probabilities: diff, engine });
            }
            Err(why) => {
                tracing::warn!("export check skipped: {why}");
                check_skipped = Some(why);
            }
        }
    }

    let open_set = classifier.open_set().clone();
    let chosen = open_set.chosen().clone();
    let centroids = classifier.centroids().chunks(EMBEDDING_DIM).map(<[f32]>::to_vec).collect();
    let template = issc_detect::imgproc::ARCFACE_112.map(|[x, y]| [x as f32, y as f32]);
    let card = ModelCard {
        format: CARD_FORMAT.into(),
        issc_version: env!("CARGO_PKG_VERSION").into(),
        mode: mode.clone(),
        model: ModelFileSpec {
            file: MODEL_FILE.into(),
            sha256: sha256.clone(),
            bytes: bytes.len() as u64,
            opset: graph::opset(&model),
        },
        input: InputSpec {
            name: INPUT.into(),
            shape: vec!["N".into(), 3.into(), 112.into(), 112.into()],
            size: 112,
            dtype: "float32".into(),
            layout: "NCHW".into(),
            color: "RGB".into(),
            range: "0..255 (raw; the graph normalises)".into(),
            alignment: "5-point similarity transform (Umeyama: rotation, uniform scale, translation) of the \
                        detector's landmarks onto `template`, bilinear warp, border 0 (issc_detect::align_face)"
                .into(),
            template,
        },
        outputs: OutputSpec {
            embedding: EMBEDDING.into(),
            embedding_dim: EMBEDDING_DIM,
            probabilities: PROBABILITIES.into(),
        },
        labels: labels.clone(),
        rejection: Rejection {
            score: chosen.score.clone(),
            threshold: chosen.threshold,
            how: open_set.method.clone(),
            calibration: serde_json::to_value(&open_set).unwrap_or_default(),
        },
        verification_threshold: issc_detect::SFACE_THRESHOLD,
        centroids,
        metrics: serde_json::to_value(&train_card.metrics).unwrap_or_default(),
        training: serde_json::json!({
            "run": run.display().to_string(),
            "settings": train_card.training,
            "head": train_card.head,
            "backbone": train_card.backbone,
        }),
        base_model: BaseModel {
            file: issc_detect::models::SFACE_DEQUANT.file.into(),
            sha256: issc_detect::models::SFACE_DEQUANT.sha256.into(),
            license: "Apache-2.0 (opencv_zoo face_recognition_sface)".into(),
        },
        export_check: check.clone(),
    };
    card.check().map_err(|e| ExportError::Graph(format!("inconsistent card: {e}")))?;

    std::fs::create_dir_all(out).map_err(io(out))?;
    let model_path = out.join(MODEL_FILE);
    let card_path = out.join(CARD_FILE);
    // The card goes last: it names the graph's SHA-256, so a folder whose card and graph disagree (an interrupted
    // export over an older one) is refused by `Predictor::open` instead of giving wrong answers.
    issc_core::write_atomic(&model_path, &bytes).map_err(io(&model_path))?;
    let mut json = serde_json::to_vec_pretty(&card).map_err(|e| ExportError::Graph(e.to_string()))?;
    json.push(b'\n');
    issc_core::write_atomic(&card_path, &json).map_err(io(&card_path))?;

    Ok(ExportReport {
        model_path,
        card_path,
        sha256,
        bytes: bytes.len() as u64,
        labels: labels.len(),
        mode,
        check,
        check_skipped,
    })
}
