//! The embedding cache: one small file per crop, named by the BLAKE3 of the crop's bytes.

use std::path::{Path, PathBuf};

use crate::EMBEDDING_DIM;
use crate::error::{TrainError, io_err};

/// A folder of embeddings keyed by the BLAKE3 of the crop they were computed from, so re-runs and other runs
/// (other datasets holding the same crops) reuse them. Layout: `<dir>/<model>/<b3[..2]>/<b3>.f32`, 128
/// little-endian `f32`, written atomically.
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    dir: PathBuf,
    model: String,
}

/// Hits and misses of one pass over a dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Embeddings read from the cache.
    pub hits: usize,
    /// Embeddings computed (and written to the cache).
    pub misses: usize,
}

impl EmbeddingCache {
    /// A cache in `dir` for SFace embeddings.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::for_model(dir, "sface-2021dec")
    }

    /// A cache in `dir` for embeddings of the model named `model` (a sub-folder, so models never mix).
    pub fn for_model(dir: impl Into<PathBuf>, model: &str) -> Self {
        Self { dir: dir.into(), model: model.to_string() }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, blake3: &str) -> PathBuf {
        let prefix = blake3.get(..2).unwrap_or("xx");
        self.dir.join(&self.model).join(prefix).join(format!("{blake3}.f32"))
    }

    /// The cached embedding of the crop with this BLAKE3, if present and valid (128 finite values of unit
    /// length); a damaged entry counts as absent and is overwritten by the next [`put`](Self::put).
    pub fn get(&self, blake3: &str) -> Option<Vec<f32>> {
        if !valid_key(blake3) {
            return None;
        }
        let bytes = std::fs::read(self.path(blake3)).ok()?;
        if bytes.len() != EMBEDDING_DIM * 4 {
            return None;
        }
        let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        (v.iter().all(|x| x.is_finite()) && (norm - 1.0).abs() < 1e-3).then_some(v)
    }

    /// Store an embedding (atomically).
    pub fn put(&self, blake3: &str, embedding: &[f32]) -> Result<(), TrainError> {
        if !valid_key(blake3) {
            return Err(TrainError::Options(format!("not a BLAKE3 hex digest: {blake3:?}")));
        }
        let path = self.path(blake3);
        let bytes: Vec<u8> = embedding.iter().flat_map(|x| x.to_le_bytes()).collect();
        issc_core::write_atomic(&path, &bytes).map_err(io_err(&path))
    }
}

fn valid_key(k: &str) -> bool {
    k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damaged_entries() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = EmbeddingCache::new(tmp.path());
        let key = "ab".repeat(32);
        assert!(cache.get(&key).is_none());
        let mut v = vec![0f32; EMBEDDING_DIM];
        v[3] = 1.0;
        cache.put(&key, &v).expect("put");
        assert_eq!(cache.get(&key), Some(v));
        std::fs::write(cache.path(&key), b"short").expect("write");
        assert!(cache.get(&key).is_none(), "a damaged entry is a miss");
        assert!(cache.put("../etc", &[0.0]).is_err());
    }
}
