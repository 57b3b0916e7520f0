//! `POST /detect` and the face analysis shared with add-face.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use issc_core::{BBox, Face};
use serde::{Deserialize, Serialize};

use super::{FaceApiError, bool_param, face_state, query_param, recognition_model};
use crate::AppStateRef;

/// Detection models accepted (all served by the server's detector).
const DETECTION_MODELS: [&str; 3] = ["detection_01", "detection_02", "detection_03"];

/// Azure returns at most 100 faces, largest first.
const MAX_FACES: usize = 100;

/// A detected face with its embedding (absent when it could not be aligned).
pub(crate) struct Detected {
    pub(crate) face: Face,
    pub(crate) embedding: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct UrlBody {
    url: Option<String>,
}

pub(crate) fn detection_model(q: &HashMap<String, String>) -> Result<String, FaceApiError> {
    let v = query_param(q, "detectionModel").unwrap_or("detection_01");
    if DETECTION_MODELS.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(FaceApiError::bad_argument(format!(
            "'detectionModel' is invalid: '{v}'; use one of {}",
            DETECTION_MODELS.join(", ")
        )))
    }
}

/// The photo of a detect or add-face request: the raw body, or `{"url"}` in JSON (fetched under the server's URL
/// rules).
pub(crate) async fn photo(state: &AppStateRef, headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, FaceApiError> {
    // The media type, compared case-insensitively (no parameter of it is used here).
    let ct = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let limit = state.cfg.max_body_bytes;
    if media == "application/json" {
        let b: UrlBody = super::json_body(state, headers, body, 64 * 1024).await?;
        let url = b.url.ok_or_else(|| FaceApiError::bad_argument("Request body is invalid: it has no 'url'."))?;
        let bytes = crate::fetch::fetch_image(&state.cfg.url_fetch, &url).await.map_err(|e| {
            FaceApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "InvalidURL",
                format!("Invalid image URL: {}", e.message),
            )
        })?;
        return Ok(bytes::Bytes::from(bytes));
    }
    let raw = crate::read_body(state, headers, body, limit).await.map_err(|e| {
        if e.status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            FaceApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "InvalidImageSize",
                format!("Image size is too big: over {} MiB (issc serve --max-body-mb).", limit / (1024 * 1024)),
            )
        } else {
            FaceApiError::from_api(e)
        }
    })?;
    if raw.is_empty() {
        return Err(FaceApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidImageSize",
            "Image size is too small: the body is empty.",
        ));
    }
    Ok(raw)
}

