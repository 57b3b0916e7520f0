//! One configuration model for every command, on the `config` crate: the libraries' defaults < `issc.toml` (found
//! like `.env`: the current folder, then each parent; or a file given explicitly) < `ISSC_<SECTION>__<KEY>`
//! environment variables < command-line flags. Unknown keys are refused with the accepted ones listed. Secrets are
//! never settings: they come from the environment or `.env` only, and a [`SettingsReport`] shows them as set / not
//! set.
//!
//! The caller hands in the environment and the flags (this library reads neither itself):
//!
//! ```
//! use std::collections::BTreeMap;
//! use issc_pipeline::settings::{self, Origin, SettingValue};
//!
//! let env = settings::env_settings([("ISSC_FETCH__MAX".to_string(), "50".to_string())]);
//! let flags = BTreeMap::from([("detector.score".to_string(), SettingValue::from("0.7"))]);
//! let l = settings::load(None, &env, &flags)?;
//! assert_eq!(l.settings.fetch.max, 50);
//! assert_eq!(l.origins["fetch.max"], Origin::Env);
//! assert_eq!(l.origins["detector.score"], Origin::Flag);
//! assert_eq!(l.origins["prepare.seed"], Origin::Default);
//! # Ok::<(), issc_pipeline::PipelineError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ::config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

use crate::error::{Ctx, PipelineError, Result};
use crate::{DetectorSettings, FetchSettings, PipelineConfig, PrepareSection, TrainSettings};

/// A flag's value, as the command line gave it (text, a list, or a switch).
pub use ::config::Value as SettingValue;

/// The settings file's name.
pub const FILE: &str = "issc.toml";

/// Largest settings file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Every section of `issc.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `[detector]`: every command that finds faces.
    pub detector: DetectorSettings,
    /// `[fetch]`: fetching photos (and `issc run` under its pipeline file's `[fetch]`).
    pub fetch: FetchSettings,
    /// `[prepare]`: building the dataset.
    pub prepare: PrepareSection,
    /// `[train]`: training.
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

impl Origin {
    /// The origin in words: `default`, `file`, `environment`, `flag`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Env => "environment",
            Self::Flag => "flag",
        }
    }
}

/// The effective settings and the origin of each key (`section.key`).
#[derive(Debug, Clone)]
pub struct Layered {
    /// The values.
    pub settings: Settings,
    /// Where each `section.key` came from.
    pub origins: BTreeMap<String, Origin>,
    /// The `issc.toml` read, if any.
    pub file: Option<PathBuf>,
}

/// `issc.toml`: `explicit`, else the first one found in `start` or a parent folder.
pub fn find_file(explicit: Option<&Path>, start: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    start.ancestors().map(|d| d.join(FILE)).find(|c| c.is_file())
}

/// The settings among environment variables: `ISSC_<SECTION>__<KEY>` (as `section.key`), plus the older names
/// `SERPAPI_URL` (`fetch.serpapi_url`) and `ISSC_CACHE_DIR` (`train.cache`).
pub fn env_settings(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut older = Vec::new();
    for (k, v) in vars {
        if let Some(rest) = k.strip_prefix("ISSC_")
            && rest.contains("__")
        {
            out.insert(rest.to_ascii_lowercase().replace("__", "."), v);
        } else if let Some(key) = match k.as_str() {
            "SERPAPI_URL" => Some("fetch.serpapi_url"),
            "ISSC_CACHE_DIR" => Some("train.cache"),
            _ => None,
        } && !v.trim().is_empty()
        {
            older.push((key.to_string(), v));
        }
    }
    for (k, v) in older {
        out.entry(k).or_insert(v);
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

fn json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).ctx(|| "settings")
}

/// The effective settings: the defaults, then `file` (an `issc.toml`, see [`find_file`]), then `env` (see
/// [`env_settings`]), then `flags` (`section.key` → value).
pub fn load(
    file: Option<&Path>,
    env: &BTreeMap<String, String>,
    flags: &BTreeMap<String, SettingValue>,
) -> Result<Layered> {
    let defaults = Config::try_from(&Settings::default()).ctx(|| "default settings")?;
    let mut builder = Config::builder().add_source(defaults);
    let mut file_keys = Vec::new();
    if let Some(f) = file {
        let text = issc_core::read_text_capped(f, MAX_FILE_BYTES)
            .map_err(|e| PipelineError::Config(format!("cannot read the settings file: {e}")))?;
        let parsed: toml::Value = toml::from_str(&text)
            .map_err(|e| PipelineError::Config(format!("{}: not a TOML settings file: {e}", f.display())))?;
        keys(&json(&parsed)?, "", &mut file_keys);
        builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
    }
    let env_map: ::config::Map<String, String> = env.iter().map(|(k, v)| (k.replace('.', "__"), v.clone())).collect();
    builder = builder.add_source(Environment::default().separator("__").try_parsing(true).source(Some(env_map)));
    for (k, v) in flags {
        builder = builder.set_override(k.as_str(), v.clone()).ctx(|| format!("setting {k}"))?;
    }
    let built = builder.build().ctx(|| "cannot combine the settings")?;
    let settings: Settings = built.try_deserialize().map_err(|e| {
        let place = file.map_or_else(|| "settings".to_string(), |f| f.display().to_string());
        PipelineError::Config(format!(
            "{place}: {e}\n(sections: [detector], [fetch], [prepare], [train]; environment: ISSC_<SECTION>__<KEY>, \
             e.g. ISSC_FETCH__MAX=50; `issc config` lists every key)"
        ))
    })?;
    let mut all = Vec::new();
    keys(&json(&settings)?, "", &mut all);
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
    Ok(Layered { settings, origins, file: file.map(Path::to_path_buf) })
}

