#![doc = include_str!("../README.md")]

pub mod crops;
pub mod mih;
mod split;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use image_hasher::{HashAlg, HasherConfig};
use issc_core::LoadOptions;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use split::{Split, split_counts};

/// The manifest written at the root of the output.
pub const MANIFEST: &str = "dataset.json";

/// How files reach the output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Materialize {
    /// Copy the bytes (default: the dataset stands alone).
    #[default]
    Copy,
    /// Hard-link (falls back to a copy across file systems).
    Link,
}

/// Settings of `prepare`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareOptions {
    /// Fractions for train, val and test (they must sum to 1).
    pub split: [f64; 3],
    /// Seed of the split: the same inputs and seed give the same split.
    pub seed: u64,
    /// Largest pHash Hamming distance (of 64 bits) at which two images are near duplicates.
    pub phash_distance: u32,
    /// Also compare each image's mirror image (catches horizontally flipped copies).
    pub mirror: bool,
    /// Labels with fewer kept images than this are reported and skipped.
    pub min_per_label: usize,
    /// Copy or link.
    pub materialize: Materialize,
    /// Image limits.
    #[serde(skip)]
    pub load: LoadOptions,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            split: [0.8, 0.1, 0.1],
            seed: 42,
            phash_distance: 6,
            mirror: true,
            min_per_label: 3,
            materialize: Materialize::Copy,
            load: LoadOptions::default(),
        }
    }
}

impl PrepareOptions {
    /// Check ranges.
    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.split.iter().any(|r| !(0.0..=1.0).contains(r)) || (self.split.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
            return Err(DatasetError::Options(format!(
                "split {:?} must be three fractions in [0, 1] that sum to 1 (e.g. 0.8,0.1,0.1)",
                self.split
            )));
        }
        if self.split[0] <= 0.0 {
            return Err(DatasetError::Options("the train fraction must be > 0".into()));
        }
        if self.phash_distance > 32 {
            return Err(DatasetError::Options(format!(
                "prepare setting phash_distance = {}: too large (0..=32; 6 is a good default for 64-bit pHash)",
                self.phash_distance
            )));
        }
        if self.min_per_label == 0 {
            return Err(DatasetError::Options("prepare setting min_per_label must be at least 1".into()));
        }
        Ok(())
    }
}

/// Errors of `prepare`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// Bad settings.
    #[error("invalid setting: {0}")]
    Options(String),
    /// The input folder is missing or has no label folders.
    #[error("{path}: {reason}")]
    Input {
        /// The folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The output folder holds something that is not a dataset made by this tool.
    #[error(
        "{0}: exists and is not a dataset made by `issc prepare` (no dataset.json); refusing to replace it: \
         choose another --out or empty it"
    )]
    OutputNotOurs(PathBuf),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io { path: path.to_path_buf(), source }
}

/// What happened to one input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fate {
    /// In the training split.
    Train,
    /// In the validation split.
    Val,
    /// In the test split.
    Test,
    /// Left out; see `reason`.
    Removed,
}

/// One input file in `dataset.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    /// Path relative to the input folder (`<label>/<file>`).
    pub path: String,
    /// Its label (folder name).
    pub label: String,
    /// Size in bytes.
    pub bytes: u64,
    /// BLAKE3 of the bytes, hex.
    pub blake3: String,
    /// 64-bit pHash, hex (absent when unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phash: Option<String>,
    /// Pixel size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixel size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Split or removal.
    pub fate: Fate,
    /// Why removed: `unreadable`, `exact_duplicate`, `conflicting_labels`, `label_too_small`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details (the decoder's message, the other label, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The kept file this one duplicates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Near-duplicate group (files with the same group number went to the same split).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// Where it was written, relative to the output folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A near-duplicate pair found by pHash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NearDuplicate {
    /// One file.
    pub a: String,
    /// The other file.
    pub b: String,
    /// Hamming distance of their pHashes.
    pub distance: u32,
    /// Whether `b` matched the mirror image of `a`.
    pub mirrored: bool,
}

