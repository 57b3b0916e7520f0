//! Data-driven test over every example of the Face v1.2 REST spec.
//!
//! For each `examples/*.json`, a real HTTP server on 127.0.0.1 answers the example's response; the matching
//! client method is called with the example's parameters; the test then checks that the client sent exactly the
//! request the spec describes (method, path, query, headers, body — derived from `Face.json`, not hand-written)
//! and that the response parsed into the typed model without losing anything.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use azure_face_client::{
    AddFaceOptions, ClientOptions, CreateCollectionRequest, CreateLivenessSessionRequest,
    CreateLivenessWithVerifySessionRequest, CreatePersonRequest, DetectOptions, FaceAttributeType, FaceClient,
    FaceError, FaceRectangle, FindSimilarOptions, IdentifyOptions, KeyCredential, ListCollectionsOptions, ListOptions,
    RetryOptions, UpdateRequest, Uuid,
};
use common::{Recorded, Reply, TEST_KEY, TestServer, parse_multipart};
use serde_json::{Map, Value};

const VERIFY_IMAGE: &[u8] = b"fake-verify-image-bytes-for-tests";

fn spec_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AZURE_FACE_SPEC_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/azure/spec/specification/ai/data-plane/Face/stable/v1.2")
    });
    dir.join("Face.json").is_file().then_some(dir)
}

/// One operation of the spec.
struct SpecOp {
    method: String,
    path: String,
    params: Vec<Value>,
    consumes: Option<Vec<String>>,
}

fn load_spec(dir: &Path) -> BTreeMap<String, SpecOp> {
    let text = std::fs::read_to_string(dir.join("Face.json")).expect("read Face.json");
    let spec: Value = serde_json::from_str(&text).expect("parse Face.json");
    let shared = spec["parameters"].as_object().cloned().unwrap_or_default();
    let mut ops = BTreeMap::new();
    for section in ["paths", "x-ms-paths"] {
        for (path, methods) in spec[section].as_object().expect("paths") {
            let path = path.split('?').next().unwrap_or(path).to_owned();
            for (method, op) in methods.as_object().expect("methods") {
                if method == "parameters" {
                    continue;
                }
                let params = op["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| match p.get("$ref").and_then(Value::as_str) {
                        Some(r) => shared[r.rsplit('/').next().unwrap_or(r)].clone(),
                        None => p,
                    })
                    .collect();
                let consumes =
                    op["consumes"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect());
                ops.insert(
                    op["operationId"].as_str().expect("operationId").to_owned(),
                    SpecOp { method: method.to_uppercase(), path: path.clone(), params, consumes },
                );
            }
        }
    }
    ops
}

fn wire(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(wire).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[derive(Debug)]
enum ExpectedBody {
    None,
    Json(Value),
    Binary(Vec<u8>),
    Multipart(Vec<(String, String)>),
}

struct Expected {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    csv_raw: Vec<String>,
    body: ExpectedBody,
    content_type: Option<&'static str>,
}

fn expected_request(op: &SpecOp, params: &Map<String, Value>, ignored: &mut Vec<String>) -> Expected {
    let mut path = format!("/face/v1.2{}", op.path);
    let mut query = Vec::new();
    let mut csv_raw = Vec::new();
    let mut body = ExpectedBody::None;
    let mut content_type = None;
    let mut form = Vec::new();
    for p in &op.params {
        let name = p["name"].as_str().unwrap_or_default();
        let value = params.get(name);
        match (p["in"].as_str().unwrap_or_default(), value) {
            ("path", Some(v)) => path = path.replace(&format!("{{{name}}}"), &wire(v)),
            ("query", Some(v)) => {
                if p["collectionFormat"] == "csv" {
                    csv_raw.push(format!("{name}={}", wire(v)));
                }
                query.push((name.to_owned(), wire(v)));
            }
            ("body", Some(v)) => {
                if p["schema"]["format"] == "binary" {
                    body = ExpectedBody::Binary(wire(v).into_bytes());
                    content_type = Some("application/octet-stream");
                } else {
                    body = ExpectedBody::Json(v.clone());
                    content_type = Some("application/json");
                }
            }
            ("formData", _) => {
                let field = params.get("body").and_then(|b| b.get(name));
                if let Some(v) = field {
                    form.push((name.to_owned(), wire(v)));
                }
            }
            _ => {}
        }
    }
    if op.consumes.as_ref().is_some_and(|c| c.iter().any(|c| c == "multipart/form-data")) {
        // The example's body lists the form fields; fields that are not form parameters of the GA spec are not
        // sent (they belong to the preview API).
        if let Some(b) = params.get("body").and_then(Value::as_object) {
            for k in b.keys() {
                if !op.params.iter().any(|p| p["name"] == k.as_str()) {
                    ignored.push(k.clone());
                }
            }
        }
        form.push(("verifyImage".to_owned(), String::from_utf8_lossy(VERIFY_IMAGE).into_owned()));
        body = ExpectedBody::Multipart(form);
        content_type = Some("multipart/form-data");
    }
    Expected { method: op.method.clone(), path, query, csv_raw, body, content_type }
}

fn s<'a>(p: &'a Map<String, Value>, k: &str) -> &'a str {
    p.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("example parameter {k} missing"))
}

