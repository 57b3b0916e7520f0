use std::path::PathBuf;

/// Errors from detection, alignment and embedding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// No models folder was found.
    #[error(
        "models folder not found (looked in: {searched}); run from a checkout of isshesarahconnor, \
         or pass --models DIR, or set ISSC_MODELS_DIR"
    )]
    ModelsNotFound {
        /// Where it looked.
        searched: String,
    },
    /// A model file is missing or unreadable.
    #[error(
        "model {path} cannot be read ({reason}); restore it with `git checkout -- models/` (or copy it from a \
         release), or point --models / ISSC_MODELS_DIR at a folder that has it"
    )]
    ModelMissing {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A model file's checksum does not match.
    #[error(
        "model {path} failed its checksum (expected sha256 {expected}, got {actual}): the file is corrupted or \
         replaced; restore it with `git checkout -- models/` (git lfs pull if you use LFS) and check models/SHA256SUMS"
    )]
    ModelCorrupt {
        /// The file.
        path: PathBuf,
        /// Expected SHA-256.
        expected: String,
        /// Actual SHA-256.
        actual: String,
    },
    /// The inference engine could not start.
    #[error("inference engine: {0}")]
    Engine(String),
    /// A model could not be loaded or run.
    #[error("{model}: {message}")]
    Inference {
        /// Which model.
        model: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] issc_core::ImageError),
    /// A configuration value is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
}

impl DetectError {
    pub(crate) fn inference(model: &'static str, e: impl std::fmt::Display) -> Self {
        DetectError::Inference { model, message: e.to_string() }
    }
}
