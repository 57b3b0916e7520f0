//! Two `issc serve --store postgresql://…` replicas on one PostgreSQL, as behind a round-robin load balancer:
//!
//! 1. Microsoft's official Python SDK runs the whole scenario (tests/face_api/sdk_scenario.py) with every request
//!    sent to the other replica in turn (`--endpoint A --endpoint B`: a pipeline policy inside the SDK balances
//!    requests, Operation-Location polls included): faces detected on one are identified, verified and searched on
//!    the other, and each training begun on one is polled on the other.
//! 2. Enrolment runs on both replicas at once; one is killed with SIGKILL in the middle; the survivor goes on (with
//!    the faceIds the dead one gave out), and every acknowledged face is stored exactly once.
//!
//! Needs the binary built with `--features postgres`
//! (`cargo test -p issc --features postgres --test face_api_replicas`), PostgreSQL 16 + pgvector from the `pgserver`
//! wheel (`target/pg-venv`, or `ISSC_PG_PYTHON`; or a server at `ISSC_TEST_POSTGRES_URL`) and the official SDK
//! (`target/face-sdk-venv`, or `ISSC_FACE_SDK_PYTHON`). Without them it says SKIPPED, unless `ISSC_REQUIRE_POSTGRES=1`
//! / `ISSC_REQUIRE_FACE_SDK=1` (CI), where it fails.
#![cfg(feature = "postgres")]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_face_client::{
    AddFaceOptions, ClientOptions, CreateCollectionRequest, CreatePersonRequest, DetectOptions, DetectionModel,
    FaceClient, FaceError, IdentifyOptions, KeyCredential, ListOptions, OperationStatus, RecognitionModel,
    RetryOptions, Uuid,
};
use common::repo;
use common::server::Server;

const KEY: &str = "face-api-replicas-key-0123456789";
/// Photos enrolled per person in the kill test (the next one is the held-out query).
const ENROLLED: usize = 3;

/// Keeps a pgserver instance up while its stdin is open; when the test closes it (or dies), pgserver stops the
/// server and deletes its data folder.
const KEEPER: &str = r#"
import sys
import pgserver
server = pgserver.get_server(sys.argv[1], cleanup_mode="delete")
print(server.get_uri(), flush=True)
sys.stdin.read()
"#;

/// A throwaway PostgreSQL (pgserver) or the one of `ISSC_TEST_POSTGRES_URL`.
struct Postgres {
    uri: String,
    keeper: Option<(Child, ChildStdin)>,
    _dir: Option<tempfile::TempDir>,
}