fn body(p: &Map<String, Value>) -> &Map<String, Value> {
    p.get("body").and_then(Value::as_object).expect("example body")
}

fn id(v: &Value) -> Uuid {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a uuid: {v}"))
}

fn ids(v: &Value) -> Vec<Uuid> {
    v.as_array().expect("array").iter().map(id).collect()
}

fn detect_options(p: &Map<String, Value>) -> DetectOptions {
    let mut o = DetectOptions::new();
    if let Some(v) = p.get("detectionModel").and_then(Value::as_str) {
        o = o.detection_model(v.into());
    }
    if let Some(v) = p.get("recognitionModel").and_then(Value::as_str) {
        o = o.recognition_model(v.into());
    }
    if let Some(v) = p.get("returnFaceId").and_then(Value::as_bool) {
        o = o.return_face_id(v);
    }
    if let Some(v) = p.get("returnFaceLandmarks").and_then(Value::as_bool) {
        o = o.return_face_landmarks(v);
    }
    if let Some(v) = p.get("returnFaceAttributes").and_then(Value::as_str) {
        o = o.return_face_attributes(v.split(',').map(FaceAttributeType::from));
    }
    if let Some(v) = p.get("returnRecognitionModel").and_then(Value::as_bool) {
        o = o.return_recognition_model(v);
    }
    if let Some(v) = p.get("faceIdTimeToLive").and_then(Value::as_u64) {
        o = o.face_id_time_to_live(v as u32);
    }
    o
}

fn add_face_options(p: &Map<String, Value>) -> AddFaceOptions {
    let mut o = AddFaceOptions::new();
    if let Some(v) = p.get("targetFace").and_then(Value::as_str) {
        let n: Vec<i32> = v.split(',').map(|x| x.parse().expect("int")).collect();
        o = o.target_face(FaceRectangle::new(n[0], n[1], n[2], n[3]));
    }
    if let Some(v) = p.get("detectionModel").and_then(Value::as_str) {
        o = o.detection_model(v.into());
    }
    if let Some(v) = p.get("userData").and_then(Value::as_str) {
        o = o.user_data(v);
    }
    o
}

fn list_options(p: &Map<String, Value>) -> ListOptions {
    let mut o = ListOptions::new();
    if let Some(v) = p.get("start").and_then(Value::as_str) {
        o = o.start(v);
    }
    if let Some(v) = p.get("top").and_then(Value::as_u64) {
        o = o.top(v as u32);
    }
    o
}

fn list_collections_options(p: &Map<String, Value>) -> ListCollectionsOptions {
    let l = list_options(p);
    let mut o = ListCollectionsOptions::new();
    if let Some(s) = l.start {
        o = o.start(s);
    }
    if let Some(t) = l.top {
        o = o.top(t);
    }
    if let Some(b) = p.get("returnRecognitionModel").and_then(Value::as_bool) {
        o = o.return_recognition_model(b);
    }
    o
}

fn rrm(p: &Map<String, Value>) -> bool {
    p.get("returnRecognitionModel").and_then(Value::as_bool).unwrap_or(false)
}

fn create_request(p: &Map<String, Value>) -> CreateCollectionRequest {
    let b = body(p);
    let mut r = CreateCollectionRequest::new(b["name"].as_str().expect("name"));
    if let Some(u) = b.get("userData").and_then(Value::as_str) {
        r = r.user_data(u);
    }
    if let Some(m) = b.get("recognitionModel").and_then(Value::as_str) {
        r = r.recognition_model(m.into());
    }
    r
}

