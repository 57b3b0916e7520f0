//! A trained run, loaded back to classify embeddings (with "unknown").

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::EMBEDDING_DIM;
use crate::error::TrainError;
use crate::head::{DenseLayer, Head, HeadConfig};
use crate::openset::{OpenSetCalibration, argmax, dot, softmax};
use crate::sface_net::SFaceNet;
use crate::trainer::{Mode, load_model};

/// A run's best model, labels, centroids and open-set rule (from `model.json` and `best/model.bpk`).
#[derive(Debug)]
pub struct Classifier {
    model: Head,
    /// The fine-tuned SFace of a `finetune` run.
    backbone: Option<SFaceNet>,
    mode: Mode,
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
    /// Load the run in `run` (written by [`train_head`](crate::train_head) or
    /// [`train_finetune`](crate::train_finetune); a fine-tuned run also needs the bundled SFace model, found with
    /// [`issc_detect::ModelDir::locate`]).
    pub fn load(run: &Path) -> Result<Self, TrainError> {
        Self::load_with_models(run, None)
    }

    /// [`load`](Self::load), with the models folder given (used by fine-tuned runs only).
    pub fn load_with_models(run: &Path, models: Option<&issc_detect::ModelDir>) -> Result<Self, TrainError> {
        let card = crate::TrainCard::read(run)?;
        let bad = |reason: String| TrainError::Run { path: run.join(crate::CARD_FILE), reason };
        let centroids = card.centroid_matrix().map_err(bad)?;
        let (labels, head, open_set, mode) = (card.labels, card.head, card.open_set, card.mode);
        if head.classes != labels.len() || head.input != EMBEDDING_DIM {
            return Err(bad("head shape does not match the labels".into()));
        }
        let device = Device::flex();
        let weights = run.join("best/model.bpk");
        let (model, backbone) = match mode {
            Mode::Head => (load_model(Head::new(&head, &mut ChaCha8Rng::seed_from_u64(0), &device), &weights)?, None),
            Mode::Finetune => {
                let located;
                let models = match models {
                    Some(m) => m,
                    None => {
                        located = issc_detect::ModelDir::locate(None)
                            .map_err(|e| bad(format!("a fine-tuned run needs the SFace model: {e}")))?;
                        &located
                    }
                };
                let sface = models
                    .load(&issc_detect::models::SFACE_DEQUANT)
                    .map_err(|e| bad(format!("a fine-tuned run needs the SFace model: {e}")))?;
                let net = crate::finetune::load_finetuned(&sface, &head, &weights, &device)?;
                (net.head, Some(net.backbone))
            }
        };
        Ok(Self { model, backbone, mode, labels, centroids, open_set, device })
    }

    /// `head` or `finetune`.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Unit embeddings `[n, 128]` of aligned 112×112 faces by the run's fine-tuned SFace (burn). `None` for a
    /// `head` run, whose embeddings come from SFace on the inference engine.
    pub fn embed_faces(&self, faces: &[image::RgbImage]) -> Option<Vec<f32>> {
        let backbone = self.backbone.as_ref()?;
        let net = crate::finetune::FinetuneNet { backbone: backbone.clone(), head: self.model.clone() };
        Some(crate::finetune::infer(&net, faces, &self.device).0)
    }

    /// The fine-tuned SFace's weights under their ONNX initializer names (`None` for a `head` run).
    pub fn backbone_weights(&self) -> Option<Vec<(String, Vec<f32>)>> {
        self.backbone.as_ref().map(SFaceNet::onnx_weights)
    }

    /// Labels in class order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The open-set calibration in use.
    pub fn open_set(&self) -> &OpenSetCalibration {
        &self.open_set
    }

    /// The head's shape.
    pub fn head_config(&self) -> HeadConfig {
        let layers = self.model.layers();
        HeadConfig {
            input: EMBEDDING_DIM,
            hidden: (layers.len() > 1).then(|| layers[0].output),
            classes: self.labels.len(),
        }
    }

    /// The head's dense layers (input first), for export.
    pub fn layers(&self) -> Vec<DenseLayer> {
        self.model.layers()
    }

    /// Unit class centroids, row-major `[classes, 128]`.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Softmax probabilities `[n, classes]` of row-major `[n, 128]` L2-normalised embeddings.
    pub fn probabilities(&self, embeddings: &[f32]) -> Vec<f32> {
        let n = embeddings.len() / EMBEDDING_DIM;
        if n == 0 {
            return vec![];
        }
        let c = self.labels.len();
        let logits = self.logits(embeddings);
        (0..n).flat_map(|i| softmax(&logits[i * c..(i + 1) * c])).collect()
    }

    fn logits(&self, embeddings: &[f32]) -> Vec<f32> {
        let n = embeddings.len() / EMBEDDING_DIM;
        let x = Tensor::<2>::from_data(
            TensorData::new(embeddings[..n * EMBEDDING_DIM].to_vec(), [n, EMBEDDING_DIM]),
            &self.device,
        );
        self.model.forward(x).into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
    }

    /// Classify row-major `[n, 128]` L2-normalised embeddings.
    pub fn classify(&self, embeddings: &[f32]) -> Vec<Prediction> {
        let n = embeddings.len() / EMBEDDING_DIM;
        if n == 0 {
            return vec![];
        }
        let c = self.labels.len();
        let logits = self.logits(embeddings);
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
