//! (Large) person groups, persons and their faces; (large) face lists; training as a long-running operation.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use issc_store::{Kind, Status};
use serde::Deserialize;
use serde_json::{Value, json};

use super::detect::{Analysis, MAX_ADD_FACE, analyze, detection_model, photo, pick_target};
use super::errors::words;
use super::{FaceApiError, bool_param, db, face_state, json_body, parse_uuid, query_param, recognition_model};
use crate::AppStateRef;

const BODY_LIMIT: usize = 256 * 1024;
const KINDS: [Kind; 4] = [Kind::PersonGroup, Kind::LargePersonGroup, Kind::FaceList, Kind::LargeFaceList];

fn segment(kind: Kind) -> &'static str {
    match kind {
        Kind::PersonGroup => "persongroups",
        Kind::LargePersonGroup => "largepersongroups",
        Kind::FaceList => "facelists",
        Kind::LargeFaceList => "largefacelists",
    }
}

fn id_field(kind: Kind) -> &'static str {
    match kind {
        Kind::PersonGroup => "personGroupId",
        Kind::LargePersonGroup => "largePersonGroupId",
        Kind::FaceList => "faceListId",
        Kind::LargeFaceList => "largeFaceListId",
    }
}

/// Azure's collection ids: `^[a-z0-9-_]{1,64}$`.
pub(crate) fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_id(kind: Kind, id: &str) -> Result<(), FaceApiError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(FaceApiError::bad_argument(format!(
            "{} ID is invalid: '{id}' must be 1 to 64 characters of a-z, 0-9, '-' and '_'.",
            words(kind)
        )))
    }
}

/// The routes of every collection kind.
pub(crate) fn routes(mut r: Router<AppStateRef>) -> Router<AppStateRef> {
    for kind in KINDS {
        let base = format!("/face/{{ver}}/{}", segment(kind));
        r = r
            .route(&base, get(move |s: State<AppStateRef>, q: Query<HashMap<String, String>>| list(kind, s, q)))
            .route(
                &format!("{base}/{{id}}"),
                put(move |s: State<AppStateRef>, p: Path<(String, String)>, h: HeaderMap, b: Body| {
                    create(kind, s, p, h, b)
                })
                .get(move |s: State<AppStateRef>, p: Path<(String, String)>, q: Query<HashMap<String, String>>| {
                    get_one(kind, s, p, q)
                })
                .patch(move |s: State<AppStateRef>, p: Path<(String, String)>, h: HeaderMap, b: Body| {
                    update(kind, s, p, h, b)
                })
                .delete(move |s: State<AppStateRef>, p: Path<(String, String)>| delete(kind, s, p)),
            );
        if kind.needs_training() {
            r = r
                .route(
                    &format!("{base}/{{id}}/train"),
                    post(move |s: State<AppStateRef>, p: Path<(String, String)>, h: HeaderMap| train(kind, s, p, h)),
                )
                .route(
                    &format!("{base}/{{id}}/training"),
                    get(move |s: State<AppStateRef>, p: Path<(String, String)>| training(kind, s, p)),
                );
        }
        if kind.has_persons() {
            r = r
                .route(
                    &format!("{base}/{{id}}/persons"),
                    post(move |s: State<AppStateRef>, p: Path<(String, String)>, h: HeaderMap, b: Body| {
                        create_person(kind, s, p, h, b)
                    })
                    .get(
                        move |s: State<AppStateRef>, p: Path<(String, String)>, q: Query<HashMap<String, String>>| {
                            list_persons(kind, s, p, q)
                        },
                    ),
                )
                .route(
                    &format!("{base}/{{id}}/persons/{{person}}"),
                    get(move |s: State<AppStateRef>, p: Path<(String, String, String)>| get_person(kind, s, p))
                        .patch(
                            move |s: State<AppStateRef>, p: Path<(String, String, String)>, h: HeaderMap, b: Body| {
                                update_person(kind, s, p, h, b)
                            },
                        )
                        .delete(move |s: State<AppStateRef>, p: Path<(String, String, String)>| {
                            delete_person(kind, s, p)
                        }),
                )
                .route(
                    &format!("{base}/{{id}}/persons/{{person}}/persistedfaces"),
                    post(
                        move |s: State<AppStateRef>,
                              p: Path<(String, String, String)>,
                              q: Query<HashMap<String, String>>,
                              h: HeaderMap,
                              b: Body| {
                            let Path((_, id, person)) = p;
                            add_face(kind, s, id, Some(person), q, h, b)
                        },
                    ),
                )
                .route(
                    &format!("{base}/{{id}}/persons/{{person}}/persistedfaces/{{face}}"),
                    get(move |s: State<AppStateRef>, p: Path<(String, String, String, String)>| {
                        let Path((_, id, person, face)) = p;
                        get_face(kind, s, id, Some(person), face)
                    })
                    .patch(
                        move |s: State<AppStateRef>,
                              p: Path<(String, String, String, String)>,
                              h: HeaderMap,
                              b: Body| {
                            let Path((_, id, person, face)) = p;
                            update_face(kind, s, id, Some(person), face, h, b)
                        },
                    )
                    .delete(
                        move |s: State<AppStateRef>, p: Path<(String, String, String, String)>| {
                            let Path((_, id, person, face)) = p;
                            delete_face(kind, s, id, Some(person), face)
                        },
                    ),
                );
        } else {
            r = r
                .route(
                    &format!("{base}/{{id}}/persistedfaces"),
                    post(
                        move |s: State<AppStateRef>,
                              p: Path<(String, String)>,
                              q: Query<HashMap<String, String>>,
                              h: HeaderMap,
                              b: Body| {
                            let Path((_, id)) = p;
                            add_face(kind, s, id, None, q, h, b)
                        },
                    )
                    .get(
                        move |s: State<AppStateRef>, p: Path<(String, String)>, q: Query<HashMap<String, String>>| {
                            list_faces(kind, s, p, q)
                        },
                    ),
                )
                .route(
                    &format!("{base}/{{id}}/persistedfaces/{{face}}"),
                    get(move |s: State<AppStateRef>, p: Path<(String, String, String)>| {
                        let Path((_, id, face)) = p;
                        get_face(kind, s, id, None, face)
                    })
                    .patch(move |s: State<AppStateRef>, p: Path<(String, String, String)>, h: HeaderMap, b: Body| {
                        let Path((_, id, face)) = p;
                        update_face(kind, s, id, None, face, h, b)
                    })
                    .delete(move |s: State<AppStateRef>, p: Path<(String, String, String)>| {
                        let Path((_, id, face)) = p;
                        delete_face(kind, s, id, None, face)
                    }),
                );
        }
    }
    r
}

fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

fn check_len(field: &str, v: Option<&str>, max: usize) -> Result<(), FaceApiError> {
    match v {
        Some(s) if s.chars().count() > max => {
            Err(FaceApiError::bad_argument(format!("'{field}' is too long: at most {max} characters.")))
        }
        _ => Ok(()),
    }
}

fn check_name(name: Option<&str>) -> Result<String, FaceApiError> {
    let name = name.unwrap_or("");
    if name.is_empty() {
        return Err(FaceApiError::bad_argument("'name' is empty."));
    }
    check_len("name", Some(name), 128)?;
    Ok(name.to_string())
}

fn paging(q: &HashMap<String, String>) -> Result<(Option<String>, usize), FaceApiError> {
    let start = query_param(q, "start").map(str::to_string);
    if start.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(FaceApiError::bad_argument("'start' is too long: at most 64 characters."));
    }
    let top = match query_param(q, "top") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|t| (1..=1000).contains(t))
            .ok_or_else(|| FaceApiError::bad_argument(format!("'top' is invalid: '{v}' is not in 1..1000.")))?,
    };
    Ok((start, top))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    name: Option<String>,
    user_data: Option<String>,
    recognition_model: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    name: Option<String>,
    user_data: Option<String>,
}

impl UpdateRequest {
    /// A PATCH changes something, within the limits.
    fn validate(&self) -> Result<(), FaceApiError> {
        if self.name.is_none() && self.user_data.is_none() {
            return Err(FaceApiError::bad_argument("Both 'name' and 'userData' are empty."));
        }
        if self.name.is_some() {
            check_name(self.name.as_deref())?;
        }
        check_len("userData", self.user_data.as_deref(), 16_384)
    }
}

fn collection_json(kind: Kind, c: &issc_store::Collection, with_model: bool) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(id_field(kind).into(), json!(c.id));
    m.insert("name".into(), json!(c.name));
    if let Some(u) = &c.user_data {
        m.insert("userData".into(), json!(u));
    }
    if with_model {
        m.insert("recognitionModel".into(), json!(c.recognition_model));
    }
    m
}

async fn create(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    check_id(kind, &id)?;
    let r: CreateRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    let name = check_name(r.name.as_deref())?;
    check_len("userData", r.user_data.as_deref(), 16_384)?;
    let model = recognition_model(r.recognition_model.as_deref())?;
    db(fs, move |s| s.create_collection(kind, &id, &name, r.user_data.as_deref(), &model))
        .await?
        .map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}