fn update_request(p: &Map<String, Value>) -> UpdateRequest {
    let b = body(p);
    let mut r = UpdateRequest::new();
    if let Some(n) = b.get("name").and_then(Value::as_str) {
        r = r.name(n);
    }
    if let Some(u) = b.get("userData").and_then(Value::as_str) {
        r = r.user_data(u);
    }
    r
}

fn person_request(p: &Map<String, Value>) -> CreatePersonRequest {
    let b = body(p);
    let mut r = CreatePersonRequest::new(b["name"].as_str().expect("name"));
    if let Some(u) = b.get("userData").and_then(Value::as_str) {
        r = r.user_data(u);
    }
    r
}

fn find_similar_options(b: &Map<String, Value>) -> FindSimilarOptions {
    let mut o = FindSimilarOptions::new();
    if let Some(n) = b.get("maxNumOfCandidatesReturned").and_then(Value::as_u64) {
        o = o.max_num_of_candidates_returned(n as u32);
    }
    if let Some(m) = b.get("mode").and_then(Value::as_str) {
        o = o.mode(m.into());
    }
    o
}

fn identify_options(b: &Map<String, Value>) -> IdentifyOptions {
    let mut o = IdentifyOptions::new();
    if let Some(n) = b.get("maxNumOfCandidatesReturned").and_then(Value::as_u64) {
        o = o.max_num_of_candidates_returned(n as u32);
    }
    if let Some(t) = b.get("confidenceThreshold").and_then(Value::as_f64) {
        o = o.confidence_threshold(t);
    }
    o
}

fn user_data(p: &Map<String, Value>) -> &str {
    body(p).get("userData").and_then(Value::as_str).expect("userData")
}

fn v<T: serde::Serialize>(x: T) -> Value {
    serde_json::to_value(x).expect("serialise the typed result")
}

/// What a call returned, to compare with the example's response.
enum Outcome {
    Json(Value),
    Unit,
    Bytes(Vec<u8>),
    OperationLocation(Option<String>),
}

