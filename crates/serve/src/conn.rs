//! Connections: the accept loop, its timeouts and its limit.
//!
//! `axum::serve` has no timeout on reading a request's headers nor on an idle kept-alive connection, and no limit
//! on connections: a client sending one byte a second holds a connection for ever, and a crowd of idle connections
//! exhausts the process's file descriptors so that nobody, not even a health probe, is answered. Here each
//! connection is served by hyper's HTTP/1 server under a small watchdog that knows, from the socket and the
//! service, which phase the connection is in:
//!
//! - **waiting** for a request: a new connection must deliver its first request line and headers within the
//!   header timeout of being accepted; a kept-alive connection must start its next request (its first byte) within
//!   the idle timeout of the last answer, and finish its headers within the header timeout of that byte. Past a
//!   deadline the connection is closed (no answer: the request never arrived).
//! - **serving** a request: the body has the body timeout (read by the handlers, answered 408) and the work the
//!   request timeout (503); once the answer is handed to hyper, it must reach the client within 60 s
//!   ([`WRITE_TIMEOUT`]: a client that stops reading is closed).
//!
//! **The limit.** At most [`Limits::max_connections`] connections are served normally, a number kept below the
//! process's soft open-file limit (`RLIMIT_NOFILE`, `ulimit -n`) with room left for the model, the store, outgoing
//! fetches and the runtime. A connection accepted at the limit first closes the oldest *idle* connection (one that
//! has sent no byte of a request since its last answer, or none at all since it opened: closing it loses nothing,
//! and HTTP clients retry a request on a kept-alive connection that closed) and takes its place. When every
//! connection is busy (serving, or in the middle of sending headers), up to [`Limits::over_limit`] more are accepted
//! and served one request each, with a short header timeout and `Connection: close`: `GET /healthz` is answered as
//! usual, anything else 503 `TooManyConnections` with `Retry-After` (429 in Azure's form on the Face API). Beyond
//! those the connection is closed as soon as it is accepted. So a health probe is answered whatever idle or slow
//! clients hold, unless more than `max_connections + over_limit` clients are all mid-request at once.
//!
//! **Errors hyper answers itself.** A request whose line or headers cannot be parsed (too large, too many headers,
//! malformed) never reaches the router: hyper answers 400/414/431 with an empty body and closes. The socket
//! wrapper recognises that answer (a response written while no request is being served) and sends the server's
//! JSON error instead, in Azure's form (with `x-ms-error-code`) when the request line names a `/face/` path.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::{ServeConfig, ServeError};

/// Most header fields in one request (more: 431).
pub(crate) const MAX_HEADERS: usize = 100;
/// Most bytes of a request line and its headers together (more: 431). Also hyper's read buffer per connection.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest request target (path and query) answered (longer: 414).
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;
/// Header timeout of a connection accepted over the limit.
const OVER_LIMIT_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// File descriptors left to the rest of the process at least: the model and detector files, the store (SQLite and
/// its WAL, or PostgreSQL connections), outgoing URL fetches, the runtime, stdio and the listener.
const FD_HEADROOM: u64 = 64;
/// Bytes of a request's start kept to tell a Face API path from another.
const HEAD_PREFIX: usize = 32;
/// After a JSON answer to an unparsable request, how long and how much of what the client still sends is read
/// and dropped before closing: closing with unread bytes resets the connection, and the client may lose the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// The connection settings in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to deliver a request line and headers.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections served normally.
    pub max_connections: usize,
    /// Connections accepted beyond `max_connections` when none is idle, one request each.
    pub over_limit: usize,
    /// The soft open-file limit the numbers were derived from (`None`: unlimited or unknown).
    pub open_files: Option<u64>,
}

impl Limits {
    /// The limits for `cfg` under this process's open-file limit.
    pub fn new(cfg: &ServeConfig) -> Result<Self, ServeError> {
        Self::with_open_files(cfg, open_file_limit())
    }

