//! What a program that starts the server needs besides the router: the Face API's store from its location, API
//! keys from their list, and the shutdown signal.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use issc_store::FaceStore;

use crate::ServeError;

/// Most transient faceIds kept at once when nothing else is said (each takes about 0.6 KiB).
pub const DEFAULT_MAX_FACE_IDS: usize = 200_000;

/// How the store searches large trained collections: exactly (a scan in the database, or of int8 rows in memory
/// re-scored exactly), or through an HNSW graph whose candidates are re-scored exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSearch {
    /// PostgreSQL: a collection of at least this many trained faces is searched from a snapshot of int8 rows in
    /// each server's memory, re-scored exactly from the database; 0: every search runs in the database.
    pub pg_memory_min_faces: usize,
    /// PostgreSQL: a collection of at least this many faces gets a pgvector HNSW index when trained, used when the
    /// memory snapshot is off; 0 (the default): none.
    pub pg_hnsw_min_faces: usize,
    /// PostgreSQL: candidates the HNSW search re-scores exactly (pgvector `hnsw.ef_search`, 1–1,000).
    pub pg_ef_search: u32,
    /// Embedded store: a collection of at least this many faces is searched through an in-memory HNSW graph once
    /// trained; 0 (the default): every search exact (the int8 scan takes about 1 ms per 100,000 faces on one core).
    pub hnsw_min_faces: usize,
}

impl Default for StoreSearch {
    /// PostgreSQL: the memory snapshot from 10,000 faces (exact; 7 ms at 1,000,000 faces against 0.7 s for the
    /// scan in the database, `cargo bench -p issc-store --features postgres --bench pg_index`), no HNSW index;
    /// embedded: exact.
    fn default() -> Self {
        Self { pg_memory_min_faces: 10_000, pg_hnsw_min_faces: 0, pg_ef_search: 100, hnsw_min_faces: 0 }
    }
}

/// The Face API's store at `location`: a `postgres://` / `postgresql://` URL (PostgreSQL with pgvector; needs the
/// `postgres` feature), else a folder (embedded SQLite, created if missing); `search` says how large collections are
/// searched. `dim`: the embedding size.
pub fn open_store(location: &Path, dim: usize, search: StoreSearch) -> Result<Arc<dyn FaceStore>, ServeError> {
    match location.to_str() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            open_postgres(url, dim, search)
        }
        _ => {
            let hnsw = (search.hnsw_min_faces > 0)
                .then(|| issc_store::HnswSetting { min_faces: search.hnsw_min_faces, ..Default::default() });
            let store = issc_store::SqliteStore::open(location, dim)
                .map_err(|e| {
                    ServeError::Config(format!("cannot open the Face API store in {}: {e}", location.display()))
                })?
                .with_hnsw(hnsw);
            let how = match hnsw {
                Some(h) => format!("HNSW graph for collections of {}+ faces", h.min_faces),
                None => "exact search".to_string(),
            };
            tracing::info!("Face API store {} ({how})", store.path().display());
            Ok(Arc::new(store))
        }
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str, dim: usize, search: StoreSearch) -> Result<Arc<dyn FaceStore>, ServeError> {
    if !(1..=1000).contains(&search.pg_ef_search) {
        return Err(ServeError::Config(format!(
            "serve setting pg_ef_search = {} is out of range: pgvector's HNSW search keeps 1 to 1000 candidates",
            search.pg_ef_search
        )));
    }
    let ann = (search.pg_hnsw_min_faces > 0).then(|| issc_store::PgAnnIndex {
        min_faces: search.pg_hnsw_min_faces,
        ef_search: search.pg_ef_search,
        ..issc_store::PgAnnIndex::default()
    });
    let store = issc_store::PgStore::connect(url, dim)
        .map_err(|e| {
            ServeError::Config(format!("cannot open the Face API store {}: {e}", issc_store::redact_url(url)))
        })?
        .with_ann_index(ann);
    let how = match ann {
        Some(a) => {
            format!("HNSW index for collections of {}+ faces, {} candidates re-scored", a.min_faces, a.ef_search)
        }
        None => "exact search".to_string(),
    };
    tracing::info!("Face API store {} (PostgreSQL + pgvector; {how})", store.location());
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str, _dim: usize, _search: StoreSearch) -> Result<Arc<dyn FaceStore>, ServeError> {
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

/// A server's settings as a person gives them (a command line's flags; `None`: the default), turned into a checked
/// [`ServeConfig`](crate::ServeConfig) by [`ServeSettings::config`]. Errors name the setting
/// (`serve setting header_timeout = 0: …`).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Largest request body (the photo), in MiB.
    pub max_body_mb: usize,
    /// Photos analysed at once (default: the number of cores).
    pub max_concurrency: Option<usize>,
    /// Most requests waiting for a slot (default: 256 × `max_concurrency`).
    pub max_queue: Option<usize>,
    /// Most MiB of photos the requests in the server may hold.
    pub max_queue_mb: usize,
    /// Longest expected wait a request is admitted with, in seconds (default: half of `timeout`).
    pub max_wait: Option<f64>,
    /// Time limit per request, queueing included, in seconds.
    pub timeout: u64,
    /// Seconds a client has to send its request line and headers.
    pub header_timeout: Option<f64>,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout: Option<f64>,
    /// Seconds a request body has to arrive in full.
    pub body_timeout: Option<f64>,
    /// Most connections open at once.
    pub max_connections: Option<usize>,
    /// Hosts `/predict_json {"url"}` may fetch from.
    pub url_allow: Vec<String>,
    /// Development only: URLs resolving to loopback addresses too.
    pub url_allow_loopback: bool,
}

