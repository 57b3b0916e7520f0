//! `POST /verify`, `/identify`, `/findsimilars`, `/group`: overloads told apart by the body's fields, as in Azure.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use issc_store::{Kind, dot};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CachedFace, FaceApiError, FaceState, db, detected_faces, face_state, json_body};
use crate::AppStateRef;

const BODY_LIMIT: usize = 1024 * 1024;

/// The faces detected under `ids` (one look-up), each of which must exist: else `FaceNotFound` with `status`,
/// naming the first missing one.
async fn faces<S: AsRef<str>>(fs: &FaceState, ids: &[S], status: StatusCode) -> Result<Vec<CachedFace>, FaceApiError> {
    let names: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    let found = detected_faces(fs, &names).await?;
    names
        .iter()
        .zip(found)
        .map(|(id, f)| {
            f.ok_or_else(|| {
                FaceApiError::new(
                    status,
                    "FaceNotFound",
                    format!(
                        "Face ID '{id}' is not found: it never existed or its faceIdTimeToLive has expired; detect \
                         again."
                    ),
                )
            })
        })
        .collect()
}

async fn face(fs: &FaceState, id: &str, status: StatusCode) -> Result<CachedFace, FaceApiError> {
    let mut one = faces(fs, &[id], status).await?;
    one.pop().ok_or_else(|| FaceApiError::internal("a face look-up answered nothing"))
}

fn check_model(face: &CachedFace, collection_model: &str) -> Result<(), FaceApiError> {
    if face.recognition_model == collection_model {
        Ok(())
    } else {
        Err(FaceApiError::bad_argument(format!(
            "'recognitionModel' is incompatible: the face was detected with {} and the collection uses {}.",
            face.recognition_model, collection_model
        )))
    }
}

