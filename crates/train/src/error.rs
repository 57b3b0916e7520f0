//! Errors of the training stage.

use std::path::PathBuf;

/// Why training could not run. Every variant names the file, folder or label concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The data folder has no `dataset.json`.
    #[error("{0}: no dataset.json here; build the dataset with `issc prepare --in crops/ --out DIR` first")]
    NoManifest(PathBuf),
    /// `dataset.json` could not be read or parsed.
    #[error("{0}: dataset.json cannot be read or is not one written by `issc prepare`; re-run `issc prepare`")]
    BadManifest(PathBuf),
    /// The dataset cannot train a classifier (too few labels, no validation data, ...).
    #[error("{path}: {reason}")]
    Dataset {
        /// The dataset folder.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A crop listed in `dataset.json` cannot be read, decoded or embedded.
    #[error("{path}: {reason}")]
    Crop {
        /// The crop.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A run folder is in a state the requested operation does not accept.
    #[error("{path}: {reason}")]
    Run {
        /// The run folder (or a file in it).
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// burn could not save or load a record (model or optimizer state).
    #[error("{path}: cannot save or load the burn record: {reason}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// burn's message.
        reason: String,
    },
    /// A training plot (`curves.png`, `confusion.png`) could not be drawn or encoded.
    #[error("{path}: cannot draw the plot: {reason}")]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The SFace ONNX graph cannot be read or uses something the burn port does not support.
    #[error("SFace ONNX model: {0}; use the bundled models/face_recognition_sface_2021dec_dequant.onnx")]
    Onnx(String),
    /// The options are invalid.
    #[error("invalid option: {0}")]
    Options(String),
    /// The requested mode is not implemented yet.
    #[error("training mode `{0}` is not implemented yet; use mode = head")]
    Unsupported(String),
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}
