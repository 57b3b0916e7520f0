#![doc = include_str!("../README.md")]

#[cfg(feature = "azure")]
mod azure;
pub mod engine;
mod error;
mod face_mesh;
pub mod imgproc;
mod mask;
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
use issc_core::{Embedding, Face, Landmarks5, LoadOptions, Photo};

#[cfg(feature = "azure")]
pub use azure::AzureDetector;
pub use engine::{EngineChoice, EngineInfo, EngineKind, engine_info, find_onnxruntime, init_engine};
pub use error::DetectError;
pub use face_mesh::{
    FACE_MESH_INPUT, FACE_MESH_POINTS, FaceMesh, FaceMeshPoints, LANDMARKS_27, LandmarkSource, landmarks_27,
};
pub use imgproc::{align_face, margin_crop};
pub use mask::{MASK_INPUT, MaskClassifier};
pub use models::ModelDir;
pub use onnx_model::{NamedTensor, OnnxModel, faces_to_nchw};
pub use retinaface::RetinaFace;
pub use sface::{SFACE_DIM, SFACE_INPUT, SFACE_THRESHOLD, SFace};

/// How [`FacePipeline::analyze_photo`] got its pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DecodePath {
    /// Full-size pixels per pixel of the image the detector saw (1 = full size).
    pub scale: f32,
    /// Faces aligned from the reduced image.
    pub aligned_reduced: usize,
    /// Faces aligned from the full-size photo.
    pub aligned_full: usize,
    /// Whether the full-size photo had to be decoded too.
    pub full_decoded: bool,
}
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
    /// Whether [`detect_reduced`](Self::detect_reduced) may be given a reduced copy of a photo (local detectors,
    /// which shrink every photo to `max_side` anyway); remote ones take the full-size photo.
    fn accepts_reduced(&self) -> bool {
        false
    }
    /// Faces in `image`, a copy of the photo `scale` times smaller on each side (a JPEG decoded at reduced size,
    /// [`issc_core::Photo`]), in the photo's full-size pixels; `min_face` applies at full size.
    fn detect_reduced(&self, image: &RgbImage, scale: f32) -> Result<Vec<Face>, DetectError> {
        let mut faces: Vec<Face> = self.detect(image)?.iter().map(|f| to_full_size(f, scale)).collect();
        faces.retain(|f| f.bbox.w.min(f.bbox.h) >= self.config().min_face);
        Ok(faces)
    }
}

/// A face found in an image `scale` times smaller than the photo, in the photo's pixels. The reduced image's pixel
/// `i` is the mean of the photo's pixels `[i·scale, (i+1)·scale)` (libjpeg's DCT-domain scaling), so pixel-centre
/// coordinates map as `x·scale + (scale − 1)/2`.
pub(crate) fn to_full_size(face: &Face, scale: f32) -> Face {
    if scale == 1.0 {
        return *face;
    }
    let off = (scale - 1.0) / 2.0;
    let b = &face.bbox;
    Face {
        bbox: issc_core::BBox::new(b.x * scale + off, b.y * scale + off, b.w * scale, b.h * scale),
        score: face.score,
        landmarks: issc_core::Landmarks5(face.landmarks.0.map(|[x, y]| [x * scale + off, y * scale + off])),
    }
}

/// Which form of the face pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PipelineMode {
    /// The default: the reference pipeline's pixels, with SFace in a faster form: under ONNX Runtime its int8
    /// graph (`models/face_recognition_sface_2021dec_int8.onnx`, about 3.5× the original's speed), under tract
    /// its fp32 fast graph (per-channel PRelu rewritten, `models/face_recognition_sface_2021dec_fast.onnx`).
    /// Parity with the reference: embedding cosine ≥ 0.98 on ≥ 99 % of faces, box centres within 2 % of the face
    /// size (tested; measured: min cosine 0.99 under ONNX Runtime, the reference mode's figures under tract).
    #[default]
    Fast,
    /// OpenCV's reference pipeline (`FaceDetectorYN` + `FaceRecognizerSF`) reproduced exactly: full-size libjpeg
    /// decode, OpenCV's fixed-point resize, the original SFace graph. Slower; for parity checks.
    Reference,
}

impl PipelineMode {
    /// `fast` or `reference`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PipelineMode::Fast => "fast",
            PipelineMode::Reference => "reference",
        }
    }
}

