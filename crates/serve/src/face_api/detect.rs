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

/// Azure's image file sizes: 1 KB to 6 MB.
pub(crate) const IMAGE_MIN_BYTES: usize = 1024;
/// See [`IMAGE_MIN_BYTES`].
pub(crate) const IMAGE_MAX_BYTES: usize = 6 * 1024 * 1024;

/// Azure's smallest detectable face, in an image no larger than 1920 × 1080 (larger images need proportionally
/// larger faces).
pub(crate) const MIN_FACE: f32 = 36.0;
/// Add-face's largest detectable face.
pub(crate) const MAX_ADD_FACE: f32 = 4096.0;

/// Every face attribute name of the v1.2 spec, as spelt there.
const ATTRIBUTES: [&str; 13] = [
    "headPose",
    "glasses",
    "occlusion",
    "accessories",
    "blur",
    "exposure",
    "noise",
    "mask",
    "qualityForRecognition",
    "age",
    "smile",
    "facialHair",
    "hair",
];
/// What detection_01 and detection_03 allow (Azure's `FaceAttributeTypeDetection01/03`; qualityForRecognition
/// depends on the recognition model instead).
const DETECTION_01: [&str; 11] = [
    "headPose",
    "glasses",
    "occlusion",
    "accessories",
    "blur",
    "exposure",
    "noise",
    "age",
    "smile",
    "facialHair",
    "hair",
];
const DETECTION_03: [&str; 3] = ["headPose", "mask", "blur"];
/// What this server computes from pixels and landmarks (`face_attributes`).
const SERVED: [&str; 5] = ["headPose", "blur", "exposure", "noise", "qualityForRecognition"];
/// What it computes with a model of its own, when that model is loaded (`FaceApi::mask`); every other attribute
/// needs a model it does not have.
const SERVED_BY_MODEL: [&str; 1] = ["mask"];

/// The attributes a detect asks for, checked against the detection and recognition models as Azure does, then
/// against what this server can compute honestly. Names are matched case-insensitively (the SDKs' enums are) and
/// answered in the spec's spelling.
pub(crate) fn face_attributes(
    q: &HashMap<String, String>,
    detection: &str,
    recognition: &str,
    has_mask_model: bool,
) -> Result<Vec<&'static str>, FaceApiError> {
    let Some(raw) = query_param(q, "returnFaceAttributes") else { return Ok(vec![]) };
    let mut wanted: Vec<&'static str> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(name) = ATTRIBUTES.iter().find(|a| a.eq_ignore_ascii_case(item)) else {
            return Err(FaceApiError::bad_argument(format!(
                "Invalid argument returnFaceAttributes. '{item}' is not a face attribute; the v1.2 attributes are {}.",
                ATTRIBUTES.join(", ")
            )));
        };
        if !wanted.contains(name) {
            wanted.push(*name);
        }
    }
    if wanted.is_empty() {
        return Ok(wanted);
    }
    if detection == "detection_02" {
        return Err(FaceApiError::bad_argument("'returnFaceAttributes' is not supported by detection_02."));
    }
    let allowed: &[&str] = if detection == "detection_03" { &DETECTION_03 } else { &DETECTION_01 };
    if let Some(bad) = wanted.iter().copied().find(|a| *a != "qualityForRecognition" && !allowed.contains(a)) {
        let list: Vec<String> =
            allowed.iter().chain(["qualityForRecognition"].iter()).map(|a| a.to_ascii_lowercase()).collect();
        return Err(FaceApiError::bad_argument(format!(
            "Only face attributes '{}' are supported by {detection}; '{bad}' is not.",
            list.join(",")
        )));
    }
    if wanted.contains(&"qualityForRecognition") && !matches!(recognition, "recognition_03" | "recognition_04") {
        return Err(FaceApiError::bad_argument(format!(
            "'qualityForRecognition' is supported only by recognition_03 and recognition_04, not {recognition}."
        )));
    }
    let served: Vec<&str> = SERVED.iter().chain(SERVED_BY_MODEL.iter().filter(|_| has_mask_model)).copied().collect();
    let missing: Vec<&str> = wanted.iter().copied().filter(|a| !served.contains(a)).collect();
    if !missing.is_empty() {
        return Err(FaceApiError::bad_argument(format!(
            "Invalid argument returnFaceAttributes. {} needs a model this server does not have, and it never \
             invents a value; it computes {} (docs/face-api.md).",
            missing.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", "),
            served.join(", ")
        )));
    }
    Ok(wanted)
}

