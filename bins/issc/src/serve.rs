//! `issc serve`: the exported model behind HTTP (see the `issc-serve` crate).

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use issc_serve::{Model, ServeConfig, UrlFetch};

use crate::cli::{Context, DetectorArgs};

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

/// `--NAME S` in seconds, or `default`; a positive finite number.
fn seconds(name: &str, value: Option<f64>, default: Duration) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => anyhow::bail!("--{name} {s}: must be a number of seconds > 0 (at most 86400)"),
    }
}

/// `issc serve`.
pub fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let defaults = ServeConfig::default();
    let max_concurrency = args.max_concurrency.unwrap_or(defaults.max_concurrency);
    let cfg = ServeConfig {
        max_body_bytes: args.max_body_mb.saturating_mul(1024 * 1024),
        max_concurrency,
        max_queue: args.max_queue.unwrap_or(256 * max_concurrency),
        max_queue_bytes: args.max_queue_mb.saturating_mul(1024 * 1024),
        max_wait: match args.max_wait {
            Some(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s.min(args.timeout as f64)),
            Some(s) => anyhow::bail!("--max-wait {s}: must be a number of seconds >= 0"),
            None => Duration::from_secs(args.timeout.max(1)) / 2,
        },
        request_timeout: Duration::from_secs(args.timeout.max(1)),
        header_timeout: seconds("header-timeout", args.header_timeout, defaults.header_timeout)?,
        idle_timeout: seconds("idle-timeout", args.idle_timeout, defaults.idle_timeout)?,
        body_timeout: seconds("body-timeout", args.body_timeout, defaults.body_timeout)?,
        max_connections: args.max_connections.unwrap_or(defaults.max_connections),
        shrink_on_load: ctx.shrink_on_load,
        api_keys: issc_serve::startup::api_keys(&std::env::var("ISSC_API_KEYS").unwrap_or_default()),
        load: ctx.load,
        url_fetch: UrlFetch {
            allow: args.url_allow.clone(),
            max_bytes: (args.max_body_mb.saturating_mul(1024 * 1024)) as u64,
            timeout: Duration::from_secs(args.timeout.clamp(1, 30)),
            allow_loopback: args.url_allow_loopback,
        },
        ..defaults
    };
    issc_serve::check_bind(&args.addr, &cfg)?;
    let (model, missing) = match &args.model {
        Some(dir) => {
            ctx.engine()?;
            let predictor = issc_predict::Predictor::open(dir)
                .with_context(|| format!("cannot load the model in {}", dir.display()))?
                .with_max_faces(args.max_faces as usize);
            let pipeline = ctx.pipeline(0.0, false)?;
            let detector = pipeline.into_detector();
            tracing::info!(
                "model {} ({} labels, sha256 {})",
                dir.display(),
                predictor.card().labels.len(),
                &predictor.card().model.sha256[..16]
            );
            (Some(Model { predictor, detector }), String::new())
        }
        None => (None, "no model loaded: start the server with --model DIR (a folder written by `issc export`)".into()),
    };
    let face_api = match &args.store {
        Some(dir) => {
            let pipeline = ctx.pipeline(0.0, true)?;
            let dim = pipeline.embedder().map_or(issc_detect::SFACE_DIM, |e| e.dim());
            let store = issc_serve::startup::open_store(dir, dim)?;
            Some(issc_serve::FaceApi {
                store,
                pipeline: std::sync::Arc::new(pipeline),
                max_face_ids: args.max_face_ids,
            })
        }
        None => None,
    };
    let keys = cfg.api_keys.len();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let local = listener.local_addr()?;
        println!("listening on http://{local}");
        std::io::stdout().flush()?;
        let conns = issc_serve::Limits::new(&cfg)?;
        eprintln!(
            "issc serve: http://{local}/ · {} · {} · {} API key(s) · {} slots + up to {} queued (expected wait ≤ {:.1} s) \
             · body ≤ {} MiB · ≤ {} connections (ulimit -n {}) · {} mode{}",
            if args.model.is_some() { "model loaded" } else { "no model" },
            match &args.store {
                Some(d) => format!("Face API on /face/v1.2 (store {})", issc_store::redact_url(&d.to_string_lossy())),
                None => "no Face API (--store)".to_string(),
            },
            keys,
            cfg.max_concurrency,
            cfg.max_queue,
            cfg.max_wait.as_secs_f64(),
            args.max_body_mb,
            conns.max_connections,
            conns.open_files.map_or_else(|| "unlimited".to_string(), |n| n.to_string()),
            ctx.mode,
            if cfg.shrink_on_load { ", shrink-on-load" } else { "" }
        );
        let router = issc_serve::router_with_face_api(cfg.clone(), model, missing, face_api);
        issc_serve::serve(listener, router, &cfg, issc_serve::startup::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