impl std::fmt::Display for PipelineMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PipelineMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fast" => Ok(Self::Fast),
            "reference" | "exact" => Ok(Self::Reference),
            other => Err(format!("unknown pipeline mode '{other}': use fast or reference")),
        }
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
    /// The model file it runs, when it runs one from the models folder (for reports such as `issc bench`).
    fn model_file(&self) -> Option<&str> {
        None
    }
}

/// Which detector to use (`yunet`, `retinaface` or `azure` in settings and on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl DetectorKind {
    /// Every detector, in the order `--help` lists them.
    pub const ALL: [DetectorKind; 3] = [DetectorKind::YuNet, DetectorKind::RetinaFace, DetectorKind::Azure];

    /// The name settings and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::YuNet => "yunet",
            DetectorKind::RetinaFace => "retinaface",
            DetectorKind::Azure => "azure",
        }
    }

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
#[non_exhaustive]
pub struct StageTimes {
    /// Decoding the full-size photo for faces too small in the reduced one ([`FacePipeline::analyze_photo`]).
    pub decode_full: Duration,
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
    mode: PipelineMode,
    shrink_on_load: bool,
}

impl FacePipeline {
    /// Load the detector and, when `with_embedder`, SFace.
    pub fn new(
        models: &ModelDir,
        kind: DetectorKind,
        config: DetectorConfig,
        with_embedder: bool,
    ) -> Result<Self, DetectError> {
        Self::with_mode(models, kind, config, with_embedder, PipelineMode::Fast)
    }

    /// [`new`](Self::new) in `mode` (SFace's graph and how photos are decoded).
    pub fn with_mode(
        models: &ModelDir,
        kind: DetectorKind,
        config: DetectorConfig,
        with_embedder: bool,
        mode: PipelineMode,
    ) -> Result<Self, DetectError> {
        let detector = kind.open(models, config)?;
        let embedder: Option<Box<dyn Embedder>> =
            if with_embedder { Some(Box::new(SFace::with_mode(models, mode)?)) } else { None };
        Ok(Self { detector, embedder, mode, shrink_on_load: false })
    }

    /// Build from parts (fast mode).
    pub fn from_parts(detector: Box<dyn Detector>, embedder: Option<Box<dyn Embedder>>) -> Self {
        Self { detector, embedder, mode: PipelineMode::Fast, shrink_on_load: false }
    }

    /// Decode JPEGs at the smallest DCT-domain scale the detector needs (off by default; see
    /// [`decode_side`](Self::decode_side)). Ignored in reference mode.
    pub fn with_shrink_on_load(mut self, on: bool) -> Self {
        self.shrink_on_load = on && self.mode != PipelineMode::Reference;
        self
    }

    /// The mode it runs in.
    pub fn mode(&self) -> PipelineMode {
        self.mode
    }

    /// The long side a photo should be decoded at for this pipeline ([`issc_core::Photo`]): `None` (full size) by
    /// default; with [`with_shrink_on_load`](Self::with_shrink_on_load) and a local detector, its `max_side`, so a
    /// large JPEG is decoded several times faster at the scale the detector uses. Shrink-on-load is opt-in because
    /// the detector then sees a differently filtered image than OpenCV's resize gives it: boxes move by up to a few
    /// percent of the face and embeddings of small faces change (docs/benchmarks.md has the measured parity).
    pub fn decode_side(&self) -> Option<u32> {
        (self.shrink_on_load && self.detector.accepts_reduced()).then(|| self.detector.config().max_side)
    }

    /// Decode `bytes` as this pipeline wants them ([`decode_side`](Self::decode_side)).
    pub fn decode(&self, bytes: Vec<u8>, name: &str, opts: &LoadOptions) -> Result<Photo, issc_core::ImageError> {
        Photo::decode(bytes, name, opts, self.decode_side())
    }

    /// Read and decode a file as this pipeline wants it ([`decode_side`](Self::decode_side)).
    pub fn load(&self, path: &std::path::Path, opts: &LoadOptions) -> Result<Photo, issc_core::ImageError> {
        Photo::load(path, opts, self.decode_side())
    }

    /// Detect faces in a photo, in its full-size pixels ([`detect_photo`]).
    pub fn detect_photo(&self, photo: &Photo) -> Result<Vec<Face>, DetectError> {
        detect_photo(self.detector.as_ref(), photo)
    }

