//! What a program that starts the server needs besides the router: the Face API's store from its location, API
//! keys from their list, and the shutdown signal.

use std::path::Path;
use std::sync::Arc;

use issc_store::FaceStore;

use crate::ServeError;

/// Most transient faceIds kept at once when nothing else is said (each takes about 0.6 KiB).
pub const DEFAULT_MAX_FACE_IDS: usize = 200_000;

/// The Face API's store at `location`: a `postgres://` / `postgresql://` URL (PostgreSQL with pgvector; needs the
/// `postgres` feature), else a folder (embedded SQLite, created if missing). `dim`: the embedding size.
pub fn open_store(location: &Path, dim: usize) -> Result<Arc<dyn FaceStore>, ServeError> {
    match location.to_str() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => open_postgres(url, dim),
        _ => {
            let store = issc_store::SqliteStore::open(location, dim).map_err(|e| {
                ServeError::Config(format!("cannot open the Face API store in {}: {e}", location.display()))
            })?;
            tracing::info!("Face API store {}", store.path().display());
            Ok(Arc::new(store))
        }
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str, dim: usize) -> Result<Arc<dyn FaceStore>, ServeError> {
    let store = issc_store::PgStore::connect(url, dim).map_err(|e| {
        ServeError::Config(format!("cannot open the Face API store {}: {e}", issc_store::redact_url(url)))
    })?;
    tracing::info!("Face API store {} (PostgreSQL + pgvector)", store.location());
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str, _dim: usize) -> Result<Arc<dyn FaceStore>, ServeError> {
    Err(ServeError::Config(format!(
        "store {}: this build has no PostgreSQL support; rebuild it with `cargo build --release -p issc --features \
         postgres`, or keep the store in a folder (embedded SQLite)",
        issc_store::redact_url(url)
    )))
}

/// API keys from a comma-separated list (blank entries ignored).
pub fn api_keys(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect()
}

/// Resolves on Ctrl-C or SIGTERM (what [`serve`](crate::serve) takes to finish in-flight requests and stop).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
