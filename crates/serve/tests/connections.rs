//! The server's connections on a real socket (127.0.0.1, ephemeral port), without a model: header and idle
//! timeouts, the connection limit with `/healthz` still answered at it, JSON answers to requests hyper cannot parse
//! (431, 400) or that are too long (414), 405 in Azure's form on the Face API, keep-alive and pipelining through the
//! watchdog, and a multipart boundary in mixed case.
//!
//! Timeouts are short and deadlines generous: the tests assert what happens (closed, answered), never how fast.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use issc_serve::ServeConfig;
use serde_json::Value;

/// A server on 127.0.0.1 running on its own runtime; stopped (gracefully) when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(cfg: ServeConfig) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let router = issc_serve::router(cfg.clone(), None, "no model in this test");
                issc_serve::serve(listener, router, &cfg, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("the server starts");
        Self { addr, stop: Some(stop), done: Some(done) }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take()
            && !std::thread::panicking()
        {
            done.join().expect("the server stops cleanly");
        }
    }
}

fn cfg() -> ServeConfig {
    ServeConfig { max_concurrency: 1, ..ServeConfig::default() }
}

/// One HTTP answer: status, head, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}\n{}", String::from_utf8_lossy(&self.body), self.head))
    }

    /// The value of header `name` (lower case).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Read one answer (its head and `content-length` bytes of body) from `s`.
fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            other => panic!(
                "the connection ended before an answer's head ({other:?}); got {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line: {head}"));
    let mut answer = Answer { status, head, body: Vec::new() };
    let len: usize = answer.header("content-length").map_or(0, |v| v.parse().expect("content-length"));
    answer.body = vec![0u8; len];
    s.read_exact(&mut answer.body).expect("the answer's body");
    answer
}

/// Send `request` on a new connection and read its answer.
fn ask(server: &Server, request: &[u8]) -> (Answer, TcpStream) {
    let mut s = server.connect();
    s.write_all(request).unwrap();
    (read_answer(&mut s), s)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// Whether the server closed `s` (end of stream or reset) within `within`; data received first is an error.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected data from the server: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

#[test]
fn a_slow_sender_is_disconnected_after_the_header_timeout() {
    let server = Server::start(ServeConfig { header_timeout: Duration::from_secs(1), ..cfg() });
    let mut s = server.connect();
    let started = Instant::now();
    // A request line and a long header, one byte every 100 ms: 60 s to send it all, were it allowed.
    let request = format!("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: {}\r\n\r\n", "a".repeat(600));
    let mut closed = false;
    for b in request.as_bytes() {
        if s.write_all(std::slice::from_ref(b)).is_err() || closed_within(&mut s, Duration::from_millis(100)) {
            closed = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still open after 30 s with a 1 s header timeout");
    }
    let took = started.elapsed();
    println!("a one-byte-per-100-ms sender was disconnected after {took:?} (header timeout 1 s)");
    assert!(closed, "the whole request went through: the header timeout did not apply");
    assert!(took >= Duration::from_secs(1), "closed before the header timeout: {took:?}");
    // The server is fine for others.
    assert_eq!(ask(&server, &get("/healthz")).0.status, 200);
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(ServeConfig {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(8),
        ..cfg()
    });
    let (first, mut s) = ask(&server, &get("/healthz"));
    assert_eq!(first.status, 200);
    assert_eq!(first.header("connection"), None, "kept alive: {}", first.head);
    // Idle for longer than the header timeout but well within the idle timeout: the connection still serves.
    std::thread::sleep(Duration::from_secs(2));
    s.write_all(&get("/readyz")).unwrap();
    let second = read_answer(&mut s);
    assert_eq!((second.status, second.json()["error"]["code"].as_str()), (503, Some("ModelNotLoaded")));
    let answered = Instant::now();
    // Then idle past the idle timeout: closed by the server.
    assert!(closed_within(&mut s, Duration::from_secs(60)), "an idle connection stayed open for 60 s");
    let idle = answered.elapsed();
    println!("an idle kept-alive connection was closed after {idle:?} (idle timeout 8 s)");
    assert!(idle >= Duration::from_secs(7), "closed before the idle timeout: {idle:?}");
}

#[test]
fn keep_alive_pipelining_and_100_continue_work_through_the_watchdog() {
    let server = Server::start(ServeConfig { header_timeout: Duration::from_secs(5), ..cfg() });
    let mut s = server.connect();
    // Two requests in one write: both answered, in order, on the same connection.
    s.write_all(&[get("/healthz"), get("/nowhere")].concat()).unwrap();
    assert_eq!(read_answer(&mut s).status, 200);
    let missing = read_answer(&mut s);
    assert_eq!((missing.status, missing.json()["error"]["code"].as_str()), (404, Some("NotFound")));
    // A body sent after `100 Continue`.
    s.write_all(
        b"POST /predict_json HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\
          Expect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut cont = [0u8; 25];
    s.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"{\"x\": 1}\n").unwrap();
    let refused = read_answer(&mut s);
    assert_eq!((refused.status, refused.json()["error"]["code"].as_str()), (400, Some("InvalidJson")));
    // Still the same connection.
    s.write_all(&get("/healthz")).unwrap();
    assert_eq!(read_answer(&mut s).status, 200);
}

#[test]
fn at_the_connection_limit_idle_connections_make_room_and_healthz_answers() {
    let server = Server::start(ServeConfig {
        max_connections: 16,
        header_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        ..cfg()
    });
    // 40 connections that say nothing: more than the limit, and none times out during the test.
    let mut idle: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let (health, _) = ask(&server, &get("/healthz"));
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));
    // Served as a normal connection (an idle one made room): any route answers.
    let (ready, _) = ask(&server, &get("/readyz"));
    assert_eq!(ready.json()["error"]["code"], "ModelNotLoaded", "{}", ready.head);
    // The oldest idle connections were closed to make room.
    let closed = idle.iter_mut().map(|s| closed_within(s, Duration::from_millis(300))).filter(|&c| c).count();
    println!("40 idle connections, limit 16: {closed} closed to make room");
    assert!(closed >= 40 - 16, "only {closed} of 40 idle connections closed under a limit of 16");
    let (m, _) = ask(&server, &get("/metrics"));
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(text.contains("issc_http_connections_limit 16"), "{text}");
    let replaced = text
        .lines()
        .find_map(|l| l.strip_prefix("issc_http_connections_closed_total{reason=\"idle_replaced\"} "))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(replaced >= 40 - 16, "{text}");
}

