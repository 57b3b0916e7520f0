//! `raw/manifest.jsonl`: one line per URL outcome, appended as results arrive (a line cut by a crash is
//! ignored when read back).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::attribution::Attribution;

/// File name of the manifest, in the output folder.
pub const MANIFEST: &str = "manifest.jsonl";

/// The format of the lines this version writes ([`Entry::v`]). A line of a newer format is refused when read.
pub const FORMAT: u32 = 1;

/// Lines written before formats were numbered are format 1.
fn format_1() -> u32 {
    1
}

/// What happened to one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored as a new file.
    Ok,
    /// A valid image whose bytes were already stored (under another URL).
    Duplicate,
    /// Downloaded, but not an acceptable image (permanent: not retried on later runs).
    Rejected,
    /// Could not be downloaded (network, HTTP error); retried on later runs until it failed K times.
    Failed,
    /// Not attempted (blacklisted, or failed too often before).
    Skipped,
}

/// One line of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The line's format ([`FORMAT`]; 1 when absent).
    #[serde(default = "format_1")]
    pub v: u32,
    /// The URL (or, for the folder provider, the file path).
    pub url: String,
    /// Label the image is for.
    pub label: String,
    /// `serpapi`, `commons`, `bing`, `urls` or `dir`.
    pub provider: String,
    /// Outcome.
    pub status: Status,
    /// Short reason for anything but `ok` (`http_404`, `timeout`, `not_an_image`, `too_large`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Longer explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// BLAKE3 of the bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Sniffed format (`jpeg`, `png`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Pixel width (after EXIF orientation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixel height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Bytes received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The stored file, relative to the output folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Attempts made in this run.
    pub attempts: u32,
    /// Page title / source page, when the provider gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Source page, author and licence, when the provider gave them (Wikimedia Commons; Bing gives only the page
    /// and title). Absent in manifests written before providers reported it, which read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// Unix time of the outcome.
    pub time: u64,
}

/// The manifest file: read at start, appended to while running.
pub struct Manifest {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Manifest {
    /// Open (creating) `dir/manifest.jsonl` for appending and read what it already holds.
    pub fn open(dir: &Path) -> std::io::Result<(Self, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(MANIFEST);
        let entries = read(dir)?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((Self { path, file: Mutex::new(file) }, entries))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry (one `write` of a whole line, then flushed to disk).
    pub fn append(&self, e: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)?;
        f.sync_data()
    }
}

/// Read `dir/manifest.jsonl` without opening it for writing: every line that parses, in order (none when the
/// file does not exist). Unreadable lines (cut by a crash, damaged) are skipped with a warning; a line of a newer
/// [`FORMAT`] than this version reads is an error (`InvalidData`), so that nothing is decided from a misread line.
pub fn read(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let path = dir.join(MANIFEST);
    let mut entries = Vec::new();
    if let Ok(f) = std::fs::File::open(&path) {
        // Lines are read as bytes: one line of invalid UTF-8 (a crash mid-write, a stray edit) is skipped like
        // any unreadable line, not an error for the whole file.
        for line in std::io::BufReader::new(f).split(b'\n') {
            let line = line.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let line = String::from_utf8_lossy(&line);
            if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                if e.v > FORMAT {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{}: a line of format {} (this issc reads up to {FORMAT}): it was written by a newer \
                             issc; update issc, or fetch into another folder",
                            path.display(),
                            e.v
                        ),
                    ));
                }
                entries.push(e);
            } else if !line.trim().is_empty() {
                tracing::warn!("{}: ignoring an unreadable line (cut by an interrupted run?)", path.display());
            }
        }
    }
    Ok(entries)
}

/// What earlier runs decided about URLs of one label: done (ok, duplicate, rejected) and failure counts.
#[derive(Debug, Default)]
pub struct History {
    /// URLs that need no further attempt, with their final status.
    pub done: HashMap<String, Status>,
    /// Failures per URL over all runs.
    pub failures: HashMap<String, u32>,
    /// Files already stored for the label.
    pub stored: usize,
}

impl History {
    /// Summarise `entries` for `label`.
    pub fn of(entries: &[Entry], label: &str) -> Self {
        let mut h = History::default();
        for e in entries.iter().filter(|e| e.label == label) {
            match e.status {
                Status::Ok | Status::Duplicate | Status::Rejected => {
                    if e.status == Status::Ok && !h.done.contains_key(&e.url) {
                        h.stored += 1;
                    }
                    h.done.insert(e.url.clone(), e.status);
                }
                Status::Failed => *h.failures.entry(e.url.clone()).or_default() += 1,
                Status::Skipped => {}
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lines_still_read_and_new_fields_round_trip() {
        let old = r#"{"url":"https://a.example/x.jpg","label":"ada","provider":"serpapi","status":"ok","hash":"h","format":"jpg","width":100,"height":90,"bytes":5,"path":"ada/h.jpg","attempts":1,"source":"https://a.example/","time":1}"#;
        let e: Entry = serde_json::from_str(old).unwrap();
        assert_eq!((e.v, e.attribution.as_ref()), (1, None), "a line without a format is format 1");
        let written = serde_json::to_string(&e).unwrap();
        assert_eq!(written, format!("{{\"v\":1,{}", &old[1..]), "an old line writes back with its format");
        let mut new = e.clone();
        new.attribution = Some(Attribution {
            license: Some("CC BY-SA 4.0".into()),
            license_url: Some("https://creativecommons.org/licenses/by-sa/4.0".into()),
            author: Some("Ann".into()),
            attribution_required: Some(true),
            ..Attribution::default()
        });
        let line = serde_json::to_string(&new).unwrap();
        assert!(line.contains(r#""attribution":{"author":"Ann","license":"CC BY-SA 4.0""#), "{line}");
        assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), new);
    }

    #[test]
    fn a_line_of_a_newer_format_is_refused_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let line = r#"{"v":2,"url":"u","label":"ada","provider":"dir","status":"ok","attempts":1,"time":1}"#;
        std::fs::write(dir.path().join(MANIFEST), format!("{line}\n")).unwrap();
        let e = read(dir.path()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("manifest.jsonl") && e.to_string().contains("format 2"), "{e}");
    }
}
