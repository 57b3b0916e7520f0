//! Shared by the HTTP targets: raw requests as seeds, their mutations, sending them through the server's `Router`
//! in-process, and the properties every answer must have.
//!
//! A seed (and a regression input) is an HTTP/1.1 request as written on the wire: request line, headers, a blank
//! line, the body. `Content-Length` is always set from the body (as hyper does once it has read it); a request the
//! HTTP layer would refuse (bad method, target or header bytes) is not sent.

#![allow(dead_code)]

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use issc_fuzz::Case;
use issc_fuzz::bytes::{At, Op, apply, ops};
use issc_fuzz::corpus::Seed;
use issc_fuzz::tree::{TreeMutation, mutate_json, mutation};
use proptest::prelude::*;
use tower::ServiceExt as _;

/// A request split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// Method, as written.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// Headers, as written.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Split a raw request; `None` when there is no request line.
pub fn parse(bytes: &[u8]) -> Option<Raw> {
    let (head, body) = match find(bytes, b"\r\n\r\n") {
        Some(i) => (&bytes[..i], &bytes[i + 4..]),
        None => match find(bytes, b"\n\n") {
            Some(i) => (&bytes[..i], &bytes[i + 2..]),
            None => (bytes, &b""[..]),
        },
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().as_bytes().to_vec())))
        .collect();
    Some(Raw { method, target, headers, body: body.to_vec() })
}

/// Write a request back (CRLF line ends).
pub fn render(r: &Raw) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", r.method, r.target).into_bytes();
    for (k, v) in &r.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
    out
}

/// Values for query parameters and path segments: empty, signs, numbers past every integer type, floats, booleans,
/// percent-escapes (invalid UTF-8, NUL, a slash), Unicode, traversal, model names just off the valid ones.
pub const VALUES: [&str; 24] = [
    "",
    "0",
    "-1",
    "1",
    "1001",
    "18446744073709551616",
    "1e3",
    "NaN",
    "true",
    "TRUE",
    "%FF%FE",
    "%00",
    "%2F..%2F",
    "%F0%9F%98%80",
    "%E2%80%AE",
    "..",
    "a%20b",
    "recognition_05",
    "detection_04",
    "faceId,faceLandmarks,recognitionModel",
    "headPose,blur,mask,qualityForRecognition,age",
    "0,0,99999999,1",
    "-5,-5,10,10",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
];

/// Methods, including ones no route takes.
pub const METHODS: [&str; 8] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"];

/// Content types, for the body the request has.
pub const CONTENT_TYPES: [&str; 10] = [
    "application/json",
    "application/json; charset=utf-8",
    "application/octet-stream",
    "image/jpeg",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=\"quoted boundary\"",
    "text/plain",
    "APPLICATION/JSON",
    "image/",
];

/// How a request seed is mutated.
#[derive(Debug, Clone)]
pub enum HttpMutation {
    /// Byte edits of the whole request (request line, headers and body).
    Bytes(Vec<Op>),
    /// Byte edits of the body only.
    BodyBytes(Vec<Op>),
    /// Structural edits of a JSON body.
    Json(TreeMutation),
    /// Query parameters: (which one, new value index, repetitions), and a parameter added.
    Query {
        /// Edits of existing parameters' values.
        values: Vec<(At, u8, u8)>,
        /// A parameter added: (which known name, value index).
        add: Option<(u8, u8)>,
    },
    /// A path segment replaced.
    Path(At, u8, u8),
    /// The method replaced.
    Method(u8),
    /// The content type replaced.
    ContentType(u8),
}

/// Parameter names the routes read.
pub const PARAMS: [&str; 12] = [
    "top_k",
    "returnFaceId",
    "returnFaceLandmarks",
    "returnFaceAttributes",
    "recognitionModel",
    "returnRecognitionModel",
    "detectionModel",
    "faceIdTimeToLive",
    "targetFace",
    "userData",
    "start",
    "top",
];

fn value(i: u8, reps: u8) -> String {
    VALUES[usize::from(i) % VALUES.len()].repeat(usize::from(reps.clamp(1, 40)))
}

/// Apply a mutation to a request seed.
pub fn mutate(seed: &[u8], m: &HttpMutation, corpus: &[Vec<u8>]) -> Vec<u8> {
    let Some(mut r) = parse(seed) else { return apply(seed, &[], corpus) };
    match m {
        HttpMutation::Bytes(ops) => return apply(seed, ops, corpus),
        HttpMutation::BodyBytes(ops) => r.body = apply(&r.body, ops, &[]),
        HttpMutation::Json(t) => r.body = mutate_json(&r.body, t),
        HttpMutation::Query { values, add } => {
            let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
            let mut pairs: Vec<(String, String)> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            for (at, v, reps) in values {
                if !pairs.is_empty() {
                    let i = at.of(pairs.len());
                    pairs[i].1 = value(*v, *reps);
                }
            }
            if let Some((name, v)) = add {
                pairs.push((PARAMS[usize::from(*name) % PARAMS.len()].to_string(), value(*v, 1)));
            }
            let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            r.target = if q.is_empty() { path.to_string() } else { format!("{path}?{}", q.join("&")) };
        }
        HttpMutation::Path(at, v, reps) => {
            let (path, query) = match r.target.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (r.target.clone(), None),
            };
            let mut segs: Vec<String> = path.split('/').map(str::to_string).collect();
            if segs.len() > 1 {
                let i = 1 + at.of(segs.len() - 1);
                segs[i] = value(*v, *reps);
            }
            r.target = segs.join("/") + &query.map(|q| format!("?{q}")).unwrap_or_default();
        }
        HttpMutation::Method(i) => r.method = METHODS[usize::from(*i) % METHODS.len()].to_string(),
        HttpMutation::ContentType(i) => {
            r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            r.headers.push((
                "Content-Type".into(),
                CONTENT_TYPES[usize::from(*i) % CONTENT_TYPES.len()].as_bytes().to_vec(),
            ));
        }
    }
    render(&r)
}

