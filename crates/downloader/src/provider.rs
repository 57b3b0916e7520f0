//! Where candidate images come from: SerpAPI Google Images, a URL list file, a local folder. (Wikimedia Commons
//! and Bing Images: [`crate::Commons`], [`crate::Bing`].)

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::FetchError;
use crate::attribution::Attribution;

/// One image to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `http(s)://…`, or a local path for the folder provider.
    pub url: String,
    /// Page the image was found on, or its title.
    pub source: Option<String>,
    /// Source page, author and licence, when the provider gives them (recorded in the manifest and in
    /// `ATTRIBUTION.md`).
    pub attribution: Option<Attribution>,
}

impl Candidate {
    /// A candidate with no source and no attribution.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), source: None, attribution: None }
    }
}

/// The default SerpAPI search endpoint.
pub const SERPAPI_URL: &str = "https://serpapi.com/search.json";

/// SerpAPI Google Images (`engine=google_images`), paged with `ijn` (0, 1, …; up to 100 results a page).
pub struct SerpApi {
    /// Search endpoint (tests point this at a local server).
    pub endpoint: String,
    /// API key (from `SERPAPI_API_KEY`); never logged.
    key: String,
    /// The search query.
    pub query: String,
}

impl std::fmt::Debug for SerpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerpApi")
            .field("endpoint", &self.endpoint)
            .field("key", &"<redacted>")
            .field("query", &self.query)
            .finish()
    }
}

#[derive(Deserialize)]
struct SerpPage {
    #[serde(default)]
    images_results: Vec<SerpImage>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct SerpImage {
    original: Option<String>,
    #[allow(dead_code)]
    thumbnail: Option<String>,
    source: Option<String>,
    title: Option<String>,
}

impl SerpApi {
    /// A SerpAPI provider. `key` must not be empty.
    pub fn new(
        endpoint: impl Into<String>,
        key: impl Into<String>,
        query: impl Into<String>,
    ) -> Result<Self, FetchError> {
        let key = key.into();
        if key.trim().is_empty() {
            return Err(FetchError::Config(
                "SERPAPI_API_KEY is not set: put it in the environment or in a .env file (never on the command line)"
                    .into(),
            ));
        }
        Ok(Self { endpoint: endpoint.into(), key, query: query.into() })
    }

    /// One page of results (`page` = `ijn`, from 0). An empty list means no more results.
    pub async fn page(&self, client: &reqwest::Client, page: u32) -> Result<Vec<Candidate>, FetchError> {
        let url = reqwest::Url::parse_with_params(
            &self.endpoint,
            &[
                ("engine", "google_images"),
                ("q", self.query.as_str()),
                ("ijn", &page.to_string()),
                ("api_key", self.key.as_str()),
            ],
        )
        .map_err(|e| FetchError::Config(format!("SerpAPI endpoint {}: {e}", self.endpoint)))?;
        let redacted = format!("{} (q={:?}, ijn={page})", self.endpoint, self.query);
        let resp =
            client.get(url).send().await.map_err(|e| FetchError::Search(format!("{redacted}: {}", without_url(&e))))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| FetchError::Search(format!("{redacted}: {}", without_url(&e))))?;
        let parsed: Result<SerpPage, _> = serde_json::from_str(&body);
        match parsed {
            Ok(p) if status.is_success() => Ok(p
                .images_results
                .into_iter()
                .filter_map(|i| {
                    let url = i.original?;
                    Some(Candidate { url, source: i.source.or(i.title), attribution: None })
                })
                .collect()),
            Ok(p) => Err(FetchError::Search(format!(
                "{redacted}: HTTP {status}: {}",
                p.error.unwrap_or_else(|| "no error message".into())
            ))),
            Err(e) => Err(FetchError::Search(format!("{redacted}: HTTP {status}, response is not SerpAPI JSON: {e}"))),
        }
    }
}

/// reqwest errors print the URL, which for SerpAPI holds the key: keep only the kind of failure.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() || e.is_body() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut src = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") }
}

/// Candidates from a URL list: one per line; blank lines and `#` comments ignored.
pub fn read_url_list(path: &Path) -> Result<Vec<Candidate>, FetchError> {
    let text = issc_core::read_text_capped(path, 64 << 20)
        .map_err(|e| FetchError::Config(format!("cannot read the URL list {e}")))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(Candidate::new).collect())
}

/// Candidates from a folder: every file below it (sorted), as local paths.
pub fn read_dir(dir: &Path) -> Result<Vec<Candidate>, FetchError> {
    if !dir.is_dir() {
        return Err(FetchError::Config(format!("{}: not a folder (the folder of photos to take)", dir.display())));
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    Ok(files.into_iter().map(|p| Candidate::new(p.display().to_string())).collect())
}
