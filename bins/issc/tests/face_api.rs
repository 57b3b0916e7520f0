//! `issc serve --store`: the Azure Face API's error catalog (status, `error.code`, `x-ms-error-code`), the version
//! segments, auth by `Ocp-Apim-Subscription-Key`, detect's options, and privacy: deleting a person or a group
//! removes their embeddings and user data from the store files.

mod common;

use common::server::Server;
use common::*;
use serde_json::{Value, json};

const KEY: &str = "face-test-key";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

struct Api {
    c: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self { c: reqwest::Client::new(), base: server.url("/face/v1.2") }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut r = self.c.request(method, format!("{}{path}", self.base)).header("ocp-apim-subscription-key", KEY);
        match body {
            Some(Body::Json(v)) => r = r.json(&v),
            Some(Body::Raw(b)) => r = r.header("content-type", "application/octet-stream").body(b),
            Some(Body::Text(t)) => r = r.header("content-type", "application/json").body(t),
            None => {}
        }
        let resp = r.send().await.expect("request");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Body) -> (u16, reqwest::header::HeaderMap, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.send(reqwest::Method::PUT, path, Some(Body::Json(body))).await
    }
    async fn delete(&self, path: &str) -> u16 {
        self.send(reqwest::Method::DELETE, path, None).await.0
    }
}

enum Body {
    Json(Value),
    Raw(Vec<u8>),
    Text(&'static str),
}

/// Azure's error shape: status, `error.code`, the same code in `x-ms-error-code`, and a message.
fn expect_error(got: &(u16, reqwest::header::HeaderMap, Value), status: u16, code: &str, what: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.2);
    assert_eq!(got.2["error"]["code"], code, "{what}: {}", got.2);
    assert_eq!(got.1.get("x-ms-error-code").and_then(|v| v.to_str().ok()), Some(code), "{what}");
    assert!(got.2["error"]["message"].as_str().is_some_and(|m| m.len() > 8), "{what}: message: {}", got.2);
}

fn photo(person: &str, i: usize) -> Vec<u8> {
    let dir = repo().join("examples/people").join(person);
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::read(&files[i]).unwrap()
}

