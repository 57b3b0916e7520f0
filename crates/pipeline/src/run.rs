//! [`run`]: fetch → crop → prepare → train → export for the people of one `pipeline.toml`, into one work folder,
//! skipping every stage whose outputs are up to date; then a summary and `report.html`.
//!
//! Each stage is judged "up to date" from its own outputs:
//!
//! - fetch: every photo source of a person is already recorded in `raw/manifest.jsonl` (done, or failed too often),
//!   or `max` photos are stored; a search is done again only when its query or `max` changed;
//! - crop: every photo under `raw/` is in `crops/crops.jsonl` with its crops present, with the same detector
//!   settings (`crops/settings.json`), and the faces kept in `faces/<label>/` match `[crop] faces`;
//! - prepare: `dataset/dataset.json`'s fingerprint (inputs and settings) is unchanged;
//! - train: `runs/<name>/model.json` exists, its `config.json` has the settings asked for, and both name the
//!   dataset's fingerprint (an interrupted run with the same settings is resumed; another is trained anew);
//! - export: `model/model.json` names that run's settings and metrics, and `model/model.onnx` has its sha256.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use issc_downloader::{Entry, History};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{FacesPolicy, Person, PipelineConfig};
use crate::crop::{CropEntry, CropStatus};
use crate::error::{Ctx, PipelineError, Result, bail};
use crate::fetch::{PhotoSource, SearchProvider};
use crate::summary::*;
use crate::{
    CACHE, CROPS, DATASET, FACES, MARKER, MODEL, Progress, RAW, REPORT, RUNS, Runtime, read_json, report, show,
};

/// `raw/searches.json`: the searches done per label.
const SEARCHES: &str = "searches.json";
/// `crops/settings.json`: the detector settings the crops were made with.
const CROP_SETTINGS: &str = "settings.json";
/// The summary's format.
const FORMAT: &str = "issc-run/1";

/// One search done for a label (`raw/searches.json`): searched again only when the query or `max` changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SearchRecord {
    query: String,
    /// The provider that answered (records from before providers: SerpAPI).
    #[serde(default = "serpapi")]
    provider: String,
    max: usize,
    stored: usize,
}

type Searches = BTreeMap<String, SearchRecord>;

fn serpapi() -> String {
    "serpapi".into()
}