impl Layered {
    /// Settings that came from the environment replace a pipeline file's: `[fetch]`, `[prepare]`, `[train]`, and
    /// `[detector]` onto `[crop]`'s detector keys (the same precedence as every command: file < environment).
    pub fn apply_env(&self, cfg: &mut PipelineConfig) -> Result<()> {
        fn patch<T: Serialize + serde::de::DeserializeOwned>(
            section: &mut T,
            from: &serde_json::Value,
            keys: &[&str],
        ) -> Result<()> {
            if keys.is_empty() {
                return Ok(());
            }
            let mut v = json(&*section)?;
            for k in keys {
                v[*k] = from[*k].clone();
            }
            *section = serde_json::from_value(v).ctx(|| "settings from the environment")?;
            Ok(())
        }
        let values = json(&self.settings)?;
        let env = |section: &str| -> Vec<&str> {
            self.origins
                .iter()
                .filter(|(_, o)| **o == Origin::Env)
                .filter_map(|(k, _)| k.strip_prefix(section).and_then(|r| r.strip_prefix('.')))
                .collect()
        };
        patch(&mut cfg.fetch, &values["fetch"], &env("fetch"))?;
        patch(&mut cfg.prepare, &values["prepare"], &env("prepare"))?;
        patch(&mut cfg.train, &values["train"], &env("train"))?;
        patch(&mut cfg.crop, &values["detector"], &env("detector"))?;
        Ok(())
    }

    /// Every setting with its value and origin, and whether each of `secrets` (name, is set) is set.
    pub fn report(&self, secrets: &[(&str, bool)]) -> Result<SettingsReport> {
        let values = json(&self.settings)?;
        let mut all = Vec::new();
        keys(&values, "", &mut all);
        let settings = all
            .into_iter()
            .map(|k| {
                let value = k.split('.').fold(&values, |v, part| &v[part]).clone();
                let from = self.origins.get(&k).copied().unwrap_or(Origin::Default);
                (k, SettingLine { value, from })
            })
            .collect();
        let secrets = secrets
            .iter()
            .map(|(k, set)| ((*k).to_string(), if *set { "set (redacted)" } else { "not set" }.to_string()))
            .collect();
        Ok(SettingsReport { file: self.file.as_ref().map(|f| f.display().to_string()), settings, secrets })
    }
}

/// One setting in a [`SettingsReport`].
#[derive(Debug, Clone, Serialize)]
pub struct SettingLine {
    /// Its effective value.
    pub value: serde_json::Value,
    /// Where that value came from.
    pub from: Origin,
}

/// The effective settings as `issc config` shows them: as JSON (`Serialize`) or as text (`Display`).
#[derive(Debug, Clone, Serialize)]
pub struct SettingsReport {
    /// The `issc.toml` read.
    pub file: Option<String>,
    /// `section.key` → value and origin.
    pub settings: BTreeMap<String, SettingLine>,
    /// Secret → "set (redacted)" or "not set"; never a value.
    pub secrets: BTreeMap<String, String>,
}

impl fmt::Display for SettingsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => writeln!(f, "settings file: {p}")?,
            None => writeln!(f, "settings file: none ({FILE} not found)")?,
        }
        for (k, l) in &self.settings {
            writeln!(f, "{k:<28} = {:<40} ({})", l.value.to_string(), l.from.name())?;
        }
        for (k, set) in &self.secrets {
            let set = if set == "not set" { "not set" } else { "set, redacted" };
            writeln!(f, "{k:<28}   {set} (environment or .env only)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE);
        std::fs::write(&file, "[fetch]\nmax = 10\nretries = 5\n[detector]\nscore = 0.5\n").unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        assert_eq!(find_file(None, &dir.path().join("a/b")), Some(file.clone()), "found in a parent folder");
        let other = dir.path().join("other.toml");
        assert_eq!(find_file(Some(&other), &dir.path().join("a/b")), Some(other), "an explicit file wins");
        let env = env_settings([("ISSC_FETCH__MAX".into(), "20".into()), ("SERPAPI_URL".into(), "http://x/".into())]);
        let flags = BTreeMap::from([("detector.score".to_string(), SettingValue::from("0.8"))]);
        let l = load(Some(&file), &env, &flags).unwrap();
        assert_eq!((l.settings.fetch.max, l.settings.fetch.retries), (20, 5));
        assert!((l.settings.detector.score - 0.8).abs() < 1e-6);
        assert_eq!(l.settings.fetch.serpapi_url, "http://x/");
        let o = |k: &str| l.origins[k];
        assert_eq!(
            (o("fetch.max"), o("fetch.retries"), o("detector.score"), o("prepare.seed")),
            (Origin::Env, Origin::File, Origin::Flag, Origin::Default)
        );
        let report = l.report(&[("SERPAPI_API_KEY", true)]).unwrap();
        let text = report.to_string();
        assert!(
            text.contains("fetch.max") && text.contains("(environment)") && text.contains("set, redacted"),
            "{text}"
        );
    }

    #[test]
    fn unknown_keys_and_unreadable_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE);
        std::fs::write(&file, "[fetch]\nmaximum = 10\n").unwrap();
        let e = load(Some(&file), &BTreeMap::new(), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("maximum") && e.contains("max") && e.contains(FILE), "{e}");
        let missing = dir.path().join("nope.toml");
        let e = load(Some(&missing), &BTreeMap::new(), &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("nope.toml"), "{e}");
        let os = std::io::Error::from(std::io::ErrorKind::NotFound).to_string();
        assert!(e.matches(&os).count() <= 1, "the cause is said once: {e}");
    }
}
