//! Training as a long-running operation, against a real local HTTP server.

mod common;

use std::time::{Duration, Instant};

use azure_face_client::{
    ClientOptions, FaceClient, FaceError, KeyCredential, OperationStatus, ProgressDetails, RetryOptions,
};
use common::{Recorded, Reply, TEST_KEY, TestServer};
use serde_json::json;

fn client(base: &str) -> FaceClient {
    let options = ClientOptions::default()
        .retry(RetryOptions::none())
        .polling_interval(Duration::from_millis(20))
        .training_timeout(Duration::from_secs(20));
    FaceClient::with_options(base, KeyCredential::new(TEST_KEY), options).expect("client")
}

fn operation(status: &str, message: Option<&str>) -> serde_json::Value {
    json!({
        "operationId": "op1", "status": status, "createdTime": "2024-03-05T11:07:58.371Z",
        "lastActionTime": "2024-03-05T11:07:58.371Z", "finishedTime": null, "message": message
    })
}

fn training(status: &str) -> serde_json::Value {
    json!({
        "status": status, "createdDateTime": "2024-03-05T11:07:58.371Z",
        "lastActionDateTime": "2024-03-05T11:07:58.371Z", "lastSuccessfulTrainingDateTime": "2024-03-05T11:07:58.371Z"
    })
}

fn op_location(r: &Recorded) -> String {
    format!("http://{}/face/v1.2/operations/op1", r.header("host").unwrap_or("127.0.0.1"))
}

/// Train answers 202 (+ Operation-Location when `with_location`); the operation and training endpoints answer
/// `running` for the first `running_polls` polls, then `last`.
async fn lro_server(
    with_location: bool,
    running_polls: usize,
    last: &'static str,
    message: Option<&'static str>,
) -> TestServer {
    let polls = std::sync::atomic::AtomicUsize::new(0);
    TestServer::start(move |r, _| match (r.method.as_str(), r.path.as_str()) {
        ("POST", p) if p.ends_with("/train") => {
            let reply = Reply::new(202).header("Retry-After", "1");
            if with_location { reply.header("operation-Location", &op_location(r)) } else { reply }
        }
        ("GET", "/face/v1.2/operations/op1") => {
            let n = polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < running_polls {
                Reply::json(200, operation("running", None)).header("Retry-After", "1")
            } else {
                Reply::json(200, operation(last, message))
            }
        }
        ("GET", p) if p.ends_with("/training") => {
            let n = polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = if n < running_polls { "running" } else { last };
            let mut body = training(status);
            if let Some(m) = message {
                body["message"] = json!(m);
            }
            Reply::json(200, body)
        }
        _ => Reply::error(404, "NotFound", "no such path in this test server"),
    })
    .await
}

#[tokio::test]
async fn follows_operation_location_from_running_to_succeeded() {
    let server = lro_server(true, 1, "succeeded", None).await;
    let c = client(&server.base);
    let start = Instant::now();
    let poller = c.begin_train_large_person_group("g1").await.expect("202");
    assert!(poller.follows_operation_location());
    assert_eq!(poller.operation_location().map(|u| u.path().to_owned()).as_deref(), Some("/face/v1.2/operations/op1"));
    let progress = poller.wait().await.expect("training succeeds");
    assert_eq!(progress.status, OperationStatus::Succeeded);
    assert!(matches!(progress.details, ProgressDetails::Operation(_)));
    // A lower bound only (a sleep never ends early), so it holds on any machine.
    assert!(start.elapsed() >= Duration::from_millis(950), "Retry-After: 1 between polls honoured");
    let paths: Vec<_> = server.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "POST /face/v1.2/largepersongroups/g1/train",
            "GET /face/v1.2/operations/op1",
            "GET /face/v1.2/operations/op1"
        ]
    );
    let requests = server.requests();
    assert_eq!(requests[1].header("ocp-apim-subscription-key"), Some(TEST_KEY), "same-origin poll is authenticated");
}

#[tokio::test]
async fn failed_training_is_an_error_with_the_service_message() {
    let server = lro_server(true, 0, "failed", Some("There is no face in the large person group.")).await;
    let c = client(&server.base);
    let err = c.begin_train_large_face_list("l1").await.expect("202").wait().await.expect_err("failed");
    match &err {
        FaceError::OperationFailed { operation, message } => {
            assert!(operation.contains("large face list `l1`"), "{operation}");
            assert_eq!(message.as_deref(), Some("There is no face in the large person group."));
        }
        other => panic!("expected OperationFailed, got {other:?}"),
    }
    assert!(err.to_string().contains("There is no face"), "{err}");
}

#[tokio::test]
async fn without_operation_location_polls_the_training_status() {
    let server = lro_server(false, 2, "succeeded", None).await;
    let c = client(&server.base);
    let poller = c.begin_train_person_group("pg1").await.expect("202");
    assert!(poller.operation_location().is_none());
    assert!(!poller.follows_operation_location());
    let progress = poller.wait().await.expect("succeeds");
    assert!(matches!(progress.details, ProgressDetails::Training(_)));
    let paths: Vec<_> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths[0], "/face/v1.2/persongroups/pg1/train");
    assert_eq!(&paths[1..], ["/face/v1.2/persongroups/pg1/training"; 3]);
}

#[tokio::test]
async fn failed_training_via_training_status() {
    let server = lro_server(false, 0, "failed", Some("Not enough faces.")).await;
    let c = client(&server.base);
    let err = c.begin_train_large_person_group("g1").await.expect("202").wait().await.expect_err("failed");
    assert!(err.to_string().contains("Not enough faces."), "{err}");
}

#[tokio::test]
async fn an_operation_location_elsewhere_is_not_followed() {
    let server = TestServer::start(|r, _| match (r.method.as_str(), r.path.as_str()) {
        ("POST", _) => Reply::new(202).header("Operation-Location", "http://127.0.0.1:9/face/v1.2/operations/x"),
        _ => Reply::json(200, training("succeeded")),
    })
    .await;
    let c = client(&server.base);
    let poller = c.begin_train_large_person_group("g1").await.expect("202");
    assert!(!poller.follows_operation_location(), "the key is never sent to another origin");
    poller.wait().await.expect("succeeds via the training status");
    assert_eq!(server.requests()[1].path, "/face/v1.2/largepersongroups/g1/training");
}

#[tokio::test]
async fn waiting_too_long_times_out() {
    let server = TestServer::start(|r, _| match r.method.as_str() {
        "POST" => Reply::new(202),
        _ => Reply::json(200, training("running")),
    })
    .await;
    let c = client(&server.base);
    let err = c
        .begin_train_large_person_group("g1")
        .await
        .expect("202")
        .wait_for(Duration::from_millis(200))
        .await
        .expect_err("never finishes");
    assert!(matches!(err, FaceError::OperationTimedOut { .. }), "{err:?}");
    assert!(err.to_string().contains("running"), "{err}");
}

#[tokio::test]
async fn train_errors_surface_immediately() {
    let server = TestServer::script(vec![Reply::error(
        409,
        "LargePersonGroupTrainingNotFinished",
        "Large person group g1 is under training.",
    )])
    .await;
    let c = client(&server.base);
    let err = c.begin_train_large_person_group("g1").await.expect_err("409");
    assert_eq!(err.code(), Some("LargePersonGroupTrainingNotFinished"));
}
