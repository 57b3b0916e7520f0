//! Helpers shared by the end-to-end tests: run the real `issc` binary on real photos.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// `tests/fixtures` in the repository.
pub fn fixtures() -> PathBuf {
    repo().join("tests/fixtures")
}

/// `../shared/data`, when present (it is in CI, where `ISSC_REQUIRE_SHARED_DATA=1` makes its absence a failure).
/// Without it a test runs its bundled-fixture part only and prints a SKIPPED line for the rest.
pub fn shared_data() -> Option<PathBuf> {
    let p = repo().join("../shared/data");
    if p.is_dir() {
        return Some(p.canonicalize().expect("shared data"));
    }
    assert!(
        std::env::var_os("ISSC_REQUIRE_SHARED_DATA").is_none(),
        "ISSC_REQUIRE_SHARED_DATA is set but {} is missing",
        p.display()
    );
    println!("SKIPPED: the part of this test that needs ../shared/data (not present)");
    None
}

/// Run `issc` with `args` in `cwd`; the engine comes from `engine` ("ort" or "tract").
pub fn issc_in(cwd: &Path, engine: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_issc"))
        .current_dir(cwd)
        .arg("--engine")
        .arg(engine)
        .args(args)
        .env_remove("ISSC_MODELS_DIR")
        .env_remove("ISSC_ENGINE")
        .env_remove("ISSC_REFERENCE")
        .env_remove("ISSC_SHRINK_ON_LOAD")
        .env_remove("ISSC_ACCEPT_DAMAGED")
        .output()
        .expect("run issc")
}

/// Run `issc` from the repository root.
pub fn issc(engine: &str, args: &[&str]) -> Output {
    issc_in(&repo(), engine, args)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success, showing stderr otherwise.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "issc failed ({}):\n{}", o.status, stderr(o));
    stdout(o)
}

/// Parse JSON Lines.
pub fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// Engines to test. Both must work in CI: ONNX Runtime comes from scripts/fetch-onnxruntime.sh.
pub const ENGINES: [&str; 2] = ["ort", "tract"];

pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().expect("number")
}

pub fn cosine(a: &serde_json::Value, b: &serde_json::Value) -> f64 {
    let (a, b) = (a.as_array().expect("array"), b.as_array().expect("array"));
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| f(x) * f(y)).sum()
}

/// A model exported (crop → prepare → train → export, with the `issc` binary on ONNX Runtime) from
/// tests/fixtures/people (3 people), built once per test binary under `target/tmp/<name>-model-<pid>`.
pub fn fixture_model(name: &str) -> &'static Path {
    static MODEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-model-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let s = |p: &Path| p.display().to_string();
        let (photos, crops, ds, run, model) =
            (fixtures().join("people"), root.join("crops"), root.join("dataset"), root.join("run"), root.join("model"));
        ok(&issc("ort", &["crop", "--in", &s(&photos), "--out", &s(&crops)]));
        ok(&issc(
            "ort",
            &["prepare", "--in", &s(&crops), "--out", &s(&ds), "--min-per-label", "3", "--split", "0.34,0.33,0.33"],
        ));
        let cache = root.join("cache");
        ok(&issc("ort", &["train", "--data", &s(&ds), "--out", &s(&run), "--cache", &s(&cache)]));
        ok(&issc("ort", &["export", "--run", &s(&run), "--out", &s(&model)]));
        model
    })
}