    /// The limits for `cfg` under a soft open-file limit of `open_files` (`None`: unlimited).
    ///
    /// A tenth of the descriptors (at least 64) are left to the rest of the process; of the others, one
    /// sixteenth (4 to 64) is kept for connections over the limit, twice (a connection accepted at the limit counts
    /// until the idle one it replaces has closed), and the rest caps `max_connections`.
    pub fn with_open_files(cfg: &ServeConfig, open_files: Option<u64>) -> Result<Self, ServeError> {
        for (name, d) in [("header_timeout", cfg.header_timeout), ("idle_timeout", cfg.idle_timeout)] {
            if d.is_zero() || d > MAX_TIMEOUT {
                return Err(ServeError::Config(format!(
                    "serve setting {name} must be more than 0 seconds and at most a day"
                )));
            }
        }
        if cfg.max_connections == 0 {
            return Err(ServeError::Config("serve setting max_connections must be at least 1".into()));
        }
        let (max_connections, over_limit) = match open_files {
            None => (cfg.max_connections, 64),
            Some(soft) => {
                let budget = soft.saturating_sub(FD_HEADROOM.max(soft / 10));
                let over = (budget / 16).clamp(4, 64);
                let room = usize::try_from(budget.saturating_sub(2 * over)).unwrap_or(usize::MAX);
                if room < 8 {
                    return Err(ServeError::Config(format!(
                        "the open-file limit of this process (ulimit -n) is {soft}: too low to serve connections \
                         with room for the model and store; raise it, e.g. `ulimit -n 4096`"
                    )));
                }
                (cfg.max_connections.min(room), usize::try_from(over).unwrap_or(64))
            }
        };
        Ok(Self {
            header_timeout: cfg.header_timeout,
            idle_timeout: cfg.idle_timeout,
            max_connections,
            over_limit,
            open_files,
        })
    }
}

/// The soft `RLIMIT_NOFILE`, `None` when unlimited (or not a Unix).
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Why the server closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The header timeout passed.
    Header,
    /// The idle timeout passed.
    Idle,
    /// The answer did not reach the client in time.
    Write,
}

/// Time for an answer handed to hyper to reach the client: a client that stops reading cannot hold its connection
/// (and so a slot, and graceful shutdown) beyond it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest header or idle timeout accepted (a day): longer is surely a mistake, and `Instant` arithmetic must not
/// overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request: since the connection opened (`kept_alive` false) or its last answer was sent;
    /// `first_byte`: when the request's first byte came.
    Waiting { since: Instant, first_byte: Option<Instant>, kept_alive: bool },
    /// A request is being served; `answered`: since when its answer's body has been handed over in full.
    Serving { answered: Option<Instant> },
}

/// One connection, as its watchdog, its socket and its service see it.
#[derive(Debug)]
struct Conn {
    over_limit: bool,
    phase: Mutex<Phase>,
    /// Requests handed to the router so far.
    requests: AtomicU64,
    /// The phase changed or an eviction was asked: the watchdog looks again.
    changed: Notify,
    /// Close when idle (the limit needs its place).
    evict: AtomicBool,
}

impl Conn {
    fn new(over_limit: bool) -> Self {
        Self {
            over_limit,
            phase: Mutex::new(Phase::Waiting { since: Instant::now(), first_byte: None, kept_alive: false }),
            requests: AtomicU64::new(0),
            changed: Notify::new(),
            evict: AtomicBool::new(false),
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Change the phase with `f` (which says whether it changed anything) and wake the watchdog if so.
    fn update(&self, f: impl FnOnce(&mut Phase) -> bool) {
        let changed = f(&mut self.phase.lock().unwrap_or_else(PoisonError::into_inner));
        if changed {
            self.changed.notify_one();
        }
    }

    /// Bytes came in; true when they belong to a request not yet handed to the router.
    fn bytes_read(&self) -> bool {
        let mut waiting = false;
        self.update(|p| match p {
            Phase::Waiting { first_byte: first @ None, .. } => {
                waiting = true;
                *first = Some(Instant::now());
                true
            }
            Phase::Waiting { .. } => {
                waiting = true;
                false
            }
            Phase::Serving { .. } => false,
        });
        waiting
    }

    fn waiting(&self) -> bool {
        matches!(self.phase(), Phase::Waiting { .. })
    }

    fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.update(|p| {
            *p = Phase::Serving { answered: None };
            true
        });
    }

    fn answered(&self) {
        self.update(|p| {
            if let Phase::Serving { answered: answered @ None } = p {
                *answered = Some(Instant::now());
            }
            false
        });
    }

    /// The socket was flushed: once the answer's body was handed over, it is all written, and the connection waits
    /// for its next request.
    fn flushed(&self) {
        self.update(|p| match p {
            Phase::Serving { answered: Some(_) } => {
                *p = Phase::Waiting { since: Instant::now(), first_byte: None, kept_alive: true };
                true
            }
            _ => false,
        });
    }

    /// When the connection is to be closed, and why, unless a request comes first.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Closed)> {
        let header =
            if self.over_limit { limits.header_timeout.min(OVER_LIMIT_HEADER_TIMEOUT) } else { limits.header_timeout };
        match self.phase() {
            Phase::Serving { answered: None } => None,
            Phase::Serving { answered: Some(t) } => Some((t + WRITE_TIMEOUT, Closed::Write)),
            Phase::Waiting { since, kept_alive: false, .. } => Some((since + header, Closed::Header)),
            Phase::Waiting { since, first_byte: None, .. } => Some((since + limits.idle_timeout, Closed::Idle)),
            Phase::Waiting { first_byte: Some(t), .. } => Some((t + header, Closed::Header)),
        }
    }