/// The smallest face returned in an image of this size: 36 px up to 1920 × 1080, proportionally more beyond.
pub(crate) fn min_face(width: u32, height: u32) -> f32 {
    let (long, short) = (width.max(height) as f32, width.min(height) as f32);
    MIN_FACE * (long / 1920.0).max(short / 1080.0).max(1.0)
}

/// What [`analyze`] computes besides detection and embedding.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Analysis {
    /// Measure `face_attributes` for every face.
    pub(crate) attributes: bool,
    /// Faces larger than this are not returned (add-face: 4096).
    pub(crate) max_face: Option<f32>,
    /// Find the 27 landmarks of every face (when the server has the Face Mesh model).
    pub(crate) landmarks: bool,
    /// Run the face-mask classifier on every face (when the server has it).
    pub(crate) mask: bool,
}

/// A detected face with its embedding (absent when it could not be aligned).
pub(crate) struct Detected {
    pub(crate) face: Face,
    pub(crate) embedding: Option<Vec<f32>>,
    pub(crate) quality: Option<crate::face_attributes::FaceQuality>,
    /// The 27 landmarks ([`issc_detect::LANDMARKS_27`]), when asked for and the Face Mesh model is loaded.
    pub(crate) landmarks: Option<[[f32; 2]; 27]>,
    /// The face-mask classifier's probability of a mask, when `mask` was asked for.
    pub(crate) mask: Option<f32>,
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
    // Azure's 6 MB, or the server's own body limit when it is lower.
    let limit = state.cfg.max_body_bytes.min(IMAGE_MAX_BYTES);
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
        return sized(bytes::Bytes::from(bytes), limit);
    }
    let raw = crate::read_body(state, headers, body, limit).await.map_err(|e| {
        if e.status == axum::http::StatusCode::PAYLOAD_TOO_LARGE { too_big(limit) } else { FaceApiError::from_api(e) }
    })?;
    sized(raw, limit)
}

fn too_big(limit: usize) -> FaceApiError {
    FaceApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "InvalidImageSize",
        format!(
            "Image size is too big. The valid image file size should be no larger than {} bytes ({}).",
            limit,
            if limit < IMAGE_MAX_BYTES { "this server's body limit" } else { "6 MB" }
        ),
    )
}

/// Azure's file size rule: 1 KB ≤ size ≤ 6 MB.
fn sized(raw: bytes::Bytes, limit: usize) -> Result<bytes::Bytes, FaceApiError> {
    if raw.len() < IMAGE_MIN_BYTES {
        return Err(FaceApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidImageSize",
            format!(
                "Image size is too small. The valid image file size should be larger than or equal to 1 KB ({} \
                 bytes); this one has {}.",
                IMAGE_MIN_BYTES,
                raw.len()
            ),
        ));
    }
    if raw.len() > limit {
        return Err(too_big(limit));
    }
    Ok(raw)
}

