//! `issc serve`: the exported model behind HTTP (see the `issc-serve` crate).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use issc_serve::startup::ServeSettings;
use issc_serve::{Model, ServeConfig};

use crate::cli::{Context, DetectorArgs, in_flags};

/// `issc serve` flags.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Model folder written by `issc export` (without it, /predict answers 503).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Also speak the Azure AI Face REST API (v1.2) under /face/v1.2/…, keeping its large person groups, persons,
    /// faces and face lists in this folder (created if missing; SQLite, crash-safe), or in PostgreSQL with pgvector
    /// when given a postgres:// or postgresql:// URL (builds with `--features postgres`; several servers may share
    /// it; put the password in PGPASSWORD rather than in the URL). Without --model, only the Face API and health
    /// routes work.
    #[arg(long, value_name = "DIR|URL")]
    pub store: Option<PathBuf>,
    /// With a PostgreSQL store: a large person group or large face list of at least this many trained faces is
    /// searched from a snapshot of its faces in this server's memory (about 150 bytes per face, loaded after each
    /// training), the best candidates re-scored exactly from the database: the exact
    /// answer, about 7 ms at 1,000,000 faces instead of 0.7 s for the scan in the database. 0: always in the
    /// database.
    #[arg(long, value_name = "N", default_value_t = issc_serve::startup::StoreSearch::default().pg_memory_min_faces)]
    pub pg_memory_min_faces: usize,
    /// With a PostgreSQL store and --pg-memory-min-faces 0: a collection of at least this many faces gets a
    /// pgvector HNSW index when trained (built CONCURRENTLY, minutes per million faces), searched approximately,
    /// its candidates re-scored exactly; 0: none.
    #[arg(long, value_name = "N", default_value_t = issc_serve::startup::StoreSearch::default().pg_hnsw_min_faces)]
    pub pg_hnsw_min_faces: usize,
    /// With a pgvector HNSW index: candidate faces its search returns for exact re-scoring (hnsw.ef_search). More:
    /// closer to the exact answer, slower (100: hit@1 0.997 at 100,000 faces, 2.5 ms; at 1,000,000 faces 0.69,
    /// and 1.0 only at 1000, 41 ms).
    #[arg(long, value_name = "N", default_value_t = issc_serve::startup::StoreSearch::default().pg_ef_search, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pg_ef_search: u32,
    /// With a store folder: a large person group or large face list of at least this many faces is searched
    /// through an in-memory HNSW graph, built in the background after each training (and after a restart), its
    /// candidates re-scored exactly; 0 keeps every search exact. Approximate (hit@1 0.99 against the
    /// exact int8 scan at 100,000 faces, which takes 1.2 ms on one core), and several times faster.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub hnsw_min_faces: usize,
    /// Most transient faceIds (from /face/…/detect) kept at once, each until its TTL (then detect answers 429 with
    /// Retry-After); about 0.6 KiB each. With a PostgreSQL store the count is shared by every replica.
    #[arg(long, value_name = "N", default_value_t = issc_serve::startup::DEFAULT_MAX_FACE_IDS)]
    pub max_face_ids: usize,
    /// Most faces labelled per photo by /predict, the largest kept (Azure's detect keeps 100 too); the answer's
    /// `faces_detected` / `faces_dropped` say when some were dropped. Bounds memory per request.
    #[arg(long, value_name = "N", default_value_t = issc_predict::DEFAULT_MAX_FACES as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_faces: u32,
    /// Address to listen on. A non-loopback address needs API keys in ISSC_API_KEYS.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Largest request body (the photo), in MiB.
    #[arg(long, value_name = "MB", default_value_t = ServeConfig::default().max_body_bytes / (1024 * 1024))]
    pub max_body_mb: usize,
    /// Photos analysed at once [default: number of cores].
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<usize>,
    /// Most requests waiting for a free slot; beyond that the server answers 503 with Retry-After
    /// [default: 256 x max-concurrency].
    #[arg(long, value_name = "N")]
    pub max_queue: Option<usize>,
    /// Most MiB of photos the requests in the server may hold (each counts its Content-Length, or --max-body-mb
    /// without one); beyond that, 503 with Retry-After. Bounds memory whatever the number of clients.
    #[arg(long, value_name = "MB", default_value_t = ServeConfig::default().max_queue_bytes / (1024 * 1024))]
    pub max_queue_mb: usize,
    /// Longest expected wait a request is admitted with, in seconds: the requests ahead of it x the recent time
    /// per photo / slots. Beyond it the server answers 503 at once (before reading the photo) with Retry-After set
    /// to that wait [default: half of --timeout].
    #[arg(long, value_name = "S")]
    pub max_wait: Option<f64>,
    /// Time limit per request, queueing included, in seconds.
    #[arg(long, value_name = "S", default_value_t = ServeConfig::default().request_timeout.as_secs())]
    pub timeout: u64,
    /// Seconds a client has to send a request line and its headers, counted from the connection's opening (first
    /// request) or from the first byte of a later request; a slower client (one byte a second…) is disconnected
    /// [default: 10].
    #[arg(long, value_name = "S")]
    pub header_timeout: Option<f64>,
    /// Seconds a kept-alive connection may wait for its next request before the server closes it. Keep it longer
    /// than the idle timeout of a load balancer in front (60 s for most), so that the balancer closes first
    /// [default: 75].
    #[arg(long, value_name = "S")]
    pub idle_timeout: Option<f64>,
    /// Seconds a request body (the photo) has to arrive in full; slower uploads are answered 408 [default: 30].
    #[arg(long, value_name = "S")]
    pub body_timeout: Option<f64>,
    /// Most connections open at once, kept below the open-file limit (ulimit -n) with room for the model and the
    /// store. At the limit the oldest idle connection is closed to make room; when none is idle a few more are
    /// served one request each: GET /healthz answers, anything else 503 with Retry-After [default: 4096].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Allow /predict_json {"url"} for this host (repeat; `*.example.com` for subdomains, `*` for any public
    /// host). Private, loopback and link-local addresses are always refused.
    #[arg(long = "url-allow", value_name = "HOST")]
    pub url_allow: Vec<String>,
    /// Development only: also allow URLs resolving to loopback addresses.
    #[arg(long, hide = true)]
    pub url_allow_loopback: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

