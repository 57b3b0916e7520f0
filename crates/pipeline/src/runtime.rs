//! What every stage needs to look at faces: the inference engine, the models folder, image limits and the
//! pipeline mode — started on first use, so a stage that is up to date never loads a model.

use std::path::PathBuf;
use std::sync::OnceLock;

use issc_core::LoadOptions;
use issc_detect::{DetectorConfig, DetectorKind, EngineChoice, EngineInfo, FacePipeline, ModelDir, PipelineMode};
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, PipelineError, Result};

/// How faces are found: the detector and its thresholds (`[crop]` of `pipeline.toml`, `issc crop`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DetectorSettings {
    /// Which detector runs.
    pub detector: DetectorKind,
    /// Minimum detection score, 0..1.
    pub score: f32,
    /// NMS IoU threshold, 0..1.
    pub nms: f32,
    /// Long side (pixels) photos are shrunk to before detection.
    pub max_side: u32,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        let c = DetectorConfig::default();
        Self { detector: DetectorKind::YuNet, score: c.score_threshold, nms: c.nms_threshold, max_side: c.max_side }
    }
}

impl DetectorSettings {
    /// The detector's configuration, dropping faces smaller than `min_face` pixels.
    pub fn config(&self, min_face: f32) -> DetectorConfig {
        DetectorConfig {
            score_threshold: self.score,
            nms_threshold: self.nms,
            max_side: self.max_side,
            min_face,
            ..DetectorConfig::default()
        }
    }

    /// Check every value (the error names the setting: `score`, `nms`, `max_side`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, v: String, range: &str| {
            Err(PipelineError::Config(format!("detector setting {key} = {v} is out of range ({range})")))
        };
        if !(0.0..=1.0).contains(&self.score) {
            return bad("score", self.score.to_string(), "0..=1");
        }
        if !(0.0..=1.0).contains(&self.nms) {
            return bad("nms", self.nms.to_string(), "0..=1");
        }
        if !(32..=8192).contains(&self.max_side) {
            return bad("max_side", self.max_side.to_string(), "32..=8192");
        }
        Ok(())
    }
}

/// How the [`Runtime`] runs models.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RuntimeOptions {
    /// ONNX Runtime, tract, or whichever is found.
    pub engine: EngineChoice,
    /// The models folder; `None`: found as [`ModelDir::locate`] does.
    pub models: Option<PathBuf>,
    /// Image limits and damaged-JPEG policy.
    pub load: LoadOptions,
    /// The fast default or OpenCV's reference pipeline.
    pub mode: PipelineMode,
    /// Decode JPEGs at the detector's scale (DCT-domain shrink).
    pub shrink_on_load: bool,
}

/// The engine and models, started on first use and shared by every stage of a run.
#[derive(Debug)]
pub struct Runtime {
    opts: RuntimeOptions,
    models: OnceLock<ModelDir>,
}

impl Runtime {
    /// A runtime that starts nothing until a stage needs it.
    pub fn new(opts: RuntimeOptions) -> Self {
        Self { opts, models: OnceLock::new() }
    }

    /// Image limits for every photo read.
    pub fn load(&self) -> &LoadOptions {
        &self.opts.load
    }

    /// The options this runtime was made with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.opts
    }

    /// The inference engine, started on first use.
    pub fn engine(&self) -> Result<&'static EngineInfo> {
        let engine = issc_detect::init_engine(self.opts.engine).ctx(|| "cannot start the inference engine")?;
        tracing::info!("engine: {engine}");
        Ok(engine)
    }

    /// The models folder, located on first use.
    pub fn models(&self) -> Result<&ModelDir> {
        if let Some(m) = self.models.get() {
            return Ok(m);
        }
        let m = ModelDir::locate(self.opts.models.as_deref()).ctx(|| "cannot find the models folder")?;
        tracing::info!("models: {} ({})", m.path().display(), m.origin());
        Ok(self.models.get_or_init(|| m))
    }

    /// What `issc doctor` shows: the engine, the models folder and every model file's checksum, checked.
    pub fn doctor(&self) -> Result<Doctor> {
        let engine = self.engine()?;
        let models = self.models()?;
        let checks = models
            .verify_all()
            .into_iter()
            .map(|(m, r)| ModelCheck {
                file: m.file,
                role: m.role,
                sha256: m.sha256,
                ok: r.is_ok(),
                error: r.err().map(|e| e.to_string()),
            })
            .collect();
        Ok(Doctor {
            version: env!("CARGO_PKG_VERSION"),
            engine: engine.kind.to_string(),
            engine_library: engine.library.as_ref().map(|p| p.display().to_string()),
            engine_reason: engine.reason.clone(),
            engine_text: engine.to_string(),
            models_dir: models.path().display().to_string(),
            models_origin: models.origin().to_string(),
            models: checks,
            threads: rayon::current_num_threads(),
        })
    }

    /// A face pipeline with `detector`'s settings (embedding too when `embed`), dropping faces under `min_face` px.
    pub fn pipeline(&self, detector: &DetectorSettings, min_face: f32, embed: bool) -> Result<FacePipeline> {
        detector.validate()?;
        let kind = detector.detector;
        if kind == DetectorKind::Azure && !embed {
            // Remote detection only: no local engine or models needed.
            let d = kind.open_remote(detector.config(min_face)).ctx(|| "cannot use the Azure detector")?;
            return Ok(FacePipeline::from_parts(d, None));
        }
        self.engine()?;
        let models = self.models()?;
        FacePipeline::with_mode(models, kind, detector.config(min_face), embed, self.opts.mode)
            .map(|p| p.with_shrink_on_load(self.opts.shrink_on_load))
            .ctx(|| format!("cannot load the face models from {}", models.path().display()))
    }
}

/// One model file's check in a [`Doctor`] report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCheck {
    /// File name in the models folder.
    pub file: &'static str,
    /// What it is.
    pub role: &'static str,
    /// Its expected SHA-256.
    pub sha256: &'static str,
    /// Present with that checksum.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// The engine and models in use ([`Runtime::doctor`]): JSON through `Serialize`, text through `Display`.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    /// This library's version.
    pub version: &'static str,
    /// The inference engine (`ort`, `tract`).
    pub engine: String,
    /// The ONNX Runtime library loaded, if any.
    pub engine_library: Option<String>,
    /// Why this engine runs (e.g. why ONNX Runtime was not found).
    pub engine_reason: String,
    #[serde(skip)]
    engine_text: String,
    /// The models folder.
    pub models_dir: String,
    #[serde(skip)]
    models_origin: String,
    /// Every model file, checked.
    pub models: Vec<ModelCheck>,
    /// Worker threads.
    pub threads: usize,
}

impl Doctor {
    /// Every model file is present with its checksum.
    pub fn all_ok(&self) -> bool {
        self.models.iter().all(|m| m.ok)
    }
}

impl std::fmt::Display for Doctor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "issc {}", self.version)?;
        writeln!(f, "engine:  {}", self.engine_text)?;
        writeln!(f, "models:  {} ({})", self.models_dir, self.models_origin)?;
        for m in &self.models {
            match &m.error {
                None => writeln!(f, "  ok     {}  {}", m.file, m.role)?,
                Some(e) => writeln!(f, "  FAILED {}  {e}", m.file)?,
            }
        }
        writeln!(f, "threads: {}", self.threads)
    }
}
