//! The crop stage: every face of every photo in a folder, as aligned (or margin) PNG crops plus `crops.jsonl`.
//!
//! Restartable: each photo's crops are written atomically, then its manifest lines are appended; a re-run reads
//! `crops.jsonl` and skips photos whose entries (and crop files) are present for the same settings. At the end the
//! manifest is rewritten (atomically) sorted, one entry per face or per failed/faceless photo.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use image::ImageEncoder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, PipelineError, Result, bail};
use crate::{DetectorSettings, Progress, Runtime};

pub use issc_dataset::crops::{CropEntry, CropStatus, MANIFEST, read_manifest};

/// Crop styles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    /// 5-point similarity alignment to the ArcFace template (what SFace expects).
    #[default]
    Aligned,
    /// Box enlarged by the margin, squared and resized (no rotation).
    Margin,
}

impl CropMode {
    /// The name in settings and in `crops.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            CropMode::Aligned => "aligned",
            CropMode::Margin => "margin",
        }
    }
}

/// How faces are cut out.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CropOptions {
    /// Crop style.
    pub mode: CropMode,
    /// Side of the square crops in pixels (16..=2048).
    pub size: u32,
    /// For [`CropMode::Margin`]: how much the box grows on each side, as a fraction of its size (0..=2).
    pub margin: f32,
    /// Faces smaller than this many pixels (short side of the box) are skipped.
    pub min_face: f32,
    /// The detector and its thresholds.
    pub detector: DetectorSettings,
}

impl Default for CropOptions {
    fn default() -> Self {
        Self { mode: CropMode::Aligned, size: 112, margin: 0.2, min_face: 32.0, detector: DetectorSettings::default() }
    }
}

impl CropOptions {
    /// Check every value (errors name the setting).
    pub fn validate(&self) -> Result<()> {
        if !(16..=2048).contains(&self.size) {
            return Err(PipelineError::Config(format!("crop size {} is out of range (16..=2048)", self.size)));
        }
        if !(0.0..=2.0).contains(&self.margin) {
            return Err(PipelineError::Config(format!("crop margin {} is out of range (0..=2)", self.margin)));
        }
        if !self.min_face.is_finite() || self.min_face < 0.0 {
            return Err(PipelineError::Config(format!("min_face {} must be a number >= 0", self.min_face)));
        }
        self.detector.validate()
    }
}

struct Job {
    path: PathBuf,
    source: String,
    label: Option<String>,
    stem: String,
}

/// Manifests and notes that live beside photos (`raw/manifest.jsonl`, `labels.csv`, ...): not photos, not errors.
fn is_metadata(p: &Path) -> bool {
    const EXT: [&str; 10] = ["json", "jsonl", "csv", "tsv", "txt", "md", "log", "toml", "yaml", "yml"];
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXT.contains(&e.to_ascii_lowercase().as_str()))
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// `<in>/<label>/*` and `<in>/*`, sorted; hidden files and deeper folders are ignored.
fn collect_jobs(input: &Path, out: &Path) -> Result<Vec<Job>> {
    if !input.is_dir() {
        bail!("{}: not a folder; give a folder of photos (or of label folders of photos)", input.display());
    }
    let out_abs = std::fs::canonicalize(out).ok();
    let mut jobs = Vec::new();
    let walker =
        walkdir::WalkDir::new(input).min_depth(1).max_depth(2).sort_by_file_name().into_iter().filter_entry(|e| {
            // Never descend into hidden folders or into --out when it lies inside --in.
            let is_out = e.file_type().is_dir()
                && out_abs.is_some()
                && std::fs::canonicalize(e.path()).ok().as_ref() == out_abs.as_ref();
            !is_hidden(e.path()) && !is_out
        });
    for entry in walker {
        let entry = entry.ctx(|| format!("cannot list {}", input.display()))?;
        let path = entry.path();
        // Folders are walked; everything else is a job, so that a dangling link, a FIFO or a device gets an
        // `error` entry saying what it is instead of being skipped without a word.
        if entry.file_type().is_dir() || is_metadata(path) {
            continue;
        }
        if entry.path_is_symlink() && std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            tracing::warn!("{}: a link to a folder; not followed (copy or move the photos instead)", path.display());
            continue;
        }
        let label = if entry.depth() == 2 {
            path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned())
        } else {
            None
        };
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        jobs.push(Job { path: path.to_path_buf(), source: path.display().to_string(), label, stem });
    }
    // Two photos with the same stem in one label (a.jpg, a.png) would overwrite each other's crops.
    let mut count: HashMap<(Option<String>, String), usize> = HashMap::new();
    for j in &jobs {
        *count.entry((j.label.clone(), j.stem.clone())).or_default() += 1;
    }
    for j in &mut jobs {
        if count[&(j.label.clone(), j.stem.clone())] > 1 {
            let ext = j.path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            j.stem = format!("{}_{ext}", j.stem);
        }
    }
    Ok(jobs)
}

