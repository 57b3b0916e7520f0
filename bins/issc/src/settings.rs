//! One configuration model for every subcommand, on the `config` crate: the libraries' defaults < `issc.toml`
//! (found like `.env`: the current folder, then each parent; or `--settings FILE` / `ISSC_SETTINGS`) <
//! `ISSC_<SECTION>__<KEY>` environment variables < command-line flags. Unknown keys are refused with the accepted
//! ones listed. Secrets are never settings: `SERPAPI_API_KEY` and the server's API keys come from the environment
//! or `.env` only. `issc config` prints the effective settings and where each came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::ArgMatches;
use clap::parser::ValueSource;
use config::{Config, Environment, File, FileFormat};
use issc_pipeline::{DetectorSettings, FetchSettings, PrepareSection, TrainSettings};
use serde::{Deserialize, Serialize};

/// The settings file's name.
pub const FILE: &str = "issc.toml";

/// Every section of `issc.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[detector]`: every command that finds faces.
    pub detector: DetectorSettings,
    /// `[fetch]`: `issc fetch` (and `issc run` under its pipeline file's `[fetch]`).
    pub fetch: FetchSettings,
    /// `[prepare]`: `issc prepare`.
    pub prepare: PrepareSection,
    /// `[train]`: `issc train`.
    pub train: TrainSettings,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The library's default.
    Default,
    /// `issc.toml`.
    File,
    /// An environment variable.
    Env,
    /// A command-line flag.
    Flag,
}

/// The effective settings and the origin of each key (`section.key`).
pub struct Layered {
    pub settings: Settings,
    pub origins: BTreeMap<String, Origin>,
    /// The `issc.toml` read, if any.
    pub file: Option<PathBuf>,
}

/// Detector flags (every command that finds faces): `(clap id, key)`.
const DETECTOR_FLAGS: &[(&str, &str)] = &[
    ("detector", "detector.detector"),
    ("score_threshold", "detector.score"),
    ("nms_threshold", "detector.nms"),
    ("max_side", "detector.max_side"),
];

/// `issc fetch`'s flags that are settings.
const FETCH_FLAGS: &[(&str, &str)] = &[
    ("max", "fetch.max"),
    ("concurrency", "fetch.concurrency"),
    ("per_host", "fetch.per_host"),
    ("timeout", "fetch.timeout"),
    ("connect_timeout", "fetch.connect_timeout"),
    ("max_bytes", "fetch.max_bytes"),
    ("min_side", "fetch.min_side"),
    ("retries", "fetch.retries"),
    ("max_redirects", "fetch.max_redirects"),
    ("fail_limit", "fetch.fail_limit"),
    ("blacklist", "fetch.blacklist"),
    ("license", "fetch.license"),
    ("serpapi_url", "fetch.serpapi_url"),
    ("commons_url", "fetch.commons_url"),
    ("bing_url", "fetch.bing_url"),
];

/// `issc prepare`'s.
const PREPARE_FLAGS: &[(&str, &str)] = &[
    ("seed", "prepare.seed"),
    ("phash_distance", "prepare.phash_distance"),
    ("min_per_label", "prepare.min_per_label"),
];

/// `issc train`'s.
const TRAIN_FLAGS: &[(&str, &str)] = &[
    ("mode", "train.mode"),
    ("epochs", "train.epochs"),
    ("patience", "train.patience"),
    ("lr", "train.lr"),
    ("weight_decay", "train.weight_decay"),
    ("batch", "train.batch"),
    ("seed", "train.seed"),
    ("hidden", "train.hidden"),
    ("unfreeze", "train.unfreeze"),
    ("backbone_lr_scale", "train.backbone_lr_scale"),
    ("device", "train.device"),
    ("precision", "train.precision"),
    ("cache", "train.cache"),
];

/// The settings flags of subcommand `sub`.
fn flag_keys(sub: &str) -> Vec<(&'static str, &'static str)> {
    match sub {
        "fetch" => FETCH_FLAGS.to_vec(),
        "prepare" => PREPARE_FLAGS.to_vec(),
        "train" => TRAIN_FLAGS.to_vec(),
        "detect" | "embed" | "verify" | "crop" | "bench" | "predict" | "serve" => DETECTOR_FLAGS.to_vec(),
        _ => vec![],
    }
}

/// `issc.toml`: `explicit`, else the first found in the current folder or a parent.
fn find_file(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join(FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// `ISSC_<SECTION>__<KEY>` variables (lower-cased to `section.key`), plus the older names `SERPAPI_URL` and
/// `ISSC_CACHE_DIR`.
fn env_settings() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in std::env::vars() {
        if let Some(rest) = k.strip_prefix("ISSC_")
            && rest.contains("__")
        {
            out.insert(rest.to_ascii_lowercase().replace("__", "."), v);
        }
    }
    for (var, key) in [("SERPAPI_URL", "fetch.serpapi_url"), ("ISSC_CACHE_DIR", "train.cache")] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            out.entry(key.to_string()).or_insert(v);
        }
    }
    out
}

