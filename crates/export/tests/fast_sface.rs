//! The bundled fast SFace graph (`models/face_recognition_sface_2021dec_fast.onnx`) is what `issc_export::fast`
//! makes of the original, byte for byte, and gives the original's embeddings (cosine >= 0.99999) on every face of
//! `../shared/data/identity/public`, on the engine this process runs (ONNX Runtime when its library is found).

use std::path::{Path, PathBuf};

use issc_detect::models::{SFACE_DEQUANT, SFACE_FAST};
use issc_detect::{DetectorConfig, DetectorKind, Embedder, FacePipeline, ModelDir, PipelineMode, SFace};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models() -> ModelDir {
    ModelDir::at(&repo().join("models"), "test").expect("models folder")
}

#[test]
fn the_bundled_fast_graph_is_reproducible_from_the_original() {
    let models = models();
    let original = models.load(&SFACE_DEQUANT).expect("original SFace");
    let (bytes, rewritten) = issc_export::fast::fast_model_bytes(&original).expect("rewrite");
    assert_eq!(rewritten, 27, "SFace has 27 PRelu");
    assert_eq!(
        issc_predict::sha256_hex(&bytes),
        SFACE_FAST.sha256,
        "models/{} is not what the rewrite makes",
        SFACE_FAST.file
    );
    // Rewriting the rewritten graph changes nothing (no PRelu left).
    assert_eq!(issc_export::fast::fast_model_bytes(&bytes).expect("rewrite").1, 0);
}

#[test]
fn fast_and_original_sface_agree_on_every_public_face() {
    let data = repo().join("../shared/data/identity/public");
    assert!(data.is_dir(), "{} is missing: this test needs ../shared/data (CI has it)", data.display());
    let models = models();
    let detector = FacePipeline::with_mode(
        &models,
        DetectorKind::YuNet,
        DetectorConfig::default(),
        false,
        PipelineMode::Reference,
    )
    .expect("YuNet");
    let fast = SFace::with_mode(&models, PipelineMode::Fast).expect("fast SFace");
    let original = SFace::with_mode(&models, PipelineMode::Reference).expect("original SFace");
    let mut photos: Vec<PathBuf> = walk(&data);
    photos.retain(|p| p.extension().is_some_and(|e| e != "csv"));
    photos.sort();
    let (mut faces, mut worst) = (0usize, 1f32);
    for p in &photos {
        let img = issc_core::load_image(p, &Default::default()).expect("photo").rgb;
        for face in detector.detect(&img).expect("detect") {
            let aligned = issc_detect::align_face(&img, &face.landmarks, 112).expect("aligned");
            let c = fast.embed(&aligned).expect("fast").cosine(&original.embed(&aligned).expect("original"));
            worst = worst.min(c);
            assert!(c >= 0.99999, "{}: fast and original SFace at cosine {c}", p.display());
            faces += 1;
        }
    }
    let engine = issc_detect::engine_info().map_or_else(|| "?".into(), |e| e.kind.to_string());
    println!(
        "fast SFace [{engine}]: {faces} faces of {} photos, worst cosine to the original {worst:.7}",
        photos.len()
    );
    assert!(faces >= 121, "only {faces} faces found in {} photos", photos.len());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("folder").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
