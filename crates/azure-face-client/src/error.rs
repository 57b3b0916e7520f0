//! The one error type of this crate: [`FaceError`].

use std::fmt;
use std::time::Duration;

/// A boxed error, as returned by a [`TokenCredential`](crate::TokenCredential).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong when talking to the Face service.
///
/// Service errors carry the HTTP status, the service's `error.code` and `error.message`, the request id the
/// service assigned (quote it when you open a support ticket) and how many attempts were made.
/// [`FaceError::is_retryable`] says whether trying again later may succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// The service answered with a non-success HTTP status.
    #[error("{0}")]
    Service(Box<ServiceError>),

    /// The request never got an HTTP answer: DNS, connection, TLS, timeout or a broken response stream.
    #[error(
        "{method} {url} failed after {attempts} attempt(s){exhausted}: {kind}: {source}; check AZURE_FACE_ENDPOINT, \
         the network and the timeouts in ClientOptions",
        kind = transport_kind(source),
        exhausted = if *attempts > 1 { " (retries exhausted)" } else { "" }
    )]
    Transport {
        /// HTTP method of the request.
        method: String,
        /// URL of the request (never contains a secret).
        url: String,
        /// How many attempts were made, the first included.
        attempts: u32,
        /// The underlying HTTP client error.
        #[source]
        source: reqwest::Error,
    },

    /// The endpoint URL given to the client is not usable.
    #[error("invalid Face endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An Entra ID bearer token would have been sent over plain `http`, which this client refuses (as Azure's
    /// SDKs do): anyone on the path could steal the token.
    #[error(
        "refusing to send an Entra ID bearer token to `{url}` over plain http: use an https endpoint, or a \
         KeyCredential for local or compatible test servers"
    )]
    InsecureBearerToken {
        /// The URL the token would have been sent to.
        url: String,
    },

    /// A required environment variable is missing or empty.
    #[error("environment variable {name} is not set: {hint}")]
    MissingEnvVar {
        /// The variable's name.
        name: &'static str,
        /// What to put in it.
        hint: &'static str,
    },

    /// The token credential could not produce a token.
    #[error("could not obtain an Entra ID access token: {source}")]
    Credential {
        /// The credential's error.
        #[source]
        source: BoxError,
    },

    /// An argument was rejected before anything was sent (the service would have rejected it too).
    #[error("invalid argument `{argument}`: {reason}")]
    InvalidArgument {
        /// Name of the argument, as the API spells it.
        argument: &'static str,
        /// Why it is invalid.
        reason: String,
    },

    /// The service answered with a success status but a body this client could not understand.
    #[error("could not parse the response to {method} {url} (HTTP {status}): {source}; body starts with: {body_start}")]
    Decode {
        /// HTTP method of the request.
        method: String,
        /// URL of the request.
        url: String,
        /// HTTP status of the response.
        status: u16,
        /// The first characters of the body.
        body_start: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A long-running operation (training) ended in the `failed` state.
    #[error("{operation} failed: {}", message.as_deref().unwrap_or("the service gave no reason"))]
    OperationFailed {
        /// What was running, e.g. "training of large person group `family`".
        operation: String,
        /// The service's message, if it gave one.
        message: Option<String>,
    },

    /// A long-running operation (training) was canceled on the service side.
    #[error("{operation} was canceled by the service")]
    OperationCanceled {
        /// What was running.
        operation: String,
    },

    /// A long-running operation (training) did not finish in time. It may still finish on the service:
    /// poll the training status later.
    #[error(
        "{operation} did not finish within {waited:?} (last status: {last_status}); it may still finish: poll its training status later or wait longer"
    )]
    OperationTimedOut {
        /// What was running.
        operation: String,
        /// How long the client waited.
        waited: Duration,
        /// The last status seen.
        last_status: String,
    },
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request error"
    }
}

