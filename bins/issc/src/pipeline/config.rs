//! `pipeline.toml`: what `issc run` builds, read and checked before anything is written.
//!
//! Every table refuses unknown keys; paths are relative to the config file; every error names the file, the key
//! (or the `[[person]]`) and what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

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
    pub fn name(self) -> &'static str {
        match self {
            FacesPolicy::Largest => "largest",
            FacesPolicy::Best => "best",
            FacesPolicy::All => "all",
        }
    }
}

/// `[crop] detector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorName {
    /// YuNet-n.
    #[default]
    Yunet,
    /// RetinaFace-MobileNet0.25.
    Retinaface,
}

/// `[train] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainMode {
    /// Softmax head on SFace embeddings (seconds).
    #[default]
    Head,
    /// SFace's last stages fine-tuned with the head (minutes).
    Finetune,
}

/// `[fetch]`: how photos are gathered (the flags of `issc fetch`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSection {
    /// Photos stored per person at most (a person's `max` overrides it).
    pub max: usize,
    /// Downloads at once.
    pub concurrency: usize,
    /// Downloads at once from one host.
    pub per_host: usize,
    /// Seconds for a whole request.
    pub timeout: f64,
    /// Seconds to connect.
    pub connect_timeout: f64,
    /// Largest accepted body in bytes.
    pub max_bytes: u64,
    /// Smallest accepted image side in pixels.
    pub min_side: u32,
    /// Retries per URL.
    pub retries: u32,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// Skip URLs that failed this many times in earlier runs.
    pub fail_limit: u32,
    /// File of blacklisted domains and URL patterns (relative to the config file).
    pub blacklist: Option<PathBuf>,
    /// SerpAPI endpoint [default: SERPAPI_URL from the environment, else SerpAPI's].
    pub serpapi_url: Option<String>,
}

impl Default for FetchSection {
    fn default() -> Self {
        Self {
            max: 100,
            concurrency: 8,
            per_host: 2,
            timeout: 30.0,
            connect_timeout: 10.0,
            max_bytes: 20 * 1024 * 1024,
            min_side: 64,
            retries: 2,
            max_redirects: 5,
            fail_limit: 3,
            blacklist: None,
            serpapi_url: None,
        }
    }
}

/// `[crop]`: face detection and which faces are kept (crops are always aligned 112×112, what SFace takes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CropSection {
    /// Which faces of each photo go into the dataset.
    pub faces: FacesPolicy,
    /// Face detector.
    pub detector: DetectorName,
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
        Self {
            faces: FacesPolicy::Largest,
            detector: DetectorName::Yunet,
            score: 0.6,
            nms: 0.3,
            max_side: 640,
            min_face: 32.0,
        }
    }
}

/// `[prepare]`: deduplication and the split (the flags of `issc prepare`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
        Self { split: [0.8, 0.1, 0.1], seed: 42, phash_distance: 6, min_per_label: 3, mirror: true }
    }
}

/// `[train]`: the flags of `issc train` (unset ones take `issc train`'s defaults for the mode).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Run folder name under `<work>/runs/` [default: the mode].
    pub name: Option<String>,
    /// What is trained.
    pub mode: TrainMode,
    /// Maximum epochs.
    pub epochs: Option<usize>,
    /// Early-stopping patience.
    pub patience: Option<usize>,
    /// Learning rate.
    pub lr: Option<f64>,
    /// AdamW weight decay.
    pub weight_decay: Option<f64>,
    /// Mini-batch size.
    pub batch: Option<usize>,
    /// Seed.
    pub seed: Option<u64>,
    /// Hidden units of an MLP head.
    pub hidden: Option<usize>,
    /// finetune: SFace stages trained.
    pub unfreeze: Option<usize>,
    /// finetune: backbone learning-rate factor.
    pub backbone_lr_scale: Option<f64>,
    /// finetune: augmentation.
    pub augment: Option<bool>,
}

/// One `[[person]]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonToml {
    label: Option<String>,
    dir: Option<PathBuf>,
    urls: Option<PathBuf>,
    query: Option<String>,
    max: Option<usize>,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    work: Option<PathBuf>,
    strangers: Option<PathBuf>,
    #[serde(default)]
    fetch: FetchSection,
    #[serde(default)]
    crop: CropSection,
    #[serde(default)]
    prepare: PrepareSection,
    #[serde(default)]
    train: TrainSection,
    #[serde(default)]
    person: Vec<PersonToml>,
}

