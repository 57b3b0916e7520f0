//! [`FaceClient`] and its HTTP pipeline: authentication, request ids, retries, error mapping.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::credential::{AccessToken, COGNITIVE_SERVICES_SCOPE, Credential, KeyCredential};
use crate::error::{FaceError, ServiceError, is_retryable_status};
use crate::options::ClientOptions;

/// Environment variable holding the endpoint, e.g. `https://my-face.cognitiveservices.azure.com`.
pub const ENDPOINT_ENV: &str = "AZURE_FACE_ENDPOINT";
/// Environment variable holding the resource key.
pub const KEY_ENV: &str = "AZURE_FACE_KEY";

const USER_AGENT: &str = concat!("azure-face-client-rust/", env!("CARGO_PKG_VERSION"));

/// An async client for the Azure AI Face REST API (v1.2 by default).
///
/// Cheap to clone (an `Arc` inside); share one per endpoint. Every operation of the API is a method; see the
/// crate documentation for a quick start.
#[derive(Clone)]
pub struct FaceClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    base: Url,
    credential: Credential,
    options: ClientOptions,
    token_cache: tokio::sync::Mutex<Option<AccessToken>>,
}

impl fmt::Debug for FaceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("base", &self.inner.base.as_str())
            .field("credential", &self.inner.credential)
            .field("options", &self.inner.options)
            .finish()
    }
}

/// Whether a request may be retried after it may have reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Idempotent or read-only: retried on 408, 429, 5xx and transport errors.
    Safe,
    /// Creates something: retried only on 429 and on connection failures (nothing sent).
    OnlyIfNotProcessed,
}

pub(crate) enum Body {
    None,
    Json(Vec<u8>),
    Binary(Bytes),
    Multipart { boundary: String, bytes: Bytes },
}

pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Body,
    pub(crate) retry: Retry,
    pub(crate) accept: &'static str,
}

pub(crate) struct RawResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) method: Method,
    pub(crate) url: Url,
}

impl RawResponse {
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, FaceError> {
        serde_json::from_slice(&self.body).map_err(|source| FaceError::Decode {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            body_start: body_start(&self.body),
            source,
        })
    }
}

fn body_start(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if text.is_empty() { "<empty>".to_owned() } else { text }
}

impl FaceClient {
    /// A client for `endpoint` (e.g. `https://my-face.cognitiveservices.azure.com`, or `http://127.0.0.1:8080`
    /// for a compatible local server) with default options.
    ///
    /// Fails on a malformed endpoint, and on a bearer-token credential with a plain-http endpoint.
    pub fn new(endpoint: &str, credential: impl Into<Credential>) -> Result<Self, FaceError> {
        Self::with_options(endpoint, credential, ClientOptions::default())
    }

    /// A client with a key credential.
    pub fn with_key(endpoint: &str, key: impl Into<String>) -> Result<Self, FaceError> {
        Self::new(endpoint, KeyCredential::new(key))
    }

