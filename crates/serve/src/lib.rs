//! `issc serve`: an exported model behind HTTP.
//!
//! - `POST /predict`: a photo as the raw body (`image/*` or `application/octet-stream`) or as the multipart field
//!   `image` → every face: box, landmarks, label or `unknown`, probability, top-k, and timings.
//! - `POST /predict_json`: `{"image_base64": "...", "top_k": 3}`, or `{"url": "..."}` when the server has a URL
//!   allow-list (SSRF rules in [`fetch`]).
//! - `GET /healthz`, `GET /readyz` (the model loaded and the Face API's store answering, whichever are served), `GET /metrics` (Prometheus), `GET /openapi.json` (generated from
//!   the handlers' types), `GET /` (a page: drop a photo, see boxes and names over it and the JSON below).
//!
//! Inference runs on long-lived worker threads, never on the async runtime, at most `max_concurrency` at a time.
//! Requests queue for them while the wait they can expect (requests ahead × recent service time ÷ workers) is
//! within `max_wait` and fewer than `max_queue` wait; beyond that the server answers 503 with `Retry-After` at
//! once, before reading the body, so refusing costs far less than serving (see `admission`). Bodies, pixels and time per request are capped. Errors are `{"error": {"code", "message"}}` with
//! 400/401/404/413/415/422/503; bad input never yields a 500. API keys (`Authorization: Bearer` or `X-API-Key`)
//! protect `/predict*` and `/metrics` when configured, and are required to bind a non-loopback address.
//!
//! Connections have a header timeout, an idle keep-alive timeout and a limit kept below the open-file limit, at
//! which `/healthz` is still answered (see [`serve`] and `conn`); request bodies have a body timeout.

mod admission;
mod conn;
mod error;
mod face_api;
pub mod face_attributes;
pub mod fetch;
mod metrics;
pub mod startup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use issc_core::LoadOptions;
use issc_detect::Detector;
use issc_predict::Predictor;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub use conn::Limits;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use face_api::{FaceApi, FaceApiError};
pub use fetch::UrlFetch;
pub use metrics::Metrics;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest request body in bytes (the decoded photo for `/predict_json`).
    pub max_body_bytes: usize,
    /// Photos analysed at once (default: the number of cores).
    pub max_concurrency: usize,
    /// Most requests waiting for a worker; beyond that, 503.
    pub max_queue: usize,
    /// Most bytes of request bodies the requests in the server may hold (each counts its declared length, or
    /// `max_body_bytes` when it declares none); beyond that, 503. Bounds memory under any number of clients.
    pub max_queue_bytes: usize,
    /// Longest expected wait a request is admitted with (requests ahead × recent service time ÷ workers); beyond
    /// it, 503 with `Retry-After`. Default: half the request timeout.
    pub max_wait: Duration,
    /// Time limit of one request, queueing included.
    pub request_timeout: Duration,
    /// Accepted API keys; empty: no authentication (only allowed on loopback).
    pub api_keys: Vec<String>,
    /// Image limits (pixels checked from the header before decoding).
    pub load: LoadOptions,
    /// `{"url"}` fetching.
    pub url_fetch: UrlFetch,
    /// Largest `top_k`.
    pub max_top_k: usize,
    /// Decode JPEGs at the DCT-domain scale the detector needs ([`issc_detect::FacePipeline::decode_side`]);
    /// off by default.
    pub shrink_on_load: bool,
    /// Time a client has to send a request line and its headers: from the connection's opening for its first
    /// request, from the request's first byte on a kept-alive connection. A slower client is disconnected.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request before the server closes it. Default 75 s:
    /// longer than the idle timeout of common load balancers (60 s), so that a proxy in front closes first.
    pub idle_timeout: Duration,
    /// Time a request body has to arrive in full; beyond it, 408 `BodyTimeout`. Default 30 s.
    pub body_timeout: Duration,
    /// Most connections served at once (default 4096); kept below the process's open-file limit with room for the
    /// rest of the process ([`Limits`]). At the limit the oldest idle connection is closed for a new one; when none
    /// is idle, a few more are served one request each, `/healthz` answered and anything else 503.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_concurrency: cores,
            max_queue: 256 * cores,
            max_queue_bytes: 256 * 1024 * 1024,
            max_wait: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            api_keys: vec![],
            load: LoadOptions::default(),
            url_fetch: UrlFetch {
                allow: vec![],
                max_bytes: 10 * 1024 * 1024,
                timeout: Duration::from_secs(10),
                allow_loopback: false,
            },
            max_top_k: 20,
            shrink_on_load: false,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// The loaded model and the detector that finds faces for it.
