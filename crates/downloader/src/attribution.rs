//! Who made a photo and under which licence: the [`Attribution`] a provider reports for each candidate, the
//! licence filter ([`LicenseFilter`], [`license_family`]), and the per-label `ATTRIBUTION.md`
//! ([`write_attribution`]).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::FetchError;
use crate::manifest::{self, Entry, Status};

/// Name of the per-label attribution file, written in `out/<label>/` beside the photos.
pub const ATTRIBUTION_FILE: &str = "ATTRIBUTION.md";

/// What is shown where a provider gave no licence or author (Bing, SerpAPI, URL lists).
pub const UNKNOWN: &str = "unknown — check the source page";

/// Longest author, title or licence name kept (characters); longer text is cut with `…`.
const MAX_TEXT: usize = 500;

/// Source, author and licence of one photo, as its provider reported them (none of it is verified).
///
/// Every field is optional: Wikimedia Commons fills most of them from the file's `extmetadata`; Bing gives only
/// the title and the page; SerpAPI, URL lists and folders give none (the candidate then has no `Attribution`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// Title of the file or of the page (Commons: `File:…`; Bing: the result's `t`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The page that describes the photo (Commons: `descriptionurl`; Bing: the result's `purl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Author as plain text (Commons: `Artist`, its HTML stripped and entities decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Licence name (Commons: `LicenseShortName`, e.g. `CC BY-SA 4.0`, `Public domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Licence code (Commons: `License`, e.g. `cc-by-sa-4.0`, `pd`), used by the licence filter with `license`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_code: Option<String>,
    /// Licence text URL (Commons: `LicenseUrl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_url: Option<String>,
    /// Whether the licence requires crediting the author (Commons: `AttributionRequired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution_required: Option<bool>,
}

// ---------------------------------------------------------------------------------------------------------------
// Licence families and the filter

/// The licence family of a licence name or code, the unit the licence filter matches on; `None` for an empty
/// name.
///
/// The name is lower-cased and every run of characters other than letters, digits and `.` becomes one `-`;
/// then:
/// - `cc0…`, `cc-zero…`, `cc-0…` → `cc0`;
/// - `pd`, `pd-…` (`PD-old`, `PD-US`, …), `public-domain…`, `cc-pd…` (the PD mark) → `pd`;
/// - `cc-…` → `cc-` followed by its licence elements (`by`, `sa`, `nc`, `nd`) up to the first other part, so
///   `CC BY-SA 4.0` and `cc-by-sa-3.0-de` → `cc-by-sa`, `CC BY 2.0` → `cc-by`, `CC BY-NC-ND 4.0` → `cc-by-nc-nd`;
/// - anything else → its parts up to the first that starts with a digit (`GFDL 1.2` → `gfdl`, `FAL` → `fal`,
///   `Attribution` → `attribution`).
///
/// Versions and jurisdictions are thus ignored: a filter names families, not versions.
pub fn license_family(name: &str) -> Option<String> {
    let n = normalize(name);
    if n.is_empty() {
        return None;
    }
    let head = |p: &str| n == p || n.starts_with(&format!("{p}-"));
    if n.starts_with("cc0") || head("cc-zero") || head("cc-0") {
        return Some("cc0".into());
    }
    if head("pd") || n.starts_with("public-domain") || head("cc-pd") || n.starts_with("cc-pdm") {
        return Some("pd".into());
    }
    let parts: Vec<&str> = n.split('-').collect();
    if parts.len() > 1 && parts[0] == "cc" {
        let elements: Vec<&str> =
            parts[1..].iter().copied().take_while(|p| matches!(*p, "by" | "sa" | "nc" | "nd")).collect();
        if !elements.is_empty() {
            return Some(format!("cc-{}", elements.join("-")));
        }
    }
    let kept: Vec<&str> = parts.into_iter().take_while(|p| !p.starts_with(|c: char| c.is_ascii_digit())).collect();
    if kept.is_empty() { Some(n) } else { Some(kept.join("-")) }
}

fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Licence families to keep, e.g. `cc0,pd,cc-by,cc-by-sa` (see [`license_family`] for how a licence name maps
/// to a family; each term of the list is mapped the same way, so `CC BY-SA` and `cc-by-sa-4.0` both mean
/// `cc-by-sa`).
///
/// A photo is kept when the family of its licence name (`LicenseShortName`) or of its licence code (`License`)
/// is in the list: `CC BY-SA 4.0` matches `cc-by-sa`; `CC BY 2.0` matches `cc-by` but not `cc-by-sa`;
/// `Public domain` and `PD-old` match `pd`; `CC0` matches `cc0`. A photo without licence information matches no
/// filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseFilter {
    families: Vec<String>,
}

