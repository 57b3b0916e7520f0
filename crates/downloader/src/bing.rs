//! Bing Images without a key, read the way icrawler's Bing crawler reads it: the async results page, whose result
//! anchors carry their image's metadata as JSON in an `m` attribute.

use std::collections::HashSet;

use serde::Deserialize;
use url::Url;

use crate::attribution::{Attribution, clean_text, decode_entities, non_empty};
use crate::commons::endpoint_url;
use crate::search::{SearchPage, get_text, snippet};
use crate::{Candidate, FetchError, FetchOptions};

/// The public Bing Images results endpoint (the page the image search loads as you scroll).
pub const BING_URL: &str = "https://www.bing.com/images/async";

/// Results asked for a page (`count`).
pub const BING_PAGE: u32 = 35;

/// Bing serves no result past the first 1000 (it repeats earlier ones): pages start below this.
pub const BING_LIMIT: u32 = 1000;

/// What a result looks like, for error messages.
const EXPECTED: &str = "result anchors <a class=\"iusc\" m=\"{…JSON with murl…}\"> (the shape icrawler's Bing \
                        parser reads)";

/// Bing Images search results, without a key: `GET <endpoint>?q=<query>&first=<1 + 35·page>&count=35`.
///
/// Each result on the page is an `<a class="iusc" … m="{…}">` anchor whose `m` attribute holds HTML-escaped JSON:
/// `murl` (the full-size image URL, downloaded), `purl` (the page it was found on) and `t` (its title). Bing
/// gives no licence or author: candidates carry only the title and page, and `ATTRIBUTION.md` says
/// "unknown — check the source page".
///
/// When the results run out and when the page changed shape:
/// - an empty (or whitespace-only) page means the results ran out; so does a page that adds no image URL not
///   seen on an earlier page (Bing repeats its last results past the end), and page starts past
///   [`BING_LIMIT`];
/// - a non-empty page without any `iusc` anchor, an anchor without an `m` attribute, an `m` that is not JSON or
///   has no `http(s)` `murl` are a changed page shape: [`FetchError::Shape`] names the URL, the page number,
///   what was expected and what was found, and nothing from that page is stored.
///
/// ```no_run
/// use issc_downloader::{Bing, FetchOptions, Source, fetch, BING_URL};
///
/// # async fn run() -> Result<(), issc_downloader::FetchError> {
/// let bing = Bing::new(BING_URL, "Ada Lovelace")?;
/// let opts = FetchOptions { label: "ada-lovelace".into(), max: 20, ..FetchOptions::default() };
/// match fetch(Source::Bing(bing), "raw".as_ref(), opts, &|_, _, _| {}).await {
///     Ok(summary) => println!("{} new photos", summary.downloaded),
///     Err(e @ issc_downloader::FetchError::Shape { .. }) => eprintln!("Bing changed its page: {e}"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Bing {
    /// Results endpoint (a local server in tests).
    pub endpoint: String,
    /// Search text (`q`).
    pub query: String,
    /// Image URLs given by earlier pages of this search.
    seen: HashSet<String>,
}

impl Bing {
    /// A Bing Images search. `endpoint` must be an `http(s)` URL; `query` must not be blank.
    pub fn new(endpoint: impl Into<String>, query: impl Into<String>) -> Result<Self, FetchError> {
        let (endpoint, query) = (endpoint.into(), query.into());
        endpoint_url(&endpoint, "Bing Images endpoint")?;
        if query.trim().is_empty() {
            return Err(FetchError::Config("the Bing Images search needs a query (a person's name)".into()));
        }
        Ok(Self { endpoint, query, seen: HashSet::new() })
    }

    /// The URL of page `page` (from 0).
    pub fn page_url(&self, page: u32) -> Result<Url, FetchError> {
        let mut url = endpoint_url(&self.endpoint, "Bing Images endpoint")?;
        let first = 1 + page.saturating_mul(BING_PAGE);
        url.query_pairs_mut()
            .append_pair("q", self.query.trim())
            .append_pair("first", &first.to_string())
            .append_pair("count", &BING_PAGE.to_string());
        Ok(url)
    }

    /// Read page `page` (from 0). See the type's documentation for the end-of-results and changed-shape rules.
    pub async fn next_page(
        &mut self,
        client: &reqwest::Client,
        page: u32,
        opts: &FetchOptions,
    ) -> Result<SearchPage, FetchError> {
        if 1 + page.saturating_mul(BING_PAGE) > BING_LIMIT {
            return Ok(SearchPage::default());
        }
        let url = self.page_url(page)?;
        let shown = format!("Bing Images {url} (page {})", page + 1);
        let body = get_text(client, &url, &shown, opts, &|_| None).await?;
        let shape = |found: String| FetchError::Shape {
            provider: "bing",
            url: url.to_string(),
            page: page + 1,
            expected: EXPECTED.into(),
            found,
        };
        if body.trim().is_empty() {
            return Ok(SearchPage::default());
        }
        let results = parse_page(&body).map_err(shape)?;
        let mut out = SearchPage::default();
        for r in results {
            if self.seen.insert(r.murl.clone()) {
                let page = r.purl.filter(|p| p.starts_with("http://") || p.starts_with("https://"));
                let title = r.t.map(|t| clean_text(&t)).and_then(non_empty);
                out.candidates.push(Candidate {
                    url: r.murl,
                    source: page.clone().or(title.clone()),
                    attribution: Some(Attribution { title, page, ..Attribution::default() }),
                });
            }
        }
        // Past the end, Bing repeats results already given: no new image URL ends the search.
        out.more = !out.candidates.is_empty();
        Ok(out)
    }
}

