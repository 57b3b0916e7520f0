//! Fuzz target `azure_responses`: the response parsing of `azure-face-client` (typed models, the service error
//! envelope, `x-ms-error-code`, `Retry-After` in its three forms, request ids, `Operation-Location` and training
//! progress), against a real HTTP server on 127.0.0.1 that answers each call with a mutated answer from the
//! Face v1.2 specification's examples (status, headers and body all mutated).
//!
//! Properties: no panic; an answer within the case limit (retries and waits bounded by the client's options: one
//! retry, 50 ms of total backoff); a non-success status is a `FaceError::Service` carrying that status; an error
//! displays a message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use azure_face_client::{
    AddFaceOptions, ClientOptions, CreatePersonRequest, DetectOptions, FaceClient, FaceError, FindSimilarOptions,
    IdentifyOptions, KeyCredential, ListCollectionsOptions, ListOptions, RetryOptions, Uuid,
};
use issc_fuzz::harness::{Format, replay, text_cases};
use issc_fuzz::{case_limit, regressions, run, seeds};

const TARGET: &str = "azure_responses";

/// The answer the server gives next.
#[derive(Default, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

type Shared = Arc<Mutex<Reply>>;

async fn answer(State(reply): State<Shared>) -> Response {
    let r = reply.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

struct Env {
    rt: tokio::runtime::Runtime,
    reply: Shared,
    client: FaceClient,
}

fn env() -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let reply: Shared = Arc::default();
    let base = rt.block_on({
        let reply = reply.clone();
        async move {
            let app = axum::Router::new().fallback(answer).with_state(reply);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local address");
            tokio::spawn(async move { axum::serve(listener, app).await });
            format!("http://{addr}")
        }
    });
    let options = ClientOptions::default()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .polling_interval(Duration::from_millis(1))
        .training_timeout(Duration::from_millis(200))
        .retry(
            RetryOptions::default()
                .max_retries(1)
                .base_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(5))
                .max_total_delay(Duration::from_millis(50)),
        );
    let _guard = rt.enter();
    let client = FaceClient::with_options(&base, KeyCredential::new("fuzz-key"), options).expect("a client");
    Env { rt, reply, client }
}

/// Make the client call `op`; its result, printed.
async fn call(c: &FaceClient, op: &str) -> Result<String, FaceError> {
    let (u1, u2) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let img = bytes::Bytes::from_static(b"\xFF\xD8\xFF\xE0 not really a photo");
    Ok(match op {
        "detect" => format!("{:?}", c.detect(img, &DetectOptions::new()).await?),
        "identify" => format!("{:?}", c.identify_from_large_person_group(&[u1], "lpg", &IdentifyOptions::new()).await?),
        "verify" => format!("{:?}", c.verify_face_to_face(u1, u2).await?),
        "findsimilars" => format!("{:?}", c.find_similar(u1, &[u2], &FindSimilarOptions::new()).await?),
        "group" => format!("{:?}", c.group(&[u1, u2]).await?),
        "get_lpg" => format!("{:?}", c.get_large_person_group("lpg", true).await?),
        "list_lpg" => format!("{:?}", c.list_large_person_groups(&ListCollectionsOptions::new()).await?),
        "get_person" => format!("{:?}", c.get_large_person_group_person("lpg", u1).await?),
        "list_persons" => format!("{:?}", c.list_large_person_group_persons("lpg", &ListOptions::new()).await?),
        "create_person" => {
            format!("{:?}", c.create_large_person_group_person("lpg", &CreatePersonRequest::new("n")).await?)
        }
        "add_face" => {
            format!("{:?}", c.add_large_person_group_person_face("lpg", u1, img, &AddFaceOptions::new()).await?)
        }
        "get_face" => format!("{:?}", c.get_large_person_group_person_face("lpg", u1, u2).await?),
        "training_status" => format!("{:?}", c.get_large_person_group_training_status("lpg").await?),
        "train" => {
            let mut poller = c.begin_train_large_person_group("lpg").await?;
            format!("{:?} {}", poller.poll().await?, poller.description())
        }
        "get_face_list" => format!("{:?}", c.get_face_list("fl", true).await?),
        "list_large_face_list_faces" => {
            format!("{:?}", c.list_large_face_list_faces("lfl", &ListOptions::new()).await?)
        }
        "liveness_result" => format!("{:?}", c.get_liveness_session_result("s1").await?),
        "liveness_verify_result" => format!("{:?}", c.get_liveness_with_verify_session_result("s1").await?),
        _ => format!("{:?}", c.get_large_person_group_training_status("lpg").await?),
    })
}

fn check(env: &Env, bytes: &[u8]) -> Result<(), String> {
    let Ok(seed) = serde_json::from_slice::<serde_json::Value>(bytes) else { return Ok(()) };
    let op = seed["op"].as_str().unwrap_or("training_status").to_string();
    let status = seed["status"].as_u64().filter(|s| (200..=599).contains(s)).unwrap_or(200) as u16;
    let headers = seed["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
        .unwrap_or_default();
    let body = match &seed["body"] {
        serde_json::Value::String(s) => s.clone().into_bytes(),
        serde_json::Value::Null => Vec::new(),
        other => other.to_string().into_bytes(),
    };
    *env.reply.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Reply { status, headers, body };
    let started = std::time::Instant::now();
    let result = env
        .rt
        .block_on(async { tokio::time::timeout(case_limit(), call(&env.client, &op)).await })
        .map_err(|_| format!("{op}: no answer within {:?} (a hang)", case_limit()))?;
    if std::env::var_os("ISSC_FUZZ_STATS").is_some() && started.elapsed() > Duration::from_millis(300) {
        eprintln!(
            "slow case ({:?}): {op} {status} {:?}",
            started.elapsed(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
    }
    match result {
        Ok(_) if (200..300).contains(&status) => Ok(()),
        Ok(v) => Err(format!("{op}: HTTP {status} was taken for a success: {v}")),
        Err(e) => {
            if e.to_string().trim().is_empty() {
                return Err(format!("{op}: an error without a message: {e:?}"));
            }
            if !(200..300).contains(&status)
                && let Some(s) = e.status()
                && s != status
            {
                return Err(format!("{op}: HTTP {status} reported as {s}: {e}"));
            }
            Ok(())
        }
    }
}

#[test]
fn azure_responses_seeds() {
    let env = env();
    replay(TARGET, "seeds", &seeds(TARGET), |b| {
        check(&env, b)?;
        let seed: serde_json::Value = serde_json::from_slice(b).map_err(|e| e.to_string())?;
        let op = seed["op"].as_str().unwrap_or_default().to_string();
        if op == "train" {
            // Its progress is polled from the same (202, empty) answer: only the start is checked, by `check`.
            return Ok(());
        }
        let ok = (200..300).contains(&seed["status"].as_u64().unwrap_or(0));
        let got = env.rt.block_on(call(&env.client, &op));
        match (ok, got) {
            (true, Ok(_)) | (false, Err(FaceError::Service(_))) => Ok(()),
            (true, Err(e)) => Err(format!("{op}: the spec's example answer is not understood: {e}")),
            (false, other) => Err(format!("{op}: an error answer gave {other:?}")),
        }
    });
    replay(TARGET, "regression inputs", &regressions(TARGET), |b| check(&env, b));
}

#[test]
fn azure_responses_mutated() {
    let env = env();
    run(TARGET, 1500, text_cases(seeds(TARGET), Format::Json), |b| check(&env, b));
}