pub struct Model {
    /// The exported model.
    pub predictor: Predictor,
    /// The face detector.
    pub detector: Box<dyn Detector>,
}

/// Shared state of the handlers.
pub struct AppState {
    cfg: ServeConfig,
    model: Option<Arc<Model>>,
    model_missing: String,
    /// The metrics.
    pub metrics: Metrics,
    admission: Arc<admission::Admission>,
    /// Long-lived inference threads: a fixed set keeps the allocator's per-thread arenas (and so the memory) flat,
    /// where short-lived blocking threads kept adding arenas.
    workers: rayon::ThreadPool,
    /// The Face API (`--store`).
    face: Option<Arc<face_api::FaceState>>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Refused configuration.
    #[error("{0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("{addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Refuse to expose an unauthenticated server beyond this machine.
pub fn check_bind(addr: &SocketAddr, cfg: &ServeConfig) -> Result<(), ServeError> {
    if !addr.ip().is_loopback() && cfg.api_keys.is_empty() {
        return Err(ServeError::Config(format!(
            "refusing to listen on {addr} without API keys: set ISSC_API_KEYS (comma-separated) or bind 127.0.0.1"
        )));
    }
    if cfg.max_concurrency == 0 {
        return Err(ServeError::Config("serve setting max_concurrency must be at least 1".into()));
    }
    if cfg.max_body_bytes == 0 {
        return Err(ServeError::Config("serve setting max_body_mb must be at least 1".into()));
    }
    if cfg.body_timeout.is_zero() {
        return Err(ServeError::Config("serve setting body_timeout must be more than 0 seconds".into()));
    }
    Limits::new(cfg)?;
    Ok(())
}

/// Build the router. `model` is `None` when the server runs without one (`/predict` answers 503, `missing` says
/// why).
pub fn router(cfg: ServeConfig, model: Option<Model>, missing: impl Into<String>) -> Router {
    router_with_face_api(cfg, model, missing, None)
}

/// [`router`], also answering the Azure Face API under `/face/{v1.0,v1.2-preview.1,v1.2}/…` when `face_api` is
/// given (without it those paths answer 404 saying how to enable them).
pub fn router_with_face_api(
    cfg: ServeConfig,
    model: Option<Model>,
    missing: impl Into<String>,
    face_api: Option<FaceApi>,
) -> Router {
    let workers = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.max_concurrency.max(1))
        .thread_name(|i| format!("issc-infer-{i}"))
        .build()
        .expect("cannot start the inference threads");
    let state = Arc::new(AppState {
        admission: admission::Admission::new(cfg.max_concurrency, cfg.max_queue, cfg.max_queue_bytes, cfg.max_wait),
        workers,
        cfg,
        model: model.map(Arc::new),
        model_missing: missing.into(),
        metrics: Metrics::default(),
        face: face_api.map(|f| Arc::new(face_api::FaceState::new(f))),
    });
    let protected = Router::new()
        .route("/predict", post(predict))
        .route("/predict_json", post(predict_json))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .merge(protected)
        .merge(face_api::routes(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serve `router` on `listener` with the connection settings of `cfg` (header, idle timeouts, connection limit)
/// until `shutdown` resolves; then stop accepting, finish the requests in flight, and return once every
/// connection is closed.
///
/// HTTP/1.1 through hyper, one task per connection under a watchdog (see [`Limits`] and the `conn` module): a new
/// connection must deliver its first request's headers within `header_timeout`; a kept-alive one must start its
/// next request within `idle_timeout` and finish its headers within `header_timeout` of that. At most
/// `max_connections` (kept below `ulimit -n`) are served normally; at the limit the oldest idle connection is
/// closed for a new one, and when none is idle a few more are served one request each (`/healthz` answered,
/// anything else 503 with `Retry-After`). Requests hyper cannot parse (headers too large, malformed) are answered
/// with the JSON error body like every other error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    cfg: &ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let limits = Limits::new(cfg)?;
    tracing::info!(
        "connections: at most {} (+{} over the limit for /healthz; open-file limit {}), header timeout {:?}, idle \
         timeout {:?}, body timeout {:?}",
        limits.max_connections,
        limits.over_limit,
        limits.open_files.map_or_else(|| "unlimited".to_string(), |n| n.to_string()),
        limits.header_timeout,
        limits.idle_timeout,
        cfg.body_timeout
    );
    conn::run(listener, router, limits, shutdown).await;
    Ok(())
}

type AppStateRef = Arc<AppState>;

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/face/") {
        return face_api::face_not_found(&req).into_response();
    }
    ApiError::not_found(format!("no route {} {}; see GET /openapi.json", req.method(), req.uri().path()))
        .into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    let message = format!("{} is not allowed on {}", req.method(), req.uri().path());
    if req.uri().path().starts_with("/face/") {
        return FaceApiError::new(StatusCode::METHOD_NOT_ALLOWED, "405", format!("Method not allowed: {message}."))
            .into_response();
    }
    ApiError { status: StatusCode::METHOD_NOT_ALLOWED, code: "MethodNotAllowed", message, retry_after: None }
        .into_response()
}

