#![doc = include_str!("../README.md")]

pub mod attribution;
mod bing;
mod blacklist;
mod commons;
pub mod manifest;
pub mod provider;
mod search;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use issc_core::LoadOptions;
use tokio::task::JoinSet;
use url::Url;

pub use attribution::{ATTRIBUTION_FILE, Attribution, LicenseFilter, license_family, write_attribution};
pub use bing::{BING_LIMIT, BING_PAGE, BING_URL, Bing};
pub use blacklist::Blacklist;
pub use commons::{COMMONS_BATCH, COMMONS_URL, Commons, PHOTO_MIMES};
pub use manifest::{Entry, History, Manifest, Status};
pub use provider::{Candidate, SERPAPI_URL, SerpApi};
pub use search::{SEARCH_BODY_CAP, SearchPage};

/// The `User-Agent` of every request: the tool, its version and its repository, as Wikimedia's User-Agent
/// policy asks (`<client>/<version> (<contact URL>) <library>`).
pub const USER_AGENT: &str = concat!(
    "isshesarahconnor/",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CARGO_PKG_REPOSITORY"),
    "; face-recognition image dataset builder) reqwest/0.12"
);

/// Errors that stop a whole fetch (per-URL problems are recorded in the manifest instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Bad settings or input files.
    #[error("{0}")]
    Config(String),
    /// The image search failed.
    #[error("image search failed: {0}")]
    Search(String),
    /// A search page came back (HTTP 200) in a shape the provider's reader does not know: the service changed its
    /// page or API. Nothing from that page was stored.
    #[error(
        "{provider} answered {url} (page {page}) in an unexpected shape: expected {expected}; found {found}. \
         The service may have changed its page: nothing from this page was stored; try another provider"
    )]
    Shape {
        /// `commons` or `bing`.
        provider: &'static str,
        /// The page's URL.
        url: String,
        /// Page number, from 1.
        page: u32,
        /// What the reader looks for.
        expected: String,
        /// What the page held instead.
        found: String,
    },
    /// The output folder or manifest could not be written.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Where candidates come from.
pub enum Source {
    /// SerpAPI Google Images, paged until enough images are stored or results run out.
    SerpApi(SerpApi),
    /// Wikimedia Commons (no key): photos with their licence and author, paged with the API's `continue`.
    Commons(Commons),
    /// Bing Images (no key): the async results page, paged with `first`; no licence information.
    Bing(Bing),
    /// A fixed list (URL list file).
    Urls(Vec<Candidate>),
    /// Local files (folder provider).
    Dir(Vec<Candidate>),
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::SerpApi(_) => "serpapi",
            Source::Commons(_) => "commons",
            Source::Bing(_) => "bing",
            Source::Urls(_) => "urls",
            Source::Dir(_) => "dir",
        }
    }
}

/// Settings of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Label (sub-folder of the output).
    pub label: String,
    /// Stop once this many images are stored for the label (counting earlier runs).
    pub max: usize,
    /// Downloads in flight at once.
    pub concurrency: usize,
    /// Downloads in flight at once per host.
    pub per_host: usize,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Total time for one request, body included.
    pub timeout: Duration,
    /// Largest accepted body, enforced while streaming.
    pub max_bytes: u64,
    /// Smallest accepted image side in pixels.
    pub min_side: u32,
    /// Attempts per URL in one run (1 = no retry).
    pub attempts: u32,
    /// First retry delay (doubles each time, with jitter).
    pub backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one fails the URL for this run.
    pub max_retry_after: Duration,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// URLs that failed this many times in earlier runs are skipped.
    pub fail_limit: u32,
    /// Domains and URL patterns never fetched nor redirected to.
    pub blacklist: Blacklist,
    /// Decoder limits.
    pub load: LoadOptions,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            label: "unnamed".into(),
            max: 100,
            concurrency: 8,
            per_host: 2,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_bytes: 20 * 1024 * 1024,
            min_side: 64,
            attempts: 3,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            max_redirects: 5,
            fail_limit: 3,
            blacklist: Blacklist::default(),
            load: LoadOptions::default(),
        }
    }
}