/// Run every stage of the pipeline that is not up to date and write the report; returns where the exported model
/// is. Everything that can be refused (the work folder, each person's source) is refused before anything is
/// written.
pub fn run(cfg: &PipelineConfig, runtime: &Runtime, progress: &dyn Progress) -> Result<Outcome> {
    let started = Instant::now();
    crate::check_work_folder(&cfg.work)?;
    let pending = fetch_plan(cfg)?;
    std::fs::create_dir_all(&cfg.work).ctx(|| format!("cannot create the work folder {}", show(&cfg.work)))?;
    let work = cfg.work.canonicalize().unwrap_or_else(|_| cfg.work.clone());
    let marker = serde_json::json!({"format": FORMAT, "config": cfg.path.display().to_string(), "state": "running"});
    write_json(&work.join(MARKER), &marker)?;
    progress.line(&format!("issc run {} → {}", show(&cfg.path), show(&work)));
    let mut summary = Summary {
        format: FORMAT.into(),
        config: cfg.path.display().to_string(),
        work: work.display().to_string(),
        ..Summary::default()
    };

    let (fetch, entries, mut people) = fetch_stage(cfg, runtime, &work, &pending, progress)?;
    let crops = crop_stage(cfg, runtime, &work, &mut people, progress)?;
    let (prepare, manifest) = prepare_stage(cfg, runtime, &work, &mut people, progress)?;
    let trained = train_stage(cfg, runtime, &work, &manifest.fingerprint, progress)?;
    summary.open_set = trained.open_set.clone();
    summary.test_accuracy = trained.stage.test_accuracy;
    let (export, mcard) = export_stage(runtime, &work, &trained, progress)?;
    let model_dir = work.join(MODEL);
    let strangers = match &cfg.strangers {
        Some(folder) => {
            let s = crate::strangers::strangers_stage(runtime, cfg, folder, &work, &model_dir, &mcard)?;
            progress.line(&strangers_line(&s));
            Some(s)
        }
        None => None,
    };

    summary.engine =
        issc_detect::engine_info().map_or_else(|| "none needed (every stage up to date)".into(), |e| e.to_string());
    summary.people = people;
    summary.stages = Stages { fetch, crop: crops.stage, prepare, train: trained.stage, export, strangers };
    summary.model = model_dir.display().to_string();
    let report_path = work.join(REPORT);
    summary.report = report_path.display().to_string();
    summary.seconds = started.elapsed().as_secs_f64();

    // The report and the summary. Photos are shown under their original names (raw/ holds them by content hash).
    let originals: BTreeMap<String, String> = entries
        .iter()
        .filter_map(|e| {
            let name = e.url.trim_end_matches('/').rsplit(['/', '\\']).next().unwrap_or(&e.url);
            let name = name.split(['?', '#']).next().unwrap_or(name);
            e.path.clone().map(|p| (p, name.to_string()))
        })
        .collect();
    let html = report::render(&report::Input {
        summary: &summary,
        config_file: &cfg.path,
        work: &work,
        crops: &crops.entries,
        originals: &originals,
        sources: &entries,
        kept: &crops.kept,
        dataset: &manifest,
        run_dir: &trained.run_dir,
        train_card: &trained.card,
        test: read_json(&trained.run_dir.join("test.json")).as_ref(),
        model: &mcard,
    });
    issc_core::write_atomic(&report_path, html.as_bytes()).ctx(|| format!("cannot write {}", show(&report_path)))?;
    let mut done = serde_json::to_value(&summary).ctx(|| "cannot encode the summary")?;
    done["state"] = "done".into();
    write_json(&work.join(MARKER), &done)?;
    Ok(Outcome { model_dir, report: report_path, summary })
}

/// `value` as pretty JSON, written atomically.
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).ctx(|| format!("cannot encode {}", show(path)))?;
    issc_core::write_atomic(path, format!("{text}\n").as_bytes()).ctx(|| format!("cannot write {}", show(path)))
}

/// `  crop      done        … · 1.2 s`.
fn stage_line(name: &str, up_to_date: bool, what: &str, seconds: f64) -> String {
    let state = if up_to_date { "up to date" } else { "done" };
    format!("  {name:<9} {state:<10}  {what} · {seconds:.1} s")
}

// ---------------------------------------------------------------------------------------------------------------
// fetch

/// Per person, whether their photos still need fetching; a search that needs a key it does not have is refused here.
fn fetch_plan(cfg: &PipelineConfig) -> Result<Vec<bool>> {
    let file = show(&cfg.path);
    let raw = cfg.work.join(RAW);
    let entries = read_fetch_manifest(&raw);
    let searches = read_searches(&raw);
    let mut pending = Vec::new();
    for (i, p) in cfg.people.iter().enumerate() {
        let todo = fetch_pending(cfg, p, &entries, &searches)
            .map_err(|e| PipelineError::context(format!("{file}: [[person]] #{} (label = {:?})", i + 1, p.label), e))?;
        let serpapi = matches!(p.source, PhotoSource::Query { provider: SearchProvider::Serpapi, .. });
        if todo && serpapi && cfg.fetch.serpapi_key.is_none() {
            bail!(
                "{file}: [[person]] #{} (label = {:?}): provider = \"serpapi\" needs SERPAPI_API_KEY (a SerpAPI \
                 key) in the environment or in a .env file — never in the config; or search without a key with \
                 provider = \"commons\" or \"bing\", or give the photos with dir = \"folder\" or urls = \"file\"",
                i + 1,
                p.label
            );
        }
        pending.push(todo);
    }
    Ok(pending)
}

