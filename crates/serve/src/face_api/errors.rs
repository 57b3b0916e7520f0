//! Azure's error answers: `{"error":{"code","message"}}` plus the `x-ms-error-code` header.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use issc_store::{Kind, StoreError};

use crate::error::ApiError;

/// An error in the Face API's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Azure's code (`BadArgument`, `LargePersonGroupNotFound`, `401`, …).
    pub code: String,
    /// Message.
    pub message: String,
    /// `Retry-After` seconds (429).
    pub retry_after: Option<u32>,
}

impl FaceApiError {
    /// An error.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), retry_after: None }
    }

    /// 400 `BadArgument`.
    pub fn bad_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadArgument", message)
    }

    /// 400 `InvalidImage`.
    pub fn invalid_image(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidImage", message)
    }

    /// 500, details only in the log.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("Face API internal error: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "internal error; see the server log")
    }

    /// From the server's own errors (body reading, overload, timeouts, URL fetching).
    pub fn from_api(e: ApiError) -> Self {
        let (status, code) = match (e.status, e.code) {
            (StatusCode::PAYLOAD_TOO_LARGE, _) => (StatusCode::BAD_REQUEST, "InvalidImageSize"),
            (_, "Overloaded") => (StatusCode::TOO_MANY_REQUESTS, "429"),
            (_, "Timeout" | "BodyTimeout") => (StatusCode::REQUEST_TIMEOUT, "Timeout"),
            (_, "UrlFetchDisabled" | "InvalidUrl" | "UrlNotAllowed" | "UrlFetchFailed") => {
                (StatusCode::BAD_REQUEST, "InvalidURL")
            }
            (StatusCode::INTERNAL_SERVER_ERROR, _) => (e.status, "InternalServerError"),
            (s, _) if s.is_client_error() => (StatusCode::BAD_REQUEST, "BadArgument"),
            (s, c) => (s, c),
        };
        let message = if code == "429" {
            format!("Rate limit is exceeded. Try again in {} seconds. ({})", e.retry_after.unwrap_or(1), e.message)
        } else {
            e.message
        };
        Self { status, code: code.to_string(), message, retry_after: e.retry_after }
    }

    /// A store error about a collection named in the request path (404 when missing).
    pub fn in_path(e: StoreError) -> Self {
        Self::from_store(e, true)
    }

    /// A store error about a collection named in the request body (400 when missing).
    pub fn in_body(e: StoreError) -> Self {
        Self::from_store(e, false)
    }

    fn from_store(e: StoreError, path: bool) -> Self {
        let missing = if path { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
        match e {
            StoreError::CollectionNotFound(kind, id) => Self::new(
                missing,
                format!("{}NotFound", kind.azure_name()),
                format!("{} '{id}' is not found.", words(kind)),
            ),
            StoreError::CollectionExists(kind, id) => Self::new(
                StatusCode::CONFLICT,
                format!("{}Exists", kind.azure_name()),
                format!("{} '{id}' already exists.", words(kind)),
            ),
            StoreError::PersonNotFound(p) => {
                Self::new(StatusCode::NOT_FOUND, "PersonNotFound", format!("Person '{p}' is not found."))
            }
            StoreError::FaceNotFound(f) => {
                Self::new(StatusCode::NOT_FOUND, "PersistedFaceNotFound", format!("Persisted face '{f}' is not found."))
            }
            StoreError::NotTrained(kind, id) => Self::new(
                if path { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST },
                format!("{}NotTrained", kind.azure_name()),
                format!("{} '{id}' is not trained: call train and wait for it to succeed.", words(kind)),
            ),
            StoreError::TrainingRunning(kind, id) => Self::new(
                StatusCode::CONFLICT,
                format!("{}TrainingNotFinished", kind.azure_name()),
                format!("{} '{id}' is under training; retry when it has finished.", words(kind)),
            ),
            StoreError::Quota(m) => Self::new(StatusCode::FORBIDDEN, "QuotaExceeded", m),
            StoreError::OperationNotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, "OperationNotFound", format!("Operation '{id}' is not found."))
            }
            StoreError::FaceIdsFull { retry_after, held } => super::CacheFull { retry_after, held }.into(),
            e @ (StoreError::Dimension { .. } | StoreError::Db { .. }) => Self::internal(e),
        }
    }
}

/// `Large person group` etc.
pub(crate) fn words(kind: Kind) -> &'static str {
    match kind {
        Kind::PersonGroup => "Person group",
        Kind::LargePersonGroup => "Large person group",
        Kind::FaceList => "Face list",
        Kind::LargeFaceList => "Large face list",
    }
}

impl IntoResponse for FaceApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            r.headers_mut().insert("x-ms-error-code", v);
        }
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