/// The metadata of one result (`m`).
#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    murl: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    t: Option<String>,
}

/// One result with a usable image URL.
struct Found {
    murl: String,
    purl: Option<String>,
    t: Option<String>,
}

/// Every `iusc` anchor's metadata, in page order; `Err(what was found)` when the page is not in that shape.
fn parse_page(html: &str) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for (n, attrs) in anchors(html).into_iter().enumerate() {
        let n = n + 1;
        let Some(m) = attrs.iter().find(|(k, _)| k == "m").map(|(_, v)| v) else {
            return Err(format!("result anchor {n} has no m attribute"));
        };
        let meta: Meta = serde_json::from_str(m)
            .map_err(|e| format!("result anchor {n}: its m attribute is not JSON ({e}): {}", snippet(m)))?;
        let murl = meta
            .murl
            .map(|u| u.trim().to_string())
            .filter(|u| Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https")));
        let Some(murl) = murl else {
            return Err(format!("result anchor {n}: its m JSON has no http(s) murl: {}", snippet(m)));
        };
        out.push(Found { murl, purl: meta.purl, t: meta.t });
    }
    if out.is_empty() {
        return Err(format!("{} bytes of text without any such anchor, starting {}", html.len(), snippet(html)));
    }
    Ok(out)
}

/// The attributes (names lower-cased, values entity-decoded) of every `<a>` tag whose class list has `iusc`.
fn anchors(html: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        let is_a = bytes.get(i).is_some_and(|b| b.eq_ignore_ascii_case(&b'a'))
            && bytes.get(i + 1).is_some_and(|b| b.is_ascii_whitespace());
        if !is_a {
            continue;
        }
        let (attrs, end) = attributes(html, i + 1);
        i = end;
        let iusc = attrs.iter().any(|(k, v)| k == "class" && v.split_ascii_whitespace().any(|c| c == "iusc"));
        if iusc {
            out.push(attrs);
        }
    }
    out
}

/// Parse attributes from `start` up to the tag's `>`; returns them and the index after the tag.
fn attributes(html: &str, start: usize) -> (Vec<(String, String)>, usize) {
    let b = html.as_bytes();
    let mut i = start;
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, i);
        }
        if b[i] == b'>' {
            return (attrs, i + 1);
        }
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            attrs.push((name, String::new()));
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let v_start = i + 1;
            let v_end = html[v_start..].bytes().position(|c| c == q).map_or(b.len(), |p| v_start + p);
            i = (v_end + 1).min(b.len());
            &html[v_start..v_end]
        } else {
            let v_start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                i += 1;
            }
            &html[v_start..i]
        };
        attrs.push((name, decode_entities(value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_result_anchors() {
        let html = r#"<div class="imgpt"><a class="iusc" style="height:160px" m="{&quot;purl&quot;:&quot;https://p.example/a&quot;,&quot;murl&quot;:&quot;https://i.example/a.jpg?x=1&amp;y=2&quot;,&quot;t&quot;:&quot;&#xE000;Ada&#xE001; Lovelace&quot;}" href="/images/search?view=detailV2"><img src="x"></a></div>
            <A class='other' m='{}'>no</A><a class="iusc x" m='{"murl":"http://i.example/b.png"}'>"#;
        let r = parse_page(html).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].murl, "https://i.example/a.jpg?x=1&y=2");
        assert_eq!(r[0].purl.as_deref(), Some("https://p.example/a"));
        assert_eq!(clean_text(r[0].t.as_deref().unwrap()), "Ada Lovelace");
        assert_eq!(r[1].murl, "http://i.example/b.png");
    }

    #[test]
    fn changed_shapes_are_errors() {
        assert!(parse_page("<html><body><div class=\"img_cont\"><img src=\"x\"></div></body></html>").is_err());
        let e = parse_page(r#"<a class="iusc" href="/x">"#).err().unwrap();
        assert!(e.contains("no m attribute"), "{e}");
        let e = parse_page(r#"<a class="iusc" m="not json">"#).err().unwrap();
        assert!(e.contains("not JSON"), "{e}");
        let e = parse_page(r#"<a class="iusc" m="{&quot;imgurl&quot;:&quot;https://x/y.jpg&quot;}">"#).err().unwrap();
        assert!(e.contains("no http(s) murl"), "{e}");
        let e = parse_page(r#"<a class="iusc" m='{"murl":"javascript:x"}'>"#).err().unwrap();
        assert!(e.contains("no http(s) murl"), "{e}");
        // Truncated and odd markup never panics.
        for s in ["<a ", "<a class=\"iusc", "<a class=iusc m=", "<a\tclass=iusc m={\"murl\":1}>", "<", "<a"] {
            let _ = parse_page(s);
        }
    }

    #[test]
    fn page_urls() {
        let b = Bing::new("http://127.0.0.1:9/images/async", " Ada Lovelace ").unwrap();
        assert_eq!(b.page_url(0).unwrap().query(), Some("q=Ada+Lovelace&first=1&count=35"));
        assert_eq!(b.page_url(2).unwrap().query(), Some("q=Ada+Lovelace&first=71&count=35"));
    }
}
