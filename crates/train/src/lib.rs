//! Training of face classifiers on `issc prepare` datasets.
//!
//! The `head` mode embeds every aligned crop once with SFace (cached by the crop's BLAKE3, see
//! [`EmbeddingCache`]), then trains a softmax classifier (linear, or a small MLP) on the 128-d embeddings with
//! burn (autodiff over the pure-Rust `flex` CPU backend): AdamW, seeded shuffled mini-batches, early stopping on
//! validation loss, a checkpoint per epoch and bit-identical `--resume`. An open-set rejection threshold is
//! calibrated on the validation split so that faces of people not trained on can be answered `unknown`.
//!
//! ```no_run
//! use std::path::Path;
//! use issc_train::{EmbeddingCache, TrainOptions, embed_dataset, load_dataset, train_head};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let embedder = issc_detect::SFace::new(&issc_detect::ModelDir::locate(None)?)?;
//! let files = load_dataset(Path::new("dataset"))?;
//! let cache = EmbeddingCache::new("cache/embeddings");
//! let set = embed_dataset(&files, &embedder, &cache, &Default::default(), &|_, _| {})?;
//! let report = train_head(&set, Path::new("runs/first"), &TrainOptions::default(), &mut |_| {})?;
//! println!("test accuracy {:.3}", report.test_accuracy);
//! # Ok(()) }
//! ```

mod cache;
mod card;
mod classifier;
mod data;
mod error;
mod finetune;
mod head;
mod openset;
mod plot;
mod sface_net;
mod trainer;

pub use cache::{CacheStats, EmbeddingCache};
pub use card::{CARD_FILE, CARD_FORMAT, EmbedderSpec, RunMetrics, TrainCard, TrainingRecord};
pub use classifier::{Classifier, Prediction};
pub use data::{DatasetFiles, EmbeddedSet, LabeledFile, Split, embed_dataset, load_dataset};
pub use error::TrainError;
pub use finetune::{COSINE_SCALE, FaceSet, FaceSplit, load_faces, train_finetune};
pub use head::{DenseLayer, HeadConfig};
pub use issc_dataset::Fate;
pub use openset::{OpenSetCalibration, ThresholdChoice};
pub use sface_net::{EMBEDDING_STAGE, SFaceNet, StageParams};
pub use trainer::{
    EpochMetrics, Mode, Precision, TrainDevice, TrainOptions, TrainReport, settings_differences, train_head,
};

/// Embedding dimension the heads take (SFace).
pub const EMBEDDING_DIM: usize = 128;