async fn get_one(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let with_model = bool_param(&q, "returnRecognitionModel", false)?;
    let (c, faces) = db(fs, move |s| {
        let c = s.collection(kind, &id)?;
        let faces = if kind == Kind::FaceList { Some(s.faces(kind, &id, None, 1000)?) } else { None };
        Ok((c, faces))
    })
    .await?
    .map_err(FaceApiError::in_path)?;
    let mut m = collection_json(kind, &c, with_model);
    if let Some(faces) = faces {
        m.insert("persistedFaces".into(), faces_json(&faces));
    }
    Ok(axum::Json(Value::Object(m)))
}

fn faces_json(faces: &[issc_store::StoredFace]) -> Value {
    Value::Array(faces.iter().map(face_json).collect())
}

fn face_json(f: &issc_store::StoredFace) -> Value {
    match &f.user_data {
        Some(u) => json!({ "persistedFaceId": f.persisted_face_id, "userData": u }),
        None => json!({ "persistedFaceId": f.persisted_face_id }),
    }
}

async fn list(
    kind: Kind,
    State(state): State<AppStateRef>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let with_model = bool_param(&q, "returnRecognitionModel", false)?;
    let (start, top) = if kind == Kind::FaceList { (None, 1000) } else { paging(&q)? };
    let all = db(fs, move |s| s.collections(kind, start.as_deref(), top)).await?.map_err(FaceApiError::in_path)?;
    Ok(axum::Json(Value::Array(all.iter().map(|c| Value::Object(collection_json(kind, c, with_model))).collect())))
}

async fn update(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let r: UpdateRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    r.validate()?;
    db(fs, move |s| s.update_collection(kind, &id, r.name.as_deref(), r.user_data.as_deref()))
        .await?
        .map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}

async fn delete(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    db(fs, move |s| s.delete_collection(kind, &id)).await?.map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}

/// `http(s)://host` of this request, for `Operation-Location`.
fn origin(headers: &HeaderMap) -> String {
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("{proto}://{host}")
}

async fn train(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((ver, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let id2 = id.clone();
    let op = db(fs, move |s| s.begin_training(kind, &id2)).await?.map_err(FaceApiError::in_path)?;
    let store = fs.api.store.clone();
    let op_id = op.id;
    tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        match store.run_training(kind, &id, op_id) {
            Ok(()) => tracing::info!("trained {} '{id}' in {:.3} s", kind.azure_name(), t.elapsed().as_secs_f64()),
            Err(e) => tracing::warn!("training {} '{id}' failed: {e}", kind.azure_name()),
        }
    });
    let location = format!("{}/face/{ver}/operations/{op_id}", origin(&headers));
    let mut r = StatusCode::ACCEPTED.into_response();
    let h = r.headers_mut();
    h.insert("operation-location", HeaderValue::from_str(&location).map_err(FaceApiError::internal)?);
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(r)
}

async fn training(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let id2 = id.clone();
    let t = db(fs, move |s| s.training(kind, &id2)).await?.map_err(FaceApiError::in_path)?;
    if t.status == Status::NotStarted {
        return Err(FaceApiError::in_path(issc_store::StoreError::NotTrained(kind, id)));
    }
    let mut v = json!({
        "status": t.status.as_str(),
        "createdDateTime": t.created,
        "lastActionDateTime": t.last_action,
        "lastSuccessfulTrainingDateTime": t.last_success,
    });
    if let Some(m) = t.message {
        v["message"] = json!(m);
    }
    Ok(axum::Json(v))
}

/// `GET /face/{ver}/operations/{id}`: a training's progress (the spec's `Operation-Location` target).
pub(crate) async fn operation(
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let not_found =
        || FaceApiError::new(StatusCode::NOT_FOUND, "OperationNotFound", format!("Operation '{id}' is not found."));
    let op_id = parse_uuid(&id, not_found)?;
    let op = db(fs, move |s| s.operation(op_id)).await?.map_err(FaceApiError::in_path)?;
    let mut v = json!({
        "operationId": op.id,
        "status": op.status.as_str(),
        "createdTime": op.created,
        "lastActionTime": op.last_action,
    });
    if let Some(f) = op.finished {
        v["finishedTime"] = json!(f);
    }
    if let Some(m) = op.message {
        v["message"] = json!(m);
    }
    let mut r = axum::Json(v).into_response();
    if matches!(op.status, Status::Running | Status::NotStarted) {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Ok(r)
}

fn person_id(p: &str) -> Result<uuid::Uuid, FaceApiError> {
    parse_uuid(p, || FaceApiError::new(StatusCode::NOT_FOUND, "PersonNotFound", format!("Person '{p}' is not found.")))
}

fn face_id(f: &str) -> Result<uuid::Uuid, FaceApiError> {
    parse_uuid(f, || {
        FaceApiError::new(StatusCode::NOT_FOUND, "PersistedFaceNotFound", format!("Persisted face '{f}' is not found."))
    })
}

fn person_json(p: &issc_store::Person) -> Value {
    let mut v = json!({ "personId": p.person_id, "name": p.name, "persistedFaceIds": p.persisted_face_ids });
    if let Some(u) = &p.user_data {
        v["userData"] = json!(u);
    }
    v
}

async fn create_person(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let r: UpdateRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    let name = check_name(r.name.as_deref())?;
    check_len("userData", r.user_data.as_deref(), 16_384)?;
    let pid = db(fs, move |s| s.create_person(kind, &id, &name, r.user_data.as_deref()))
        .await?
        .map_err(FaceApiError::in_path)?;
    Ok(axum::Json(json!({ "personId": pid })))
}

async fn list_persons(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let (start, top) = paging(&q)?;
    let all = db(fs, move |s| s.persons(kind, &id, start.as_deref(), top)).await?.map_err(FaceApiError::in_path)?;
    Ok(axum::Json(Value::Array(all.iter().map(person_json).collect())))
}

async fn get_person(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id, person)): Path<(String, String, String)>,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person_id(&person)?;
    let p = db(fs, move |s| s.person(kind, &id, pid)).await?.map_err(FaceApiError::in_path)?;
    Ok(axum::Json(person_json(&p)))
}

