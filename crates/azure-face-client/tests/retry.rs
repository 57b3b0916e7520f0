//! Retry and backoff against a real local HTTP server.

mod common;

use std::time::{Duration, Instant, SystemTime};

use azure_face_client::{ClientOptions, CreatePersonRequest, FaceClient, FaceError, KeyCredential, RetryOptions, Uuid};
use common::{Reply, TEST_KEY, TestServer};
use serde_json::json;

fn fast_retry() -> RetryOptions {
    RetryOptions::default()
        .max_retries(5)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
        .jitter(0.0)
}

fn client(base: &str, retry: RetryOptions) -> FaceClient {
    let options = ClientOptions::default().retry(retry).timeout(Duration::from_secs(10));
    FaceClient::with_options(base, KeyCredential::new(TEST_KEY), options).expect("client")
}

fn group_json() -> serde_json::Value {
    json!({"largePersonGroupId": "g1", "name": "g", "userData": "ud", "recognitionModel": "recognition_04"})
}

#[tokio::test]
async fn retries_429_after_retry_after_seconds_then_succeeds() {
    let server = TestServer::script(vec![
        Reply::error(429, "429", "Rate limit is exceeded. Try again in 1 seconds.").header("Retry-After", "1"),
        Reply::json(200, group_json()),
    ])
    .await;
    let c = client(&server.base, fast_retry());
    let start = Instant::now();
    let g = c.get_large_person_group("g1", true).await.expect("succeeds after one retry");
    let elapsed = start.elapsed();
    assert_eq!(g.large_person_group_id, "g1");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // A lower bound only: a sleep never ends early, so this holds on any machine (no upper bound: timings belong in
    // benchmarks).
    assert!(elapsed >= Duration::from_millis(950), "Retry-After: 1 honoured, waited {elapsed:?}");
    assert_eq!(
        requests[0].header("x-ms-client-request-id"),
        requests[1].header("x-ms-client-request-id"),
        "one client request id per call, kept across retries"
    );
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let server = TestServer::script(vec![
        Reply::error(503, "ServiceUnavailable", "busy").header("Retry-After", &when),
        Reply::json(200, group_json()),
    ])
    .await;
    let c = client(&server.base, fast_retry());
    let start = Instant::now();
    c.get_large_person_group("g1", false).await.expect("succeeds");
    // The date has one-second resolution: the wait is between 1 and 2 seconds.
    assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retries_503_several_times_then_succeeds() {
    let server = TestServer::script(vec![
        Reply::error(503, "ServiceUnavailable", "busy"),
        Reply::error(503, "ServiceUnavailable", "busy"),
        Reply::error(503, "ServiceUnavailable", "busy"),
        Reply::json(200, json!({"isIdentical": true, "confidence": 0.9})),
    ])
    .await;
    let c = client(&server.base, fast_retry());
    let v = c.verify_face_to_face(Uuid::new_v4(), Uuid::new_v4()).await.expect("succeeds on the 4th attempt");
    assert!(v.is_identical);
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r.body == requests[0].body), "the same body is re-sent");
}

#[tokio::test]
async fn exhausted_retries_are_reported() {
    let server = TestServer::script(vec![
        Reply::error(503, "ServiceUnavailable", "The service is busy.").header("apim-request-id", "req-503"),
    ])
    .await;
    let c = client(&server.base, fast_retry().max_retries(2));
    let err = c.get_large_person_group("g1", false).await.expect_err("always 503");
    assert_eq!(server.requests().len(), 3, "1 attempt + 2 retries");
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("ServiceUnavailable"));
    assert_eq!(err.request_id(), Some("req-503"));
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("retries exhausted") && text.contains("3 attempts"), "{text}");
}

#[tokio::test]
async fn creating_a_person_is_not_retried_on_5xx() {
    let server = TestServer::script(vec![
        Reply::error(500, "InternalServerError", "oops"),
        Reply::json(200, json!({"personId": Uuid::new_v4()})),
    ])
    .await;
    let c = client(&server.base, fast_retry());
    let err = c.create_large_person_group_person("g1", &CreatePersonRequest::new("Ada")).await.expect_err("500");
    assert_eq!(server.requests().len(), 1, "a retry could create a duplicate person");
    assert_eq!(err.attempts(), 1);
    assert!(err.to_string().contains("not retried"), "{err}");
}

#[tokio::test]
async fn creating_a_person_is_retried_on_429() {
    let id = Uuid::new_v4();
    let server = TestServer::script(vec![
        Reply::error(429, "429", "Rate limit is exceeded.").header("Retry-After", "0"),
        Reply::json(200, json!({"personId": id})),
    ])
    .await;
    let c = client(&server.base, fast_retry());
    let r = c.create_large_person_group_person("g1", &CreatePersonRequest::new("Ada")).await.expect("retried");
    assert_eq!(r.person_id, id);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn max_total_delay_bounds_waiting() {
    let server =
        TestServer::script(vec![Reply::error(429, "429", "Rate limit is exceeded.").header("Retry-After", "30")]).await;
    let c = client(&server.base, fast_retry().max_total_delay(Duration::from_secs(5)));
    // Giving up at once is behaviour, checked without timing it: a client that slept the 30 s would not answer
    // within this (generous) deadline.
    let err = tokio::time::timeout(Duration::from_secs(20), c.get_large_person_group("g1", false))
        .await
        .expect("gave up instead of sleeping 30 s")
        .expect_err("gives up");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(err.to_string().contains("rate limit"), "{err}");
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let c = client(&format!("http://{addr}"), fast_retry().max_retries(2));
    let err = c.get_large_person_group("g1", false).await.expect_err("nobody listens");
    assert!(matches!(err, FaceError::Transport { attempts: 3, .. }), "{err:?}");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("could not connect") && text.contains("retries exhausted"), "{text}");
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried() {
    let server = TestServer::start(|_, i| {
        let r = Reply::json(200, group_json());
        if i == 0 { r.delay(Duration::from_secs(3)) } else { r }
    })
    .await;
    let options = ClientOptions::default().retry(fast_retry()).timeout(Duration::from_millis(300));
    let c = FaceClient::with_options(&server.base, KeyCredential::new(TEST_KEY), options).expect("client");
    let g = c.get_large_person_group("g1", false).await.expect("second attempt answers at once");
    assert_eq!(g.name, "g");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = TestServer::script(vec![Reply::error(400, "BadArgument", "Request body is invalid.")]).await;
    let c = client(&server.base, fast_retry());
    let err = c.verify_face_to_face(Uuid::new_v4(), Uuid::new_v4()).await.expect_err("400");
    assert_eq!(server.requests().len(), 1);
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("BadArgument"));
}