impl Default for ServeSettings {
    fn default() -> Self {
        let d = crate::ServeConfig::default();
        Self {
            max_body_mb: d.max_body_bytes / (1024 * 1024),
            max_concurrency: None,
            max_queue: None,
            max_queue_mb: d.max_queue_bytes / (1024 * 1024),
            max_wait: None,
            timeout: d.request_timeout.as_secs(),
            header_timeout: None,
            idle_timeout: None,
            body_timeout: None,
            max_connections: None,
            url_allow: vec![],
            url_allow_loopback: false,
        }
    }
}

/// `value` seconds, or `default` (the rules on the value are [`check_bind`](crate::check_bind)'s).
fn seconds(name: &str, value: Option<f64>, default: Duration) -> Result<Duration, ServeError> {
    match value {
        None => Ok(default),
        Some(s) => Duration::try_from_secs_f64(s)
            .map_err(|_| ServeError::Config(format!("serve setting {name} = {s}: not a number of seconds"))),
    }
}

impl ServeSettings {
    /// The server's configuration: these settings over [`ServeConfig::default`](crate::ServeConfig), with
    /// `api_keys`, image limits `load` and `shrink_on_load` (checked by [`check_bind`](crate::check_bind)).
    pub fn config(
        &self,
        api_keys: Vec<String>,
        load: issc_core::LoadOptions,
        shrink_on_load: bool,
    ) -> Result<crate::ServeConfig, ServeError> {
        let defaults = crate::ServeConfig::default();
        let max_concurrency = self.max_concurrency.unwrap_or(defaults.max_concurrency);
        let timeout = Duration::from_secs(self.timeout.max(1));
        let max_body_bytes = self.max_body_mb.saturating_mul(1024 * 1024);
        let cfg = crate::ServeConfig {
            max_body_bytes,
            max_concurrency,
            max_queue: self.max_queue.unwrap_or(256 * max_concurrency),
            max_queue_bytes: self.max_queue_mb.saturating_mul(1024 * 1024),
            max_wait: match self.max_wait {
                Some(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s).min(timeout),
                Some(s) => {
                    return Err(ServeError::Config(format!(
                        "serve setting max_wait = {s}: must be a number of seconds >= 0"
                    )));
                }
                None => timeout / 2,
            },
            request_timeout: timeout,
            header_timeout: seconds("header_timeout", self.header_timeout, defaults.header_timeout)?,
            idle_timeout: seconds("idle_timeout", self.idle_timeout, defaults.idle_timeout)?,
            body_timeout: seconds("body_timeout", self.body_timeout, defaults.body_timeout)?,
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            shrink_on_load,
            api_keys,
            load,
            url_fetch: crate::UrlFetch {
                allow: self.url_allow.clone(),
                max_bytes: max_body_bytes as u64,
                timeout: Duration::from_secs(self.timeout.clamp(1, 30)),
                allow_loopback: self.url_allow_loopback,
            },
            ..defaults
        };
        Ok(cfg)
    }
}

/// Serves `router` on `addr` until Ctrl-C or SIGTERM, on a runtime of its own: prints `listening on http://ADDR`
/// on stdout (what scripts and tests wait for), then `describe(address, limits)` on stderr (a one-line summary).
pub fn serve_blocking(
    addr: std::net::SocketAddr,
    cfg: &crate::ServeConfig,
    router: axum::Router,
    describe: impl FnOnce(std::net::SocketAddr, &crate::Limits) -> String,
) -> Result<(), ServeError> {
    use std::io::Write as _;
    let io = |addr: String| move |source| ServeError::Io { addr, source };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(io(addr.to_string()))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(io(addr.to_string()))?;
        let local = listener.local_addr().map_err(io(addr.to_string()))?;
        // A closed stdout only loses the line.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on http://{local}").and_then(|()| stdout.flush());
        drop(stdout);
        let limits = crate::Limits::new(cfg)?;
        eprintln!("{}", describe(local, &limits));
        crate::serve(listener, router, cfg, shutdown_signal()).await
    })
}

/// The one-line summary a server prints at start: address, what it serves, keys, admission and connection limits.
/// `serving`: what is loaded (model, Face API store); `mode`: the pipeline mode's name.
pub fn banner(
    local: std::net::SocketAddr,
    cfg: &crate::ServeConfig,
    limits: &crate::Limits,
    serving: &str,
    mode: &str,
) -> String {
    format!(
        "issc serve: http://{local}/ · {serving} · {} API key(s) · {} slots + up to {} queued (expected wait ≤ {:.1} s) \
         · body ≤ {} MiB · ≤ {} connections (ulimit -n {}) · {mode} mode{}",
        cfg.api_keys.len(),
        cfg.max_concurrency,
        cfg.max_queue,
        cfg.max_wait.as_secs_f64(),
        cfg.max_body_bytes / (1024 * 1024),
        limits.max_connections,
        limits.open_files.map_or_else(|| "unlimited".to_string(), |n| n.to_string()),
        if cfg.shrink_on_load { ", shrink-on-load" } else { "" }
    )
}