impl Postgres {
    fn start() -> Result<Self, String> {
        if let Ok(uri) = std::env::var("ISSC_TEST_POSTGRES_URL") {
            return Ok(Self { uri, keeper: None, _dir: None });
        }
        let python = std::env::var_os("ISSC_PG_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target/pg-venv/bin/python"));
        if !python.exists() {
            return Err(format!(
                "no PostgreSQL: {} is missing (python3 -m venv target/pg-venv && target/pg-venv/bin/pip install \
                 pgserver), and ISSC_TEST_POSTGRES_URL is not set",
                python.display()
            ));
        }
        let dir = tempfile::Builder::new().prefix("issc-replicas-pg").tempdir().map_err(|e| e.to_string())?;
        let log = dir.path().join("keeper.log");
        let mut child = Command::new(&python)
            .args(["-c", KEEPER])
            .arg(dir.path().join("pgdata"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.starts_with("postgresql://") => {
                Ok(Self { uri: line.trim().to_string(), keeper: Some((child, stdin)), _dir: Some(dir) })
            }
            other => {
                drop(stdin);
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "pgserver ({}) did not start a server ({other:?}): {}",
                    python.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                ))
            }
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.keeper.take() {
            drop(stdin);
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Python that can import the official SDK, or why there is none.
fn sdk_python() -> Result<PathBuf, String> {
    let python = std::env::var_os("ISSC_FACE_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/face-sdk-venv/bin/python"));
    match Command::new(&python).args(["-c", "import azure.ai.vision.face"]).output() {
        Ok(o) if o.status.success() => Ok(python),
        Ok(o) => Err(format!(
            "{} cannot import azure.ai.vision.face: {}",
            python.display(),
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        )),
        Err(e) => Err(format!(
            "{} cannot run ({e}): python3 -m venv target/face-sdk-venv && target/face-sdk-venv/bin/pip install \
             azure-ai-vision-face==1.0.0b2",
            python.display()
        )),
    }
}

/// `issc serve --store URL` with the test key.
fn replica(url: &str) -> Server {
    Server::start(&["--store", url], &[("ISSC_API_KEYS", KEY)])
}

fn client(server: &Server, retry: RetryOptions) -> FaceClient {
    let options = ClientOptions::default().retry(retry).timeout(Duration::from_secs(60));
    FaceClient::with_options(&server.base, KeyCredential::new(KEY), options).expect("client")
}

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
    let out: Vec<_> = dirs
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

fn detect_options() -> DetectOptions {
    DetectOptions::new()
        .detection_model(DetectionModel::Detection03)
        .recognition_model(RecognitionModel::Recognition04)
        .return_face_id(true)
}

/// The faceId of the largest face of a photo.
async fn detect_main(client: &FaceClient, path: &Path) -> Uuid {
    let faces = client.detect(read(path), &detect_options()).await.unwrap_or_else(|e| panic!("detect {path:?}: {e}"));
    let area = |f: &&azure_face_client::FaceDetectionResult| {
        i64::from(f.face_rectangle.width) * i64::from(f.face_rectangle.height)
    };
    let main = faces.iter().max_by_key(area).unwrap_or_else(|| panic!("detect {path:?}: no face"));
    main.face_id.unwrap_or_else(|| panic!("detect {path:?}: no faceId"))
}

/// The official SDK's scenario, each request to the other replica in turn.
fn sdk_scenario_alternating(python: &Path, a: &Server, b: &Server) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/face_api/sdk_scenario.py");
    let child = Command::new(python)
        .arg(&script)
        .args(["--endpoint", &a.base, "--endpoint", &b.base, "--key", KEY, "--photos"])
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
    assert!(
        output.status.success(),
        "sdk_scenario.py across two replicas failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("summary line is not JSON ({e}): {last:?}\n{stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["identified"].as_object().map(|o| o.len()), Some(4), "{summary}");
    let balancer = &summary["balancer"];
    let requests: Vec<u64> =
        balancer["requests"].as_array().expect("balancer.requests").iter().filter_map(|v| v.as_u64()).collect();
    assert_eq!(requests.len(), 2, "{balancer}");
    assert!(requests[0].abs_diff(requests[1]) <= 1 && requests[0] >= 40, "strict alternation: {balancer}");
    let trainings = balancer["trainings"].as_array().expect("balancer.trainings");
    assert_eq!(trainings.len(), 2, "the group and the list were trained: {balancer}");
    for t in trainings {
        let began = t["began_on"].as_u64().expect("began_on");
        let polled: Vec<u64> =
            t["polled_on"].as_array().expect("polled_on").iter().filter_map(|v| v.as_u64()).collect();
        assert!(polled.first().is_some_and(|&p| p != began), "a training begun on {began} is polled on the other: {t}");
    }
    println!(
        "official Python SDK scenario across two replicas: requests per replica {requests:?}, trainings {trainings:?}, {}s",
        summary["seconds"]
    );
}

#[test]
fn two_replicas_on_one_postgres_serve_the_sdk_and_survive_a_kill() {
    let require_pg = std::env::var("ISSC_REQUIRE_POSTGRES").as_deref() == Ok("1");
    let require_sdk = std::env::var("ISSC_REQUIRE_FACE_SDK").as_deref() == Ok("1");
    let python = match sdk_python() {
        Ok(p) => p,
        Err(why) => {
            assert!(!require_sdk, "ISSC_REQUIRE_FACE_SDK=1 but the official Face SDK is not available: {why}");
            println!("SKIPPED: two_replicas_on_one_postgres: {why}");
            return;
        }
    };
    let pg = match Postgres::start() {
        Ok(pg) => pg,
        Err(why) => {
            assert!(!require_pg, "ISSC_REQUIRE_POSTGRES=1 but no PostgreSQL: {why}");
            println!("SKIPPED: two_replicas_on_one_postgres: {why}");
            return;
        }
    };
    let started = Instant::now();
    let (a, b) = (replica(&pg.uri), replica(&pg.uri));
    println!("two replicas up in {:.1} s: {} and {}", started.elapsed().as_secs_f64(), a.base, b.base);
    // A load balancer's readiness check: each replica is ready once PostgreSQL answers it (no --model needed).
    let probe = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for s in [&a, &b] {
        let ready = probe.block_on(reqwest::get(s.url("/readyz"))).expect("GET /readyz");
        assert_eq!(ready.status().as_u16(), 200, "{}: /readyz of a Face API replica on PostgreSQL", s.base);
    }

    sdk_scenario_alternating(&python, &a, &b);
    kill_one_during_enrolment(a, b);
}

/// An acknowledged enrolment: person index, persistedFaceId, userData, acknowledged by the survivor after the kill.
type Ack = (usize, Uuid, String, bool);

/// Enrolment on both replicas at once; SIGKILL one in the middle; the survivor goes on, holds every acknowledged
/// face exactly once, still knows the dead replica's faceIds, trains and identifies.
fn kill_one_during_enrolment(mut a: Server, b: Server) {
    const TASKS: usize = 4;
    let chosen = people(2);
    // 'static for the enrolment tasks (a test: leaking one string is fine).
    let group: &'static str = Box::leak(format!("replicas-kill9-{}", std::process::id()).into_boxed_str());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (ca, cb) = (client(&a, RetryOptions::default()), client(&b, RetryOptions::default()));
    let (person_ids, early): (Vec<Uuid>, Vec<Uuid>) = rt.block_on(async {
        let create = CreateCollectionRequest::new("kill -9").recognition_model(RecognitionModel::Recognition04);
        ca.create_large_person_group(group, &create).await.expect("create group on A");
        let mut ids = Vec::new();
        for (name, _) in &chosen {
            // Each person is created on the other replica from the group.
            let p = cb
                .create_large_person_group_person(group, &CreatePersonRequest::new(name.as_str()))
                .await
                .expect("create person on B");
            ids.push(p.person_id);
        }
        // Held-out faces detected on the replica about to die: their faceIds must outlive it.
        let mut early = Vec::new();
        for (_, files) in &chosen {
            early.push(detect_main(&ca, &files[ENROLLED]).await);
        }
        (ids, early)
    });

    // Enrol concurrently on both replicas in turn, without retries (a retried add could be stored twice); kill A
    // while requests are in flight; requests then go to B only.
    let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let refused: Arc<Mutex<Vec<String>>> = Arc::default();
    let a_dead = Arc::new(AtomicBool::new(false));
    let in_flight_a = Arc::new(AtomicUsize::new(0));
    let (at_kill, sent, lost_to_kill) = rt.block_on(async {
        let clients = [client(&a, RetryOptions::none()), client(&b, RetryOptions::none())];
        let sent = Arc::new(AtomicUsize::new(0));
        let lost = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (clients, acked, refused, a_dead, in_flight_a, sent, lost) = (
                clients.clone(),
                acked.clone(),
                refused.clone(),
                a_dead.clone(),
                in_flight_a.clone(),
                sent.clone(),
                lost.clone(),
            );
            let (chosen, person_ids) = (chosen.clone(), person_ids.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..40 {
                    let person = (task + i) % chosen.len();
                    let path = &chosen[person].1[(i / chosen.len()) % ENROLLED];
                    let user_data = format!("{}#{task}-{i}", path.file_name().unwrap_or_default().to_string_lossy());
                    let on_a = (task + i) % 2 == 0 && !a_dead.load(Ordering::SeqCst);
                    let options = AddFaceOptions::new()
                        .detection_model(DetectionModel::Detection03)
                        .user_data(user_data.as_str());
                    if on_a {
                        in_flight_a.fetch_add(1, Ordering::SeqCst);
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    let result = clients[usize::from(!on_a)]
                        .add_large_person_group_person_face(group, person_ids[person], read(path), &options)
                        .await;
                    if on_a {
                        in_flight_a.fetch_sub(1, Ordering::SeqCst);
                    }
                    let after_kill = a_dead.load(Ordering::SeqCst);
                    match result {
                        Ok(added) => acked.lock().unwrap().push((
                            person,
                            added.persisted_face_id,
                            user_data,
                            after_kill && !on_a,
                        )),
                        // A is gone: this one may or may not have been stored; the next goes to B.
                        Err(FaceError::Transport { .. }) if on_a => {
                            lost.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) if matches!(e.status(), Some(429 | 503)) => {}
                        Err(e) => refused.lock().unwrap().push(format!("{} {e}", if on_a { "A" } else { "B" })),
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.lock().unwrap().len() < 4 && refused.lock().unwrap().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let at_kill = in_flight_a.load(Ordering::SeqCst);
        a_dead.store(true, Ordering::SeqCst);
        a.kill9();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(300), t).await.expect("enrolment tasks end").expect("task");
        }
        (at_kill, sent.load(Ordering::SeqCst), lost.load(Ordering::SeqCst))
    });
    drop(a);
    let refused = refused.lock().unwrap().clone();
    assert!(refused.is_empty(), "enrolment answers other than 200/429/503: {refused:?}");
    let acked = acked.lock().unwrap().clone();
    let after = acked.iter().filter(|x| x.3).count();
    assert!(acked.len() >= 4, "only {} faces acknowledged", acked.len());
    assert!(after > 0, "the survivor acknowledged nothing after the kill");

    let listed_total = rt.block_on(async {
        // The survivor: every acknowledged face exactly once, each retrievable with its userData.
        let persons = cb.list_large_person_group_persons(group, &ListOptions::new()).await.expect("persons");
        assert_eq!(persons.len(), chosen.len(), "{persons:?}");
        let mut listed_total = 0;
        let mut seen_user_data: HashMap<String, Uuid> = HashMap::new();
        for (person, &pid) in person_ids.iter().enumerate() {
            let p = cb.get_large_person_group_person(group, pid).await.expect("person on the survivor");
            let listed: Vec<Uuid> = p.persisted_face_ids.unwrap_or_default();
            let set: HashSet<Uuid> = listed.iter().copied().collect();
            assert_eq!(set.len(), listed.len(), "duplicate persistedFaceIds: {listed:?}");
            for (_, fid, user_data, _) in acked.iter().filter(|x| x.0 == person) {
                assert!(set.contains(fid), "acknowledged face {fid} ({user_data}) missing on the survivor");
            }
            for &fid in &listed {
                let face = cb
                    .get_large_person_group_person_face(group, pid, fid)
                    .await
                    .unwrap_or_else(|e| panic!("listed face {fid} not retrievable: {e}"));
                let ud = face.user_data.unwrap_or_default();
                assert!(ud.contains('#'), "face {fid}: userData {ud:?} is not one this test wrote");
                if let Some(other) = seen_user_data.insert(ud.clone(), fid) {
                    panic!("one add-face request ({ud}) stored twice: {other} and {fid}");
                }
            }
            listed_total += listed.len();
        }
        for (_, fid, user_data, _) in &acked {
            assert_eq!(seen_user_data.get(user_data), Some(fid), "{user_data} is stored once, as acknowledged");
        }

        // The dead replica's faceIds live on in the database.
        for &face_id in &early {
            let v = cb.verify_face_to_face(face_id, face_id).await.expect("a faceId of the dead replica, on B");
            assert!(v.is_identical, "{v:?}");
        }

        // Training and identification on the survivor, with the dead replica's faceIds.
        let progress = cb
            .begin_train_large_person_group(group)
            .await
            .expect("train on the survivor")
            .wait_for(Duration::from_secs(120))
            .await
            .expect("training on the survivor");
        assert_eq!(progress.status, OperationStatus::Succeeded);
        let r = cb.identify_from_large_person_group(&early, group, &IdentifyOptions::new()).await.expect("identify");
        for (person, result) in r.iter().enumerate() {
            let best = result.candidates.first().unwrap_or_else(|| panic!("identify {person}: no candidate: {r:?}"));
            assert_eq!(best.person_id, person_ids[person], "identify {} on the survivor: {r:?}", chosen[person].0);
        }
        listed_total
    });
    println!(
        "SIGKILL of one replica: {sent} enrolments sent over both, {} acknowledged ({after} by the survivor after the \
         kill), {at_kill} in flight on the killed one, {lost_to_kill} lost with it; {listed_total} stored, each \
         acknowledged face once; its faceIds verified, training and identify work on the survivor",
        acked.len()
    );
    drop(b);
}