/// The flags given on the command line (not defaults, not clap's own environment fallbacks), as settings keys.
fn flag_settings(matches: Option<(&str, &ArgMatches)>) -> BTreeMap<String, config::Value> {
    let mut out = BTreeMap::new();
    let Some((sub, m)) = matches else { return out };
    let given = |id: &str| m.ids().any(|i| i.as_str() == id) && m.value_source(id) == Some(ValueSource::CommandLine);
    for (id, key) in flag_keys(sub) {
        if given(id)
            && let Some(v) = m.get_raw(id).and_then(|mut v| v.next())
        {
            out.insert(key.to_string(), config::Value::from(v.to_string_lossy().into_owned()));
        }
    }
    if sub == "prepare"
        && given("split")
        && let Some(v) = m.get_raw("split").and_then(|mut v| v.next())
    {
        let parts: Vec<config::Value> = v.to_string_lossy().split(',').map(|p| p.trim().to_string().into()).collect();
        out.insert("prepare.split".into(), config::Value::from(parts));
    }
    if sub == "prepare" && given("no_mirror") && m.get_flag("no_mirror") {
        out.insert("prepare.mirror".into(), config::Value::from(false));
    }
    if sub == "train" && given("no_augment") && m.get_flag("no_augment") {
        out.insert("train.augment".into(), config::Value::from(false));
    }
    out
}

/// Every leaf key of a settings tree, as `section.key`.
fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                keys(v, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// The effective settings for subcommand `matches` (its name and arguments); `explicit`: `--settings FILE`.
pub fn load(explicit: Option<&Path>, matches: Option<(&str, &ArgMatches)>) -> anyhow::Result<Layered> {
    let defaults = Settings::default();
    let mut builder = Config::builder().add_source(Config::try_from(&defaults).context("default settings")?);
    let file = find_file(explicit);
    let mut file_keys = Vec::new();
    if let Some(f) = &file {
        let text = issc_core::read_text_capped(f, 1 << 20)
            .with_context(|| format!("{}: cannot read the settings file", f.display()))?;
        let parsed: toml::Value =
            toml::from_str(&text).with_context(|| format!("{}: not a TOML settings file", f.display()))?;
        keys(&serde_json::to_value(&parsed)?, "", &mut file_keys);
        builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
    }
    let env = env_settings();
    let env_map: config::Map<String, String> = env.iter().map(|(k, v)| (k.replace('.', "__"), v.clone())).collect();
    builder = builder.add_source(Environment::default().separator("__").try_parsing(true).source(Some(env_map)));
    let flags = flag_settings(matches);
    for (k, v) in &flags {
        builder = builder.set_override(k.as_str(), v.clone()).context("a flag")?;
    }
    let built = builder.build().context("cannot combine the settings")?;
    let settings: Settings = built.try_deserialize().map_err(|e| {
        let place = file.as_ref().map_or_else(|| "settings".to_string(), |f| f.display().to_string());
        anyhow::anyhow!(
            "{place}: {e}\n(sections: [detector], [fetch], [prepare], [train]; environment: ISSC_<SECTION>__<KEY>, \
             e.g. ISSC_FETCH__MAX=50; `issc config` lists every key)"
        )
    })?;
    let mut all = Vec::new();
    keys(&serde_json::to_value(&settings)?, "", &mut all);
    let origins = all
        .into_iter()
        .map(|k| {
            let o = if flags.contains_key(&k) {
                Origin::Flag
            } else if env.contains_key(&k) {
                Origin::Env
            } else if file_keys.contains(&k) {
                Origin::File
            } else {
                Origin::Default
            };
            (k, o)
        })
        .collect();
    Ok(Layered { settings, origins, file })
}

impl Layered {
    /// The effective fetch settings, with the SerpAPI key from the environment.
    pub fn fetch(&self) -> FetchSettings {
        let mut f = self.settings.fetch.clone();
        f.serpapi_key = crate::cli::serpapi_key();
        f
    }
}

/// `issc config`: every effective setting, its value and where it came from; secrets only as set / not set.
pub fn print(l: &Layered, json: bool) -> anyhow::Result<()> {
    let values = serde_json::to_value(&l.settings)?;
    let mut all = Vec::new();
    keys(&values, "", &mut all);
    let get = |k: &str| k.split('.').fold(&values, |v, part| &v[part]).clone();
    let secrets = [
        ("SERPAPI_API_KEY", std::env::var("SERPAPI_API_KEY").is_ok_and(|v| !v.trim().is_empty())),
        ("ISSC_API_KEYS", std::env::var("ISSC_API_KEYS").is_ok_and(|v| !v.trim().is_empty())),
        ("AZURE_FACE_KEY", std::env::var("AZURE_FACE_KEY").is_ok_and(|v| !v.trim().is_empty())),
    ];
    if json {
        let settings: serde_json::Map<String, serde_json::Value> =
            all.iter().map(|k| (k.clone(), serde_json::json!({"value": get(k), "from": l.origins.get(k)}))).collect();
        let secrets: serde_json::Map<String, serde_json::Value> = secrets
            .iter()
            .map(|(k, set)| ((*k).to_string(), if *set { "set (redacted)" } else { "not set" }.into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({"file": l.file.as_ref().map(|f| f.display().to_string()), "settings": settings,
                "secrets": secrets})
        );
        return Ok(());
    }
    println!(
        "settings file: {}",
        l.file.as_ref().map_or_else(|| format!("none ({FILE} not found)"), |f| f.display().to_string())
    );
    for k in &all {
        let origin = match l.origins.get(k) {
            Some(Origin::Flag) => "flag",
            Some(Origin::Env) => "environment",
            Some(Origin::File) => "file",
            _ => "default",
        };
        println!("{k:<28} = {:<40} ({origin})", get(k).to_string());
    }
    for (k, set) in secrets {
        println!("{k:<28}   {} (environment or .env only)", if set { "set, redacted" } else { "not set" });
    }
    Ok(())
}