    /// Since when the connection has been idle (no byte of a request), if it is and may be closed for a new one.
    fn idle_since(&self) -> Option<Instant> {
        if self.over_limit || self.evict.load(Ordering::Acquire) {
            return None;
        }
        match self.phase() {
            Phase::Waiting { since, first_byte: None, .. } => Some(since),
            _ => None,
        }
    }
}

/// What the accept loop decided for a new connection.
enum Admit {
    Normal,
    OverLimit,
    Refused,
}

/// State shared by the accept loop, the connections and `/metrics`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: Limits,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    normal: AtomicUsize,
    over: AtomicUsize,
    accepted: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    write_timeouts: AtomicU64,
    evicted: AtomicU64,
    over_limit_served: AtomicU64,
    refused: AtomicU64,
    /// Requests hyper could not parse, by the status answered.
    malformed: Mutex<BTreeMap<u16, u64>>,
}

impl Shared {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            normal: AtomicUsize::new(0),
            over: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
            idle_timeouts: AtomicU64::new(0),
            write_timeouts: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            over_limit_served: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            malformed: Mutex::new(BTreeMap::new()),
        }
    }

    /// A place for a new connection: a normal one (closing the oldest idle one at the limit), one over the limit,
    /// or none.
    fn admit(&self) -> Admit {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let normal = self.normal.load(Ordering::Acquire);
        let max = self.limits.max_connections;
        // While replaced idle connections are closing, up to `over_limit` more may be open.
        if normal < max || (normal < max + self.limits.over_limit && self.evict_oldest_idle()) {
            self.normal.fetch_add(1, Ordering::AcqRel);
            Admit::Normal
        } else if self.over.load(Ordering::Acquire) < self.limits.over_limit {
            self.over.fetch_add(1, Ordering::AcqRel);
            self.over_limit_served.fetch_add(1, Ordering::Relaxed);
            Admit::OverLimit
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Admit::Refused
        }
    }

    /// Ask the connection idle the longest to close; false when none is idle.
    fn evict_oldest_idle(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = conns.values().filter_map(|c| c.idle_since().map(|t| (t, c))).min_by_key(|(t, _)| *t);
        match oldest {
            Some((_, c)) => {
                c.evict.store(true, Ordering::Release);
                c.changed.notify_one();
                self.evicted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn register(&self, conn: Arc<Conn>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).insert(id, conn);
        id
    }

    fn unregister(&self, id: u64, over_limit: bool) {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        if over_limit {
            self.over.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.normal.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn closed(&self, why: Closed) {
        match why {
            Closed::Header => &self.header_timeouts,
            Closed::Idle => &self.idle_timeouts,
            Closed::Write => &self.write_timeouts,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    fn malformed(&self, status: u16) {
        *self.malformed.lock().unwrap_or_else(PoisonError::into_inner).entry(status).or_insert(0) += 1;
    }

    /// The connection metrics, in Prometheus text.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let l = &self.limits;
        out.push_str("# HELP issc_http_connections_open Open connections (over_limit: accepted beyond the limit).\n");
        out.push_str("# TYPE issc_http_connections_open gauge\n");
        let _ = writeln!(out, "issc_http_connections_open{{kind=\"normal\"}} {}", self.normal.load(Ordering::Relaxed));
        let _ =
            writeln!(out, "issc_http_connections_open{{kind=\"over_limit\"}} {}", self.over.load(Ordering::Relaxed));
        out.push_str("# HELP issc_http_connections_limit Connections served normally at most (max_connections, ");
        out.push_str("kept below the open-file limit).\n");
        out.push_str("# TYPE issc_http_connections_limit gauge\n");
        let _ = writeln!(out, "issc_http_connections_limit {}", l.max_connections);
        out.push_str("# HELP issc_http_connections_total Connections accepted.\n");
        out.push_str("# TYPE issc_http_connections_total counter\n");
        let _ = writeln!(out, "issc_http_connections_total {}", self.accepted.load(Ordering::Relaxed));
        out.push_str(
            "# HELP issc_http_connections_closed_total Connections the server closed or refused, by reason.\n",
        );
        out.push_str("# TYPE issc_http_connections_closed_total counter\n");
        for (reason, n) in [
            ("header_timeout", &self.header_timeouts),
            ("idle_timeout", &self.idle_timeouts),
            ("write_timeout", &self.write_timeouts),
            ("idle_replaced", &self.evicted),
            ("refused_over_limit", &self.refused),
        ] {
            let _ = writeln!(
                out,
                "issc_http_connections_closed_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP issc_http_connections_over_limit_total Connections served one request beyond the limit.\n",
        );
        out.push_str("# TYPE issc_http_connections_over_limit_total counter\n");
        let _ =
            writeln!(out, "issc_http_connections_over_limit_total {}", self.over_limit_served.load(Ordering::Relaxed));
        out.push_str("# HELP issc_http_malformed_requests_total Requests whose line or headers could not be parsed.\n");
        out.push_str("# TYPE issc_http_malformed_requests_total counter\n");
        for (status, n) in self.malformed.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "issc_http_malformed_requests_total{{status=\"{status}\"}} {n}");
        }
    }
}

/// What the handlers learn about the connection a request came on (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// Accepted beyond the connection limit: only `/healthz` is served.
    pub(crate) over_limit: bool,
    pub(crate) shared: Arc<Shared>,
}

/// Serve `router` on `listener` under `limits` until `shutdown` resolves; then stop accepting, let every
/// connection finish the request it is serving, and return once all are closed.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shared = Arc::new(Shared::new(limits));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a receiver; `closed()` resolves once all have ended.
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(&shared, &e).await;
                continue;
            }
        };
        let over_limit = match shared.admit() {
            Admit::Normal => false,
            Admit::OverLimit => true,
            Admit::Refused => {
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Conn::new(over_limit));
        let id = shared.register(conn.clone());
        let (router, shared, stop, done) = (router.clone(), shared.clone(), stop_rx.clone(), done_rx.clone());
        tokio::spawn(async move {
            // Unregistered when the task ends, even by a panic in a handler: a slot is never lost.
            let _registered = Registered { shared: shared.clone(), id, over_limit };
            serve_connection(stream, router, &shared, conn, stop).await;
            drop(done);
        });
    }
    drop(listener);
    drop(done_rx);
    let _ = stop_tx.send(true);
    done_tx.closed().await;
}