fn fetch_stage(
    cfg: &PipelineConfig,
    runtime: &Runtime,
    work: &Path,
    pending: &[bool],
    progress: &dyn Progress,
) -> Result<(FetchStage, Vec<Entry>, Vec<PersonSummary>)> {
    let t = Instant::now();
    let raw = work.join(RAW);
    let mut fetch = FetchStage { up_to_date: !pending.contains(&true), ..FetchStage::default() };
    let mut searches = read_searches(&raw);
    for (p, todo) in cfg.people.iter().zip(pending) {
        if !todo {
            continue;
        }
        let mut settings = cfg.fetch.clone();
        settings.max = p.max;
        let s = crate::fetch::fetch_label(&p.source, &p.label, &raw, &settings, runtime.load(), progress)?;
        fetch.fetched += 1;
        fetch.downloaded += s.downloaded;
        fetch.duplicates += s.duplicates;
        fetch.rejected += s.rejected.values().sum::<usize>();
        fetch.failed += s.failed.values().sum::<usize>();
        if let PhotoSource::Query { from: q, provider, .. } = &p.source
            && s.search_error.is_none()
        {
            let provider = provider.resolve(&cfg.fetch).name().to_string();
            let record = SearchRecord { query: q.clone(), provider, max: p.max, stored: s.stored_total };
            searches.insert(p.label.clone(), record);
            write_json(&raw.join(SEARCHES), &searches)?;
        }
    }
    let entries = read_fetch_manifest(&raw);
    let people: Vec<PersonSummary> = cfg
        .people
        .iter()
        .map(|p| PersonSummary {
            label: p.label.clone(),
            source: p.source.kind().into(),
            from: match &p.source {
                PhotoSource::Dir { from } | PhotoSource::Urls { from } => show(from),
                PhotoSource::Query { from, provider, .. } => {
                    format!("{from} ({})", provider.resolve(&cfg.fetch).name())
                }
            },
            photos: History::of(&entries, &p.label).stored,
            ..PersonSummary::default()
        })
        .collect();
    fetch.stored = people.iter().map(|p| p.photos).sum();
    fetch.seconds = t.elapsed().as_secs_f64();
    progress.line(&stage_line(
        "fetch",
        fetch.up_to_date,
        &format!(
            "{} people · {} new photos, {} duplicates, {} rejected, {} failed · {} stored",
            cfg.people.len(),
            fetch.downloaded,
            fetch.duplicates,
            fetch.rejected,
            fetch.failed,
            fetch.stored
        ),
        fetch.seconds,
    ));
    for p in people.iter().filter(|p| p.photos == 0) {
        progress.warn(&format!("{}: no photos stored (see {})", p.label, show(&raw.join("manifest.jsonl"))));
    }
    Ok((fetch, entries, people))
}

/// `raw/manifest.jsonl`, read only (a missing file is empty; unreadable lines are skipped).
fn read_fetch_manifest(raw: &Path) -> Vec<Entry> {
    let Ok(f) = std::fs::File::open(raw.join("manifest.jsonl")) else {
        return vec![];
    };
    std::io::BufReader::new(f)
        .split(b'\n')
        .map_while(std::result::Result::ok)
        .filter_map(|l| serde_json::from_str(&String::from_utf8_lossy(&l)).ok())
        .collect()
}

