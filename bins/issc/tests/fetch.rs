//! `issc fetch` against real local HTTP servers (127.0.0.1): a SerpAPI-shaped search endpoint and an image host
//! serving real photos with a fault matrix. Every fault has an asserted outcome; no partial file is ever left.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

enum Reply {
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Body without Content-Length, connection closed at the end.
    Unsized(Vec<u8>),
    /// Body in small pieces with pauses.
    Slow(Vec<u8>),
    /// Never answer.
    Stall,
    /// Close with a TCP reset.
    Reset,
    /// Declare `declared` bytes, send `body`, close.
    ShortBody {
        declared: usize,
        body: Vec<u8>,
    },
}

type Routes = Arc<dyn Fn(&str, &str, usize, u16) -> Reply + Send + Sync>;

/// A tiny HTTP/1.1 server on 127.0.0.1 with per-path hit counts and hit times.
struct Server {
    port: u16,
    hits: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(routes: Routes) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
        let h = hits.clone();
        rt.spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { continue };
                let (routes, hits) = (routes.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let n = {
                        let mut m = hits.lock().unwrap();
                        let v = m.entry(path.to_string()).or_default();
                        v.push(Instant::now());
                        v.len()
                    };
                    let reply = routes(path, query, n, port);
                    let _ = send(&mut sock, reply).await;
                });
            }
        });
        Server { port, hits, _rt: rt }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> Vec<Instant> {
        self.hits.lock().unwrap().get(path).cloned().unwrap_or_default()
    }
}

