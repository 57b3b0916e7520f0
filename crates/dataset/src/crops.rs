//! `crops.jsonl`, the manifest `issc crop` writes beside its crops: one line per face cropped, per photo without a
//! face, and per photo that could not be read. `issc prepare` and `issc run` read it; this module is the one place
//! that knows its format.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The manifest's file name, in the crop folder.
pub const MANIFEST: &str = "crops.jsonl";

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
/// by a crash, edited by hand) is skipped with a warning: its photo is simply redone.
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
            Ok(e) => entries.push(e),
            // A line cut by a crash is ignored: its photo will simply be redone.
            Err(e) => tracing::warn!("{}:{}: ignoring unreadable line ({e})", path.display(), i + 1),
        }
    }
    Ok(entries)
}
