//! A pool of inference sessions over one model, so several threads can run it at once.
//!
//! `ort` sessions run with `&mut self`, and one ONNX Runtime session per worker with one intra-op thread is the
//! fastest arrangement on CPU for these small models (MODELS.md §7–8): rayon spreads images over cores, each worker
//! takes a session from the pool, and sessions are built lazily and reused for the life of the process.

use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::DetectError;

pub(crate) struct ModelRunner {
    name: &'static str,
    bytes: Arc<Vec<u8>>,
    pool: Mutex<Vec<Session>>,
}

/// Named `f32` outputs of one run: `(name, shape, data)`.
pub(crate) type Outputs = Vec<(String, Vec<i64>, Vec<f32>)>;

impl ModelRunner {
    /// Build one session now (so a broken model fails early) and keep it in the pool.
    pub(crate) fn new(name: &'static str, bytes: Vec<u8>) -> Result<Self, DetectError> {
        let runner = Self { name, bytes: Arc::new(bytes), pool: Mutex::new(Vec::new()) };
        let first = runner.build()?;
        runner.pool.lock().unwrap_or_else(|p| p.into_inner()).push(first);
        Ok(runner)
    }

    fn build(&self) -> Result<Session, DetectError> {
        let env = crate::engine::environment()?;
        let err = |e: ort::Error<_>| DetectError::inference(self.name, e);
        Session::builder(env)
            .map_err(|e| DetectError::inference(self.name, e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(err)?
            .with_intra_threads(1)
            .map_err(err)?
            .with_inter_threads(1)
            .map_err(err)?
            .with_log_level(ort::logging::LogLevel::Error)
            .map_err(err)?
            .commit_from_memory(&self.bytes)
            .map_err(|e| DetectError::inference(self.name, format!("cannot load model: {e}")))
    }

    /// Names of the model's outputs, in order.
    pub(crate) fn output_names(&self) -> Result<Vec<String>, DetectError> {
        self.with_session(|s| Ok(s.outputs().iter().map(|o| o.name().to_string()).collect()))
    }

    fn with_session<R>(&self, f: impl FnOnce(&mut Session) -> Result<R, DetectError>) -> Result<R, DetectError> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut session = match taken {
            Some(s) => s,
            None => self.build()?,
        };
        let result = f(&mut session);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(session);
        result
    }

    /// Run the model on one `f32` input tensor and copy every output out.
    pub(crate) fn run(&self, shape: &[usize], data: &[f32]) -> Result<Outputs, DetectError> {
        let name = self.name;
        self.with_session(|session| {
            let input =
                TensorRef::from_array_view((shape.to_vec(), data)).map_err(|e| DetectError::inference(name, e))?;
            let outputs = session.run(ort::inputs![input]).map_err(|e| DetectError::inference(name, e))?;
            let mut result = Vec::with_capacity(outputs.len());
            for (key, value) in outputs.iter() {
                let (shape, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| DetectError::inference(name, format!("{key}: {e}")))?;
                result.push((key.to_string(), shape.iter().copied().collect(), data.to_vec()));
            }
            Ok(result)
        })
    }
}

/// Find an output by name.
pub(crate) fn output<'a>(outs: &'a Outputs, name: &str, model: &'static str) -> Result<&'a [f32], DetectError> {
    outs.iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, _, d)| d.as_slice())
        .ok_or_else(|| DetectError::inference(model, format!("model has no output named '{name}'")))
}
