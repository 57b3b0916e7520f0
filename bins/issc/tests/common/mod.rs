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