impl LicenseFilter {
    /// Parse a comma-separated list of families. Empty lists and empty terms are refused.
    pub fn parse(list: &str) -> Result<Self, FetchError> {
        let mut families = Vec::new();
        for term in list.split(',') {
            let Some(f) = license_family(term) else {
                return Err(FetchError::Config(format!(
                    "licence filter {list:?}: empty term; give families separated by commas, e.g. cc0,pd,cc-by,cc-by-sa"
                )));
            };
            // A Creative Commons term must be a whole family (its elements by, sa, nc, nd, then at most a version):
            // a typo such as `cc-by-as` would otherwise widen the filter to `cc-by`, and `ccby` keep nothing.
            let n = normalize(term);
            let cc_rest = n.strip_prefix(f.as_str()).unwrap_or("-");
            let cc_term = n.starts_with("cc") && f != "cc0" && f != "pd";
            let elements_only = f.split('-').skip(1).all(|p| matches!(p, "by" | "sa" | "nc" | "nd"));
            let versions_only = cc_rest.split('-').skip(1).all(|p| p.starts_with(|c: char| c.is_ascii_digit()));
            let misread = cc_term && !(f.starts_with("cc-") && elements_only && versions_only);
            if misread {
                return Err(FetchError::Config(format!(
                    "licence filter {list:?}: {:?} is not a licence family; Creative Commons families are cc0 and cc- \
                     followed by by, sa, nc, nd (cc-by, cc-by-sa, cc-by-nc, cc-by-nc-sa, cc-by-nd, cc-by-nc-nd); others \
                     are named as Wikimedia Commons names them without a version (pd, gfdl, fal, ...)",
                    term.trim()
                )));
            }
            if !families.contains(&f) {
                families.push(f);
            }
        }
        Ok(Self { families })
    }

    /// The families kept, in the order given.
    pub fn families(&self) -> &[String] {
        &self.families
    }

    /// Whether a photo with this attribution is kept.
    pub fn matches(&self, a: &Attribution) -> bool {
        [a.license.as_deref(), a.license_code.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(license_family)
            .any(|f| self.families.contains(&f))
    }
}

impl FromStr for LicenseFilter {
    type Err = FetchError;
    fn from_str(s: &str) -> Result<Self, FetchError> {
        Self::parse(s)
    }
}

impl std::fmt::Display for LicenseFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.families.join(","))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// HTML to text

/// Decode HTML character references: the five XML ones, `&nbsp;`, a few common typographic names, and numeric
/// references (`&#34;`, `&#x22;`; invalid code points become U+FFFD). Unknown names are left as they are.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // A reference is at most 32 bytes up to its ';'.
        let end = rest.as_bytes().iter().take(32).position(|&b| b == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = if let Some(num) = name.strip_prefix('#') {
                let n = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse::<u32>().ok(),
                };
                n.map(|n| char::from_u32(n).filter(|&c| c != '\0').unwrap_or('\u{FFFD}'))
            } else {
                named_entity(name)
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "copy" => '©',
        "reg" => '®',
        "laquo" => '«',
        "raquo" => '»',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "middot" => '·',
        "eacute" => 'é',
        "egrave" => 'è',
        "aacute" => 'á',
        "oacute" => 'ó',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        "ccedil" => 'ç',
        "ntilde" => 'ñ',
        _ => return None,
    })
}

/// Plain text of an HTML fragment (Commons' `Artist`): tags removed (with the content of `script` and `style`),
/// character references decoded, whitespace collapsed, cut at 500 characters.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        text.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = tag_end(rest) else {
            // An unclosed '<' is text.
            text.push('<');
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        let name: String =
            tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            match rest.to_ascii_lowercase().find(&close) {
                Some(j) => {
                    rest = &rest[j..];
                    rest = tag_end(rest).map_or("", |e| &rest[e + 1..]);
                }
                None => rest = "",
            }
        }
        // Tags separate words (`<br>`, `</td><td>`); extra spaces are collapsed below.
        text.push(' ');
    }
    text.push_str(rest);
    clean_text(&decode_entities(&text))
}

/// Index of the `>` that closes the tag starting at `s[0] == '<'`, quotes respected.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in s.as_bytes().iter().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// Collapse whitespace (no-break spaces and control characters included), trim, drop Bing's highlight marks
/// (U+E000, U+E001), cut at [`MAX_TEXT`] characters.
pub(crate) fn clean_text(s: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for word in s.split(|c: char| c.is_whitespace() || c.is_control()) {
        let word: String = word.chars().filter(|c| !matches!(c, '\u{E000}' | '\u{E001}')).collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
            n += 1;
        }
        for c in word.chars() {
            if n >= MAX_TEXT {
                out.push('…');
                return out;
            }
            out.push(c);
            n += 1;
        }
    }
    out
}