/// `raw/searches.json` (missing or unreadable: none).
fn read_searches(raw: &Path) -> Searches {
    read_json(&raw.join(SEARCHES)).and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

/// Whether a person's photos still need fetching.
fn fetch_pending(cfg: &PipelineConfig, p: &Person, entries: &[Entry], searches: &Searches) -> Result<bool> {
    let h = History::of(entries, &p.label);
    if h.stored >= p.max {
        return Ok(false);
    }
    let candidates = match &p.source {
        PhotoSource::Dir { from } => {
            issc_downloader::provider::read_dir(from).ctx(|| format!("folder {}", show(from)))?
        }
        PhotoSource::Urls { from } => {
            issc_downloader::provider::read_url_list(from).ctx(|| format!("URL list {}", show(from)))?
        }
        PhotoSource::Query { from: q, provider, .. } => {
            // Searched before with this query, provider and at least this max: the search gave what it had.
            let provider = provider.resolve(&cfg.fetch).name();
            let same = searches
                .get(&p.label)
                .is_some_and(|s| s.query == *q && s.provider.as_str() == provider && s.max >= p.max);
            return Ok(!same);
        }
    };
    let blacklist = match &cfg.fetch.blacklist {
        Some(b) => issc_downloader::Blacklist::from_file(b).ctx(|| format!("cannot read {}", show(b)))?,
        None => issc_downloader::Blacklist::default(),
    };
    Ok(candidates.iter().any(|c| {
        !h.done.contains_key(&c.url)
            && h.failures.get(&c.url).copied().unwrap_or(0) < cfg.fetch.fail_limit
            && url::Url::parse(&c.url).ok().and_then(|u| blacklist.blocks(&u)).is_none()
    }))
}

// ---------------------------------------------------------------------------------------------------------------
// crop

/// What the crop stage leaves for the report.
struct Crops {
    stage: CropStage,
    entries: Vec<CropEntry>,
    kept: BTreeSet<String>,
}

fn crop_stage(
    cfg: &PipelineConfig,
    runtime: &Runtime,
    work: &Path,
    people: &mut [PersonSummary],
    progress: &dyn Progress,
) -> Result<Crops> {
    let t = Instant::now();
    let (raw, crops) = (work.join(RAW), work.join(CROPS));
    let opts = cfg.crop.crop_options();
    // f32 settings written as they read in the config (0.6, not 0.6000000238418579).
    let short = |x: f32| x.to_string().parse::<f64>().unwrap_or(f64::from(x));
    let c = &cfg.crop;
    let settings = serde_json::json!({"mode": "aligned", "size": opts.size, "detector": c.detector,
        "score": short(c.score), "nms": short(c.nms), "max_side": c.max_side, "min_face": short(c.min_face)});
    let settings_path = crops.join(CROP_SETTINGS);
    if read_json(&settings_path).is_none_or(|s| s != settings) {
        // Other detector settings: every photo is cropped again (crops.jsonl does not record them). The settings
        // are written first, so that an interrupted crop continues on the next run.
        if crops.exists() {
            std::fs::remove_dir_all(&crops).ctx(|| format!("cannot clear {}", show(&crops)))?;
        }
        write_json(&settings_path, &settings)?;
    }
    let (_, todo) = crate::crop::pending(&raw, &crops, &opts)?;
    let mut stage = CropStage { policy: c.faces.name().into(), ..CropStage::default() };
    if todo > 0 {
        stage.processed = crate::crop::crop(runtime, &raw, &crops, &opts, progress)?.processed;
    }
    let manifest = crops.join(crate::crop::MANIFEST);
    let entries = crate::crop::read_manifest(&manifest).ctx(|| format!("cannot read {}", show(&manifest)))?;
    let sel = select_faces(&entries, &cfg.people, c.faces, &crops, &work.join(FACES))?;
    for p in people.iter_mut() {
        if let Some(c) = sel.per_label.get(&p.label) {
            (p.faces, p.kept, p.no_face, p.unreadable) = (c.faces, c.kept, c.no_face, c.unreadable);
        }
    }
    stage.up_to_date = stage.processed == 0 && !sel.changed;
    stage.photos = sel.per_label.values().map(|c| c.photos).sum();
    stage.faces = sel.per_label.values().map(|c| c.faces).sum();
    stage.no_face = sel.per_label.values().map(|c| c.no_face).sum();
    stage.unreadable = sel.per_label.values().map(|c| c.unreadable).sum();
    stage.kept = sel.per_label.values().map(|c| c.kept).sum();
    stage.left_out = stage.faces - stage.kept;
    stage.seconds = t.elapsed().as_secs_f64();
    let left_out = if stage.left_out > 0 { format!(", {} left out", stage.left_out) } else { String::new() };
    progress.line(&stage_line(
        "crop",
        stage.up_to_date,
        &format!(
            "{} photos · {} faces, {} without a face, {} unreadable · kept {} ({}){left_out}",
            stage.photos,
            stage.faces,
            stage.no_face,
            stage.unreadable,
            stage.kept,
            c.faces.describe()
        ),
        stage.seconds,
    ));
    if stage.kept == 0 {
        bail!(
            "no faces to train on: the photos of {} hold no face the detector found (see {})",
            show(&raw),
            show(&manifest)
        );
    }
    Ok(Crops { stage, entries, kept: sel.kept })
}

/// Per person: photos, faces found, faces kept.
#[derive(Debug, Default, Clone)]
struct LabelFaces {
    photos: usize,
    faces: usize,
    kept: usize,
    no_face: usize,
    unreadable: usize,
}

struct Selection {
    per_label: BTreeMap<String, LabelFaces>,
    /// Kept crops, as `<label>/<file>` (relative to `crops/` and to `faces/`).
    kept: BTreeSet<String>,
    /// Whether `faces/` changed.
    changed: bool,
}

/// The crops `policy` keeps of one photo's entries.
fn choose<'a>(es: &[&'a CropEntry], policy: FacesPolicy) -> Vec<&'a CropEntry> {
    let ok = es.iter().copied().filter(|e| e.status == CropStatus::Ok && e.crop.is_some());
    let area = |e: &CropEntry| e.bbox.map_or(0.0, |b| b[2] * b[3]);
    let index = |e: &CropEntry| e.face_index.unwrap_or(usize::MAX);
    match policy {
        FacesPolicy::All => ok.collect(),
        FacesPolicy::Best => ok.min_by_key(|e| index(e)).into_iter().collect(),
        FacesPolicy::Largest => {
            ok.max_by(|a, b| area(a).total_cmp(&area(b)).then(index(b).cmp(&index(a)))).into_iter().collect()
        }
    }
}