#[test]
fn the_error_catalog_follows_azure() {
    let store = tempfile::tempdir().unwrap();
    let server = Server::start(&["--store", &store.path().display().to_string()], &[("ISSC_API_KEYS", KEY)]);
    let api = Api::new(&server);
    rt().block_on(async {
        // Auth: Azure's 401 for a missing or wrong key.
        let plain = reqwest::Client::new();
        // Readiness of a Face-API-only server (no --model): its store answers.
        let ready = plain.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 200, "a Face-API-only server is ready once its store answers");
        for key in [None, Some("wrong")] {
            let mut r = plain.get(server.url("/face/v1.2/largepersongroups"));
            if let Some(k) = key {
                r = r.header("ocp-apim-subscription-key", k);
            }
            let r = r.send().await.unwrap();
            let (s, h) = (r.status().as_u16(), r.headers().clone());
            expect_error(&(s, h, r.json().await.unwrap()), 401, "401", "key");
        }
        // Versions: v1.0 and v1.2-preview.1 are the same API; unknown ones and unknown paths are 404.
        for v in ["v1.0", "v1.2-preview.1", "v1.2"] {
            let r = plain.get(server.url(&format!("/face/{v}/largepersongroups"))).header("ocp-apim-subscription-key", KEY);
            assert_eq!(r.send().await.unwrap().status(), 200, "{v}");
        }
        expect_error(&api.get("/../v9/largepersongroups").await, 404, "404", "unknown version");
        expect_error(&api.get("/nowhere").await, 404, "404", "unknown path");
        // Methods an operation does not take (a CORS preflight's OPTIONS among them), a URI too long, and headers
        // too large (answered by the HTTP layer before any route) are in Azure's form too.
        expect_error(&api.send(reqwest::Method::OPTIONS, "/detect", None).await, 405, "405", "OPTIONS");
        expect_error(&api.send(reqwest::Method::DELETE, "/verify", None).await, 405, "405", "DELETE verify");
        let long = format!("/largepersongroups?x={}", "a".repeat(9000));
        expect_error(&api.get(&long).await, 414, "UriTooLong", "URI too long");
        let mut many = plain.get(server.url("/face/v1.2/largepersongroups")).header("ocp-apim-subscription-key", KEY);
        for i in 0..120 {
            many = many.header(format!("x-header-{i}"), "v");
        }
        let r = many.send().await.unwrap();
        let (s, h) = (r.status().as_u16(), r.headers().clone());
        expect_error(&(s, h, r.json().await.unwrap()), 431, "RequestHeaderFieldsTooLarge", "too many headers");

        // Collections.
        let lpg = json!({ "name": "Staff", "recognitionModel": "recognition_04" });
        expect_error(&api.put("/largepersongroups/Bad%20Id", lpg.clone()).await, 400, "BadArgument", "invalid id");
        expect_error(&api.put("/largepersongroups/g", json!({ "name": "" })).await, 400, "BadArgument", "empty name");
        expect_error(
            &api.put("/largepersongroups/g", json!({ "name": "x", "recognitionModel": "recognition_09" })).await,
            400,
            "BadArgument",
            "bad recognition model",
        );
        expect_error(&api.post("/largepersongroups/g/persons", Body::Text("{not json")).await, 400, "BadArgument", "bad json");
        assert_eq!(api.put("/largepersongroups/g", lpg.clone()).await.0, 200);
        expect_error(&api.put("/largepersongroups/g", lpg.clone()).await, 409, "LargePersonGroupExists", "twice");
        expect_error(&api.get("/largepersongroups/missing").await, 404, "LargePersonGroupNotFound", "missing (path)");
        expect_error(&api.get("/largepersongroups/g/training").await, 404, "LargePersonGroupNotTrained", "never trained");
        expect_error(
            &api.send(reqwest::Method::PATCH, "/largepersongroups/g", Some(Body::Json(json!({})))).await,
            400,
            "BadArgument",
            "empty update",
        );
        let got = api.get("/largepersongroups/g?returnRecognitionModel=true").await;
        assert_eq!(got.2, json!({ "largePersonGroupId": "g", "name": "Staff", "recognitionModel": "recognition_04" }));
        assert_eq!(api.get("/largepersongroups/g").await.2.get("recognitionModel"), None, "only when asked");

        // Persons and faces.
        let ghost = "00000000-0000-4000-8000-000000000000";
        expect_error(&api.get(&format!("/largepersongroups/g/persons/{ghost}")).await, 404, "PersonNotFound", "person");
        expect_error(&api.get("/largepersongroups/g/persons/not-a-uuid").await, 404, "PersonNotFound", "person id");
        let ada = api.post("/largepersongroups/g/persons", Body::Json(json!({ "name": "Ada" }))).await.2["personId"]
            .as_str()
            .unwrap()
            .to_string();
        let faces = format!("/largepersongroups/g/persons/{ada}/persistedfaces");
        expect_error(&api.post(&faces, Body::Raw(vec![])).await, 400, "InvalidImageSize", "empty image");
        expect_error(&api.post(&faces, Body::Raw(b"not an image at all".repeat(100))).await, 400, "InvalidImage", "not an image");
        // Half a JPEG with an end-of-image marker appended (libjpeg would fill the rest with grey): refused.
        let portrait = std::fs::read(fixtures().join("people/Angelina_Jolie/Angelina_Jolie_0004.jpg")).unwrap();
        let mut damaged = portrait[..portrait.len() / 2].to_vec();
        damaged.extend_from_slice(&[0xFF, 0xD9]);
        let got = api.post(&faces, Body::Raw(damaged.clone())).await;
        expect_error(&got, 400, "InvalidImage", "damaged JPEG");
        assert!(got.2.to_string().contains("damaged"), "{}", got.2);
        let got = api.post("/detect?returnFaceId=false", Body::Raw(damaged)).await;
        expect_error(&got, 400, "InvalidImage", "damaged JPEG on detect");
        let group_photo = std::fs::read(fixtures().join("images/ms_detection4.jpg")).unwrap();
        expect_error(&api.post(&faces, Body::Raw(group_photo.clone())).await, 400, "InvalidImage", "several faces");
        let no_face = std::fs::read(fixtures().join("images/skimage_chelsea.png")).unwrap();
        expect_error(&api.post(&faces, Body::Raw(no_face.clone())).await, 400, "InvalidImage", "no face");
        expect_error(&api.post(&format!("{faces}?targetFace=1,2"), Body::Raw(group_photo.clone())).await, 400, "BadArgument", "targetFace");
        // targetFace picks one face of a group photo.
        let (_, _, detected) =
            api.post("/detect?returnFaceId=false&recognitionModel=recognition_04", Body::Raw(group_photo.clone())).await;
        let r = &detected[1]["faceRectangle"];
        let target = format!("{},{},{},{}", r["left"], r["top"], r["width"], r["height"]);
        let got = api.post(&format!("{faces}?targetFace={target}&userData=second"), Body::Raw(group_photo)).await;
        assert_eq!(got.0, 200, "{}", got.2);
        let fid = got.2["persistedFaceId"].as_str().unwrap().to_string();
        assert_eq!(api.get(&format!("{faces}/{fid}")).await.2, json!({ "persistedFaceId": fid, "userData": "second" }));
        expect_error(&api.get(&format!("{faces}/{ghost}")).await, 404, "PersistedFaceNotFound", "face");

        // Detect options.
        let jolie = photo("Angelina_Jolie", 0);
        expect_error(&api.post("/detect?returnFaceAttributes=age", Body::Raw(jolie.clone())).await, 400, "BadArgument", "attributes");
        expect_error(
            &api.post("/detect?detectionModel=detection_02&returnFaceLandmarks=true", Body::Raw(jolie.clone())).await,
            400,
            "BadArgument",
            "detection_02 landmarks",
        );
        expect_error(&api.post("/detect?faceIdTimeToLive=10", Body::Raw(jolie.clone())).await, 400, "BadArgument", "ttl");
        expect_error(&api.post("/detect?detectionModel=detection_99", Body::Raw(jolie.clone())).await, 400, "BadArgument", "model");
        expect_error(&api.post("/detect", Body::Json(json!({ "url": "http://example.com/a.jpg" }))).await, 400, "InvalidURL", "url off");
        let (s, _, d) = api
            .post(
                "/detect?returnFaceId=true&returnFaceLandmarks=true&returnRecognitionModel=true&recognitionModel=recognition_04&detectionModel=detection_03",
                Body::Raw(jolie.clone()),
            )
            .await;
        assert_eq!(s, 200);
        let face = &d[0];
        assert_eq!(face["recognitionModel"], "recognition_04");
        // All 27 of the spec's landmarks, each where a face has it.
        let lm = &face["faceLandmarks"];
        assert_eq!(lm.as_object().map(|o| o.len()), Some(issc_detect::LANDMARKS_27.len()), "{lm}");
        let at = |k: &str| -> (f64, f64) {
            let (x, y) = (lm[k]["x"].as_f64(), lm[k]["y"].as_f64());
            (x.unwrap_or_else(|| panic!("{k}: {lm}")), y.unwrap_or_else(|| panic!("{k}: {lm}")))
        };
        for (k, _) in issc_detect::LANDMARKS_27 {
            at(k);
        }
        let left_to_right = ["eyeLeftOuter", "eyeLeftInner", "noseRootLeft", "noseRootRight", "eyeRightInner", "eyeRightOuter"];
        for w in left_to_right.windows(2) {
            assert!(at(w[0]).0 < at(w[1]).0, "{} is not left of {}: {lm}", w[0], w[1]);
        }
        for (left, right) in [("pupilLeft", "pupilRight"), ("mouthLeft", "mouthRight"), ("eyebrowLeftOuter", "eyebrowRightOuter"),
            ("noseLeftAlarOutTip", "noseRightAlarOutTip"), ("noseLeftAlarTop", "noseRightAlarTop")] {
            assert!(at(left).0 < at(right).0, "{left} is not left of {right}: {lm}");
        }
        let top_to_bottom = ["eyebrowLeftInner", "eyeLeftTop", "eyeLeftBottom", "noseTip", "upperLipTop", "upperLipBottom", "underLipTop", "underLipBottom"];
        for w in top_to_bottom.windows(2) {
            assert!(at(w[0]).1 < at(w[1]).1, "{} is not above {}: {lm}", w[0], w[1]);
        }
        assert!(at("eyebrowRightOuter").1 < at("eyeRightTop").1 && at("eyeRightTop").1 < at("eyeRightBottom").1, "{lm}");
        let rect = &face["faceRectangle"];
        assert!(rect["width"].as_i64().unwrap() > 50 && rect["top"].as_i64().unwrap() >= 0, "{rect}");
        let face_id = face["faceId"].as_str().unwrap().to_string();
        // A face at the edge of a 150x150 photo: YuNet's box overhangs it, Azure's rectangle may not, and any
        // rectangle detect returns is accepted back as targetFace.
        let edge = photo("Jim_Parsons", 0);
        let (_, _, d) = api.post("/detect?returnFaceId=false", Body::Raw(edge.clone())).await;
        let r = &d[0]["faceRectangle"];
        let (l, t, w, h) = (r["left"].as_i64().unwrap(), r["top"].as_i64().unwrap(), r["width"].as_i64().unwrap(), r["height"].as_i64().unwrap());
        assert!(l >= 0 && t >= 0 && l + w <= 150 && t + h <= 150 && w > 50 && h > 50, "{r}");
        let got = api.post(&format!("{faces}?targetFace={l},{t},{w},{h}"), Body::Raw(edge)).await;
        assert_eq!(got.0, 200, "{}", got.2);
        let (_, _, empty) = api.post("/detect", Body::Raw(no_face)).await;
        assert_eq!(empty, json!([]), "no face: an empty array");

        // Identify, verify, find similar, group: ids named in the body.
        let identify = |body: Value| api.post("/identify", Body::Json(body));
        expect_error(&identify(json!({ "faceIds": [face_id], "largePersonGroupId": "missing" })).await, 400, "LargePersonGroupNotFound", "body id");
        expect_error(&identify(json!({ "faceIds": [face_id], "largePersonGroupId": "g" })).await, 400, "LargePersonGroupNotTrained", "untrained");
        expect_error(&identify(json!({ "faceIds": [ghost], "largePersonGroupId": "g" })).await, 400, "FaceNotFound", "unknown faceId");
        expect_error(&identify(json!({ "faceIds": [face_id] })).await, 400, "PersonGroupIdAndLargePersonGroupIdBothNull", "no group");
        expect_error(
            &identify(json!({ "faceIds": [face_id], "largePersonGroupId": "g", "personGroupId": "g" })).await,
            400,
            "PersonGroupIdAndLargePersonGroupIdBothNotNull",
            "both groups",
        );
        expect_error(&identify(json!({ "faceIds": [], "largePersonGroupId": "g" })).await, 400, "BadArgument", "no faces");
        expect_error(
            &identify(json!({ "faceIds": [face_id], "largePersonGroupId": "g", "maxNumOfCandidatesReturned": 101 })).await,
            400,
            "BadArgument",
            "too many candidates",
        );
        expect_error(&api.post("/verify", Body::Json(json!({ "faceId1": face_id, "faceId2": ghost }))).await, 404, "FaceNotFound", "verify");
        expect_error(
            &api.post("/findsimilars", Body::Json(json!({ "faceId": face_id, "faceIds": [face_id], "largeFaceListId": "x" }))).await,
            400,
            "BadArgument",
            "two targets",
        );
        expect_error(&api.post("/group", Body::Json(json!({ "faceIds": [face_id] }))).await, 400, "BadArgument", "group of one");
        // A faceId detected with another recognition model does not match this group's.
        let (_, _, d01) = api.post("/detect?recognitionModel=recognition_01", Body::Raw(jolie)).await;
        let train = api.send(reqwest::Method::POST, "/largepersongroups/g/train", None).await;
        assert_eq!(train.0, 202);
        wait_trained(&api, "largepersongroups/g").await;
        expect_error(
            &identify(json!({ "faceIds": [d01[0]["faceId"]], "largePersonGroupId": "g" })).await,
            400,
            "BadArgument",
            "recognition model",
        );

        // Face lists.
        assert_eq!(api.put("/facelists/fl", json!({ "name": "fl", "recognitionModel": "recognition_04" })).await.0, 200);
        expect_error(
            &api.post("/findsimilars", Body::Json(json!({ "faceId": face_id, "faceListId": "fl" }))).await,
            400,
            "FaceListNotReady",
            "empty face list",
        );
        expect_error(
            &api.post("/findsimilars", Body::Json(json!({ "faceId": face_id, "largeFaceListId": "nope" }))).await,
            400,
            "LargeFaceListNotFound",
            "missing list",
        );
        expect_error(&api.get("/operations/00000000-0000-4000-8000-000000000000").await, 404, "OperationNotFound", "operation");
        assert_eq!(api.delete("/largepersongroups/g").await, 200);
        expect_error(&api.get("/largepersongroups/g").await, 404, "LargePersonGroupNotFound", "deleted");
    });
}