/// Per-label counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LabelCounts {
    /// Training files.
    pub train: usize,
    /// Validation files.
    pub val: usize,
    /// Test files.
    pub test: usize,
    /// Removed files.
    pub removed: usize,
    /// Skipped for having fewer than `min_per_label` kept files.
    pub skipped: bool,
}

/// `dataset.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Hashing and splitting method ([`METHOD`]).
    pub method: String,
    /// Hash of the inputs (paths and BLAKE3) and settings: equal means up to date.
    pub fingerprint: String,
    /// Settings used.
    pub options: PrepareOptions,
    /// Counts per label.
    pub labels: BTreeMap<String, LabelCounts>,
    /// Removed files per reason.
    pub removed_by_reason: BTreeMap<String, usize>,
    /// Every input file and its fate.
    pub files: Vec<FileRecord>,
    /// Every near-duplicate pair.
    pub near_duplicates: Vec<NearDuplicate>,
}

/// The outcome of `prepare`.
#[derive(Debug, Clone)]
pub struct Report {
    /// The manifest (as written, or as found when up to date).
    pub manifest: Manifest,
    /// True when the output was already up to date and nothing was written.
    pub up_to_date: bool,
}

impl Report {
    /// Files per fate: (train, val, test, removed).
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        let mut t = (0, 0, 0, 0);
        for f in &self.manifest.files {
            match f.fate {
                Fate::Train => t.0 += 1,
                Fate::Val => t.1 += 1,
                Fate::Test => t.2 += 1,
                Fate::Removed => t.3 += 1,
            }
        }
        t
    }
}

impl std::fmt::Display for Report {
    /// The split in lines: counts per fate, removals per reason, near-duplicate groups, skipped labels and
    /// conflicting labels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        let (train, val, test, removed) = self.totals();
        writeln!(f, "{} files: train {train} · val {val} · test {test} · removed {removed}", m.files.len())?;
        for (reason, n) in &m.removed_by_reason {
            writeln!(f, "  removed ({reason}): {n}")?;
        }
        let groups = m.files.iter().filter_map(|r| r.group).collect::<std::collections::BTreeSet<_>>().len();
        let pairs = m.near_duplicates.len();
        writeln!(f, "  near-duplicate pairs: {pairs} in {groups} groups (each kept inside one split)")?;
        for (label, _) in m.labels.iter().filter(|(_, c)| c.skipped) {
            let min = m.options.min_per_label;
            writeln!(f, "  skipped label {label}: too few usable images (fewer than min_per_label = {min})")?;
        }
        for r in m.files.iter().filter(|r| r.reason.as_deref() == Some("conflicting_labels")) {
            writeln!(f, "  conflicting labels: {} ({})", r.path, r.detail.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }
}

struct Input {
    abs: PathBuf,
    rel: String,
    label: String,
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// `<in>/<label>/<file>`, sorted; hidden entries and files directly in `<in>` (manifests) are ignored.
fn scan(input: &Path) -> Result<Vec<Input>, DatasetError> {
    if !input.is_dir() {
        return Err(DatasetError::Input { path: input.into(), reason: "not a folder".into() });
    }
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(input).min_depth(2).max_depth(2).sort_by_file_name().into_iter();
    for e in walker.filter_entry(|e| !is_hidden(e.file_name())) {
        let e = e.map_err(|err| DatasetError::Input { path: input.into(), reason: err.to_string() })?;
        if !e.file_type().is_file() {
            continue;
        }
        let label = e.path().parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
        let Some(label) = label else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        out.push(Input { abs: e.path().to_path_buf(), rel: format!("{label}/{name}"), label });
    }
    if out.is_empty() {
        return Err(DatasetError::Input {
            path: input.into(),
            reason: "no images in label folders (<in>/<label>/<image>); run `issc crop` first".into(),
        });
    }
    Ok(out)
}

/// BLAKE3, pHash and pHash of the mirror image of one file.
struct Hashed {
    bytes: u64,
    blake3: String,
    image: Result<(u64, u64, u32, u32), String>,
}

/// 64-bit DCT pHash: grey, resized to 16×16, 2-D DCT, the 8×8 lowest frequencies thresholded at their median.
/// (Thresholding at the mean instead lets the DC term dominate: on aligned face crops, different people then
/// collide within distance 6; with the median the closest different-person pair in `identity/public` is 8 bits
/// apart.)
fn phash_config() -> image_hasher::Hasher {
    HasherConfig::new().hash_alg(HashAlg::Median).preproc_dct().hash_size(8, 8).to_hasher()
}

fn hash64(h: &image_hasher::ImageHash) -> u64 {
    let b = h.as_bytes();
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    u64::from_be_bytes(a)
}

fn hash_file(inp: &Input, load: &LoadOptions) -> Result<Hashed, DatasetError> {
    let bytes = issc_core::read_capped(&inp.abs, load.max_bytes).map_err(|e| io_err(&inp.abs)(e.into()))?;
    let blake3 = blake3::hash(&bytes).to_hex().to_string();
    let image = issc_core::decode_image(&bytes, &inp.abs.display().to_string(), load).map(|img| {
        let hasher = phash_config();
        let (w, h) = (img.width(), img.height());
        let dynimg = image::DynamicImage::ImageRgb8(img.rgb);
        let p = hash64(&hasher.hash_image(&dynimg));
        let m = hash64(&hasher.hash_image(&dynimg.fliph()));
        (p, m, w, h)
    });
    Ok(Hashed { bytes: bytes.len() as u64, blake3, image: image.map_err(|e| e.to_string()) })
}

/// Union-find with path halving.
struct Dsu(Vec<usize>);

impl Dsu {
    fn new(n: usize) -> Self {
        Dsu((0..n).collect())
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi] = lo;
        }
    }
}