/// Keep the faces `policy` says of each photo of the configured people: `faces/<label>/<crop>` mirrors the chosen
/// crops of `crops/` (copied; files no longer chosen and folders of people no longer listed are removed).
fn select_faces(
    entries: &[CropEntry],
    people: &[Person],
    policy: FacesPolicy,
    crops: &Path,
    faces: &Path,
) -> Result<Selection> {
    let labels: BTreeSet<&str> = people.iter().map(|p| p.label.as_str()).collect();
    let mut per_photo: BTreeMap<&str, Vec<&CropEntry>> = BTreeMap::new();
    for e in entries {
        if e.label.as_deref().is_some_and(|l| labels.contains(l)) {
            per_photo.entry(e.source.as_str()).or_default().push(e);
        }
    }
    let mut per_label: BTreeMap<String, LabelFaces> =
        people.iter().map(|p| (p.label.clone(), LabelFaces::default())).collect();
    let mut kept = BTreeSet::new();
    for es in per_photo.values() {
        let label = es[0].label.clone().unwrap_or_default();
        let c = per_label.entry(label).or_default();
        c.photos += 1;
        c.no_face += usize::from(es.iter().any(|e| e.status == CropStatus::NoFace));
        c.unreadable += usize::from(es.iter().any(|e| e.status == CropStatus::Error));
        c.faces += es.iter().filter(|e| e.status == CropStatus::Ok && e.crop.is_some()).count();
        let chosen = choose(es, policy);
        c.kept += chosen.len();
        kept.extend(chosen.iter().filter_map(|e| e.crop.clone()));
    }
    let changed = sync_faces(faces, crops, &labels, &kept)?;
    Ok(Selection { per_label, kept, changed })
}