/// A connection's place in [`Shared`], given back when dropped.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
    over_limit: bool,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.unregister(self.id, self.over_limit);
    }
}

/// An error accepting: out of file descriptors (the limit keeps connections below it, but the rest of the process
/// may take more) frees one by closing the oldest idle connection and waits a little; a connection that failed
/// before it was accepted is skipped.
async fn accept_failed(shared: &Shared, e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    #[cfg(unix)]
    let out_of_files =
        matches!(rustix::io::Errno::from_io_error(e), Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE));
    #[cfg(not(unix))]
    let out_of_files = false;
    if out_of_files {
        let freed = shared.evict_oldest_idle();
        tracing::warn!(
            "cannot accept a connection: {e} (the open-file limit, ulimit -n, is reached); {}",
            if freed { "closing the oldest idle connection" } else { "no idle connection to close; retrying" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        tracing::error!("cannot accept a connection: {e}; retrying in 1 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Serve one connection until it closes, the watchdog closes it, or shutdown has let it finish.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    shared: &Arc<Shared>,
    conn: Arc<Conn>,
    mut stop: watch::Receiver<bool>,
) {
    let info = ConnInfo { over_limit: conn.over_limit, shared: shared.clone() };
    let io = TokioIo::new(ConnIo::new(stream, conn.clone(), shared.clone()));
    let served_conn = conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let (mut router, conn, info) = (router.clone(), served_conn.clone(), info.clone());
        async move {
            conn.request_started();
            req.extensions_mut().insert(info);
            let resp = match tower_service::Service::call(&mut router, req).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            let (mut parts, body) = resp.into_parts();
            if conn.over_limit {
                parts.headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(Response::from_parts(parts, Body::new(Answered { inner: body, conn })))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(!conn.over_limit)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let served = builder.serve_connection(io, service);
    let mut served = std::pin::pin!(served);
    let mut closing = false;
    loop {
        let deadline = conn.deadline(&shared.limits);
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = sleep_until(deadline.map(|(t, _)| t)) => {
                // Still waiting for the same request at its deadline: close (dropping the connection).
                if let Some((t, why)) = conn.deadline(&shared.limits)
                    && t <= Instant::now()
                {
                    shared.closed(why);
                    return;
                }
            }
            () = conn.changed.notified() => {}
            _ = stop.changed(), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
        }
        if !closing && conn.evict.load(Ordering::Acquire) {
            // Closes at once when idle; otherwise after the request that has just begun.
            closing = true;
            served.as_mut().graceful_shutdown();
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// An answer's body that tells its connection when hyper has taken all of it (dropped it).
struct Answered {
    inner: Body,
    conn: Arc<Conn>,
}

impl Drop for Answered {
    fn drop(&mut self) {
        self.conn.answered();
    }
}

impl http_body::Body for Answered {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling its connection when request bytes arrive and when answers are flushed, and putting the
/// server's JSON error in place of hyper's empty automatic answer to an unparsable request.
struct ConnIo {
    stream: TcpStream,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    /// The first bytes of the request being read, and the request count when they were taken.
    head: Vec<u8>,
    head_of: u64,
    /// The JSON answer replacing hyper's, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
    /// After that answer: the write side is shut, the lingering read's deadline and bytes read.
    shut: bool,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
    drained: usize,
}

impl ConnIo {
    fn new(stream: TcpStream, conn: Arc<Conn>, shared: Arc<Shared>) -> Self {
        Self {
            stream,
            conn,
            shared,
            head: Vec::with_capacity(HEAD_PREFIX),
            head_of: 0,
            answer: None,
            shut: false,
            linger: None,
            drained: 0,
        }
    }

    /// `buf` is what hyper writes; when it is hyper's own answer to a request it could not parse, take our
    /// answer instead.
    fn take_automatic(&mut self, buf: &[u8]) -> bool {
        if self.answer.is_some() {
            return true;
        }
        if !self.conn.waiting() {
            return false;
        }
        let Some(status) = automatic_status(buf) else { return false };
        self.shared.malformed(status.as_u16());
        self.answer = Some((error_answer(status, is_face_path(&self.head)), 0));
        true
    }

    /// Write what is left of our answer.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((bytes, written)) = &mut self.answer {
            while *written < bytes.len() {
                let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        if !new.is_empty() && this.conn.bytes_read() {
            let n = this.conn.requests.load(Ordering::Acquire);
            if this.head_of != n {
                this.head.clear();
                this.head_of = n;
            }
            let room = HEAD_PREFIX.saturating_sub(this.head.len());
            this.head.extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.take_automatic(buf) {
            if let Poll::Ready(Err(e)) = this.poll_answer(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if !first.is_empty() && this.take_automatic(first) {
            if let Poll::Ready(Err(e)) = this.poll_answer(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
        this.conn.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        if this.answer.is_none() {
            return Pin::new(&mut this.stream).poll_shutdown(cx);
        }
        // Our answer is out: send FIN, then read what the client still sends (the rest of its request) for a
        // moment, so that the close does not reset the connection before the client has read the answer.
        if !this.shut {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            this.shut = true;
        }
        let linger = this.linger.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
        let mut scratch = [0u8; 8192];
        loop {
            if linger.as_mut().poll(cx).is_ready() || this.drained > LINGER_BYTES {
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if !rb.filled().is_empty() => this.drained += rb.filled().len(),
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The status of hyper's automatic answer in `buf` (`HTTP/1.1 431 …`): only a client error can be one.
fn automatic_status(buf: &[u8]) -> Option<StatusCode> {
    let rest = buf.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    let status = StatusCode::from_bytes(code).ok()?;
    (rest.get(1) == Some(&b' ') && status.is_client_error()).then_some(status)
}

/// Whether a request starting with `head` (`METHOD /face/…`) is for the Face API.
fn is_face_path(head: &[u8]) -> bool {
    head.iter()
        .position(|&b| b == b' ')
        .and_then(|i| head.get(i + 1..))
        .is_some_and(|target| target.starts_with(b"/face/"))
}

/// The whole HTTP answer, with a JSON error body, to a request hyper could not parse.
fn error_answer(status: StatusCode, face: bool) -> Vec<u8> {
    let (code, message) = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "RequestHeaderFieldsTooLarge",
            format!(
                "the request's headers are too large: at most {MAX_HEADERS} header fields and {} KiB for the \
                 request line and headers together; send fewer or smaller headers (large cookies?)",
                MAX_HEAD_BYTES / 1024
            ),
        ),
        StatusCode::URI_TOO_LONG => (
            "UriTooLong",
            format!(
                "the request's URI is too long (at most {MAX_URI_BYTES} bytes): send large data in the request body"
            ),
        ),
        _ => (
            if face { "BadArgument" } else { "BadRequest" },
            format!(
                "the request is not valid HTTP/1.1 ({status}): its request line or a header could not be parsed; \
                 send `METHOD /path HTTP/1.1` and `Name: value` headers, each line ending in CRLF"
            ),
        ),
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let ms_code = if face { format!("x-ms-error-code: {code}\r\n") } else { String::new() };
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{ms_code}\
         date: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Client Error"),
        body.len(),
        httpdate::fmt_http_date(std::time::SystemTime::now()),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: usize) -> ServeConfig {
        ServeConfig { max_connections: max, ..ServeConfig::default() }
    }

    #[test]
    fn the_limit_stays_below_the_open_file_limit() {
        let l = Limits::with_open_files(&cfg(100_000), Some(1024)).unwrap();
        // 1024 - 102 (a tenth) = 922; over-limit 57, twice: 808.
        assert_eq!((l.max_connections, l.over_limit), (808, 57));
        assert!(l.max_connections + 2 * l.over_limit < 1024 - 64);
        let l = Limits::with_open_files(&cfg(16), Some(1024)).unwrap();
        assert_eq!(l.max_connections, 16, "the configured number when lower");
        let l = Limits::with_open_files(&cfg(500), None).unwrap();
        assert_eq!((l.max_connections, l.over_limit), (500, 64), "unlimited descriptors");
        let l = Limits::with_open_files(&cfg(100_000), Some(1 << 20)).unwrap();
        assert!(l.max_connections < (1 << 20) - (1 << 17) && l.over_limit == 64);
        let e = Limits::with_open_files(&cfg(100), Some(70)).unwrap_err().to_string();
        assert!(e.contains("ulimit -n") && e.contains("70"), "{e}");
        let zero = ServeConfig { header_timeout: Duration::ZERO, ..ServeConfig::default() };
        assert!(Limits::with_open_files(&zero, None).unwrap_err().to_string().contains("header_timeout"));
        assert!(Limits::with_open_files(&cfg(0), None).unwrap_err().to_string().contains("max_connections"));
    }

    #[test]
    fn hyper_automatic_answers_are_recognised_and_replaced() {
        assert_eq!(
            automatic_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(StatusCode::from_u16(431).unwrap())
        );
        assert_eq!(automatic_status(b"HTTP/1.1 400 Bad Request\r\n"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(automatic_status(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(automatic_status(b"HTTP/1.1 100 Continue\r\n"), None);
        assert_eq!(automatic_status(b"{\"error\""), None);
        assert_eq!(automatic_status(b"HTTP/1.1 4"), None);
        assert!(is_face_path(b"GET /face/v1.2/detect?x"));
        assert!(!is_face_path(b"GET /predict HTTP/1.1"));
        assert!(!is_face_path(b"GE"));
        let a = String::from_utf8(error_answer(StatusCode::from_u16(431).unwrap(), true)).unwrap();
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{head}");
        assert!(head.contains("x-ms-error-code: RequestHeaderFieldsTooLarge") && head.contains("connection: close"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "RequestHeaderFieldsTooLarge");
        let a = String::from_utf8(error_answer(StatusCode::BAD_REQUEST, false)).unwrap();
        assert!(!a.contains("x-ms-error-code") && a.contains("\"BadRequest\""), "{a}");
    }
}