/// `Some(text)` unless blank.
pub(crate) fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

// ---------------------------------------------------------------------------------------------------------------
// ATTRIBUTION.md

/// Write `out/<label>/ATTRIBUTION.md` from `out/manifest.jsonl`: every photo stored for the label (status `ok`,
/// file still present), in the order stored, with its file, title and source page, author, licence with its URL
/// and whether attribution is required. Written atomically, and only when its content changes.
///
/// Returns the file's path, or `None` when the label has no stored photo that came from the web (a label filled
/// only from a local folder gets no attribution file).
pub fn write_attribution(out: &Path, label: &str) -> Result<Option<PathBuf>, FetchError> {
    crate::validate_label(label)?;
    let entries =
        manifest::read(out).map_err(|source| FetchError::Io { path: out.join(manifest::MANIFEST), source })?;
    let Some(text) = attribution_markdown(out, label, &entries) else { return Ok(None) };
    let path = out.join(label).join(ATTRIBUTION_FILE);
    if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(Some(path));
    }
    issc_core::write_atomic(&path, text.as_bytes()).map_err(|source| FetchError::Io { path: path.clone(), source })?;
    Ok(Some(path))
}

/// The text of `ATTRIBUTION.md` for `label`, or `None` when it would list no photo from the web.
fn attribution_markdown(out: &Path, label: &str, entries: &[Entry]) -> Option<String> {
    let mut seen = HashSet::new();
    let stored: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.label == label && e.status == Status::Ok)
        .filter(|e| e.path.as_deref().is_some_and(|p| out.join(p).is_file()))
        .filter(|e| seen.insert(e.path.clone()))
        .collect();
    if !stored.iter().any(|e| e.provider != "dir") {
        return None;
    }
    let mut s = String::new();
    let _ = writeln!(s, "# Photos of {}: sources, authors and licences\n", md(label));
    let _ = writeln!(
        s,
        "{} photo{} stored in this folder, as listed in `manifest.jsonl` (this file is rewritten after each fetch). \
         Licences and authors are as the provider reported them, not verified: check the source page before reusing \
         a photo, and credit its author where the licence asks for it.",
        stored.len(),
        if stored.len() == 1 { "" } else { "s" }
    );
    for e in stored {
        let file = e.path.as_deref().and_then(|p| p.rsplit('/').next()).unwrap_or_default();
        let a = e.attribution.clone().unwrap_or_default();
        let _ = writeln!(s, "\n## {}\n", md(file));
        let _ = writeln!(s, "- File: [{}](<{}>)", md(file), file.replace(['<', '>'], ""));
        let title = a.title.as_deref().map(md);
        let page = a.page.as_deref().or(e.source.as_deref().filter(|s| http_url(s).is_some()));
        let source = match (title, page.and_then(http_url)) {
            (Some(t), Some(u)) => format!("[{t}](<{u}>)"),
            (None, Some(u)) => format!("<{u}>"),
            (Some(t), None) => t,
            (None, None) => match e.source.as_deref() {
                Some(s) => md(s),
                None => UNKNOWN.into(),
            },
        };
        let _ = writeln!(s, "- Source: {source} (provider: {})", md(&e.provider));
        if e.provider == "dir" {
            let _ = writeln!(s, "- Local file: {}", md(&e.url));
        } else {
            let image = http_url(&e.url).map_or_else(|| md(&e.url), |u| format!("<{u}>"));
            let _ = writeln!(s, "- Image: {image}");
        }
        let _ = writeln!(s, "- Author: {}", a.author.as_deref().map_or_else(|| UNKNOWN.into(), md));
        let license = match (a.license.as_deref(), a.license_url.as_deref().and_then(http_url)) {
            (Some(l), Some(u)) => format!("[{}](<{u}>)", md(l)),
            (Some(l), None) => md(l),
            (None, Some(u)) => format!("<{u}>"),
            (None, None) => UNKNOWN.into(),
        };
        let _ = writeln!(s, "- Licence: {license}");
        let required = match a.attribution_required {
            Some(true) => "yes",
            Some(false) => "no",
            None => UNKNOWN,
        };
        let _ = writeln!(s, "- Attribution required: {required}");
    }
    Some(s)
}

