//! The web page of `issc serve` in a real browser: headless Chromium loads `/`, a fixture photo is chosen in the
//! file input as a person would, and the page must name the person, say how many faces it found and draw the photo
//! with its box. A screenshot is kept as a test artifact: target/test-artifacts/page.png.
//!
//! The browser is driven over the Chrome DevTools Protocol (JSON over one WebSocket), so no chromedriver is needed
//! and nothing is downloaded at run time. The browser is Debian's `chromium` (`.ci/run` installs it), or the binary
//! named by `ISSC_CHROMIUM` or `CHROME`. Without one the test prints SKIPPED and passes, unless `ISSC_REQUIRE_CHROMIUM=1`
//! (CI), where it fails.
//!
//! A second test uploads photos the way a web page of someone else's would: a `FormData` with the photo in the
//! field `image`, posted by the browser's `fetch` as multipart with Chromium's own boundary
//! (`----WebKitFormBoundary…`, mixed case).

mod common;

use std::fs::File;
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::Server;
use common::*;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

const SKIP: &str =
    "SKIPPED: chromium not found (apt-get install chromium, or set ISSC_CHROMIUM or CHROME to a browser)";

/// A model exported from tests/fixtures/people (3 people), built once per test binary.
fn model() -> &'static Path {
    common::fixture_model("page")
}

/// The first photo (sorted by name) of `label` in tests/fixtures/people.
fn photo(label: &str) -> PathBuf {
    let dir = fixtures().join("people").join(label);
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.swap_remove(0)
}

/// The last `n` bytes of a log file, for failure messages.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&text[text.len().saturating_sub(n)..]).into_owned()
}

/// An executable file called `name` in a folder of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The browser to test with: `ISSC_CHROMIUM` or `CHROME` (a path, or a name looked up on PATH; a wrong value is an
/// error, not a skip), else `chromium` (Debian), `chromium-browser`, `google-chrome` on PATH.
fn chromium() -> Option<PathBuf> {
    for var in ["ISSC_CHROMIUM", "CHROME"] {
        let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else { continue };
        let given = PathBuf::from(&value);
        let found = if given.components().count() == 1 { on_path(&value.to_string_lossy()) } else { Some(given) };
        match found.filter(|p| p.is_file()) {
            Some(p) => return Some(p),
            None => panic!("{var}={} is not a browser binary (a path, or a name on PATH)", value.to_string_lossy()),
        }
    }
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"].into_iter().find_map(on_path)
}

/// Chromium refuses to start as root unless its sandbox is turned off.
fn running_as_root() -> bool {
    match std::fs::metadata("/proc/self") {
        Ok(m) => m.uid() == 0,
        Err(_) => Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
    }
}

/// Headless Chromium with a fresh profile, listening for DevTools on an ephemeral port. Dropping it kills the whole
/// process group (browser, zygote, renderers), even when the test panics, then deletes the profile.
struct Browser {
    child: Child,
    port: u16,
    /// The browser-wide DevTools endpoint, e.g. `/devtools/browser/<id>`.
    endpoint: String,
    /// Holds `profile/` (the user-data-dir) and `chromium.log`.
    dir: tempfile::TempDir,
}

impl Browser {
    fn launch(bin: &Path) -> Self {
        let dir = tempfile::Builder::new().prefix("issc-chromium-").tempdir().expect("temporary folder");
        let profile = dir.path().join("profile");
        let log = File::create(dir.path().join("chromium.log")).expect("chromium log file");
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            "--window-size=1280,900",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
        if running_as_root() {
            cmd.arg("--no-sandbox");
        }
        cmd.arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("chromium log file"))
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut browser = Self { child, port: 0, endpoint: String::new(), dir };