    /// A client with explicit options.
    pub fn with_options(
        endpoint: &str,
        credential: impl Into<Credential>,
        options: ClientOptions,
    ) -> Result<Self, FaceError> {
        let credential = credential.into();
        let invalid =
            |reason: &str| FaceError::InvalidEndpoint { endpoint: endpoint.to_owned(), reason: reason.into() };
        let trimmed = endpoint.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty; expected e.g. https://<resource>.cognitiveservices.azure.com"));
        }
        let mut url = Url::parse(trimmed)
            .map_err(|e| invalid(&format!("{e}; expected e.g. https://<resource>.cognitiveservices.azure.com")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not contain user info"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it must not contain a query or fragment"));
        }
        if matches!(credential, Credential::Token(_)) && url.scheme() != "https" {
            return Err(FaceError::InsecureBearerToken { url: url.to_string() });
        }
        let version = options.api_version.trim_matches('/');
        if version.is_empty() || version.contains('/') {
            return Err(FaceError::invalid(
                "api_version",
                format!("`{}` is not a version segment like v1.2", options.api_version),
            ));
        }
        // Normalise: no trailing slash on the path.
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        let mut base = url.clone();
        {
            let mut segs = base.path_segments_mut().map_err(|()| invalid("it cannot be a base URL"))?;
            segs.pop_if_empty().push("face").push(version);
        }
        let mut ua = USER_AGENT.to_owned();
        if let Some(s) = &options.user_agent_suffix {
            ua.push(' ');
            ua.push_str(s);
        }
        let http = reqwest::Client::builder()
            .user_agent(ua)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| invalid(&format!("could not build the HTTP client: {e}")))?;
        Ok(FaceClient {
            inner: Arc::new(Inner {
                http,
                endpoint: url,
                base,
                credential,
                options,
                token_cache: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// A client from the environment: endpoint from `AZURE_FACE_ENDPOINT`, key from `AZURE_FACE_KEY`.
    ///
    /// This does not read `.env` files; binaries and examples call `dotenvy::dotenv()` first if they want that.
    pub fn from_env() -> Result<Self, FaceError> {
        Self::from_env_with_options(ClientOptions::default())
    }

    /// Like [`FaceClient::from_env`], with options.
    pub fn from_env_with_options(options: ClientOptions) -> Result<Self, FaceError> {
        let endpoint = env_var(
            ENDPOINT_ENV,
            "set it to your Face resource's endpoint, e.g. https://<resource>.cognitiveservices.azure.com",
        )?;
        let key = env_var(KEY_ENV, "set it to one of your Face resource's keys (Azure portal, Keys and Endpoint)")?;
        Self::with_options(&endpoint, KeyCredential::new(key), options)
    }

    /// The endpoint, normalised (no trailing slash).
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The base URL of every operation: `{endpoint}/face/{api_version}`.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// `{base}/{segments...}`, each segment percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.pop_if_empty().extend(segments);
        }
        url
    }

    pub(crate) fn url_with_query(&self, segments: &[&str], query: &[(&'static str, String)]) -> Url {
        let mut url = self.url(segments);
        set_query(&mut url, query);
        url
    }

    /// Whether `url` has the endpoint's scheme, host and port (so the credential may be sent to it).
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.inner.endpoint.origin()
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(&self, call: Call) -> Result<T, FaceError> {
        self.execute(call).await?.json()
    }

    pub(crate) async fn send_unit(&self, call: Call) -> Result<(), FaceError> {
        self.execute(call).await.map(|_| ())
    }

    /// Sends a call through the pipeline: auth, request id, retries; non-2xx answers become errors.
    pub(crate) async fn execute(&self, call: Call) -> Result<RawResponse, FaceError> {
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut attempts: u32 = 0;
        let mut slept = Duration::ZERO;
        loop {
            attempts += 1;
            let request = self.build(&call, &client_request_id).await?;
            tracing::debug!(method = %call.method, url = %call.url, attempt = attempts, "azure face request");
            let outcome = self.inner.http.execute(request).await;
            let (error, retry_after, may_retry) = match outcome {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = match resp.bytes().await {
                        Ok(b) => b,
                        Err(source) => {
                            let may = call.retry == Retry::Safe;
                            let err = FaceError::Transport {
                                method: call.method.to_string(),
                                url: call.url.to_string(),
                                attempts,
                                source,
                            };
                            if let Some(delay) = self.next_delay(may, attempts, slept, None) {
                                slept += delay;
                                tokio::time::sleep(delay).await;
                                continue;
                            }
                            return Err(err);
                        }
                    };
                    if status.is_success() {
                        return Ok(RawResponse {
                            status,
                            headers,
                            body,
                            method: call.method.clone(),
                            url: call.url.clone(),
                        });
                    }
                    let retry_after = retry_after(&headers);
                    let code = status.as_u16();
                    let may = is_retryable_status(code) && (call.retry == Retry::Safe || code == 429);
                    let err = service_error(&call, status, &headers, &body, retry_after, attempts);
                    (err, retry_after, may)
                }
                Err(source) => {
                    // A failure to connect means nothing was sent: always safe to retry.
                    let may = source.is_connect()
                        || (call.retry == Retry::Safe
                            && (source.is_timeout() || source.is_request() || source.is_body()));
                    let err = FaceError::Transport {
                        method: call.method.to_string(),
                        url: call.url.to_string(),
                        attempts,
                        source,
                    };
                    (err, None, may)
                }
            };
            match self.next_delay(may_retry, attempts, slept, retry_after) {
                Some(delay) => {
                    tracing::debug!(attempt = attempts, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
                    slept += delay;
                    tokio::time::sleep(delay).await;
                }
                None => return Err(error),
            }
        }
    }

    /// The delay before the next attempt, or `None` to give up.
    fn next_delay(
        &self,
        may_retry: bool,
        attempts: u32,
        slept: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let r = &self.inner.options.retry;
        if !may_retry || attempts > r.max_retries {
            return None;
        }
        let delay = retry_after.unwrap_or_else(|| r.backoff(attempts - 1));
        if slept + delay > r.max_total_delay {
            return None;
        }
        Some(delay)
    }

    async fn build(&self, call: &Call, client_request_id: &str) -> Result<reqwest::Request, FaceError> {
        let mut rb = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header("accept", call.accept)
            .header("x-ms-client-request-id", client_request_id);
        rb = match &self.inner.credential {
            Credential::Key(k) => {
                let mut v = HeaderValue::from_str(k.secret()).map_err(|_| {
                    FaceError::invalid("key", "the key contains characters that cannot be sent in an HTTP header")
                })?;
                v.set_sensitive(true);
                rb.header("ocp-apim-subscription-key", v)
            }
            Credential::Token(_) => {
                if call.url.scheme() != "https" {
                    return Err(FaceError::InsecureBearerToken { url: call.url.to_string() });
                }
                let token = self.token().await?;
                let mut v = HeaderValue::from_str(&format!("Bearer {}", token.token)).map_err(|_| {
                    FaceError::invalid(
                        "token",
                        "the access token contains characters that cannot be sent in an HTTP header",
                    )
                })?;
                v.set_sensitive(true);
                rb.header("authorization", v)
            }
        };
        rb = match &call.body {
            Body::None => {
                if call.method == Method::POST {
                    rb.header("content-length", "0").body(Bytes::new())
                } else {
                    rb
                }
            }
            Body::Json(b) => rb.header("content-type", "application/json").body(b.clone()),
            Body::Binary(b) => rb.header("content-type", "application/octet-stream").body(b.clone()),
            Body::Multipart { boundary, bytes } => {
                rb.header("content-type", format!("multipart/form-data; boundary={boundary}")).body(bytes.clone())
            }
        };
        rb.build().map_err(|source| FaceError::Transport {
            method: call.method.to_string(),
            url: call.url.to_string(),
            attempts: 0,
            source,
        })
    }

    async fn token(&self) -> Result<AccessToken, FaceError> {
        let Credential::Token(cred) = &self.inner.credential else {
            return Err(FaceError::invalid("credential", "not a token credential"));
        };
        let mut cache = self.inner.token_cache.lock().await;
        if let Some(t) = cache.as_ref()
            && let Some(exp) = t.expires_on
            && exp > SystemTime::now() + Duration::from_secs(300)
        {
            return Ok(t.clone());
        }
        let token =
            cred.get_token(&[COGNITIVE_SERVICES_SCOPE]).await.map_err(|source| FaceError::Credential { source })?;
        *cache = if token.expires_on.is_some() { Some(token.clone()) } else { None };
        Ok(token)
    }

    pub(crate) fn json_call<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: &B,
        retry: Retry,
    ) -> Result<Call, FaceError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| FaceError::invalid("body", format!("cannot serialise: {e}")))?;
        Ok(Call { method, url, body: Body::Json(bytes), retry, accept: "application/json" })
    }

    pub(crate) fn call(&self, method: Method, url: Url) -> Call {
        let retry = if method == Method::POST { Retry::OnlyIfNotProcessed } else { Retry::Safe };
        Call { method, url, body: Body::None, retry, accept: "application/json" }
    }
}

