//! `model.json`: the model card written by `issc export` next to `model.onnx`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::PredictError;

/// File name of the card in a model folder.
pub const CARD_FILE: &str = "model.json";
/// File name of the graph in a model folder.
pub const MODEL_FILE: &str = "model.onnx";
/// The card format this version writes and reads.
pub const CARD_FORMAT: &str = "issc-model/1";

/// The graph file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFileSpec {
    /// File name, relative to the model folder.
    pub file: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// ONNX opset of the default domain.
    pub opset: i64,
}

/// What the graph takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Input name.
    pub name: String,
    /// Shape; the batch is the symbol `N`.
    pub shape: Vec<serde_json::Value>,
    /// Side of the square aligned face.
    pub size: u32,
    /// `float32`.
    pub dtype: String,
    /// `NCHW`.
    pub layout: String,
    /// `RGB`.
    pub color: String,
    /// Value range (`0..255`, raw: the graph normalises).
    pub range: String,
    /// How faces are aligned before they are fed.
    pub alignment: String,
    /// The 5-point template (in `size`² pixels) faces are aligned onto: eyes, nose tip, mouth corners, in the
    /// image's left-to-right order.
    pub template: [[f32; 2]; 5],
}

/// What the graph returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Name of the `[N, embedding_dim]` L2-normalised embedding output.
    pub embedding: String,
    /// Its width.
    pub embedding_dim: usize,
    /// Name of the `[N, C]` softmax output, classes in [`ModelCard::labels`] order.
    pub probabilities: String,
}

/// The open-set rule: when to answer "unknown".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// `max_probability` (the best softmax probability) or `centroid_cosine` (cosine between the embedding and
    /// the best class's centroid).
    pub score: String,
    /// Accept the best class when the score is `>=` this.
    pub threshold: f32,
    /// How the threshold and the score were chosen.
    pub how: String,
    /// Both candidate rules as calibrated on the validation split.
    pub calibration: serde_json::Value,
}

/// The network the model was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    /// File name of the base model.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its licence.
    pub license: String,
}

/// The exporter's own check of the graph against the trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportCheck {
    /// Faces compared (from the run's test split, else validation).
    pub faces: usize,
    /// Largest absolute difference between the graph's and the training model's probabilities.
    pub max_abs_diff_probabilities: f32,
    /// Engine the graph ran on.
    pub engine: String,
}

/// The model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// [`CARD_FORMAT`].
    pub format: String,
    /// Version of issc that exported it.
    pub issc_version: String,
    /// `head` or `finetune`.
    pub mode: String,
    /// The graph file.
    pub model: ModelFileSpec,
    /// Its input.
    pub input: InputSpec,
    /// Its outputs.
    pub outputs: OutputSpec,
    /// People, in the order of the probabilities.
    pub labels: Vec<String>,
    /// The open-set rule.
    pub rejection: Rejection,
    /// Same-person cosine threshold for 1:1 verification with the embedding output.
    pub verification_threshold: f32,
    /// Unit centroid of each class's training embeddings, in label order.
    pub centroids: Vec<Vec<f32>>,
    /// Validation and test figures of the trained model.
    pub metrics: serde_json::Value,
    /// Training settings and data.
    pub training: serde_json::Value,
    /// What the graph was built from.
    pub base_model: BaseModel,
    /// The exporter's parity check, when it could run one.
    pub export_check: Option<ExportCheck>,
}

