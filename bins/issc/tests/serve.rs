//! `issc serve` end to end: the real binary on an ephemeral port, a model exported from the bundled photos, every
//! route, the bad-input catalog, API keys, saturation, URL fetching rules and graceful shutdown.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::Server;
use common::*;
use serde_json::{Value, json};

/// A model exported from tests/fixtures/people (3 people), built once per test binary.
fn model() -> &'static Path {
    common::fixture_model("serve")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// Send a request; `(status, headers, JSON body or {"text": body})`.
async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.expect("request");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text })))
}

fn photo(label: &str) -> Vec<u8> {
    let dir = fixtures().join("people").join(label);
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::read(&files[0]).unwrap()
}

fn assert_error(got: &(u16, reqwest::header::HeaderMap, Value), status: u16, code: &str, what: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.2);
    assert_eq!(got.2["error"]["code"], code, "{what}: {}", got.2);
    assert!(got.2["error"]["message"].as_str().is_some_and(|m| m.len() > 10), "{what}: clear message: {}", got.2);
}

#[test]
fn every_route_and_the_bad_input_catalog() {
    let server = Server::start(&["--model", &model().display().to_string(), "--max-body-mb", "1"], &[]);
    let c = reqwest::Client::new();
    rt().block_on(async {
        // Health, readiness, page, OpenAPI.
        let (s, _, v) = send(c.get(server.url("/healthz"))).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
        let (s, _, v) = send(c.get(server.url("/readyz"))).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["labels"], 3);
        let (s, _, v) = send(c.get(server.url("/"))).await;
        assert_eq!(s, 200);
        assert!(v["text"].as_str().unwrap().contains("Is she Sarah Connor?"));
        let (s, _, v) = send(c.get(server.url("/openapi.json"))).await;
        assert_eq!(s, 200);
        for p in ["/predict", "/predict_json", "/healthz", "/readyz"] {
            assert!(v["paths"][p].is_object(), "openapi lacks {p}");
        }

        // A photo, raw and as multipart: the right person first.
        let jolie = photo("Angelina_Jolie");
        let (s, _, v) =
            send(c.post(server.url("/predict?top_k=2")).header("content-type", "image/jpeg").body(jolie.clone())).await;
        assert_eq!(s, 200, "{v}");
        let face = &v["faces"][0];
        assert_eq!(face["label"], "Angelina_Jolie", "{v}");
        assert_eq!(face["top_k"].as_array().unwrap().len(), 2);
        assert_eq!(face["box"].as_array().unwrap().len(), 4);
        assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
        assert!(v["timings"]["total_ms"].as_f64().unwrap() > 0.0 && v["width"].as_u64().unwrap() > 0);
        let form = reqwest::multipart::Form::new()
            .part("image", reqwest::multipart::Part::bytes(photo("Mark_Zuckerberg")).file_name("m.jpg"));
        let (s, _, v) = send(c.post(server.url("/predict")).multipart(form)).await;
        assert_eq!((s, &v["faces"][0]["label"]), (200, &json!("Mark_Zuckerberg")), "{v}");
        // base64 JSON.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(photo("Jennifer_Aniston"));
        let (s, _, v) = send(c.post(server.url("/predict_json")).json(&json!({"image_base64": b64, "top_k": 1}))).await;
        assert_eq!((s, &v["faces"][0]["label"]), (200, &json!("Jennifer_Aniston")), "{v}");
        // A photo with no face: 200 and an empty list.
        let cat = std::fs::read(fixtures().join("images/skimage_chelsea.png")).unwrap();
        let (s, _, v) = send(c.post(server.url("/predict")).header("content-type", "image/png").body(cat)).await;
        assert_eq!((s, v["faces"].as_array().map(Vec::len)), (200, Some(0)), "{v}");

        // The bad-input catalog.
        let post = |body: Vec<u8>, ct: &str| c.post(server.url("/predict")).header("content-type", ct).body(body);
        assert_error(&send(post(vec![], "image/jpeg")).await, 400, "EmptyImage", "empty body");
        assert_error(&send(post(jolie.clone(), "text/plain")).await, 415, "UnsupportedMediaType", "wrong content type");
        assert_error(
            &send(c.post(server.url("/predict")).body(jolie.clone())).await,
            415,
            "UnsupportedMediaType",
            "no content type",
        );
        let truncated = jolie[..jolie.len() / 2].to_vec();
        assert_error(&send(post(truncated, "image/jpeg")).await, 422, "CorruptImage", "truncated JPEG");
        assert_error(
            &send(post(b"<html>not a photo</html>".to_vec(), "image/jpeg")).await,
            422,
            "NotAnImage",
            "non-image",
        );
        let bomb = std::fs::read(fixtures().join("bad/bomb.png")).unwrap();
        assert_error(&send(post(bomb, "image/png")).await, 422, "TooManyPixels", "decompression bomb");
        assert_error(
            &send(post(vec![0u8; 1024 * 1024 + 1], "image/jpeg")).await,
            413,
            "PayloadTooLarge",
            "oversize body",
        );
        let json_post = |v: Value| c.post(server.url("/predict_json")).json(&v);
        assert_error(
            &send(json_post(json!({"image_base64": "%%%not base64"}))).await,
            400,
            "InvalidBase64",
            "invalid base64",
        );
        assert_error(&send(json_post(json!({"top_k": 2}))).await, 400, "InvalidRequest", "no image");
        assert_error(
            &send(json_post(json!({"image_base64": b64, "colour": "red"}))).await,
            400,
            "InvalidJson",
            "unknown field",
        );
        assert_error(
            &send(c.post(server.url("/predict_json")).header("content-type", "application/json").body("{not json"))
                .await,
            400,
            "InvalidJson",
            "invalid JSON",
        );
        assert_error(
            &send(json_post(json!({"url": "https://example.com/a.jpg"}))).await,
            400,
            "UrlFetchDisabled",
            "url off",
        );
        assert_error(&send(json_post(json!({"image_base64": b64, "top_k": 0}))).await, 400, "InvalidTopK", "top_k 0");
        assert_error(&send(c.get(server.url("/predict"))).await, 405, "MethodNotAllowed", "GET /predict");
        assert_error(&send(c.get(server.url("/nowhere"))).await, 404, "NotFound", "unknown route");

        // Still alive, and the metrics saw it all.
        let (s, _, _) = send(c.get(server.url("/healthz"))).await;
        assert_eq!(s, 200);
        let (s, _, v) = send(c.get(server.url("/metrics"))).await;
        let text = v["text"].as_str().unwrap();
        assert_eq!(s, 200);
        for needle in [
            "issc_http_requests_total{route=\"/predict\",status=\"200\"}",
            "issc_http_requests_total{route=\"/predict\",status=\"422\"} 3",
            "issc_http_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"}",
            "issc_inference_seconds_count",
            "issc_faces_per_photo_bucket{le=\"0\"} 1",
        ] {
            assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
        }
        assert!(!text.contains("status=\"500\""), "{text}");
    });
}