fn collection_id(id: &str, kind: Kind) -> Result<String, FaceApiError> {
    if super::collections::valid_id(id) {
        Ok(id.to_string())
    } else {
        Err(FaceApiError::bad_argument(format!("{} ID is invalid.", super::errors::words(kind))))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyRequest {
    face_id1: Option<String>,
    face_id2: Option<String>,
    face_id: Option<String>,
    person_id: Option<String>,
    person_group_id: Option<String>,
    large_person_group_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyResult {
    is_identical: bool,
    confidence: f64,
}

/// `POST /verify`: face to face, or face to a person of a (large) person group.
pub(crate) async fn verify(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let r: VerifyRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    let cosine = match (&r.face_id1, &r.face_id2, &r.face_id, &r.person_id) {
        (Some(a), Some(b), None, None) => {
            let pair = faces(fs, &[a, b], StatusCode::NOT_FOUND).await?;
            let (fa, fb) = (&pair[0], &pair[1]);
            if fa.recognition_model != fb.recognition_model {
                return Err(FaceApiError::bad_argument(
                    "'recognitionModel' is incompatible: the two faces were detected with different recognition models.",
                ));
            }
            dot(&fa.embedding, &fb.embedding)
        }
        (None, None, Some(f), Some(p)) => {
            let (kind, group) = match (&r.person_group_id, &r.large_person_group_id) {
                (Some(g), None) => (Kind::PersonGroup, g),
                (None, Some(g)) => (Kind::LargePersonGroup, g),
                _ => {
                    return Err(FaceApiError::bad_argument(
                        "Request body is invalid: give exactly one of personGroupId and largePersonGroupId with faceId and personId.",
                    ));
                }
            };
            let group = collection_id(group, kind)?;
            let q = face(fs, f, StatusCode::NOT_FOUND).await?;
            let person = uuid::Uuid::parse_str(p).map_err(|_| FaceApiError::bad_argument("Person ID is invalid."))?;
            let g2 = group.clone();
            let (collection, embeddings) = db(fs, move |s| {
                let c = s.collection(kind, &g2)?;
                Ok((c, s.person_embeddings(kind, &g2, person)?))
            })
            .await?
            .map_err(FaceApiError::in_body)?;
            check_model(&q, &collection.recognition_model)?;
            if embeddings.is_empty() {
                return Err(FaceApiError::new(
                    StatusCode::NOT_FOUND,
                    "PersistedFaceNotFound",
                    "No persisted face of the person is found.",
                ));
            }
            embeddings.iter().map(|e| dot(&issc_store::normalized(e), &q.embedding)).fold(f32::MIN, f32::max)
        }
        _ => {
            return Err(FaceApiError::bad_argument(
                "Request body is invalid: give faceId1 and faceId2, or faceId, personId and (large)personGroupId.",
            ));
        }
    };
    let confidence = fs.confidence(cosine);
    Ok(axum::Json(json!(VerifyResult { is_identical: confidence >= 0.5, confidence })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdentifyRequest {
    face_ids: Option<Vec<String>>,
    person_group_id: Option<String>,
    large_person_group_id: Option<String>,
    dynamic_person_group_id: Option<String>,
    person_ids: Option<Vec<String>>,
    max_num_of_candidates_returned: Option<i64>,
    confidence_threshold: Option<f64>,
}

/// `POST /identify` against a (large) person group.
pub(crate) async fn identify(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let r: IdentifyRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    let bad = |code: &str, m: &str| FaceApiError::new(StatusCode::BAD_REQUEST, code, m);
    let (kind, group) = match (&r.person_group_id, &r.large_person_group_id) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "PersonGroupIdAndLargePersonGroupIdBothNotNull",
                "Large person group ID and person group ID are both not null.",
            ));
        }
        (Some(g), None) => (Kind::PersonGroup, g.clone()),
        (None, Some(g)) => (Kind::LargePersonGroup, g.clone()),
        (None, None) if r.dynamic_person_group_id.is_some() || r.person_ids.is_some() => {
            return Err(FaceApiError::bad_argument(
                "Person Directory identification (personIds, dynamicPersonGroupId) is not supported by this server; \
                 identify against a largePersonGroupId or personGroupId.",
            ));
        }
        (None, None) => {
            return Err(bad(
                "PersonGroupIdAndLargePersonGroupIdBothNull",
                "Large person group ID and person group ID are both null.",
            ));
        }
    };
    let group = collection_id(&group, kind)?;
    let ids = r.face_ids.unwrap_or_default();
    if ids.is_empty() || ids.len() > 10 {
        return Err(FaceApiError::bad_argument("The length of faceIds is not in a valid range [1, 10]."));
    }
    let k = r.max_num_of_candidates_returned.unwrap_or(10);
    if !(1..=100).contains(&k) {
        return Err(FaceApiError::bad_argument(
            "The argument maxNumOfCandidatesReturned is not valid: it must be in [1, 100].",
        ));
    }
    let threshold = r.confidence_threshold.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(FaceApiError::bad_argument("The argument confidenceThreshold is not valid: it must be in [0, 1]."));
    }
    let faces: Vec<CachedFace> = faces(fs, &ids, StatusCode::BAD_REQUEST).await?;
    let queries: Vec<Vec<f32>> = faces.iter().map(|f| f.embedding.to_vec()).collect();
    let g2 = group.clone();
    let (collection, results) = db(fs, move |s| {
        let c = s.collection(kind, &g2)?;
        let r: Result<Vec<_>, _> = queries.iter().map(|q| s.identify(kind, &g2, q, k as usize)).collect();
        Ok((c, r?))
    })
    .await?
    .map_err(FaceApiError::in_body)?;
    for f in &faces {
        check_model(f, &collection.recognition_model)?;
    }
    let out: Vec<Value> = ids
        .iter()
        .zip(results)
        .map(|(id, hits)| {
            let candidates: Vec<Value> = hits
                .into_iter()
                .map(|(p, c)| (p, fs.confidence(c)))
                .filter(|(_, c)| *c >= threshold)
                .map(|(p, c)| json!({ "personId": p, "confidence": c }))
                .collect();
            json!({ "faceId": id, "candidates": candidates })
        })
        .collect();
    Ok(axum::Json(Value::Array(out)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FindSimilarRequest {
    face_id: Option<String>,
    face_ids: Option<Vec<String>>,
    face_list_id: Option<String>,
    large_face_list_id: Option<String>,
    max_num_of_candidates_returned: Option<i64>,
    mode: Option<String>,
}

/// `POST /findsimilars` among faceIds, a face list or a large face list.
pub(crate) async fn find_similar(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let r: FindSimilarRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    let k = r.max_num_of_candidates_returned.unwrap_or(20);
    if !(1..=1000).contains(&k) {
        return Err(FaceApiError::bad_argument(
            "The argument maxNumOfCandidatesReturned is not valid: it must be in [1, 1000].",
        ));
    }
    let match_person = match r.mode.as_deref().unwrap_or("matchPerson") {
        "matchPerson" => true,
        "matchFace" => false,
        other => {
            return Err(FaceApiError::bad_argument(format!(
                "Mode is invalid: '{other}'; use matchPerson or matchFace."
            )));
        }
    };
    let Some(qid) = r.face_id else {
        return Err(FaceApiError::bad_argument("Request body is invalid: faceId is missing."));
    };
    let q = face(fs, &qid, StatusCode::BAD_REQUEST).await?;
    // matchPerson keeps the faces likely to be the same person; matchFace ranks them all.
    let keep = |c: f64| !match_person || c >= 0.5;
    let out: Vec<Value> = match (r.face_ids, r.face_list_id, r.large_face_list_id) {
        (Some(ids), None, None) => {
            if ids.is_empty() || ids.len() > 1000 {
                return Err(FaceApiError::bad_argument("The length of faceIds is not in a valid range [1, 1000]."));
            }
            let mut scored: Vec<(String, f64)> = Vec::new();
            let names: Vec<&str> = ids.iter().map(String::as_str).collect();
            let candidates = detected_faces(fs, &names).await?;
            for (id, f) in ids.into_iter().zip(candidates) {
                // Expired candidates are skipped, as Azure does; only the query face must exist.
                if let Some(f) = f {
                    if f.recognition_model != q.recognition_model {
                        return Err(FaceApiError::bad_argument(
                            "'recognitionModel' is incompatible: faceIds were detected with different recognition models.",
                        ));
                    }
                    scored.push((id, fs.confidence(dot(&f.embedding, &q.embedding))));
                }
            }
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            scored
                .into_iter()
                .filter(|(_, c)| keep(*c))
                .take(k as usize)
                .map(|(id, c)| json!({ "faceId": id, "confidence": c }))
                .collect()
        }
        (None, Some(list), None) => similar_in_list(fs, Kind::FaceList, &list, &q, k as usize, keep).await?,
        (None, None, Some(list)) => similar_in_list(fs, Kind::LargeFaceList, &list, &q, k as usize, keep).await?,
        _ => {
            return Err(FaceApiError::bad_argument(
                "LargeFaceListId, faceListId and faceIds, not exactly one of them is valid.",
            ));
        }
    };
    Ok(axum::Json(Value::Array(out)))
}

async fn similar_in_list(
    fs: &FaceState,
    kind: Kind,
    list: &str,
    q: &CachedFace,
    k: usize,
    keep: impl Fn(f64) -> bool,
) -> Result<Vec<Value>, FaceApiError> {
    let list = collection_id(list, kind)?;
    let query = q.embedding.to_vec();
    let (collection, empty, hits) = db(fs, move |s| {
        let c = s.collection(kind, &list)?;
        // Only a (small) face list can be "not ready"; large ones answer NotTrained from the search itself.
        let empty = kind == Kind::FaceList && s.face_count(kind, &list)? == 0;
        let hits = if empty { Vec::new() } else { s.find_similar(kind, &list, &query, k)? };
        Ok((c, empty, hits))
    })
    .await?
    .map_err(FaceApiError::in_body)?;
    check_model(q, &collection.recognition_model)?;
    if empty {
        return Err(FaceApiError::new(StatusCode::BAD_REQUEST, "FaceListNotReady", "Face list is empty."));
    }
    Ok(hits
        .into_iter()
        .map(|(id, c)| (id, fs.confidence(c)))
        .filter(|(_, c)| keep(*c))
        .map(|(id, c)| json!({ "persistedFaceId": id, "confidence": c }))
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupRequest {
    face_ids: Option<Vec<String>>,
}

/// `POST /group`: faces of the same person together (confidence ≥ 0.5, transitively); the rest in `messyGroup`.
pub(crate) async fn group(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Value>, FaceApiError> {
    let fs = face_state(&state)?;
    let r: GroupRequest = json_body(&state, &headers, body, BODY_LIMIT).await?;
    let ids = r.face_ids.unwrap_or_default();
    if ids.len() < 2 || ids.len() > 1000 {
        return Err(FaceApiError::bad_argument("The length of faceIds is not in a valid range [2, 1000]."));
    }
    let faces: Vec<CachedFace> = faces(fs, &ids, StatusCode::BAD_REQUEST).await?;
    if faces.iter().any(|f| f.recognition_model != faces[0].recognition_model) {
        return Err(FaceApiError::bad_argument(
            "'recognitionModel' is incompatible: faceIds were detected with different recognition models.",
        ));
    }
    let n = faces.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if fs.confidence(dot(&faces[i].embedding, &faces[j].embedding)) >= 0.5 {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if a != b {
                    parent[b.max(a)] = a.min(b);
                }
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slot = std::collections::HashMap::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        let g = *slot.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let (mut together, messy): (Vec<_>, Vec<_>) = groups.into_iter().partition(|g| g.len() > 1);
    together.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let name = |i: &usize| Value::String(ids[*i].clone());
    Ok(axum::Json(json!({
        "groups": together.iter().map(|g| g.iter().map(name).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "messyGroup": messy.iter().flatten().map(name).collect::<Vec<_>>(),
    })))
}