#[test]
fn at_the_limit_with_every_connection_busy_healthz_still_answers() {
    let server = Server::start(ServeConfig {
        max_connections: 16,
        header_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        ..cfg()
    });
    // 16 connections in the middle of sending their headers: busy, not idle, so none can be closed for another.
    let busy: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = server.connect();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: te").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    // A health probe is answered, on a connection that then closes.
    let (health, mut s) = ask(&server, &get("/healthz"));
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")), "{}", health.head);
    assert_eq!(health.header("connection"), Some("close"), "{}", health.head);
    assert!(closed_within(&mut s, Duration::from_secs(30)));
    // Anything else: 503 with Retry-After, or Azure's 429 on the Face API.
    let (other, _) = ask(
        &server,
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!((other.status, other.json()["error"]["code"].as_str()), (503, Some("TooManyConnections")));
    assert_eq!(other.header("retry-after"), Some("1"), "{}", other.head);
    assert!(other.json()["error"]["message"].as_str().unwrap().contains("/healthz"));
    let (face, _) = ask(&server, &get("/face/v1.2/largepersongroups"));
    assert_eq!((face.status, face.header("x-ms-error-code")), (429, Some("429")), "{}", face.head);
    assert_eq!(face.json()["error"]["code"], "429");
    // Once the busy connections go, requests are served normally again.
    drop(busy);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ready, _) = ask(&server, &get("/readyz"));
        if ready.json()["error"]["code"] == "ModelNotLoaded" {
            break;
        }
        assert!(Instant::now() < deadline, "still over the limit 30 s after the busy connections closed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unparsable_and_too_long_requests_get_json_errors() {
    let server = Server::start(cfg());
    let check = |request: Vec<u8>, status: u16, code: &str, face: bool| {
        let (a, mut s) = ask(&server, &request);
        let what = String::from_utf8_lossy(&request[..request.len().min(60)]).to_string();
        assert_eq!(a.status, status, "{what}: {}", a.head);
        assert_eq!(a.header("content-type"), Some("application/json"), "{what}: {}", a.head);
        let v = a.json();
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.len() > 20), "{what}: {v}");
        assert_eq!(a.header("x-ms-error-code"), face.then_some(code), "{what}: {}", a.head);
        if status != 414 {
            assert!(closed_within(&mut s, Duration::from_secs(30)), "{what}: closed after the error");
        }
    };
    let many_headers = |path: &str| {
        let mut r = format!("GET {path} HTTP/1.1\r\nHost: test\r\n");
        for i in 0..120 {
            r.push_str(&format!("X-Header-{i}: v\r\n"));
        }
        r.push_str("\r\n");
        r.into_bytes()
    };
    let huge_header = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nCookie: {}\r\n\r\n", "c".repeat(70 * 1024)).into_bytes()
    };
    check(many_headers("/healthz"), 431, "RequestHeaderFieldsTooLarge", false);
    check(huge_header("/predict"), 431, "RequestHeaderFieldsTooLarge", false);
    check(huge_header("/face/v1.2/detect"), 431, "RequestHeaderFieldsTooLarge", true);
    check(get(&format!("/predict?x={}", "a".repeat(9000))), 414, "UriTooLong", false);
    check(get(&format!("/face/v1.2/largepersongroups?x={}", "a".repeat(9000))), 414, "UriTooLong", true);
    check(b"GET /healthz HTTP/1.1\r\nHost: test\r\nNot a header\r\n\r\n".to_vec(), 400, "BadRequest", false);
    check(b"GET /face/v1.2/detect HTTP/1.1\r\nBad\x01Name: x\r\n\r\n".to_vec(), 400, "BadArgument", true);
    let (m, _) = ask(&server, &get("/metrics"));
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(text.contains("issc_http_malformed_requests_total{status=\"431\"} 3"), "{text}");
    assert!(text.contains("issc_http_malformed_requests_total{status=\"400\"} 2"), "{text}");
}

