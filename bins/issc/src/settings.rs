//! The command line's part of the configuration model ([`issc_pipeline::settings`]): which flags are settings, and
//! what `issc config` prints. Defaults < `issc.toml` (or `--settings FILE` / `ISSC_SETTINGS`) <
//! `ISSC_<SECTION>__<KEY>` < flags, for every subcommand.

use std::collections::BTreeMap;
use std::path::Path;

use clap::ArgMatches;
use clap::parser::ValueSource;
use issc_pipeline::settings::{self, Layered, SettingValue};

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
fn flag_keys(sub: &str) -> &'static [(&'static str, &'static str)] {
    match sub {
        "fetch" => FETCH_FLAGS,
        "prepare" => PREPARE_FLAGS,
        "train" => TRAIN_FLAGS,
        "detect" | "embed" | "verify" | "crop" | "bench" | "predict" | "serve" => DETECTOR_FLAGS,
        _ => &[],
    }
}

/// The flags given on the command line (not defaults, not clap's own environment fallbacks), as settings keys.
fn flag_settings(matches: Option<(&str, &ArgMatches)>) -> BTreeMap<String, SettingValue> {
    let mut out = BTreeMap::new();
    let Some((sub, m)) = matches else { return out };
    let given = |id: &str| m.ids().any(|i| i.as_str() == id) && m.value_source(id) == Some(ValueSource::CommandLine);
    let raw = |id: &str| m.get_raw(id).and_then(|mut v| v.next()).map(|v| v.to_string_lossy().into_owned());
    for (id, key) in flag_keys(sub) {
        if given(id)
            && let Some(v) = raw(id)
        {
            out.insert((*key).to_string(), SettingValue::from(v));
        }
    }
    if sub == "prepare"
        && given("split")
        && let Some(v) = raw("split")
    {
        let parts: Vec<SettingValue> = v.split(',').map(|p| p.trim().to_string().into()).collect();
        out.insert("prepare.split".into(), SettingValue::from(parts));
    }
    for (sub_, id, key) in [("prepare", "no_mirror", "prepare.mirror"), ("train", "no_augment", "train.augment")] {
        if sub == sub_ && given(id) && m.get_flag(id) {
            out.insert(key.into(), SettingValue::from(false));
        }
    }
    out
}

/// The effective settings for subcommand `matches` (its name and arguments); `explicit`: `--settings FILE`.
pub fn load(explicit: Option<&Path>, matches: Option<(&str, &ArgMatches)>) -> anyhow::Result<Layered> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let file = settings::find_file(explicit, &cwd);
    let env = settings::env_settings(std::env::vars());
    Ok(settings::load(file.as_deref(), &env, &flag_settings(matches))?)
}

/// `issc config`: every effective setting, its value and where it came from; secrets only as set / not set.
pub fn print(l: &Layered, json: bool) -> anyhow::Result<()> {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let secrets = ["SERPAPI_API_KEY", "ISSC_API_KEYS", "AZURE_FACE_KEY"].map(|k| (k, set(k)));
    let report = l.report(&secrets)?;
    if json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outw!("{report}");
    }
    Ok(())
}
