//! The classifier head: linear, or a one-hidden-layer MLP, over 128-d embeddings.

use burn::module::{Module, Param};
use burn::nn::{Linear, Relu};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Shape of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Input size (128 for SFace).
    pub input: usize,
    /// Hidden units of the MLP; `None` for a linear head.
    pub hidden: Option<usize>,
    /// Number of classes.
    pub classes: usize,
}

/// The head module.
#[derive(Module, Debug)]
pub(crate) struct Head {
    hidden: Option<Linear>,
    activation: Relu,
    output: Linear,
}

/// A linear layer with weights drawn from `U(-k, k)`, `k = 1/sqrt(d_in)` by a seeded RNG, so initialisation
/// does not depend on burn's global RNG.
fn linear(d_in: usize, d_out: usize, rng: &mut ChaCha8Rng, device: &Device) -> Linear {
    let k = 1.0 / (d_in as f32).sqrt();
    let w: Vec<f32> = (0..d_in * d_out).map(|_| rng.random_range(-k..k)).collect();
    let b: Vec<f32> = (0..d_out).map(|_| rng.random_range(-k..k)).collect();
    Linear {
        weight: Param::from_data(TensorData::new(w, [d_in, d_out]), device),
        bias: Some(Param::from_data(TensorData::new(b, [d_out]), device)),
    }
}

/// One dense layer's values: `y = x · weight + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Input width.
    pub input: usize,
    /// Output width.
    pub output: usize,
    /// Row-major `[input, output]`.
    pub weight: Vec<f32>,
    /// `[output]`.
    pub bias: Vec<f32>,
    /// Whether a ReLU follows it.
    pub relu: bool,
}

fn dense(l: &Linear, relu: bool) -> DenseLayer {
    let w = l.weight.val();
    let [input, output] = w.dims();
    let weight = w.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    let bias = match &l.bias {
        Some(b) => b.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default(),
        None => vec![0.0; output],
    };
    DenseLayer { input, output, weight, bias, relu }
}

impl Head {
    /// A linear head that scores `scale · cos(x, centroid_k)` for unit `x`: weight = centroidsᵀ · scale, bias 0.
    /// `centroids` is row-major `[classes, input]`.
    pub(crate) fn cosine(centroids: &[f32], classes: usize, scale: f32, device: &Device) -> Self {
        let d_in = centroids.len() / classes.max(1);
        let mut w = vec![0f32; d_in * classes];
        for k in 0..classes {
            for j in 0..d_in {
                w[j * classes + k] = centroids[k * d_in + j] * scale;
            }
        }
        let output = Linear {
            weight: Param::from_data(TensorData::new(w, [d_in, classes]), device),
            bias: Some(Param::from_data(TensorData::new(vec![0f32; classes], [classes]), device)),
        };
        Self { hidden: None, activation: Relu::new(), output }
    }

    /// The layers, input first.
    pub(crate) fn layers(&self) -> Vec<DenseLayer> {
        let mut v = vec![];
        if let Some(h) = &self.hidden {
            v.push(dense(h, true));
        }
        v.push(dense(&self.output, false));
        v
    }

    pub(crate) fn new(cfg: &HeadConfig, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        match cfg.hidden {
            Some(h) => Self {
                hidden: Some(linear(cfg.input, h, rng, device)),
                activation: Relu::new(),
                output: linear(h, cfg.classes, rng, device),
            },
            None => Self { hidden: None, activation: Relu::new(), output: linear(cfg.input, cfg.classes, rng, device) },
        }
    }

    /// Logits `[n, classes]` of embeddings `[n, input]`.
    pub(crate) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = match &self.hidden {
            Some(h) => self.activation.forward(h.forward(x)),
            None => x,
        };
        self.output.forward(x)
    }
}