/// Names the hashing and splitting method; part of the fingerprint, so a new method rebuilds old datasets.
pub const METHOD: &str = "blake3 + phash-dct-median-8x8 (image_hasher) + mih-4x16 + chacha8-largest-group-first v1";

fn fingerprint(files: &[FileRecord], opts: &PrepareOptions) -> String {
    let mut h = blake3::Hasher::new();
    h.update(METHOD.as_bytes());
    h.update(serde_json::to_string(opts).unwrap_or_default().as_bytes());
    for f in files {
        h.update(f.path.as_bytes());
        h.update(b"\0");
        h.update(f.blake3.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

/// Build `out/{train,val,test}/<label>/…` and `out/dataset.json` from `input/<label>/…`. `progress` is called
/// with (done, total) while files are hashed. The output is built beside `out` and swapped in at the end, so an
/// interrupted run leaves the previous dataset (or nothing) in place, never a half-written one.
pub fn prepare(
    input: &Path,
    out: &Path,
    opts: &PrepareOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, DatasetError> {
    opts.validate()?;
    let inputs = scan(input)?;
    let total = inputs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let hashed: Vec<Hashed> = inputs
        .par_iter()
        .map(|inp| {
            let r = hash_file(inp, &opts.load);
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, total);
            r
        })
        .collect::<Result<_, _>>()?;

    let mut files: Vec<FileRecord> = inputs
        .iter()
        .zip(&hashed)
        .map(|(inp, h)| {
            let (phash, width, height, fate, reason, detail) = match &h.image {
                Ok((p, _, w, hh)) => (Some(format!("{p:016x}")), Some(*w), Some(*hh), Fate::Train, None, None),
                Err(e) => (None, None, None, Fate::Removed, Some("unreadable".to_string()), Some(e.clone())),
            };
            FileRecord {
                path: inp.rel.clone(),
                label: inp.label.clone(),
                bytes: h.bytes,
                blake3: h.blake3.clone(),
                phash,
                width,
                height,
                fate,
                reason,
                detail,
                duplicate_of: None,
                group: None,
                output: None,
            }
        })
        .collect();
    let fp = fingerprint(&files, opts);

    // Up to date?
    if let Some(existing) = read_manifest(out)
        && existing.fingerprint == fp
        && existing.files.iter().filter_map(|f| f.output.as_ref()).all(|o| out.join(o).is_file())
    {
        return Ok(Report { manifest: existing, up_to_date: true });
    }

    // 1. Exact duplicates (same BLAKE3).
    let mut by_hash: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        by_hash.entry(f.blake3.as_str()).or_default().push(i);
    }
    let mut exact_groups: Vec<Vec<usize>> = by_hash.into_values().filter(|g| g.len() > 1).collect();
    exact_groups.sort();
    for g in exact_groups {
        let labels: std::collections::BTreeSet<&str> = g.iter().map(|&i| files[i].label.as_str()).collect();
        if labels.len() > 1 {
            let names = labels.iter().copied().collect::<Vec<_>>().join(", ");
            let paths: Vec<String> = g.iter().map(|&i| files[i].path.clone()).collect();
            for &i in &g {
                let others: Vec<&str> = paths.iter().filter(|p| **p != files[i].path).map(String::as_str).collect();
                files[i].fate = Fate::Removed;
                files[i].reason = Some("conflicting_labels".into());
                files[i].detail = Some(format!("the same bytes are labelled {names}: {}", others.join(", ")));
            }
        } else {
            let keep = files[g[0]].path.clone();
            for &i in &g[1..] {
                if files[i].fate != Fate::Removed {
                    files[i].fate = Fate::Removed;
                    files[i].reason = Some("exact_duplicate".into());
                    files[i].duplicate_of = Some(keep.clone());
                }
            }
        }
    }

    // 2. Near duplicates among the remaining readable files (pHash, and pHash of the mirror image).
    let live: Vec<usize> = (0..files.len()).filter(|&i| files[i].fate != Fate::Removed).collect();
    let ph: Vec<u64> = live.iter().map(|&i| hashed[i].image.as_ref().map(|x| x.0).unwrap_or_default()).collect();
    let index = mih::MultiIndex::new(&ph);
    let mut edges: Vec<(usize, usize, u32, bool)> =
        index.pairs_within(opts.phash_distance).into_iter().map(|(a, b, d)| (a, b, d, false)).collect();
    if opts.mirror {
        let mut seen = vec![u32::MAX; ph.len()];
        let mut found = Vec::new();
        for (a, &i) in live.iter().enumerate() {
            let m = hashed[i].image.as_ref().map(|x| x.1).unwrap_or_default();
            found.clear();
            index.find_within(m, opts.phash_distance, a as u32, &mut seen, &mut found);
            for &(b, d) in &found {
                // A symmetric image matches its own mirror; direct matches are already edges.
                if b != a && mih::hamming(ph[a], ph[b]) > opts.phash_distance && a < b {
                    edges.push((a, b, d, true));
                }
            }
        }
    }
    edges.sort_unstable();
    let mut dsu = Dsu::new(live.len());
    for &(a, b, _, _) in &edges {
        dsu.union(a, b);
    }
    let near_duplicates: Vec<NearDuplicate> = edges
        .iter()
        .map(|&(a, b, d, m)| NearDuplicate {
            a: files[live[a]].path.clone(),
            b: files[live[b]].path.clone(),
            distance: d,
            mirrored: m,
        })
        .collect();

    // 3. Groups spanning labels are labelling errors: removed whole.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for a in 0..live.len() {
        groups.entry(dsu.find(a)).or_default().push(a);
    }
    for (gid, members) in groups.values().enumerate() {
        let labels: std::collections::BTreeSet<&str> = members.iter().map(|&a| files[live[a]].label.as_str()).collect();
        let multi = labels.len() > 1;
        let names = labels.iter().copied().collect::<Vec<_>>().join(", ");
        for &a in members {
            let f = &mut files[live[a]];
            if members.len() > 1 {
                f.group = Some(gid);
            }
            if multi {
                f.fate = Fate::Removed;
                f.reason = Some("conflicting_labels".into());
                f.detail = Some(format!("near-duplicate images are labelled {names}"));
            }
        }
    }

    // 4. Per label: skip small labels, split groups (kept whole) by the seeded assignment.
    let mut per_label: BTreeMap<String, Vec<Vec<usize>>> = BTreeMap::new();
    for members in groups.values() {
        let kept: Vec<usize> = members.iter().map(|&a| live[a]).filter(|&i| files[i].fate != Fate::Removed).collect();
        if let Some(&first) = kept.first() {
            per_label.entry(files[first].label.clone()).or_default().push(kept);
        }
    }
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(opts.seed);
    let mut labels: BTreeMap<String, LabelCounts> = BTreeMap::new();
    for f in &files {
        labels.entry(f.label.clone()).or_default();
    }
    for (label, mut clusters) in per_label {
        clusters.sort();
        let n: usize = clusters.iter().map(Vec::len).sum();
        if n < opts.min_per_label {
            for c in &clusters {
                for &i in c {
                    files[i].fate = Fate::Removed;
                    files[i].reason = Some("label_too_small".into());
                    files[i].detail = Some(format!(
                        "label '{label}' has {n} usable images, fewer than min_per_label = {}",
                        opts.min_per_label
                    ));
                }
            }
            labels.entry(label).or_default().skipped = true;
            continue;
        }
        let sizes: Vec<usize> = clusters.iter().map(Vec::len).collect();
        let assignment = split::assign(&sizes, opts.split, &mut rng);
        for (c, s) in clusters.iter().zip(assignment) {
            for &i in c {
                files[i].fate = s.fate();
            }
        }
    }

    // 5. Counts, outputs.
    let mut removed_by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for f in &mut files {
        let counts = labels.entry(f.label.clone()).or_default();
        match f.fate {
            Fate::Train => counts.train += 1,
            Fate::Val => counts.val += 1,
            Fate::Test => counts.test += 1,
            Fate::Removed => {
                counts.removed += 1;
                *removed_by_reason.entry(f.reason.clone().unwrap_or_default()).or_default() += 1;
            }
        }
        if let Some(s) = Split::from_fate(f.fate) {
            f.output = Some(format!("{}/{}", s.name(), f.path));
        }
    }
    let manifest = Manifest {
        version: 1,
        method: METHOD.to_string(),
        fingerprint: fp,
        options: opts.clone(),
        labels,
        removed_by_reason,
        files,
        near_duplicates,
    };
    write_output(input, out, &manifest, opts.materialize)?;
    Ok(Report { manifest, up_to_date: false })
}

/// Read `out/dataset.json` if it is one of ours.
pub fn read_manifest(out: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_output(input: &Path, out: &Path, manifest: &Manifest, how: Materialize) -> Result<(), DatasetError> {
    let existing = out.exists();
    if existing {
        let empty = std::fs::read_dir(out).map_err(io_err(out))?.next().is_none();
        if !empty && !out.join(MANIFEST).is_file() {
            return Err(DatasetError::OutputNotOurs(out.to_path_buf()));
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    let staging =
        tempfile::Builder::new().prefix(&format!(".{name}.staging.")).tempdir_in(&parent).map_err(io_err(&parent))?;
    manifest.files.par_iter().filter_map(|f| f.output.as_ref().map(|o| (f, o))).try_for_each(|(f, o)| {
        let src = input.join(&f.path);
        let dst = staging.path().join(o);
        if let Some(d) = dst.parent() {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
        }
        let linked = how == Materialize::Link && std::fs::hard_link(&src, &dst).is_ok();
        if !linked {
            std::fs::copy(&src, &dst).map_err(io_err(&src))?;
        }
        Ok::<(), DatasetError>(())
    })?;
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| DatasetError::Io { path: out.join(MANIFEST), source: std::io::Error::other(e) })?;
    issc_core::write_atomic(&staging.path().join(MANIFEST), &json).map_err(io_err(&out.join(MANIFEST)))?;

    // Swap in: the old dataset is moved aside first and removed only after the new one is in place.
    let staged = staging.keep();
    if existing {
        let old = parent.join(format!(".{name}.old.{}", std::process::id()));
        std::fs::rename(out, &old).map_err(io_err(out))?;
        if let Err(e) = std::fs::rename(&staged, out) {
            let _ = std::fs::rename(&old, out);
            return Err(DatasetError::Io { path: out.to_path_buf(), source: e });
        }
        std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
    } else {
        std::fs::rename(&staged, out).map_err(io_err(out))?;
    }
    Ok(())
}
