//! `pipeline.toml`: what [`run`](crate::run) builds, read and checked before anything is written.
//!
//! Every table refuses unknown keys; paths are relative to the config file; every error names the file, the key
//! (or the `[[person]]`) and what to do. The sections are the stages' own settings types ([`FetchSettings`],
//! [`CropSection`], [`PrepareSection`], [`TrainSettings`]), checked by the stages' own `validate()`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use issc_detect::DetectorKind;
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, PipelineError, Result};
use crate::fetch::{FetchSettings, PhotoSource, SearchProvider};
use crate::train::TrainSettings;
use crate::{CropOptions, DetectorSettings, show};

/// Which faces of a photo are kept for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FacesPolicy {
    /// The largest face (box area) of each photo: in a photo labelled with a person, the person is almost always
    /// the largest face; bystanders are left out.
    #[default]
    Largest,
    /// The face with the highest detector score (`face_index` 0 in crops.jsonl).
    Best,
    /// Every face: only for photos known to show the person alone.
    All,
}

impl FacesPolicy {
    /// `largest`, `best` or `all`.
    pub fn name(self) -> &'static str {
        match self {
            FacesPolicy::Largest => "largest",
            FacesPolicy::Best => "best",
            FacesPolicy::All => "all",
        }
    }

    /// For messages: "the largest face of each photo".
    pub fn describe(self) -> &'static str {
        match self {
            FacesPolicy::Largest => "the largest face of each photo",
            FacesPolicy::Best => "the best-scoring face of each photo",
            FacesPolicy::All => "every face",
        }
    }
}

/// `[crop]`: face detection and which faces are kept (crops are always aligned 112×112, what SFace takes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CropSection {
    /// Which faces of each photo go into the dataset.
    pub faces: FacesPolicy,
    /// Face detector (`yunet` or `retinaface`; the pipeline runs offline).
    pub detector: DetectorKind,
    /// Minimum detection score, 0..1.
    pub score: f32,
    /// NMS IoU threshold, 0..1.
    pub nms: f32,
    /// Long side photos are shrunk to before detection.
    pub max_side: u32,
    /// Faces smaller than this many pixels (short side of the box) are skipped.
    pub min_face: f32,
}

impl Default for CropSection {
    fn default() -> Self {
        let d = DetectorSettings::default();
        Self {
            faces: FacesPolicy::default(),
            detector: d.detector,
            score: d.score,
            nms: d.nms,
            max_side: d.max_side,
            min_face: CropOptions::default().min_face,
        }
    }
}

impl CropSection {
    /// The detector settings.
    pub fn detector_settings(&self) -> DetectorSettings {
        DetectorSettings { detector: self.detector, score: self.score, nms: self.nms, max_side: self.max_side }
    }

    /// The crop stage's options: aligned crops of SFace's size.
    pub fn crop_options(&self) -> CropOptions {
        CropOptions { min_face: self.min_face, detector: self.detector_settings(), ..CropOptions::default() }
    }
}

/// `[prepare]`: deduplication and the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PrepareSection {
    /// Fractions for train, val, test.
    pub split: [f64; 3],
    /// Seed of the split.
    pub seed: u64,
    /// Largest pHash distance for near duplicates.
    pub phash_distance: u32,
    /// People with fewer usable faces are left out.
    pub min_per_label: usize,
    /// Also compare mirror images.
    pub mirror: bool,
}

impl Default for PrepareSection {
    fn default() -> Self {
        let d = issc_dataset::PrepareOptions::default();
        Self {
            split: d.split,
            seed: d.seed,
            phash_distance: d.phash_distance,
            min_per_label: d.min_per_label,
            mirror: d.mirror,
        }
    }
}

impl PrepareSection {
    /// The dataset stage's options (copies, these image limits).
    pub fn options(&self, load: issc_core::LoadOptions) -> issc_dataset::PrepareOptions {
        issc_dataset::PrepareOptions {
            split: self.split,
            seed: self.seed,
            phash_distance: self.phash_distance,
            mirror: self.mirror,
            min_per_label: self.min_per_label,
            materialize: issc_dataset::Materialize::Copy,
            load,
        }
    }
}

/// One `[[person]]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonToml {
    label: Option<String>,
    dir: Option<PathBuf>,
    urls: Option<PathBuf>,
    query: Option<String>,
    provider: Option<SearchProvider>,
    category: Option<String>,
    max: Option<usize>,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    work: Option<PathBuf>,
    strangers: Option<PathBuf>,
    #[serde(default)]
    fetch: FetchSettings,
    #[serde(default)]
    crop: CropSection,
    #[serde(default)]
    prepare: PrepareSection,
    #[serde(default)]
    train: TrainSettings,
    #[serde(default)]
    person: Vec<PersonToml>,
}

/// One person, checked.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Person {
    /// Folder name and class label.
    pub label: String,
    /// Where the photos come from.
    pub source: PhotoSource,
    /// Photos stored at most.
    pub max: usize,
}