async fn send(sock: &mut tokio::net::TcpStream, reply: Reply) -> std::io::Result<()> {
    let head = |status: u16, headers: &[(&str, String)], len: Option<usize>| {
        let mut h = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(l) = len {
            h.push_str(&format!("Content-Length: {l}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    };
    match reply {
        Reply::Full { status, headers, body } => {
            sock.write_all(&head(status, &headers, Some(body.len()))).await?;
            sock.write_all(&body).await?;
        }
        Reply::Unsized(body) => {
            sock.write_all(&head(200, &[("Content-Type", "image/jpeg".into())], None)).await?;
            sock.write_all(&body).await?;
        }
        Reply::Slow(body) => {
            sock.write_all(&head(200, &[("Content-Type", "image/jpeg".into())], Some(body.len()))).await?;
            for piece in body.chunks(512) {
                sock.write_all(piece).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Reply::Stall => tokio::time::sleep(Duration::from_secs(120)).await,
        Reply::Reset => {
            sock.set_zero_linger()?; // dropping the socket now sends a TCP reset
        }
        Reply::ShortBody { declared, body } => {
            sock.write_all(&head(200, &[("Content-Type", "image/jpeg".into())], Some(declared))).await?;
            sock.write_all(&body).await?;
        }
    }
    sock.flush().await
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("people").join(name)).unwrap()
}

fn jpeg(body: Vec<u8>) -> Reply {
    Reply::Full { status: 200, headers: vec![("Content-Type", "image/jpeg".into())], body }
}

fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 16, image::Rgb([200, 100, 50]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn image_host() -> Server {
    let a = photo("Angelina_Jolie/Angelina_Jolie_0004.jpg");
    let b = photo("Jennifer_Aniston/Jennifer_Aniston_0002.jpg");
    let c = photo("Mark_Zuckerberg/Mark_Zuckerberg_0002.jpg");
    let d = photo("Angelina_Jolie/Angelina_Jolie_0009.jpg");
    let e = photo("Jennifer_Aniston/Jennifer_Aniston_0005.jpg");
    let f = photo("Jennifer_Aniston/Jennifer_Aniston_0003.jpg");
    let png = tiny_png();
    Server::start(Arc::new(move |path, _q, n, port| match path {
        "/img/a.jpg" => jpeg(a.clone()),
        "/img/b.jpg" => jpeg(b.clone()),
        "/img/d.jpg" => jpeg(d.clone()),
        "/img/e.jpg" => jpeg(e.clone()),
        "/img/only-via-redirect.jpg" => jpeg(c.clone()),
        "/dup1.jpg" | "/dup2.jpg" => jpeg(f.clone()),
        "/slow.jpg" => Reply::Slow(a.clone()),
        "/stall.jpg" => Reply::Stall,
        "/reset.jpg" => Reply::Reset,
        "/404.jpg" => Reply::Full { status: 404, headers: vec![], body: b"not found".to_vec() },
        "/flaky.jpg" if n == 1 => Reply::Full { status: 500, headers: vec![], body: b"oops".to_vec() },
        "/flaky.jpg" => jpeg(d.clone()),
        "/429.jpg" if n == 1 => {
            Reply::Full { status: 429, headers: vec![("Retry-After", "1".into())], body: b"slow down".to_vec() }
        }
        "/429.jpg" => jpeg(e.clone()),
        "/always503.jpg" => Reply::Full { status: 503, headers: vec![], body: vec![] },
        "/truncated.jpg" => Reply::ShortBody { declared: a.len() / 2, body: a[..a.len() / 2].to_vec() },
        "/html.jpg" => jpeg(b"<!DOCTYPE html><html><body>Please log in</body></html>".to_vec()),
        "/big.jpg" => jpeg(c.clone()),
        "/big-unsized.jpg" => Reply::Unsized(c.clone()),
        "/tiny.png" => {
            Reply::Full { status: 200, headers: vec![("Content-Type", "image/png".into())], body: png.clone() }
        }
        "/loop1" => Reply::Full { status: 302, headers: vec![("Location", "/loop2".into())], body: vec![] },
        "/loop2" => Reply::Full { status: 302, headers: vec![("Location", "/loop1".into())], body: vec![] },
        "/to-blacklisted.jpg" => Reply::Full {
            status: 302,
            headers: vec![("Location", format!("http://localhost:{port}/img/only-via-redirect.jpg"))],
            body: vec![],
        },
        _ => Reply::Full { status: 404, headers: vec![], body: vec![] },
    }))
}

fn last_entries(out: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    json_lines(&text).into_iter().map(|e| (e["url"].as_str().unwrap().to_string(), e)).collect()
}

fn no_partial_files(out: &Path) {
    for e in walkdir::WalkDir::new(out).min_depth(1) {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "partial file left: {}", e.path().display());
        // Besides photos: the manifest, and each label's ATTRIBUTION.md (issue #15), which must be whole too.
        if e.file_type().is_file() && name == "ATTRIBUTION.md" {
            let text = std::fs::read_to_string(e.path()).unwrap();
            assert!(text.starts_with("# Photos"), "a complete ATTRIBUTION.md: {text}");
        } else if e.file_type().is_file() && name != "manifest.jsonl" {
            issc_core::load_image(e.path(), &Default::default())
                .unwrap_or_else(|err| panic!("stored file is not a complete image: {err}"));
            let stem = e.path().file_stem().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).unwrap();
            assert_eq!(stem, blake3::hash(&bytes).to_hex().to_string(), "content-addressed name");
        }
    }
}

fn fetch(args: &[&str]) -> (Value, std::process::Output) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .args(["fetch", "--json"])
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("SERPAPI_API_KEY")
        .output()
        .unwrap();
    let v = serde_json::from_str(stdout(&out).trim()).unwrap_or(Value::Null);
    (v, out)
}

#[test]
fn url_list_fault_matrix_and_resume() {
    let host = image_host();
    let tmp = tempfile::tempdir().unwrap();
    let faults: Vec<(&str, &str, Option<&str>)> = vec![
        ("/img/a.jpg", "ok", None),
        ("/img/b.jpg", "ok", None),
        ("/slow.jpg", "failed", Some("timeout")),
        ("/stall.jpg", "failed", Some("timeout")),
        ("/reset.jpg", "failed", None),
        ("/404.jpg", "failed", Some("http_404")),
        ("/flaky.jpg", "ok", None),
        ("/429.jpg", "ok", None),
        ("/always503.jpg", "failed", Some("http_503")),
        ("/truncated.jpg", "rejected", Some("corrupt")),
        ("/html.jpg", "rejected", Some("not_an_image")),
        ("/big.jpg", "rejected", Some("too_large")),
        ("/big-unsized.jpg", "rejected", Some("too_large")),
        ("/tiny.png", "rejected", Some("too_small")),
        ("/loop1", "failed", Some("redirect")),
        ("/to-blacklisted.jpg", "failed", Some("redirect_blacklisted")),
    ];
    let mut list: Vec<String> = faults.iter().map(|(p, _, _)| host.url(p)).collect();
    list.push(host.url("/dup1.jpg"));
    list.push(host.url("/dup2.jpg"));
    let blocked_direct = format!("http://localhost:{}/img/a.jpg", host.port);
    list.push(blocked_direct.clone());
    list.push("ftp://example.com/x.jpg".into());
    let urls = tmp.path().join("urls.txt");
    std::fs::write(&urls, format!("# test list\n{}\n", list.join("\n"))).unwrap();
    let blacklist = tmp.path().join("blacklist.txt");
    std::fs::write(&blacklist, "localhost   # the same server under another name\n").unwrap();
    let out = tmp.path().join("raw");
    let args = [
        "--label",
        "ada-lovelace",
        "--urls",
        &urls.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--timeout",
        "2",
        "--max-bytes",
        "100000",
        "--retries",
        "1",
        "--fail-limit",
        "2",
        "--concurrency",
        "8",
        "--per-host",
        "8",
        "--blacklist",
        &blacklist.display().to_string(),
    ];
    let started = Instant::now();
    let (summary, o) = fetch(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    println!("first run: {summary} in {:.1} s", started.elapsed().as_secs_f64());

    let entries = last_entries(&out);
    for (path, status, reason) in &faults {
        let e = &entries[&host.url(path)];
        assert_eq!(e["status"], *status, "{path}: {e}");
        if let Some(r) = reason {
            assert_eq!(e["reason"], *r, "{path}: {e}");
        }
    }
    // The same bytes under two URLs: stored once, whichever finished first; the other is a duplicate.
    let mut dup: Vec<&str> =
        ["/dup1.jpg", "/dup2.jpg"].iter().map(|p| entries[&host.url(p)]["status"].as_str().unwrap()).collect();
    dup.sort_unstable();
    assert_eq!(dup, ["duplicate", "ok"]);
    assert_eq!(entries[&host.url("/dup1.jpg")]["hash"], entries[&host.url("/dup2.jpg")]["hash"]);
    assert_eq!(entries[&blocked_direct]["status"], "skipped");
    assert_eq!(entries[&blocked_direct]["reason"], "blacklisted");
    assert_eq!(entries["ftp://example.com/x.jpg"]["reason"], "invalid_url");
    // Retries: 500 then 200; 429 honoured its Retry-After of 1 s; 503 retried then gave up with a clear detail.
    assert_eq!(entries[&host.url("/flaky.jpg")]["attempts"], 2);
    let t429 = host.hits("/429.jpg");
    assert_eq!(t429.len(), 2);
    assert!(t429[1] - t429[0] >= Duration::from_millis(950), "Retry-After honoured: {:?}", t429[1] - t429[0]);
    assert!(entries[&host.url("/always503.jpg")]["detail"].as_str().unwrap().contains("gave up after 2 attempts"));
    assert_eq!(host.hits("/always503.jpg").len(), 2);
    // The redirect into the blacklisted host was never followed.
    assert!(host.hits("/img/only-via-redirect.jpg").is_empty());
    // Content-addressed storage: a, b, dup (once), flaky, 429 = 5 files.
    assert_eq!(summary["downloaded"], 5);
    assert_eq!(summary["duplicates"], 1);
    let ok = &entries[&host.url("/img/a.jpg")];
    assert_eq!(ok["format"], "jpg");
    assert_eq!(ok["provider"], "urls");
    assert!(ok["width"].as_u64().unwrap() > 64 && ok["bytes"].as_u64().unwrap() > 1000);
    assert!(out.join(ok["path"].as_str().unwrap()).is_file());
    no_partial_files(&out);

    // Second run: done URLs are not downloaded again; failures are retried once more, then given up for good.
    let before = host.hits("/img/a.jpg").len();
    let (again, o) = fetch(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(again["downloaded"], 0);
    assert_eq!(host.hits("/img/a.jpg").len(), before, "nothing downloaded twice");
    assert!(again["skipped"]["done"].as_u64().unwrap() >= 11);
    let (third, _) = fetch(&args);
    assert!(third["skipped"]["failed_before"].as_u64().unwrap() >= 5, "{third}");
    assert_eq!(host.hits("/404.jpg").len(), 2, "a URL that failed twice is not tried a third time");
    no_partial_files(&out);
}

#[test]
fn serpapi_pages_until_max_and_keeps_the_key_out_of_logs() {
    let host = image_host();
    let host_port = host.port;
    let search = Server::start(Arc::new(move |path, query, _n, _port| {
        assert_eq!(path, "/search.json");
        let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        if q.get("engine").map(String::as_str) != Some("google_images")
            || q.get("api_key").map(String::as_str) != Some("test-key-123")
        {
            return Reply::Full { status: 401, headers: vec![], body: br#"{"error":"Invalid API key."}"#.to_vec() };
        }
        let img = |p: &str| format!("http://127.0.0.1:{host_port}{p}");
        let results: Vec<Value> = match q.get("ijn").map(String::as_str) {
            Some("0") => vec![img("/img/a.jpg"), img("/404.jpg"), img("/img/b.jpg")],
            Some("1") => vec![img("/img/d.jpg"), img("/img/e.jpg")],
            _ => vec![],
        }
        .into_iter()
        .enumerate()
        .map(|(i, u)| serde_json::json!({"original": u, "thumbnail": format!("{u}?thumb"), "source": "example.org", "title": format!("Ada {i}")}))
        .collect();
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body: serde_json::json!({"images_results": results}).to_string().into_bytes(),
        }
    }));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("raw");
    let endpoint = search.url("/search.json");
    let run = |max: &str, key: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_issc"));
        cmd.args(["fetch", "--json", "--query", "Ada Lovelace", "--out", &out.display().to_string(), "--max", max])
            .args(["--provider", "serpapi", "--serpapi-url", &endpoint, "--retries", "0"])
            .current_dir(tmp.path())
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HTTP_PROXY");
        match key {
            Some(k) => cmd.env("SERPAPI_API_KEY", k),
            None => cmd.env_remove("SERPAPI_API_KEY"),
        };
        cmd.output().unwrap()
    };
    // No key: a clear error, nothing fetched.
    let o = run("3", None);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("SERPAPI_API_KEY is not set"), "{}", stderr(&o));
    // A wrong key: the service's message, and the key never printed.
    let o = run("3", Some("wrong-key-456"));
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("Invalid API key") && !stderr(&o).contains("wrong-key-456"), "{}", stderr(&o));
    // Three images needed: page 0 has two good ones and a 404, so page 1 is read too.
    let o = run("3", Some("test-key-123"));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["label"], "ada-lovelace");
    assert_eq!(v["stored_total"], 3);
    assert_eq!(v["pages"], 2);
    assert!(!stdout(&o).contains("test-key-123") && !stderr(&o).contains("test-key-123"));
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    assert!(!manifest.contains("test-key-123"), "the key never reaches the manifest");
    let stored = std::fs::read_dir(out.join("ada-lovelace"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "ATTRIBUTION.md")
        .count();
    assert_eq!(stored, 3, "--max is honoured");
    let attribution = std::fs::read_to_string(out.join("ada-lovelace/ATTRIBUTION.md")).unwrap();
    assert_eq!(attribution.matches("- File: ").count(), 3, "ATTRIBUTION.md lists the 3 photos: {attribution}");
    // A .env file works too, and a higher --max resumes from page 0 without downloading anything twice.
    std::fs::write(tmp.path().join(".env"), "SERPAPI_API_KEY=test-key-123\n").unwrap();
    let o = run("10", None);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["stored_total"], 4, "all four good images, the 404 failed twice now");
    assert_eq!(host.hits("/img/a.jpg").len(), 1);
    no_partial_files(&out);
}

#[test]
fn folder_provider_validates_and_dedupes_local_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.jpg"), photo("Angelina_Jolie/Angelina_Jolie_0004.jpg")).unwrap();
    std::fs::write(src.join("a-copy.jpeg"), photo("Angelina_Jolie/Angelina_Jolie_0004.jpg")).unwrap();
    std::fs::write(src.join("notes.txt"), b"not a photo").unwrap();
    std::fs::copy(fixtures().join("images/pillow_hopper.webp"), src.join("hopper.jpg")).unwrap();
    let out = tmp.path().join("raw");
    let (v, o) =
        fetch(&["--dir", &src.display().to_string(), "--out", &out.display().to_string(), "--min-side", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(v["label"], "photos");
    assert_eq!(v["downloaded"], 2, "{v}");
    assert_eq!(v["duplicates"], 1);
    assert_eq!(v["rejected"]["not_an_image"], 1);
    let entries = last_entries(&out);
    let hopper = &entries[&src.join("hopper.jpg").display().to_string()];
    assert_eq!(hopper["format"], "webp", "extension from the sniffed format");
    assert!(hopper["path"].as_str().unwrap().ends_with(".webp"));
    no_partial_files(&out);
}

#[test]
fn a_killed_run_leaves_only_complete_files_and_the_rerun_finishes() {
    // 24 distinct photos served slowly (a piece every 200 ms), so the kill lands mid-download.
    let bodies: Vec<Vec<u8>> = ["Angelina_Jolie", "Jennifer_Aniston", "Mark_Zuckerberg"]
        .iter()
        .flat_map(|p| {
            std::fs::read_dir(fixtures().join("people").join(p))
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        })
        .collect();
    let host = Server::start(Arc::new(move |path, _q, n, _port| {
        let i: usize = path.trim_start_matches("/p/").trim_end_matches(".jpg").parse().unwrap_or(0);
        let body = bodies[i % bodies.len()].clone();
        // The first run gets the first 9 fast and the rest slowly; the rerun gets everything fast.
        if i < bodies.len() || n > 1 { jpeg(body) } else { Reply::Slow(body) }
    }));
    let tmp = tempfile::tempdir().unwrap();
    let urls = tmp.path().join("urls.txt");
    let list: Vec<String> = (0..24).map(|i| host.url(&format!("/p/{i}.jpg"))).collect();
    std::fs::write(&urls, list.join("\n")).unwrap();
    let out = tmp.path().join("raw");
    let args = [
        "--label",
        "k",
        "--urls",
        &urls.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--timeout",
        "120",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .args(["fetch", "--json", "--concurrency", "16", "--per-host", "16"])
        .args(args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no cleanup code runs
    child.wait().unwrap();
    let stored_before: Vec<_> = std::fs::read_dir(out.join("k")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!stored_before.is_empty(), "the fast ones finished before the kill");
    for p in &stored_before {
        if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            issc_core::load_image(p, &Default::default()).expect("every visible file is complete");
        }
    }
    // The rerun skips what is done, removes any temporary the kill left, and completes the set.
    let (v, o) = fetch(&["--concurrency", "16", "--per-host", "16"].iter().copied().chain(args).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(v["stored_total"], 9, "{v}");
    no_partial_files(&out);
}

/// A Wikimedia Commons API answer (`generator=search`, `prop=imageinfo`, `formatversion=2`; the shape of
/// crates/downloader/tests/fixtures/commons, from the MediaWiki API documentation) listing `photos` (served by the
/// same host under /img/) and one SVG drawing, which must be skipped.
fn commons_answer(port: u16, person: &str, photos: &[String]) -> Value {
    let mut pages: Vec<Value> = photos
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let (licence, code, url) = if i % 2 == 0 {
                ("CC BY-SA 4.0", "cc-by-sa-4.0", "https://creativecommons.org/licenses/by-sa/4.0")
            } else {
                ("Public domain", "pd", "")
            };
            serde_json::json!({"pageid": 1000 + i, "ns": 6, "title": format!("File:{file}"), "index": i + 1,
                "imageinfo": [{"size": 20000, "width": 250, "height": 250, "mime": "image/jpeg",
                    "url": format!("http://127.0.0.1:{port}/img/{person}/{file}"),
                    "descriptionurl": format!("https://commons.wikimedia.org/wiki/File:{file}"),
                    "extmetadata": {
                        "LicenseShortName": {"value": licence}, "License": {"value": code},
                        "LicenseUrl": {"value": url}, "AttributionRequired": {"value": if i % 2 == 0 { "true" } else { "false" }},
                        "Artist": {"value": format!("<a href=\"https://commons.wikimedia.org/wiki/User:P{i}\">Photographer {i} &amp; Co</a>")}
                    }}]})
        })
        .collect();
    pages.push(serde_json::json!({"pageid": 999, "ns": 6, "title": "File:Drawing.svg", "index": 99,
        "imageinfo": [{"size": 2000, "width": 100, "height": 100, "mime": "image/svg+xml",
            "url": format!("http://127.0.0.1:{port}/img/drawing.svg"),
            "descriptionurl": "https://commons.wikimedia.org/wiki/File:Drawing.svg",
            "extmetadata": {"LicenseShortName": {"value": "CC0"}, "License": {"value": "cc0"}}}]}));
    serde_json::json!({"batchcomplete": true, "query": {"pages": pages}})
}

/// Issue #15: `issc fetch --provider commons|bing` and `issc run` with `provider = "commons"`, against a local
/// Commons-shaped API and a Bing-shaped results page; licence and author reach the manifest, ATTRIBUTION.md and
/// report.html; --license filters; a licence filter with a provider that has no licences is refused.
#[test]
fn keyless_providers_from_the_command_line_and_issc_run_keep_licences() {
    let data = shared_data().expect("../shared/data (identity/public) is needed").join("identity/public");
    let people = ["Angelina_Jolie", "Yao_Ming"];
    let photos: HashMap<String, Vec<String>> =
        people.iter().map(|p| (p.to_string(), (1..=5).map(|n| format!("{p}_{n:04}.jpg")).collect())).collect();
    let data2 = data.clone();
    let photos2 = photos.clone();
    let server = Server::start(Arc::new(move |path, query, _n, port| {
        let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let json = |v: Value| Reply::Full {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body: v.to_string().into_bytes(),
        };
        match path {
            "/w/api.php" => {
                let search = q.get("gsrsearch").cloned().unwrap_or_default();
                let person = people.iter().find(|p| search.contains(p.split('_').nth(1).unwrap_or("-")));
                match person {
                    Some(p) => json(commons_answer(port, p, &photos2[*p])),
                    None => json(serde_json::json!({"batchcomplete": true})),
                }
            }
            "/images/async" => {
                let first: usize = q.get("first").and_then(|f| f.parse().ok()).unwrap_or(1);
                if first > 1 {
                    return Reply::Full { status: 200, headers: vec![], body: Vec::new() };
                }
                let anchors: String = photos2["Yao_Ming"][..2]
                    .iter()
                    .map(|f| {
                        let m = serde_json::json!({"murl": format!("http://127.0.0.1:{port}/img/Yao_Ming/{f}"),
                            "purl": format!("https://example.org/{f}.html"), "t": f});
                        let m = m.to_string().replace('&', "&amp;").replace('"', "&quot;");
                        format!("<div class=\"imgpt\"><a class=\"iusc\" m=\"{m}\" href=\"/images/search\"></a></div>")
                    })
                    .collect();
                Reply::Full {
                    status: 200,
                    headers: vec![("Content-Type", "text/html".into())],
                    body: format!("<html><body>{anchors}</body></html>").into_bytes(),
                }
            }
            p if p.starts_with("/img/") && p.ends_with(".jpg") => {
                let rel = p.trim_start_matches("/img/");
                match std::fs::read(data2.join(rel)) {
                    Ok(body) => jpeg(body),
                    Err(_) => Reply::Full { status: 404, headers: vec![], body: vec![] },
                }
            }
            _ => Reply::Full { status: 404, headers: vec![], body: b"not found".to_vec() },
        }
    }));
    let commons = format!("http://127.0.0.1:{}/w/api.php", server.port);
    let bing = format!("http://127.0.0.1:{}/images/async", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw").display().to_string();
    let fetch = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_issc"));
        cmd.arg("fetch")
            .args(args)
            .args(["--out", &raw, "--json"])
            .current_dir(tmp.path())
            .env_remove("SERPAPI_API_KEY");
        cmd.output().unwrap()
    };

    // Commons, CC BY-SA only: the 3 CC BY-SA photos of 5, the SVG never fetched.
    let o = fetch(&[
        "--query",
        "Angelina Jolie",
        "--provider",
        "commons",
        "--commons-url",
        &commons,
        "--license",
        "cc-by-sa",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["stored_total"], 3, "{v}");
    assert!(v["skipped"]["not_a_photo"].as_u64().unwrap_or(0) >= 1, "the SVG is skipped: {v}");
    let attribution = std::fs::read_to_string(tmp.path().join("raw/angelina-jolie/ATTRIBUTION.md")).unwrap();
    assert!(attribution.contains("Photographer 0 & Co") && attribution.contains("CC BY-SA 4.0"), "{attribution}");
    assert!(!attribution.contains("Public domain"), "filtered out: {attribution}");
    let manifest = std::fs::read_to_string(tmp.path().join("raw/manifest.jsonl")).unwrap();
    assert!(manifest.contains("\"license\":\"CC BY-SA 4.0\""), "{manifest}");
    assert_eq!(server.hits("/img/drawing.svg").len(), 0, "non-photos are never downloaded");

    // Bing: no licence information, said so; a licence filter is refused there.
    let o = fetch(&["--query", "Yao Ming", "--provider", "bing", "--bing-url", &bing, "--license", "cc0"]);
    assert!(!o.status.success() && stderr(&o).contains("licen"), "{}", stderr(&o));
    let o = fetch(&["--query", "Yao Ming", "--provider", "bing", "--bing-url", &bing]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["stored_total"], 2, "{v}");
    let attribution = std::fs::read_to_string(tmp.path().join("raw/yao-ming/ATTRIBUTION.md")).unwrap();
    assert!(attribution.contains("unknown"), "{attribution}");

    // issc run: two people from Commons (provider = "commons"), trained; the report credits the photos.
    let config = tmp.path().join("people.toml");
    std::fs::write(
        &config,
        format!(
            "work = \"work\"\n[fetch]\ncommons_url = \"{commons}\"\nmax = 5\n[prepare]\nsplit = [0.6, 0.2, 0.2]\n\
             min_per_label = 2\n[[person]]\nlabel = \"Angelina_Jolie\"\nquery = \"Angelina Jolie\"\nprovider = \"commons\"\n\
             [[person]]\nlabel = \"Yao_Ming\"\nquery = \"Yao Ming\"\n"
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .args(["--engine", "ort", "run", "--config", &config.display().to_string(), "--json"])
        .current_dir(tmp.path())
        .env_remove("SERPAPI_API_KEY")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["stages"]["fetch"]["stored"], 10, "both people from Commons (no key: commons): {summary}");
    assert!(summary["people"][1]["from"].as_str().unwrap().contains("commons"), "{summary}");
    let report = std::fs::read_to_string(tmp.path().join("work/report.html")).unwrap();
    assert!(report.contains("Photo sources and licences"), "the report credits the photos");
    assert!(report.contains("Photographer 1 &amp; Co") && report.contains("Public domain"), "author and licence");
    assert!(report.contains("https://creativecommons.org/licenses/by-sa/4.0"), "licence link");
    // A rerun asks Commons nothing new and downloads nothing.
    let before = server.hits("/w/api.php").len();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .args(["--engine", "ort", "run", "--config", &config.display().to_string(), "--json"])
        .current_dir(tmp.path())
        .env_remove("SERPAPI_API_KEY")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.hits("/w/api.php").len(), before, "an up-to-date search is not repeated");
}