/// A label name made from a query: lowercase ASCII letters and digits joined by `-` (`"Ada Lovelace"` →
/// `ada-lovelace`); accents are dropped, other characters separate words.
pub fn slug(query: &str) -> String {
    let mut out = String::new();
    for ch in query.chars().flat_map(char::to_lowercase) {
        let c = match ch {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Check a label is a safe folder name.
pub fn validate_label(label: &str) -> Result<(), FetchError> {
    if label.is_empty()
        || label.starts_with('.')
        || label.contains(['/', '\\', '\0'])
        || label.chars().any(char::is_control)
    {
        return Err(FetchError::Config(format!(
            "label {label:?} is not a usable folder name: use letters, digits, '-' or '_' (e.g. ada-lovelace)"
        )));
    }
    Ok(())
}

/// Counts of one run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// New files stored.
    pub downloaded: usize,
    /// Valid images already stored under another URL.
    pub duplicates: usize,
    /// Rejected bodies, by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Failed downloads, by reason.
    pub failed: BTreeMap<String, usize>,
    /// Candidates skipped, by reason: `done` in an earlier run, `blacklisted`, `failed_before`; and search
    /// results left out before downloading (Commons): `not_a_photo`, `license`, `too_large`, `no_url`.
    pub skipped: BTreeMap<String, usize>,
    /// Images stored for the label, all runs together.
    pub stored_total: usize,
    /// Search pages read (SerpAPI, Commons, Bing).
    pub pages: u32,
    /// Why the search stopped early, if a page after the first failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_error: Option<String>,
    /// The label's `ATTRIBUTION.md`, when it has photos from the web (see [`write_attribution`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<PathBuf>,
}

/// Most search pages read in one run (SerpAPI gives up to 100 images a page, Commons 50 files, Bing 35).
pub const MAX_PAGES: u32 = 20;

/// Progress callback: (candidates finished, candidates known, images stored for the label).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, usize) + Sync);

/// Everything one URL needs, shared by the tasks.
struct Shared {
    client: reqwest::Client,
    opts: FetchOptions,
    out: PathBuf,
    label_dir: PathBuf,
    manifest: Manifest,
    provider: &'static str,
    /// Hashes stored for this label (duplicates by content are stored once).
    known: std::sync::Mutex<HashSet<String>>,
}

/// Build the HTTP client: timeouts, and a redirect policy that stops after `max_redirects`, on loops, and before
/// any hop into a blacklisted host.
pub fn http_client(opts: &FetchOptions) -> Result<reqwest::Client, FetchError> {
    let blacklist = opts.blacklist.clone();
    let max = opts.max_redirects;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if let Some(entry) = blacklist.blocks(attempt.url()) {
            let msg = format!("redirect to blacklisted {} ({entry})", attempt.url().host_str().unwrap_or_default());
            return attempt.error(msg);
        }
        if attempt.previous().iter().any(|u| u == attempt.url()) {
            return attempt.error("redirect loop");
        }
        if attempt.previous().len() > max {
            return attempt.error(format!("more than {max} redirects"));
        }
        attempt.follow()
    });
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.timeout)
        .redirect(policy)
        .build()
        .map_err(|e| FetchError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Fetch images for `opts.label` into `out/<label>/<blake3>.<ext>`, recording every outcome in
/// `out/manifest.jsonl`. Safe to interrupt at any moment and to run again: files are written atomically, done
/// URLs are skipped, URLs that failed `fail_limit` times before are skipped.
///
/// Search sources (SerpAPI, Commons, Bing) are read one page at a time, only while the candidates queued and in
/// flight cannot cover what is still needed. A first page that fails is an error; a later one ends the search
/// (`Summary::search_error`) and the downloads found so far go on. A page in a changed shape
/// ([`FetchError::Shape`]) is an error on any page: the downloads in flight finish and are recorded, nothing
/// more is started, and the error is returned.
///
/// At the end, when the label holds photos from the web, `out/<label>/ATTRIBUTION.md` lists them with their
/// source, author and licence ([`write_attribution`]).
pub async fn fetch(
    source: Source,
    out: &Path,
    opts: FetchOptions,
    progress: Progress<'_>,
) -> Result<Summary, FetchError> {
    validate_label(&opts.label)?;
    if opts.concurrency == 0 || opts.per_host == 0 || opts.attempts == 0 {
        return Err(FetchError::Config(
            "fetch setting concurrency, per_host and the attempts per URL must each be at least 1".into(),
        ));
    }
    let label_dir = out.join(&opts.label);
    std::fs::create_dir_all(&label_dir).map_err(|source| FetchError::Io { path: label_dir.clone(), source })?;
    remove_stale_temporaries(&label_dir);
    let (manifest, previous) =
        Manifest::open(out).map_err(|source| FetchError::Io { path: out.join("manifest.jsonl"), source })?;
    let history = History::of(&previous, &opts.label);
    let known: HashSet<String> = previous
        .iter()
        .filter(|e| e.label == opts.label && e.status == Status::Ok)
        .filter_map(|e| e.hash.clone())
        .collect();
    let client = http_client(&opts)?;
    let provider = source.name();
    let shared = Arc::new(Shared {
        client,
        opts: opts.clone(),
        out: out.to_path_buf(),
        label_dir,
        manifest,
        provider,
        known: std::sync::Mutex::new(known),
    });

    let mut summary = Summary { stored_total: history.stored, ..Summary::default() };
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<Candidate> = VecDeque::new();
    let mut known_total = 0usize;
    let mut finished = 0usize;
    let mut admit = |cands: Vec<Candidate>, summary: &mut Summary, queue: &mut VecDeque<Candidate>| -> usize {
        let mut n = 0;
        for c in cands {
            if !seen.insert(c.url.clone()) {
                continue;
            }
            n += 1;
            let skip = if history.done.contains_key(&c.url) {
                Some(("done".to_string(), None))
            } else if history.failures.get(&c.url).copied().unwrap_or(0) >= opts.fail_limit {
                Some(("failed_before".to_string(), Some(format!("failed {} times in earlier runs", opts.fail_limit))))
            } else {
                Url::parse(&c.url)
                    .ok()
                    .and_then(|u| opts.blacklist.blocks(&u))
                    .map(|entry| ("blacklisted".to_string(), Some(format!("matches blacklist entry {entry}"))))
            };
            match skip {
                Some((reason, detail)) => {
                    *summary.skipped.entry(reason.clone()).or_default() += 1;
                    if reason != "done" {
                        let _ = shared.manifest.append(&entry(&shared, &c, Status::Skipped, Some(&reason), detail, 0));
                    }
                }
                None => queue.push_back(c),
            }
        }
        n
    };

    let (mut fixed, mut search) = match source {
        Source::SerpApi(s) => (None, Some(Search::Serp(s))),
        Source::Commons(c) => (None, Some(Search::Commons(c))),
        Source::Bing(b) => (None, Some(Search::Bing(b))),
        Source::Urls(c) | Source::Dir(c) => (Some(c), None),
    };
    if let Some(c) = fixed.take() {
        known_total += admit(c, &mut summary, &mut queue);
    }
    let mut page = 0u32;
    let mut exhausted = search.is_none();
    let mut fatal: Option<FetchError> = None;
    let mut tasks: JoinSet<(String, Entry)> = JoinSet::new();
    let mut in_flight_hosts: HashMap<String, usize> = HashMap::new();
    progress(finished, known_total, summary.stored_total);

    loop {
        let need = opts.max.saturating_sub(summary.stored_total);
        // More candidates from the search only when those queued and in flight cannot cover what is still needed
        // (each page is a billed search).
        if let Some(s) = search.as_mut()
            && !exhausted
            && queue.len() + tasks.len() < need
        {
            let found = match s.next(&shared.client, page, &opts).await {
                Ok(c) => c,
                // The first page failing is fatal (wrong key, wrong endpoint); a later one ends the search but
                // lets the downloads in flight finish and be recorded.
                Err(e) if page == 0 => return Err(e),
                // A changed page shape: finish and record what is in flight, start nothing more, then fail.
                Err(e @ FetchError::Shape { .. }) => {
                    tracing::error!("{e}");
                    queue.clear();
                    fatal = Some(e);
                    exhausted = true;
                    SearchPage::default()
                }
                Err(e) => {
                    tracing::warn!("{e}; continuing with the candidates found so far");
                    summary.search_error = Some(e.to_string());
                    exhausted = true;
                    SearchPage::default()
                }
            };
            page += 1;
            summary.pages = page;
            if !found.more || page >= MAX_PAGES {
                exhausted = true;
            }
            for (reason, n) in found.filtered {
                *summary.skipped.entry(reason).or_default() += n;
            }
            known_total += admit(found.candidates, &mut summary, &mut queue);
            progress(finished, known_total, summary.stored_total);
        }
        // Start downloads while a slot is free, the host has room, and stored + in flight < max.
        while tasks.len() < opts.concurrency && summary.stored_total + tasks.len() < opts.max {
            // Local files (no host) are not limited per host.
            let pos = queue.iter().position(|c| {
                let h = host_of(&c.url);
                h.is_empty() || in_flight_hosts.get(&h).copied().unwrap_or(0) < opts.per_host
            });
            let Some(pos) = pos else { break };
            let Some(c) = queue.remove(pos) else { break };
            let host = host_of(&c.url);
            *in_flight_hosts.entry(host.clone()).or_default() += 1;
            let sh = shared.clone();
            tasks.spawn(async move {
                let e = process(&sh, &c).await;
                (host, e)
            });
        }
        if tasks.is_empty() {
            let need = opts.max.saturating_sub(summary.stored_total);
            if need == 0 || (queue.is_empty() && exhausted) {
                break;
            }
            if queue.is_empty() {
                continue; // read the next search page
            }
        }
        let Some(done) = tasks.join_next().await else { continue };
        let (host, e) = done.map_err(|e| FetchError::Config(format!("download task failed: {e}")))?;
        if let Some(n) = in_flight_hosts.get_mut(&host) {
            *n = n.saturating_sub(1);
        }
        finished += 1;
        match e.status {
            Status::Ok => {
                summary.downloaded += 1;
                summary.stored_total += 1;
            }
            Status::Duplicate => summary.duplicates += 1,
            Status::Rejected => *summary.rejected.entry(e.reason.clone().unwrap_or_default()).or_default() += 1,
            Status::Failed => *summary.failed.entry(e.reason.clone().unwrap_or_default()).or_default() += 1,
            Status::Skipped => *summary.skipped.entry(e.reason.clone().unwrap_or_default()).or_default() += 1,
        }
        shared.manifest.append(&e).map_err(|source| FetchError::Io { path: shared.manifest.path().into(), source })?;
        progress(finished, known_total, summary.stored_total);
    }
    summary.attribution = write_attribution(out, &opts.label)?;
    match fatal {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// The search sources, read one page at a time.
enum Search {
    Serp(SerpApi),
    Commons(Commons),
    Bing(Bing),
}

impl Search {
    async fn next(
        &mut self,
        client: &reqwest::Client,
        page: u32,
        opts: &FetchOptions,
    ) -> Result<SearchPage, FetchError> {
        match self {
            Search::Serp(s) => {
                let candidates = s.page(client, page).await?;
                Ok(SearchPage { more: !candidates.is_empty(), candidates, ..SearchPage::default() })
            }
            Search::Commons(c) => c.next_page(client, page, opts).await,
            Search::Bing(b) => b.next_page(client, page, opts).await,
        }
    }
}

/// A run killed while writing leaves `.<name>.<random>.tmp` (see `issc_core::write_atomic`); the next run removes
/// them before it starts, so the folder only ever holds complete files.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.')
            && name.ends_with(".tmp")
            && let Err(err) = std::fs::remove_file(e.path())
        {
            tracing::warn!("cannot remove stale temporary {}: {err}", e.path().display());
        }
    }
}

fn host_of(url: &str) -> String {
    Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn entry(
    sh: &Shared,
    c: &Candidate,
    status: Status,
    reason: Option<&str>,
    detail: Option<String>,
    attempts: u32,
) -> Entry {
    Entry {
        v: manifest::FORMAT,
        url: c.url.clone(),
        label: sh.opts.label.clone(),
        provider: sh.provider.to_string(),
        status,
        reason: reason.map(str::to_string),
        detail,
        hash: None,
        format: None,
        width: None,
        height: None,
        bytes: None,
        path: None,
        attempts,
        source: c.source.clone(),
        attribution: c.attribution.clone(),
        time: now(),
    }
}

/// Why one attempt did not produce a body.
enum Attempt {
    /// Worth retrying (after the given minimum wait, if the server asked for one).
    Retry { reason: String, detail: String, wait: Option<Duration> },
    /// Final failure.
    Fail { reason: String, detail: String },
    /// The body is unacceptable without decoding it (too large).
    Reject { reason: String, detail: String },
}

/// `Retry-After`: seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

fn classify(e: &reqwest::Error) -> (bool, String) {
    let mut detail = e.without_url_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail = format!("{detail}: {s}");
        src = s.source();
    }
    if e.is_redirect() {
        let reason = if detail.contains("blacklisted") { "redirect_blacklisted" } else { "redirect" };
        (false, format!("{reason}\u{0}{detail}"))
    } else if e.is_timeout() {
        (true, format!("timeout\u{0}{detail}"))
    } else if e.is_connect() {
        (true, format!("connect\u{0}{detail}"))
    } else {
        (true, format!("network\u{0}{detail}"))
    }
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "<url>");
        }
        s
    }
}