        // Chromium writes the port it chose and the browser endpoint to <profile>/DevToolsActivePort.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(profile.join("DevToolsActivePort"))
                && let [port, endpoint, ..] = text.lines().collect::<Vec<_>>()[..]
                && let Ok(port) = port.trim().parse()
            {
                (browser.port, browser.endpoint) = (port, endpoint.trim().to_string());
                return browser;
            }
            if let Ok(Some(status)) = browser.child.try_wait() {
                panic!("{} exited ({status}) before opening DevTools:\n{}", bin.display(), browser.log());
            }
            assert!(Instant::now() < deadline, "{} did not open DevTools in 60 s:\n{}", bin.display(), browser.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        tail(&self.dir.path().join("chromium.log"), 4000)
    }

    /// Open a new tab and connect to it.
    fn new_page(&self) -> Cdp {
        let mut browser = Cdp::connect(self.port, &self.endpoint);
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let id = target["targetId"].as_str().expect("Target.createTarget returns a targetId");
        Cdp::connect(self.port, &format!("/devtools/page/{id}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group id is the browser's pid (process_group(0)); it is not reaped yet, so the id cannot be reused.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- chromium log (tail) ---\n{}", self.log());
        }
    }
}

/// A Chrome DevTools Protocol connection: commands out, their replies back; events are ignored.
struct Cdp {
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl Cdp {
    fn connect(port: u16, endpoint: &str) -> Self {
        let url = format!("ws://127.0.0.1:{port}{endpoint}");
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        // No command here should take long; a browser that stops answering fails the test instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("set a read timeout");
        let (ws, _) = tungstenite::client(url.as_str(), stream).unwrap_or_else(|e| panic!("WebSocket {url}: {e}"));
        Self { ws, next_id: 0 }
    }

    /// Send `method` and wait for its result; a protocol error fails the test.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(request)).unwrap_or_else(|e| panic!("DevTools: send {method}: {e}"));
        loop {
            let message = self.ws.read().unwrap_or_else(|e| panic!("DevTools: no reply to {method}: {e}"));
            let Message::Text(text) = message else { continue };
            let reply: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                panic!("DevTools {method} failed: {error}");
            }
            return reply["result"].clone();
        }
    }

    /// Evaluate a JavaScript expression in the page; its value as JSON.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("the page threw evaluating {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluate an expression whose value is a promise in the page; the value it resolves to, as JSON.
    fn eval_async(&mut self, expression: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("the page threw evaluating {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluate `expression` every 100 ms until `done` holds for its value, which is returned.
    fn wait_for(&mut self, what: &str, timeout: Duration, expression: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            if done(&value) {
                return value;
            }
            assert!(Instant::now() < deadline, "waited {timeout:?} for {what}; the page shows: {value}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What the page shows after a photo is chosen.
const PAGE_STATE: &str = r##"(() => {
  const status = document.getElementById("status"), canvas = document.getElementById("canvas");
  const json = document.getElementById("json");
  return {
    names: [...document.querySelectorAll("#names li .tag")].map(e => e.textContent),
    items: [...document.querySelectorAll("#names li")].map(e => e.textContent),
    status: status.textContent,
    error: status.classList.contains("error"),
    canvas: [canvas.width, canvas.height],
    json: json.hidden ? null : json.textContent,
  };
})()"##;

/// The share of the pixels down the middle half of the first face box's left edge that are the box colour
/// (#2f6fed). The box is stroked 2+ px wide centred on the edge, so column floor(x) lies wholly inside the stroke.
const BOX_EDGE: &str = r##"(() => {
  const canvas = document.getElementById("canvas");
  const [x, y, w, h] = JSON.parse(document.getElementById("json").textContent).faces[0].box;
  const px = Math.min(Math.max(Math.floor(x), 0), canvas.width - 1);
  const top = Math.max(Math.round(y + h / 4), 0), bottom = Math.min(Math.round(y + 3 * h / 4), canvas.height);
  const d = canvas.getContext("2d").getImageData(px, top, 1, bottom - top).data;
  let blue = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - 0x2f) <= 4 && Math.abs(d[i + 1] - 0x6f) <= 4 && Math.abs(d[i + 2] - 0xed) <= 4) blue++;
  }
  return d.length ? blue / (d.length / 4) : 0;
})()"##;

