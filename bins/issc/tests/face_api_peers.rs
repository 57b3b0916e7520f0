//! `issc serve`'s Azure-Face-compatible API driven by peers: Microsoft's official Python SDK
//! (tests/face_api/sdk_scenario.py), our own `azure-face-client` on the same scenario, and a `kill -9` in the middle
//! of enrolment (every acknowledged face survives, nothing half-written is listed, training still works).
//!
//! The Python SDK comes from `ISSC_FACE_SDK_PYTHON` (a Python that can `import azure.ai.vision.face`) or
//! `target/face-sdk-venv` (`.ci/run` creates it). Without it that test says SKIPPED, unless
//! `ISSC_REQUIRE_FACE_SDK=1`, where it fails.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_face_client::{
    AddFaceOptions, ClientOptions, CreateCollectionRequest, CreatePersonRequest, DetectOptions, DetectionModel,
    FaceClient, FaceDetectionResult, FaceError, FaceRectangle, FindSimilarMatchMode, FindSimilarOptions,
    IdentifyOptions, KeyCredential, ListCollectionsOptions, ListOptions, OperationStatus, RecognitionModel,
    RetryOptions, Uuid,
};
use common::repo;
use common::server::Server;

/// The API key every server here accepts.
const KEY: &str = "face-api-peers-key-0123456789";
/// Persons in the scenario, and faces enrolled per person (one more photo per person is held out).
const PERSONS: usize = 4;
const ENROLLED: usize = 3;

/// `issc serve --store DIR` with the test key.
fn start(store: &Path) -> Server {
    let store = store.to_str().expect("UTF-8 temp path");
    Server::start(&["--store", store], &[("ISSC_API_KEYS", KEY)])
}

/// A client of `server` with the test key.
fn face_client(server: &Server, retry: RetryOptions) -> FaceClient {
    let options = ClientOptions::default().retry(retry).timeout(Duration::from_secs(60));
    FaceClient::with_options(&server.base, KeyCredential::new(KEY), options).expect("client")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// `examples/people`: one folder per person, one clear face per photo.
fn photos_dir() -> PathBuf {
    repo().join("examples/people")
}

/// The first `n` persons of examples/people with more than ENROLLED photos: (name, sorted photos).
fn people(n: usize) -> Vec<(String, Vec<PathBuf>)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(photos_dir())
        .expect("examples/people")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let out: Vec<(String, Vec<PathBuf>)> = dirs
        .into_iter()
        .map(|d| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
                .expect("person folder")
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
                .collect();
            files.sort();
            (d.file_name().expect("name").to_string_lossy().into_owned(), files)
        })
        .filter(|(_, files)| files.len() > ENROLLED)
        .take(n)
        .collect();
    assert_eq!(out.len(), n, "examples/people needs {n} persons with more than {ENROLLED} photos");
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().expect("file name").to_string_lossy().into_owned()
}

/// Asserts `result` is the service error `status`/`code`, with a message.
fn assert_service_error<T: std::fmt::Debug>(result: Result<T, FaceError>, status: u16, code: &str, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected {status} {code}, got success: {v:?}"),
        Err(e) => {
            assert_eq!((e.status(), e.code()), (Some(status), Some(code)), "{what}: {e}");
            assert!(e.service_message().is_some_and(|m| !m.is_empty()), "{what}: no error message: {e}");
        }
    }
}

fn detect_options() -> DetectOptions {
    DetectOptions::new()
        .detection_model(DetectionModel::Detection03)
        .recognition_model(RecognitionModel::Recognition04)
        .return_face_id(true)
}

