//! Domains and URL patterns never to download from (or be redirected to).

use std::path::Path;

use url::Url;

/// A blacklist: domains (matching the host and its subdomains) and URL patterns (`*` matches any run of
/// characters; matched against the whole URL).
#[derive(Debug, Clone, Default)]
pub struct Blacklist {
    domains: Vec<String>,
    patterns: Vec<String>,
}

impl Blacklist {
    /// Parse a blacklist file: one entry per line; `#` starts a comment. A line with `/` or `*` is a URL pattern
    /// (`*.example.com/*`, `https://cdn.example.org/thumbs/*`), anything else a domain (`example.com` also blocks
    /// `img.example.com`).
    pub fn parse(text: &str) -> Self {
        let mut b = Self::default();
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            b.add(entry);
        }
        b
    }

    /// Read a blacklist file.
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        let text = issc_core::read_text_capped(path, 16 << 20)?;
        Ok(Self::parse(&text))
    }

    /// Add one entry (domain or pattern).
    pub fn add(&mut self, entry: &str) {
        let e = entry.trim().to_ascii_lowercase();
        if e.contains('/') || e.contains('*') {
            self.patterns.push(e);
        } else {
            self.domains.push(e.trim_start_matches('.').to_string());
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.domains.len() + self.patterns.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry that blocks `url`, if any.
    pub fn blocks(&self, url: &Url) -> Option<String> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        for d in &self.domains {
            if host == *d || host.ends_with(&format!(".{d}")) {
                return Some(d.clone());
            }
        }
        let full = url.as_str().to_ascii_lowercase();
        self.patterns.iter().find(|p| glob(p, &full)).cloned()
    }
}

/// `*`-only glob match.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !rest.starts_with(part) {
                return false;
            }
            rest = &rest[part.len()..];
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_cover_subdomains_and_patterns_match_urls() {
        let b = Blacklist::parse("# stock sites\nshutterstock.com\n*/thumbs/*  # thumbnails\nhttps://x.org/a*.png\n");
        assert_eq!(b.len(), 3);
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(b.blocks(&u("https://www.shutterstock.com/p.jpg")).as_deref(), Some("shutterstock.com"));
        assert_eq!(b.blocks(&u("https://shutterstock.com/p.jpg")).as_deref(), Some("shutterstock.com"));
        assert!(b.blocks(&u("https://notshutterstock.com/p.jpg")).is_none());
        assert!(b.blocks(&u("https://cdn.net/thumbs/1.jpg")).is_some());
        assert!(b.blocks(&u("https://x.org/abc.png")).is_some());
        assert!(b.blocks(&u("https://x.org/abc.jpg")).is_none());
    }
}