/// The server with the test model, a browser and a blank page; `None` (after saying SKIPPED) without a browser,
/// unless `ISSC_REQUIRE_CHROMIUM` is set, where that fails the test.
fn start_page() -> Option<(Server, Browser, Cdp)> {
    let Some(bin) = chromium() else {
        assert!(std::env::var_os("ISSC_REQUIRE_CHROMIUM").is_none(), "ISSC_REQUIRE_CHROMIUM is set: {SKIP}");
        println!("{SKIP}");
        return None;
    };
    let server = Server::start(&["--model", &model().display().to_string()], &[]);
    let browser = Browser::launch(&bin);
    let page = browser.new_page();
    Some((server, browser, page))
}

#[test]
fn page_names_the_person_in_a_chosen_photo() {
    let Some((server, _browser, mut page)) = start_page() else { return };

    // Load the page.
    page.call("Page.navigate", json!({ "url": server.url("/") }));
    page.wait_for("the page to load", Duration::from_secs(30), "document.readyState", |v| v == "complete");
    assert_eq!(page.eval("document.title"), "Is she Sarah Connor?");
    assert_eq!(page.eval("document.querySelectorAll('#names li').length"), 0, "no names before a photo");

    // Choose a photo in the file input, as the file chooser would (the page reacts to its change event).
    let file = photo("Angelina_Jolie");
    let input = page.call("Runtime.evaluate", json!({ "expression": "document.getElementById('file')" }));
    let object_id = input["result"]["objectId"].as_str().expect("the page has <input id=file>").to_string();
    page.call("DOM.setFileInputFiles", json!({ "files": [file], "objectId": object_id }));

    // The page posts it to /predict, lists the name and draws the photo with its box.
    let state = page.wait_for("the name and the boxed photo", Duration::from_secs(60), PAGE_STATE, |s| {
        s["error"] == true || (s["names"].as_array().is_some_and(|n| !n.is_empty()) && s["canvas"][0] != 0)
    });
    assert_eq!(state["error"], false, "the page shows an error: {state}");
    assert_eq!(state["names"], json!(["Angelina_Jolie"]), "{state}");
    let status = state["status"].as_str().unwrap();
    assert!(status.starts_with("1 face in ") && status.ends_with(" ms"), "status: {status:?}");
    let item = state["items"][0].as_str().unwrap();
    assert!(item.contains("face 1") && item.contains("top: Angelina_Jolie"), "list item: {item:?}");
    let (width, height) = image::image_dimensions(&file).expect("fixture photo");
    assert_eq!(state["canvas"], json!([width, height]), "the canvas holds the photo at its size");
    let shown: Value = serde_json::from_str(state["json"].as_str().expect("the JSON is shown")).expect("JSON");
    assert_eq!(shown["faces"][0]["label"], "Angelina_Jolie", "{shown}");
    let edge = page.wait_for("the box to be drawn", Duration::from_secs(10), BOX_EDGE, |v| v.as_f64() > Some(0.9));
    assert!(edge.as_f64() > Some(0.9), "box edge: {edge}");

    // A screenshot of the whole page, kept for people to look at.
    let metrics = page.call("Page.getLayoutMetrics", json!({}));
    let size = &metrics["cssContentSize"];
    let clip = json!({ "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 });
    let shot =
        page.call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true, "clip": clip }));
    use base64::Engine as _;
    let png =
        base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("screenshot data")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
    assert!(png.len() > 20_000, "screenshot of {} bytes: too small to show the photo", png.len());
    let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("the screenshot decodes");
    assert!(
        decoded.width() >= 800 && decoded.height() >= height,
        "screenshot {}x{}",
        decoded.width(),
        decoded.height()
    );
    let dir = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    let path = dir.join("page.png");
    let partial = dir.join(format!(".page.png.{}", std::process::id()));
    std::fs::write(&partial, &png).expect("write the screenshot");
    std::fs::rename(&partial, &path).expect("write the screenshot");
    println!("page screenshot ({}x{}, {} bytes): {}", decoded.width(), decoded.height(), png.len(), path.display());
}