/// Make `faces/` hold exactly the `kept` crops (copied from `crops/`); whether anything changed.
fn sync_faces(faces: &Path, crops: &Path, labels: &BTreeSet<&str>, kept: &BTreeSet<String>) -> Result<bool> {
    let remove = |path: &Path| {
        if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) }
            .ctx(|| format!("cannot remove {}", show(path)))
    };
    let mut changed = false;
    if faces.is_dir() {
        for d in std::fs::read_dir(faces).ctx(|| format!("cannot list {}", show(faces)))? {
            let d = d.ctx(|| format!("cannot list {}", show(faces)))?;
            let name = d.file_name().to_string_lossy().into_owned();
            let path = d.path();
            if !path.is_dir() || !labels.contains(name.as_str()) {
                remove(&path)?;
                changed = true;
                continue;
            }
            for f in std::fs::read_dir(&path).ctx(|| format!("cannot list {}", show(&path)))? {
                let f = f.ctx(|| format!("cannot list {}", show(&path)))?;
                if !kept.contains(&format!("{name}/{}", f.file_name().to_string_lossy())) {
                    remove(&f.path())?;
                    changed = true;
                }
            }
        }
    }
    for rel in kept {
        let (src, dst) = (crops.join(rel), faces.join(rel));
        let bytes = std::fs::read(&src).ctx(|| format!("cannot read {}", show(&src)))?;
        if std::fs::read(&dst).ok().as_deref() != Some(bytes.as_slice()) {
            issc_core::write_atomic(&dst, &bytes).ctx(|| format!("cannot write {}", show(&dst)))?;
            changed = true;
        }
    }
    Ok(changed)
}

// ---------------------------------------------------------------------------------------------------------------
// prepare

fn prepare_stage(
    cfg: &PipelineConfig,
    runtime: &Runtime,
    work: &Path,
    people: &mut [PersonSummary],
    progress: &dyn Progress,
) -> Result<(PrepareStage, issc_dataset::Manifest)> {
    let t = Instant::now();
    let popts = cfg.prepare.options(*runtime.load());
    let rep = issc_dataset::prepare(&work.join(FACES), &work.join(DATASET), &popts, &|_, _| {})
        .ctx(|| format!("prepare {}", show(&work.join(DATASET))))?;
    let (train, val, test, removed) = rep.totals();
    let m = rep.manifest;
    let prepare = PrepareStage {
        up_to_date: rep.up_to_date,
        seconds: t.elapsed().as_secs_f64(),
        files: m.files.len(),
        train,
        val,
        test,
        removed,
        removed_by_reason: m.removed_by_reason.clone(),
        near_duplicate_pairs: m.near_duplicates.len(),
        skipped_labels: m.labels.iter().filter(|(_, c)| c.skipped).map(|(l, _)| l.clone()).collect(),
    };
    for p in people.iter_mut() {
        if let Some(c) = m.labels.get(&p.label) {
            (p.train, p.val, p.test, p.removed, p.left_out) = (c.train, c.val, c.test, c.removed, c.skipped);
        }
    }
    let reasons = if prepare.removed_by_reason.is_empty() {
        String::new()
    } else {
        let r: Vec<String> = prepare.removed_by_reason.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!(" ({})", r.join(", "))
    };
    progress.line(&stage_line(
        "prepare",
        prepare.up_to_date,
        &format!(
            "{} faces · train {} · val {} · test {} · removed {}{reasons} · {} near-duplicate pairs",
            prepare.files, prepare.train, prepare.val, prepare.test, prepare.removed, prepare.near_duplicate_pairs
        ),
        prepare.seconds,
    ));
    for l in &prepare.skipped_labels {
        progress.warn(&format!(
            "{l}: left out of the dataset, fewer than [prepare] min_per_label = {} usable faces",
            cfg.prepare.min_per_label
        ));
    }
    Ok((prepare, m))
}