/// Requests answered before routing: a URI over [`conn::MAX_URI_BYTES`] (414), and, on a connection accepted over
/// the connection limit, anything but `GET /healthz` (503 `TooManyConnections`, 429 in Azure's form on `/face/`).
fn refuse_early(req: &Request) -> Option<Response> {
    let path = req.uri().path();
    let face = path.starts_with("/face/");
    let uri_len = req.uri().path_and_query().map_or(path.len(), |p| p.as_str().len());
    if uri_len > conn::MAX_URI_BYTES {
        let message = format!(
            "the request's URI is {uri_len} bytes, over the {} allowed: send large data in the request body",
            conn::MAX_URI_BYTES
        );
        return Some(if face {
            FaceApiError::new(StatusCode::URI_TOO_LONG, "UriTooLong", message).into_response()
        } else {
            ApiError { status: StatusCode::URI_TOO_LONG, code: "UriTooLong", message, retry_after: None }
                .into_response()
        });
    }
    let info = req.extensions().get::<conn::ConnInfo>()?;
    if !info.over_limit || path == "/healthz" {
        return None;
    }
    let message = format!(
        "the server has {} connections open, its limit (--max-connections, kept below the open-file limit); this \
         connection only answers GET /healthz: retry after the time in Retry-After",
        info.shared.limits.max_connections
    );
    Some(if face {
        FaceApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "429".into(),
            message: format!("Rate limit is exceeded. Try again in 1 seconds. ({message})"),
            retry_after: Some(1),
        }
        .into_response()
    } else {
        ApiError::unavailable("TooManyConnections", message, 1).into_response()
    })
}