/// Chrome and Safari send `FormData` uploads with a boundary in mixed case (`----WebKitFormBoundary…`): it is read
/// as sent, not lower-cased, and the photo is found (tests/page.rs does the same through a real browser).
#[test]
fn a_multipart_upload_with_a_mixed_case_boundary_is_answered() {
    let server = Server::start(&["--model", &model().display().to_string()], &[]);
    let boundary = "----WebKitFormBoundaryQ7xZpLm3AbCdEfGh";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"aniston.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend(photo("Jennifer_Aniston"));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let c = reqwest::Client::new();
    rt().block_on(async {
        for ct in
            [format!("multipart/form-data; boundary={boundary}"), format!("Multipart/Form-Data; Boundary={boundary}")]
        {
            let (s, _, v) =
                send(c.post(server.url("/predict")).header("content-type", ct.as_str()).body(body.clone())).await;
            assert_eq!((s, &v["faces"][0]["label"]), (200, &json!("Jennifer_Aniston")), "{ct}: {v}");
            assert_eq!(v["faces"].as_array().map(Vec::len), Some(1), "{v}");
        }
    });
}

/// `--header-timeout`, `--idle-timeout`, `--body-timeout` and `--max-connections` reach the server (their
/// behaviour in detail: crates/serve/tests/connections.rs): a client dribbling its headers is disconnected, an idle
/// kept-alive connection is closed, a slow body is answered 408, and with more idle connections than the limit
/// `/healthz` still answers. Bad values are refused at start with the flag named.
#[test]
fn connection_timeouts_and_limit_come_from_the_command_line() {
    use std::io::{Read, Write};
    let server = Server::start(
        &["--header-timeout", "1", "--idle-timeout", "2", "--body-timeout", "1", "--max-connections", "16"],
        &[],
    );
    let addr = server.url("").trim_start_matches("http://").trim_end_matches('/').to_string();
    // Whether the server closed `s` (end of stream or reset) within `wait`, after any answers.
    let closed = |s: &mut std::net::TcpStream, wait: Duration| {
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return false;
                }
                Err(_) => return true,
            }
        }
    };
    // 40 silent connections, more than the limit: the oldest make room, and health is answered.
    let mut idle: Vec<_> = (0..40).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
    let c = reqwest::Client::new();
    rt().block_on(async {
        let health = tokio::time::timeout(Duration::from_secs(30), send(c.get(server.url("/healthz")))).await;
        assert_eq!(health.expect("/healthz answers at the connection limit").0, 200);
        let (_, _, v) = send(c.get(server.url("/metrics"))).await;
        assert!(v["text"].as_str().unwrap().contains("issc_http_connections_limit 16"), "{v}");
    });
    // Silent connections are closed after the header timeout (1 s), whether or not they were replaced.
    assert!(
        idle.iter_mut().all(|s| closed(s, Duration::from_secs(30))),
        "silent connections outlived a 1 s header timeout"
    );
    // A header sent one byte at a time is cut off.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for b in format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n", "a".repeat(400)).bytes() {
        if slow.write_all(&[b]).is_err() || closed(&mut slow, Duration::from_millis(50)) {
            cut = true;
            break;
        }
    }
    println!("a sender of one byte per 50 ms was cut off after {:?} (--header-timeout 1)", started.elapsed());
    assert!(cut, "the dribbled request went through");
    // A kept-alive connection left idle is closed; a slow body is answered 408.
    let mut kept = std::net::TcpStream::connect(&addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    kept.write_all(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answers = String::new();
    let _ = kept.read_to_string(&mut answers);
    assert!(answers.starts_with("HTTP/1.1 200"), "{answers}");
    assert!(answers.contains("HTTP/1.1 408") && answers.contains("BodyTimeout"), "{answers}");
    let mut idle_kept = std::net::TcpStream::connect(&addr).unwrap();
    idle_kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(
        closed(&mut idle_kept, Duration::from_secs(60)),
        "an idle kept-alive connection stayed open past --idle-timeout 2"
    );
    // Bad values are refused with the flag named.
    for (flag, value) in
        [("--header-timeout", "0"), ("--idle-timeout", "nan"), ("--body-timeout", "-1"), ("--max-connections", "0")]
    {
        let o = Command::new(env!("CARGO_BIN_EXE_issc"))
            .args(["--engine", "ort", "serve", "--addr", "127.0.0.1:0", flag, value])
            .env_remove("ISSC_API_KEYS")
            .output()
            .unwrap();
        assert!(!o.status.success(), "{flag} {value} accepted");
        assert!(stderr(&o).contains(flag), "{flag} {value}: {}", stderr(&o));
    }
}

#[test]
fn api_keys_are_required_when_configured_and_for_public_addresses() {
    let server =
        Server::start(&["--model", &model().display().to_string()], &[("ISSC_API_KEYS", "first-key, second-key")]);
    let c = reqwest::Client::new();
    rt().block_on(async {
        let body = photo("Angelina_Jolie");
        let post = || c.post(server.url("/predict")).header("content-type", "image/jpeg").body(body.clone());
        let refused = send(post()).await;
        assert_error(&refused, 401, "Unauthorized", "missing key");
        // The unread upload must not be taken for the next request on a kept-alive connection.
        assert_eq!(refused.1.get("connection").and_then(|v| v.to_str().ok()), Some("close"), "{:?}", refused.1);
        assert_error(&send(post().header("x-api-key", "wrong")).await, 401, "Unauthorized", "invalid key");
        assert_error(&send(c.get(server.url("/metrics"))).await, 401, "Unauthorized", "metrics need a key");
        assert_eq!(send(post().bearer_auth("second-key")).await.0, 200);
        assert_eq!(send(post().header("x-api-key", "first-key")).await.0, 200);
        // Health stays open for probes; answers to requests read in full keep the connection.
        let health = send(c.get(server.url("/healthz"))).await;
        assert_eq!(health.0, 200);
        assert!(health.1.get("connection").is_none(), "{:?}", health.1);
    });
    // No keys on a non-loopback address: refused at start.
    let o = Command::new(env!("CARGO_BIN_EXE_issc"))
        .args(["--engine", "ort", "serve", "--addr", "0.0.0.0:0"])
        .env_remove("ISSC_API_KEYS")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ISSC_API_KEYS"), "{}", stderr(&o));
}

#[test]
fn a_saturated_server_answers_503_with_retry_after_and_recovers() {
    let server =
        Server::start(&["--model", &model().display().to_string(), "--max-concurrency", "1", "--max-queue", "0"], &[]);
    let c = reqwest::Client::new();
    rt().block_on(async {
        let body = photo("Jennifer_Aniston");
        let reqs = (0..8)
            .map(|_| send(c.post(server.url("/predict")).header("content-type", "image/jpeg").body(body.clone())));
        let results = futures::future::join_all(reqs).await;
        let ok = results.iter().filter(|r| r.0 == 200).count();
        let busy: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
        println!("8 concurrent requests, 1 slot, no queue: {ok} answered, {} refused with 503", busy.len());
        assert!(ok >= 1 && !busy.is_empty(), "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
        assert_eq!(ok + busy.len(), 8, "only 200 or 503");
        for r in busy {
            assert_eq!(r.2["error"]["code"], "Overloaded");
            assert_eq!(r.1.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        }
        let (s, _, _) =
            send(c.post(server.url("/predict")).header("content-type", "image/jpeg").body(body.clone())).await;
        assert_eq!(s, 200, "serves again once idle");
        let (_, _, v) = send(c.get(server.url("/metrics"))).await;
        assert!(!v["text"].as_str().unwrap().contains("issc_rejected_busy_total 0"));
    });
}

/// Admission is decided before the body is read: with the only place taken by an upload that has not finished
/// arriving, a second upload is refused at once, from its headers alone (its body is never sent), with
/// `Retry-After` and `Connection: close`; once the first upload completes, it is answered.
#[test]
fn overload_is_refused_before_the_body_is_read() {
    use std::io::{Read, Write};
    let server =
        Server::start(&["--model", &model().display().to_string(), "--max-concurrency", "1", "--max-queue", "0"], &[]);
    let addr = server.url("").trim_start_matches("http://").trim_end_matches('/').to_string();
    let body = photo("Jennifer_Aniston");
    let head = |len: usize| {
        format!("POST /predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: image/jpeg\r\nContent-Length: {len}\r\n\r\n")
    };
    // The first request takes the only place and sends half of its photo.
    let mut first = std::net::TcpStream::connect(&addr).unwrap();
    first.write_all(head(body.len()).as_bytes()).unwrap();
    first.write_all(&body[..body.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The second sends only its headers, announcing 50 MB it never sends: refused without waiting for them.
    let mut second = std::net::TcpStream::connect(&addr).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    second.write_all(head(50 << 20).as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = second.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    println!("refused in {:?}: {}", t.elapsed(), answer.lines().next().unwrap_or_default());
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: "), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    assert!(answer.contains("Overloaded"), "{answer}");
    // 503 Overloaded (not 408 BodyTimeout) shows it was answered from the headers: no timing asserted.
    // The first upload completes and is answered.
    first.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    first.write_all(&body[body.len() / 2..]).unwrap();
    let mut buf = [0u8; 64];
    let n = first.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
}

#[test]
fn without_a_model_predict_is_503_and_readyz_says_why() {
    let server = Server::start(&[], &[]);
    let c = reqwest::Client::new();
    rt().block_on(async {
        assert_error(&send(c.get(server.url("/readyz"))).await, 503, "ModelNotLoaded", "readyz");
        let r = send(c.post(server.url("/predict")).header("content-type", "image/jpeg").body(photo("Angelina_Jolie")))
            .await;
        assert_error(&r, 503, "ModelNotLoaded", "predict");
        assert!(r.2["error"]["message"].as_str().unwrap().contains("--model"));
        assert_eq!(send(c.get(server.url("/healthz"))).await.0, 200);
    });
}

/// A one-route HTTP server on 127.0.0.1 serving `body` at any path.
async fn photo_host(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let body = body.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    format!("http://127.0.0.1:{}/photo.jpg", addr.port())
}

#[test]
fn urls_are_fetched_only_from_allowed_public_hosts() {
    let model = model().display().to_string();
    let strict =
        Server::start(&["--model", &model, "--url-allow", "127.0.0.1", "--url-allow", "images.example.org"], &[]);
    let dev = Server::start(&["--model", &model, "--url-allow", "127.0.0.1", "--url-allow-loopback"], &[]);
    let c = reqwest::Client::new();
    rt().block_on(async {
        let url = photo_host(photo("Angelina_Jolie")).await;
        let ask = |s: &Server, u: &str| c.post(s.url("/predict_json")).json(&json!({"url": u}));
        // Allowed host, but it resolves to loopback: refused after resolution (SSRF).
        let r = send(ask(&strict, &url)).await;
        assert_error(&r, 400, "UrlNotAllowed", "loopback url");
        assert!(r.2["error"]["message"].as_str().unwrap().contains("127.0.0.1"));
        assert_error(
            &send(ask(&strict, "http://169.254.169.254/latest/meta-data")).await,
            400,
            "UrlNotAllowed",
            "metadata",
        );
        assert_error(
            &send(ask(&strict, "http://evil.example.net/x.jpg")).await,
            400,
            "UrlNotAllowed",
            "host not listed",
        );
        assert_error(&send(ask(&strict, "file:///etc/passwd")).await, 400, "InvalidUrl", "scheme");
        // The development switch lets the same URL through: the fetch path works end to end.
        let (s, _, v) = send(ask(&dev, &url)).await;
        assert_eq!((s, &v["faces"][0]["label"]), (200, &json!("Angelina_Jolie")), "{v}");
    });
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let mut server = Server::start(&["--model", &model().display().to_string()], &[]);
    let url = server.url("/predict");
    let body = photo("Mark_Zuckerberg");
    let rt = rt();
    let inflight = rt.spawn(async move {
        let c = reqwest::Client::new();
        let reqs = (0..8).map(|_| send(c.post(&url).header("content-type", "image/jpeg").body(body.clone())));
        futures::future::join_all(reqs).await.into_iter().map(|r| r.0).collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let status = server.terminate();
    let codes = rt.block_on(inflight).unwrap();
    println!("SIGTERM with 8 requests in flight: {codes:?}, exit {status} after {:?}", started.elapsed());
    assert!(status.success(), "clean exit: {status}");
    assert!(codes.iter().all(|&c| c == 200), "in-flight requests finished: {codes:?}");
}

/// A photo of `n`×`n` copies of one portrait's face (each about 100 px wide), as a JPEG.
fn tiled_faces(n: u32) -> Vec<u8> {
    let path = fixtures().join("people/Angelina_Jolie/Angelina_Jolie_0004.jpg");
    let img = image::open(path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let face = image::imageops::crop_imm(&img, w / 2 - 60, h / 2 - 70, 120, 140).to_image();
    let face = image::imageops::resize(&face, 100, 116, image::imageops::FilterType::Triangle);
    let mut grid = image::RgbImage::new(100 * n, 116 * n);
    for i in 0..n {
        for j in 0..n {
            image::imageops::replace(&mut grid, &face, i64::from(100 * i), i64::from(116 * j));
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&grid).unwrap();
    out
}

/// Issue #13: faces per photo are capped (`--max-faces`), the answer says how many were dropped, and a damaged JPEG
/// is refused with 422 DamagedImage unless the server accepts damaged photos.
#[test]
fn faces_per_photo_are_capped_and_damaged_photos_refused() {
    let server = Server::start(&["--model", &model().display().to_string(), "--max-faces", "5"], &[]);
    let c = reqwest::Client::new();
    let grid = tiled_faces(4);
    let jpeg = photo("Angelina_Jolie");
    let mut half = jpeg[..jpeg.len() / 2].to_vec();
    half.extend_from_slice(&[0xFF, 0xD9]);
    rt().block_on(async {
        let post = |body: Vec<u8>| c.post(server.url("/predict")).header("content-type", "image/jpeg").body(body);
        let (s, _, v) = send(post(grid)).await;
        assert_eq!(s, 200, "{v}");
        let detected = v["faces_detected"].as_u64().unwrap();
        assert!(detected >= 12, "16 faces in the photo, {detected} detected: {v}");
        assert_eq!(v["faces"].as_array().unwrap().len(), 5, "{v}");
        assert_eq!(v["faces_dropped"].as_u64().unwrap(), detected - 5, "{v}");
        // One face: nothing dropped.
        let (s, _, v) = send(post(jpeg.clone())).await;
        assert_eq!((s, v["faces_detected"].as_u64(), v["faces_dropped"].as_u64()), (200, Some(1), Some(0)), "{v}");
        // Half a JPEG with an end-of-image marker: refused, naming what is wrong.
        let got = send(post(half.clone())).await;
        assert_error(&got, 422, "DamagedImage", "a damaged JPEG");
        assert!(got.2["error"]["message"].as_str().unwrap().contains("premature end of data segment"), "{}", got.2);
    });
    drop(server);
    // With --accept-damaged, the same photo is answered.
    let server = Server::start(&["--model", &model().display().to_string(), "--accept-damaged"], &[]);
    rt().block_on(async {
        let req = c.post(server.url("/predict")).header("content-type", "image/jpeg").body(half);
        let (s, _, v) = send(req).await;
        assert_eq!(s, 200, "{v}");
    });
}