/// Where a person's photos come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "from")]
pub enum Source {
    /// A local folder (absolute).
    Dir(PathBuf),
    /// A file of URLs (absolute).
    Urls(PathBuf),
    /// A SerpAPI Google Images search.
    Query(String),
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Dir(_) => "dir",
            Source::Urls(_) => "urls",
            Source::Query(_) => "query",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Dir(p) => format!("folder {}", super::show(p)),
            Source::Urls(p) => format!("URL list {}", super::show(p)),
            Source::Query(q) => format!("SerpAPI search \"{q}\""),
        }
    }
}

/// One person, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    /// Folder name and class label.
    pub label: String,
    /// Where the photos come from.
    pub source: Source,
    /// Photos stored at most.
    pub max: usize,
}

/// A checked `pipeline.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file (absolute).
    pub path: PathBuf,
    /// Work folder (absolute).
    pub work: PathBuf,
    /// Photos of people not in the training set, labelled with the exported model for the report.
    pub strangers: Option<PathBuf>,
    pub fetch: FetchSection,
    pub crop: CropSection,
    pub prepare: PrepareSection,
    pub train: TrainSection,
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

/// Read and check `path`. `work_override` (from `--work`, relative to the current folder) replaces `work`.
pub fn load(path: &Path, work_override: Option<&Path>) -> anyhow::Result<Config> {
    let file = super::show(path);
    // Only a regular file, at most 1 MiB: a FIFO or a device given by mistake is refused at once, not waited on.
    let text = issc_core::read_text_capped(path, 1 << 20)
        .with_context(|| format!("--config {file}: cannot read it (give the path of a pipeline.toml)"))?;
    let raw: ConfigToml = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{file}: {}\n(see `issc run --help` for the keys of each table, or examples/pipeline.toml)",
            e.to_string().trim_end()
        )
    })?;
    let abs = std::path::absolute(path).with_context(|| format!("{file}: cannot resolve its path"))?;
    let abs = abs.canonicalize().unwrap_or_else(|_| normalize(&abs));
    let base = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let err = |key: &str, what: String| anyhow::anyhow!("{file}: {key}: {what}");

    let work = match (work_override, &raw.work) {
        (Some(w), _) => normalize(&std::path::absolute(w).with_context(|| format!("--work {}", w.display()))?),
        (None, Some(w)) => resolve(&base, w),
        (None, None) => {
            return Err(err(
                "work",
                "missing: say where the pipeline writes, e.g. work = \"work/my-people\" (relative to this file), \
                 or pass --work DIR"
                    .into(),
            ));
        }
    };
    if work.is_file() {
        return Err(err("work", format!("{} is a file; give a folder", super::show(&work))));
    }

    // [fetch]
    let f = &raw.fetch;
    let positive = |s: f64| s.is_finite() && s > 0.0;
    if f.max == 0 {
        return Err(err("[fetch] max", "must be at least 1".into()));
    }
    if f.concurrency == 0 || f.per_host == 0 {
        return Err(err("[fetch] concurrency / per_host", "must be at least 1".into()));
    }
    if !positive(f.timeout) || !positive(f.connect_timeout) {
        return Err(err("[fetch] timeout / connect_timeout", "must be positive numbers of seconds".into()));
    }
    let mut fetch = f.clone();
    if let Some(b) = &f.blacklist {
        let p = resolve(&base, b);
        if !p.is_file() {
            return Err(err(
                "[fetch] blacklist",
                format!(
                    "{} does not exist; create it (one domain or URL pattern per line) or remove the key",
                    super::show(&p)
                ),
            ));
        }
        fetch.blacklist = Some(p);
    }

    // [crop]
    let c = &raw.crop;
    if !(0.0..=1.0).contains(&c.score) || !(0.0..=1.0).contains(&c.nms) {
        return Err(err("[crop] score / nms", format!("{} / {} must be within 0..1", c.score, c.nms)));
    }
    if c.min_face.is_nan() || c.min_face < 0.0 || c.max_side < 32 {
        return Err(err("[crop] min_face / max_side", "min_face must be >= 0 and max_side >= 32".into()));
    }

    // [prepare]
    let p = &raw.prepare;
    let popts = issc_dataset::PrepareOptions {
        split: p.split,
        seed: p.seed,
        phash_distance: p.phash_distance,
        mirror: p.mirror,
        min_per_label: p.min_per_label,
        ..Default::default()
    };
    popts.validate().map_err(|e| err("[prepare]", e.to_string().replace("--", "")))?;
    if p.split[1] <= 0.0 {
        return Err(err(
            "[prepare] split",
            format!("{:?} has no validation share; training needs one (e.g. [0.6, 0.2, 0.2])", p.split),
        ));
    }

    // [train]
    let t = &raw.train;
    let at_least_1 = [("epochs", t.epochs), ("patience", t.patience), ("batch", t.batch), ("hidden", t.hidden)];
    for (k, v) in at_least_1 {
        if v == Some(0) {
            return Err(err(&format!("[train] {k}"), "must be at least 1 (or leave it out for the default)".into()));
        }
    }
    if t.mode == TrainMode::Finetune && t.unfreeze == Some(0) {
        return Err(err(
            "[train] unfreeze",
            "must be at least 1 (0 trains nothing of SFace: use mode = \"head\")".into(),
        ));
    }
    for (k, v) in [("lr", t.lr), ("backbone_lr_scale", t.backbone_lr_scale)] {
        if v.is_some_and(|x| !positive(x)) {
            return Err(err(&format!("[train] {k}"), "must be a positive number".into()));
        }
    }
    if t.weight_decay.is_some_and(|x| !(x.is_finite() && x >= 0.0)) {
        return Err(err("[train] weight_decay", "must be >= 0".into()));
    }
    if let Some(n) = &t.name
        && issc_downloader::validate_label(n).is_err()
    {
        return Err(err("[train] name", format!("{n:?} is not a usable folder name (letters, digits, '-', '_')")));
    }

    // [[person]]
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
        let sources = [pt.dir.is_some(), pt.urls.is_some(), pt.query.is_some()].iter().filter(|x| **x).count();
        if sources != 1 {
            return Err(err(
                &name,
                format!(
                    "has {} photo sources; give exactly one of dir = \"folder\", urls = \"file\" or query = \"Name\"",
                    if sources == 0 { "no" } else { "several" }
                ),
            ));
        }
        let source = if let Some(d) = &pt.dir {
            let p = resolve(&base, d);
            if !p.is_dir() {
                return Err(err(
                    &name,
                    format!(
                        "dir = {:?}: {} is not a folder (paths are relative to the config file)",
                        d.display().to_string(),
                        super::show(&p)
                    ),
                ));
            }
            Source::Dir(p)
        } else if let Some(u) = &pt.urls {
            let p = resolve(&base, u);
            if !p.is_file() {
                return Err(err(
                    &format!("{name}, urls"),
                    format!(
                        "{} does not exist (a file of image URLs, one per line, relative to the config file)",
                        super::show(&p)
                    ),
                ));
            }
            Source::Urls(p)
        } else {
            let q = pt.query.clone().unwrap_or_default();
            if q.trim().is_empty() {
                return Err(err(&format!("{name}, query"), "is empty; give the person's name".into()));
            }
            Source::Query(q.trim().to_string())
        };
        let label = match (&pt.label, &source) {
            (Some(l), _) => l.clone(),
            (None, Source::Query(q)) => issc_downloader::slug(q),
            (None, Source::Dir(d)) => {
                d.file_name().map(|x| issc_downloader::slug(&x.to_string_lossy())).unwrap_or_default()
            }
            (None, Source::Urls(_)) => {
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
        let max = pt.max.unwrap_or(f.max);
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

    let strangers = match &raw.strangers {
        Some(s) => {
            let p = resolve(&base, s);
            if !p.is_dir() {
                return Err(err(
                    "strangers",
                    format!(
                        "{} is not a folder (photos of people not listed; relative to the config file)",
                        super::show(&p)
                    ),
                ));
            }
            Some(p)
        }
        None => None,
    };
    for person in &people {
        if let Source::Dir(d) = &person.source
            && work.starts_with(d)
        {
            bail!(
                "{file}: work: {} lies inside the photo folder of {}; choose another work folder",
                super::show(&work),
                person.label
            );
        }
    }

    Ok(Config { path: abs, work, strangers, fetch, crop: raw.crop, prepare: raw.prepare, train: raw.train, people })
}