fn at() -> impl Strategy<Value = At> {
    any::<u64>().prop_map(At)
}

fn http_mutation() -> impl Strategy<Value = HttpMutation> {
    prop_oneof![
        3 => ops(5).prop_map(HttpMutation::Bytes),
        2 => ops(5).prop_map(HttpMutation::BodyBytes),
        6 => mutation().prop_map(HttpMutation::Json),
        3 => (prop::collection::vec((at(), any::<u8>(), prop_oneof![Just(1u8), 1u8..40]), 0..3),
              prop::option::of((any::<u8>(), any::<u8>())))
            .prop_map(|(values, add)| HttpMutation::Query { values, add }),
        2 => (at(), any::<u8>(), prop_oneof![Just(1u8), 1u8..40]).prop_map(|(a, v, r)| HttpMutation::Path(a, v, r)),
        1 => any::<u8>().prop_map(HttpMutation::Method),
        1 => any::<u8>().prop_map(HttpMutation::ContentType),
    ]
}

/// Mutated requests from `seeds`.
pub fn http_cases(seeds: Vec<Seed>) -> impl Strategy<Value = Case<HttpMutation>> {
    let corpus: Vec<Vec<u8>> = seeds.iter().map(|s| s.bytes.clone()).collect();
    (0..seeds.len(), http_mutation()).prop_map(move |(i, m)| Case {
        seed: seeds[i].name.clone(),
        input: mutate(&seeds[i].bytes, &m, &corpus),
        mutation: m,
    })
}

/// An answer.
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: bytes::Bytes,
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned();
        write!(f, "{} {body}", self.status)
    }
}

/// The request as hyper would hand it to the router; `None` when the HTTP layer would refuse it first.
pub fn to_request(raw: &Raw) -> Option<Request<Body>> {
    let method = Method::from_bytes(raw.method.as_bytes()).ok()?;
    let uri = Uri::try_from(raw.target.as_str()).ok()?;
    uri.path_and_query()?;
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in &raw.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::HOST {
            continue;
        }
        b = b.header(name, HeaderValue::from_bytes(v).ok()?);
    }
    b.header(header::HOST, "127.0.0.1")
        .header(header::CONTENT_LENGTH, raw.body.len())
        .body(Body::from(raw.body.clone()))
        .ok()
}

/// Send `raw` through `router` in-process; `None` when the HTTP layer would refuse the request.
pub async fn send(router: &Router, raw: &Raw) -> Option<Answer> {
    let Some(req) = to_request(raw) else {
        tally("refused by the HTTP layer");
        return None;
    };
    let resp = match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    tally(format!("{} {code}", parts.status.as_u16()));
    Some(Answer { status: parts.status, headers: parts.headers, body })
}

/// What every answer to `raw` must be: a status that is not a server error (503 aside, with `Retry-After`), and a
/// JSON error `{"error": {"code", "message"}}` for every error (with `x-ms-error-code` equal to the code when
/// `azure_header`). Success bodies declared JSON must be JSON. Answers to `HEAD` have no body, by HTTP's rules.
pub fn check_answer(raw: &Raw, a: &Answer, azure_header: bool) -> Result<(), String> {
    let s = a.status.as_u16();
    if a.status.is_server_error() && s != 503 {
        return Err(format!("server error: {a:?}"));
    }
    if s == 503 && !a.headers.contains_key(header::RETRY_AFTER) {
        return Err(format!("503 without Retry-After: {a:?}"));
    }
    let json_declared = a
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if raw.method == "HEAD" {
        return Ok(());
    }
    if s >= 400 {
        let v: serde_json::Value =
            serde_json::from_slice(&a.body).map_err(|e| format!("error answer is not JSON ({e}): {a:?}"))?;
        let code = v["error"]["code"].as_str().filter(|c| !c.is_empty());
        let message = v["error"]["message"].as_str().filter(|m| !m.is_empty());
        let (Some(code), Some(_)) = (code, message) else {
            return Err(format!("error answer without error.code and error.message: {a:?}"));
        };
        if azure_header {
            let h = a.headers.get("x-ms-error-code").and_then(|v| v.to_str().ok());
            if h != Some(code) {
                return Err(format!("x-ms-error-code {h:?} is not error.code {code:?}: {a:?}"));
            }
        }
    } else if json_declared && !a.body.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&a.body)
            .map_err(|e| format!("success body is not JSON ({e}): {a:?}"))?;
    }
    Ok(())
}

/// A runtime for the in-process requests (two workers, as a small server).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Replace `{NAME}` placeholders of a seed.
pub fn fill(seed: &Seed, vars: &[(&str, String)]) -> Seed {
    let mut b = seed.bytes.clone();
    for (k, v) in vars {
        let pat = format!("{{{k}}}");
        while let Some(i) = find(&b, pat.as_bytes()) {
            b.splice(i..i + pat.len(), v.bytes());
        }
    }
    Seed { name: seed.name.clone(), bytes: b }
}

/// Shared across cases of one target.
pub type Shared<T> = Arc<T>;

static STATS: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Count an outcome (printed by [`print_stats`] when `ISSC_FUZZ_STATS` is set).
pub fn tally(outcome: impl Into<String>) {
    *STATS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(outcome.into()).or_default() += 1;
}

/// Print the outcomes counted so far, when `ISSC_FUZZ_STATS` is set.
pub fn print_stats(target: &str) {
    if std::env::var_os("ISSC_FUZZ_STATS").is_some() {
        eprintln!("{target} outcomes: {:?}", STATS.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}
