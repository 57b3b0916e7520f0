//! The dataset written by `issc prepare`, and its embeddings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use issc_core::LoadOptions;
use issc_dataset::Fate;
use issc_detect::Embedder;
use rayon::prelude::*;

use crate::EMBEDDING_DIM;
use crate::cache::{CacheStats, EmbeddingCache};
use crate::error::TrainError;

/// One crop of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledFile {
    /// Path of the crop (inside the dataset folder).
    pub path: PathBuf,
    /// Path relative to the dataset folder, as in `dataset.json`.
    pub rel: String,
    /// Its label.
    pub label: String,
    /// BLAKE3 of its bytes (hex), from `dataset.json`.
    pub blake3: String,
    /// Its split.
    pub fate: Fate,
}

/// The usable files of a dataset: labels that have training data, and their train/val/test crops.
#[derive(Debug, Clone)]
pub struct DatasetFiles {
    /// The dataset folder.
    pub root: PathBuf,
    /// `dataset.json`'s fingerprint (identifies the inputs and settings of `issc prepare`).
    pub fingerprint: String,
    /// Labels in class order (sorted).
    pub labels: Vec<String>,
    /// Every crop in train, val or test of those labels.
    pub files: Vec<LabeledFile>,
    /// Things worth telling the user (labels left out, ...).
    pub warnings: Vec<String>,
}

