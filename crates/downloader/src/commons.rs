//! Wikimedia Commons through the MediaWiki action API (`api.php`): no key, every photo's licence and author.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::attribution::{Attribution, LicenseFilter, clean_text, html_to_text, non_empty};
use crate::search::{SearchPage, get_text};
use crate::{Candidate, FetchError, FetchOptions};

/// The public Wikimedia Commons API endpoint.
pub const COMMONS_URL: &str = "https://commons.wikimedia.org/w/api.php";

/// MIME types kept: photos. Everything else Commons hosts is skipped before downloading, counted as
/// `not_a_photo`: SVG drawings, PDF and DjVu documents, TIFF scans, GIF, XCF, videos (WebM, Ogg, MPEG), audio
/// (Ogg, FLAC, WAV, MP3, MIDI), STL models.
pub const PHOTO_MIMES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// Files asked for a page of search results (`gsrlimit`; 50 is the most the API gives clients without the
/// `apihighlimits` right).
pub const COMMONS_BATCH: u32 = 50;

/// Wait on a `maxlag` error when the server sends no `Retry-After` (the API etiquette asks for at least 5 s).
const MAXLAG_WAIT: Duration = Duration::from_secs(5);

/// Wikimedia Commons files found by a full-text search in the File namespace (`generator=search`,
/// `gsrnamespace=6`), with each file's `imageinfo` (`url|size|mime|extmetadata`), paged with the API's
/// `continue` values.
///
/// Requests use `format=json&formatversion=2` and `maxlag=5`, go one at a time, and back off on HTTP 429/503 and
/// on the API's `maxlag` error (honouring `Retry-After`). Only photos ([`PHOTO_MIMES`]) are kept; with a
/// [`LicenseFilter`], only photos whose licence is in one of its families. Each candidate carries its
/// [`Attribution`]: `LicenseShortName`, `License`, `LicenseUrl`, `Artist` (as plain text), `AttributionRequired`
/// and the file's description page.
///
/// ```no_run
/// use issc_downloader::{Commons, FetchOptions, LicenseFilter, Source, fetch, COMMONS_URL};
///
/// # async fn run() -> Result<(), issc_downloader::FetchError> {
/// let mut commons = Commons::new(COMMONS_URL, "Ada Lovelace")?;
/// commons.category = Some("Ada Lovelace".into());
/// commons.license = Some(LicenseFilter::parse("cc0,pd,cc-by,cc-by-sa")?);
/// let opts = FetchOptions { label: "ada-lovelace".into(), max: 20, ..FetchOptions::default() };
/// let summary = fetch(Source::Commons(commons), "raw".as_ref(), opts, &|_, _, _| {}).await?;
/// println!("{} new photos; credits in {:?}", summary.downloaded, summary.attribution);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Commons {
    /// API endpoint (`…/w/api.php`; a compatible mirror, or a local server in tests).
    pub endpoint: String,
    /// Search text (`gsrsearch`).
    pub query: String,
    /// Only files in this category (`incategory:"…"` added to the search), without the `Category:` prefix.
    pub category: Option<String>,
    /// Only files whose licence is in one of these families.
    pub license: Option<LicenseFilter>,
    /// The `continue` object of the last answer (`None` before the first page).
    next: Option<Map<String, Value>>,
}

impl Commons {
    /// A Commons search. `endpoint` must be an `http(s)` URL; `query` must not be blank.
    pub fn new(endpoint: impl Into<String>, query: impl Into<String>) -> Result<Self, FetchError> {
        let (endpoint, query) = (endpoint.into(), query.into());
        endpoint_url(&endpoint, "Wikimedia Commons endpoint")?;
        if query.trim().is_empty() {
            return Err(FetchError::Config("the Wikimedia Commons search needs a query (a person's name)".into()));
        }
        Ok(Self { endpoint, query, category: None, license: None, next: None })
    }