/// Record every request's route, status and latency.
///
/// An answer sent before the request body was read to its end (401, 415, 404 on an upload) carries
/// `Connection: close`: the unread bytes would otherwise be parsed as the next request on a kept-alive
/// connection, and a client that reuses it sees a reset instead of its next answer.
async fn observe(State(state): State<AppStateRef>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let tracked = TrackedBody::new(body);
    let finished = tracked.finished.clone();
    let req = Request::from_parts(parts, Body::new(tracked));
    let mut resp = match refuse_early(&req) {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    if !finished.load(std::sync::atomic::Ordering::Acquire) {
        resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    state.metrics.request(&route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}

/// A request body that records whether it was read to its end.
struct TrackedBody {
    inner: Body,
    finished: Arc<std::sync::atomic::AtomicBool>,
}

impl TrackedBody {
    fn new(inner: Body) -> Self {
        use http_body::Body as _;
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(inner.is_end_stream()));
        Self { inner, finished }
    }
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Constant-time equality (the time does not depend on where the strings differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

async fn auth(State(state): State<AppStateRef>, req: Request, next: Next) -> Response {
    if state.cfg.api_keys.is_empty() {
        return next.run(req).await;
    }
    let h = req.headers();
    let given = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim));
    match given {
        None => ApiError::unauthorized("missing API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`")
            .into_response(),
        Some(k) if state.cfg.api_keys.iter().any(|key| same(key.as_bytes(), k.as_bytes())) => next.run(req).await,
        Some(_) => ApiError::unauthorized("invalid API key").into_response(),
    }
}

/// One candidate label.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateOut {
    /// The person.
    pub label: String,
    /// Softmax probability.
    pub probability: f32,
}

/// One face.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaceOut {
    /// `[x, y, w, h]` in the photo's pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector confidence.
    pub score: f32,
    /// Five landmarks `[x, y]`: eyes, nose tip, mouth corners (image left to right).
    pub landmarks: Vec<[f32; 2]>,
    /// The person, or `unknown`.
    pub label: String,
    /// Probability of the best class.
    pub probability: f32,
    /// The most probable people.
    pub top_k: Vec<CandidateOut>,
}

/// Milliseconds spent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timings {
    /// Decoding the photo.
    pub decode_ms: f64,
    /// Detection, alignment and classification.
    pub inference_ms: f64,
    /// The whole request, queueing included.
    pub total_ms: f64,
}

/// `/predict` and `/predict_json` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PredictResponse {
    /// Photo width after EXIF orientation.
    pub width: u32,
    /// Photo height.
    pub height: u32,
    /// Every face labelled, best detection first: at most the server's `--max-faces` (default 100), the largest.
    pub faces: Vec<FaceOut>,
    /// How many faces the detector found; more than `faces` when the cap dropped some (`faces_dropped`).
    pub faces_detected: usize,
    /// Faces found but not labelled: over the per-photo cap (the smallest are dropped), or with degenerate landmarks.
    pub faces_dropped: usize,
    /// Time spent.
    pub timings: Timings,
}

/// `/predict_json` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictJsonRequest {
    /// The photo's bytes, base64 (standard alphabet, padding optional).
    pub image_base64: Option<String>,
    /// Or a URL to fetch (only when the server has a URL allow-list).
    pub url: Option<String>,
    /// Candidates per face (default 3).
    pub top_k: Option<usize>,
}

/// `/healthz` and `/readyz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
    /// Labels of the loaded model.
    pub labels: Option<usize>,
    /// SHA-256 of the loaded graph.
    pub model_sha256: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "isshesarahconnor: issc serve", description = "Who is in this photo? Faces, names or \"unknown\"."),
    paths(predict, predict_json, healthz, readyz),
    components(schemas(
        PredictResponse,
        FaceOut,
        CandidateOut,
        Timings,
        PredictJsonRequest,
        Health,
        ErrorBody,
        ErrorDetail
    ))
)]
struct ApiDoc;

/// The OpenAPI document of this server.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok".into(), labels: None, model_sha256: None })
}

