//! One photo at a time: its faces (with embeddings when asked), or the embedding of its largest face.

use std::path::Path;

use issc_core::{Embedding, LoadOptions};
use issc_detect::{AnalyzedFace, FacePipeline};

use crate::error::{Ctx, PipelineError, Result, bail};

/// A photo's size and faces (embedded when the pipeline has an embedder and `embed`); the error names the photo.
pub fn analyze(
    pipeline: &FacePipeline,
    path: &Path,
    load: &LoadOptions,
    embed: bool,
) -> std::result::Result<(u32, u32, Vec<AnalyzedFace>), String> {
    let name = path.display().to_string();
    let photo = pipeline.load(path, load).map_err(|e| e.to_string())?;
    let faces = if embed {
        pipeline.analyze_photo(&photo).map(|(faces, _, _)| faces)
    } else if photo.is_reduced() {
        pipeline
            .detect_photo(&photo)
            .map(|f| f.into_iter().map(|face| AnalyzedFace { face, embedding: None, detector_id: None }).collect())
    } else {
        pipeline.detector().detect_with_ids(&photo.view().rgb).map(|f| {
            f.into_iter().map(|(face, detector_id)| AnalyzedFace { face, embedding: None, detector_id }).collect()
        })
    }
    .map_err(|e| format!("{name}: {e}"))?;
    let (width, height) = photo.full_size();
    Ok((width, height, faces))
}

/// The embedding of the largest face in the photo at `path` (what a 1:1 verification compares).
pub fn largest_embedding(pipeline: &FacePipeline, path: &Path, load: &LoadOptions) -> Result<Embedding> {
    let photo = pipeline.load(path, load).map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let faces = pipeline.detect_photo(&photo).ctx(|| format!("{}: detection failed", path.display()))?;
    let Some(i) = issc_core::Face::largest(&faces) else {
        bail!(
            "{}: no face found (score threshold {}); try a photo where the face is visible and at least ~20 px, \
             or lower the detection score",
            path.display(),
            pipeline.detector().config().score_threshold
        );
    };
    let embedder = pipeline.embedder().ctx(|| "the face pipeline has no embedder")?;
    let (aligned, _) = issc_detect::align_from_photo(&photo, &faces[i].landmarks, embedder.input_size())
        .ctx(|| format!("{}: cannot align the face", path.display()))?;
    let aligned =
        aligned.ctx(|| format!("{}: the face's landmarks are degenerate; cannot align it", path.display()))?;
    embedder.embed(&aligned).ctx(|| format!("{}: cannot embed the face", path.display()))
}

/// Photos analysed per parallel batch before their results are handed on.
pub const CHUNK: usize = 64;

/// Runs `analyze` on every path, [`CHUNK`] at a time on every core, and hands each result to `emit` in input order
/// (so results stream while memory stays bounded). Returns how many failed and how many there were.
pub fn each_in_order<T: Send, E: Send>(
    paths: &[std::path::PathBuf],
    analyze: impl Fn(&Path) -> std::result::Result<T, E> + Sync,
    mut emit: impl FnMut(&Path, std::result::Result<T, E>) -> std::io::Result<()>,
) -> std::io::Result<(usize, usize)> {
    use rayon::prelude::*;
    let mut failed = 0;
    for chunk in paths.chunks(CHUNK) {
        let results: Vec<_> = chunk.par_iter().map(|p| analyze(p)).collect();
        for (p, r) in chunk.iter().zip(results) {
            failed += usize::from(r.is_err());
            emit(p, r)?;
        }
    }
    Ok((failed, paths.len()))
}

fn round(v: f32, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (f64::from(v) * k).round() / k
}

/// A face's box, score and landmarks as JSON (`issc detect --json`'s fields).
fn face_fields(f: &issc_core::Face) -> serde_json::Value {
    let b = f.bbox;
    serde_json::json!({
        "box": [round(b.x, 3), round(b.y, 3), round(b.w, 3), round(b.h, 3)],
        "score": round(f.score, 5),
        "landmarks": f.landmarks.0.iter().map(|[x, y]| [round(*x, 3), round(*y, 3)]).collect::<Vec<_>>(),
    })
}