/// A crop as PNG bytes.
pub fn encode_png(img: &image::RgbImage) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::png::PngEncoder::new(&mut buf)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .ctx(|| "cannot encode a crop as PNG")?;
    Ok(buf)
}

/// What one crop run did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct CropSummary {
    /// Photos found in the input folder.
    pub photos: usize,
    /// Photos processed in this run.
    pub processed: usize,
    /// Photos already done by an earlier run (same settings, crops present).
    pub skipped: usize,
    /// Face crops written in this run.
    pub faces: usize,
    /// Photos of this run without a face.
    pub no_face: usize,
    /// Photos of this run that could not be read.
    pub failed: usize,
    /// `failed` by reason.
    pub failed_by_reason: BTreeMap<String, usize>,
}

impl std::fmt::Display for CropSummary {
    /// The counts in a line, then one line per reason photos could not be read.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} photos: {} processed, {} already done; {} face crops, {} without a face, {} unreadable",
            self.photos, self.processed, self.skipped, self.faces, self.no_face, self.failed
        )?;
        for (reason, n) in &self.failed_by_reason {
            writeln!(f, "  unreadable ({reason}): {n}")?;
        }
        Ok(())
    }
}

/// Remove what [`issc_core::write_atomic`] leaves when `crop` is killed mid-write in `out` and its label folders:
/// exactly `.<crop>.png.<6 random>.tmp` and `.crops.jsonl.<6 random>.tmp`, nothing else (other programs' files in
/// the same folder are left alone). Returns how many were removed.
fn remove_partial_writes(out: &Path) -> usize {
    let mut removed = 0;
    let mut dirs = vec![out.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(out) {
        dirs.extend(rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
    }
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let partial = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".tmp"))
                .and_then(|n| n.rsplit_once('.'))
                .is_some_and(|(target, random)| {
                    random.len() == 6
                        && random.bytes().all(|b| b.is_ascii_alphanumeric())
                        && (target.ends_with(".png") || target == MANIFEST)
                });
            if partial && e.file_type().is_ok_and(|t| t.is_file()) && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Photos under `input` whose crops are already in `out` with these settings: `(photos, still to do)`. Reads
/// only; what [`crop`] would skip.
pub fn pending(input: &Path, out: &Path, opts: &CropOptions) -> Result<(usize, usize)> {
    let jobs = collect_jobs(input, out)?;
    let done = done_sources(out, &out.join(MANIFEST), opts.mode.name(), opts.size)?.1;
    Ok((jobs.len(), jobs.iter().filter(|j| !done.contains(&j.source)).count()))
}

/// `crops.jsonl`'s entries, by photo.
type EntriesBySource = BTreeMap<String, Vec<CropEntry>>;

/// The manifest's entries per source, and the sources done with these settings (no error, crop files present).
fn done_sources(out: &Path, manifest_path: &Path, mode: &str, size: u32) -> Result<(EntriesBySource, HashSet<String>)> {
    let mut previous: BTreeMap<String, Vec<CropEntry>> = BTreeMap::new();
    for e in read_manifest(manifest_path).ctx(|| format!("cannot read {}", manifest_path.display()))? {
        previous.entry(e.source.clone()).or_default().push(e);
    }
    let done: HashSet<String> = previous
        .iter()
        .filter(|(_, es)| {
            es.iter().all(|e| e.mode == mode && e.size == size && e.status != CropStatus::Error)
                && es.iter().all(|e| e.crop.as_ref().is_none_or(|c| out.join(c).is_file()))
        })
        .map(|(s, _)| s.clone())
        .collect();
    Ok((previous, done))
}

/// Crop every photo of `input` (`<input>/<label>/<photo>` and `<input>/<photo>`) not done yet into `out`:
/// `<out>/<label>/<photo-stem>_<n>.png` and `<out>/crops.jsonl`. Restartable; settings are checked and the models
/// loaded before anything is written.
pub fn crop(
    runtime: &Runtime,
    input: &Path,
    out: &Path,
    opts: &CropOptions,
    progress: &dyn Progress,
) -> Result<CropSummary> {
    opts.validate()?;
    let jobs = collect_jobs(input, out)?;
    let pipeline = runtime.pipeline(&opts.detector, opts.min_face, false)?;
    std::fs::create_dir_all(out).ctx(|| format!("cannot create the crop folder {}", out.display()))?;
    // Temporary files of a run killed mid-write.
    let removed = remove_partial_writes(out);
    if removed > 0 {
        tracing::info!("removed {removed} partly written file(s) left by an interrupted run in {}", out.display());
    }
    let manifest_path = out.join(MANIFEST);
    let cropper = Cropper { pipeline: &pipeline, load: runtime.load(), opts, out, mode: opts.mode.name().to_string() };

    // What is already done (latest entries per source, same settings, crop files present).
    let (previous, done) = done_sources(out, &manifest_path, &cropper.mode, opts.size)?;
    let todo: Vec<&Job> = jobs.iter().filter(|j| !done.contains(&j.source)).collect();

    let bar = progress.task("cropping", "photos", todo.len() as u64);
    let appender = Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&manifest_path)
            .ctx(|| format!("cannot write {}", manifest_path.display()))?,
    );
    let fresh: Mutex<BTreeMap<String, Vec<CropEntry>>> = Mutex::new(BTreeMap::new());
    let results: Vec<Result<()>> = todo
        .par_iter()
        .map(|job| {
            let entries = cropper.photo(job)?;
            let mut text = String::new();
            for e in &entries {
                text.push_str(&serde_json::to_string(e).ctx(|| "cannot encode a crops.jsonl line")?);
                text.push('\n');
            }
            {
                let mut f = appender.lock().unwrap_or_else(|p| p.into_inner());
                f.write_all(text.as_bytes()).ctx(|| format!("cannot write {}", manifest_path.display()))?;
            }
            fresh.lock().unwrap_or_else(|p| p.into_inner()).insert(job.source.clone(), entries);
            bar.inc();
            Ok(())
        })
        .collect();
    drop(bar);
    for r in results {
        r?; // an output write failure stops the run (after the others finished cleanly)
    }

    // Compact: previous entries for untouched sources, fresh ones for the rest; sorted; atomic.
    let fresh = fresh.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut all = previous;
    for (k, v) in &fresh {
        all.insert(k.clone(), v.clone());
    }
    issc_core::write_atomic_with(&manifest_path, |w| {
        for e in all.values().flatten() {
            serde_json::to_writer(&mut *w, e)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .ctx(|| format!("cannot write {}", manifest_path.display()))?;
    Ok(summarize(jobs.len(), todo.len(), &fresh))
}

/// This run's counts from its fresh entries.
fn summarize(photos: usize, processed: usize, fresh: &BTreeMap<String, Vec<CropEntry>>) -> CropSummary {
    let (mut faces, mut no_face) = (0usize, 0usize);
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    for e in fresh.values().flatten() {
        match e.status {
            CropStatus::Ok => faces += 1,
            CropStatus::NoFace => no_face += 1,
            CropStatus::Error => *failed.entry(e.reason.clone().unwrap_or_default()).or_default() += 1,
        }
    }
    CropSummary {
        photos,
        processed,
        skipped: photos - processed,
        faces,
        no_face,
        failed: failed.values().sum(),
        failed_by_reason: failed,
    }
}

/// Crops the faces of one photo at a time with fixed settings.
struct Cropper<'a> {
    pipeline: &'a issc_detect::FacePipeline,
    load: &'a issc_core::LoadOptions,
    opts: &'a CropOptions,
    out: &'a Path,
    mode: String,
}

impl Cropper<'_> {
    /// An entry for `job` with `status` and nothing else known.
    fn base(&self, job: &Job, status: CropStatus) -> CropEntry {
        CropEntry {
            v: issc_dataset::crops::FORMAT,
            source: job.source.clone(),
            label: job.label.clone(),
            status,
            face_index: None,
            bbox: None,
            landmarks: None,
            score: None,
            crop: None,
            mode: self.mode.clone(),
            size: self.opts.size,
            reason: None,
            error: None,
            width: None,
            height: None,
        }
    }

    /// A photo that could not be cropped: one `error` entry with the reason kind and the message.
    fn failed(&self, job: &Job, reason: &str, error: String) -> Result<Vec<CropEntry>> {
        Ok(vec![CropEntry { reason: Some(reason.into()), error: Some(error), ..self.base(job, CropStatus::Error) }])
    }

    /// Every face of `job`'s photo written as a crop, and the photo's manifest entries; a photo that cannot be read
    /// is an `error` entry, and only a failure to write the output is an `Err`.
    fn photo(&self, job: &Job) -> Result<Vec<CropEntry>> {
        let photo = match self.pipeline.load(&job.path, self.load) {
            Ok(photo) => photo,
            Err(issc_core::ImageError::Io { source, .. })
                if std::fs::symlink_metadata(&job.path).is_ok_and(|m| m.is_symlink()) =>
            {
                let target = std::fs::read_link(&job.path).map(|t| t.display().to_string()).unwrap_or_default();
                let why = format!("{}: a symbolic link to {target}, which cannot be read ({source})", job.source);
                return self.failed(job, "dangling_link", why);
            }
            Err(e) => return self.failed(job, e.kind(), e.to_string()),
        };
        let (w, h) = photo.full_size();
        let faces = match self.pipeline.detect_photo(&photo) {
            Ok(f) => f,
            Err(e) => return self.failed(job, "detect", format!("{}: {e}", job.source)),
        };
        let dir_rel = job.label.as_deref().map(PathBuf::from).unwrap_or_default();
        let mut entries = Vec::new();
        for (n, face) in faces.iter().enumerate() {
            let crop = match self.opts.mode {
                CropMode::Aligned => match issc_detect::align_from_photo(&photo, &face.landmarks, self.opts.size) {
                    Ok((Some(c), _)) => c,
                    Ok((None, _)) => continue,
                    Err(e) => return self.failed(job, "decode", format!("{}: {e}", job.source)),
                },
                CropMode::Margin => match photo.full() {
                    Ok(full) => issc_detect::margin_crop(full, &face.bbox, self.opts.margin, self.opts.size),
                    Err(e) => return self.failed(job, e.kind(), e.to_string()),
                },
            };
            let rel = dir_rel.join(format!("{}_{n}.png", job.stem));
            let png = encode_png(&crop)?;
            let path = self.out.join(&rel);
            issc_core::write_atomic(&path, &png).ctx(|| format!("cannot write {}", path.display()))?;
            entries.push(CropEntry {
                face_index: Some(n),
                bbox: Some(face.bbox.into()),
                landmarks: Some(face.landmarks.0),
                score: Some(face.score),
                crop: Some(rel.to_string_lossy().replace('\\', "/")),
                width: Some(w),
                height: Some(h),
                ..self.base(job, CropStatus::Ok)
            });
        }
        if entries.is_empty() {
            entries.push(CropEntry { width: Some(w), height: Some(h), ..self.base(job, CropStatus::NoFace) });
        }
        Ok(entries)
    }
}