impl ServeArgs {
    /// Defaults for serving `model` on `addr`.
    /// `issc serve --model MODEL --addr ADDR` with every other flag at its default (what `issc run --serve` runs).
    pub fn for_model(model: PathBuf, addr: SocketAddr) -> Self {
        use clap::FromArgMatches as _;
        let cmd = Self::augment_args(clap::Command::new("serve").no_binary_name(true));
        let args = [OsString::from("--model"), model.into_os_string(), "--addr".into(), addr.to_string().into()];
        let matches = cmd.get_matches_from(args);
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

impl ServeArgs {
    /// The library's settings from these flags.
    fn settings(&self) -> ServeSettings {
        ServeSettings {
            max_body_mb: self.max_body_mb,
            max_concurrency: self.max_concurrency,
            max_queue: self.max_queue,
            max_queue_mb: self.max_queue_mb,
            max_wait: self.max_wait,
            timeout: self.timeout,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            body_timeout: self.body_timeout,
            max_connections: self.max_connections,
            url_allow: self.url_allow.clone(),
            url_allow_loopback: self.url_allow_loopback,
        }
    }
}

/// `issc serve`.
pub fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let keys = issc_serve::startup::api_keys(&std::env::var("ISSC_API_KEYS").unwrap_or_default());
    let cfg = args.settings().config(keys, ctx.load, ctx.shrink_on_load).map_err(in_flags)?;
    issc_serve::check_bind(&args.addr, &cfg).map_err(in_flags)?;
    let (model, missing) = match &args.model {
        Some(dir) => {
            ctx.engine()?;
            let predictor = issc_predict::Predictor::open_with_mode(dir, ctx.mode)
                .with_context(|| format!("cannot load the model in {}", dir.display()))?
                .with_max_faces(args.max_faces as usize);
            let detector = ctx.pipeline(0.0, false)?.into_detector();
            let card = predictor.card();
            tracing::info!(
                "model {} ({} labels, sha256 {}; {})",
                dir.display(),
                card.labels.len(),
                &card.model.sha256[..16],
                if predictor.int8() { "run in int8, one face per call" } else { "run as exported" }
            );
            (Some(Model { predictor, detector }), String::new())
        }
        None => (None, "no model loaded: start the server with --model DIR (a folder written by `issc export`)".into()),
    };
    let face_api = match &args.store {
        Some(dir) => {
            let pipeline = ctx.pipeline(0.0, true)?;
            let dim = pipeline.embedder().map_or(issc_detect::SFACE_DIM, |e| e.dim());
            let search = issc_serve::startup::StoreSearch {
                pg_memory_min_faces: args.pg_memory_min_faces,
                pg_hnsw_min_faces: args.pg_hnsw_min_faces,
                pg_ef_search: args.pg_ef_search,
                hnsw_min_faces: args.hnsw_min_faces,
            };
            let store = issc_serve::startup::open_store(dir, dim, search).map_err(in_flags)?;
            let landmarks = match issc_detect::FaceMesh::new(ctx.models()?) {
                Ok(mesh) => Some(Arc::new(mesh)),
                Err(e) => {
                    tracing::warn!(
                        "detect answers 5 landmarks instead of 27: {e} (copy models/{} from isshesarahconnor)",
                        issc_detect::models::FACE_MESH.file
                    );
                    None
                }
            };
            let mask = match issc_detect::MaskClassifier::new(ctx.models()?) {
                Ok(m) => Some(Arc::new(m)),
                Err(e) => {
                    tracing::warn!(
                        "returnFaceAttributes=mask answers 400: {e} (copy models/{} from isshesarahconnor)",
                        issc_detect::models::FACE_MASK.file
                    );
                    None
                }
            };
            Some(issc_serve::FaceApi {
                store,
                pipeline: Arc::new(pipeline),
                landmarks,
                mask,
                max_face_ids: args.max_face_ids,
            })
        }
        None => None,
    };
    let store = match &args.store {
        Some(d) => format!("Face API on /face/v1.2 (store {})", issc_store::redact_url(&d.to_string_lossy())),
        None => "no Face API (--store)".to_string(),
    };
    let loaded = if model.is_some() { "model loaded" } else { "no model" };
    let router = issc_serve::router_with_face_api(cfg.clone(), model, missing, face_api);
    let serving = format!("{loaded} · {store}");
    let mode = ctx.mode.to_string();
    issc_serve::startup::serve_blocking(args.addr, &cfg, router, |local, limits| {
        issc_serve::startup::banner(local, &cfg, limits, &serving, &mode)
    })
    .map_err(in_flags)?;
    Ok(ExitCode::SUCCESS)
}