/// Readiness: 200 when what the server serves works (the model given with `--model`, the Face API store given with
/// `--store` answering); 503 with `Retry-After` otherwise.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn readyz(State(state): State<AppStateRef>) -> Result<axum::Json<Health>, ApiError> {
    // Ready when what this server was started to serve works: the model (loaded at start, when given) and the Face
    // API's store (asked for one collection: a Face-API-only replica behind a load balancer is ready when its
    // database answers).
    if let Some(face) = &state.face {
        let store = face.api.store.clone();
        let asked = tokio::task::spawn_blocking(move || store.collections(issc_store::Kind::LargePersonGroup, None, 1));
        match tokio::time::timeout(Duration::from_secs(5), asked).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(e))) => {
                return Err(ApiError::unavailable("StoreUnavailable", format!("the Face API store: {e}"), 5));
            }
            Ok(Err(_)) | Err(_) => {
                return Err(ApiError::unavailable(
                    "StoreUnavailable",
                    "the Face API store did not answer within 5 s",
                    5,
                ));
            }
        }
    }
    match (&state.model, &state.face) {
        (Some(m), _) => Ok(axum::Json(Health {
            status: "ready".into(),
            labels: Some(m.predictor.card().labels.len()),
            model_sha256: Some(m.predictor.card().model.sha256.clone()),
        })),
        (None, Some(_)) => Ok(axum::Json(Health { status: "ready".into(), labels: None, model_sha256: None })),
        (None, None) => Err(ApiError::unavailable("ModelNotLoaded", state.model_missing.clone(), 5)),
    }
}

async fn metrics(State(state): State<AppStateRef>, req: Request) -> Response {
    use std::fmt::Write as _;
    let mut text = state.metrics.render();
    if let Some(info) = req.extensions().get::<conn::ConnInfo>() {
        info.shared.render(&mut text);
    }
    let a = &state.admission;
    text.push_str("# HELP issc_requests_in_server Requests admitted and not yet answered (running or waiting).\n");
    text.push_str("# TYPE issc_requests_in_server gauge\n");
    let _ = writeln!(text, "issc_requests_in_server {}", a.in_system());
    text.push_str("# HELP issc_expected_wait_seconds The wait a request arriving now can expect (admission rule).\n");
    text.push_str("# TYPE issc_expected_wait_seconds gauge\n");
    let _ = writeln!(text, "issc_expected_wait_seconds {:.6}", a.expected_wait().as_secs_f64());
    text.push_str("# HELP issc_service_seconds Recent time per request on a worker (moving average).\n");
    text.push_str("# TYPE issc_service_seconds gauge\n");
    let _ = writeln!(text, "issc_service_seconds {:.6}", a.service_time().as_secs_f64());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Most bytes read and thrown away after a body is found too large, so that the client finishes sending and reads
/// the 413 (closing mid-upload makes most clients report a broken pipe instead of the answer).
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Read the whole body within the body timeout, refusing more than `limit` bytes with 413 and a body that does not
/// arrive in time with 408.
async fn read_body(
    state: &AppStateRef,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let timeout = state.cfg.body_timeout;
    use futures::StreamExt as _;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut over = declared.is_some_and(|n| n > limit as u64);
    let mut buf = Vec::with_capacity(if over { 0 } else { declared.unwrap_or(0) as usize });
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    let read = tokio::time::timeout(timeout, async {
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request("BadBody", format!("cannot read the request body: {e}")))?;
            seen += chunk.len();
            if !over {
                if buf.len() + chunk.len() > limit {
                    over = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&chunk);
                }
            }
            if over && seen > DRAIN_BYTES {
                break;
            }
        }
        Ok::<_, ApiError>(())
    })
    .await;
    if over {
        return Err(ApiError::too_large(format!("request body is over {limit} bytes (this server's body limit)")));
    }
    match read {
        Err(_) => Err(ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "BodyTimeout",
            message: format!(
                "the request body did not arrive within {:?} (--body-timeout); {seen} bytes came: send it faster, \
                 or ask for a longer body timeout",
                timeout
            ),
            retry_after: None,
        }),
        Ok(r) => r.map(|()| bytes::Bytes::from(buf)),
    }
}

/// The bytes a request's body will hold: its declared length, capped at `limit` (what reading it allows), or
/// `limit` when it declares none.
fn declared_body(headers: &HeaderMap, limit: usize) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(limit, |n| usize::try_from(n).unwrap_or(usize::MAX).min(limit))
}