/// One photo's faces as a JSON line: `{"path", "width", "height", "faces": [{box, score, landmarks, face_id?,
/// embedding?}]}`.
pub fn photo_json(path: &Path, (width, height): (u32, u32), faces: &[AnalyzedFace]) -> serde_json::Value {
    let faces: Vec<_> = faces
        .iter()
        .map(|f| {
            let mut v = face_fields(&f.face);
            if let Some(id) = &f.detector_id {
                v["face_id"] = serde_json::json!(id);
            }
            if let Some(e) = &f.embedding {
                v["embedding"] = serde_json::json!(e.as_slice());
            }
            v
        })
        .collect();
    serde_json::json!({"path": path.display().to_string(), "width": width, "height": height, "faces": faces})
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One photo's faces as text: a line for the photo, then one per face (and the head of its embedding).
pub fn photo_text(path: &Path, (width, height): (u32, u32), faces: &[AnalyzedFace]) -> String {
    use std::fmt::Write as _;
    let mut s = format!("{} ({width}x{height}): {} face{}\n", path.display(), faces.len(), plural(faces.len()));
    for (i, f) in faces.iter().enumerate() {
        let b = f.face.bbox;
        let lm: Vec<String> = f.face.landmarks.0.iter().map(|[x, y]| format!("({x:.1},{y:.1})")).collect();
        let _ = writeln!(
            s,
            "  #{i} box x={:.1} y={:.1} w={:.1} h={:.1} score={:.3} landmarks={}",
            b.x,
            b.y,
            b.w,
            b.h,
            f.face.score,
            lm.join(" ")
        );
        if let Some(e) = &f.embedding {
            let head: Vec<String> = e.as_slice().iter().take(4).map(|v| format!("{v:.4}")).collect();
            let _ = writeln!(s, "     embedding[{}] = [{}, ...]", e.dim(), head.join(", "));
        }
    }
    s
}

/// One photo's labelled faces as a JSON line: `issc detect --json`'s fields plus label, probability and top_k per
/// face, and how many faces were found and dropped (over the predictor's cap).
pub fn prediction_json(path: &Path, (width, height): (u32, u32), p: &issc_predict::Prediction) -> serde_json::Value {
    let faces: Vec<_> = p
        .faces
        .iter()
        .map(|f| {
            let mut v = face_fields(&f.face);
            v["label"] = serde_json::json!(f.label.name());
            v["probability"] = serde_json::json!(round(f.label.probability, 6));
            v["top_k"] = f
                .label
                .top_k
                .iter()
                .map(|c| serde_json::json!({"label": c.label, "probability": round(c.probability, 6)}))
                .collect();
            v
        })
        .collect();
    serde_json::json!({"path": path.display().to_string(), "width": width, "height": height, "faces": faces,
        "faces_detected": p.detected, "faces_dropped": p.dropped()})
}

/// One photo's labelled faces as text: a line for the photo, then one per face with its best candidates.
pub fn prediction_text(path: &Path, p: &issc_predict::Prediction) -> String {
    use std::fmt::Write as _;
    let dropped = p.dropped();
    let more = if dropped > 0 {
        format!(" ({dropped} more not labelled, the smallest: over the cap on faces per photo)")
    } else {
        String::new()
    };
    let mut s = format!("{}: {} face{}{more}\n", path.display(), p.faces.len(), plural(p.faces.len()));
    for (i, f) in p.faces.iter().enumerate() {
        let b = f.face.bbox;
        let others: Vec<String> = f.label.top_k.iter().map(|c| format!("{} {:.3}", c.label, c.probability)).collect();
        let _ = writeln!(
            s,
            "  #{i} {:<24} p={:.3}  box x={:.0} y={:.0} w={:.0} h={:.0}  top: {}",
            f.label.name(),
            f.label.probability,
            b.x,
            b.y,
            b.w,
            b.h,
            others.join(", ")
        );
    }
    s
}
