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
/// L2-normalised here. Two files of the same network: `face_recognition_sface_2021dec_fast.onnx` (default; its
/// per-channel PRelu rewritten into a form ONNX Runtime runs about 3× faster, embeddings equal to cosine ≥ 0.99999)
/// and the original `face_recognition_sface_2021dec_dequant.onnx` ([`PipelineMode::Reference`]).
pub struct SFace {
    runner: ModelRunner,
}

impl SFace {
    /// Load and check the fast model from `models`.
    pub fn new(models: &ModelDir) -> Result<Self, DetectError> {
        Self::with_mode(models, PipelineMode::Fast)
    }

    /// Load and check the model `mode` uses: the fast graph, or the original one in reference mode.
    pub fn with_mode(models: &ModelDir, mode: PipelineMode) -> Result<Self, DetectError> {
        let file = match mode {
            PipelineMode::Fast => &models::SFACE_FAST,
            PipelineMode::Reference => &models::SFACE_DEQUANT,
        };
        let bytes = match models.load(file) {
            // A models folder from before the fast graph existed: the original gives the same embeddings, slower.
            Err(DetectError::ModelMissing { path, .. })
                if mode == PipelineMode::Fast && models.path().join(models::SFACE_DEQUANT.file).is_file() =>
            {
                tracing::warn!(
                    "{} is missing: using the original SFace graph (same embeddings, about 2.5x slower); copy \
                     models/{} from isshesarahconnor to get the fast one",
                    path.display(),
                    models::SFACE_FAST.file
                );
                models.load(&models::SFACE_DEQUANT)?
            }
            other => other?,
        };
        Ok(Self { runner: ModelRunner::new(NAME, bytes)? })
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