/// The Content-Type as sent (trimmed), and its media type lower-cased (`multipart/form-data`) for comparisons.
/// Parameters keep their case: a multipart boundary is case-sensitive (`----WebKitFormBoundaryAbC…` from Chrome
/// and Safari).
fn content_type(headers: &HeaderMap) -> Option<(String, String)> {
    let raw = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())?.trim().to_string();
    let media = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Some((raw, media))
}

/// Predict from a photo in the body.
#[utoipa::path(
    post,
    path = "/predict",
    request_body(content = Vec<u8>, content_type = "image/*", description = "The photo (JPEG, PNG, WebP, GIF, BMP, TIFF, PNM), raw; or multipart/form-data with the field `image`."),
    params(("top_k" = Option<usize>, Query, description = "Candidates per face (default 3)")),
    responses(
        (status = 200, body = PredictResponse),
        (status = 400, body = ErrorBody, description = "Empty body, bad multipart"),
        (status = 401, body = ErrorBody, description = "Missing or invalid API key"),
        (status = 408, body = ErrorBody, description = "The body did not arrive within the server's body timeout"),
        (status = 413, body = ErrorBody, description = "Body over the server's body limit"),
        (status = 415, body = ErrorBody, description = "Content type is not an image or multipart"),
        (status = 422, body = ErrorBody, description = "Not a readable image, truncated, damaged (DamagedImage), or too many pixels"),
        (status = 503, body = ErrorBody, description = "Saturated (Retry-After), timed out, or no model"),
    )
)]
async fn predict(
    State(state): State<AppStateRef>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<PredictResponse>, ApiError> {
    let started = Instant::now();
    let top_k = match q.get("top_k") {
        Some(v) => Some(
            v.parse::<usize>().map_err(|_| ApiError::bad_request("InvalidTopK", "top_k must be a positive integer"))?,
        ),
        None => None,
    };
    let (ct, media) = content_type(&headers).ok_or_else(|| {
        ApiError::unsupported_media_type(
            "no Content-Type: send the photo as image/* (raw body) or multipart/form-data with the field `image`",
        )
    })?;
    // Admitted or refused before a byte of the body is read: a refusal costs almost nothing.
    let ticket = admit(&state, declared_body(&headers, state.cfg.max_body_bytes))?;
    let photo = if media == "multipart/form-data" {
        let boundary = multer::parse_boundary(&ct)
            .map_err(|e| ApiError::bad_request("BadMultipart", format!("multipart without a boundary: {e}")))?;
        let bytes = read_body(&state, &headers, body, state.cfg.max_body_bytes + 64 * 1024).await?;
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
        let mut mp = multer::Multipart::new(stream, boundary);
        let mut found = None;
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request("BadMultipart", format!("bad multipart body: {e}")))?
        {
            if field.name() == Some("image") {
                let b = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::bad_request("BadMultipart", format!("bad multipart body: {e}")))?;
                found = Some(b);
                break;
            }
        }
        found.ok_or_else(|| ApiError::bad_request("MissingImage", "multipart body has no field named `image`"))?
    } else if media.starts_with("image/") || media == "application/octet-stream" {
        read_body(&state, &headers, body, state.cfg.max_body_bytes).await?
    } else {
        return Err(ApiError::unsupported_media_type(format!(
            "Content-Type {ct} is not accepted: send image/* (raw photo), application/octet-stream or \
             multipart/form-data with the field `image`; for JSON use POST /predict_json"
        )));
    };
    run(&state, photo, top_k, started, ticket).await
}

