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
