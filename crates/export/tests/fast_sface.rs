//! The bundled fast SFace graph (`models/face_recognition_sface_2021dec_fast.onnx`) is what `issc_export::fast`
//! makes of the original, byte for byte, and gives the original's embeddings (cosine >= 0.99999) on every face of
//! `../shared/data/identity/public`, on the engine this process runs (ONNX Runtime when its library is found).
//! The int8 graph (`models/face_recognition_sface_2021dec_int8.onnx`) is what `issc_export::int8` makes of the fast
//! one, byte for byte, and under ONNX Runtime holds the fast path's parity with the original on every face of the
//! shared identity and group photos: cosine >= 0.98 on >= 99 % of faces (and, as measured, >= 0.99 on all).

use std::path::{Path, PathBuf};

use issc_detect::models::{SFACE_DEQUANT, SFACE_FAST, SFACE_INT8};
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
    let fast = SFace::new(&models).expect("fast SFace");
    assert_eq!(fast.file(), SFACE_FAST.file);
    let original = SFace::with_mode(&models, PipelineMode::Reference).expect("original SFace");
    let mut photos: Vec<PathBuf> = walk(&data);
    photos.retain(|p| p.extension().is_some_and(|e| e != "csv"));
    photos.sort();
    let (mut faces, mut worst) = (0usize, 1f32);
    for (p, aligned) in aligned_faces(&models, &photos) {
        let c = fast.embed(&aligned).expect("fast").cosine(&original.embed(&aligned).expect("original"));
        worst = worst.min(c);
        assert!(c >= 0.99999, "{}: fast and original SFace at cosine {c}", p.display());
        faces += 1;
    }
    let engine = issc_detect::engine_info().map_or_else(|| "?".into(), |e| e.kind.to_string());
    println!(
        "fast SFace [{engine}]: {faces} faces of {} photos, worst cosine to the original {worst:.7}",
        photos.len()
    );
    assert!(faces >= 121, "only {faces} faces found in {} photos", photos.len());
}

#[test]
fn the_bundled_int8_graph_is_reproducible_from_the_fast_one() {
    let models = models();
    let fast = models.load(&SFACE_FAST).expect("fast SFace");
    let (bytes, q) = issc_export::int8::int8_model_bytes(&fast).expect("quantize");
    assert_eq!(
        (q.convolutions, q.batch_norms_folded, q.gemms),
        (11, 11, 1),
        "SFace: the 11 1x1 convolutions with >= 128 input channels, their batch norms, and the 50176 -> 128 Gemm"
    );
    assert_eq!(
        issc_predict::sha256_hex(&bytes),
        SFACE_INT8.sha256,
        "models/{} is not what the quantization makes",
        SFACE_INT8.file
    );
    // Quantizing the quantized graph changes nothing (no fp32 1x1 convolution or Gemm left to take).
    assert_eq!(issc_export::int8::int8_model_bytes(&bytes).expect("quantize").1, Default::default());
}

/// Under ONNX Runtime (the only engine that runs it; CI has the library), on every face of the shared identity
/// and group photos.
#[test]
fn int8_sface_holds_the_fast_path_parity_with_the_original() {
    issc_detect::init_engine(issc_detect::EngineChoice::OnnxRuntime)
        .expect("ONNX Runtime: run scripts/fetch-onnxruntime.sh or set ORT_DYLIB_PATH (CI does)");
    let shared = repo().join("../shared/data");
    assert!(shared.is_dir(), "{} is missing: this test needs ../shared/data (CI has it)", shared.display());
    let models = models();
    let int8 = SFace::with_mode(&models, PipelineMode::Fast).expect("int8 SFace");
    assert_eq!(int8.file(), SFACE_INT8.file, "fast mode under ONNX Runtime runs the int8 graph");
    let original = SFace::with_mode(&models, PipelineMode::Reference).expect("original SFace");
    let mut photos: Vec<PathBuf> =
        ["identity/public", "detection/images"].iter().flat_map(|d| walk(&shared.join(d))).collect();
    photos.retain(|p| p.extension().is_some_and(|e| e != "csv" && e != "txt" && e != "json"));
    photos.sort();
    let mut cosines = Vec::new();
    for (_, aligned) in aligned_faces(&models, &photos) {
        cosines.push(int8.embed(&aligned).expect("int8").cosine(&original.embed(&aligned).expect("original")));
    }
    cosines.sort_by(f32::total_cmp);
    let n = cosines.len();
    let share = cosines.iter().filter(|&&c| c >= 0.98).count() as f64 / n as f64;
    println!(
        "int8 SFace: {n} faces of {} photos; cosine to the original: min {:.5}, 1st percentile {:.5}, median {:.5}; \
         >= 0.98 on {:.2} %",
        photos.len(),
        cosines[0],
        cosines[n / 100],
        cosines[n / 2],
        100.0 * share
    );
    assert!(n >= 350, "only {n} faces found in {} photos", photos.len());
    assert!(share >= 0.99, "cosine >= 0.98 on only {:.2} % of faces", 100.0 * share);
}

/// Every face YuNet finds in `photos` (the reference pipeline's detections), aligned to 112x112, with its photo.
fn aligned_faces<'a>(models: &ModelDir, photos: &'a [PathBuf]) -> Vec<(&'a Path, image::RgbImage)> {
    let detector =
        FacePipeline::with_mode(models, DetectorKind::YuNet, DetectorConfig::default(), false, PipelineMode::Reference)
            .expect("YuNet");
    let mut out = Vec::new();
    for p in photos {
        let img = issc_core::load_image(p, &Default::default()).expect("photo").rgb;
        for face in detector.detect(&img).expect("detect") {
            out.push((p.as_path(), issc_detect::align_face(&img, &face.landmarks, 112).expect("aligned")));
        }
    }
    out
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