/// Predict from a base64 photo (or an allowed URL) in JSON.
#[utoipa::path(
    post,
    path = "/predict_json",
    request_body = PredictJsonRequest,
    responses(
        (status = 200, body = PredictResponse),
        (status = 400, body = ErrorBody, description = "Invalid JSON or base64, URL refused"),
        (status = 401, body = ErrorBody),
        (status = 408, body = ErrorBody, description = "The body did not arrive within the server's body timeout"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "Content type is not application/json"),
        (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn predict_json(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<PredictResponse>, ApiError> {
    let started = Instant::now();
    match content_type(&headers) {
        Some((_, media)) if media == "application/json" => {}
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "Content-Type {} is not application/json",
                other.map_or_else(|| "(none)".into(), |(raw, _)| raw)
            )));
        }
    }
    let limit = state.cfg.max_body_bytes / 3 * 4 + 4096;
    let ticket = admit(&state, declared_body(&headers, limit))?;
    let raw = read_body(&state, &headers, body, limit).await?;
    let req: PredictJsonRequest = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request("InvalidJson", format!("invalid JSON body: {e}")))?;
    let photo = match (&req.image_base64, &req.url) {
        (Some(b64), None) => {
            let cleaned: String =
                b64.split(',').next_back().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect();
            let bytes =
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.trim_end_matches('=')).map_err(
                    |e| ApiError::bad_request("InvalidBase64", format!("image_base64 is not valid base64: {e}")),
                )?;
            if bytes.len() > state.cfg.max_body_bytes {
                return Err(ApiError::too_large(format!("decoded image is over {} bytes", state.cfg.max_body_bytes)));
            }
            bytes::Bytes::from(bytes)
        }
        (None, Some(url)) => bytes::Bytes::from(fetch::fetch_image(&state.cfg.url_fetch, url).await?),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("InvalidRequest", "give image_base64 or url, not both"));
        }
        (None, None) => return Err(ApiError::bad_request("InvalidRequest", "missing image_base64 (or url)")),
    };
    run(&state, photo, req.top_k, started, ticket).await
}

fn image_error(e: &issc_core::ImageError) -> ApiError {
    match e.kind() {
        "empty" => ApiError::bad_request("EmptyImage", "the photo is empty (0 bytes)"),
        "too_many_bytes" => ApiError::too_large(e.to_string()),
        "too_many_pixels" => ApiError::unprocessable("TooManyPixels", e.to_string()),
        "not_an_image" | "unsupported_format" => ApiError::unprocessable("NotAnImage", e.to_string()),
        "damaged" => ApiError::unprocessable("DamagedImage", e.to_string()),
        _ => ApiError::unprocessable("CorruptImage", e.to_string()),
    }
}

/// A place in the server for one request whose body holds at most `bytes`, or 503 Overloaded with `Retry-After`
/// (the wait it would have had).
pub(crate) fn admit(state: &AppStateRef, bytes: usize) -> Result<admission::Ticket, ApiError> {
    state.admission.admit(bytes).map_err(|refused| {
        state.metrics.rejected_busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ApiError::unavailable(
            "Overloaded",
            format!(
                "the server is at capacity (expected wait {:.1} s); retry after the time in Retry-After",
                refused.expected_wait.as_secs_f64()
            ),
            refused.retry_after(),
        )
    })
}

/// Run `work` on the inference threads: admitted only while the expected wait is within budget (else 503
/// Overloaded with `Retry-After`), bounded by the request timeout, panics turned into 500.
pub(crate) async fn on_worker<T: Send + 'static>(
    state: &AppStateRef,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let ticket = admit(state, 0)?;
    on_worker_admitted(state, ticket, work).await
}

/// [`on_worker`] for a request already admitted.
pub(crate) async fn on_worker_admitted<T: Send + 'static>(
    state: &AppStateRef,
    admitted: admission::Ticket,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let admission = state.admission.clone();
    state.workers.spawn(move || {
        let t = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(ApiError::internal("inference panicked")));
        admission.served(t.elapsed());
        // Free the slot before answering, so a client that sends its next request on the answer finds it free.
        drop(admitted);
        // The client may have gone (timeout): nothing to do then.
        let _ = tx.send(result);
    });
    let work = async move { rx.await.map_err(ApiError::internal)? };
    tokio::time::timeout(state.cfg.request_timeout, work).await.map_err(|_| {
        ApiError::unavailable("Timeout", format!("the request took over {:?}", state.cfg.request_timeout), 1)
    })?
}