async fn get_once(sh: &Shared, url: &Url) -> Result<Vec<u8>, Attempt> {
    let split = |s: String| {
        let mut it = s.splitn(2, '\u{0}');
        (it.next().unwrap_or_default().to_string(), it.next().unwrap_or_default().to_string())
    };
    let mut resp = match sh.client.get(url.clone()).send().await {
        Ok(r) => r,
        Err(e) => {
            let (retry, s) = classify(&e);
            let (reason, detail) = split(s);
            return Err(if retry {
                Attempt::Retry { reason, detail, wait: None }
            } else {
                Attempt::Fail { reason, detail }
            });
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let reason = format!("http_{}", status.as_u16());
        let detail = format!("HTTP {status}");
        let retryable = status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error();
        if retryable {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            return Err(Attempt::Retry { reason, detail, wait });
        }
        return Err(Attempt::Fail { reason, detail });
    }
    let cap = sh.opts.max_bytes;
    if let Some(len) = resp.content_length()
        && len > cap
    {
        return Err(Attempt::Reject {
            reason: "too_large".into(),
            detail: format!("Content-Length {len} is over the cap of {cap} bytes"),
        });
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > cap {
                    return Err(Attempt::Reject {
                        reason: "too_large".into(),
                        detail: format!("body passed the cap of {cap} bytes while streaming"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                let (_, s) = classify(&e);
                let (reason, detail) = split(s);
                return Err(Attempt::Retry { reason, detail, wait: None });
            }
        }
    }
    Ok(body)
}

/// Download (with retries) or read one candidate, validate it, store it. Never panics; every outcome is an entry.
async fn process(sh: &Shared, c: &Candidate) -> Entry {
    let (body, attempts) = if sh.provider == "dir" {
        // Only a regular file, read no further than the download cap (a FIFO or a device is refused, not read).
        let (path, cap) = (PathBuf::from(&c.url), sh.opts.max_bytes);
        match tokio::task::spawn_blocking(move || issc_core::read_capped(&path, cap)).await {
            Ok(Ok(b)) => (b, 1),
            Ok(Err(e @ issc_core::ReadError::TooLarge { .. })) => {
                return entry(sh, c, Status::Rejected, Some("too_large"), Some(e.to_string()), 1);
            }
            Ok(Err(e)) => return entry(sh, c, Status::Failed, Some("io"), Some(e.to_string()), 1),
            Err(e) => return entry(sh, c, Status::Failed, Some("io"), Some(e.to_string()), 1),
        }
    } else {
        let url = match Url::parse(&c.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => {
                return entry(
                    sh,
                    c,
                    Status::Rejected,
                    Some("invalid_url"),
                    Some(format!("scheme {} is not http(s)", u.scheme())),
                    0,
                );
            }
            Err(e) => return entry(sh, c, Status::Rejected, Some("invalid_url"), Some(e.to_string()), 0),
        };
        let mut attempt = 0;
        let started = Instant::now();
        loop {
            attempt += 1;
            match get_once(sh, &url).await {
                Ok(b) => break (b, attempt),
                Err(Attempt::Reject { reason, detail }) => {
                    return entry(sh, c, Status::Rejected, Some(&reason), Some(detail), attempt);
                }
                Err(Attempt::Fail { reason, detail }) => {
                    return entry(sh, c, Status::Failed, Some(&reason), Some(detail), attempt);
                }
                Err(Attempt::Retry { reason, detail, wait }) => {
                    if attempt >= sh.opts.attempts {
                        let detail = format!(
                            "{detail} (gave up after {attempt} attempts in {:.1} s)",
                            started.elapsed().as_secs_f64()
                        );
                        return entry(sh, c, Status::Failed, Some(&reason), Some(detail), attempt);
                    }
                    if let Some(w) = wait
                        && w > sh.opts.max_retry_after
                    {
                        let detail = format!(
                            "{detail}; Retry-After {} s is longer than the {} s allowed",
                            w.as_secs(),
                            sh.opts.max_retry_after.as_secs()
                        );
                        return entry(sh, c, Status::Failed, Some(&reason), Some(detail), attempt);
                    }
                    let backoff = sh.opts.backoff.saturating_mul(1 << (attempt - 1).min(6));
                    let jitter = rand::random::<f64>() * 0.25 + 0.875;
                    let delay = wait.unwrap_or_default().max(backoff.mul_f64(jitter));
                    tokio::time::sleep(delay).await;
                }
            }
        }
    };
    store(sh, c, body, attempts).await
}

/// Validate by decoding with issc-core, then store content-addressed and atomically.
async fn store(sh: &Shared, c: &Candidate, body: Vec<u8>, attempts: u32) -> Entry {
    let name = c.url.clone();
    let load = sh.opts.load;
    let min_side = sh.opts.min_side;
    let bytes = body.len() as u64;
    let checked = tokio::task::spawn_blocking(move || {
        let img = issc_core::decode_image(&body, &name, &load)?;
        Ok::<_, issc_core::ImageError>((img.format, img.width(), img.height(), body))
    })
    .await;
    let (format, w, h, body) = match checked {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let mut en = entry(sh, c, Status::Rejected, Some(e.kind()), Some(e.to_string()), attempts);
            en.bytes = Some(bytes);
            return en;
        }
        Err(e) => return entry(sh, c, Status::Failed, Some("internal"), Some(e.to_string()), attempts),
    };
    let mut en = entry(sh, c, Status::Ok, None, None, attempts);
    en.bytes = Some(bytes);
    en.width = Some(w);
    en.height = Some(h);
    let ext = format.extensions_str().first().copied().unwrap_or("img");
    en.format = Some(ext.to_string());
    if w.min(h) < min_side {
        en.status = Status::Rejected;
        en.reason = Some("too_small".into());
        en.detail = Some(format!("{w}x{h} is smaller than min_side = {min_side}"));
        return en;
    }
    let hash = blake3::hash(&body).to_hex().to_string();
    en.hash = Some(hash.clone());
    let rel = format!("{}/{hash}.{ext}", sh.opts.label);
    en.path = Some(rel.clone());
    let path = sh.out.join(&rel);
    let fresh = sh.known.lock().unwrap_or_else(|p| p.into_inner()).insert(hash.clone());
    if !fresh || path.is_file() {
        en.status = Status::Duplicate;
        en.reason = Some("same_content".into());
        en.detail = Some(format!("the same bytes are already stored as {rel}"));
        return en;
    }
    let dir = sh.label_dir.clone();
    let written = tokio::task::spawn_blocking(move || issc_core::write_atomic(&path, &body)).await;
    match written {
        Ok(Ok(())) => en,
        Ok(Err(e)) => {
            sh.known.lock().unwrap_or_else(|p| p.into_inner()).remove(&hash);
            en.status = Status::Failed;
            en.reason = Some("write".into());
            en.detail = Some(format!("cannot write into {}: {e}", dir.display()));
            en.path = None;
            en
        }
        Err(e) => {
            en.status = Status::Failed;
            en.reason = Some("internal".into());
            en.detail = Some(e.to_string());
            en.path = None;
            en
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Ada Lovelace"), "ada-lovelace");
        assert_eq!(slug("  Penélope  Cruz!! "), "penelope-cruz");
        assert_eq!(slug("Sarah J. Connor"), "sarah-j-connor");
        assert!(validate_label("../etc").is_err());
        assert!(validate_label("ada-lovelace").is_ok());
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