/// Calls the client method matching the example's operation.
async fn invoke(c: &FaceClient, op: &str, p: &Map<String, Value>) -> Result<Outcome, FaceError> {
    use Outcome::{Json, Unit};
    let image = || p.get("imageContent").map(wire).unwrap_or_default().into_bytes();
    let lpg = || s(p, "largePersonGroupId");
    let pg = || s(p, "personGroupId");
    let lfl = || s(p, "largeFaceListId");
    let fl = || s(p, "faceListId");
    let person = || id(&p["personId"]);
    let face = || id(&p["persistedFaceId"]);
    Ok(match op {
        // Detection.
        "FaceDetectionOperations_Detect" => Json(v(c.detect(image(), &detect_options(p)).await?)),
        "FaceDetectionOperations_DetectFromUrl" => {
            Json(v(c.detect_from_url(body(p)["url"].as_str().expect("url"), &detect_options(p)).await?))
        }
        "FaceDetectionOperations_DetectFromSessionImageId" => Json(v(c
            .detect_from_session_image_id(body(p)["sessionImageId"].as_str().expect("id"), &detect_options(p))
            .await?)),
        // Recognition.
        "FaceRecognitionOperations_FindSimilar" => {
            let b = body(p);
            Json(v(c.find_similar(id(&b["faceId"]), &ids(&b["faceIds"]), &find_similar_options(b)).await?))
        }
        "FaceRecognitionOperations_FindSimilarFromFaceList" => {
            let b = body(p);
            let list = b["faceListId"].as_str().expect("faceListId");
            Json(v(c.find_similar_from_face_list(id(&b["faceId"]), list, &find_similar_options(b)).await?))
        }
        "FaceRecognitionOperations_FindSimilarFromLargeFaceList" => {
            let b = body(p);
            let list = b["largeFaceListId"].as_str().expect("largeFaceListId");
            Json(v(c.find_similar_from_large_face_list(id(&b["faceId"]), list, &find_similar_options(b)).await?))
        }
        "FaceRecognitionOperations_Group" => Json(v(c.group(&ids(&body(p)["faceIds"])).await?)),
        "FaceRecognitionOperations_IdentifyFromPersonGroup" => {
            let b = body(p);
            let g = b["personGroupId"].as_str().expect("id");
            Json(v(c.identify_from_person_group(&ids(&b["faceIds"]), g, &identify_options(b)).await?))
        }
        "FaceRecognitionOperations_IdentifyFromLargePersonGroup" => {
            let b = body(p);
            let g = b["largePersonGroupId"].as_str().expect("id");
            Json(v(c.identify_from_large_person_group(&ids(&b["faceIds"]), g, &identify_options(b)).await?))
        }
        "FaceRecognitionOperations_IdentifyFromPersonDirectory" => {
            let b = body(p);
            Json(v(c
                .identify_from_person_directory(&ids(&b["faceIds"]), &ids(&b["personIds"]), &identify_options(b))
                .await?))
        }
        "FaceRecognitionOperations_IdentifyFromDynamicPersonGroup" => {
            let b = body(p);
            let g = b["dynamicPersonGroupId"].as_str().expect("id");
            Json(v(c.identify_from_dynamic_person_group(&ids(&b["faceIds"]), g, &identify_options(b)).await?))
        }
        "FaceRecognitionOperations_VerifyFaceToFace" => {
            let b = body(p);
            Json(v(c.verify_face_to_face(id(&b["faceId1"]), id(&b["faceId2"])).await?))
        }
        "FaceRecognitionOperations_VerifyFromPersonGroup" => {
            let b = body(p);
            let g = b["personGroupId"].as_str().expect("id");
            Json(v(c.verify_from_person_group(id(&b["faceId"]), g, id(&b["personId"])).await?))
        }
        "FaceRecognitionOperations_VerifyFromLargePersonGroup" => {
            let b = body(p);
            let g = b["largePersonGroupId"].as_str().expect("id");
            Json(v(c.verify_from_large_person_group(id(&b["faceId"]), g, id(&b["personId"])).await?))
        }
        "FaceRecognitionOperations_VerifyFromPersonDirectory" => {
            let b = body(p);
            Json(v(c.verify_from_person_directory(id(&b["faceId"]), id(&b["personId"])).await?))
        }
        // Face lists.
        "FaceListOperations_CreateFaceList" => Unit.after(c.create_face_list(fl(), &create_request(p)).await?),
        "FaceListOperations_GetFaceList" => Json(v(c.get_face_list(fl(), rrm(p)).await?)),
        "FaceListOperations_GetFaceLists" => Json(v(c.list_face_lists(rrm(p)).await?)),
        "FaceListOperations_UpdateFaceList" => Unit.after(c.update_face_list(fl(), &update_request(p)).await?),
        "FaceListOperations_DeleteFaceList" => Unit.after(c.delete_face_list(fl()).await?),
        "FaceListOperations_AddFaceListFace" => {
            Json(v(c.add_face_list_face(fl(), image(), &add_face_options(p)).await?))
        }
        "FaceListOperations_AddFaceListFaceFromUrl" => Json(v(c
            .add_face_list_face_from_url(fl(), body(p)["url"].as_str().expect("url"), &add_face_options(p))
            .await?)),
        "FaceListOperations_DeleteFaceListFace" => Unit.after(c.delete_face_list_face(fl(), face()).await?),
        // Large face lists.
        "FaceListOperations_CreateLargeFaceList" => {
            Unit.after(c.create_large_face_list(lfl(), &create_request(p)).await?)
        }
        "FaceListOperations_GetLargeFaceList" => Json(v(c.get_large_face_list(lfl(), rrm(p)).await?)),
        "FaceListOperations_GetLargeFaceLists" => {
            Json(v(c.list_large_face_lists(&list_collections_options(p)).await?))
        }
        "FaceListOperations_UpdateLargeFaceList" => {
            Unit.after(c.update_large_face_list(lfl(), &update_request(p)).await?)
        }
        "FaceListOperations_DeleteLargeFaceList" => Unit.after(c.delete_large_face_list(lfl()).await?),
        "FaceListOperations_TrainLargeFaceList" => Outcome::OperationLocation(
            c.begin_train_large_face_list(lfl()).await?.operation_location().map(|u| u.to_string()),
        ),
        "FaceListOperations_GetLargeFaceListTrainingStatus" => {
            Json(v(c.get_large_face_list_training_status(lfl()).await?))
        }
        "FaceListOperations_AddLargeFaceListFace" => {
            Json(v(c.add_large_face_list_face(lfl(), image(), &add_face_options(p)).await?))
        }
        "FaceListOperations_AddLargeFaceListFaceFromUrl" => Json(v(c
            .add_large_face_list_face_from_url(lfl(), body(p)["url"].as_str().expect("url"), &add_face_options(p))
            .await?)),
        "FaceListOperations_GetLargeFaceListFace" => Json(v(c.get_large_face_list_face(lfl(), face()).await?)),
        "FaceListOperations_GetLargeFaceListFaces" => {
            Json(v(c.list_large_face_list_faces(lfl(), &list_options(p)).await?))
        }
        "FaceListOperations_UpdateLargeFaceListFace" => {
            Unit.after(c.update_large_face_list_face(lfl(), face(), user_data(p)).await?)
        }
        "FaceListOperations_DeleteLargeFaceListFace" => Unit.after(c.delete_large_face_list_face(lfl(), face()).await?),
        // Person groups.
        "PersonGroupOperations_CreatePersonGroup" => Unit.after(c.create_person_group(pg(), &create_request(p)).await?),
        "PersonGroupOperations_GetPersonGroup" => Json(v(c.get_person_group(pg(), rrm(p)).await?)),
        "PersonGroupOperations_GetPersonGroups" => Json(v(c.list_person_groups(&list_collections_options(p)).await?)),
        "PersonGroupOperations_UpdatePersonGroup" => Unit.after(c.update_person_group(pg(), &update_request(p)).await?),
        "PersonGroupOperations_DeletePersonGroup" => Unit.after(c.delete_person_group(pg()).await?),
        "PersonGroupOperations_TrainPersonGroup" => Outcome::OperationLocation(
            c.begin_train_person_group(pg()).await?.operation_location().map(|u| u.to_string()),
        ),
        "PersonGroupOperations_GetPersonGroupTrainingStatus" => {
            Json(v(c.get_person_group_training_status(pg()).await?))
        }
        "PersonGroupOperations_CreatePersonGroupPerson" => {
            Json(v(c.create_person_group_person(pg(), &person_request(p)).await?))
        }
        "PersonGroupOperations_GetPersonGroupPerson" => Json(v(c.get_person_group_person(pg(), person()).await?)),
        "PersonGroupOperations_GetPersonGroupPersons" => {
            Json(v(c.list_person_group_persons(pg(), &list_options(p)).await?))
        }
        "PersonGroupOperations_UpdatePersonGroupPerson" => {
            Unit.after(c.update_person_group_person(pg(), person(), &update_request(p)).await?)
        }
        "PersonGroupOperations_DeletePersonGroupPerson" => {
            Unit.after(c.delete_person_group_person(pg(), person()).await?)
        }
        "PersonGroupOperations_AddPersonGroupPersonFace" => {
            Json(v(c.add_person_group_person_face(pg(), person(), image(), &add_face_options(p)).await?))
        }
        "PersonGroupOperations_AddPersonGroupPersonFaceFromUrl" => Json(v(c
            .add_person_group_person_face_from_url(
                pg(),
                person(),
                body(p)["url"].as_str().expect("url"),
                &add_face_options(p),
            )
            .await?)),
        "PersonGroupOperations_GetPersonGroupPersonFace" => {
            Json(v(c.get_person_group_person_face(pg(), person(), face()).await?))
        }
        "PersonGroupOperations_UpdatePersonGroupPersonFace" => {
            Unit.after(c.update_person_group_person_face(pg(), person(), face(), user_data(p)).await?)
        }
        "PersonGroupOperations_DeletePersonGroupPersonFace" => {
            Unit.after(c.delete_person_group_person_face(pg(), person(), face()).await?)
        }
        // Large person groups.
        "PersonGroupOperations_CreateLargePersonGroup" => {
            Unit.after(c.create_large_person_group(lpg(), &create_request(p)).await?)
        }
        "PersonGroupOperations_GetLargePersonGroup" => Json(v(c.get_large_person_group(lpg(), rrm(p)).await?)),
        "PersonGroupOperations_GetLargePersonGroups" => {
            Json(v(c.list_large_person_groups(&list_collections_options(p)).await?))
        }
        "PersonGroupOperations_UpdateLargePersonGroup" => {
            Unit.after(c.update_large_person_group(lpg(), &update_request(p)).await?)
        }
        "PersonGroupOperations_DeleteLargePersonGroup" => Unit.after(c.delete_large_person_group(lpg()).await?),
        "PersonGroupOperations_TrainLargePersonGroup" => Outcome::OperationLocation(
            c.begin_train_large_person_group(lpg()).await?.operation_location().map(|u| u.to_string()),
        ),
        "PersonGroupOperations_GetLargePersonGroupTrainingStatus" => {
            Json(v(c.get_large_person_group_training_status(lpg()).await?))
        }
        "PersonGroupOperations_CreateLargePersonGroupPerson" => {
            Json(v(c.create_large_person_group_person(lpg(), &person_request(p)).await?))
        }
        "PersonGroupOperations_GetLargePersonGroupPerson" => {
            Json(v(c.get_large_person_group_person(lpg(), person()).await?))
        }
        "PersonGroupOperations_GetLargePersonGroupPersons" => {
            Json(v(c.list_large_person_group_persons(lpg(), &list_options(p)).await?))
        }
        "PersonGroupOperations_UpdateLargePersonGroupPerson" => {
            Unit.after(c.update_large_person_group_person(lpg(), person(), &update_request(p)).await?)
        }
        "PersonGroupOperations_DeleteLargePersonGroupPerson" => {
            Unit.after(c.delete_large_person_group_person(lpg(), person()).await?)
        }
        "PersonGroupOperations_AddLargePersonGroupPersonFace" => {
            Json(v(c.add_large_person_group_person_face(lpg(), person(), image(), &add_face_options(p)).await?))
        }
        "PersonGroupOperations_AddLargePersonGroupPersonFaceFromUrl" => Json(v(c
            .add_large_person_group_person_face_from_url(
                lpg(),
                person(),
                body(p)["url"].as_str().expect("url"),
                &add_face_options(p),
            )
            .await?)),
        "PersonGroupOperations_GetLargePersonGroupPersonFace" => {
            Json(v(c.get_large_person_group_person_face(lpg(), person(), face()).await?))
        }
        "PersonGroupOperations_UpdateLargePersonGroupPersonFace" => {
            Unit.after(c.update_large_person_group_person_face(lpg(), person(), face(), user_data(p)).await?)
        }
        "PersonGroupOperations_DeleteLargePersonGroupPersonFace" => {
            Unit.after(c.delete_large_person_group_person_face(lpg(), person(), face()).await?)
        }
        // Liveness.
        "LivenessSessionOperations_CreateLivenessSession" => {
            let b = body(p);
            let mut r = CreateLivenessSessionRequest::new(b["livenessOperationMode"].as_str().expect("mode").into());
            if let Some(x) = b.get("deviceCorrelationIdSetInClient").and_then(Value::as_bool) {
                r = r.device_correlation_id_set_in_client(x);
            }
            if let Some(x) = b.get("enableSessionImage").and_then(Value::as_bool) {
                r = r.enable_session_image(x);
            }
            if let Some(x) = b.get("livenessModelVersion").and_then(Value::as_str) {
                r = r.liveness_model_version(x.into());
            }
            if let Some(x) = b.get("deviceCorrelationId").and_then(Value::as_str) {
                r = r.device_correlation_id(x);
            }
            if let Some(x) = b.get("authTokenTimeToLiveInSeconds").and_then(Value::as_u64) {
                r = r.auth_token_time_to_live_in_seconds(x as u32);
            }
            Json(v(c.create_liveness_session(&r).await?))
        }
        "LivenessSessionOperations_CreateLivenessWithVerifySession" => {
            let b = body(p);
            let mode = b["livenessOperationMode"].as_str().expect("mode").into();
            let mut r = CreateLivenessWithVerifySessionRequest::new(mode, VERIFY_IMAGE);
            if let Some(x) = b.get("deviceCorrelationIdSetInClient").and_then(Value::as_bool) {
                r = r.device_correlation_id_set_in_client(x);
            }
            if let Some(x) = b.get("enableSessionImage").and_then(Value::as_bool) {
                r = r.enable_session_image(x);
            }
            if let Some(x) = b.get("livenessModelVersion").and_then(Value::as_str) {
                r = r.liveness_model_version(x.into());
            }
            if let Some(x) = b.get("returnVerifyImageHash").and_then(Value::as_bool) {
                r = r.return_verify_image_hash(x);
            }
            if let Some(x) = b.get("verifyConfidenceThreshold").and_then(Value::as_f64) {
                r = r.verify_confidence_threshold(x);
            }
            if let Some(x) = b.get("deviceCorrelationId").and_then(Value::as_str) {
                r = r.device_correlation_id(x);
            }
            if let Some(x) = b.get("authTokenTimeToLiveInSeconds").and_then(Value::as_u64) {
                r = r.auth_token_time_to_live_in_seconds(x as u32);
            }
            Json(v(c.create_liveness_with_verify_session(&r).await?))
        }
        "LivenessSessionOperations_GetLivenessSessionResult" => {
            Json(v(c.get_liveness_session_result(s(p, "sessionId")).await?))
        }
        "LivenessSessionOperations_DeleteLivenessSession" => {
            Unit.after(c.delete_liveness_session(s(p, "sessionId")).await?)
        }
        "LivenessSessionOperations_GetLivenessWithVerifySessionResult" => {
            Json(v(c.get_liveness_with_verify_session_result(s(p, "sessionId")).await?))
        }
        "LivenessSessionOperations_DeleteLivenessWithVerifySession" => {
            Unit.after(c.delete_liveness_with_verify_session(s(p, "sessionId")).await?)
        }
        "LivenessSessionOperations_GetSessionImage" => {
            Outcome::Bytes(c.get_session_image(s(p, "sessionImageId")).await?.to_vec())
        }
        other => panic!("no client method mapped for operation {other}"),
    })
}

