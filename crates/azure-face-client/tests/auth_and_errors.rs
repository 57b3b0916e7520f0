//! Authentication, secret redaction and error mapping, against a real local HTTP server.

mod common;

use std::sync::Arc;

use azure_face_client::{
    AccessToken, ClientOptions, Credential, DetectOptions, FaceClient, FaceError, KeyCredential, RetryOptions,
    StaticTokenCredential, TokenCredential, Uuid,
};
use common::{Reply, TEST_KEY, TestServer};
use serde_json::json;

fn client(base: &str) -> FaceClient {
    let options = ClientOptions::default().retry(RetryOptions::none());
    FaceClient::with_options(base, KeyCredential::new(TEST_KEY), options).expect("client")
}

#[test]
fn bearer_tokens_over_plain_http_are_refused() {
    let err = FaceClient::new("http://127.0.0.1:8080", StaticTokenCredential::new("eyJ.fake.token"))
        .expect_err("bearer over http");
    assert!(matches!(err, FaceError::InsecureBearerToken { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("plain http") && !text.contains("eyJ"), "{text}");
    FaceClient::new("https://res.cognitiveservices.azure.com", StaticTokenCredential::new("eyJ.fake.token"))
        .expect("bearer over https is fine");
    FaceClient::new("http://127.0.0.1:8080", KeyCredential::new(TEST_KEY)).expect("a key over http is allowed");
}

#[test]
fn bad_endpoints_are_explained() {
    for bad in ["", "res.cognitiveservices.azure.com", "ftp://x", "https://x/?a=b"] {
        let err = FaceClient::new(bad, KeyCredential::new(TEST_KEY)).expect_err(bad);
        assert!(matches!(err, FaceError::InvalidEndpoint { .. }), "{bad}: {err:?}");
    }
}

#[test]
fn debug_never_prints_secrets() {
    let key = "0123456789abcdef0123456789abcdef";
    let c = FaceClient::new("https://res.cognitiveservices.azure.com", KeyCredential::new(key)).expect("client");
    for text in [
        format!("{c:?}"),
        format!("{:?}", KeyCredential::new(key)),
        format!("{:?}", Credential::key(key)),
        format!("{:?}", StaticTokenCredential::new(key)),
        format!("{:?}", AccessToken::new(key, None)),
    ] {
        assert!(!text.contains(key) && !text.contains("0123456789"), "secret leaked: {text}");
    }
    assert!(format!("{c:?}").contains("redacted"));
}

#[tokio::test]
async fn the_key_header_is_sent_and_nothing_else() {
    let server = TestServer::script(vec![Reply::json(200, json!({"isIdentical": false, "confidence": 0.1}))]).await;
    let c = client(&server.base);
    c.verify_face_to_face(Uuid::new_v4(), Uuid::new_v4()).await.expect("verify");
    let r = &server.requests()[0];
    assert_eq!(r.header("ocp-apim-subscription-key"), Some(TEST_KEY));
    assert!(r.header("authorization").is_none());
    assert!(r.header("user-agent").is_some_and(|ua| ua.starts_with("azure-face-client-rust/")));
    assert_eq!(r.path, "/face/v1.2/verify");
}

#[tokio::test]
async fn token_credentials_are_consulted_only_for_https() {
    struct Counting(std::sync::atomic::AtomicUsize);
    #[async_trait::async_trait]
    impl TokenCredential for Counting {
        async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, azure_face_client::BoxError> {
            assert_eq!(scopes, [azure_face_client::COGNITIVE_SERVICES_SCOPE]);
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(AccessToken::new("t", None))
        }
    }
    let cred: Arc<dyn TokenCredential> = Arc::new(Counting(0.into()));
    let err = FaceClient::new("http://127.0.0.1:1", cred).expect_err("refused before any token is requested");
    assert!(matches!(err, FaceError::InsecureBearerToken { .. }));
}

#[tokio::test]
async fn service_errors_carry_status_code_message_and_request_id() {
    let server = TestServer::script(vec![
        Reply::error(404, "LargePersonGroupNotFound", "Large person group 'missing' is not found.")
            .header("apim-request-id", "5a3c1a1e-0000-4000-8000-000000000001"),
    ])
    .await;
    let c = client(&server.base);
    let err = c.get_large_person_group("missing", false).await.expect_err("404");
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("LargePersonGroupNotFound"));
    assert_eq!(err.service_message(), Some("Large person group 'missing' is not found."));
    assert_eq!(err.request_id(), Some("5a3c1a1e-0000-4000-8000-000000000001"));
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("404") && text.contains("LargePersonGroupNotFound") && text.contains("5a3c1a1e"), "{text}");
}