impl FaceError {
    /// Whether trying the same request again later may succeed: HTTP 408, 429 and transient 5xx statuses, and
    /// connection errors and timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            FaceError::Service(e) => is_retryable_status(e.status),
            FaceError::Transport { source, .. } => {
                source.is_connect() || source.is_timeout() || source.is_request() || source.is_body()
            }
            _ => false,
        }
    }

    /// The HTTP status, for service errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            FaceError::Service(e) => Some(e.status),
            FaceError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's `error.code` (e.g. `LargePersonGroupNotFound`), for service errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            FaceError::Service(e) => e.code.as_deref(),
            _ => None,
        }
    }

    /// The service's `error.message`, for service errors.
    pub fn service_message(&self) -> Option<&str> {
        match self {
            FaceError::Service(e) => e.message.as_deref(),
            _ => None,
        }
    }

    /// The request id the service assigned (`apim-request-id` or `x-ms-request-id`), for service errors.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            FaceError::Service(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// How long the service asked to wait (`Retry-After`), for service errors that carried it.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FaceError::Service(e) => e.retry_after,
            _ => None,
        }
    }

    /// How many attempts were made before this error was returned (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        match self {
            FaceError::Service(e) => e.attempts,
            FaceError::Transport { attempts, .. } => *attempts,
            _ => 0,
        }
    }

    /// The service error details, for service errors.
    pub fn as_service_error(&self) -> Option<&ServiceError> {
        match self {
            FaceError::Service(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn invalid(argument: &'static str, reason: impl Into<String>) -> Self {
        FaceError::InvalidArgument { argument, reason: reason.into() }
    }
}

/// Whether an HTTP status is worth retrying: 408, 429, and 5xx except 501 (Not Implemented) and 505 (HTTP
/// Version Not Supported), which do not go away by themselves.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

/// Details of an error answer from the Face service.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServiceError {
    /// HTTP status.
    pub status: u16,
    /// The service's `error.code` (or the `x-ms-error-code` header), e.g. `LargePersonGroupNotFound`.
    pub code: Option<String>,
    /// The service's `error.message`.
    pub message: Option<String>,
    /// The request id the service assigned (`apim-request-id` or `x-ms-request-id` header).
    pub request_id: Option<String>,
    /// How long the service asked to wait before retrying (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// HTTP method of the request.
    pub method: String,
    /// URL of the request (never contains a secret).
    pub url: String,
    /// How many attempts were made, the first included.
    pub attempts: u32,
    /// The start of the body when it was not the usual `{"error": {...}}` shape.
    pub raw_body: Option<String>,
}

impl ServiceError {
    /// A sentence explaining what the status and code usually mean and what to do, if there is one.
    pub fn hint(&self) -> Option<&'static str> {
        let code = self.code.as_deref().unwrap_or("");
        let message = self.message.as_deref().unwrap_or("").to_ascii_lowercase();
        match self.status {
            401 => Some(
                "the key or token was rejected: check that AZURE_FACE_KEY is a key of the resource at \
                 AZURE_FACE_ENDPOINT (use the resource's own endpoint, not a regional one), or that the Entra ID \
                 identity has the 'Cognitive Services User' role on it",
            ),
            403 if code.eq_ignore_ascii_case("QuotaExceeded") => Some(
                "a quota of the resource's pricing tier was reached (groups, persons per group, faces per person \
                 or list): delete unused entries or move to a higher tier",
            ),
            403 if code.eq_ignore_ascii_case("UnsupportedFeature")
                || code.eq_ignore_ascii_case("InvalidRequest")
                || message.contains("approval")
                || message.contains("limited access")
                || message.contains("not supported") =>
            {
                Some(
                    "this is a Limited Access feature: face identification, verification, find similar, group, \
                     returning faceIds from detect, enrolment into person groups and face lists, and liveness need \
                     Microsoft's approval for your resource (apply at https://aka.ms/facerecognition); detection \
                     with returnFaceId=false works without it",
                )
            }
            403 => Some(
                "access forbidden: the resource may be disabled or behind a firewall or virtual network, the \
                 identity may lack a role on it, or the feature needs Limited Access approval \
                 (https://aka.ms/facerecognition)",
            ),
            404 => Some("the addressed group, list, person, face or session does not exist (or has expired)"),
            409 => Some("a conflicting operation is in progress (often training): wait for it to finish and retry"),
            429 => {
                Some("rate limit exceeded (Free F0: 20 calls per minute; Standard S0: 10 calls per second by default)")
            }
            _ => None,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Azure Face service answered HTTP {} to {} {}", self.status, self.method, self.url)?;
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, ": {c}: {m}")?,
            (Some(c), None) => write!(f, ": {c}")?,
            (None, Some(m)) => write!(f, ": {m}")?,
            (None, None) => {
                if let Some(body) = &self.raw_body {
                    write!(f, ": {body}")?;
                }
            }
        }
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        if self.attempts > 1 {
            if is_retryable_status(self.status) {
                write!(f, " after {} attempts: retries exhausted", self.attempts)?;
            } else {
                write!(f, " after {} attempts", self.attempts)?;
            }
        } else if is_retryable_status(self.status) && self.attempts == 1 {
            write!(f, " (not retried)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str, message: &str) -> ServiceError {
        ServiceError {
            status,
            code: Some(code.into()),
            message: Some(message.into()),
            request_id: Some("req-1".into()),
            retry_after: None,
            method: "POST".into(),
            url: "https://example.test/face/v1.2/identify".into(),
            attempts: 1,
            raw_body: None,
        }
    }

    #[test]
    fn limited_access_is_explained() {
        let e = FaceError::Service(Box::new(service(
            403,
            "UnsupportedFeature",
            "Feature is not supported, missing approvals for one or more of the following features: Identification",
        )));
        let text = e.to_string();
        assert!(text.contains("Limited Access"), "{text}");
        assert!(text.contains("req-1"), "{text}");
        assert!(!e.is_retryable());
        assert_eq!(e.code(), Some("UnsupportedFeature"));
    }

    #[test]
    fn unauthorized_is_explained() {
        let text = FaceError::Service(Box::new(service(401, "401", "Access denied"))).to_string();
        assert!(text.contains("AZURE_FACE_KEY"), "{text}");
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 507] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