impl Outcome {
    fn after(self, (): ()) -> Outcome {
        self
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        _ => false,
    }
}

/// Whether the typed result, serialised back, carries everything the example's response did. `null` in the
/// example matches an absent field; extra fields must be empty (defaults); enum strings may differ in case
/// (the client normalises `realFace` to the spec's `realface`).
fn equivalent(path: &str, expected: &Value, actual: &Value) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => equivalent(&format!("{path}.{k}"), ev, av)?,
                    None if ev.is_null() => {}
                    None => return Err(format!("{path}.{k}: missing in the parsed result (expected {ev})")),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) && !is_empty(av) {
                    return Err(format!("{path}.{k}: {av} appeared from nowhere"));
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: {} items expected, {} parsed", e.len(), a.len()));
            }
            e.iter().zip(a).enumerate().try_for_each(|(i, (ev, av))| equivalent(&format!("{path}[{i}]"), ev, av))
        }
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap_or(f64::NAN), a.as_f64().unwrap_or(f64::NAN));
            if (e - a).abs() <= 1e-9 * e.abs().max(1.0) { Ok(()) } else { Err(format!("{path}: {e} != {a}")) }
        }
        (Value::String(e), Value::String(a)) if e.eq_ignore_ascii_case(a) => Ok(()),
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, parsed {a}")),
    }
}

