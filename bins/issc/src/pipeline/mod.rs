//! `issc run`: fetch → crop → prepare → train → export for the people of one `pipeline.toml`, into one work
//! folder, skipping every stage whose outputs are up to date; then a summary and `report.html`.
//!
//! Each stage reuses the command that does it alone (`issc fetch`, `crop`, `prepare`, `train`, `export`), and each
//! is judged "up to date" from its own outputs:
//!
//! - fetch: every photo source of a person is already recorded in `raw/manifest.jsonl` (done, or failed too often),
//!   or `max` photos are stored; a SerpAPI query is searched again only when its query or `max` changed;
//! - crop: every photo under `raw/` is in `crops/crops.jsonl` with its crops present, with the same detector
//!   settings (`crops/settings.json`), and the faces kept in `faces/<label>/` match `[crop] faces`;
//! - prepare: `dataset/dataset.json`'s fingerprint (inputs and settings) is unchanged;
//! - train: `runs/<name>/model.json` exists, its `config.json` has the settings asked for, and both name the
//!   dataset's fingerprint (an interrupted run with the same settings is resumed; another is trained anew);
//! - export: `model/model.json` names that run's settings and metrics, and `model/model.onnx` has its sha256.

mod config;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use issc_downloader::{Entry, History};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cli::{Context, CropArgs, CropMode, DetectorArg, DetectorArgs, FetchArgs, ProviderArg};
use crate::crop::{CropEntry, CropStatus};
use crate::train::{DeviceArg, PrecisionArg, TrainArgs, TrainModeArg};
pub use config::{Config, FacesPolicy, Person, Source};

/// `issc run --help`'s tail: the config format, with an example.
pub const AFTER_HELP: &str = r#"Stages whose outputs are up to date are skipped ("up to date"): after a
change, a run redoes only what the change touches; an interrupted run continues where it
stopped. The work folder holds raw/ (fetch), crops/ (every face), faces/<label>/ (the faces
kept), dataset/, runs/<name>/, model/ (the exported model), report.html (counts, crops per
person, duplicates, curves, confusion matrix, unknown rejection) and issc-run.json (the
summary that --json prints).

Config (TOML; paths are relative to the config file; unknown keys are refused):
  work = "../target/example"     # where everything goes (--work DIR overrides)
  strangers = "strangers"        # optional: photos of people NOT listed below;
                                 # the report shows what the model answers
  [fetch]       # as `issc fetch`: max (per person, 100), concurrency, per_host, timeout,
  max = 50      # connect_timeout, max_bytes, min_side, retries, max_redirects,
                # fail_limit, blacklist = "file", serpapi_url
  [crop]        # faces = "largest" (default: the largest face of each photo, i.e. the
  faces = "largest"   # person it is labelled with) | "best" (highest score) | "all";
                # detector = "yunet" | "retinaface", score (0.6), nms, max_side, min_face
  [prepare]     # as `issc prepare`: split, seed, phash_distance, min_per_label, mirror
  split = [0.6, 0.2, 0.2]
  [train]       # as `issc train`: name (run folder; default: the mode), mode = "head" |
  mode = "head" # "finetune", epochs, patience, lr, weight_decay, batch, seed, hidden,
                # unfreeze, backbone_lr_scale, augment
  [[person]]    # one per person: a label and exactly one source of photos
  label = "Ada_Lovelace"
  dir = "people/Ada_Lovelace"    # a folder of photos, or
  # urls = "ada.txt"             # a file of image URLs (one per line), or
  # query = "Ada Lovelace"       # SerpAPI Google Images (SERPAPI_API_KEY: env or .env)
  # max = 20                     # optional: this person's [fetch] max

Examples:
  issc run --config examples/pipeline.toml       # bundled photos of 6 people, offline
  issc run --config examples/pipeline.toml --work /tmp/x
  issc run --config people.toml --json > summary.json
  issc predict --model target/example/model photo.jpg"#;

/// `issc run` flags.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The pipeline file (TOML): the people, where their photos come from, and settings per stage.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Work folder, instead of the config's `work` (relative to the current folder).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout (stage lines are not printed).
    #[arg(long)]
    pub json: bool,
    /// Then serve the exported model (`issc serve`) until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub serve: bool,
    /// Address for --serve.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub addr: std::net::SocketAddr,
}

/// Work folder layout.
pub const RAW: &str = "raw";
pub const CROPS: &str = "crops";
pub const FACES: &str = "faces";
pub const DATASET: &str = "dataset";
pub const RUNS: &str = "runs";
pub const MODEL: &str = "model";
pub const CACHE: &str = "cache/embeddings";
pub const STRANGERS: &str = "strangers";
pub const REPORT: &str = "report.html";
/// The work folder's marker and the last run's summary (what `--json` prints).
pub const MARKER: &str = "issc-run.json";
const SEARCHES: &str = "searches.json";
const CROP_SETTINGS: &str = "settings.json";
const STRANGER_RESULTS: &str = "results.json";

/// A path for messages: relative to the current folder when inside it.
pub fn show(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match rel {
        Some(r) if r.as_os_str().is_empty() => ".".into(),
        Some(r) => r.display().to_string(),
        None => p.display().to_string(),
    }
}

