//! The committed inputs: seeds (`seeds/<target>/`) and the regression corpus (`regressions/<target>/`, and
//! `regressions/<target>/open/` for inputs of bugs not fixed yet).

use std::path::{Path, PathBuf};

/// One committed input.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed {
    /// File name (what messages show).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes: {})", self.name, self.bytes.len(), crate::bytes::hex_head(&self.bytes, 24))
    }
}

/// This crate's folder (where `seeds/` and `regressions/` are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of `dir` (not recursing; hidden files and `README.md` skipped), sorted by name; empty when the
/// folder does not exist.
pub fn read_dir(dir: &Path) -> Vec<Seed> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<Seed> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.eq_ignore_ascii_case("README.md") {
                return None;
            }
            let bytes = std::fs::read(e.path()).ok()?;
            Some(Seed { name, bytes })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The seeds of `target` (`seeds/<target>/`). Panics when there are none: a target without seeds fuzzes nothing.
pub fn seeds(target: &str) -> Vec<Seed> {
    let dir = root().join("seeds").join(target);
    let s = read_dir(&dir);
    assert!(!s.is_empty(), "no seeds in {}: every fuzz target needs real inputs to mutate", dir.display());
    s
}

/// The regression corpus of `target` (`regressions/<target>/`): inputs that once failed, replayed on every run.
pub fn regressions(target: &str) -> Vec<Seed> {
    read_dir(&root().join("regressions").join(target))
}

/// Inputs of bugs still open (`regressions/<target>/open/`), replayed by an ignored test until the bug is fixed
/// (then the file moves up into `regressions/<target>/`).
pub fn open_regressions(target: &str) -> Vec<Seed> {
    read_dir(&root().join("regressions").join(target).join("open"))
}