    /// Detect, align and embed every face of a photo decoded by [`decode`](Self::decode) or
    /// [`load`](Self::load), in the photo's full-size pixels. A face is aligned from the reduced image when the
    /// warp to the aligned size does not enlarge it there (the face is at least as large as the crop), else from
    /// the full-size photo, decoded once on first need: never a worse crop than from the full-size photo.
    pub fn analyze_photo(&self, photo: &Photo) -> Result<(Vec<AnalyzedFace>, StageTimes, DecodePath), DetectError> {
        let mut path = DecodePath { scale: photo.scale(), ..DecodePath::default() };
        if !(photo.is_reduced() && self.detector.accepts_reduced()) {
            let full = photo.full()?;
            let (faces, times) = self.analyze_timed(full)?;
            path.aligned_full = faces.iter().filter(|f| f.embedding.is_some()).count();
            path.full_decoded = photo.is_reduced();
            return Ok((faces, times, path));
        }
        let mut times = StageTimes::default();
        let t = Instant::now();
        let faces = self.detector.detect_reduced(&photo.view().rgb, photo.scale())?;
        times.detect = t.elapsed();
        let mut out = Vec::with_capacity(faces.len());
        for face in faces {
            let embedding = match &self.embedder {
                Some(e) => {
                    let t = Instant::now();
                    let decoded_before = photo.full_decoded();
                    let (aligned, source) = align_from_photo(photo, &face.landmarks, e.input_size())?;
                    if !decoded_before && photo.full_decoded() {
                        times.decode_full += t.elapsed();
                    }
                    match source {
                        AlignSource::Reduced => path.aligned_reduced += 1,
                        AlignSource::Full => path.aligned_full += 1,
                    }
                    times.align += t.elapsed();
                    embed_timed(e.as_ref(), aligned, &mut times)?
                }
                None => None,
            };
            out.push(AnalyzedFace { face, embedding, detector_id: None });
        }
        times.align = times.align.saturating_sub(times.decode_full);
        path.full_decoded = photo.full_decoded();
        Ok((out, times, path))
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
                    embed_timed(e.as_ref(), aligned, &mut times)?
                }
                None => None,
            };
            out.push(AnalyzedFace { face, embedding, detector_id });
        }
        Ok((out, times))
    }
}

/// Embed an aligned face (none for degenerate landmarks), adding the time to `times.embed`.
fn embed_timed(
    e: &dyn Embedder,
    aligned: Option<RgbImage>,
    times: &mut StageTimes,
) -> Result<Option<Embedding>, DetectError> {
    let Some(a) = aligned else { return Ok(None) };
    let t = Instant::now();
    let v = e.embed(&a)?;
    times.embed += t.elapsed();
    Ok(Some(v))
}

/// Detect faces in a photo, in its full-size pixels: on the reduced image when the photo was decoded reduced and
/// the detector runs locally ([`Detector::accepts_reduced`]), else on the full-size photo.
pub fn detect_photo(detector: &dyn Detector, photo: &Photo) -> Result<Vec<Face>, DetectError> {
    if photo.is_reduced() && detector.accepts_reduced() {
        detector.detect_reduced(&photo.view().rgb, photo.scale())
    } else {
        Ok(detector.detect(photo.full()?)?)
    }
}

/// Where [`align_from_photo`] took a face from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlignSource {
    /// The reduced image (the face was at least the aligned size there).
    Reduced,
    /// The full-size photo.
    Full,
}

/// Align the face with `landmarks` (full-size pixels) to `size`×`size`: from the photo's reduced image when the
/// warp does not enlarge the face there (it is at least as large as the crop: nothing is lost, and the DCT-domain
/// reduction is a better anti-aliasing filter than the warp's bilinear sampling), else from the full-size photo,
/// decoded on first need. `None` for degenerate landmarks.
pub fn align_from_photo(
    photo: &Photo,
    landmarks: &Landmarks5,
    size: u32,
) -> Result<(Option<RgbImage>, AlignSource), DetectError> {
    if photo.is_reduced() {
        let reduced = from_full_size(landmarks, photo.scale());
        if imgproc::align_scale(&reduced, size).is_some_and(|s| s <= 1.0) {
            return Ok((align_face(&photo.view().rgb, &reduced, size), AlignSource::Reduced));
        }
    }
    Ok((align_face(photo.full()?, landmarks, size), AlignSource::Full))
}

/// Landmarks in the photo's pixels mapped into an image `scale` times smaller (the inverse of `to_full_size`).
fn from_full_size(landmarks: &Landmarks5, scale: f32) -> Landmarks5 {
    let off = (scale - 1.0) / 2.0;
    Landmarks5(landmarks.0.map(|[x, y]| [(x - off) / scale, (y - off) / scale]))
}