#[test]
fn an_unsupported_method_on_the_face_api_answers_like_azure() {
    let server = Server::start(cfg());
    for (method, path) in
        [("OPTIONS", "/face/v1.2/detect"), ("DELETE", "/face/v1.2/verify"), ("PUT", "/face/v1.0/detect")]
    {
        let (a, _) = ask(&server, format!("{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        assert_eq!((a.status, a.header("x-ms-error-code")), (405, Some("405")), "{method} {path}: {}", a.head);
        assert_eq!(a.header("allow"), Some("POST"), "{method} {path}: {}", a.head);
        let v = a.json();
        assert_eq!(v["error"]["code"], "405");
        assert!(v["error"]["message"].as_str().unwrap().contains(method), "{v}");
    }
    // Elsewhere, the server's own form (no Azure header).
    let (a, _) = ask(&server, b"OPTIONS /predict HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        (a.status, a.json()["error"]["code"].as_str(), a.header("x-ms-error-code")),
        (405, Some("MethodNotAllowed"), None)
    );
}

#[test]
fn a_mixed_case_multipart_boundary_is_read_as_sent() {
    let server = Server::start(cfg());
    // What Chrome and Safari send for FormData: the boundary has capitals.
    let boundary = "----WebKitFormBoundaryAbCdEfGh1234XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\nnot really a photo\r\n--{boundary}--\r\n"
    );
    let request = |ct: &str| {
        format!(
            "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    // The body is parsed and the `image` field found; without a model the answer is then 503 ModelNotLoaded
    // (a lower-cased boundary gave 400 "incomplete multipart stream").
    for ct in [format!("multipart/form-data; boundary={boundary}"), format!("Multipart/Form-Data; Boundary={boundary}")]
    {
        let (a, _) = ask(&server, &request(&ct));
        assert_eq!(
            (a.status, a.json()["error"]["code"].as_str()),
            (503, Some("ModelNotLoaded")),
            "{ct}: {:?}",
            a.json()
        );
    }
    // A body read too slowly is answered 408 within the body timeout.
    let slow = Server::start(ServeConfig { body_timeout: Duration::from_secs(1), ..cfg() });
    let mut s = slow.connect();
    s.write_all(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\nContent-Length: 1000\r\n\r\nabc")
        .unwrap();
    let a = read_answer(&mut s);
    assert_eq!((a.status, a.json()["error"]["code"].as_str()), (408, Some("BodyTimeout")), "{:?}", a.json());
    assert_eq!(a.header("connection"), Some("close"), "{}", a.head);
}
