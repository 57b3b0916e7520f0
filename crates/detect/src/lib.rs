#![doc = include_str!("../README.md")]

#[cfg(feature = "azure")]
mod azure;
pub mod engine;
mod error;
pub mod imgproc;
pub mod models;
pub mod nms;
mod onnx_model;
mod onnxfix;
mod retinaface;
mod runner;
mod sface;
mod yunet;

use std::str::FromStr;
use std::time::{Duration, Instant};

use image::RgbImage;
use issc_core::{Embedding, Face};

#[cfg(feature = "azure")]
pub use azure::AzureDetector;
pub use engine::{EngineChoice, EngineInfo, EngineKind, engine_info, find_onnxruntime, init_engine};
pub use error::DetectError;
pub use imgproc::{align_face, margin_crop};
pub use models::ModelDir;
pub use onnx_model::{NamedTensor, OnnxModel, faces_to_nchw};
pub use retinaface::RetinaFace;
pub use sface::{SFACE_DIM, SFACE_INPUT, SFACE_THRESHOLD, SFace};
pub use yunet::YuNet;

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Minimum confidence to keep a face (default 0.6).
    pub score_threshold: f32,
    /// IoU above which a lower-scoring overlapping box is dropped (default 0.3).
    pub nms_threshold: f32,
    /// Images are shrunk so their long side is at most this many pixels before detection (default 640).
    pub max_side: u32,
    /// Faces whose box is smaller than this many pixels on its short side are dropped (default 0).
    pub min_face: f32,
    /// At most this many faces per image (default 5000).
    pub top_k: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { score_threshold: 0.6, nms_threshold: 0.3, max_side: 640, min_face: 0.0, top_k: 5000 }
    }
}

impl DetectorConfig {
    /// Check that every value is in range.
    pub fn validate(&self) -> Result<(), DetectError> {
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return Err(DetectError::Config(format!("score threshold {} is not in [0, 1]", self.score_threshold)));
        }
        if !(0.0..=1.0).contains(&self.nms_threshold) {
            return Err(DetectError::Config(format!("NMS threshold {} is not in [0, 1]", self.nms_threshold)));
        }
        if self.max_side < 32 || self.max_side > 8192 {
            return Err(DetectError::Config(format!("max side {} is not in [32, 8192]", self.max_side)));
        }
        if self.min_face.is_nan() || self.min_face < 0.0 {
            return Err(DetectError::Config(format!("min face {} must be >= 0", self.min_face)));
        }
        Ok(())
    }
}

/// Finds faces and their five landmarks in an upright RGB image.
pub trait Detector: Send + Sync {
    /// Short name (`yunet`, `retinaface`).
    fn name(&self) -> &str;
    /// The settings in use.
    fn config(&self) -> &DetectorConfig;
    /// Faces, highest score first, in the image's pixel coordinates.
    fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, DetectError>;
    /// Faces with the detector's own id for each, when it has one (remote services return transient face ids);
    /// local detectors return `None` ids.
    fn detect_with_ids(&self, image: &RgbImage) -> Result<Vec<(Face, Option<String>)>, DetectError> {
        Ok(self.detect(image)?.into_iter().map(|f| (f, None)).collect())
    }
}

/// Turns an aligned face into an identity embedding.
pub trait Embedder: Send + Sync {
    /// Short name (`sface`).
    fn name(&self) -> &str;
    /// Side of the square aligned face it takes.
    fn input_size(&self) -> u32;
    /// Embedding dimension.
    fn dim(&self) -> usize;
    /// The model's same-person cosine threshold.
    fn default_threshold(&self) -> f32;
    /// Embed one aligned face of `input_size()`².
    fn embed(&self, aligned: &RgbImage) -> Result<Embedding, DetectError>;
}

/// Which detector to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectorKind {
    /// YuNet-n, dynamic input (default).
    #[default]
    YuNet,
    /// RetinaFace-MobileNet0.25.
    RetinaFace,
    /// Azure AI Face `detection_03` (feature `azure`; endpoint and key from `AZURE_FACE_ENDPOINT` / `AZURE_FACE_KEY`).
    Azure,
}

impl FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yunet" => Ok(Self::YuNet),
            "retinaface" => Ok(Self::RetinaFace),
            "azure" => Ok(Self::Azure),
            other => Err(format!("unknown detector '{other}': use yunet, retinaface or azure")),
        }
    }
}