/// One person's figures across the stages.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PersonSummary {
    pub label: String,
    /// `dir`, `urls` or `query`.
    pub source: String,
    /// The folder, file or query.
    pub from: String,
    /// Photos stored in `raw/<label>/`.
    pub photos: usize,
    /// Faces found in them.
    pub faces: usize,
    /// Faces kept for the dataset (`[crop] faces`).
    pub kept: usize,
    /// Photos without a face.
    pub no_face: usize,
    /// Photos that could not be read.
    pub unreadable: usize,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub removed: usize,
    /// Left out of the dataset (fewer than `min_per_label` usable faces).
    pub left_out: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchStage {
    pub up_to_date: bool,
    pub seconds: f64,
    /// People whose sources were fetched in this run.
    pub fetched: usize,
    pub downloaded: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub failed: usize,
    /// Photos stored for the configured people, all runs together.
    pub stored: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CropStage {
    pub up_to_date: bool,
    pub seconds: f64,
    /// Photos of the configured people.
    pub photos: usize,
    /// Photos cropped in this run.
    pub processed: usize,
    /// Faces found (every face of every photo).
    pub faces: usize,
    pub no_face: usize,
    pub unreadable: usize,
    /// Faces kept for the dataset.
    pub kept: usize,
    /// Faces left out by the policy (bystanders).
    pub left_out: usize,
    /// `[crop] faces`.
    pub policy: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PrepareStage {
    pub up_to_date: bool,
    pub seconds: f64,
    pub files: usize,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub removed: usize,
    pub removed_by_reason: BTreeMap<String, usize>,
    pub near_duplicate_pairs: usize,
    /// Labels left out for having too few usable faces.
    pub skipped_labels: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainStage {
    pub up_to_date: bool,
    /// The run was interrupted before and continued from its last checkpoint.
    pub resumed: bool,
    pub seconds: f64,
    pub run: String,
    pub mode: String,
    pub labels: usize,
    pub train_faces: usize,
    pub val_faces: usize,
    pub test_faces: usize,
    pub epochs: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub val_accuracy: f64,
    pub test_accuracy: f64,
}

/// The chosen unknown-rejection rule, as calibrated on the validation split.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpenSetSummary {
    pub rule: String,
    pub threshold: f64,
    /// Share of known people's validation faces accepted.
    pub known_accept: f64,
    /// Share of validation faces of people held out of the classifier rejected as unknown.
    pub unknown_reject: f64,
    pub auc: f64,
    pub val_faces: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportStage {
    pub up_to_date: bool,
    pub seconds: f64,
    pub dir: String,
    pub sha256: String,
    pub bytes: u64,
    pub labels: Vec<String>,
    /// Largest |Δprobability| between the graph and the trained model (the exporter's check).
    pub parity: Option<f32>,
    pub parity_faces: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StrangerFace {
    pub photo: String,
    /// The model's answer (`unknown` when rejected).
    pub label: String,
    pub probability: f32,
    /// The most probable person, whether or not accepted.
    pub best: String,
    /// Aligned crop, relative to the work folder.
    pub crop: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StrangersStage {
    pub up_to_date: bool,
    pub seconds: f64,
    pub folder: String,
    pub photos: usize,
    pub faces: usize,
    /// Faces answered `unknown`.
    pub unknown: usize,
    pub answers: Vec<StrangerFace>,
    /// Photos that could not be read, with the reason.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stages {
    pub fetch: FetchStage,
    pub crop: CropStage,
    pub prepare: PrepareStage,
    pub train: TrainStage,
    pub export: ExportStage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strangers: Option<StrangersStage>,
}

/// What `issc run` did and where everything is (`--json` prints it; `issc-run.json` keeps it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub format: String,
    pub config: String,
    pub work: String,
    pub engine: String,
    pub people: Vec<PersonSummary>,
    pub stages: Stages,
    pub test_accuracy: f64,
    pub open_set: OpenSetSummary,
    /// The exported model folder (`issc predict --model`, `issc serve`).
    pub model: String,
    pub report: String,
    pub seconds: f64,
}

/// A finished `issc run`.
pub struct Outcome {
    /// The exported model folder (model.onnx + model.json).
    pub model_dir: PathBuf,
    /// `report.html`.
    pub report: PathBuf,
    pub summary: Summary,
}

/// `issc run`: the pipeline, then the summary on stdout.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    let done = execute(ctx, &args)?;
    if args.json {
        out(&serde_json::to_string(&done.summary)?);
    } else {
        print_tail(&done);
    }
    if args.serve {
        return crate::serve::run(ctx, crate::serve::ServeArgs::for_model(done.model_dir, args.addr));
    }
    Ok(ExitCode::SUCCESS)
}

/// Run every stage of the pipeline that is not up to date and write the report; returns where the exported model
/// is (what `issc run --serve` serves).
pub fn execute(ctx: &Context, args: &RunArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let cfg = config::load(&args.config, args.work.as_deref())?;
    let file = show(&args.config);
    // Everything that can be refused is refused before anything is written.
    check_work_folder(&cfg.work)?;
    let raw = cfg.work.join(RAW);
    let entries = read_fetch_manifest(&raw);
    let searches = read_searches(&raw);
    let mut pending = Vec::new();
    for (i, p) in cfg.people.iter().enumerate() {
        let todo = fetch_pending(&cfg, p, &entries, &searches)
            .with_context(|| format!("{file}: [[person]] #{} (label = {:?})", i + 1, p.label))?;
        if todo
            && matches!(p.source, Source::Query(_))
            && std::env::var("SERPAPI_API_KEY").unwrap_or_default().trim().is_empty()
        {
            bail!(
                "{file}: [[person]] #{} (label = {:?}): query needs SERPAPI_API_KEY (a SerpAPI key) in the \
                 environment or in a .env file — never in the config; or give the photos with dir = \"folder\" \
                 or urls = \"file\"",
                i + 1,
                p.label
            );
        }
        pending.push(todo);
    }

    std::fs::create_dir_all(&cfg.work).with_context(|| format!("cannot create the work folder {}", show(&cfg.work)))?;
    let work = cfg.work.canonicalize().unwrap_or_else(|_| cfg.work.clone());
    let marker = json!({"format": "issc-run/1", "config": cfg.path.display().to_string(), "state": "running"});
    issc_core::write_atomic(&work.join(MARKER), format!("{marker:#}\n").as_bytes())
        .with_context(|| format!("cannot write {}", show(&work.join(MARKER))))?;
    let say = |line: String| {
        if !args.json {
            out(&line);
        }
    };
    if !args.json {
        out(&format!("issc run {} → {}", show(&cfg.path), show(&work)));
    }
    let mut summary = Summary {
        format: "issc-run/1".into(),
        config: cfg.path.display().to_string(),
        work: work.display().to_string(),
        ..Summary::default()
    };
    let raw = work.join(RAW);

    // 1. fetch
    let t = Instant::now();
    let mut fetch = FetchStage { up_to_date: !pending.contains(&true), ..FetchStage::default() };
    let mut searches = searches;
    for (p, todo) in cfg.people.iter().zip(&pending) {
        if !todo {
            continue;
        }
        let (_, s) = crate::fetch::fetch_label(ctx, &fetch_args(&cfg, p, &raw))
            .with_context(|| format!("fetch {} ({})", p.label, p.source.describe()))?;
        fetch.fetched += 1;
        fetch.downloaded += s.downloaded;
        fetch.duplicates += s.duplicates;
        fetch.rejected += s.rejected.values().sum::<usize>();
        fetch.failed += s.failed.values().sum::<usize>();
        if let Source::Query(q) = &p.source
            && s.search_error.is_none()
        {
            searches.insert(p.label.clone(), json!({"query": q, "max": p.max, "stored": s.stored_total}));
            let path = raw.join(SEARCHES);
            issc_core::write_atomic(&path, format!("{:#}\n", Value::Object(searches.clone())).as_bytes())
                .with_context(|| format!("cannot write {}", show(&path)))?;
        }
    }
    let entries = read_fetch_manifest(&raw);
    let mut people: Vec<PersonSummary> = cfg
        .people
        .iter()
        .map(|p| PersonSummary {
            label: p.label.clone(),
            source: p.source.kind().into(),
            from: match &p.source {
                Source::Dir(d) | Source::Urls(d) => show(d),
                Source::Query(q) => q.clone(),
            },
            photos: History::of(&entries, &p.label).stored,
            ..PersonSummary::default()
        })
        .collect();
    fetch.stored = people.iter().map(|p| p.photos).sum();
    fetch.seconds = t.elapsed().as_secs_f64();
    say(stage_line(
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
        eprintln!("warning: {}: no photos stored (see {})", p.label, show(&raw.join("manifest.jsonl")));
    }

    // 2. crop, and the faces kept
    let t = Instant::now();
    let crops = work.join(CROPS);
    let crop_args = crop_args(&cfg, &raw, &crops);
    // f32 settings written as they read in the config (0.6, not 0.6000000238418579).
    let short = |x: f32| x.to_string().parse::<f64>().unwrap_or(f64::from(x));
    let settings = json!({"mode": "aligned", "size": 112, "detector": cfg.crop.detector, "score": short(cfg.crop.score),
        "nms": short(cfg.crop.nms), "max_side": cfg.crop.max_side, "min_face": short(cfg.crop.min_face)});
    let settings_path = crops.join(CROP_SETTINGS);
    let same_settings = read_json(&settings_path).is_some_and(|s| s == settings);
    if !same_settings {
        // Other detector settings: every photo is cropped again (crops.jsonl does not record them). The settings
        // are written first, so that an interrupted crop continues on the next run.
        if crops.exists() {
            std::fs::remove_dir_all(&crops).with_context(|| format!("cannot clear {}", show(&crops)))?;
        }
        issc_core::write_atomic(&settings_path, format!("{settings:#}\n").as_bytes())
            .with_context(|| format!("cannot write {}", show(&settings_path)))?;
    }
    let (_, todo) = crate::crop::pending(&crop_args)?;
    let mut crop = CropStage { policy: cfg.crop.faces.name().into(), ..CropStage::default() };
    if todo > 0 {
        let s = crate::crop::crop(ctx, &crop_args).context("crop")?;
        crop.processed = s.processed;
    }
    let crop_entries = crate::crop::read_manifest(&crops.join(crate::crop::MANIFEST))?;
    let faces_dir = work.join(FACES);
    let sel = select_faces(&crop_entries, &cfg.people, cfg.crop.faces, &crops, &faces_dir)?;
    for p in &mut people {
        if let Some(c) = sel.per_label.get(&p.label) {
            (p.faces, p.kept, p.no_face, p.unreadable) = (c.faces, c.kept, c.no_face, c.unreadable);
        }
    }
    crop.up_to_date = crop.processed == 0 && !sel.changed;
    crop.photos = sel.per_label.values().map(|c| c.photos).sum();
    crop.faces = sel.per_label.values().map(|c| c.faces).sum();
    crop.no_face = sel.per_label.values().map(|c| c.no_face).sum();
    crop.unreadable = sel.per_label.values().map(|c| c.unreadable).sum();
    crop.kept = sel.per_label.values().map(|c| c.kept).sum();
    crop.left_out = crop.faces - crop.kept;
    crop.seconds = t.elapsed().as_secs_f64();
    say(stage_line(
        "crop",
        crop.up_to_date,
        &format!(
            "{} photos · {} faces, {} without a face, {} unreadable · kept {} ({}){}",
            crop.photos,
            crop.faces,
            crop.no_face,
            crop.unreadable,
            crop.kept,
            match cfg.crop.faces {
                FacesPolicy::Largest => "the largest face of each photo",
                FacesPolicy::Best => "the best-scoring face of each photo",
                FacesPolicy::All => "every face",
            },
            if crop.left_out > 0 { format!(", {} left out", crop.left_out) } else { String::new() }
        ),
        crop.seconds,
    ));
    if crop.kept == 0 {
        bail!(
            "no faces to train on: the photos of {} hold no face the detector found (see {})",
            show(&raw),
            show(&crops.join(crate::crop::MANIFEST))
        );
    }

    // 3. prepare
    let t = Instant::now();
    let dataset = work.join(DATASET);
    let popts = issc_dataset::PrepareOptions {
        split: cfg.prepare.split,
        seed: cfg.prepare.seed,
        phash_distance: cfg.prepare.phash_distance,
        mirror: cfg.prepare.mirror,
        min_per_label: cfg.prepare.min_per_label,
        materialize: issc_dataset::Materialize::Copy,
        load: ctx.load,
    };
    let rep = issc_dataset::prepare(&faces_dir, &dataset, &popts, &|_, _| {}).context("prepare")?;
    let (tr, va, te, rm) = rep.totals();
    let m = &rep.manifest;
    let prepare = PrepareStage {
        up_to_date: rep.up_to_date,
        seconds: t.elapsed().as_secs_f64(),
        files: m.files.len(),
        train: tr,
        val: va,
        test: te,
        removed: rm,
        removed_by_reason: m.removed_by_reason.clone(),
        near_duplicate_pairs: m.near_duplicates.len(),
        skipped_labels: m.labels.iter().filter(|(_, c)| c.skipped).map(|(l, _)| l.clone()).collect(),
    };
    for p in &mut people {
        if let Some(c) = m.labels.get(&p.label) {
            (p.train, p.val, p.test, p.removed, p.left_out) = (c.train, c.val, c.test, c.removed, c.skipped);
        }
    }
    let removed = if prepare.removed_by_reason.is_empty() {
        String::new()
    } else {
        let r: Vec<String> = prepare.removed_by_reason.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!(" ({})", r.join(", "))
    };
    say(stage_line(
        "prepare",
        prepare.up_to_date,
        &format!(
            "{} faces · train {} · val {} · test {} · removed {}{removed} · {} near-duplicate pairs",
            prepare.files, prepare.train, prepare.val, prepare.test, prepare.removed, prepare.near_duplicate_pairs
        ),
        prepare.seconds,
    ));
    for l in &prepare.skipped_labels {
        eprintln!(
            "warning: {l}: left out of the dataset, fewer than [prepare] min_per_label = {} usable faces",
            cfg.prepare.min_per_label
        );
    }

    // 4. train
    let t = Instant::now();
    let run_name = cfg.train.name.clone().unwrap_or_else(|| mode_name(cfg.train.mode).into());
    let run_dir = work.join(RUNS).join(&run_name);
    let mut targs = train_args(&cfg, &dataset, &run_dir, &work.join(CACHE));
    let topts = crate::train::options(&targs);
    let state = run_state(&run_dir, &topts, &m.fingerprint)?;
    let mut train = TrainStage { up_to_date: state == RunState::UpToDate, ..TrainStage::default() };
    match state {
        RunState::UpToDate => {}
        RunState::Interrupted => {
            targs.resume = true;
            train.resumed = true;
        }
        RunState::Stale => {
            std::fs::remove_dir_all(&run_dir).with_context(|| format!("cannot clear {}", show(&run_dir)))?;
        }
        RunState::Missing => {}
    }
    if state != RunState::UpToDate {
        crate::train::train(ctx, &targs).context("train")?;
    }
    let card = read_json(&run_dir.join("model.json"))
        .with_context(|| format!("{}: no readable model.json after training", show(&run_dir)))?;
    let metrics = &card["metrics"];
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let count = |v: &Value| v.as_u64().unwrap_or(0) as usize;
    train.seconds = t.elapsed().as_secs_f64();
    train.run = run_dir.display().to_string();
    train.mode = card["mode"].as_str().unwrap_or_default().into();
    train.labels = card["labels"].as_array().map_or(0, Vec::len);
    train.train_faces = count(&metrics["train_faces"]);
    train.val_faces = count(&metrics["val_faces"]);
    train.test_faces = count(&metrics["test_faces"]);
    train.epochs = count(&metrics["epochs"]);
    train.best_epoch = count(&metrics["best_epoch"]);
    train.stopped_early = metrics["stopped_early"].as_bool().unwrap_or(false);
    train.val_accuracy = num(&metrics["val_accuracy"]);
    train.test_accuracy = num(&metrics["test_accuracy"]);
    let os = &card["open_set"];
    let chosen = os["chosen"].as_str().unwrap_or("max_probability").to_string();
    summary.open_set = OpenSetSummary {
        threshold: num(&os[&chosen]["threshold"]),
        known_accept: num(&os[&chosen]["known_accept"]),
        unknown_reject: num(&os[&chosen]["unknown_reject"]),
        auc: num(&os[&chosen]["auc"]),
        val_faces: count(&os["val_faces"]),
        rule: chosen,
    };
    summary.test_accuracy = train.test_accuracy;
    say(stage_line(
        "train",
        train.up_to_date,
        &format!(
            "{} · {} people · {} epochs (best {}{}){} · val accuracy {:.3}",
            train.mode,
            train.labels,
            train.epochs,
            train.best_epoch,
            if train.stopped_early { ", early stop" } else { "" },
            if train.resumed { " resumed" } else { "" },
            train.val_accuracy
        ),
        train.seconds,
    ));

    // 5. export
    let t = Instant::now();
    let model_dir = work.join(MODEL);
    let mut export = ExportStage { up_to_date: export_up_to_date(&model_dir, &run_dir, &card), ..Default::default() };
    if !export.up_to_date {
        ctx.engine()?;
        let models = ctx.models()?;
        issc_export::export_run(&run_dir, &model_dir, models, &issc_export::ExportOptions::default())
            .context("export")?;
    }
    let mcard = read_card(&model_dir)?;
    export.seconds = t.elapsed().as_secs_f64();
    export.dir = model_dir.display().to_string();
    export.sha256 = mcard.model.sha256.clone();
    export.bytes = mcard.model.bytes;
    export.labels = mcard.labels.clone();
    export.parity = mcard.export_check.as_ref().map(|c| c.max_abs_diff_probabilities);
    export.parity_faces = mcard.export_check.as_ref().map(|c| c.faces);
    say(stage_line(
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

    // 6. strangers (optional)
    let strangers = match &cfg.strangers {
        Some(folder) => {
            let s = strangers_stage(ctx, &cfg, folder, &work, &model_dir, &mcard)?;
            say(stage_line(
                "strangers",
                s.up_to_date,
                &format!(
                    "{} faces in {} photos of people not trained on · {} answered unknown{}",
                    s.faces,
                    s.photos,
                    s.unknown,
                    if s.unknown < s.faces {
                        let named: Vec<String> = s
                            .answers
                            .iter()
                            .filter(|a| a.label != issc_predict::UNKNOWN)
                            .map(|a| format!("{} as {}", a.photo, a.label))
                            .collect();
                        format!(" (taken for someone: {})", named.join(", "))
                    } else {
                        String::new()
                    }
                ),
                s.seconds,
            ));
            Some(s)
        }
        None => None,
    };

    summary.engine =
        issc_detect::engine_info().map_or_else(|| "none needed (every stage up to date)".into(), |e| e.to_string());
    summary.people = people;
    summary.stages = Stages { fetch, crop, prepare, train, export, strangers };
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
        crops: &crop_entries,
        originals: &originals,
        kept: &sel.kept,
        dataset: m,
        run_dir: &run_dir,
        train_card: &card,
        test: read_json(&run_dir.join("test.json")).as_ref(),
        model: &mcard,
    });
    issc_core::write_atomic(&report_path, html.as_bytes())
        .with_context(|| format!("cannot write {}", show(&report_path)))?;
    let mut done = serde_json::to_value(&summary)?;
    done["state"] = "done".into();
    issc_core::write_atomic(&work.join(MARKER), format!("{done:#}\n").as_bytes())
        .with_context(|| format!("cannot write {}", show(&work.join(MARKER))))?;
    Ok(Outcome { model_dir, report: report_path, summary })
}

fn stage_line(name: &str, up_to_date: bool, what: &str, seconds: f64) -> String {
    let state = if up_to_date { "up to date" } else { "done" };
    format!("  {name:<9} {state:<10}  {what} · {seconds:.1} s")
}

/// A line on stdout; a closed stdout (`issc run | head`) does not stop the run.
fn out(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn print_tail(o: &Outcome) {
    let s = &o.summary;
    let t = &s.stages.train;
    out(&format!("test accuracy: {:.3} on {} faces (best epoch {})", t.test_accuracy, t.test_faces, t.best_epoch));
    let os = &s.open_set;
    out(&format!(
        "unknown rejection: {} ≥ {:.4} · on validation: known people accepted {:.3}, unknown rejected {:.3} \
         (AUC {:.3})",
        os.rule, os.threshold, os.known_accept, os.unknown_reject, os.auc
    ));
    let model = show(&o.model_dir);
    out(&format!("model:  {model}  (issc predict --model {model} photo.jpg)"));
    out(&format!("report: {}", show(&o.report)));
    out(&format!("engine: {}", s.engine));
    out(&format!("total:  {:.1} s", s.seconds));
}

fn mode_name(m: config::TrainMode) -> &'static str {
    match m {
        config::TrainMode::Head => "head",
        config::TrainMode::Finetune => "finetune",
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The work folder is new, empty, or one of ours (never fill a folder of something else).
fn check_work_folder(work: &Path) -> anyhow::Result<()> {
    if !work.exists() {
        return Ok(());
    }
    if !work.is_dir() {
        bail!("work folder {} is not a folder", show(work));
    }
    let empty = std::fs::read_dir(work).with_context(|| format!("cannot list {}", show(work)))?.next().is_none();
    if !empty && !work.join(MARKER).is_file() {
        bail!(
            "work folder {} is not empty and was not made by `issc run` (no {MARKER}); choose a new or empty folder \
             (work = \"...\" in the config, or --work DIR)",
            show(work)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// fetch

/// `raw/manifest.jsonl`, read only (a missing file is empty).
fn read_fetch_manifest(raw: &Path) -> Vec<Entry> {
    let Ok(f) = std::fs::File::open(raw.join("manifest.jsonl")) else {
        return vec![];
    };
    std::io::BufReader::new(f).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect()
}

/// `raw/searches.json`: the SerpAPI searches done per label (query, max).
fn read_searches(raw: &Path) -> serde_json::Map<String, Value> {
    match read_json(&raw.join(SEARCHES)) {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Whether a person's photos still need fetching.
fn fetch_pending(
    cfg: &Config,
    p: &Person,
    entries: &[Entry],
    searches: &serde_json::Map<String, Value>,
) -> anyhow::Result<bool> {
    let h = History::of(entries, &p.label);
    if h.stored >= p.max {
        return Ok(false);
    }
    let candidates = match &p.source {
        Source::Dir(d) => issc_downloader::provider::read_dir(d)?,
        Source::Urls(f) => issc_downloader::provider::read_url_list(f)?,
        Source::Query(q) => {
            // Searched before with this query and at least this max: the search gave what it had.
            let s = searches.get(&p.label);
            let same = s.is_some_and(|s| s["query"] == q.as_str() && s["max"].as_u64().unwrap_or(0) >= p.max as u64);
            return Ok(!same);
        }
    };
    let blacklist = match &cfg.fetch.blacklist {
        Some(b) => issc_downloader::Blacklist::from_file(b).with_context(|| format!("cannot read {}", show(b)))?,
        None => issc_downloader::Blacklist::default(),
    };
    Ok(candidates.iter().any(|c| {
        !h.done.contains_key(&c.url)
            && h.failures.get(&c.url).copied().unwrap_or(0) < cfg.fetch.fail_limit
            && url::Url::parse(&c.url).ok().and_then(|u| blacklist.blocks(&u)).is_none()
    }))
}

fn fetch_args(cfg: &Config, p: &Person, raw: &Path) -> FetchArgs {
    let f = &cfg.fetch;
    let (provider, query, urls, dir) = match &p.source {
        Source::Dir(d) => (ProviderArg::Dir, None, None, Some(d.clone())),
        Source::Urls(u) => (ProviderArg::Urls, None, Some(u.clone()), None),
        Source::Query(q) => (ProviderArg::Serpapi, Some(q.clone()), None, None),
    };
    FetchArgs {
        query,
        label: Some(p.label.clone()),
        out: raw.to_path_buf(),
        provider: Some(provider),
        urls,
        dir,
        max: p.max,
        concurrency: f.concurrency,
        per_host: f.per_host,
        timeout: f.timeout,
        connect_timeout: f.connect_timeout,
        max_bytes: f.max_bytes,
        min_side: f.min_side,
        retries: f.retries,
        max_redirects: f.max_redirects,
        fail_limit: f.fail_limit,
        blacklist: f.blacklist.clone(),
        serpapi_url: f
            .serpapi_url
            .clone()
            .or_else(|| std::env::var("SERPAPI_URL").ok())
            .unwrap_or_else(|| issc_downloader::SERPAPI_URL.into()),
        json: false,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// crop

fn crop_args(cfg: &Config, raw: &Path, crops: &Path) -> CropArgs {
    CropArgs {
        input: raw.to_path_buf(),
        out: crops.to_path_buf(),
        mode: CropMode::Aligned,
        size: 112,
        margin: 0.2,
        min_face: cfg.crop.min_face,
        json: false,
        detector: detector_args(cfg),
    }
}

fn detector_args(cfg: &Config) -> DetectorArgs {
    DetectorArgs {
        detector: match cfg.crop.detector {
            config::DetectorName::Yunet => DetectorArg::Yunet,
            config::DetectorName::Retinaface => DetectorArg::Retinaface,
        },
        score_threshold: cfg.crop.score,
        nms_threshold: cfg.crop.nms,
        max_side: cfg.crop.max_side,
    }
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

/// Keep the faces `policy` says of each photo of the configured people: `faces/<label>/<crop>` mirrors the chosen
/// crops of `crops/` (copied; files no longer chosen and folders of people no longer listed are removed).
fn select_faces(
    entries: &[CropEntry],
    people: &[Person],
    policy: FacesPolicy,
    crops: &Path,
    faces: &Path,
) -> anyhow::Result<Selection> {
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
        let ok: Vec<&CropEntry> =
            es.iter().copied().filter(|e| e.status == CropStatus::Ok && e.crop.is_some()).collect();
        c.no_face += usize::from(es.iter().any(|e| e.status == CropStatus::NoFace));
        c.unreadable += usize::from(es.iter().any(|e| e.status == CropStatus::Error));
        c.faces += ok.len();
        let area = |e: &CropEntry| e.bbox.map_or(0.0, |b| b[2] * b[3]);
        let index = |e: &CropEntry| e.face_index.unwrap_or(usize::MAX);
        let chosen: Vec<&CropEntry> = match policy {
            FacesPolicy::All => ok,
            FacesPolicy::Best => ok.into_iter().min_by_key(|e| index(e)).into_iter().collect(),
            FacesPolicy::Largest => ok
                .into_iter()
                .max_by(|a, b| area(a).total_cmp(&area(b)).then(index(b).cmp(&index(a))))
                .into_iter()
                .collect(),
        };
        c.kept += chosen.len();
        kept.extend(chosen.iter().filter_map(|e| e.crop.clone()));
    }

    // Sync faces/ with the choice.
    let mut changed = false;
    if faces.is_dir() {
        for d in std::fs::read_dir(faces).with_context(|| format!("cannot list {}", show(faces)))? {
            let d = d?;
            let name = d.file_name().to_string_lossy().into_owned();
            let path = d.path();
            if !path.is_dir() || !labels.contains(name.as_str()) {
                if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }
                    .with_context(|| format!("cannot remove {}", show(&path)))?;
                changed = true;
                continue;
            }
            for f in std::fs::read_dir(&path)? {
                let f = f?;
                let rel = format!("{name}/{}", f.file_name().to_string_lossy());
                if !kept.contains(&rel) {
                    let fp = f.path();
                    if fp.is_dir() { std::fs::remove_dir_all(&fp) } else { std::fs::remove_file(&fp) }
                        .with_context(|| format!("cannot remove {}", show(&fp)))?;
                    changed = true;
                }
            }
        }
    }
    for rel in &kept {
        let (src, dst) = (crops.join(rel), faces.join(rel));
        let bytes = std::fs::read(&src).with_context(|| format!("cannot read {}", show(&src)))?;
        if std::fs::read(&dst).ok().as_deref() != Some(bytes.as_slice()) {
            issc_core::write_atomic(&dst, &bytes).with_context(|| format!("cannot write {}", show(&dst)))?;
            changed = true;
        }
    }
    Ok(Selection { per_label, kept, changed })
}

// ---------------------------------------------------------------------------------------------------------------
// train

fn train_args(cfg: &Config, dataset: &Path, run_dir: &Path, cache: &Path) -> TrainArgs {
    let t = &cfg.train;
    TrainArgs {
        data: dataset.to_path_buf(),
        out: run_dir.to_path_buf(),
        mode: match t.mode {
            config::TrainMode::Head => TrainModeArg::Head,
            config::TrainMode::Finetune => TrainModeArg::Finetune,
        },
        epochs: t.epochs,
        patience: t.patience,
        lr: t.lr,
        weight_decay: t.weight_decay.unwrap_or(1e-4),
        batch: t.batch,
        seed: t.seed.unwrap_or(42),
        hidden: t.hidden,
        unfreeze: t.unfreeze.unwrap_or(2),
        backbone_lr_scale: t.backbone_lr_scale.unwrap_or(0.01),
        device: DeviceArg::Cpu,
        precision: PrecisionArg::F32,
        no_augment: !t.augment.unwrap_or(true),
        resume: false,
        cache: Some(std::env::var_os("ISSC_CACHE_DIR").map_or_else(|| cache.to_path_buf(), PathBuf::from)),
        json: false,
    }
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
fn run_state(run_dir: &Path, opts: &issc_train::TrainOptions, fingerprint: &str) -> anyhow::Result<RunState> {
    if !run_dir.exists() {
        return Ok(RunState::Missing);
    }
    let config = read_json(&run_dir.join("config.json"));
    let Some(config) = config else {
        let empty = std::fs::read_dir(run_dir)?.next().is_none();
        if empty || run_dir.join("checkpoints").is_dir() {
            return Ok(RunState::Stale);
        }
        bail!("{} is not a training run (no config.json); move it away", show(run_dir));
    };
    let o = json!(opts);
    let mut same =
        ["mode", "patience", "lr", "weight_decay", "batch", "seed", "epochs"].iter().all(|k| config[k] == o[k])
            && config["head"]["hidden"] == o["hidden"]
            && config["dataset_fingerprint"] == fingerprint;
    if opts.mode == issc_train::Mode::Finetune {
        same &= config["unfreeze"] == o["unfreeze"]
            && config["backbone_lr_scale"] == o["backbone_lr_scale"]
            && config["augment"] == o["augment"];
    }
    if !same {
        return Ok(RunState::Stale);
    }
    let card = read_json(&run_dir.join("model.json"));
    match card {
        Some(c) if c["training"]["dataset_fingerprint"] == fingerprint && run_dir.join("best/model.bpk").is_file() => {
            Ok(RunState::UpToDate)
        }
        _ => Ok(RunState::Interrupted),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// export

fn read_card(model_dir: &Path) -> anyhow::Result<issc_predict::ModelCard> {
    let path = model_dir.join(issc_predict::CARD_FILE);
    let text = std::fs::read(&path).with_context(|| format!("cannot read {}", show(&path)))?;
    Ok(issc_predict::ModelCard::from_json(&text, &path)?)
}

/// The export in `model_dir` is of this run as it is now, and its graph is intact.
fn export_up_to_date(model_dir: &Path, run_dir: &Path, train_card: &Value) -> bool {
    let Ok(card) = read_card(model_dir) else {
        return false;
    };
    let same_run = card.training["run"] == run_dir.display().to_string()
        && card.training["settings"] == train_card["training"]
        && card.metrics == train_card["metrics"]
        && json!(card.labels) == train_card["labels"];
    same_run
        && std::fs::read(model_dir.join(&card.model.file))
            .is_ok_and(|b| issc_predict::sha256_hex(&b) == card.model.sha256)
}

// ---------------------------------------------------------------------------------------------------------------
// strangers

fn is_photo(p: &Path) -> bool {
    const NOT: [&str; 10] = ["json", "jsonl", "csv", "tsv", "txt", "md", "log", "toml", "yaml", "yml"];
    let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
    let meta = p.extension().and_then(|e| e.to_str()).is_some_and(|e| NOT.contains(&e.to_ascii_lowercase().as_str()));
    p.is_file() && !hidden && !meta
}

/// Label every face of the photos in `folder` (people not trained on) with the exported model; results cached in
/// `strangers/results.json` by the model's and the photos' hashes.
fn strangers_stage(
    ctx: &Context,
    cfg: &Config,
    folder: &Path,
    work: &Path,
    model_dir: &Path,
    card: &issc_predict::ModelCard,
) -> anyhow::Result<StrangersStage> {
    let t = Instant::now();
    let mut photos: Vec<PathBuf> = walkdir::WalkDir::new(folder)
        .max_depth(2)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| is_photo(p))
        .collect();
    photos.sort();
    let mut key = format!("{}\n", card.model.sha256);
    for p in &photos {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", show(p)))?;
        key.push_str(&format!("{} {}\n", p.display(), issc_predict::sha256_hex(&bytes)));
    }
    let key = issc_predict::sha256_hex(key.as_bytes());
    let out = work.join(STRANGERS);
    let results_path = out.join(STRANGER_RESULTS);
    if let Some(v) = read_json(&results_path)
        && v["key"] == key.as_str()
        && let Ok(mut s) = serde_json::from_value::<StrangersCache>(v)
    {
        let crops_present = s.stage.answers.iter().all(|a| work.join(&a.crop).is_file());
        if crops_present {
            s.stage.up_to_date = true;
            s.stage.seconds = t.elapsed().as_secs_f64();
            return Ok(s.stage);
        }
    }
    ctx.engine()?;
    let predictor = issc_predict::Predictor::open(model_dir)
        .with_context(|| format!("cannot load the model in {}", show(model_dir)))?;
    let pipeline = ctx.pipeline(&detector_args(cfg), cfg.crop.min_face, false)?;
    let mut stage = StrangersStage { folder: folder.display().to_string(), photos: photos.len(), ..Default::default() };
    if out.is_dir() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", show(&out)))?;
    }
    for (i, p) in photos.iter().enumerate() {
        let name = p.strip_prefix(folder).unwrap_or(p).display().to_string();
        let photo = match pipeline.load(p, &ctx.load) {
            Ok(photo) => photo,
            Err(e) => {
                stage.errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        let faces = predictor.predict_photo(pipeline.detector(), &photo, 1).with_context(|| show(p))?.faces;
        for (n, f) in faces.iter().enumerate() {
            let Some(aligned) =
                issc_detect::align_from_photo(&photo, &f.face.landmarks, 112).with_context(|| show(p))?.0
            else {
                continue;
            };
            let rel = format!("{STRANGERS}/{i:03}_{n}.png");
            let mut png = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut png),
                aligned.as_raw(),
                aligned.width(),
                aligned.height(),
                image::ExtendedColorType::Rgb8,
            )?;
            issc_core::write_atomic(&work.join(&rel), &png).with_context(|| format!("cannot write {rel}"))?;
            stage.faces += 1;
            stage.unknown += usize::from(f.label.label.is_none());
            stage.answers.push(StrangerFace {
                photo: name.clone(),
                label: f.label.name().into(),
                probability: f.label.probability,
                best: f.label.top_k.first().map(|c| c.label.clone()).unwrap_or_default(),
                crop: rel,
            });
        }
    }
    let cache = StrangersCache { key, stage: stage.clone() };
    issc_core::write_atomic(&results_path, format!("{:#}\n", serde_json::to_value(&cache)?).as_bytes())
        .with_context(|| format!("cannot write {}", show(&results_path)))?;
    stage.seconds = t.elapsed().as_secs_f64();
    Ok(stage)
}

#[derive(Serialize, Deserialize)]
struct StrangersCache {
    key: String,
    stage: StrangersStage,
}
