//! The isshesarahconnor pipeline as a library: from people's photos to an exported face model, with every stage
//! skipped when its outputs are up to date.
//!
//! - [`crop`](crop::crop): every face of a folder of photos, aligned, plus `crops.jsonl`;
//! - [`fetch_label`]: one person's photos from a folder, a URL list or a search;
//! - [`train`](train::train): a classifier over SFace embeddings on a prepared dataset;
//! - [`run`]: fetch → crop → prepare → train → export (+ strangers) for the people of a [`PipelineConfig`], then
//!   `report.html` and a [`Summary`].
//!
//! Nothing here parses a command line or prints: settings are plain structs with `Default` and `validate()`
//! (errors name the setting), and progress goes to a [`Progress`].
//!
//! ```no_run
//! use issc_pipeline::{PipelineConfig, Runtime, RuntimeOptions};
//!
//! let cfg = PipelineConfig::load("examples/pipeline.toml".as_ref(), None)?;
//! let runtime = Runtime::new(RuntimeOptions::default());
//! let done = issc_pipeline::run(&cfg, &runtime, &())?;
//! println!("test accuracy {:.3}; model in {}", done.summary.test_accuracy, done.model_dir.display());
//! # Ok::<(), issc_pipeline::PipelineError>(())
//! ```

pub mod bench;
pub mod config;
pub mod crop;
mod error;
pub mod faces;
pub mod fetch;
mod progress;
pub mod report;
mod run;
mod runtime;
pub mod settings;
mod strangers;
pub mod summary;
pub mod train;

use std::path::Path;

pub use config::{CropSection, FacesPolicy, Person, PipelineConfig, PrepareSection};
pub use crop::{CropMode, CropOptions, CropSummary};
pub use error::{PipelineError, Result};
pub use fetch::{FetchSettings, PhotoSource, SearchProvider, Secret, fetch_label};
pub use progress::{Progress, Task};
pub use run::run;
pub use runtime::{DetectorSettings, Doctor, ModelCheck, Runtime, RuntimeOptions};
pub use summary::{Outcome, Summary};
pub use train::TrainSettings;

/// `raw/`: fetched photos, by label.
pub const RAW: &str = "raw";
/// `crops/`: every face found.
pub const CROPS: &str = "crops";
/// `faces/`: the faces kept for the dataset.
pub const FACES: &str = "faces";
/// `dataset/`: the prepared split.
pub const DATASET: &str = "dataset";
/// `runs/<name>/`: training runs.
pub const RUNS: &str = "runs";
/// `model/`: the exported model.
pub const MODEL: &str = "model";
/// The embedding cache, inside the work folder.
pub const CACHE: &str = "cache/embeddings";
/// `strangers/`: answers on photos of people not trained on.
pub const STRANGERS: &str = "strangers";
/// The report.
pub const REPORT: &str = "report.html";
/// The work folder's marker and the last run's summary (what `--json` prints).
pub const MARKER: &str = "issc-run.json";

/// A path for messages: relative to the current folder when inside it.
pub fn show(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match rel {
        Some(r) if r.as_os_str().is_empty() => ".".into(),
        Some(r) => r.display().to_string(),
        None => p.display().to_string(),
    }
}

/// `path` as JSON, or `None` when missing or unreadable.
fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The work folder is new, empty, or one of ours (never fill a folder of something else).
pub fn check_work_folder(work: &Path) -> Result<()> {
    use error::Ctx;
    if !work.exists() {
        return Ok(());
    }
    if !work.is_dir() {
        error::bail!("work folder {} is not a folder", show(work));
    }
    let empty = std::fs::read_dir(work).ctx(|| format!("cannot list {}", show(work)))?.next().is_none();
    if !empty && !work.join(MARKER).is_file() {
        error::bail!(
            "work folder {} is not empty and was not made by `issc run` (no {MARKER}); choose a new or empty folder \
             (work = \"...\" in the config, or another work folder on the command line)",
            show(work)
        );
    }
    Ok(())
}
