//! What the key-less search providers share: one polite, capped GET with backoff, and the page they return.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use url::Url;

use crate::{FetchError, FetchOptions};

/// Largest search response read (bytes); a larger one is an error, never read whole into memory.
pub const SEARCH_BODY_CAP: u64 = 16 << 20;

/// One page of search results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Candidates to download, best first.
    pub candidates: Vec<crate::Candidate>,
    /// Results left out before downloading, by reason (`not_a_photo`, `license`, `too_large`, `no_url`).
    pub filtered: BTreeMap<String, usize>,
    /// Whether the provider has more results after this page.
    pub more: bool,
}

/// A retryable answer on an HTTP 200 body (MediaWiki's `maxlag` error): the wait to use when the server sent
/// no `Retry-After`.
pub(crate) type RetryBody<'a> = &'a (dyn Fn(&str) -> Option<(Duration, String)> + Sync);

/// GET `url` and return its body as text, one request at a time, retrying up to `opts.attempts` times on
/// connection failures, timeouts, HTTP 408/429/5xx and answers `retry_body` flags, waiting `Retry-After` when the
/// server sends one (up to `opts.max_retry_after`) and else the doubling backoff. `shown` names the request in
/// errors (`Wikimedia Commons <url> (page 2)`).
pub(crate) async fn get_text(
    client: &reqwest::Client,
    url: &Url,
    shown: &str,
    opts: &FetchOptions,
    retry_body: RetryBody<'_>,
) -> Result<String, FetchError> {
    let started = Instant::now();
    let attempts = opts.attempts.max(1);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (why, wait) = match get_once(client, url).await {
            Ok((status, retry_after, body)) if status.is_success() => match retry_body(&body) {
                Some((default_wait, why)) => (why, Some(retry_after.unwrap_or(default_wait))),
                None => return Ok(body),
            },
            Ok((status, retry_after, _))
                if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() =>
            {
                (format!("HTTP {status}"), retry_after)
            }
            Ok((status, _, body)) => {
                return Err(FetchError::Search(format!("{shown}: HTTP {status}: {}", snippet(&body))));
            }
            Err(Failure::Fatal(e)) => return Err(FetchError::Search(format!("{shown}: {e}"))),
            Err(Failure::Retry(e)) => (e, None),
        };
        if attempt >= attempts {
            return Err(FetchError::Search(format!(
                "{shown}: {why} (gave up after {attempt} attempts in {:.1} s; try again later)",
                started.elapsed().as_secs_f64()
            )));
        }
        if let Some(w) = wait
            && w > opts.max_retry_after
        {
            return Err(FetchError::Search(format!(
                "{shown}: {why}; the server asks to wait {} s (Retry-After), longer than the {} s allowed \
                 (max_retry_after); try again later",
                w.as_secs(),
                opts.max_retry_after.as_secs()
            )));
        }
        let backoff = opts.backoff.saturating_mul(1 << (attempt - 1).min(6));
        let jitter = rand::random::<f64>() * 0.25 + 0.875;
        let delay = wait.unwrap_or_else(|| backoff.mul_f64(jitter));
        tracing::info!("{shown}: {why}; retrying in {:.1} s", delay.as_secs_f64());
        tokio::time::sleep(delay).await;
    }
}

enum Failure {
    Retry(String),
    Fatal(String),
}

async fn get_once(
    client: &reqwest::Client,
    url: &Url,
) -> Result<(reqwest::StatusCode, Option<Duration>, String), Failure> {
    let describe = |e: &reqwest::Error| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(x) = src {
            s = format!("{s}: {x}");
            src = x.source();
        }
        s
    };
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| if e.is_redirect() { Failure::Fatal(describe(&e)) } else { Failure::Retry(describe(&e)) })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::parse_retry_after);
    if let Some(len) = resp.content_length()
        && len > SEARCH_BODY_CAP
    {
        return Err(Failure::Fatal(format!("the response is {len} bytes, over the cap of {SEARCH_BODY_CAP}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Failure::Retry(describe(&e)))? {
        if body.len() as u64 + chunk.len() as u64 > SEARCH_BODY_CAP {
            return Err(Failure::Fatal(format!("the response passed the cap of {SEARCH_BODY_CAP} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, retry_after, String::from_utf8_lossy(&body).into_owned()))
}

/// The start of a body, on one line, for error messages.
pub(crate) fn snippet(body: &str) -> String {
    let one_line: String =
        body.chars().map(|c| if c.is_control() { ' ' } else { c }).take(160).collect::<String>().trim().to_string();
    if one_line.is_empty() {
        "(empty body)".into()
    } else if body.chars().count() > 160 {
        format!("{one_line:?}…")
    } else {
        format!("{one_line:?}")
    }
}