    /// The text sent as `gsrsearch`: the query, `filetype:bitmap` (CirrusSearch's raster images, so that fewer
    /// drawings, documents and videos come back), and `incategory:"…"` when a category is set.
    pub fn search_text(&self) -> String {
        let mut s = format!("{} filetype:bitmap", self.query.trim());
        if let Some(c) = self.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            let c = c.strip_prefix("Category:").unwrap_or(c).replace('"', "");
            s.push_str(&format!(" incategory:\"{c}\""));
        }
        s
    }

    /// The URL of the next page: the fixed parameters plus every value of the last `continue` object.
    fn page_url(&self) -> Result<Url, FetchError> {
        let mut url = endpoint_url(&self.endpoint, "Wikimedia Commons endpoint")?;
        let mut params: BTreeMap<String, String> = [
            ("action", "query".to_string()),
            ("format", "json".into()),
            ("formatversion", "2".into()),
            ("maxlag", "5".into()),
            ("generator", "search".into()),
            ("gsrnamespace", "6".into()),
            ("gsrsearch", self.search_text()),
            ("gsrlimit", COMMONS_BATCH.to_string()),
            ("prop", "imageinfo".into()),
            ("iiprop", "url|size|mime|extmetadata".into()),
            ("iiextmetadatafilter", "LicenseShortName|LicenseUrl|License|Artist|AttributionRequired|ObjectName".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in self.next.iter().flatten() {
            // The API's continuation values are strings and numbers; the fixed parameters are never replaced.
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            if k.len() <= 64 && v.len() <= 4096 && !params.contains_key(k.as_str()) {
                params.insert(k.clone(), v);
            }
        }
        url.query_pairs_mut().extend_pairs(params.iter());
        Ok(url)
    }

    /// Read the next page (`page` counts from 0, for messages). Results without a photo MIME type, without a URL,
    /// larger than `opts.max_bytes` or outside the licence filter are counted in
    /// [`SearchPage::filtered`]; `more` is false once the API sends no `continue` object.
    pub async fn next_page(
        &mut self,
        client: &reqwest::Client,
        page: u32,
        opts: &FetchOptions,
    ) -> Result<SearchPage, FetchError> {
        let url = self.page_url()?;
        let shown = format!("Wikimedia Commons {url} (page {})", page + 1);
        let body = get_text(client, &url, &shown, opts, &maxlag).await?;
        let resp: ApiResponse = serde_json::from_str(&body).map_err(|e| FetchError::Shape {
            provider: "commons",
            url: url.to_string(),
            page: page + 1,
            expected: "MediaWiki API JSON (format=json)".into(),
            found: format!("{e}: {}", crate::search::snippet(&body)),
        })?;
        if let Some(err) = resp.error {
            return Err(FetchError::Search(format!(
                "{shown}: the API answered error {:?}: {}",
                err.code,
                clean_text(&err.info)
            )));
        }
        let pages = match resp.query.map(|q| q.pages) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(FetchError::Shape {
                    provider: "commons",
                    url: url.to_string(),
                    page: page + 1,
                    expected: "query.pages as a list (formatversion=2)".into(),
                    found: format!("a JSON {}", json_kind(&other)),
                });
            }
        };
        let mut files: Vec<File> = pages.into_iter().filter_map(|p| serde_json::from_value(p).ok()).collect();
        // generator=search gives pages in no particular order, with their search rank in `index`.
        files.sort_by_key(|f| f.index.unwrap_or(i64::MAX));
        let mut out = SearchPage::default();
        for f in files {
            // A file whose imageinfo did not fit in this answer gets it in the next one (same generator batch).
            let Some(info) = f.imageinfo.into_iter().next() else { continue };
            let mime = info.mime.as_deref().unwrap_or_default().to_ascii_lowercase();
            let reason = if !PHOTO_MIMES.contains(&mime.as_str()) {
                Some("not_a_photo")
            } else if info.url.is_none() {
                Some("no_url")
            } else if info.size.is_some_and(|s| s > opts.max_bytes) {
                Some("too_large")
            } else {
                None
            };
            if let Some(r) = reason {
                *out.filtered.entry(r.into()).or_default() += 1;
                continue;
            }
            let a = attribution(&f.title, &info);
            if let Some(filter) = &self.license
                && !filter.matches(&a)
            {
                *out.filtered.entry("license".into()).or_default() += 1;
                continue;
            }
            let Some(url) = info.url.as_deref().map(absolute) else { continue };
            out.candidates.push(Candidate { url, source: a.page.clone(), attribution: Some(a) });
        }
        let next = resp.cont.filter(|c| !c.is_empty());
        // A continuation identical to the one just used would loop: the results are over.
        out.more = next.is_some() && next != self.next;
        self.next = next;
        Ok(out)
    }
}