async fn wait_trained(api: &Api, path: &str) {
    for _ in 0..100 {
        let (s, _, v) = api.get(&format!("/{path}/training")).await;
        if s == 200 && v["status"] == "succeeded" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} did not finish training");
}

#[test]
fn without_a_store_the_face_api_says_how_to_enable_it() {
    let server = Server::start(&[], &[]);
    rt().block_on(async {
        let r = reqwest::get(server.url("/face/v1.2/largepersongroups")).await.unwrap();
        assert_eq!(r.status(), 404);
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains("--store"), "{v}");
    });
}

#[test]
fn deleting_a_person_or_a_group_removes_their_data_from_the_store_files() {
    let store = tempfile::tempdir().unwrap();
    let server = Server::start(&["--store", &store.path().display().to_string()], &[("ISSC_API_KEYS", KEY)]);
    let api = Api::new(&server);
    let contains = |needle: &str| {
        std::fs::read_dir(store.path()).unwrap().any(|f| {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
    };
    let faces_in_db = || -> i64 {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from faces').fetchone()[0])"])
            .arg(store.path().join("store.sqlite3"))
            .output()
            .expect("python3 with sqlite3 reads the store");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(-1)
    };
    rt().block_on(async {
        assert_eq!(api.put("/largepersongroups/private", json!({ "name": "Private group" })).await.0, 200);
        let mut persons = vec![];
        for (name, who) in [("Person-Alpha-7731", "Angelina_Jolie"), ("Person-Beta-9924", "Barack_Obama")] {
            let (_, _, p) = api
                .post(
                    "/largepersongroups/private/persons",
                    Body::Json(json!({ "name": name, "userData": format!("{name}-notes") })),
                )
                .await;
            let pid = p["personId"].as_str().unwrap().to_string();
            for i in 0..2 {
                let path = format!("/largepersongroups/private/persons/{pid}/persistedfaces?userData={name}-face{i}");
                assert_eq!(api.post(&path, Body::Raw(photo(who, i))).await.0, 200);
            }
            persons.push((name, pid));
        }
        assert_eq!(api.send(reqwest::Method::POST, "/largepersongroups/private/train", None).await.0, 202);
        wait_trained(&api, "largepersongroups/private").await;
        assert_eq!(faces_in_db(), 4);
        assert!(
            contains("Person-Alpha-7731-notes") && contains("Person-Alpha-7731-face0"),
            "the test sees stored data"
        );

        let (name, pid) = &persons[0];
        assert_eq!(api.delete(&format!("/largepersongroups/private/persons/{pid}")).await, 200);
        assert_eq!(faces_in_db(), 2, "the person's embeddings are gone");
        for needle in [format!("{name}-notes"), format!("{name}-face0"), format!("{name}-face1"), name.to_string()] {
            assert!(!contains(&needle), "{needle} is still in the store files after deleting the person");
        }
        // Deleted at once from the trained snapshot too: a photo of the deleted person finds nobody.
        let (_, _, d) = api.post("/detect?returnFaceId=true", Body::Raw(photo("Angelina_Jolie", 3))).await;
        let (s, _, ident) = api
            .post("/identify", Body::Json(json!({ "faceIds": [d[0]["faceId"]], "largePersonGroupId": "private" })))
            .await;
        assert_eq!(s, 200);
        assert!(ident[0]["candidates"].as_array().unwrap().iter().all(|c| c["personId"] != pid.as_str()), "{ident}");

        assert_eq!(api.delete("/largepersongroups/private").await, 200);
        assert_eq!(faces_in_db(), 0);
        for needle in ["Person-Beta-9924", "Private group"] {
            assert!(!contains(needle), "{needle} is still in the store files after deleting the group");
        }
    });
}
