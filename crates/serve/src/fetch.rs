//! `{"url": ...}` on `/predict_json`: off unless an allow-list is configured. Then only `http(s)` URLs whose host
//! matches the list are fetched; the host is resolved first and refused when any address is private, loopback,
//! link-local, multicast, unspecified or otherwise not public (SSRF); the connection is pinned to the checked
//! address (no second DNS answer can swap it), redirects are not followed, and the body is capped in bytes and
//! time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;

use crate::error::ApiError;

/// URL fetching settings.
#[derive(Debug, Clone, Default)]
pub struct UrlFetch {
    /// Allowed hosts: exact names, `*.example.com` (subdomains), or `*` (any public host). Empty: URLs refused.
    pub allow: Vec<String>,
    /// Largest body in bytes.
    pub max_bytes: u64,
    /// Whole-fetch time limit.
    pub timeout: Duration,
    /// Also allow loopback addresses (tests and local development only; never in production).
    pub allow_loopback: bool,
}

impl UrlFetch {
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*" || a == host || a.strip_prefix("*.").is_some_and(|s| host.ends_with(&format!(".{s}")))
        })
    }
}

/// Whether an address is a public unicast one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64/10 carrier-grade NAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
                || (o[0] == 198 && (o[1] & 0xFE) == 18) // 198.18/15 benchmarking
                || o[0] >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xFE00) == 0xFC00 // unique local
                || (s[0] & 0xFFC0) == 0xFE80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0DB8) // documentation
                || (s[0] == 0x64 && s[1] == 0xFF9B)) // NAT64 (may reach IPv4 private space)
        }
    }
}

/// Fetch the image at `raw` under `cfg`'s rules.
pub async fn fetch_image(cfg: &UrlFetch, raw: &str) -> Result<Vec<u8>, ApiError> {
    if cfg.allow.is_empty() {
        return Err(ApiError::bad_request(
            "UrlFetchDisabled",
            "fetching images by URL is disabled on this server; send the photo as image_base64 (or start the \
             server with --url-allow HOST)",
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| ApiError::bad_request("InvalidUrl", format!("invalid url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::bad_request("InvalidUrl", format!("url scheme '{}' is not http or https", url.scheme())));
    }
    let host = url.host_str().ok_or_else(|| ApiError::bad_request("InvalidUrl", "url has no host"))?.to_string();
    if !cfg.host_allowed(host.trim_start_matches('[').trim_end_matches(']')) {
        return Err(ApiError::bad_request(
            "UrlNotAllowed",
            format!("host '{host}' is not in the server's URL allow-list"),
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addrs: Vec<SocketAddr> = tokio::time::timeout(cfg.timeout, tokio::net::lookup_host((bare.as_str(), port)))
        .await
        .map_err(|_| ApiError::bad_request("UrlFetchFailed", format!("resolving '{host}' timed out")))?
        .map_err(|e| ApiError::bad_request("UrlFetchFailed", format!("cannot resolve '{host}': {e}")))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(ApiError::bad_request("UrlFetchFailed", format!("'{host}' has no address")));
    };
    for a in &addrs {
        let ok = is_public(a.ip()) || (cfg.allow_loopback && a.ip().is_loopback());
        if !ok {
            return Err(ApiError::bad_request(
                "UrlNotAllowed",
                format!("'{host}' resolves to {}, a private, loopback or link-local address: refused", a.ip()),
            ));
        }
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.timeout)
        .resolve(&bare, first)
        .build()
        .map_err(ApiError::internal)?;
    let fetch = async {
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| ApiError::bad_request("UrlFetchFailed", format!("fetching the url failed: {e}")))?;
        if resp.status().is_redirection() {
            return Err(ApiError::bad_request("UrlFetchFailed", "the url redirects; redirects are not followed"));
        }
        if !resp.status().is_success() {
            return Err(ApiError::bad_request("UrlFetchFailed", format!("the url answered HTTP {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > cfg.max_bytes) {
            return Err(ApiError::too_large(format!("the url's body is over {} bytes", cfg.max_bytes)));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request("UrlFetchFailed", format!("reading the url failed: {e}")))?;
            if body.len() as u64 + chunk.len() as u64 > cfg.max_bytes {
                return Err(ApiError::too_large(format!("the url's body is over {} bytes", cfg.max_bytes)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(cfg.timeout, fetch)
        .await
        .map_err(|_| ApiError::bad_request("UrlFetchFailed", format!("fetching the url took over {:?}", cfg.timeout)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "140.82.112.3", "2606:4700::1111"] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn allow_list_matches_hosts_and_subdomains_only() {
        let c = UrlFetch { allow: vec!["images.example.com".into(), "*.cdn.org".into()], ..Default::default() };
        assert!(c.host_allowed("images.example.com") && c.host_allowed("IMAGES.example.com."));
        assert!(c.host_allowed("a.cdn.org") && !c.host_allowed("cdn.org") && !c.host_allowed("evilcdn.org"));
        assert!(!c.host_allowed("example.com"));
    }
}