fn env_var(name: &'static str, hint: &'static str) -> Result<String, FaceError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(FaceError::MissingEnvVar { name, hint }),
    }
}

fn service_error(
    call: &Call,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    retry_after: Option<Duration>,
    attempts: u32,
) -> FaceError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: Option<serde_json::Value>,
        message: Option<String>,
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (mut code, message, raw_body) = match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => (
            e.error.code.map(|c| match c {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            e.error.message,
            None,
        ),
        Err(_) => (None, None, if body.is_empty() { None } else { Some(body_start(body)) }),
    };
    if code.is_none() {
        code = header("x-ms-error-code");
    }
    FaceError::Service(Box::new(ServiceError {
        status: status.as_u16(),
        code,
        message,
        request_id: header("apim-request-id").or_else(|| header("x-ms-request-id")),
        retry_after,
        method: call.method.to_string(),
        url: call.url.to_string(),
        attempts,
        raw_body,
    }))
}

/// Parses `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds) and `Retry-After` (seconds or an HTTP date).
/// A zero or negative delay counts as absent.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.parse::<f64>().ok())
            && ms.is_finite()
            && ms > 0.0
        {
            return Some(Duration::from_secs_f64(ms.min(1e9) / 1000.0));
        }
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(1e7)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    let d = when.duration_since(SystemTime::now()).ok()?;
    (!d.is_zero()).then_some(d)
}