/// Read `data/dataset.json` and check the dataset can train a classifier: at least two labels with training
/// crops, and validation crops for early stopping. Labels without training crops are left out with a warning.
pub fn load_dataset(data: &Path) -> Result<DatasetFiles, TrainError> {
    let manifest_path = data.join(issc_dataset::MANIFEST);
    if !manifest_path.is_file() {
        return Err(TrainError::NoManifest(data.to_path_buf()));
    }
    let manifest = issc_dataset::read_manifest(data).ok_or_else(|| TrainError::BadManifest(manifest_path.clone()))?;
    let dataset_err = |reason: String| TrainError::Dataset { path: data.to_path_buf(), reason };

    let mut per_label: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for f in &manifest.files {
        let slot = match f.fate {
            Fate::Train => 0,
            Fate::Val => 1,
            Fate::Test => 2,
            Fate::Removed => continue,
        };
        per_label.entry(f.label.as_str()).or_default()[slot] += 1;
    }
    let mut warnings = Vec::new();
    let mut labels = BTreeSet::new();
    for (label, counts) in &per_label {
        if counts[0] == 0 {
            warnings
                .push(format!("label {label}: no training crops ({} val, {} test); left out", counts[1], counts[2]));
        } else {
            labels.insert(label.to_string());
        }
    }
    for (label, c) in &manifest.labels {
        if c.skipped || !per_label.contains_key(label.as_str()) {
            warnings.push(format!("label {label}: empty after `issc prepare` (too few usable crops); left out"));
        }
    }
    if labels.len() < 2 {
        return Err(dataset_err(format!(
            "{} label(s) with training crops ({}); a classifier needs at least 2 — add people to the crops folder \
             or lower `issc prepare --min-per-label`",
            labels.len(),
            labels.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut files = Vec::new();
    for f in &manifest.files {
        if f.fate == Fate::Removed || !labels.contains(&f.label) {
            continue;
        }
        let Some(out) = &f.output else {
            return Err(dataset_err(format!(
                "{}: kept in dataset.json but has no output path; re-run prepare",
                f.path
            )));
        };
        files.push(LabeledFile {
            path: data.join(out),
            rel: out.clone(),
            label: f.label.clone(),
            blake3: f.blake3.clone(),
            fate: f.fate,
        });
    }
    if !files.iter().any(|f| f.fate == Fate::Val) {
        return Err(dataset_err(
            "no validation crops, needed for early stopping and the open-set threshold; re-run `issc prepare` with \
             a validation share (e.g. --split 0.7,0.15,0.15) or more photos per person"
                .into(),
        ));
    }
    Ok(DatasetFiles {
        root: data.to_path_buf(),
        fingerprint: manifest.fingerprint.clone(),
        labels: labels.into_iter().collect(),
        files,
        warnings,
    })
}

/// Embeddings and class indices of one split.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Row-major `[n, 128]` L2-normalised embeddings.
    pub x: Vec<f32>,
    /// Class index of each row.
    pub y: Vec<usize>,
    /// Dataset-relative path of each row.
    pub paths: Vec<String>,
}

impl Split {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM]
    }
}

/// A crop's bytes and their BLAKE3 (hex), refused when they are not what `dataset.json` recorded.
pub(crate) fn read_crop(f: &LabeledFile) -> Result<(Vec<u8>, String), TrainError> {
    let crop_err = |reason: String| TrainError::Crop { path: f.path.clone(), reason };
    let bytes = issc_core::read_capped(&f.path, issc_core::LoadOptions::default().max_bytes)
        .map_err(|e| crop_err(format!("cannot read the crop: {e}")))?;
    let actual = blake3::hash(&bytes).to_hex().to_string();
    if !actual.eq_ignore_ascii_case(&f.blake3) {
        return Err(crop_err(format!(
            "changed since `issc prepare` (BLAKE3 {actual}, dataset.json says {}); re-run `issc prepare`",
            f.blake3
        )));
    }
    Ok((bytes, actual))
}

/// Decode a crop read by [`read_crop`], refused unless it is an aligned `size`×`size` face.
pub(crate) fn decode_crop(
    f: &LabeledFile,
    bytes: &[u8],
    size: u32,
    load: &LoadOptions,
) -> Result<issc_core::DecodedImage, TrainError> {
    let crop_err = |reason: String| TrainError::Crop { path: f.path.clone(), reason };
    let img = issc_core::decode_image(bytes, &f.path.display().to_string(), load)
        .map_err(|e| crop_err(format!("cannot decode the crop: {e}")))?;
    if (img.width(), img.height()) != (size, size) {
        return Err(crop_err(format!(
            "is {}x{}, not an aligned {size}x{size} face crop; build the dataset from `issc crop` output (aligned \
             mode)",
            img.width(),
            img.height()
        )));
    }
    Ok(img)
}

/// A dataset in embedding space.
#[derive(Debug, Clone)]
pub struct EmbeddedSet {
    /// Labels in class order.
    pub labels: Vec<String>,
    /// Training rows.
    pub train: Split,
    /// Validation rows.
    pub val: Split,
    /// Test rows.
    pub test: Split,
    /// Cache hits and misses while embedding.
    pub cache: CacheStats,
    /// The dataset's fingerprint.
    pub fingerprint: String,
    /// The dataset folder.
    pub root: PathBuf,
}

/// Embed every crop of `files` (in parallel), reading and filling `cache`. Each crop's bytes are checked
/// against the BLAKE3 in `dataset.json` (a changed file is an error: re-run `issc prepare`), and must be an
/// aligned `112×112` face. `progress(done, total)` is called as crops finish.
pub fn embed_dataset(
    files: &DatasetFiles,
    embedder: &dyn Embedder,
    cache: &EmbeddingCache,
    load: &LoadOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<EmbeddedSet, TrainError> {
    if embedder.dim() != EMBEDDING_DIM {
        return Err(TrainError::Options(format!(
            "embedder {} gives {}-d embeddings; heads take {EMBEDDING_DIM}",
            embedder.name(),
            embedder.dim()
        )));
    }
    let total = files.files.len();
    let done = AtomicUsize::new(0);
    let (hits, misses) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let size = embedder.input_size();
    let rows: Vec<Vec<f32>> = files
        .files
        .par_iter()
        .map(|f| {
            let (bytes, actual) = read_crop(f)?;
            let v = if let Some(v) = cache.get(&actual) {
                hits.fetch_add(1, Ordering::Relaxed);
                v
            } else {
                let img = decode_crop(f, &bytes, size, load)?;
                let e = embedder.embed(&img.rgb).map_err(|e| TrainError::Crop {
                    path: f.path.clone(),
                    reason: format!("cannot embed the crop: {e}"),
                })?;
                cache.put(&actual, e.as_slice())?;
                misses.fetch_add(1, Ordering::Relaxed);
                e.as_slice().to_vec()
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Ok(v)
        })
        .collect::<Result<_, TrainError>>()?;

    let index: BTreeMap<&str, usize> = files.labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let (mut train, mut val, mut test) = (Split::default(), Split::default(), Split::default());
    for (f, v) in files.files.iter().zip(rows) {
        let split = match f.fate {
            Fate::Train => &mut train,
            Fate::Val => &mut val,
            Fate::Test => &mut test,
            Fate::Removed => continue,
        };
        split.x.extend_from_slice(&v);
        split.y.push(index[f.label.as_str()]);
        split.paths.push(f.rel.clone());
    }
    Ok(EmbeddedSet {
        labels: files.labels.clone(),
        train,
        val,
        test,
        cache: CacheStats { hits: hits.into_inner(), misses: misses.into_inner() },
        fingerprint: files.fingerprint.clone(),
        root: files.root.clone(),
    })
}