// ---------------------------------------------------------------------------------------------------------------
// train

/// What the train stage leaves for export and the report.
struct TrainedRun {
    stage: TrainStage,
    open_set: OpenSetSummary,
    run_dir: PathBuf,
    card: issc_train::TrainCard,
}

fn train_stage(
    cfg: &PipelineConfig,
    runtime: &Runtime,
    work: &Path,
    fingerprint: &str,
    progress: &dyn Progress,
) -> Result<TrainedRun> {
    let t = Instant::now();
    let run_dir = work.join(RUNS).join(cfg.train.run_name());
    let mut opts = cfg.train.options();
    let state = run_state(&run_dir, &opts, fingerprint)?;
    let mut stage = TrainStage { up_to_date: state == RunState::UpToDate, ..TrainStage::default() };
    match state {
        RunState::Interrupted => {
            opts.resume = true;
            stage.resumed = true;
        }
        RunState::Stale => std::fs::remove_dir_all(&run_dir).ctx(|| format!("cannot clear {}", show(&run_dir)))?,
        RunState::UpToDate | RunState::Missing => {}
    }
    if state != RunState::UpToDate {
        let cache = cfg.train.cache.clone().unwrap_or_else(|| work.join(CACHE));
        crate::train::train(runtime, &work.join(DATASET), &run_dir, &opts, &cache, progress)?;
    }
    let card = issc_train::TrainCard::read(&run_dir).ctx(|| format!("{}: after training", show(&run_dir)))?;
    let m = &card.metrics;
    stage.seconds = t.elapsed().as_secs_f64();
    stage.run = run_dir.display().to_string();
    stage.mode = card.mode.name().into();
    stage.labels = card.labels.len();
    (stage.train_faces, stage.val_faces, stage.test_faces) = (m.train_faces, m.val_faces, m.test_faces);
    (stage.epochs, stage.best_epoch, stage.stopped_early) = (m.epochs, m.best_epoch, m.stopped_early);
    (stage.val_accuracy, stage.test_accuracy) = (m.val_accuracy, m.test_accuracy);
    let os = &card.open_set;
    let chosen = os.chosen();
    let open_set = OpenSetSummary {
        rule: os.chosen.clone(),
        threshold: f64::from(chosen.threshold),
        known_accept: chosen.known_accept,
        unknown_reject: chosen.unknown_reject,
        auc: chosen.auc,
        val_faces: os.val_faces,
    };
    progress.line(&stage_line(
        "train",
        stage.up_to_date,
        &format!(
            "{} · {} people · {} epochs (best {}{}){} · val accuracy {:.3}",
            stage.mode,
            stage.labels,
            stage.epochs,
            stage.best_epoch,
            if stage.stopped_early { ", early stop" } else { "" },
            if stage.resumed { " resumed" } else { "" },
            stage.val_accuracy
        ),
        stage.seconds,
    ));
    Ok(TrainedRun { stage, open_set, run_dir, card })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    /// No run folder.
    Missing,
    /// Finished with these settings on this dataset.
    UpToDate,
    /// Started with these settings on this dataset, not finished: resume.
    Interrupted,
    /// Other settings or another dataset: train anew.
    Stale,
}