async fn update_person(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id, person)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person_id(&person)?;
    let r: UpdateRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    r.validate()?;
    db(fs, move |s| s.update_person(kind, &id, pid, r.name.as_deref(), r.user_data.as_deref()))
        .await?
        .map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}

async fn delete_person(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id, person)): Path<(String, String, String)>,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person_id(&person)?;
    db(fs, move |s| s.delete_person(kind, &id, pid)).await?.map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}

async fn add_face(
    kind: Kind,
    State(state): State<AppStateRef>,
    id: String,
    person: Option<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person.as_deref().map(person_id).transpose()?;
    let _ = detection_model(&q)?;
    let user_data = query_param(&q, "userData").map(str::to_string);
    check_len("userData", user_data.as_deref(), 1024)?;
    // Refuse a missing collection or person before spending time on the photo.
    let id2 = id.clone();
    db(fs, move |s| match pid {
        Some(p) => s.person(kind, &id2, p).map(drop),
        None => s.collection(kind, &id2).map(drop),
    })
    .await?
    .map_err(FaceApiError::in_path)?;
    let photo = photo(&state, &headers, body).await?;
    // Add-face detects faces of 36 × 36 (proportionally more in images over 1920 × 1080) up to 4096 × 4096.
    let faces = analyze(
        &state,
        photo,
        Analysis { attributes: false, max_face: Some(MAX_ADD_FACE), landmarks: false, mask: false },
    )
    .await?;
    let chosen = pick_target(faces, query_param(&q, "targetFace"))?;
    let embedding = chosen.embedding.unwrap_or_default();
    let fid = db(fs, move |s| s.add_face(kind, &id, pid, &embedding, user_data.as_deref()))
        .await?
        .map_err(FaceApiError::in_path)?;
    Ok(axum::Json(json!({ "persistedFaceId": fid })))
}

async fn get_face(
    kind: Kind,
    State(state): State<AppStateRef>,
    id: String,
    person: Option<String>,
    face: String,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person.as_deref().map(person_id).transpose()?;
    let fid = face_id(&face)?;
    let f = db(fs, move |s| s.face(kind, &id, pid, fid)).await?.map_err(FaceApiError::in_path)?;
    Ok(axum::Json(face_json(&f)))
}

async fn list_faces(
    kind: Kind,
    State(state): State<AppStateRef>,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let (start, top) = paging(&q)?;
    let all = db(fs, move |s| s.faces(kind, &id, start.as_deref(), top)).await?.map_err(FaceApiError::in_path)?;
    Ok(axum::Json(faces_json(&all)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaceUserData {
    user_data: Option<String>,
}

async fn update_face(
    kind: Kind,
    State(state): State<AppStateRef>,
    id: String,
    person: Option<String>,
    face: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person.as_deref().map(person_id).transpose()?;
    let fid = face_id(&face)?;
    let r: FaceUserData = json_body(&state, &headers, body, BODY_LIMIT).await?;
    check_len("userData", r.user_data.as_deref(), 1024)?;
    db(fs, move |s| s.update_face(kind, &id, pid, fid, r.user_data.as_deref()))
        .await?
        .map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}

async fn delete_face(
    kind: Kind,
    State(state): State<AppStateRef>,
    id: String,
    person: Option<String>,
    face: String,
) -> Result<Response, FaceApiError> {
    let fs = face_state(&state)?;
    let pid = person.as_deref().map(person_id).transpose()?;
    let fid = face_id(&face)?;
    db(fs, move |s| s.delete_face(kind, &id, pid, fid)).await?.map_err(FaceApiError::in_path)?;
    Ok(ok_empty())
}