/// Query strings like the official SDKs: `name=value&...`, values percent-encoded except unreserved characters
/// and `,` (CSV arrays stay readable: `returnFaceAttributes=headPose,mask`).
pub(crate) fn set_query(url: &mut Url, query: &[(&'static str, String)]) {
    if query.is_empty() {
        url.set_query(None);
        return;
    }
    let mut q = String::new();
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        encode_into(&mut q, k);
        q.push('=');
        encode_into(&mut q, v);
    }
    url.set_query(Some(&q));
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Builds a multipart/form-data body by hand (so it can be re-sent on a retry).
pub(crate) fn multipart(fields: &[(&'static str, String)], file_name: &str, file_field: &str, file: &[u8]) -> Body {
    let boundary = format!("----azure-face-client-{}", uuid::Uuid::new_v4().simple());
    let mut out = Vec::with_capacity(file.len() + 512);
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Body::Multipart { boundary, bytes: Bytes::from(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_commas() {
        let mut u = Url::parse("http://h/face/v1.2/detect").expect("url");
        set_query(&mut u, &[("returnFaceAttributes", "headPose,mask".into()), ("userData", "a b&c".into())]);
        assert_eq!(u.query(), Some("returnFaceAttributes=headPose,mask&userData=a%20b%26c"));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("0"));
        assert_eq!(retry_after(&h), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&later).expect("header"));
        let d = retry_after(&h).expect("date parsed");
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn base_url_and_debug() {
        let c =
            FaceClient::with_key("https://res.cognitiveservices.azure.com/", "super-secret-key-123").expect("client");
        assert_eq!(c.base_url().as_str(), "https://res.cognitiveservices.azure.com/face/v1.2");
        assert_eq!(
            c.url(&["largepersongroups", "a b"]).as_str(),
            "https://res.cognitiveservices.azure.com/face/v1.2/largepersongroups/a%20b"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("super-secret"), "{dbg}");
        let proxied = FaceClient::with_key("http://127.0.0.1:9/proxy/", "k").expect("client");
        assert_eq!(proxied.base_url().as_str(), "http://127.0.0.1:9/proxy/face/v1.2");
    }
}
