//! Issue #14: one configuration model for every command — the libraries' defaults < `issc.toml` (found like
//! `.env`, or `--settings FILE`) < `ISSC_<SECTION>__<KEY>` < flags — and `issc config` showing where each value came
//! from, secrets redacted; unknown keys refused with the accepted ones named.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn run(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_issc"));
    cmd.current_dir(cwd).args(["--engine", "ort", "--models", &repo().join("models").display().to_string()]);
    cmd.args(args).env_remove("ISSC_SETTINGS").env_remove("SERPAPI_API_KEY").env_remove("SERPAPI_URL");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("ISSC_") && k.contains("__")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run issc")
}

fn faces(o: &Output) -> usize {
    let line: Value = serde_json::from_str(ok(o).lines().next().unwrap_or("{}")).unwrap();
    line["faces"].as_array().map_or(0, Vec::len)
}

#[test]
fn defaults_file_environment_flags_in_that_order_and_config_shows_origins() {
    let tmp = tempfile::tempdir().unwrap();
    // Found like .env: in a parent of the current folder.
    let work = tmp.path().join("a/b");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(tmp.path().join("issc.toml"), "[fetch]\nmax = 7\nconcurrency = 3\n[detector]\nscore = 0.7\n")
        .unwrap();

    let o = run(&work, &[("ISSC_FETCH__MAX", "9"), ("SERPAPI_API_KEY", "sk-very-secret")], &["config", "--json"]);
    let v: Value = serde_json::from_str(ok(&o).trim()).unwrap();
    let s = &v["settings"];
    assert_eq!(s["fetch.max"]["value"], 9, "the environment beats the file: {v}");
    assert_eq!(s["fetch.max"]["from"], "env");
    assert_eq!(s["fetch.concurrency"]["value"], 3);
    assert_eq!(s["fetch.concurrency"]["from"], "file");
    assert_eq!(s["detector.score"]["from"], "file");
    assert_eq!(s["prepare.seed"]["from"], "default");
    assert_eq!(v["secrets"]["SERPAPI_API_KEY"], "set (redacted)");
    assert!(!stdout(&o).contains("sk-very-secret") && !stderr(&o).contains("sk-very-secret"));
    let text = ok(&run(&work, &[("SERPAPI_API_KEY", "sk-very-secret")], &["config"]));
    assert!(text.contains("fetch.max") && text.contains("(file)") && !text.contains("sk-very-secret"), "{text}");

    // The same rule drives a command: a strict score from the environment finds fewer faces; the flag wins over it.
    let photo = repo().join("tests/fixtures/images/ms_detection4.jpg").display().to_string();
    let o = run(tmp.path(), &[], &["--settings", "/dev/null/none", "detect", "--json", &photo]);
    assert!(!o.status.success() && stderr(&o).contains("/dev/null/none"), "an unreadable --settings is an error");
    let empty = tmp.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let default =
        faces(&run(tmp.path(), &[], &["--settings", &empty.display().to_string(), "detect", "--json", &photo]));
    let strict = faces(&run(
        tmp.path(),
        &[("ISSC_DETECTOR__SCORE", "0.99")],
        &["--settings", &empty.display().to_string(), "detect", "--json", &photo],
    ));
    let flagged = faces(&run(
        tmp.path(),
        &[("ISSC_DETECTOR__SCORE", "0.99")],
        &["--settings", &empty.display().to_string(), "detect", "--json", "--score", "0.6", &photo],
    ));
    assert!(default > strict, "ISSC_DETECTOR__SCORE=0.99 keeps fewer faces ({default} > {strict})");
    assert_eq!(flagged, default, "--score beats the environment");
}

#[test]
fn unknown_keys_and_bad_values_are_refused_naming_what_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("issc.toml"), "[fetch]\nmax_photos = 7\n").unwrap();
    let o = run(tmp.path(), &[], &["config"]);
    assert_ne!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(e.contains("issc.toml") && e.contains("max_photos") && e.contains("concurrency"), "{e}");

    std::fs::write(tmp.path().join("issc.toml"), "[colour]\nred = 1\n").unwrap();
    let e = stderr(&run(tmp.path(), &[], &["config"]));
    assert!(e.contains("colour") && e.contains("detector") && e.contains("fetch"), "{e}");

    std::fs::remove_file(tmp.path().join("issc.toml")).unwrap();
    let o = run(tmp.path(), &[("ISSC_DETECTOR__SCORE", "lots")], &["config"]);
    assert_ne!(o.status.code(), Some(0), "a value of the wrong type is an error");
    assert!(stderr(&o).contains("score"), "{}", stderr(&o));
}