/// Decode, detect, align and embed on the inference threads; faces largest first.
pub(crate) async fn analyze(state: &AppStateRef, photo: bytes::Bytes) -> Result<Vec<Detected>, FaceApiError> {
    let fs = face_state(state)?;
    let pipeline = fs.api.pipeline.clone();
    let load = state.cfg.load;
    crate::on_worker(state, move || {
        let img = issc_core::decode_image(&photo, "image", &load).map_err(|e| {
            crate::error::ApiError::bad_request(
                "InvalidImage",
                format!("Decoding error, image format unsupported: {e}"),
            )
        })?;
        let failed =
            |e: issc_detect::DetectError| crate::error::ApiError::internal(format!("face analysis failed: {e}"));
        // The largest MAX_FACES faces, as Azure keeps; only those are aligned and embedded, so time and memory per
        // request stay bounded whatever the photo holds.
        let (w, h) = (img.width() as f32, img.height() as f32);
        let mut faces = pipeline.detect(&img.rgb).map_err(failed)?;
        for face in &mut faces {
            // Azure's rectangles lie inside the image (a detector's box may overhang an edge), so any of them can
            // be sent back as targetFace; sorted and cut by that rectangle's size.
            let b = face.bbox;
            let (x0, y0) = (b.x.clamp(0.0, w), b.y.clamp(0.0, h));
            let (x1, y1) = ((b.x + b.w).clamp(0.0, w), (b.y + b.h).clamp(0.0, h));
            face.bbox = BBox { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
        }
        faces.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
        faces.truncate(MAX_FACES);
        let mut out = Vec::with_capacity(faces.len());
        for face in faces {
            let embedding = match pipeline.embedder() {
                Some(e) => match issc_detect::align_face(&img.rgb, &face.landmarks, e.input_size()) {
                    Some(aligned) => Some(e.embed(&aligned).map_err(failed)?.as_slice().to_vec()),
                    None => None,
                },
                None => None,
            };
            out.push(Detected { face, embedding });
        }
        Ok(out)
    })
    .await
    .map_err(|e| {
        if e.code == "InvalidImage" { FaceApiError::invalid_image(e.message) } else { FaceApiError::from_api(e) }
    })
}

/// The one face an add-face request enrolls: the face at `targetFace` (`left,top,width,height`), or the only face.
pub(crate) fn pick_target(faces: Vec<Detected>, target: Option<&str>) -> Result<Detected, FaceApiError> {
    let faces: Vec<Detected> = faces.into_iter().filter(|f| f.embedding.is_some()).collect();
    match target {
        Some(t) => {
            let v: Vec<f32> =
                t.split(',').map(|x| x.trim().parse::<f32>()).collect::<Result<_, _>>().map_err(|_| {
                    FaceApiError::bad_argument(format!(
                        "Invalid argument targetFace: '{t}' is not left,top,width,height."
                    ))
                })?;
            if v.len() != 4 || v.iter().any(|x| *x < 0.0) || v[2] <= 0.0 || v[3] <= 0.0 {
                return Err(FaceApiError::bad_argument(format!(
                    "Invalid argument targetFace: '{t}' is not left,top,width,height with a positive size."
                )));
            }
            let target = BBox { x: v[0], y: v[1], w: v[2], h: v[3] };
            faces
                .into_iter()
                .map(|f| (f.face.bbox.iou(&target), f))
                .filter(|(iou, _)| *iou >= 0.3)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, f)| f)
                .ok_or_else(|| FaceApiError::invalid_image("No face detected in the image at targetFace."))
        }
        None => {
            let mut faces = faces;
            match faces.len() {
                0 => Err(FaceApiError::invalid_image("No face detected in the image.")),
                1 => Ok(faces.remove(0)),
                n => Err(FaceApiError::invalid_image(format!(
                    "There is more than 1 face in the image ({n}): give targetFace=left,top,width,height."
                ))),
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rect {
    top: i32,
    left: i32,
    width: i32,
    height: i32,
}

#[derive(Serialize)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Landmarks {
    pupil_left: Point,
    pupil_right: Point,
    nose_tip: Point,
    mouth_left: Point,
    mouth_right: Point,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetectionResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    face_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recognition_model: Option<String>,
    face_rectangle: Rect,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_landmarks: Option<Landmarks>,
}

fn round2(v: f32) -> f64 {
    (f64::from(v) * 100.0).round() / 100.0
}

/// `POST /face/{ver}/detect`.
pub(crate) async fn detect(
    State(state): State<AppStateRef>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Vec<serde_json::Value>>, FaceApiError> {
    let fs = face_state(&state)?;
    let detection = detection_model(&q)?;
    let recognition = recognition_model(query_param(&q, "recognitionModel"))?;
    let return_id = bool_param(&q, "returnFaceId", true)?;
    let landmarks = bool_param(&q, "returnFaceLandmarks", false)?;
    let return_model = bool_param(&q, "returnRecognitionModel", false)?;
    if let Some(a) = query_param(&q, "returnFaceAttributes").filter(|a| !a.trim().is_empty()) {
        return Err(FaceApiError::bad_argument(format!(
            "Invalid argument returnFaceAttributes: '{a}': this server computes no face attributes (it does not \
             fake them); leave returnFaceAttributes out."
        )));
    }
    if detection == "detection_02" && landmarks {
        return Err(FaceApiError::bad_argument("'returnLandmarks' is not supported by detection_02."));
    }
    let ttl = match query_param(&q, "faceIdTimeToLive") {
        None => 86_400,
        Some(v) => v.parse::<u64>().ok().filter(|s| (60..=86_400).contains(s)).ok_or_else(|| {
            FaceApiError::bad_argument(format!("Invalid argument faceIdTimeToLive: '{v}' is not in 60..86400 seconds."))
        })?,
    };
    let photo = photo(&state, &headers, body).await?;
    let faces = analyze(&state, photo).await?;
    state.metrics.faces.observe(faces.len() as f64);
    let out = faces
        .into_iter()
        .map(|d| {
            let b = d.face.bbox;
            let face_id = match (return_id, d.embedding) {
                (true, Some(e)) => Some(fs.cache.insert(e, &recognition, Duration::from_secs(ttl))),
                _ => None,
            };
            let p = |i: usize| Point { x: round2(d.face.landmarks.0[i][0]), y: round2(d.face.landmarks.0[i][1]) };
            let r = DetectionResult {
                face_id,
                recognition_model: return_model.then(|| recognition.clone()),
                face_rectangle: Rect {
                    top: b.y.round() as i32,
                    left: b.x.round() as i32,
                    // Rounded edges, so that left + width stays inside the image.
                    width: ((b.x + b.w).round() - b.x.round()) as i32,
                    height: ((b.y + b.h).round() - b.y.round()) as i32,
                },
                face_landmarks: landmarks.then(|| Landmarks {
                    pupil_left: p(0),
                    pupil_right: p(1),
                    nose_tip: p(2),
                    mouth_left: p(3),
                    mouth_right: p(4),
                }),
            };
            serde_json::to_value(r).map_err(FaceApiError::internal)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(out))
}
