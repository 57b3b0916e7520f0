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
use std::sync::Arc;
use std::time::Duration;

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
    /// The Face Mesh network behind the 27 landmarks of `returnFaceLandmarks`; `None`: detect answers the
    /// detector's five points only (a models folder from before the model was bundled; the server warns at start).
    pub landmarks: Option<Arc<issc_detect::FaceMesh>>,
    /// The face-mask classifier behind the `mask` attribute; `None`: `mask` answers 400 as an attribute this server
    /// cannot compute (the server warns at start).
    pub mask: Option<Arc<issc_detect::MaskClassifier>>,
    /// Most transient faceIds kept at once; none is dropped before its time to live, so beyond it detect answers
    /// 429 with `Retry-After`. They live where the store says ([`FaceStore::face_ids`]): in this process for a
    /// folder, in the database (shared by every server, the bound counted over all of them) for PostgreSQL.
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
    /// SFace's same-person cosine.
    pub(crate) threshold: f32,
}

impl FaceState {
    pub(crate) fn new(api: FaceApi) -> Self {
        let threshold =
            api.pipeline.embedder().map_or(issc_detect::SFACE_THRESHOLD, issc_detect::Embedder::default_threshold);
        Self { api, threshold }
    }

    /// Cosine → Azure confidence.
    pub(crate) fn confidence(&self, cosine: f32) -> f64 {
        let (c, t) = (f64::from(cosine.clamp(-1.0, 1.0)), f64::from(self.threshold));
        let v = if c <= t { 0.5 * (c + 1.0) / (t + 1.0) } else { 0.5 + 0.5 * (c - t) / (1.0 - t) };
        (v.clamp(0.0, 1.0) * 1e5).round() / 1e5
    }
}

/// One detected face remembered under its transient faceId (in the process or in the shared store: see
/// [`FaceStore::face_ids`]).
pub(crate) type CachedFace = issc_store::DetectedFace;

/// The faceId store is full of unexpired faceIds: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheFull {
    pub(crate) retry_after: Duration,
    pub(crate) held: usize,
}

impl From<CacheFull> for FaceApiError {
    fn from(f: CacheFull) -> Self {
        let secs = f.retry_after.as_secs_f64().ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
        let mut e = FaceApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "429",
            format!(
                "Rate limit is exceeded. Try again in {secs} seconds. ({} faceIds are live, the most this server \
                 holds (--max-face-ids), and none is dropped before its faceIdTimeToLive; detect with \
                 returnFaceId=false needs no room.)",
                f.held
            ),
        );
        e.retry_after = Some(secs);
        e
    }
}

/// Whether `n` more faceIds fit now (checked before the work of a detect).
pub(crate) async fn face_id_room(fs: &FaceState, n: usize) -> Result<(), FaceApiError> {
    let max = fs.api.max_face_ids;
    db(fs, move |s| s.face_ids().room(n, max)).await?.map_err(FaceApiError::in_body)
}

/// Remember every embedding under a new faceId for `ttl`, all or none.
pub(crate) async fn remember_faces(
    fs: &FaceState,
    embeddings: Vec<Vec<f32>>,
    recognition_model: &str,
    ttl: Duration,
) -> Result<Vec<uuid::Uuid>, FaceApiError> {
    if embeddings.is_empty() {
        return Ok(Vec::new());
    }
    let (model, max) = (recognition_model.to_string(), fs.api.max_face_ids);
    db(fs, move |s| s.face_ids().insert(&embeddings, &model, ttl, max)).await?.map_err(FaceApiError::in_body)
}

/// The faces detected under `ids` (one look-up for all), in order; `None` for an unknown, expired or malformed id.
pub(crate) async fn detected_faces(fs: &FaceState, ids: &[&str]) -> Result<Vec<Option<CachedFace>>, FaceApiError> {
    let parsed: Vec<Option<uuid::Uuid>> = ids.iter().map(|id| uuid::Uuid::parse_str(id).ok()).collect();
    let valid: Vec<uuid::Uuid> = parsed.iter().flatten().copied().collect();
    if valid.is_empty() {
        return Ok(vec![None; ids.len()]);
    }
    let mut found = db(fs, move |s| s.face_ids().get(&valid)).await?.map_err(FaceApiError::in_body)?.into_iter();
    Ok(parsed.iter().map(|p| p.and_then(|_| found.next().flatten())).collect())
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
        let s = |t: f32| FaceState { api: dummy(), threshold: t };
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
        FaceApi { store, pipeline, landmarks: None, mask: None, max_face_ids: 4 }
    }

    #[test]
    fn a_full_face_id_store_answers_429_with_retry_after() {
        // The bound itself (kept until the TTL, all or none, the wait) is checked per backend in issc-store.
        let full = issc_store::StoreError::FaceIdsFull { retry_after: Duration::from_millis(115_200), held: 2 };
        for e in [FaceApiError::in_body(full), FaceApiError::from(CacheFull { retry_after: Duration::ZERO, held: 2 })] {
            assert_eq!((e.status, e.code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "429"));
            assert!(e.message.starts_with("Rate limit is exceeded. Try again in"), "{}", e.message);
            assert!(e.message.contains("2 faceIds are live"), "{}", e.message);
            assert!(e.retry_after.is_some_and(|s| s >= 1));
        }
        let e = FaceApiError::in_body(issc_store::StoreError::FaceIdsFull {
            retry_after: Duration::from_millis(115_200),
            held: 7,
        });
        assert_eq!(e.retry_after, Some(116));
    }

    #[tokio::test]
    async fn detected_faces_are_looked_up_all_at_once_and_bad_ids_are_none() {
        let fs = FaceState::new(dummy());
        let ids = remember_faces(&fs, vec![vec![1.0, 0.0, 0.0, 0.0]], "recognition_04", Duration::from_secs(60))
            .await
            .unwrap();
        let a = ids[0].to_string();
        let got = detected_faces(&fs, &["not-a-uuid", &a, &uuid::Uuid::new_v4().to_string(), &a]).await.unwrap();
        assert_eq!(got.iter().map(Option::is_some).collect::<Vec<_>>(), [false, true, false, true]);
        assert_eq!(got[1].as_ref().unwrap().recognition_model, "recognition_04");
        assert!(detected_faces(&fs, &["x"]).await.unwrap()[0].is_none());
        assert!(remember_faces(&fs, vec![], "recognition_04", Duration::from_secs(60)).await.unwrap().is_empty());
        face_id_room(&fs, 3).await.unwrap();
        let e = face_id_room(&fs, 4).await.unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
    }
}