/// An `http(s)` URL in its serialised form (spaces, `<` and `>` percent-encoded), safe inside `<…>`.
fn http_url(s: &str) -> Option<String> {
    let u = url::Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
    Some(u.as_str().replace('<', "%3C").replace('>', "%3E"))
}

/// Markdown-escaped one-line text: what could start a link, an image, HTML, code, emphasis or a character
/// reference is backslash-escaped (`( ) # |` are harmless once `[ ]` and line starts are, and stay readable).
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '&' if chars.peek().is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#') => out.push_str("\\&"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        let f = |s: &str| license_family(s).unwrap_or_default();
        assert_eq!(f("CC BY-SA 4.0"), "cc-by-sa");
        assert_eq!(f("cc-by-sa-3.0-de"), "cc-by-sa");
        assert_eq!(f("CC BY 2.0"), "cc-by");
        assert_eq!(f("CC BY-NC-ND 4.0"), "cc-by-nc-nd");
        assert_eq!(f("CC0"), "cc0");
        assert_eq!(f("cc0-1.0"), "cc0");
        assert_eq!(f("Public domain"), "pd");
        assert_eq!(f("PD-old"), "pd");
        assert_eq!(f("pd"), "pd");
        assert_eq!(f("Cc-pd-mark"), "pd");
        assert_eq!(f("GFDL 1.2"), "gfdl");
        assert_eq!(f("Attribution"), "attribution");
        assert_eq!(license_family("  "), None);
        // "pdf" is not "pd".
        assert_eq!(f("pdf"), "pdf");
    }

    #[test]
    fn filter_matches_families_not_prefixes() {
        let lf = LicenseFilter::parse("cc0, PD ,cc-by-sa").unwrap();
        assert_eq!(lf.families(), ["cc0", "pd", "cc-by-sa"]);
        let a = |l: &str| Attribution { license: Some(l.into()), ..Attribution::default() };
        assert!(lf.matches(&a("CC BY-SA 4.0")));
        assert!(!lf.matches(&a("CC BY 2.0")));
        assert!(LicenseFilter::parse("cc-by").unwrap().matches(&a("CC BY 2.0")));
        assert!(!LicenseFilter::parse("cc-by").unwrap().matches(&a("CC BY-SA 2.0")));
        assert!(lf.matches(&a("Public domain")));
        assert!(lf.matches(&a("CC0")));
        assert!(!lf.matches(&Attribution::default()));
        // The licence code is consulted too.
        let code = Attribution { license: Some("Some local name".into()), license_code: Some("pd".into()), ..a("") };
        assert!(lf.matches(&code));
        assert!(LicenseFilter::parse("").is_err());
        assert!(LicenseFilter::parse("cc0,,pd").is_err());
        assert_eq!(lf.to_string(), "cc0,pd,cc-by-sa");
        // Versions are fine; a misspelt Creative Commons family is refused, naming it, instead of widening or
        // emptying the filter.
        assert_eq!(LicenseFilter::parse("CC BY-SA 4.0,cc-by-nc-nd,gfdl,fal").unwrap().families().len(), 4);
        for typo in ["cc-by-as", "ccby", "cc-by-sa-x", "cc-foo"] {
            let e = LicenseFilter::parse(&format!("cc0,{typo}")).unwrap_err().to_string();
            assert!(e.contains(typo) && e.contains("cc-by-sa"), "{typo}: {e}");
        }
    }

    #[test]
    fn html_text() {
        let artist = r#"<a href="//commons.wikimedia.org/wiki/User:Jos%C3%A9" title="User:José">José &amp; Ann&#39;s&nbsp;<b>studio</b></a><br/>&#x263A; <script>alert("x")</script><style>p{}</style>end"#;
        assert_eq!(html_to_text(artist), "José & Ann's studio ☺ end");
        assert_eq!(html_to_text("a < b &unknown; &#xFFFFFFFF; &"), "a < b &unknown; \u{FFFD} &");
        assert_eq!(html_to_text(&"x".repeat(2000)).chars().count(), MAX_TEXT + 1);
        assert_eq!(decode_entities("{&quot;murl&quot;:&quot;a&amp;b&quot;}"), r#"{"murl":"a&b"}"#);
    }

    #[test]
    fn markdown_is_escaped() {
        assert_eq!(
            md("[x](javascript:y) <img> *a*\nb &amp; & c (d)"),
            r"\[x\](javascript:y) \<img\> \*a\* b \&amp; & c (d)"
        );
        assert_eq!(http_url("javascript:alert(1)"), None);
        assert_eq!(http_url("https://example.com/a b<c>").as_deref(), Some("https://example.com/a%20b%3Cc%3E"));
    }
}
