#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod client;
mod credential;
mod error;
mod lro;
pub mod models;
mod ops;
mod options;
pub mod requests;

pub use client::{ENDPOINT_ENV, FaceClient, KEY_ENV};
pub use credential::{
    AccessToken, COGNITIVE_SERVICES_SCOPE, Credential, KeyCredential, StaticTokenCredential, TokenCredential,
};
pub use error::{BoxError, FaceError, ServiceError};
pub use lro::{ProgressDetails, TrainingPoller, TrainingProgress};
pub use models::*;
pub use options::{ClientOptions, DEFAULT_API_VERSION, RetryOptions};
pub use requests::*;

/// Re-exported: image bodies are `Bytes` (any `Vec<u8>` or `&'static [u8]` converts into it).
pub use bytes::Bytes;
/// Re-exported so callers can name face ids without adding `uuid` themselves.
pub use uuid::Uuid;