/// A `maxlag` error: the replicas lag, come back later.
fn maxlag(body: &str) -> Option<(Duration, String)> {
    if !body.contains("maxlag") {
        return None;
    }
    let v: Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?;
    (e.get("code")?.as_str()? == "maxlag").then(|| {
        let info = e.get("info").and_then(Value::as_str).unwrap_or("database replicas lag");
        (MAXLAG_WAIT, format!("maxlag: {}", clean_text(info)))
    })
}

pub(crate) fn endpoint_url(endpoint: &str, what: &str) -> Result<Url, FetchError> {
    match Url::parse(endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) => Err(FetchError::Config(format!("{what} {endpoint}: scheme {} is not http(s)", u.scheme()))),
        Err(e) => Err(FetchError::Config(format!("{what} {endpoint:?} is not a URL: {e}"))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object (formatversion=1?)",
    }
}

/// Protocol-relative URLs (`//upload.wikimedia.org/…`) made `https:`.
fn absolute(u: &str) -> String {
    match u.strip_prefix("//") {
        Some(rest) => format!("https://{rest}"),
        None => u.to_string(),
    }
}

fn attribution(title: &str, info: &ImageInfo) -> Attribution {
    let meta = |key: &str| -> Option<String> {
        let v = info.extmetadata.get(key)?.get("value")?;
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        non_empty(s)
    };
    Attribution {
        title: non_empty(clean_text(title)),
        page: info.descriptionurl.as_deref().map(absolute),
        author: meta("Artist").map(|a| html_to_text(&a)).and_then(non_empty),
        license: meta("LicenseShortName").map(|l| html_to_text(&l)).and_then(non_empty),
        license_code: meta("License").map(|l| clean_text(&l)).and_then(non_empty),
        license_url: meta("LicenseUrl").map(|u| absolute(u.trim())),
        attribution_required: meta("AttributionRequired").and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        }),
    }
}

#[derive(Deserialize)]
struct ApiResponse {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default, rename = "continue")]
    cont: Option<Map<String, Value>>,
    #[serde(default)]
    query: Option<Query>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    info: String,
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    pages: Value,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    title: String,
    #[serde(default)]
    index: Option<i64>,
    #[serde(default)]
    imageinfo: Vec<ImageInfo>,
}

#[derive(Deserialize)]
struct ImageInfo {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    descriptionurl: Option<String>,
    #[serde(default)]
    mime: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    extmetadata: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_and_url() {
        let mut c = Commons::new("http://127.0.0.1:1/w/api.php", "Ada Lovelace").unwrap();
        assert_eq!(c.search_text(), "Ada Lovelace filetype:bitmap");
        c.category = Some("Category:Ada \"Lovelace\"".into());
        assert_eq!(c.search_text(), "Ada Lovelace filetype:bitmap incategory:\"Ada Lovelace\"");
        c.next = Some(serde_json::from_str(r#"{"gsroffset":50,"continue":"gsroffset||","action":"edit"}"#).unwrap());
        let u = c.page_url().unwrap();
        let q: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
        assert_eq!(q["gsroffset"], "50");
        assert_eq!(q["continue"], "gsroffset||");
        assert_eq!(q["action"], "query", "continuation never replaces a fixed parameter");
        assert_eq!(q["maxlag"], "5");
        assert!(Commons::new("ftp://x", "a").is_err());
        assert!(Commons::new(COMMONS_URL, " ").is_err());
    }

    #[test]
    fn maxlag_is_recognised() {
        let body = r#"{"error":{"code":"maxlag","info":"Waiting for 10.64.48.35: 6 seconds lagged.","lag":6}}"#;
        let (wait, why) = maxlag(body).unwrap();
        assert_eq!(wait, MAXLAG_WAIT);
        assert!(why.contains("6 seconds lagged"), "{why}");
        assert!(maxlag(r#"{"error":{"code":"badvalue","info":"maxlag"}}"#).is_none());
        assert!(maxlag("maxlag, not JSON").is_none());
    }
}