/// Detects the faces of a fixture photo: (main face, its faceId, number of faces). The main face is the largest; a
/// photo may show other people in the background, but then its main face must be clearly the largest.
async fn detect_main(client: &FaceClient, path: &Path, options: &DetectOptions) -> (FaceDetectionResult, Uuid, usize) {
    let mut faces =
        client.detect(read(path), options).await.unwrap_or_else(|e| panic!("detect {}: {e}", path.display()));
    let area = |f: &FaceDetectionResult| i64::from(f.face_rectangle.width) * i64::from(f.face_rectangle.height);
    faces.sort_by_key(|f| std::cmp::Reverse(area(f)));
    assert!(!faces.is_empty(), "detect {}: no face", path.display());
    assert!(
        faces.len() == 1 || area(&faces[0]) >= 2 * area(&faces[1]),
        "detect {}: no clearly largest face: {faces:?}",
        path.display()
    );
    let count = faces.len();
    let face = faces.swap_remove(0);
    let r = face.face_rectangle;
    assert!(
        r.width > 0 && r.height > 0 && r.left + r.width > 0 && r.top + r.height > 0,
        "detect {}: rectangle {r:?}",
        path.display()
    );
    let id = face.face_id.unwrap_or_else(|| panic!("detect {}: no faceId with returnFaceId=true", path.display()));
    (face, id, count)
}

/// Options of an add-face call: targetFace (the main face's rectangle exactly as detect returned it: the service
/// must accept its own detection as a target) when the photo shows several faces, or when `force_target`.
async fn add_face_options(client: &FaceClient, path: &Path, user_data: &str, force_target: bool) -> AddFaceOptions {
    let options = AddFaceOptions::new().detection_model(DetectionModel::Detection03).user_data(user_data);
    let (face, _, count) = detect_main(client, path, &detect_options()).await;
    if count > 1 || force_target {
        let r = face.face_rectangle;
        return options.target_face(FaceRectangle::new(r.left, r.top, r.width, r.height));
    }
    options
}

// ---------------------------------------------------------------------------------------------------------------
// The official Python SDK.
// ---------------------------------------------------------------------------------------------------------------