impl ModelCard {
    /// Parse and check a card (`path` names it in errors).
    pub fn from_json(text: &[u8], path: &Path) -> Result<Self, PredictError> {
        let bad = |reason: String| PredictError::Card { path: path.to_path_buf(), reason };
        let v: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| bad(format!("not JSON ({e}); is this a folder written by `issc export`?")))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(CARD_FORMAT) => {}
            Some(other) => {
                return Err(bad(format!(
                    "card format '{other}' is not '{CARD_FORMAT}'; export the run again with this version of issc"
                )));
            }
            None => {
                return Err(bad("no \"format\": not a model card (a training run's model.json? export it first with \
                                `issc export --run RUN --out DIR`)"
                    .into()));
            }
        }
        let card: ModelCard = serde_json::from_value(v).map_err(|e| bad(format!("invalid model card: {e}")))?;
        card.check().map_err(bad)?;
        Ok(card)
    }

    /// Internal consistency: labels, rule, centroids.
    pub fn check(&self) -> Result<(), String> {
        if self.labels.len() < 2 {
            return Err(format!("{} label(s); a model needs at least 2", self.labels.len()));
        }
        if !matches!(self.rejection.score.as_str(), "max_probability" | "centroid_cosine") {
            return Err(format!(
                "unknown rejection score '{}' (expected max_probability or centroid_cosine)",
                self.rejection.score
            ));
        }
        if !self.rejection.threshold.is_finite() {
            return Err("rejection threshold is not a number".into());
        }
        if self.input.size == 0 || self.outputs.embedding_dim == 0 {
            return Err("input size and embedding dim must be positive".into());
        }
        self.centroid_matrix().map(|_| ())
    }

    /// Centroids as one row-major `[C, dim]` matrix (empty when the card has none and the rule does not need
    /// them).
    pub fn centroid_matrix(&self) -> Result<Vec<f32>, String> {
        if self.centroids.is_empty() {
            if self.rejection.score == "centroid_cosine" {
                return Err("the rejection rule is centroid_cosine but the card has no centroids".into());
            }
            return Ok(vec![]);
        }
        if self.centroids.len() != self.labels.len() {
            return Err(format!("{} centroids for {} labels", self.centroids.len(), self.labels.len()));
        }
        let dim = self.outputs.embedding_dim;
        // Every length is checked before anything is allocated: the card is input, and a huge `embedding_dim` must
        // be an error, not an allocation that aborts the process.
        for (l, c) in self.labels.iter().zip(&self.centroids) {
            if c.len() != dim {
                return Err(format!("centroid of {l} has {} values, not {dim} (outputs.embedding_dim)", c.len()));
            }
        }
        Ok(self.centroids.iter().flatten().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> serde_json::Value {
        serde_json::json!({
            "format": CARD_FORMAT, "issc_version": "0.1.0", "mode": "head",
            "model": {"file": "model.onnx", "sha256": "00", "bytes": 1, "opset": 13},
            "input": {"name": "face", "shape": ["N", 3, 112, 112], "size": 112, "dtype": "float32", "layout": "NCHW",
                      "color": "RGB", "range": "0..255", "alignment": "umeyama",
                      "template": [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]]},
            "outputs": {"embedding": "embedding", "embedding_dim": 2, "probabilities": "probabilities"},
            "labels": ["a", "b"],
            "rejection": {"score": "centroid_cosine", "threshold": 0.4, "how": "validation", "calibration": {}},
            "verification_threshold": 0.363,
            "centroids": [[1.0, 0.0], [0.0, 1.0]],
            "metrics": {}, "training": {},
            "base_model": {"file": "sface.onnx", "sha256": "11", "license": "Apache-2.0"},
            "export_check": null
        })
    }

    fn parse(v: &serde_json::Value) -> Result<ModelCard, PredictError> {
        ModelCard::from_json(v.to_string().as_bytes(), Path::new("m/model.json"))
    }

    #[test]
    fn a_valid_card_parses_and_gives_its_centroids() {
        let c = parse(&card()).unwrap();
        assert_eq!(c.centroid_matrix().unwrap(), vec![1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn a_training_runs_card_is_refused_with_what_to_do() {
        let e = parse(&serde_json::json!({"labels": ["a", "b"]})).unwrap_err().to_string();
        assert!(e.contains("m/model.json") && e.contains("issc export"), "{e}");
        let mut v = card();
        v["format"] = "issc-model/9".into();
        assert!(parse(&v).unwrap_err().to_string().contains("issc-model/9"));
    }

    #[test]
    fn inconsistent_cards_are_refused() {
        let mut v = card();
        v["centroids"] = serde_json::json!([[1.0, 0.0]]);
        assert!(parse(&v).unwrap_err().to_string().contains("1 centroids for 2 labels"));
        let mut v = card();
        v["centroids"] = serde_json::json!([]);
        assert!(parse(&v).unwrap_err().to_string().contains("no centroids"));
        let mut v = card();
        v["rejection"]["score"] = "vibes".into();
        assert!(parse(&v).unwrap_err().to_string().contains("vibes"));
        let mut v = card();
        v["labels"] = serde_json::json!(["a"]);
        assert!(parse(&v).unwrap_err().to_string().contains("at least 2"));
    }
}
