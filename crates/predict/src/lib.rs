//! Who is in this photo: the runtime side of an exported model.
//!
//! `issc export` writes a folder with `model.onnx` (aligned face `[N,3,112,112]` RGB 0..255 in; `embedding [N,128]`,
//! L2-normalised, and `probabilities [N,C]` out) and `model.json` (the [`ModelCard`]: labels in output order, the
//! open-set rejection rule, metrics, provenance). [`Predictor`] loads the pair, checks the graph's SHA-256
//! against the card, and labels faces, answering [`UNKNOWN`] when the face is not confidently one of the
//! trained people. No training code is needed at predict time: the graph runs on the same engine as the
//! detector (ONNX Runtime, or tract). [`Predictor::open`] runs the graph as exported (the training run's numbers
//! to 1e-4); [`Predictor::open_with_mode`] in the default fast mode runs its [`int8`] form under ONNX Runtime
//! (about 1.7× faster per face), as `issc predict`, `issc serve` and `issc run` do.
//!
//! ```no_run
//! use std::path::Path;
//! use issc_detect::{DetectorConfig, DetectorKind, ModelDir};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let predictor = issc_predict::Predictor::open_with_mode(Path::new("model"), issc_detect::PipelineMode::Fast)?;
//! let detector = DetectorKind::YuNet.open(&ModelDir::locate(None)?, DetectorConfig::default())?;
//! let photo = issc_core::load_image(Path::new("photo.jpg"), &Default::default())?;
//! for face in predictor.predict(detector.as_ref(), &photo.rgb, 3)?.faces {
//!     println!("{} ({:.2})", face.label.name(), face.label.probability);
//! }
//! # Ok(()) }
//! ```

mod card;
pub mod int8;

use std::path::{Path, PathBuf};

use image::RgbImage;
use issc_core::Face;
use issc_detect::{DetectError, Detector, OnnxModel};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use card::{
    BaseModel, CARD_FILE, CARD_FORMAT, ExportCheck, InputSpec, MODEL_FILE, ModelCard, ModelFileSpec, OutputSpec,
    Rejection,
};

/// The label given to faces that are none of the trained people.
pub const UNKNOWN: &str = "unknown";

/// Errors loading or running an exported model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredictError {
    /// A file of the model folder cannot be read.
    #[error("{path}: {source}; is this a folder written by `issc export`?")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `model.json` is not a model card this version understands, or contradicts the graph.
    #[error("{path}: {reason}")]
    Card {
        /// The card.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// `model.onnx` is not the file the card describes.
    #[error(
        "{path}: sha256 {actual} does not match model.json ({expected}); the folder was modified or mixed with \
         another export: run `issc export` again"
    )]
    Checksum {
        /// The graph.
        path: PathBuf,
        /// From the card.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// Detection, alignment or inference failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
}

/// One candidate identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The person.
    pub label: String,
    /// Softmax probability.
    pub probability: f32,
}

/// What the model says about one aligned face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceLabel {
    /// The person, or `None` when the open-set rule rejects the face ("unknown").
    #[serde(serialize_with = "label_or_unknown")]
    pub label: Option<String>,
    /// Probability of the best class (whether or not accepted).
    pub probability: f32,
    /// Cosine between the face's embedding and the best class's centroid.
    pub cosine: f32,
    /// The best classes, most probable first.
    pub top_k: Vec<Candidate>,
    /// The face's L2-normalised embedding (the graph's `embedding` output).
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

fn label_or_unknown<S: serde::Serializer>(label: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(label.as_deref().unwrap_or(UNKNOWN))
}

impl FaceLabel {
    /// The label, or [`UNKNOWN`].
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(UNKNOWN)
    }
}

/// A detected face and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedFace {
    /// Box, landmarks and detector score, in the photo's pixels.
    pub face: Face,
    /// Who it is.
    pub label: FaceLabel,
}