/// Post the file chosen in `<input id=formdata-file>` to `/predict` as the browser's `FormData` (field `image`):
/// the Content-Type the browser chose, the status and the answer's text; and the answer to the same file posted raw.
const FORMDATA_UPLOAD: &str = r##"(async () => {
  const file = document.getElementById("formdata-file").files[0];
  const form = new FormData();
  form.append("image", file);
  const request = new Request("predict?top_k=2", { method: "POST", body: form });
  const contentType = request.headers.get("content-type");
  const resp = await fetch(request);
  const raw = await fetch("predict?top_k=2", { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: file });
  return { contentType, status: resp.status, body: await resp.text(), raw: await raw.text() };
})()"##;

/// The faces `tests/fixtures/reference_yunet_n_dynamic640_sface.jsonl` lists for a fixture photo.
fn reference_faces(fixture: &str) -> usize {
    let text = std::fs::read_to_string(fixtures().join("reference_yunet_n_dynamic640_sface.jsonl")).expect("reference");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("reference line"))
        .find(|v| v["fixture_path"] == fixture)
        .and_then(|v| v["faces"].as_array().map(Vec::len))
        .unwrap_or_else(|| panic!("{fixture} is not in the reference"))
}

#[test]
fn a_browser_formdata_upload_to_predict_is_answered() {
    let Some((server, _browser, mut page)) = start_page() else { return };
    page.call("Page.navigate", json!({ "url": server.url("/") }));
    page.wait_for("the page to load", Duration::from_secs(30), "document.readyState", |v| v == "complete");
    // A file input of our own (the page's own input posts the raw photo on change).
    page.eval("(() => { const i = document.createElement('input'); i.type = 'file'; i.id = 'formdata-file'; document.body.append(i); return true; })()");
    let input = page.call("Runtime.evaluate", json!({ "expression": "document.getElementById('formdata-file')" }));
    let object_id = input["result"]["objectId"].as_str().expect("the input exists").to_string();

    for (fixture, person) in
        [("people/Angelina_Jolie/Angelina_Jolie_0004.jpg", Some("Angelina_Jolie")), ("images/ms_detection4.jpg", None)]
    {
        let file = fixtures().join(fixture);
        page.call("DOM.setFileInputFiles", json!({ "files": [file], "objectId": object_id }));
        let got = page.eval_async(FORMDATA_UPLOAD);
        let content_type = got["contentType"].as_str().expect("the browser sets a Content-Type").to_string();
        println!("{fixture}: the browser sent Content-Type: {content_type}");
        let boundary = content_type.split("boundary=").nth(1).expect("a multipart boundary");
        assert!(content_type.starts_with("multipart/form-data"), "{content_type}");
        assert!(
            boundary.chars().any(|c| c.is_ascii_uppercase()),
            "a mixed-case boundary, as browsers send: {content_type}"
        );
        let body = got["body"].as_str().unwrap_or_default();
        assert_eq!(got["status"], 200, "{fixture}: {body}");
        let answer: Value = serde_json::from_str(body).expect("a JSON answer");
        let faces = answer["faces"].as_array().expect("faces");
        assert_eq!(faces.len(), reference_faces(fixture), "{fixture}: faces as in the reference: {answer}");
        if let Some(person) = person {
            assert_eq!(faces[0]["label"], person, "{answer}");
        }
        // The same answer as the raw photo gets.
        let raw: Value = serde_json::from_str(got["raw"].as_str().unwrap_or_default()).expect("raw upload answer");
        let strip = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("timings");
            v
        };
        assert_eq!(strip(&answer), strip(&raw), "{fixture}: FormData and raw uploads agree");
    }
}
