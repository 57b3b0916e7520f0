//! A pool of inference sessions over one model, so several threads can run it at once.
//!
//! `ort` sessions run with `&mut self`, and one ONNX Runtime session per worker with one intra-op thread is the
//! fastest arrangement on CPU for these small models (MODELS.md §7–8): rayon spreads images over cores, each worker
//! takes a session from the pool, and sessions are built lazily and reused for the life of the process.
//!
//! Under tract, sessions are built per concrete input shape (the model's input is rewritten to that shape in
//! memory): tract then plans and optimises the graph once for that shape, which runs several times faster than a
//! symbolic plan, and some graphs (RetinaFace) only run that way. At most [`MAX_SHAPES`] shapes are kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::DetectError;

/// Most concrete shapes a tract runner keeps sessions for.
pub(crate) const MAX_SHAPES: usize = 64;

type PoolKey = Option<Vec<usize>>;

pub(crate) struct ModelRunner {
    name: &'static str,
    bytes: Arc<Vec<u8>>,
    per_shape: bool,
    pools: Mutex<HashMap<PoolKey, Vec<Session>>>,
}

/// Named `f32` outputs of one run: `(name, shape, data)`.
pub(crate) type Outputs = Vec<(String, Vec<i64>, Vec<f32>)>;

impl ModelRunner {
    /// Build one session now (so a broken model fails early) and keep it in the pool.
    pub(crate) fn new(name: &'static str, bytes: Vec<u8>) -> Result<Self, DetectError> {
        crate::engine::environment()?;
        let per_shape = crate::engine::engine_info().is_some_and(|e| e.kind == crate::EngineKind::Tract);
        let runner = Self { name, bytes: Arc::new(bytes), per_shape, pools: Mutex::new(HashMap::new()) };
        // Load once now so a broken model fails at start-up, not on the first photo.
        let first = runner.build(&None)?;
        runner.pools.lock().unwrap_or_else(|p| p.into_inner()).entry(None).or_default().push(first);
        Ok(runner)
    }

    fn build(&self, key: &PoolKey) -> Result<Session, DetectError> {
        let env = crate::engine::environment()?;
        let fixed;
        let bytes: &[u8] = match key {
            Some(shape) => {
                fixed = crate::onnxfix::with_fixed_input_shape(&self.bytes, shape).ok_or_else(|| {
                    DetectError::inference(self.name, "cannot set a concrete input shape: unexpected ONNX layout")
                })?;
                &fixed
            }
            None => &self.bytes,
        };
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
            .commit_from_memory(bytes)
            .map_err(|e| DetectError::inference(self.name, format!("cannot load model: {e}")))
    }

    /// Names of the model's outputs, in order.
    pub(crate) fn output_names(&self) -> Result<Vec<String>, DetectError> {
        self.with_session(&None, |s| Ok(s.outputs().iter().map(|o| o.name().to_string()).collect()))
    }

    fn with_session<R>(
        &self,
        key: &PoolKey,
        f: impl FnOnce(&mut Session) -> Result<R, DetectError>,
    ) -> Result<R, DetectError> {
        let taken = self.pools.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key).and_then(Vec::pop);
        let mut session = match taken {
            Some(s) => s,
            None => self.build(key)?,
        };
        let result = f(&mut session);
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if pools.len() >= MAX_SHAPES && !pools.contains_key(key) {
            pools.retain(|k, _| k.is_none());
        }
        pools.entry(key.clone()).or_default().push(session);
        result
    }

    /// Run the model on one `f32` input tensor and copy every output out.
    pub(crate) fn run(&self, shape: &[usize], data: &[f32]) -> Result<Outputs, DetectError> {
        let name = self.name;
        let key = if self.per_shape { Some(shape.to_vec()) } else { None };
        self.with_session(&key, |session| {
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
