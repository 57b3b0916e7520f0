//! A tiny real HTTP server on 127.0.0.1 (ephemeral port) that records every request and answers from a script.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// A dummy key: never a real one.
pub const TEST_KEY: &str = "test-key-not-a-real-secret-0000";

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Query pairs, percent-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(q) = &self.raw_query else { return Vec::new() };
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply { status, headers: Vec::new(), body: Vec::new(), delay: None }
    }

    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Reply::new(status).header("content-type", "application/json").body(value.to_string().into_bytes())
    }

    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, serde_json::json!({"error": {"code": code, "message": message}}))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
}

type Responder = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

struct ServerState {
    requests: Mutex<Vec<Recorded>>,
    responder: Box<Responder>,
}

/// The server; it lives as long as the test's runtime.
pub struct TestServer {
    pub base: String,
    state: Arc<ServerState>,
}

impl TestServer {
    /// Answers with `responder(request, index)`, index counting from 0.
    pub async fn start(responder: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(ServerState { requests: Mutex::new(Vec::new()), responder: Box::new(responder) });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { base: format!("http://{addr}"), state }
    }

    /// Answers with the replies in order; the last one repeats.
    pub async fn script(replies: Vec<Reply>) -> Self {
        Self::start(move |_, i| replies[i.min(replies.len() - 1)].clone()).await
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }
}

async fn handle(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    let index = {
        let mut requests = state.requests.lock().expect("lock");
        requests.push(rec.clone());
        requests.len() - 1
    };
    let reply = (state.responder)(&rec, index);
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).expect("status");
    for (k, v) in reply.headers {
        resp.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(&v).expect("header value"),
        );
    }
    resp
}

/// Parses a multipart/form-data body into (name, filename, bytes) parts.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).expect("boundary").trim_matches('"');
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let Some(head_end) = find(rest, b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let Some(end) = find(rest, format!("\r\n{delim}").as_bytes()) else { break };
        let content = rest[..end].to_vec();
        rest = &rest[end + 2..];
        let name = attr(&head, "name").unwrap_or_default();
        let filename = attr(&head, "filename");
        parts.push((name, filename, content));
    }
    parts
}

fn attr(head: &str, key: &str) -> Option<String> {
    let pat = format!("; {key}=\"");
    let i = head.find(&pat)? + pat.len();
    let j = head[i..].find('"')? + i;
    Some(head[i..j].to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