fn check_request(name: &str, rec: &Recorded, exp: &Expected) {
    assert_eq!(rec.method, exp.method, "{name}: method");
    assert_eq!(rec.path, exp.path, "{name}: path");
    let mut got = rec.query_pairs();
    let mut want = exp.query.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{name}: query parameters (raw query: {:?})", rec.raw_query);
    for csv in &exp.csv_raw {
        let raw = rec.raw_query.as_deref().unwrap_or_default();
        assert!(raw.split('&').any(|p| p == csv), "{name}: CSV array not sent unencoded as `{csv}` in `{raw}`");
    }
    assert_eq!(rec.header("ocp-apim-subscription-key"), Some(TEST_KEY), "{name}: key header");
    assert!(rec.header("authorization").is_none(), "{name}: no bearer header with a key credential");
    let request_id = rec.header("x-ms-client-request-id").unwrap_or_default();
    assert!(request_id.parse::<Uuid>().is_ok(), "{name}: x-ms-client-request-id `{request_id}`");
    assert!(rec.header("accept").is_some(), "{name}: accept header");
    let content_type = rec.header("content-type");
    match exp.content_type {
        Some(ct) => assert!(
            content_type.is_some_and(|c| c.starts_with(ct)),
            "{name}: content-type {content_type:?}, expected {ct}"
        ),
        None => assert!(content_type.is_none(), "{name}: no content-type expected, got {content_type:?}"),
    }
    match &exp.body {
        ExpectedBody::None => {
            assert!(rec.body.is_empty(), "{name}: no body expected, got {} bytes", rec.body.len());
            if rec.method == "POST" {
                assert_eq!(rec.header("content-length"), Some("0"), "{name}: empty POST sends Content-Length: 0");
            }
        }
        ExpectedBody::Json(want) => {
            let got: Value = serde_json::from_slice(&rec.body)
                .unwrap_or_else(|e| panic!("{name}: body is not JSON ({e}): {:?}", String::from_utf8_lossy(&rec.body)));
            assert_eq!(&got, want, "{name}: JSON body");
        }
        ExpectedBody::Binary(want) => assert_eq!(rec.body.as_ref(), want.as_slice(), "{name}: binary body"),
        ExpectedBody::Multipart(want) => {
            let parts = parse_multipart(content_type.unwrap_or_default(), &rec.body);
            let mut got: Vec<(String, String)> =
                parts.iter().map(|(n, _, b)| (n.clone(), String::from_utf8_lossy(b).into_owned())).collect();
            let mut want = want.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name}: multipart fields");
            let file = parts.iter().find(|(n, _, _)| n == "verifyImage").expect("verifyImage part");
            assert!(file.1.is_some(), "{name}: verifyImage is sent as a file part");
        }
    }
}