/// A checked `pipeline.toml`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// The file (absolute).
    pub path: PathBuf,
    /// Work folder (absolute).
    pub work: PathBuf,
    /// Photos of people not in the training set, labelled with the exported model for the report.
    pub strangers: Option<PathBuf>,
    /// `[fetch]`.
    pub fetch: FetchSettings,
    /// `[crop]`.
    pub crop: CropSection,
    /// `[prepare]`.
    pub prepare: PrepareSection,
    /// `[train]`.
    pub train: TrainSettings,
    /// The `[[person]]`s, in file order.
    pub people: Vec<Person>,
}

/// `p` relative to the config file's folder, made absolute (not required to exist).
fn resolve(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    normalize(&joined)
}

/// Drop `.` and resolve `..` lexically.
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

impl PipelineConfig {
    /// Read and check `path`. `work_override` (relative to the current folder) replaces the file's `work`.
    pub fn load(path: &Path, work_override: Option<&Path>) -> Result<Self> {
        let file = show(path);
        // Only a regular file, at most 1 MiB: a FIFO or a device given by mistake is refused at once, not waited on.
        let text = issc_core::read_text_capped(path, 1 << 20)
            .ctx(|| format!("{file}: cannot read it (give the path of a pipeline.toml)"))?;
        let raw: ConfigToml = toml::from_str(&text).map_err(|e| {
            PipelineError::Config(format!(
                "{file}: {}\n(see `issc run --help` for the keys of each table, or examples/pipeline.toml)",
                e.to_string().trim_end()
            ))
        })?;
        let abs = std::path::absolute(path).ctx(|| format!("{file}: cannot resolve its path"))?;
        let abs = abs.canonicalize().unwrap_or_else(|_| normalize(&abs));
        let base = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let err = |key: &str, what: String| PipelineError::Config(format!("{file}: {key}: {what}"));

        let work = match (work_override, &raw.work) {
            (Some(w), _) => normalize(&std::path::absolute(w).ctx(|| format!("work folder {}", w.display()))?),
            (None, Some(w)) => resolve(&base, w),
            (None, None) => {
                return Err(err(
                    "work",
                    "missing: say where the pipeline writes, e.g. work = \"work/my-people\" (relative to this \
                     file), or give the work folder on the command line"
                        .into(),
                ));
            }
        };
        if work.is_file() {
            return Err(err("work", format!("{} is a file; give a folder", show(&work))));
        }
        let fetch = check_sections(&raw, &base, &err)?;
        let people = people(&raw, &base, &err)?;
        let strangers = match &raw.strangers {
            Some(s) => {
                let p = resolve(&base, s);
                if !p.is_dir() {
                    return Err(err(
                        "strangers",
                        format!(
                            "{} is not a folder (photos of people not listed; relative to the config file)",
                            show(&p)
                        ),
                    ));
                }
                Some(p)
            }
            None => None,
        };
        for person in &people {
            if let PhotoSource::Dir { from: d } = &person.source
                && work.starts_with(d)
            {
                return Err(err(
                    "work",
                    format!(
                        "{} lies inside the photo folder of {}; choose another work folder",
                        show(&work),
                        person.label
                    ),
                ));
            }
        }
        Ok(Self { path: abs, work, strangers, fetch, crop: raw.crop, prepare: raw.prepare, train: raw.train, people })
    }
}

type ErrFn<'a> = dyn Fn(&str, String) -> PipelineError + 'a;

/// `[fetch]`, `[crop]`, `[prepare]`, `[train]`, each by its stage's own check; returns `[fetch]` with the
/// blacklist resolved.
fn check_sections(raw: &ConfigToml, base: &Path, err: &ErrFn<'_>) -> Result<FetchSettings> {
    let lib = |section: &str, e: PipelineError| err(section, e.to_string());
    let mut fetch = raw.fetch.clone();
    if fetch.max == 0 {
        return Err(err("[fetch] max", "must be at least 1".into()));
    }
    fetch.validate().map_err(|e| lib("[fetch]", e))?;
    if let Some(b) = &raw.fetch.blacklist {
        let p = resolve(base, b);
        if !p.is_file() {
            return Err(err(
                "[fetch] blacklist",
                format!(
                    "{} does not exist; create it (one domain or URL pattern per line) or remove the key",
                    show(&p)
                ),
            ));
        }
        fetch.blacklist = Some(p);
    }
    if raw.crop.detector == DetectorKind::Azure {
        return Err(err("[crop] detector", "azure is not available in a pipeline; use yunet or retinaface".into()));
    }
    raw.crop.crop_options().validate().map_err(|e| lib("[crop]", e))?;
    let p = &raw.prepare;
    p.options(issc_core::LoadOptions::default()).validate().map_err(|e| err("[prepare]", e.to_string()))?;
    if p.split[1] <= 0.0 {
        return Err(err(
            "[prepare] split",
            format!("{:?} has no validation share; training needs one (e.g. [0.6, 0.2, 0.2])", p.split),
        ));
    }
    raw.train.options().validate().map_err(|e| err("[train]", e.to_string()))?;
    if let Some(n) = &raw.train.name
        && issc_downloader::validate_label(n).is_err()
    {
        return Err(err("[train] name", format!("{n:?} is not a usable folder name (letters, digits, '-', '_')")));
    }
    Ok(fetch)
}

