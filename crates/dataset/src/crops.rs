//! `crops.jsonl`, the manifest `issc crop` writes beside its crops: one line per face cropped, per photo without a
//! face, and per photo that could not be read. `issc prepare` and `issc run` read it; this module is the one place
//! that knows its format.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The manifest's file name, in the crop folder.
pub const MANIFEST: &str = "crops.jsonl";

/// The format of the lines this version writes ([`CropEntry::v`]). A line of a newer format is refused when read.
pub const FORMAT: u32 = 1;

/// Lines written before formats were numbered are format 1.
fn format_1() -> u32 {
    1
}

/// What happened to a photo (or one of its faces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropStatus {
    /// A face was cropped (`crop` names the file).
    Ok,
    /// The photo was read and holds no face.
    NoFace,
    /// The photo could not be read (`reason`, `error`).
    Error,
}

/// One line of `crops.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CropEntry {
    /// The line's format ([`FORMAT`]; 1 when absent).
    #[serde(default = "format_1")]
    pub v: u32,
    /// The photo, as found under `--in`.
    pub source: String,
    /// Label (the sub-folder name), or null for photos directly in `--in`.
    pub label: Option<String>,
    /// `ok` (a face was cropped), `no_face`, or `error`.
    pub status: CropStatus,
    /// Face number within the photo (0 = highest score), for `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_index: Option<usize>,
    /// Face box `[x, y, w, h]` in photo pixels.
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f32; 4]>,
    /// Five landmarks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<[[f32; 2]; 5]>,
    /// Detector score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The crop file, relative to `--out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<String>,
    /// Crop settings, so a re-run with other settings redoes the photo.
    pub mode: String,
    /// Crop side in pixels.
    pub size: u32,
    /// For `error`: the reason kind (`corrupt`, `not_an_image`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `error`: the full message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Photo width and height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Photo height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// Read a crop manifest: its entries in file order; none when the file does not exist. A line that cannot be read (cut
/// by a crash, edited by hand) is skipped with a warning: its photo is simply redone. A line of a newer [`FORMAT`]
/// than this version reads is an error (`InvalidData`) naming the file and line.
pub fn read_manifest(path: &Path) -> std::io::Result<Vec<CropEntry>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    // Lines are read as bytes: a line of invalid UTF-8 is skipped like any other unreadable line.
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let line = String::from_utf8_lossy(&line);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CropEntry>(&line) {
            Ok(e) if e.v > FORMAT => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}:{}: a line of format {} (this issc reads up to {FORMAT}): it was written by a newer issc; \
                         update issc, or crop into another folder",
                        path.display(),
                        i + 1,
                        e.v
                    ),
                ));
            }
            Ok(e) => entries.push(e),
            // A line cut by a crash is ignored: its photo will simply be redone.
            Err(e) => tracing::warn!("{}:{}: ignoring unreadable line ({e})", path.display(), i + 1),
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_their_format_and_newer_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST);
        let old = r#"{"source":"a/1.jpg","label":"a","status":"no_face","mode":"aligned","size":112}"#;
        let newer = r#"{"v":2,"source":"a/2.jpg","label":"a","status":"no_face","mode":"aligned","size":112}"#;
        std::fs::write(&path, format!("{old}\n{{cut by a crash\n")).unwrap();
        let entries = read_manifest(&path).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].v, 1, "a line without a format is format 1");
        assert!(serde_json::to_string(&entries[0]).unwrap().starts_with(r#"{"v":1,"#));
        std::fs::write(&path, format!("{old}\n{newer}\n")).unwrap();
        let e = read_manifest(&path).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("crops.jsonl:2") && e.to_string().contains("format 2"), "{e}");
    }
}