/// A Python that can import the official SDK, or why there is none.
fn sdk_python() -> Result<PathBuf, String> {
    let (python, origin) = match std::env::var_os("ISSC_FACE_SDK_PYTHON") {
        Some(p) => (PathBuf::from(p), "ISSC_FACE_SDK_PYTHON"),
        None => (repo().join("target/face-sdk-venv/bin/python"), "the default venv"),
    };
    if !python.exists() {
        return Err(format!("{} ({origin}) does not exist", python.display()));
    }
    match Command::new(&python).args(["-c", "import azure.ai.vision.face"]).output() {
        Ok(o) if o.status.success() => Ok(python),
        Ok(o) => Err(format!(
            "{} ({origin}) cannot import azure.ai.vision.face: {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        )),
        Err(e) => Err(format!("{} ({origin}) cannot run: {e}", python.display())),
    }
}

#[test]
fn official_python_sdk_runs_the_scenario() {
    let python = match sdk_python() {
        Ok(p) => p,
        Err(why) => {
            let how = "python3 -m venv target/face-sdk-venv && target/face-sdk-venv/bin/pip install \
                       azure-ai-vision-face==1.0.0b2 (or set ISSC_FACE_SDK_PYTHON to a Python that has it)";
            assert!(
                std::env::var("ISSC_REQUIRE_FACE_SDK").as_deref() != Ok("1"),
                "ISSC_REQUIRE_FACE_SDK=1 but the official Face SDK is not available: {why}; install it: {how}"
            );
            println!("SKIPPED: official_python_sdk_runs_the_scenario: {why}; install it: {how}");
            return;
        }
    };
    let store = tempfile::tempdir().expect("temp store");
    let server = start(store.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/face_api/sdk_scenario.py");
    let child = Command::new(&python)
        .arg(&script)
        .args(["--endpoint", &server.base, "--key", KEY, "--photos"])
        .arg(photos_dir())
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sdk_scenario.py");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(Duration::from_secs(600)) {
        Ok(o) => o.expect("wait for sdk_scenario.py"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("sdk_scenario.py ran for more than 10 minutes");
        }
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "sdk_scenario.py failed ({}):\n{stdout}\n{stderr}", output.status);
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("summary line is not JSON ({e}): {last:?}\n{stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["identified"].as_object().map(|o| o.len()), Some(PERSONS), "{summary}");
    assert_eq!(summary["errors"]["missing group"]["code"], "LargePersonGroupNotFound", "{summary}");
    assert_eq!(summary["errors"]["wrong key"]["status"], 401, "{summary}");
    println!("official Python SDK scenario: {last}");
}

// ---------------------------------------------------------------------------------------------------------------
// Our own client, the same scenario.
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn azure_face_client_runs_the_scenario() {
    let store = tempfile::tempdir().expect("temp store");
    let server = start(store.path());
    let client = face_client(&server, RetryOptions::default());
    let chosen = people(PERSONS);
    let names: Vec<String> = chosen.iter().map(|(n, _)| n.clone()).collect();
    let enrolled: HashMap<String, Vec<PathBuf>> =
        chosen.iter().map(|(n, files)| (n.clone(), files[..ENROLLED].to_vec())).collect();
    let held_out: HashMap<String, PathBuf> =
        chosen.iter().map(|(n, files)| (n.clone(), files[ENROLLED].clone())).collect();
    let (group, list) = ("rust-group", "rust-list");
    let started = Instant::now();
    rt().block_on(async {
        // The group.
        let create = CreateCollectionRequest::new("Rust scenario")
            .user_data("created by face_api_peers.rs")
            .recognition_model(RecognitionModel::Recognition04);
        client.create_large_person_group(group, &create).await.expect("create group");
        let got = client.get_large_person_group(group, true).await.expect("get group");
        assert_eq!((got.large_person_group_id.as_str(), got.name.as_str()), (group, "Rust scenario"));
        assert_eq!(got.user_data.as_deref(), Some("created by face_api_peers.rs"));
        assert_eq!(got.recognition_model, Some(RecognitionModel::Recognition04));
        let listed = client.list_large_person_groups(&ListCollectionsOptions::new()).await.expect("list groups");
        assert!(listed.iter().any(|g| g.large_person_group_id == group), "{listed:?}");
        assert_service_error(
            client.create_large_person_group(group, &create).await,
            409,
            "LargePersonGroupExists",
            "create the group twice",
        );

        // Persons and faces; the first face goes in with targetFace (the rectangle detect found).
        let mut person_ids: HashMap<String, Uuid> = HashMap::new();
        let mut face_owner: HashMap<Uuid, String> = HashMap::new();
        for (n, name) in names.iter().enumerate() {
            let request = CreatePersonRequest::new(name.as_str()).user_data(format!("person {n}"));
            let person = client.create_large_person_group_person(group, &request).await.expect("create person");
            person_ids.insert(name.clone(), person.person_id);
            for (i, path) in enrolled[name].iter().enumerate() {
                // The first photo of each person goes in with targetFace.
                let options = add_face_options(&client, path, &file_name(path), i == 0).await;
                let added = client
                    .add_large_person_group_person_face(group, person.person_id, read(path), &options)
                    .await
                    .unwrap_or_else(|e| panic!("add {} with {options:?}: {e}", path.display()));
                face_owner.insert(added.persisted_face_id, name.clone());
            }
        }
        for (name, &pid) in &person_ids {
            let person = client.get_large_person_group_person(group, pid).await.expect("get person");
            assert_eq!(&person.name, name);
            let listed: HashSet<Uuid> = person.persisted_face_ids.unwrap_or_default().into_iter().collect();
            let mine: HashSet<Uuid> = face_owner.iter().filter(|(_, o)| *o == name).map(|(f, _)| *f).collect();
            assert_eq!(listed, mine, "persistedFaceIds of {name}");
            for &fid in &mine {
                let face = client.get_large_person_group_person_face(group, pid, fid).await.expect("get face");
                assert_eq!(face.persisted_face_id, fid);
                assert!(face.user_data.as_deref().is_some_and(|u| u.starts_with(name.as_str())), "{face:?}");
            }
        }
        let persons = client.list_large_person_group_persons(group, &ListOptions::new()).await.expect("persons");
        let mut listed_names: Vec<&str> = persons.iter().map(|p| p.name.as_str()).collect();
        listed_names.sort_unstable();
        assert_eq!(listed_names, names.iter().map(String::as_str).collect::<Vec<_>>());

        // Before training: identify is refused (400), the training status is 404.
        let (_, early, _) = detect_main(&client, &held_out[&names[0]], &detect_options()).await;
        assert_service_error(
            client.get_large_person_group_training_status(group).await,
            404,
            "LargePersonGroupNotTrained",
            "training status of a never-trained group",
        );
        assert_service_error(
            client.identify_from_large_person_group(&[early], group, &IdentifyOptions::new()).await,
            400,
            "LargePersonGroupNotTrained",
            "identify against a never-trained group",
        );

        // Training as a long-running operation.
        let t = Instant::now();
        let poller = client.begin_train_large_person_group(group).await.expect("train group");
        assert!(poller.follows_operation_location(), "the 202 has no usable Operation-Location");
        let progress = poller.wait_for(Duration::from_secs(60)).await.expect("training");
        assert_eq!(progress.status, OperationStatus::Succeeded);
        println!("group training took {:?} (polled through Operation-Location)", t.elapsed());
        let status = client.get_large_person_group_training_status(group).await.expect("training status");
        assert_eq!(status.status, OperationStatus::Succeeded);

        // Detect the held-out photos, with landmarks.
        let mut query: HashMap<String, Uuid> = HashMap::new();
        let with_landmarks =
            detect_options().return_face_landmarks(true).return_recognition_model(true).face_id_time_to_live(300);
        for name in &names {
            let (face, id, _) = detect_main(&client, &held_out[name], &with_landmarks).await;
            let lm = face.face_landmarks.as_ref().unwrap_or_else(|| panic!("{name}: no landmarks: {face:?}"));
            let r = face.face_rectangle;
            let inside = |x: f64, y: f64| {
                (r.left as f64..=(r.left + r.width) as f64).contains(&x)
                    && (r.top as f64..=(r.top + r.height) as f64).contains(&y)
            };
            assert!(inside(lm.nose_tip.x, lm.nose_tip.y), "{name}: noseTip outside the face: {face:?}");
            assert!(lm.pupil_left.x < lm.pupil_right.x, "{name}: pupils swapped: {lm:?}");
            assert!(lm.mouth_left.x < lm.mouth_right.x, "{name}: mouth corners swapped: {lm:?}");
            // The 22 beyond the detector's five, which the spec's schema requires.
            let (Some(eye_outer), Some(eye_inner), Some(lip_top), Some(lip_bottom)) =
                (lm.eye_left_outer, lm.eye_left_inner, lm.upper_lip_top, lm.under_lip_bottom)
            else {
                panic!("{name}: landmarks missing: {lm:?}")
            };
            assert!(eye_outer.x < eye_inner.x && lip_top.y < lip_bottom.y, "{name}: landmarks out of place: {lm:?}");
            let all = serde_json::to_value(lm).expect("landmarks serialize");
            assert_eq!(all.as_object().map(|o| o.len()), Some(27), "{name}: {all}");
            assert_eq!(face.recognition_model, Some(RecognitionModel::Recognition04));
            query.insert(name.clone(), id);
        }

        // Identify all held-out faces at once: the right person first.
        let ids: Vec<Uuid> = names.iter().map(|n| query[n]).collect();
        let options = IdentifyOptions::new().max_num_of_candidates_returned(2);
        let results = client.identify_from_large_person_group(&ids, group, &options).await.expect("identify");
        assert_eq!(results.len(), names.len(), "{results:?}");
        for name in &names {
            let r = results.iter().find(|r| r.face_id == query[name]).unwrap_or_else(|| panic!("{name}: no result"));
            let best = r.candidates.first().unwrap_or_else(|| panic!("identify {name}: no candidate: {r:?}"));
            assert_eq!(best.person_id, person_ids[name], "identify {name}: {r:?}");
            assert!((0.0..=1.0).contains(&best.confidence), "{r:?}");
        }

        // Verify: face to person, face to face.
        let (a, b) = (&names[0], &names[1]);
        let v = client.verify_from_large_person_group(query[a], group, person_ids[a]).await.expect("verify");
        assert!(v.is_identical, "{a}'s face vs person {a}: {v:?}");
        let v2 = client.verify_from_large_person_group(query[a], group, person_ids[b]).await.expect("verify");
        assert!(!v2.is_identical, "{a}'s face vs person {b}: {v2:?}");
        let v3 = client.verify_face_to_face(query[a], query[b]).await.expect("verify face to face");
        assert!(!v3.is_identical && v3.confidence < v.confidence, "{a} vs {b}: {v3:?} (same person: {v:?})");
        let (_, same, _) = detect_main(&client, &enrolled[a][1], &detect_options()).await;
        let v4 = client.verify_face_to_face(query[a], same).await.expect("verify face to face");
        assert!(v4.is_identical, "{a} vs {a}: {v4:?}");

        // A large face list: add, train, find similar.
        let create = CreateCollectionRequest::new("Rust list").recognition_model(RecognitionModel::Recognition04);
        client.create_large_face_list(list, &create).await.expect("create list");
        let got = client.get_large_face_list(list, true).await.expect("get list");
        assert_eq!(
            (got.large_face_list_id.as_str(), got.recognition_model),
            (list, Some(RecognitionModel::Recognition04))
        );
        let mut list_owner: HashMap<Uuid, String> = HashMap::new();
        for name in &names {
            for path in &enrolled[name] {
                let options = add_face_options(&client, path, name, false).await;
                let added = client
                    .add_large_face_list_face(list, read(path), &options)
                    .await
                    .unwrap_or_else(|e| panic!("add {} to the list with {options:?}: {e}", path.display()));
                list_owner.insert(added.persisted_face_id, name.clone());
            }
        }
        let faces = client.list_large_face_list_faces(list, &ListOptions::new()).await.expect("list faces");
        let listed: HashSet<Uuid> = faces.iter().map(|f| f.persisted_face_id).collect();
        assert_eq!(listed, list_owner.keys().copied().collect::<HashSet<_>>());
        let t = Instant::now();
        let progress = client
            .begin_train_large_face_list(list)
            .await
            .expect("train list")
            .wait_for(Duration::from_secs(60))
            .await
            .expect("list training");
        assert_eq!(progress.status, OperationStatus::Succeeded);
        println!("list training took {:?}", t.elapsed());
        for name in &names {
            let options =
                FindSimilarOptions::new().max_num_of_candidates_returned(3).mode(FindSimilarMatchMode::MatchFace);
            let found =
                client.find_similar_from_large_face_list(query[name], list, &options).await.expect("find similar");
            let best = found.first().unwrap_or_else(|| panic!("find similar {name}: nothing"));
            let owner = best.persisted_face_id.and_then(|f| list_owner.get(&f));
            assert_eq!(owner, Some(name), "find similar {name}: best {best:?} of {found:?}");
            assert!(found.windows(2).all(|w| w[0].confidence >= w[1].confidence), "not sorted: {found:?}");
        }

        // Group: the held-out face and one enrolled photo of each person.
        let mut owner: HashMap<Uuid, String> = names.iter().map(|n| (query[n], n.clone())).collect();
        let mut second: HashMap<String, Uuid> = HashMap::new();
        for name in &names {
            let (_, id, _) = detect_main(&client, &enrolled[name][0], &detect_options()).await;
            owner.insert(id, name.clone());
            second.insert(name.clone(), id);
        }
        let ids: Vec<Uuid> = owner.keys().copied().collect();
        let grouping = client.group(&ids).await.expect("group");
        let mut placed: Vec<Uuid> = grouping.groups.iter().flatten().chain(&grouping.messy_group).copied().collect();
        placed.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(placed, expected, "every face exactly once: {grouping:?}");
        for g in &grouping.groups {
            let persons: HashSet<&String> = g.iter().map(|f| &owner[f]).collect();
            assert_eq!(persons.len(), 1, "a group mixes persons: {persons:?}");
        }
        for name in &names {
            assert!(
                grouping.groups.iter().any(|g| g.contains(&query[name]) && g.contains(&second[name])),
                "the two faces of {name} are not grouped together: {grouping:?}"
            );
        }

        // Errors.
        assert_service_error(
            client.get_large_person_group("missing-group", false).await,
            404,
            "LargePersonGroupNotFound",
            "get a missing group",
        );
        assert_service_error(
            client.get_large_person_group_person(group, Uuid::new_v4()).await,
            404,
            "PersonNotFound",
            "get a missing person",
        );
        assert_service_error(
            client.get_large_face_list("missing-list", false).await,
            404,
            "LargeFaceListNotFound",
            "get a missing list",
        );
        let wrong = FaceClient::with_options(
            &server.base,
            KeyCredential::new("not-the-key"),
            ClientOptions::default().retry(RetryOptions::none()),
        )
        .expect("client");
        let e = wrong.get_large_person_group(group, false).await.expect_err("a wrong key must be refused");
        assert_eq!(e.status(), Some(401), "wrong key: {e}");

        // Delete.
        client.delete_large_person_group(group).await.expect("delete group");
        client.delete_large_face_list(list).await.expect("delete list");
        assert_service_error(
            client.get_large_person_group(group, false).await,
            404,
            "LargePersonGroupNotFound",
            "get the deleted group",
        );
        assert_service_error(
            client.get_large_face_list(list, false).await,
            404,
            "LargeFaceListNotFound",
            "get the deleted list",
        );
        let listed = client.list_large_person_groups(&ListCollectionsOptions::new()).await.expect("list groups");
        assert!(listed.iter().all(|g| g.large_person_group_id != group), "deleted group still listed: {listed:?}");
    });
    println!("azure-face-client scenario: {PERSONS} persons, all checks passed in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------------------------
// Durability: kill -9 in the middle of enrolment.
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn enrolled_faces_survive_kill_9() {
    const TASKS: usize = 4;
    let store = tempfile::tempdir().expect("temp store");
    let mut server = start(store.path());
    let chosen = people(2);
    let group = "kill9-group";
    let rt = rt();

    // A group with two persons.
    let client = face_client(&server, RetryOptions::default());
    let person_ids: Vec<Uuid> = rt.block_on(async {
        let create = CreateCollectionRequest::new("kill -9").recognition_model(RecognitionModel::Recognition04);
        client.create_large_person_group(group, &create).await.expect("create group");
        let mut ids = Vec::new();
        for (name, _) in &chosen {
            let p = client
                .create_large_person_group_person(group, &CreatePersonRequest::new(name.as_str()))
                .await
                .expect("create person");
            ids.push(p.person_id);
        }
        ids
    });

    // Enrol concurrently, without retries; kill -9 while requests are in flight.
    let acked: Arc<Mutex<Vec<(usize, Uuid, String)>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (in_flight_at_kill, sent) = rt.block_on(async {
        let client = face_client(&server, RetryOptions::none());
        let sent = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (client, acked, refused, in_flight, sent) =
                (client.clone(), acked.clone(), refused.clone(), in_flight.clone(), sent.clone());
            let (chosen, person_ids) = (chosen.clone(), person_ids.clone());
            tasks.push(tokio::spawn(async move {
                // At most 100 requests a task: far below the 248 faces a person may have.
                for i in task..task + 100 {
                    let person = i % chosen.len();
                    let path = &chosen[person].1[(i / chosen.len()) % ENROLLED];
                    let user_data = format!("{}#{task}-{i}", file_name(path));
                    let options = AddFaceOptions::new()
                        .detection_model(DetectionModel::Detection03)
                        .user_data(user_data.as_str());
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    sent.fetch_add(1, Ordering::SeqCst);
                    let result = client
                        .add_large_person_group_person_face(group, person_ids[person], read(path), &options)
                        .await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match result {
                        Ok(added) => acked.lock().unwrap().push((person, added.persisted_face_id, user_data)),
                        // The server is gone: this request may or may not have been stored.
                        Err(FaceError::Transport { .. }) => return,
                        // Back-pressure is a legitimate answer; anything else is a bug.
                        Err(e) if matches!(e.status(), Some(429 | 503)) => {}
                        Err(e) => {
                            refused.lock().unwrap().push(e.to_string());
                            return;
                        }
                    }
                }
            }));
        }
        // Kill 1.5 s after the first acknowledged face (the first request may wait for the models to load).
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.lock().unwrap().is_empty() && refused.lock().unwrap().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let at_kill = in_flight.load(Ordering::SeqCst);
        server.kill9();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(90), t).await.expect("enrolment tasks end").expect("task");
        }
        (at_kill, sent.load(Ordering::SeqCst))
    });
    drop(server);
    let refused = refused.lock().unwrap().clone();
    assert!(refused.is_empty(), "enrolment answers other than 200/429/503: {refused:?}");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 2, "only {} faces acknowledged before the kill; nothing to check", acked.len());
    assert!(in_flight_at_kill > 0, "no request was in flight at the kill");

    // Restart on the same store: everything acknowledged is there, everything listed is whole.
    let server = start(store.path());
    let client = face_client(&server, RetryOptions::default());
    let listed_total = rt.block_on(async {
        let got = client.get_large_person_group(group, true).await.expect("group after restart");
        assert_eq!((got.name.as_str(), got.recognition_model), ("kill -9", Some(RecognitionModel::Recognition04)));
        let persons = client.list_large_person_group_persons(group, &ListOptions::new()).await.expect("persons");
        assert_eq!(persons.len(), chosen.len(), "{persons:?}");
        let mut listed_total = 0;
        for (person, &pid) in person_ids.iter().enumerate() {
            let p = client.get_large_person_group_person(group, pid).await.expect("person after restart");
            let listed: Vec<Uuid> = p.persisted_face_ids.unwrap_or_default();
            let listed_set: HashSet<Uuid> = listed.iter().copied().collect();
            assert_eq!(listed_set.len(), listed.len(), "duplicate persistedFaceIds: {listed:?}");
            for (_, fid, user_data) in acked.iter().filter(|(p, _, _)| *p == person) {
                assert!(listed_set.contains(fid), "acknowledged face {fid} ({user_data}) lost after kill -9");
                let face = client.get_large_person_group_person_face(group, pid, *fid).await;
                let face =
                    face.unwrap_or_else(|e| panic!("acknowledged face {fid} ({user_data}) not retrievable: {e}"));
                assert_eq!(face.user_data.as_deref(), Some(user_data.as_str()), "userData of {fid}");
            }
            let photos: Vec<String> = chosen[person].1[..ENROLLED].iter().map(|p| file_name(p)).collect();
            for &fid in &listed {
                let face = client
                    .get_large_person_group_person_face(group, pid, fid)
                    .await
                    .unwrap_or_else(|e| panic!("listed face {fid} is not retrievable (half-written?): {e}"));
                assert_eq!(face.persisted_face_id, fid);
                let ud = face.user_data.unwrap_or_default();
                assert!(
                    photos.iter().any(|p| ud.starts_with(&format!("{p}#"))),
                    "face {fid} of {} has userData {ud:?}, not one this test wrote",
                    chosen[person].0
                );
            }
            listed_total += listed.len();
        }

        // Training and identification still work on the recovered store.
        let progress = client
            .begin_train_large_person_group(group)
            .await
            .expect("train after restart")
            .wait_for(Duration::from_secs(120))
            .await
            .expect("training after restart");
        assert_eq!(progress.status, OperationStatus::Succeeded);
        for (person, (name, files)) in chosen.iter().enumerate() {
            let (_, id, _) = detect_main(&client, &files[ENROLLED], &detect_options()).await;
            let r =
                client.identify_from_large_person_group(&[id], group, &IdentifyOptions::new()).await.expect("identify");
            let best = r[0].candidates.first().unwrap_or_else(|| panic!("identify {name}: no candidate: {r:?}"));
            assert_eq!(best.person_id, person_ids[person], "identify {name} after restart: {r:?}");
        }
        listed_total
    });
    assert!(listed_total >= acked.len());
    println!(
        "kill -9: {sent} enrolments sent, {} acknowledged, {in_flight_at_kill} in flight at the kill, {listed_total} \
         stored after restart; all acknowledged faces retrievable, training and identify work",
        acked.len()
    );
}
