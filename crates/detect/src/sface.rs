//! SFace (MobileFaceNet trained with the SFace loss): aligned 112×112 RGB face in, 128-d embedding out.

use image::RgbImage;
use issc_core::Embedding;

use crate::runner::ModelRunner;
use crate::{DetectError, Embedder, ModelDir, PipelineMode, models};

const NAME: &str = "SFace";
/// Side of the aligned face SFace expects.
pub const SFACE_INPUT: u32 = 112;
/// Embedding size.
pub const SFACE_DIM: usize = 128;
/// The author's same-person threshold on cosine similarity (opencv_zoo `sface.py`).
pub const SFACE_THRESHOLD: f32 = 0.363;

/// The SFace embedder. Input: RGB, raw 0..255, NCHW (the graph normalises internally). Output `fc1`,
/// L2-normalised here. Three files of the same network, chosen by [`PipelineMode`] and the engine:
/// - fast mode under ONNX Runtime: `face_recognition_sface_2021dec_int8.onnx` (the wide 1×1 convolutions and
///   the fully connected layer in int8 with per-call activation scales; about 1.7× faster than the fp32 fast
///   graph, embeddings at cosine ≥ 0.99 to the original on the shared photos);
/// - fast mode under tract: `face_recognition_sface_2021dec_fast.onnx` (fp32; per-channel PRelu rewritten into a
///   form ONNX Runtime runs about 3× faster, embeddings equal to cosine ≥ 0.99999);
/// - [`PipelineMode::Reference`]: the original `face_recognition_sface_2021dec_dequant.onnx`.
///
/// [`SFace::new`] always loads the fp32 fast graph. A models folder without the int8 file falls back to the fp32
/// fast graph, and one without that to the original, with a warning naming the missing file.
pub struct SFace {
    runner: ModelRunner,
    file: &'static str,
}

impl SFace {
    /// Load and check the fp32 fast graph from `models` (the original when that file is missing): embeddings equal
    /// to the original's (cosine ≥ 0.99999) on either engine. Training and `issc export` use this one, so that a
    /// trained head and its exported graph see the same embeddings.
    pub fn new(models: &ModelDir) -> Result<Self, DetectError> {
        Self::load(models, &[&models::SFACE_FAST, &models::SFACE_DEQUANT])
    }

    /// Load and check the model `mode` uses on this process's engine (see the type's docs): in fast mode, the
    /// fastest file for the engine. This is what [`crate::FacePipeline`] runs.
    pub fn with_mode(models: &ModelDir, mode: PipelineMode) -> Result<Self, DetectError> {
        let ort = crate::engine::init_engine(crate::EngineChoice::Auto)?.kind == crate::EngineKind::OnnxRuntime;
        match mode {
            PipelineMode::Fast if ort => {
                Self::load(models, &[&models::SFACE_INT8, &models::SFACE_FAST, &models::SFACE_DEQUANT])
            }
            PipelineMode::Fast => Self::new(models),
            PipelineMode::Reference => Self::load(models, &[&models::SFACE_DEQUANT]),
        }
    }

    /// The first file of `chain` that is in the folder (the last one otherwise, for its error), with a warning
    /// when it is not the first.
    fn load(models: &ModelDir, chain: &[&'static models::ModelFile]) -> Result<Self, DetectError> {
        let wanted = chain[0];
        let file = chain.iter().find(|m| models.path().join(m.file).is_file()).unwrap_or(&chain[chain.len() - 1]);
        if file.file != wanted.file {
            // A models folder from before a faster file existed: the next one gives (nearly) the same embeddings.
            tracing::warn!(
                "{} is missing: using {} (same network, slower); copy models/{} from isshesarahconnor to get the \
                 faster one",
                models.path().join(wanted.file).display(),
                file.file,
                wanted.file
            );
        }
        let bytes = models.load(file)?;
        Ok(Self { runner: ModelRunner::new(NAME, bytes)?, file: file.file })
    }

    /// The model file in use (which of the three the mode and engine chose).
    pub fn file(&self) -> &'static str {
        self.file
    }
}

impl Embedder for SFace {
    fn name(&self) -> &str {
        "sface"
    }

    fn input_size(&self) -> u32 {
        SFACE_INPUT
    }

    fn dim(&self) -> usize {
        SFACE_DIM
    }

    fn default_threshold(&self) -> f32 {
        SFACE_THRESHOLD
    }

    fn model_file(&self) -> Option<&str> {
        Some(self.file)
    }

    fn embed(&self, aligned: &RgbImage) -> Result<Embedding, DetectError> {
        let s = SFACE_INPUT as usize;
        if aligned.dimensions() != (SFACE_INPUT, SFACE_INPUT) {
            return Err(DetectError::Config(format!(
                "SFace needs a {s}x{s} aligned face, got {}x{}",
                aligned.width(),
                aligned.height()
            )));
        }
        let plane = s * s;
        let mut data = vec![0f32; 3 * plane];
        for (i, p) in aligned.pixels().enumerate() {
            data[i] = f32::from(p.0[0]);
            data[plane + i] = f32::from(p.0[1]);
            data[2 * plane + i] = f32::from(p.0[2]);
        }
        let outs = self.runner.run(&[1, 3, s, s], &data)?;
        let (_, _, v) = outs.into_iter().next().ok_or_else(|| DetectError::inference(NAME, "no output"))?;
        if v.len() != SFACE_DIM {
            return Err(DetectError::inference(NAME, format!("expected {SFACE_DIM} values, got {}", v.len())));
        }
        Embedding::from_raw(v).map_err(|e| DetectError::inference(NAME, e))
    }
}