impl DetectorKind {
    /// Open a detector that needs no local models (only `Azure`).
    pub fn open_remote(self, config: DetectorConfig) -> Result<Box<dyn Detector>, DetectError> {
        match self {
            #[cfg(feature = "azure")]
            DetectorKind::Azure => Ok(Box::new(AzureDetector::from_env(config)?)),
            other => {
                let _ = config;
                Err(DetectError::Config(format!("{other:?} runs locally and needs the models folder")))
            }
        }
    }

    /// Load this detector.
    pub fn open(self, models: &ModelDir, config: DetectorConfig) -> Result<Box<dyn Detector>, DetectError> {
        Ok(match self {
            DetectorKind::YuNet => Box::new(YuNet::new(models, config)?),
            DetectorKind::RetinaFace => Box::new(RetinaFace::new(models, config)?),
            #[cfg(feature = "azure")]
            DetectorKind::Azure => Box::new(AzureDetector::from_env(config)?),
            #[cfg(not(feature = "azure"))]
            DetectorKind::Azure => {
                return Err(DetectError::Config(
                    "this build has no Azure detector: rebuild with `--features azure` (issc-detect)".into(),
                ));
            }
        })
    }
}

/// A face with its aligned crop's embedding.
#[derive(Debug, Clone)]
pub struct AnalyzedFace {
    /// Where it is.
    pub face: Face,
    /// Who it looks like (absent when the pipeline has no embedder).
    pub embedding: Option<Embedding>,
    /// The detector's id for the face (Azure's transient faceId), when it has one.
    pub detector_id: Option<String>,
}

/// Time spent per stage on one image.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Detection (resize, inference, decode, NMS).
    pub detect: Duration,
    /// Alignment (similarity fit and warp) of every face.
    pub align: Duration,
    /// Embedding of every face.
    pub embed: Duration,
}

/// Detector + aligner + (optional) embedder, built once and shared across threads.
pub struct FacePipeline {
    detector: Box<dyn Detector>,
    embedder: Option<Box<dyn Embedder>>,
}

impl FacePipeline {
    /// Load the detector and, when `with_embedder`, SFace.
    pub fn new(
        models: &ModelDir,
        kind: DetectorKind,
        config: DetectorConfig,
        with_embedder: bool,
    ) -> Result<Self, DetectError> {
        let detector = kind.open(models, config)?;
        let embedder: Option<Box<dyn Embedder>> =
            if with_embedder { Some(Box::new(SFace::new(models)?)) } else { None };
        Ok(Self { detector, embedder })
    }

    /// Build from parts.
    pub fn from_parts(detector: Box<dyn Detector>, embedder: Option<Box<dyn Embedder>>) -> Self {
        Self { detector, embedder }
    }

    /// Keep only the detector.
    pub fn into_detector(self) -> Box<dyn Detector> {
        self.detector
    }

    /// The detector.
    pub fn detector(&self) -> &dyn Detector {
        self.detector.as_ref()
    }

    /// The embedder, if any.
    pub fn embedder(&self) -> Option<&dyn Embedder> {
        self.embedder.as_deref()
    }

    /// Detect faces only.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, DetectError> {
        self.detector.detect(image)
    }

    /// Detect, align and embed every face.
    pub fn analyze(&self, image: &RgbImage) -> Result<Vec<AnalyzedFace>, DetectError> {
        self.analyze_timed(image).map(|(faces, _)| faces)
    }

    /// [`analyze`](Self::analyze), also reporting time per stage.
    pub fn analyze_timed(&self, image: &RgbImage) -> Result<(Vec<AnalyzedFace>, StageTimes), DetectError> {
        let mut times = StageTimes::default();
        let t = Instant::now();
        let faces = self.detector.detect_with_ids(image)?;
        times.detect = t.elapsed();
        let mut out = Vec::with_capacity(faces.len());
        for (face, detector_id) in faces {
            let embedding = match &self.embedder {
                Some(e) => {
                    let t = Instant::now();
                    let aligned = align_face(image, &face.landmarks, e.input_size());
                    times.align += t.elapsed();
                    match aligned {
                        Some(a) => {
                            let t = Instant::now();
                            let v = e.embed(&a)?;
                            times.embed += t.elapsed();
                            Some(v)
                        }
                        None => None,
                    }
                }
                None => None,
            };
            out.push(AnalyzedFace { face, embedding, detector_id });
        }
        Ok((out, times))
    }
}
