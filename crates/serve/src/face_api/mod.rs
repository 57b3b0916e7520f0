//! The Azure AI Face REST API (v1.2, also answered under `v1.0` and `v1.2-preview.1`) on `issc serve --store DIR`:
//! detect, verify, identify, find similar, group, (large) person groups with persons and persisted faces, (large)
//! face lists, training as a long-running operation and `GET /operations/{id}`.
//!
//! Paths, bodies, status codes and error codes follow `../shared/azure/API.md` and the v1.2 spec, so Azure's SDKs
//! work unchanged. Faces are found by the server's detector and embedded by SFace (128-d) whatever
//! `recognitionModel` says: the model names are accepted, stored and reported, and a faceId only matches
//! collections of the same `recognitionModel`, as in Azure. Confidence maps the SFace cosine similarity `c`
//! piecewise linearly onto `[0, 1]` with SFace's same-person threshold `t` = 0.363 at 0.5 (Azure's `isIdentical`
//! cut-off): `0.5·(c+1)/(t+1)` below `t`, `0.5 + 0.5·(c−t)/(1−t)` above.

mod collections;
mod detect;
mod errors;
mod match_ops;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use errors::FaceApiError;
use issc_detect::FacePipeline;
use issc_store::{FaceStore, StoreError};
use serde::de::DeserializeOwned;

use crate::{AppStateRef, same};

/// What the Face API needs: the store and a detector with an embedder.
pub struct FaceApi {
    /// The collections.
    pub store: Arc<dyn FaceStore>,
    /// Detector + SFace.
    pub pipeline: Arc<FacePipeline>,
    /// Most transient faceIds kept at once (oldest-expiring dropped beyond it).
    pub max_face_ids: usize,
}

impl std::fmt::Debug for FaceApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceApi").field("store", &self.store).finish_non_exhaustive()
    }
}

/// The Face API state inside the server.
pub(crate) struct FaceState {
    pub(crate) api: FaceApi,
    pub(crate) cache: FaceIdCache,
    /// SFace's same-person cosine.
    pub(crate) threshold: f32,
}

impl FaceState {
    pub(crate) fn new(api: FaceApi) -> Self {
        let threshold =
            api.pipeline.embedder().map_or(issc_detect::SFACE_THRESHOLD, issc_detect::Embedder::default_threshold);
        let cache = FaceIdCache::new(api.max_face_ids);
        Self { api, cache, threshold }
    }

    /// Cosine → Azure confidence.
    pub(crate) fn confidence(&self, cosine: f32) -> f64 {
        let (c, t) = (f64::from(cosine.clamp(-1.0, 1.0)), f64::from(self.threshold));
        let v = if c <= t { 0.5 * (c + 1.0) / (t + 1.0) } else { 0.5 + 0.5 * (c - t) / (1.0 - t) };
        (v.clamp(0.0, 1.0) * 1e5).round() / 1e5
    }
}

/// One detected face remembered under its transient faceId.
#[derive(Clone)]
pub(crate) struct CachedFace {
    pub(crate) embedding: Arc<Vec<f32>>,
    pub(crate) recognition_model: String,
    expires: Instant,
}

/// faceId → embedding, each with its time to live.
pub(crate) struct FaceIdCache {
    max: usize,
    inner: Mutex<(HashMap<uuid::Uuid, CachedFace>, u64)>,
}

impl FaceIdCache {
    fn new(max: usize) -> Self {
        Self { max: max.max(1), inner: Mutex::new((HashMap::new(), 0)) }
    }

    pub(crate) fn insert(&self, embedding: Vec<f32>, recognition_model: &str, ttl: Duration) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, inserts) = &mut *g;
        *inserts += 1;
        if *inserts % 1024 == 0 || map.len() >= self.max {
            map.retain(|_, f| f.expires > now);
        }
        if map.len() >= self.max
            && let Some(oldest) = map.iter().min_by_key(|(_, f)| f.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            id,
            CachedFace {
                embedding: Arc::new(embedding),
                recognition_model: recognition_model.to_string(),
                expires: now + ttl,
            },
        );
        id
    }

    pub(crate) fn get(&self, id: &uuid::Uuid) -> Option<CachedFace> {
        let g = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        g.0.get(id).filter(|f| f.expires > Instant::now()).cloned()
    }
}

/// API versions answered.
const VERSIONS: [&str; 4] = ["v1.0", "v1.1-preview.1", "v1.2-preview.1", "v1.2"];

pub(crate) fn face_state(state: &AppStateRef) -> Result<&FaceState, FaceApiError> {
    state.face.as_deref().ok_or_else(|| {
        FaceApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the Face API is off on this server: start it with `issc serve --store DIR`",
        )
    })
}