/// Decode, detect, align and embed (and measure the attributes, when asked) on the inference threads; faces
/// largest first, only those Azure would detect (at least [`min_face`]).
pub(crate) async fn analyze(
    state: &AppStateRef,
    photo: bytes::Bytes,
    what: Analysis,
) -> Result<Vec<Detected>, FaceApiError> {
    let fs = face_state(state)?;
    let pipeline = fs.api.pipeline.clone();
    let mesh = if what.landmarks { fs.api.landmarks.clone() } else { None };
    let mask = if what.mask { fs.api.mask.clone() } else { None };
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
        let (smallest, largest) = (min_face(img.width(), img.height()), what.max_face.unwrap_or(f32::INFINITY));
        let mut faces = pipeline.detect(&img.rgb).map_err(failed)?;
        // Azure's detectable sizes, on the detector's own box (a face at the image's edge keeps its size).
        faces.retain(|f| {
            let side = f.bbox.w.min(f.bbox.h);
            side >= smallest && f.bbox.w.max(f.bbox.h) <= largest
        });
        // Azure's rectangles lie inside the image (a detector's box may overhang an edge), so any of them can be
        // sent back as targetFace; sorted and cut by that rectangle's size.
        let clipped = |b: BBox| {
            let (x0, y0) = (b.x.clamp(0.0, w), b.y.clamp(0.0, h));
            let (x1, y1) = ((b.x + b.w).clamp(0.0, w), (b.y + b.h).clamp(0.0, h));
            BBox { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
        };
        faces.sort_by(|a, b| clipped(b.bbox).area().total_cmp(&clipped(a.bbox).area()));
        faces.truncate(MAX_FACES);
        let mut out = Vec::with_capacity(faces.len());
        for mut face in faces {
            // Measured on the detector's own box, before it is clipped.
            let quality = what.attributes.then(|| crate::face_attributes::measure(&img.rgb, &face));
            let landmarks = match &mesh {
                Some(m) => m.landmarks(&img.rgb, &face).map_err(failed)?.map(|p| issc_detect::landmarks_27(&face, &p)),
                None => None,
            };
            let mask = match &mask {
                Some(m) => m.mask_probability(&img.rgb, &face).map_err(failed)?,
                None => None,
            };
            face.bbox = clipped(face.bbox);
            let embedding = match pipeline.embedder() {
                Some(e) => match issc_detect::align_face(&img.rgb, &face.landmarks, e.input_size()) {
                    Some(aligned) => Some(e.embed(&aligned).map_err(failed)?.as_slice().to_vec()),
                    None => None,
                },
                None => None,
            };
            out.push(Detected { face, embedding, quality, landmarks, mask });
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

/// `FaceLandmarks`, in the spec's order: the detector's five points, and the other 22 when the Face Mesh ran.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Landmarks {
    pupil_left: Point,
    pupil_right: Point,
    nose_tip: Point,
    mouth_left: Point,
    mouth_right: Point,
    #[serde(skip_serializing_if = "Option::is_none")]
    eyebrow_left_outer: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eyebrow_left_inner: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_left_outer: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_left_top: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_left_bottom: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_left_inner: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eyebrow_right_inner: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eyebrow_right_outer: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_right_inner: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_right_top: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_right_bottom: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eye_right_outer: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nose_root_left: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nose_root_right: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nose_left_alar_top: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nose_right_alar_top: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nose_left_alar_out_tip: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nose_right_alar_out_tip: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upper_lip_top: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upper_lip_bottom: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    under_lip_top: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    under_lip_bottom: Option<Point>,
}

impl Landmarks {
    fn new(five: &issc_core::Landmarks5, all: Option<&[[f32; 2]; 27]>) -> Self {
        let p = |[x, y]: [f32; 2]| Point { x: round2(x), y: round2(y) };
        let f = five.0;
        let m = |i: usize| all.map(|a| p(a[i]));
        Landmarks {
            pupil_left: p(f[0]),
            pupil_right: p(f[1]),
            nose_tip: p(f[2]),
            mouth_left: p(f[3]),
            mouth_right: p(f[4]),
            eyebrow_left_outer: m(5),
            eyebrow_left_inner: m(6),
            eye_left_outer: m(7),
            eye_left_top: m(8),
            eye_left_bottom: m(9),
            eye_left_inner: m(10),
            eyebrow_right_inner: m(11),
            eyebrow_right_outer: m(12),
            eye_right_inner: m(13),
            eye_right_top: m(14),
            eye_right_bottom: m(15),
            eye_right_outer: m(16),
            nose_root_left: m(17),
            nose_root_right: m(18),
            nose_left_alar_top: m(19),
            nose_right_alar_top: m(20),
            nose_left_alar_out_tip: m(21),
            nose_right_alar_out_tip: m(22),
            upper_lip_top: m(23),
            upper_lip_bottom: m(24),
            under_lip_top: m(25),
            under_lip_bottom: m(26),
        }
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    face_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

fn round_to(v: f32, places: i32) -> f64 {
    let k = 10f64.powi(places);
    let r = (f64::from(v) * k).round() / k;
    if r.is_finite() { r } else { 0.0 }
}

/// The asked-for attributes of one face, in the spec's names and shapes (angles to 0.1°, values to 0.01).
fn attributes_json(
    q: &crate::face_attributes::FaceQuality,
    mask: Option<f32>,
    wanted: &[&'static str],
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let level = |l: crate::face_attributes::Level| serde_json::to_value(l).unwrap_or_default();
    let mut m = serde_json::Map::new();
    for a in wanted {
        let v = match *a {
            "headPose" => json!({
                "pitch": round_to(q.head_pose.pitch, 1),
                "roll": round_to(q.head_pose.roll, 1),
                "yaw": round_to(q.head_pose.yaw, 1),
            }),
            "blur" => json!({ "blurLevel": level(q.blur.blur_level), "value": round_to(q.blur.value, 2) }),
            "exposure" => json!({
                "exposureLevel": serde_json::to_value(q.exposure.exposure_level).unwrap_or_default(),
                "value": round_to(q.exposure.value, 2),
            }),
            "noise" => json!({ "noiseLevel": level(q.noise.noise_level), "value": round_to(q.noise.value, 2) }),
            "qualityForRecognition" => level(q.quality_for_recognition),
            "mask" => {
                let (kind, covered) = mask_type(mask);
                json!({ "type": kind, "noseAndMouthCovered": covered })
            }
            // face_attributes() lets nothing else through.
            _ => continue,
        };
        m.insert((*a).to_string(), v);
    }
    m
}

/// Azure's `mask` from the classifier's probability of a mask over nose and mouth: `faceMask` (covered) at 0.75 or
/// more, `noMask` at 0.25 or less, `uncertain` between (docs/face-api.md). The classifier knows masks and bare faces
/// only, so `otherMaskOrOcclusion` is never answered.
fn mask_type(p: Option<f32>) -> (&'static str, bool) {
    match p {
        Some(p) if p >= MASK_AT => ("faceMask", true),
        Some(p) if p <= NO_MASK_AT => ("noMask", false),
        _ => ("uncertain", false),
    }
}

/// The classifier's probability from which a face is `faceMask`.
const MASK_AT: f32 = 0.75;
/// The probability up to which a face is `noMask`.
const NO_MASK_AT: f32 = 0.25;

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
    let attributes = face_attributes(&q, &detection, &recognition, fs.api.mask.is_some())?;
    if detection == "detection_02" && landmarks {
        return Err(FaceApiError::bad_argument("'returnLandmarks' is not supported by detection_02."));
    }
    let ttl = match query_param(&q, "faceIdTimeToLive") {
        None => 86_400,
        Some(v) => v.parse::<u64>().ok().filter(|s| (60..=86_400).contains(s)).ok_or_else(|| {
            FaceApiError::bad_argument(format!("Invalid argument faceIdTimeToLive: '{v}' is not in 60..86400 seconds."))
        })?,
    };
    // A full faceId store refuses before any work is done (and again, all or none, once the faces are known).
    if return_id {
        super::face_id_room(fs, 1).await?;
    }
    let photo = photo(&state, &headers, body).await?;
    let what =
        Analysis { attributes: !attributes.is_empty(), max_face: None, landmarks, mask: attributes.contains(&"mask") };
    let faces = analyze(&state, photo, what).await?;
    state.metrics.faces.observe(faces.len() as f64);
    let mut ids = if return_id {
        let embeddings: Vec<Vec<f32>> = faces.iter().filter_map(|d| d.embedding.clone()).collect();
        super::remember_faces(fs, embeddings, &recognition, Duration::from_secs(ttl)).await?.into_iter()
    } else {
        Vec::new().into_iter()
    };
    let out = faces
        .into_iter()
        .map(|d| {
            let b = d.face.bbox;
            let face_id = if return_id && d.embedding.is_some() { ids.next() } else { None };
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
                face_landmarks: landmarks.then(|| Landmarks::new(&d.face.landmarks, d.landmarks.as_ref())),
                face_attributes: d.quality.as_ref().map(|q| attributes_json(q, d.mask, &attributes)),
            };
            serde_json::to_value(r).map_err(FaceApiError::internal)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(out))
}
