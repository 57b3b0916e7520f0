//! L2-normalised face embeddings.

use serde::{Deserialize, Serialize};

/// Why a raw vector could not become an [`Embedding`].
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum EmbeddingError {
    /// The vector was empty.
    #[error("embedding is empty")]
    Empty,
    /// The vector contained NaN or infinity, or had zero length, so it has no direction.
    #[error("embedding has no direction (zero norm or non-finite values); the model output is unusable")]
    Degenerate,
}

/// A face embedding, always L2-normalised, so the dot product of two embeddings is their cosine similarity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f32>", into = "Vec<f32>")]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalise a raw model output to unit length.
    pub fn from_raw(mut v: Vec<f32>) -> Result<Self, EmbeddingError> {
        if v.is_empty() {
            return Err(EmbeddingError::Empty);
        }
        let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(EmbeddingError::Degenerate);
        }
        for x in &mut v {
            *x = (f64::from(*x) / norm) as f32;
        }
        Ok(Self(v))
    }

    /// The unit vector.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.0.len()
    }

    /// Cosine similarity in `[-1, 1]`. Embeddings of different dimension have similarity 0.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        if self.0.len() != other.0.len() {
            return 0.0;
        }
        let dot: f64 = self.0.iter().zip(&other.0).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        dot.clamp(-1.0, 1.0) as f32
    }

    /// Euclidean distance between the unit vectors (`sqrt(2 - 2 cos)`).
    pub fn l2_distance(&self, other: &Embedding) -> f32 {
        (2.0 - 2.0 * self.cosine(other)).max(0.0).sqrt()
    }
}

impl TryFrom<Vec<f32>> for Embedding {
    type Error = EmbeddingError;
    fn try_from(v: Vec<f32>) -> Result<Self, Self::Error> {
        Self::from_raw(v)
    }
}

impl From<Embedding> for Vec<f32> {
    fn from(e: Embedding) -> Self {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_computes_cosine() {
        let a = Embedding::from_raw(vec![3.0, 4.0]).unwrap();
        assert!((a.as_slice()[0] - 0.6).abs() < 1e-7);
        let b = Embedding::from_raw(vec![4.0, -3.0]).unwrap();
        assert!(a.cosine(&b).abs() < 1e-7);
        assert!((a.cosine(&a) - 1.0).abs() < 1e-7);
        assert!((a.l2_distance(&b) - 2f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn rejects_degenerate_vectors() {
        assert_eq!(Embedding::from_raw(vec![]), Err(EmbeddingError::Empty));
        assert_eq!(Embedding::from_raw(vec![0.0; 4]), Err(EmbeddingError::Degenerate));
        assert_eq!(Embedding::from_raw(vec![f32::NAN, 1.0]), Err(EmbeddingError::Degenerate));
    }

    #[test]
    fn deserialising_normalises() {
        let e: Embedding = serde_json::from_str("[0.0, 2.0]").unwrap();
        assert_eq!(e.as_slice(), &[0.0, 1.0]);
    }
}