/// Check the version segment of every `/face/{ver}/…` route.
async fn version_and_auth(State(state): State<AppStateRef>, req: Request, next: Next) -> Response {
    let ver = req.uri().path().trim_start_matches("/face/").split('/').next().unwrap_or("").to_string();
    if !VERSIONS.contains(&ver.as_str()) {
        return FaceApiError::new(
            StatusCode::NOT_FOUND,
            "404",
            format!("Resource not found: API version '{ver}' is not served; use one of {}", VERSIONS.join(", ")),
        )
        .into_response();
    }
    if !state.cfg.api_keys.is_empty() {
        let h = req.headers();
        let given = h
            .get("ocp-apim-subscription-key")
            .or_else(|| h.get("x-api-key"))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .or_else(|| {
                h.get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
            });
        let ok = given.is_some_and(|k| state.cfg.api_keys.iter().any(|key| same(key.as_bytes(), k.as_bytes())));
        if !ok {
            return FaceApiError::new(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid \
                 key in the Ocp-Apim-Subscription-Key header (one of ISSC_API_KEYS) and use a correct API endpoint.",
            )
            .into_response();
        }
    }
    match face_state(&state) {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The `/face/{ver}/…` routes (answering 404 with a hint when the server has no store).
pub(crate) fn routes(state: AppStateRef) -> Router<AppStateRef> {
    let r = Router::new()
        .route("/face/{ver}/detect", post(detect::detect))
        .route("/face/{ver}/verify", post(match_ops::verify))
        .route("/face/{ver}/identify", post(match_ops::identify))
        .route("/face/{ver}/findsimilars", post(match_ops::find_similar))
        .route("/face/{ver}/group", post(match_ops::group))
        .route("/face/{ver}/operations/{id}", get(collections::operation));
    collections::routes(r).route_layer(axum::middleware::from_fn_with_state(state, version_and_auth))
}

/// Unknown `/face/…` paths (the server's fallback sends them here).
pub(crate) fn face_not_found(req: &Request) -> FaceApiError {
    FaceApiError::new(
        StatusCode::NOT_FOUND,
        "404",
        format!("Resource not found: no Face API operation {} {}", req.method(), req.uri().path()),
    )
}

/// Read a JSON body (any content type), with Azure's errors.
pub(crate) async fn json_body<T: DeserializeOwned>(
    state: &AppStateRef,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, FaceApiError> {
    let raw = crate::read_body(state, headers, body, limit).await.map_err(FaceApiError::from_api)?;
    if raw.is_empty() {
        return Err(FaceApiError::bad_argument("Request body is invalid: it is empty; send a JSON object."));
    }
    serde_json::from_slice(&raw).map_err(|e| FaceApiError::bad_argument(format!("JSON parsing error: {e}")))
}

/// Run store work off the async runtime. The outer error is a panic in the store (a bug: 500).
pub(crate) async fn db<T: Send + 'static>(
    fs: &FaceState,
    f: impl FnOnce(&dyn FaceStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, FaceApiError> {
    let store = fs.api.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref())).await.map_err(FaceApiError::internal)
}

/// Parse a path segment as a UUID, or answer with `not_found`.
pub(crate) fn parse_uuid(s: &str, not_found: impl FnOnce() -> FaceApiError) -> Result<uuid::Uuid, FaceApiError> {
    uuid::Uuid::parse_str(s).map_err(|_| not_found())
}

/// `?name=value` lookup, case-insensitive on the name (Azure's are).
pub(crate) fn query_param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A boolean query parameter (`true`/`false`).
pub(crate) fn bool_param(q: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, FaceApiError> {
    match query_param(q, name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(FaceApiError::bad_argument(format!("Invalid argument {name}: '{v}' is not true or false."))),
    }
}

/// Recognition models accepted (all served by SFace).
pub(crate) const RECOGNITION_MODELS: [&str; 4] =
    ["recognition_01", "recognition_02", "recognition_03", "recognition_04"];

pub(crate) fn recognition_model(v: Option<&str>) -> Result<String, FaceApiError> {
    let v = v.unwrap_or("recognition_01");
    if RECOGNITION_MODELS.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(FaceApiError::bad_argument(format!(
            "'recognitionModel' is invalid: '{v}'; use one of {}",
            RECOGNITION_MODELS.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_monotone_with_the_threshold_at_one_half() {
        let s = |t: f32| FaceState { api: dummy(), cache: FaceIdCache::new(4), threshold: t };
        let st = s(0.363);
        assert_eq!(st.confidence(0.363), 0.5);
        assert_eq!(st.confidence(1.0), 1.0);
        assert_eq!(st.confidence(-1.0), 0.0);
        let mut last = -1.0;
        for i in -100..=100 {
            let c = st.confidence(i as f32 / 100.0);
            assert!(c >= last);
            last = c;
        }
        assert!(st.confidence(0.36) < 0.5 && st.confidence(0.37) > 0.5);
    }

    fn dummy() -> FaceApi {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn FaceStore> = Arc::new(issc_store::SqliteStore::open(dir.path(), 4).unwrap());
        struct NoDetector(issc_detect::DetectorConfig);
        impl issc_detect::Detector for NoDetector {
            fn name(&self) -> &str {
                "none"
            }
            fn config(&self) -> &issc_detect::DetectorConfig {
                &self.0
            }
            fn detect(&self, _: &image::RgbImage) -> Result<Vec<issc_core::Face>, issc_detect::DetectError> {
                Ok(vec![])
            }
        }
        let pipeline = Arc::new(FacePipeline::from_parts(Box::new(NoDetector(Default::default())), None));
        FaceApi { store, pipeline, max_face_ids: 4 }
    }

    #[test]
    fn face_ids_expire_and_the_cache_is_bounded() {
        let cache = FaceIdCache::new(2);
        let a = cache.insert(vec![1.0], "recognition_04", Duration::from_secs(60));
        assert_eq!(cache.get(&a).unwrap().recognition_model, "recognition_04");
        let gone = cache.insert(vec![2.0], "recognition_04", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&gone).is_none(), "expired");
        let b = cache.insert(vec![3.0], "recognition_04", Duration::from_secs(120));
        let c = cache.insert(vec![4.0], "recognition_04", Duration::from_secs(180));
        assert!(cache.get(&a).is_none(), "the soonest to expire makes room");
        assert!(cache.get(&b).is_some() && cache.get(&c).is_some());
        assert!(cache.get(&uuid::Uuid::new_v4()).is_none());
    }
}