/// What the run folder holds compared with the run asked for.
fn run_state(run_dir: &Path, opts: &issc_train::TrainOptions, fingerprint: &str) -> Result<RunState> {
    if !run_dir.exists() {
        return Ok(RunState::Missing);
    }
    let Some(differences) = issc_train::settings_differences(run_dir, opts, fingerprint) else {
        let empty = std::fs::read_dir(run_dir).ctx(|| format!("cannot list {}", show(run_dir)))?.next().is_none();
        if empty || run_dir.join("checkpoints").is_dir() {
            return Ok(RunState::Stale);
        }
        bail!("{} is not a training run (no config.json); move it away", show(run_dir));
    };
    if !differences.is_empty() {
        return Ok(RunState::Stale);
    }
    match issc_train::TrainCard::read(run_dir) {
        Ok(c) if c.training.dataset_fingerprint == fingerprint && run_dir.join("best/model.bpk").is_file() => {
            Ok(RunState::UpToDate)
        }
        _ => Ok(RunState::Interrupted),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// export

fn export_stage(
    runtime: &Runtime,
    work: &Path,
    trained: &TrainedRun,
    progress: &dyn Progress,
) -> Result<(ExportStage, issc_predict::ModelCard)> {
    let t = Instant::now();
    let model_dir = work.join(MODEL);
    let mut export = ExportStage {
        up_to_date: export_up_to_date(&model_dir, &trained.run_dir, &trained.card),
        ..Default::default()
    };
    if !export.up_to_date {
        runtime.engine()?;
        let models = runtime.models()?;
        issc_export::export_run(&trained.run_dir, &model_dir, models, &issc_export::ExportOptions::default())
            .ctx(|| format!("export {} to {}", show(&trained.run_dir), show(&model_dir)))?;
    }
    let mcard = read_card(&model_dir)?;
    export.seconds = t.elapsed().as_secs_f64();
    export.dir = model_dir.display().to_string();
    export.sha256 = mcard.model.sha256.clone();
    export.bytes = mcard.model.bytes;
    export.labels = mcard.labels.clone();
    export.parity = mcard.export_check.as_ref().map(|c| c.max_abs_diff_probabilities);
    export.parity_faces = mcard.export_check.as_ref().map(|c| c.faces);
    progress.line(&stage_line(
        "export",
        export.up_to_date,
        &format!(
            "{} ({:.1} MB, sha256 {}…){}",
            show(&model_dir.join(issc_predict::MODEL_FILE)),
            export.bytes as f64 / 1e6,
            &export.sha256[..export.sha256.len().min(12)],
            match (export.parity, export.parity_faces) {
                (Some(d), Some(n)) => format!(" · parity |Δp| ≤ {d:.1e} on {n} faces"),
                _ => String::new(),
            }
        ),
        export.seconds,
    ));
    Ok((export, mcard))
}

fn read_card(model_dir: &Path) -> Result<issc_predict::ModelCard> {
    let path = model_dir.join(issc_predict::CARD_FILE);
    let text = std::fs::read(&path).ctx(|| format!("cannot read {}", show(&path)))?;
    issc_predict::ModelCard::from_json(&text, &path).ctx(|| format!("model card {}", show(&path)))
}

/// The export in `model_dir` is of this run as it is now, and its graph is intact.
fn export_up_to_date(model_dir: &Path, run_dir: &Path, train_card: &issc_train::TrainCard) -> bool {
    let Ok(card) = read_card(model_dir) else {
        return false;
    };
    let same_run = card.training["run"] == run_dir.display().to_string()
        && card.training["settings"] == serde_json::to_value(&train_card.training).unwrap_or(Value::Null)
        && card.metrics == serde_json::to_value(&train_card.metrics).unwrap_or(Value::Null)
        && card.labels == train_card.labels;
    same_run
        && std::fs::read(model_dir.join(&card.model.file))
            .is_ok_and(|b| issc_predict::sha256_hex(&b) == card.model.sha256)
}

// ---------------------------------------------------------------------------------------------------------------
// strangers

fn strangers_line(s: &StrangersStage) -> String {
    let named = if s.unknown < s.faces {
        let named: Vec<String> = s
            .answers
            .iter()
            .filter(|a| a.label != issc_predict::UNKNOWN)
            .map(|a| format!("{} as {}", a.photo, a.label))
            .collect();
        format!(" (taken for someone: {})", named.join(", "))
    } else {
        String::new()
    };
    stage_line(
        "strangers",
        s.up_to_date,
        &format!(
            "{} faces in {} photos of people not trained on · {} answered unknown{named}",
            s.faces, s.photos, s.unknown
        ),
        s.seconds,
    )
}