/// The faces of one photo, labelled: at most [`Predictor::max_faces`] of them, the largest first kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The labelled faces, in the detector's order (best detection first).
    pub faces: Vec<PredictedFace>,
    /// How many faces the detector found (more than `faces.len()` when some were dropped by the cap, or skipped
    /// for degenerate landmarks).
    pub detected: usize,
}

impl Prediction {
    /// Faces found but not labelled (over the cap, or degenerate).
    pub fn dropped(&self) -> usize {
        self.detected - self.faces.len()
    }
}

/// Default most faces labelled per photo: Azure Face's limit for detect.
pub const DEFAULT_MAX_FACES: usize = 100;

/// Faces run through the graph at once, so that memory per call stays bounded whatever the photo: ONNX Runtime
/// keeps buffers sized for the largest batch it has seen. Measured on 100 faces of one photo (`issc predict`, peak
/// resident memory / time): batches of 16, 541 MB / 1.29 s; of 4, 260 MB / 0.92 s; of 1, 192 MB (as for one face) /
/// 1.03 s. (Before batching, 400 faces in one batch took 5.5 GB.)
pub const MAX_BATCH: usize = 4;

/// An exported model, loaded.
#[derive(Debug)]
pub struct Predictor {
    dir: PathBuf,
    card: ModelCard,
    model: OnnxModel,
    centroids: Vec<f32>,
    embedding_output: usize,
    probabilities_output: usize,
    max_faces: usize,
    /// The graph runs in its int8 form ([`int8`]): one face per call.
    int8: bool,
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Predictor {
    /// Load the model folder `dir` (`model.json` + `model.onnx`), checking the graph against the card, and run the
    /// graph as exported (fp32: the same numbers as the training run, to 1e-4). The inference engine must be
    /// initialised (see [`issc_detect::init_engine`]); it is chosen automatically otherwise.
    pub fn open(dir: &Path) -> Result<Self, PredictError> {
        Self::open_with_mode(dir, issc_detect::PipelineMode::Reference)
    }

    /// [`open`](Self::open), and in [`PipelineMode::Fast`](issc_detect::PipelineMode::Fast) under ONNX Runtime run
    /// the graph's int8 form ([`int8`]: SFace's wide 1×1 convolutions and its 50,176 → 128 layer as integer
    /// products; about 1.7× faster per face, embeddings at cosine ≥ 0.99 to the exported graph's), one face per
    /// call. What `issc predict`, `issc serve` and `issc run` use (the exported graph as is with `--reference`).
    pub fn open_with_mode(dir: &Path, mode: issc_detect::PipelineMode) -> Result<Self, PredictError> {
        let card_path = dir.join(CARD_FILE);
        let text = std::fs::read(&card_path).map_err(|source| PredictError::Io { path: card_path.clone(), source })?;
        let card = ModelCard::from_json(&text, &card_path)?;
        let onnx_path = dir.join(&card.model.file);
        let bytes = std::fs::read(&onnx_path).map_err(|source| PredictError::Io { path: onnx_path.clone(), source })?;
        let actual = sha256_hex(&bytes);
        if actual != card.model.sha256 {
            return Err(PredictError::Checksum { path: onnx_path, expected: card.model.sha256.clone(), actual });
        }
        let ort = mode == issc_detect::PipelineMode::Fast
            && issc_detect::init_engine(issc_detect::EngineChoice::Auto)?.kind == issc_detect::EngineKind::OnnxRuntime;
        let (bytes, int8) = match ort.then(|| int8::int8_model_bytes(&bytes)) {
            Some(Ok((q, done))) if done != int8::Quantized::default() => (q, true),
            Some(Err(e)) => {
                tracing::warn!(
                    "{}: running the graph in fp32: its int8 form could not be made: {e}",
                    onnx_path.display()
                );
                (bytes, false)
            }
            _ => (bytes, false),
        };
        let model = OnnxModel::from_bytes(bytes)?;
        let bad = |reason: String| PredictError::Card { path: card_path.clone(), reason };
        let find =
            |name: &str| {
                model.output_names().iter().position(|n| n == name).ok_or_else(|| {
                    bad(format!("the graph has no output '{name}' (outputs: {:?})", model.output_names()))
                })
            };
        let embedding_output = find(&card.outputs.embedding)?;
        let probabilities_output = find(&card.outputs.probabilities)?;
        let centroids = card.centroid_matrix().map_err(bad)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            card,
            model,
            centroids,
            embedding_output,
            probabilities_output,
            max_faces: DEFAULT_MAX_FACES,
            int8,
        })
    }

    /// Label at most `n` faces per photo (at least 1): the `n` largest; the rest are counted in
    /// [`Prediction::detected`]. The default is [`DEFAULT_MAX_FACES`].
    pub fn with_max_faces(mut self, n: usize) -> Self {
        self.max_faces = n.max(1);
        self
    }

    /// Most faces labelled per photo.
    pub fn max_faces(&self) -> usize {
        self.max_faces
    }

    /// Whether the graph runs in its int8 form (see [`open_with_mode`](Self::open_with_mode)).
    pub fn int8(&self) -> bool {
        self.int8
    }

    /// The folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Side of the aligned face the model takes.
    pub fn input_size(&self) -> u32 {
        self.card.input.size
    }

    /// Run the graph on aligned faces: `(embeddings [n·dim], probabilities [n·classes])`, row-major. The faces go
    /// through the graph [`MAX_BATCH`] at a time (one at a time in its int8 form, whose activation scales are per
    /// call, so that no face's answer depends on the others').
    pub fn run(&self, faces: &[RgbImage]) -> Result<(Vec<f32>, Vec<f32>), PredictError> {
        let (mut emb, mut probs) = (Vec::new(), Vec::new());
        for chunk in faces.chunks(if self.int8 { 1 } else { MAX_BATCH }) {
            let (e, p) = self.run_batch(chunk)?;
            emb.extend_from_slice(&e);
            probs.extend_from_slice(&p);
        }
        Ok((emb, probs))
    }

    fn run_batch(&self, faces: &[RgbImage]) -> Result<(Vec<f32>, Vec<f32>), PredictError> {
        if faces.is_empty() {
            return Ok((vec![], vec![]));
        }
        let size = self.input_size();
        let data = issc_detect::faces_to_nchw(faces, size)?;
        let s = size as usize;
        let mut outs = self.model.run(&[faces.len(), 3, s, s], &data)?;
        let classes = self.card.labels.len();
        let dim = self.card.outputs.embedding_dim;
        let take = |outs: &mut Vec<issc_detect::NamedTensor>, i: usize, width: usize, what: &str| {
            let t = std::mem::take(&mut outs[i].data);
            if t.len() != faces.len() * width {
                return Err(PredictError::Card {
                    path: self.dir.join(CARD_FILE),
                    reason: format!(
                        "the graph's {what} output has {} values for {} faces, expected {width} per face",
                        t.len(),
                        faces.len()
                    ),
                });
            }
            Ok(t)
        };
        let emb = take(&mut outs, self.embedding_output, dim, "embedding")?;
        let probs = take(&mut outs, self.probabilities_output, classes, "probabilities")?;
        Ok((emb, probs))
    }

    /// Label aligned faces (each `input_size()`² RGB), with the `top_k` most probable people.
    pub fn classify(&self, faces: &[RgbImage], top_k: usize) -> Result<Vec<FaceLabel>, PredictError> {
        let (emb, probs) = self.run(faces)?;
        let classes = self.card.labels.len();
        let dim = self.card.outputs.embedding_dim;
        let mut out = Vec::with_capacity(faces.len());
        for i in 0..faces.len() {
            let p = &probs[i * classes..(i + 1) * classes];
            let e = &emb[i * dim..(i + 1) * dim];
            out.push(self.decide(p, e, top_k));
        }
        Ok(out)
    }

    fn decide(&self, p: &[f32], e: &[f32], top_k: usize) -> FaceLabel {
        let dim = self.card.outputs.embedding_dim;
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        let best = order[0];
        let cosine = if self.centroids.is_empty() {
            f32::NAN
        } else {
            e.iter().zip(&self.centroids[best * dim..(best + 1) * dim]).map(|(a, b)| a * b).sum()
        };
        let rule = &self.card.rejection;
        let score = if rule.score == "max_probability" { p[best] } else { cosine };
        let label = (score >= rule.threshold).then(|| self.card.labels[best].clone());
        let top_k = order
            .iter()
            .take(top_k)
            .map(|&k| Candidate { label: self.card.labels[k].clone(), probability: p[k] })
            .collect();
        FaceLabel { label, probability: p[best], cosine, top_k, embedding: e.to_vec() }
    }

    /// Detect every face in `image`, align it and label it (at most [`max_faces`](Self::max_faces)).
    pub fn predict(&self, detector: &dyn Detector, image: &RgbImage, top_k: usize) -> Result<Prediction, PredictError> {
        let faces = detector.detect(image)?;
        self.label_faces(faces, top_k, |face| Ok(issc_detect::align_face(image, &face.landmarks, self.input_size())))
    }

    /// [`predict`](Self::predict) on a photo decoded by [`issc_core::Photo`] (a JPEG possibly at reduced scale):
    /// faces are found on the reduced image and aligned from it when large enough there, else from the full-size
    /// photo ([`issc_detect::align_from_photo`]); boxes and landmarks are in the photo's full-size pixels.
    pub fn predict_photo(
        &self,
        detector: &dyn Detector,
        photo: &issc_core::Photo,
        top_k: usize,
    ) -> Result<Prediction, PredictError> {
        let faces = issc_detect::detect_photo(detector, photo)?;
        self.label_faces(faces, top_k, |face| {
            Ok(issc_detect::align_from_photo(photo, &face.landmarks, self.input_size())?.0)
        })
    }

    /// Keep the [`max_faces`](Self::max_faces) largest of the detected `faces`, align each with `align` and label
    /// them. Degenerate landmarks (`align` gives `None`; cannot happen with a sane detector) skip the face rather
    /// than fail the photo.
    fn label_faces(
        &self,
        faces: Vec<Face>,
        top_k: usize,
        mut align: impl FnMut(&Face) -> Result<Option<RgbImage>, PredictError>,
    ) -> Result<Prediction, PredictError> {
        let detected = faces.len();
        let faces = largest(faces, self.max_faces);
        let mut kept = Vec::with_capacity(faces.len());
        let mut aligned = Vec::with_capacity(faces.len());
        for face in faces {
            if let Some(a) = align(&face)? {
                aligned.push(a);
                kept.push(face);
            }
        }
        let labels = self.classify(&aligned, top_k)?;
        let faces = kept.into_iter().zip(labels).map(|(face, label)| PredictedFace { face, label }).collect();
        Ok(Prediction { faces, detected })
    }
}

/// The `n` largest faces (by box area), in their original order.
fn largest(mut faces: Vec<Face>, n: usize) -> Vec<Face> {
    if faces.len() <= n {
        return faces;
    }
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| faces[b].bbox.area().total_cmp(&faces[a].bbox.area()).then(a.cmp(&b)));
    let mut keep = vec![false; faces.len()];
    for &i in &order[..n] {
        keep[i] = true;
    }
    let mut i = 0;
    faces.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    faces
}

#[cfg(test)]
mod cap_tests {
    use super::*;
    use issc_core::{BBox, Landmarks5};

    fn face(side: f32) -> Face {
        Face { bbox: BBox { x: 0.0, y: 0.0, w: side, h: side }, score: 0.9, landmarks: Landmarks5([[0.0; 2]; 5]) }
    }

    #[test]
    fn the_largest_faces_are_kept_in_order() {
        let faces: Vec<Face> = [3.0, 9.0, 1.0, 7.0, 5.0].into_iter().map(face).collect();
        let kept: Vec<f32> = largest(faces.clone(), 3).iter().map(|f| f.bbox.w).collect();
        assert_eq!(kept, [9.0, 7.0, 5.0]);
        assert_eq!(largest(faces, 10).len(), 5);
    }
}