fn reply_for(example: &Value, op: &SpecOp) -> (u16, Reply, Option<Value>) {
    let responses = example["responses"].as_object().expect("responses");
    let (code, response) = responses.iter().next().expect("one response");
    let status: u16 = code.parse().expect("status code");
    let mut reply = Reply::new(status);
    if let Some(h) = response.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            reply = reply.header(k, &wire(v));
        }
    }
    let body = response.get("body").cloned();
    match &body {
        Some(Value::String(s)) if op.path.starts_with("/sessionImages") => {
            reply = reply.header("content-type", "application/octet-stream").body(s.clone().into_bytes());
        }
        Some(b) => {
            reply = reply.header("content-type", "application/json").body(b.to_string().into_bytes());
        }
        None => {}
    }
    (status, reply, body)
}

#[tokio::test]
async fn every_v1_2_spec_example_round_trips_over_http() {
    let Some(dir) = spec_dir() else {
        assert!(
            std::env::var_os("ISSC_REQUIRE_SHARED_DATA").is_none(),
            "ISSC_REQUIRE_SHARED_DATA is set but the Face v1.2 spec is not at ../shared/azure/..."
        );
        println!("SKIPPED: the Face v1.2 spec is not at ../shared/azure/... (set AZURE_FACE_SPEC_DIR)");
        return;
    };
    let spec = load_spec(&dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("examples"))
        .expect("examples dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut covered = Vec::new();
    let mut notes = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let example: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("read example"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let op_id = example["operationId"].as_str().expect("operationId");
        let op = spec.get(op_id).unwrap_or_else(|| panic!("{name}: operation {op_id} not in Face.json"));
        let params = example["parameters"].as_object().expect("parameters");
        let mut ignored = Vec::new();
        let expected = expected_request(op, params, &mut ignored);
        if !ignored.is_empty() {
            notes.push(format!("{name}: example body fields not in the GA spec, not sent: {ignored:?}"));
        }
        let (status, reply, body) = reply_for(&example, op);
        let server = TestServer::script(vec![reply]).await;
        let options = ClientOptions::default().retry(RetryOptions::none());
        let client = FaceClient::with_options(&server.base, KeyCredential::new(TEST_KEY), options).expect("client");

        let outcome = invoke(&client, op_id, params).await.unwrap_or_else(|e| panic!("{name}: call failed: {e}"));

        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{name}: exactly one request");
        check_request(&name, &requests[0], &expected);
        match outcome {
            Outcome::Json(actual) => {
                let body = body.unwrap_or_else(|| panic!("{name}: example has no body but the call returned one"));
                equivalent("$", &body, &actual).unwrap_or_else(|e| panic!("{name}: response: {e}"));
            }
            Outcome::Unit => {
                assert!(body.is_none(), "{name}: example has a body but the call returns nothing");
                assert!((200..300).contains(&status), "{name}");
            }
            Outcome::Bytes(bytes) => {
                assert_eq!(Some(Value::String(String::from_utf8_lossy(&bytes).into_owned())), body, "{name}: bytes")
            }
            Outcome::OperationLocation(location) => {
                let want = example["responses"][status.to_string()]["headers"]["operation-Location"].as_str();
                assert_eq!(location.as_deref(), want, "{name}: Operation-Location");
            }
        }
        covered.push(name);
    }
    for n in &notes {
        println!("note: {n}");
    }
    println!("spec examples covered: {} of {} files in {}", covered.len(), files.len(), dir.join("examples").display());
    assert_eq!(covered.len(), files.len());
    assert_eq!(files.len(), 77, "the v1.2 spec has 77 examples");
    // Every operation of the spec has an example, and every one was exercised.
    let exercised: std::collections::BTreeSet<_> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .filter_map(|e| e["operationId"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<_> = spec.keys().filter(|k| !exercised.contains(*k)).collect();
    assert!(missing.is_empty(), "operations without an example: {missing:?}");
}