async fn run(
    state: &AppStateRef,
    photo: bytes::Bytes,
    top_k: Option<usize>,
    started: Instant,
    ticket: admission::Ticket,
) -> Result<axum::Json<PredictResponse>, ApiError> {
    let top_k = top_k.unwrap_or(3);
    if top_k == 0 || top_k > state.cfg.max_top_k {
        return Err(ApiError::bad_request("InvalidTopK", format!("top_k must be in 1..={}", state.cfg.max_top_k)));
    }
    if photo.is_empty() {
        return Err(ApiError::bad_request("EmptyImage", "the request has no photo (empty body)"));
    }
    let model =
        state.model.clone().ok_or_else(|| ApiError::unavailable("ModelNotLoaded", state.model_missing.clone(), 5))?;
    let load = state.cfg.load;
    let side = (state.cfg.shrink_on_load && model.detector.accepts_reduced()).then(|| model.detector.config().max_side);
    let (width, height, faces, decode_ms, infer_s) = on_worker_admitted(state, ticket, move || {
        let t0 = Instant::now();
        let photo = issc_core::Photo::decode(Vec::from(photo), "photo", &load, side).map_err(|e| image_error(&e))?;
        let decode_ms = t0.elapsed().as_secs_f64() * 1e3;
        let t1 = Instant::now();
        let faces = model.predictor.predict_photo(model.detector.as_ref(), &photo, top_k).map_err(|e| match e {
            issc_predict::PredictError::Detect(issc_detect::DetectError::Image(e)) => image_error(&e),
            e => ApiError::unprocessable("InferenceFailed", e.to_string()),
        })?;
        let (width, height) = photo.full_size();
        Ok((width, height, faces, decode_ms, t1.elapsed().as_secs_f64()))
    })
    .await?;
    state.metrics.inference.observe(infer_s);
    state.metrics.faces.observe(faces.faces.len() as f64);
    let (faces_detected, faces_dropped) = (faces.detected, faces.dropped());
    let faces = faces
        .faces
        .into_iter()
        .map(|f| {
            let b = f.face.bbox;
            FaceOut {
                bbox: [b.x, b.y, b.w, b.h],
                score: f.face.score,
                landmarks: f.face.landmarks.0.to_vec(),
                label: f.label.name().to_string(),
                probability: f.label.probability,
                top_k: f
                    .label
                    .top_k
                    .into_iter()
                    .map(|c| CandidateOut { label: c.label, probability: c.probability })
                    .collect(),
            }
        })
        .collect();
    Ok(axum::Json(PredictResponse {
        width,
        height,
        faces,
        faces_detected,
        faces_dropped,
        timings: Timings { decode_ms, inference_ms: infer_s * 1e3, total_ms: started.elapsed().as_secs_f64() * 1e3 },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab") && !same(b"", b"a"));
    }

    #[test]
    fn non_loopback_without_keys_is_refused() {
        let cfg = ServeConfig::default();
        assert!(check_bind(&"127.0.0.1:0".parse().unwrap(), &cfg).is_ok());
        let e = check_bind(&"0.0.0.0:8080".parse().unwrap(), &cfg).unwrap_err().to_string();
        assert!(e.contains("ISSC_API_KEYS"), "{e}");
        let keyed = ServeConfig { api_keys: vec!["k".into()], ..ServeConfig::default() };
        assert!(check_bind(&"0.0.0.0:8080".parse().unwrap(), &keyed).is_ok());
    }

    #[test]
    fn openapi_lists_the_routes_and_schemas() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        for p in ["/predict", "/predict_json", "/healthz", "/readyz"] {
            assert!(doc["paths"][p].is_object(), "{p}");
        }
        assert!(doc["components"]["schemas"]["PredictResponse"].is_object());
    }
}
