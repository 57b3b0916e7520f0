//! Any ONNX model with one `f32` input, run on the process's engine: what `issc export` writes and `issc predict`
//! and `issc serve` load. Sessions are pooled exactly like the bundled models' (one per worker thread; under tract,
//! one plan per concrete input shape).

use image::RgbImage;

use crate::DetectError;
use crate::runner::ModelRunner;

/// One named `f32` output of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Output name in the graph.
    pub name: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A loaded ONNX model.
pub struct OnnxModel {
    runner: ModelRunner,
    outputs: Vec<String>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel").field("outputs", &self.outputs).finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Load a model from its bytes (the caller checks where they came from). Fails early when the engine cannot
    /// build a session for it.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DetectError> {
        let runner = ModelRunner::new("model", bytes)?;
        let outputs = runner.output_names()?;
        Ok(Self { runner, outputs })
    }

    /// Output names, in graph order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Run on one input tensor of `shape` (row-major `data`), returning every output.
    pub fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<NamedTensor>, DetectError> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(DetectError::Config(format!(
                "input of shape {shape:?} needs {expected} values, got {}",
                data.len()
            )));
        }
        Ok(self
            .runner
            .run(shape, data)?
            .into_iter()
            .map(|(name, shape, data)| NamedTensor { name, shape, data })
            .collect())
    }
}

/// Pack square RGB faces of side `size` into one `[n, 3, size, size]` tensor, raw 0..255 (SFace's input layout).
/// Faces of another size are an error.
pub fn faces_to_nchw(faces: &[RgbImage], size: u32) -> Result<Vec<f32>, DetectError> {
    let plane = (size * size) as usize;
    let mut data = vec![0f32; faces.len() * 3 * plane];
    for (k, face) in faces.iter().enumerate() {
        if face.dimensions() != (size, size) {
            return Err(DetectError::Config(format!(
                "face {k} is {}x{}, the model takes {size}x{size} aligned faces",
                face.width(),
                face.height()
            )));
        }
        let base = k * 3 * plane;
        for (i, p) in face.pixels().enumerate() {
            data[base + i] = f32::from(p.0[0]);
            data[base + plane + i] = f32::from(p.0[1]);
            data[base + 2 * plane + i] = f32::from(p.0[2]);
        }
    }
    Ok(data)
}