#[tokio::test]
async fn limited_access_and_auth_failures_are_explained() {
    let server = TestServer::script(vec![
        Reply::error(
            403,
            "UnsupportedFeature",
            "Feature is not supported, missing approvals for one or more of the following features: Identification,Verification",
        )
        .header("x-ms-request-id", "req-403"),
    ])
    .await;
    let err = client(&server.base)
        .detect(vec![0xFFu8, 0xD8, 0xFF], &DetectOptions::recommended_for_recognition())
        .await
        .expect_err("403");
    let text = err.to_string();
    assert!(text.contains("Limited Access") && text.contains("returnFaceId=false"), "{text}");
    assert_eq!(err.request_id(), Some("req-403"));

    let server = TestServer::script(vec![Reply::error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint.",
    )])
    .await;
    let err = client(&server.base).list_face_lists(false).await.expect_err("401");
    assert!(err.to_string().contains("AZURE_FACE_KEY"), "{err}");
}

#[tokio::test]
async fn a_non_json_error_body_is_kept() {
    let server = TestServer::script(vec![Reply::new(502).body(b"<html>Bad Gateway</html>".to_vec())]).await;
    let err = client(&server.base).list_face_lists(false).await.expect_err("502");
    assert!(err.to_string().contains("Bad Gateway"), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn invalid_arguments_fail_before_sending() {
    let server = TestServer::script(vec![Reply::new(200)]).await;
    let c = client(&server.base);
    let err = c.get_large_person_group("Not Valid!", false).await.expect_err("bad id");
    assert!(matches!(err, FaceError::InvalidArgument { argument: "largePersonGroupId", .. }), "{err:?}");
    let err = c.identify_from_large_person_group(&[], "g1", &Default::default()).await.expect_err("no faces");
    assert!(err.to_string().contains("faceIds"), "{err}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn paging_follows_start() {
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|u| u.to_string());
    let pages = sorted.clone();
    let server = TestServer::start(move |r, _| {
        let pairs = r.query_pairs();
        let start = pairs.iter().find(|(k, _)| k == "start").map(|(_, v)| v.clone());
        let top: usize = pairs.iter().find(|(k, _)| k == "top").and_then(|(_, v)| v.parse().ok()).unwrap_or(1000);
        let page: Vec<_> = pages
            .iter()
            .filter(|u| start.as_ref().is_none_or(|s| u.to_string() > *s))
            .take(top)
            .map(|u| json!({"personId": u, "name": "p"}))
            .collect();
        Reply::json(200, json!(page))
    })
    .await;
    use futures::TryStreamExt;
    let all: Vec<_> =
        client(&server.base).list_all_large_person_group_persons("g1", 2).try_collect().await.expect("pages");
    assert_eq!(all.iter().map(|p| p.person_id).collect::<Vec<_>>(), sorted);
    assert_eq!(server.requests().len(), 3, "pages of 2, 2, 1");
}

/// `from_env` is checked in a child process, as changing the environment of this one is unsafe.
#[test]
fn from_env_reads_endpoint_and_key() {
    if std::env::var_os("AFC_FROM_ENV_CHILD").is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let ok = std::process::Command::new(&exe)
        .args(["--exact", "from_env_child", "--nocapture", "--test-threads=1"])
        .env("AFC_FROM_ENV_CHILD", "ok")
        .env("AZURE_FACE_ENDPOINT", "http://127.0.0.1:4010/")
        .env("AZURE_FACE_KEY", TEST_KEY)
        .output()
        .expect("run child");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    let missing = std::process::Command::new(&exe)
        .args(["--exact", "from_env_child", "--nocapture", "--test-threads=1"])
        .env("AFC_FROM_ENV_CHILD", "missing")
        .env_remove("AZURE_FACE_ENDPOINT")
        .env_remove("AZURE_FACE_KEY")
        .output()
        .expect("run child");
    assert!(missing.status.success(), "{}", String::from_utf8_lossy(&missing.stdout));
}

#[test]
fn from_env_child() {
    match std::env::var("AFC_FROM_ENV_CHILD").as_deref() {
        Ok("ok") => {
            let c = FaceClient::from_env().expect("from env");
            assert_eq!(c.base_url().as_str(), "http://127.0.0.1:4010/face/v1.2");
        }
        Ok("missing") => {
            let err = FaceClient::from_env().expect_err("no variables");
            assert!(matches!(err, FaceError::MissingEnvVar { name: "AZURE_FACE_ENDPOINT", .. }), "{err:?}");
        }
        _ => {}
    }
}