/// The `[[person]]`s, checked: one source each, labels usable and distinct, at least two people.
fn people(raw: &ConfigToml, base: &Path, err: &ErrFn<'_>) -> Result<Vec<Person>> {
    if raw.person.is_empty() {
        return Err(err(
            "[[person]]",
            "none: list at least two people, each with label and one of dir, urls or query, e.g.\n  [[person]]\n  \
             label = \"Ada_Lovelace\"\n  dir = \"people/Ada_Lovelace\""
                .into(),
        ));
    }
    let mut people = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, pt) in raw.person.iter().enumerate() {
        let n = i + 1;
        let name = match &pt.label {
            Some(l) => format!("[[person]] #{n} (label = {l:?})"),
            None => format!("[[person]] #{n}"),
        };
        let source = person_source(pt, base, &name, raw.fetch.provider, err)?;
        let label = match (&pt.label, &source) {
            (Some(l), _) => l.clone(),
            (None, PhotoSource::Query { from: q, .. }) => issc_downloader::slug(q),
            (None, PhotoSource::Dir { from: d }) => {
                d.file_name().map(|x| issc_downloader::slug(&x.to_string_lossy())).unwrap_or_default()
            }
            (None, PhotoSource::Urls { .. }) => {
                return Err(err(&name, "needs a label (the person's name, used as folder name and class)".into()));
            }
        };
        if let Err(e) = issc_downloader::validate_label(&label) {
            return Err(err(&format!("{name}, label"), e.to_string()));
        }
        if label.eq_ignore_ascii_case(issc_predict::UNKNOWN) {
            return Err(err(
                &format!("{name}, label"),
                "\"unknown\" is what predict answers for strangers; rename".into(),
            ));
        }
        if let Some(prev) = seen.insert(label.to_lowercase(), n) {
            return Err(err(
                &format!("{name}, label"),
                format!("{label:?} is also the label of [[person]] #{prev}; labels must differ (case too is ignored)"),
            ));
        }
        let max = pt.max.unwrap_or(raw.fetch.max);
        if max == 0 {
            return Err(err(&format!("{name}, max"), "must be at least 1".into()));
        }
        people.push(Person { label, source, max });
    }
    if people.len() < 2 {
        return Err(err(
            "[[person]]",
            format!("only {} person; a classifier needs at least two: add another [[person]]", people.len()),
        ));
    }
    Ok(people)
}

/// A person's one source of photos, resolved against the config file's folder.
fn person_source(
    pt: &PersonToml,
    base: &Path,
    name: &str,
    fetch_provider: SearchProvider,
    err: &ErrFn<'_>,
) -> Result<PhotoSource> {
    let sources = [pt.dir.is_some(), pt.urls.is_some(), pt.query.is_some()].iter().filter(|x| **x).count();
    if sources != 1 {
        return Err(err(
            name,
            format!(
                "has {} photo sources; give exactly one of dir = \"folder\", urls = \"file\" or query = \"Name\" \
             (with provider = \"commons\", \"bing\" or \"serpapi\")",
                if sources == 0 { "no" } else { "several" }
            ),
        ));
    }
    if pt.query.is_none() && (pt.provider.is_some() || pt.category.is_some()) {
        return Err(err(
            name,
            "provider and category go with query = \"Name\" (a search), not with dir or urls".into(),
        ));
    }
    if let Some(d) = &pt.dir {
        let p = resolve(base, d);
        if !p.is_dir() {
            return Err(err(
                name,
                format!(
                    "dir = {:?}: {} is not a folder (paths are relative to the config file)",
                    d.display().to_string(),
                    show(&p)
                ),
            ));
        }
        return Ok(PhotoSource::Dir { from: p });
    }
    if let Some(u) = &pt.urls {
        let p = resolve(base, u);
        if !p.is_file() {
            return Err(err(
                &format!("{name}, urls"),
                format!(
                    "{} does not exist (a file of image URLs, one per line, relative to the config file)",
                    show(&p)
                ),
            ));
        }
        return Ok(PhotoSource::Urls { from: p });
    }
    let q = pt.query.clone().unwrap_or_default();
    if q.trim().is_empty() {
        return Err(err(&format!("{name}, query"), "is empty; give the person's name".into()));
    }
    let provider = pt.provider.unwrap_or(fetch_provider);
    if pt.category.is_some() && !matches!(provider, SearchProvider::Commons | SearchProvider::Auto) {
        return Err(err(&format!("{name}, category"), "only the commons provider searches by category".into()));
    }
    Ok(PhotoSource::Query { from: q.trim().to_string(), provider, category: pt.category.clone() })
}
