//! The pipeline's error: what failed, on which input, and what to do.

use std::fmt;

/// Why a pipeline step failed. The message says what failed, on which input (file, folder, setting, person) and,
/// where there is one, what to do; `source()` keeps the underlying error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A setting or a `pipeline.toml` is wrong (the message names the file and key, or the setting).
    #[error("{0}")]
    Config(String),
    /// A stage's input or state does not allow going on (the message names the input and what to do).
    #[error("{0}")]
    Invalid(String),
    /// The downloader refused (its message names the setting or the service's answer).
    #[error(transparent)]
    Fetch(#[from] issc_downloader::FetchError),
    /// An operation on a named input failed. The message holds the cause's (so `cause` is not also a `source()`:
    /// a printed error chain says it once).
    #[error("{context}: {cause}")]
    Context {
        /// What was being done, on what.
        context: String,
        /// Why it failed.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl PipelineError {
    /// An error saying what was being done.
    pub fn context(context: impl fmt::Display, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Context { context: context.to_string(), cause: source.into() }
    }
}

/// `Result` with [`PipelineError`].
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Adds what was being done to an error (as `anyhow::Context` does, for a library).
pub(crate) trait Ctx<T> {
    /// Wrap the error with a message made on failure only.
    fn ctx<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Box<dyn std::error::Error + Send + Sync>>> Ctx<T> for std::result::Result<T, E> {
    fn ctx<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| PipelineError::context(f(), e))
    }
}

impl<T> Ctx<T> for Option<T> {
    fn ctx<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| PipelineError::Invalid(f().to_string()))
    }
}

/// Return early with [`PipelineError::Invalid`].
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::error::PipelineError::Invalid(format!($($t)*))) };
}
pub(crate) use bail;
