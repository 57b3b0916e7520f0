//! A trained run, loaded back to classify embeddings (with "unknown").

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::EMBEDDING_DIM;
use crate::error::{TrainError, io_err};
use crate::head::{Head, HeadConfig};
use crate::openset::{OpenSetCalibration, argmax, dot, softmax};
use crate::trainer::load_model;

/// A run's best model, labels, centroids and open-set rule (from `model.json` and `best/model.bpk`).
#[derive(Debug)]
pub struct Classifier {
    model: Head,
    labels: Vec<String>,
    centroids: Vec<f32>,
    open_set: OpenSetCalibration,
    device: Device,
}

/// The answer for one embedding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The predicted person, or `None` ("unknown") when the chosen open-set score is under its threshold.
    pub label: Option<String>,
    /// Best class (whether or not accepted).
    pub class: usize,
    /// Its softmax probability.
    pub probability: f32,
    /// Cosine between the embedding and that class's centroid.
    pub cosine: f32,
}

impl Classifier {
    /// Load the run in `run` (written by [`train_head`](crate::train_head)).
    pub fn load(run: &Path) -> Result<Self, TrainError> {
        let card_path = run.join("model.json");
        let bad = |reason: String| TrainError::Run { path: card_path.clone(), reason };
        let text = std::fs::read(&card_path).map_err(io_err(&card_path))?;
        let card: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not a model card ({e}); train again")))?;
        let labels: Vec<String> =
            serde_json::from_value(card["labels"].clone()).map_err(|e| bad(format!("labels: {e}")))?;
        let head: HeadConfig = serde_json::from_value(card["head"].clone()).map_err(|e| bad(format!("head: {e}")))?;
        let open_set: OpenSetCalibration =
            serde_json::from_value(card["open_set"].clone()).map_err(|e| bad(format!("open_set: {e}")))?;
        let mut centroids = Vec::with_capacity(labels.len() * EMBEDDING_DIM);
        for l in &labels {
            let c: Vec<f32> = serde_json::from_value(card["centroids"][l].clone())
                .map_err(|e| bad(format!("centroid of {l}: {e}")))?;
            if c.len() != EMBEDDING_DIM {
                return Err(bad(format!("centroid of {l} has {} values, not {EMBEDDING_DIM}", c.len())));
            }
            centroids.extend(c);
        }
        if head.classes != labels.len() || head.input != EMBEDDING_DIM {
            return Err(bad("head shape does not match the labels".into()));
        }
        let device = Device::flex();
        let model =
            load_model(Head::new(&head, &mut ChaCha8Rng::seed_from_u64(0), &device), &run.join("best/model.bpk"))?;
        Ok(Self { model, labels, centroids, open_set, device })
    }

    /// Labels in class order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The open-set calibration in use.
    pub fn open_set(&self) -> &OpenSetCalibration {
        &self.open_set
    }

    /// Classify row-major `[n, 128]` L2-normalised embeddings.
    pub fn classify(&self, embeddings: &[f32]) -> Vec<Prediction> {
        let n = embeddings.len() / EMBEDDING_DIM;
        if n == 0 {
            return vec![];
        }
        let c = self.labels.len();
        let x = Tensor::<2>::from_data(
            TensorData::new(embeddings[..n * EMBEDDING_DIM].to_vec(), [n, EMBEDDING_DIM]),
            &self.device,
        );
        let logits = self.model.forward(x).into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        let rule = self.open_set.chosen();
        (0..n)
            .map(|i| {
                let l = &logits[i * c..(i + 1) * c];
                let class = argmax(l);
                let probability = softmax(l)[class];
                let e = &embeddings[i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM];
                let cosine = dot(e, &self.centroids[class * EMBEDDING_DIM..(class + 1) * EMBEDDING_DIM]);
                let score = if rule.score == "max_probability" { probability } else { cosine };
                let label = (score >= rule.threshold).then(|| self.labels[class].clone());
                Prediction { label, class, probability, cosine }
            })
            .collect()
    }
}
