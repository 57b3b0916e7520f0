//! `issc serve --store`'s Azure-Face-compatible API driven by Microsoft's official JavaScript SDK
//! (`@azure-rest/ai-vision-face`, pinned with its dependencies in tests/js-sdk/package-lock.json): the SDK README's
//! detect (as written: headPose, mask, qualityForRecognition, 27 landmarks), large-person-group, train-poller
//! and identify examples, plus verify, find similar and group, on real
//! photos of `../shared/data/identity/public` (tests/js-sdk/scenario.mjs does the calls and checks every answer).
//!
//! Needs Node.js 18 or later (`ISSC_NODE`, or `node` on PATH) and the SDK installed by
//! `npm ci --prefix bins/issc/tests/js-sdk` (`.ci/run` does both). Without them the test says SKIPPED, unless
//! `ISSC_REQUIRE_JS_SDK=1`, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::server::Server;

/// The API key the server accepts.
const KEY: &str = "face-api-js-sdk-key-0123456789";

/// The npm project that pins the SDK.
fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js-sdk")
}

/// A Node.js (18 or later) that can import the installed SDK, or why there is none.
fn node_with_sdk() -> Result<PathBuf, String> {
    let node = std::env::var_os("ISSC_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let version = match Command::new(&node).arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(o) => return Err(format!("`{} --version` failed ({})", node.display(), o.status)),
        Err(e) => return Err(format!("no Node.js (`{}`: {e})", node.display())),
    };
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 18 {
        return Err(format!("Node.js {version} is too old: the SDK needs 18 or later"));
    }
    let probe = "await import('@azure-rest/ai-vision-face'); await import('@azure/core-auth');";
    match Command::new(&node).current_dir(sdk_dir()).args(["--input-type=module", "-e", probe]).output() {
        Ok(o) if o.status.success() => Ok(node),
        Ok(o) => Err(format!(
            "Node.js {version} cannot import the SDK from {}: {}",
            sdk_dir().display(),
            String::from_utf8_lossy(&o.stderr).lines().find(|l| l.contains("Error")).unwrap_or("").trim()
        )),
        Err(e) => Err(format!("`{}` cannot run: {e}", node.display())),
    }
}

#[test]
fn official_javascript_sdk_runs_the_readme_examples() {
    let node = match node_with_sdk() {
        Ok(n) => n,
        Err(why) => {
            let how =
                "install Node.js 18+ (apt-get install nodejs npm) and run `npm ci --prefix bins/issc/tests/js-sdk`";
            assert!(
                std::env::var("ISSC_REQUIRE_JS_SDK").as_deref() != Ok("1"),
                "ISSC_REQUIRE_JS_SDK=1 but the official Face JavaScript SDK is not available: {why}; {how}"
            );
            println!("SKIPPED: official_javascript_sdk_runs_the_readme_examples: {why}; {how}");
            return;
        }
    };
    let Some(data) = common::shared_data() else { return };
    let photos = data.join("identity/public");

    let store = tempfile::tempdir().expect("temp store");
    let store_arg = store.path().to_str().expect("UTF-8 temp path");
    let server = Server::start(&["--store", store_arg], &[("ISSC_API_KEYS", KEY)]);
    let child = Command::new(&node)
        .current_dir(sdk_dir())
        .arg("scenario.mjs")
        .env("AZURE_FACE_ENDPOINT", &server.base)
        .env("AZURE_FACE_KEY", KEY)
        .env("ISSC_PHOTOS", &photos)
        // The SDK sends through HTTPS_PROXY, ALL_PROXY or HTTP_PROXY (either case) unless NO_PROXY names the host: a
        // machine whose registries are reached through a proxy must not route 127.0.0.1 there.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("AZURE_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scenario.mjs");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(Duration::from_secs(600)) {
        Ok(o) => o.expect("wait for scenario.mjs"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("scenario.mjs ran for more than 10 minutes");
        }
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        // CI shows only the lines that start with `error`: say there which step failed and why, and what the server
        // logged, before the full panic message.
        let last = stdout.lines().last().unwrap_or_default();
        let why = serde_json::from_str::<serde_json::Value>(last).ok().map_or_else(
            || format!("no summary line; stderr: {}", stderr.lines().take(20).collect::<Vec<_>>().join(" | ")),
            |s| format!("step {}: {}", s["failedStep"], s["error"].as_str().unwrap_or_default().replace('\n', " | ")),
        );
        println!("error: official JavaScript SDK scenario failed ({}) at {why}", output.status);
        for line in server.log().lines().rev().take(15).collect::<Vec<_>>().into_iter().rev() {
            println!("error: (server log) {line}");
        }
    }
    assert!(output.status.success(), "scenario.mjs failed ({}):\n{stdout}\n{stderr}", output.status);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("summary line is not JSON ({e}): {last:?}\n{stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(summary["sdk"].as_str().is_some_and(|v| v.starts_with("@azure-rest/ai-vision-face@")), "{summary}");
    // The README's detect, as written: headPose, mask and qualityForRecognition, and the 27 landmarks.
    let detect = &summary["detect"];
    assert_eq!(detect["landmarks"], 27, "{summary}");
    assert_eq!(detect["mask"]["type"], "noMask", "{summary}");
    assert!(detect["headPose"]["yaw"].is_number() && detect["qualityForRecognition"].is_string(), "{summary}");
    let persons = summary["persons"].as_array().map_or(0, Vec::len);
    assert!(persons >= 2, "{summary}");
    assert_eq!(summary["identified"].as_object().map(|o| o.len()), Some(persons), "{summary}");
    assert_eq!(summary["training"]["largePersonGroup"], "succeeded", "{summary}");
    assert_eq!(summary["training"]["largeFaceList"], "succeeded", "{summary}");
    println!("official JavaScript SDK scenario: {last}");
}
