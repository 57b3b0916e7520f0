//! Open-set rejection: calibrate on the validation split when to answer "unknown".
//!
//! The validation faces are the *known* side (they should be accepted). Their *unknown* counterparts are the same
//! faces scored as if their own person had not been trained on: the best score among the other classes only
//! (softmax renormalised over the other classes; cosine to the other classes' centroids). That is what a
//! stranger looks like to the model, measured on real faces, without needing photos of strangers. Each score's
//! threshold maximises balanced accuracy (known accepted + unknown rejected, halved); the score with the better
//! balanced accuracy (then AUC) is chosen.

use serde::{Deserialize, Serialize};

/// One score's calibrated threshold and how it did on the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// `max_probability` or `centroid_cosine`.
    pub score: String,
    /// Accept when the score is `>=` this; answer "unknown" otherwise.
    pub threshold: f32,
    /// Share of known validation faces accepted at the threshold.
    pub known_accept: f64,
    /// Share of the unknown counterparts rejected at the threshold.
    pub unknown_reject: f64,
    /// `(known_accept + unknown_reject) / 2`.
    pub balanced_accuracy: f64,
    /// Probability that a known face scores above an unknown one (ROC AUC).
    pub auc: f64,
}

/// Both rejection rules and which one was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSetCalibration {
    /// The chosen rule (`max_probability` or `centroid_cosine`).
    pub chosen: String,
    /// Max softmax probability rule.
    pub max_probability: ThresholdChoice,
    /// Cosine between the face embedding and the predicted class's centroid (mean of its training
    /// embeddings, L2-normalised).
    pub centroid_cosine: ThresholdChoice,
    /// How the unknown side was simulated and the threshold chosen.
    pub method: String,
    /// Validation faces used.
    pub val_faces: usize,
}

impl OpenSetCalibration {
    /// The chosen rule's numbers.
    pub fn chosen(&self) -> &ThresholdChoice {
        if self.chosen == "max_probability" { &self.max_probability } else { &self.centroid_cosine }
    }
}

pub(crate) fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Choose the threshold on `score` that maximises balanced accuracy between `known` and `unknown`.
fn calibrate(score: &str, known: &[f32], unknown: &[f32]) -> ThresholdChoice {
    let mut cands: Vec<f32> = known.iter().chain(unknown).copied().collect();
    cands.sort_by(f32::total_cmp);
    cands.dedup();
    // Midpoints between consecutive distinct scores, plus the extremes.
    let mut thresholds = Vec::with_capacity(cands.len() + 1);
    if let Some(first) = cands.first() {
        thresholds.push(*first);
    }
    thresholds.extend(cands.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    if let Some(last) = cands.last() {
        thresholds.push(last.next_up());
    }
    let rate = |t: f32| {
        let acc = known.iter().filter(|&&s| s >= t).count() as f64 / known.len().max(1) as f64;
        let rej = unknown.iter().filter(|&&s| s < t).count() as f64 / unknown.len().max(1) as f64;
        (acc, rej)
    };
    let mut best = (f64::NEG_INFINITY, 0.0f32, 0.0, 0.0);
    for &t in &thresholds {
        let (acc, rej) = rate(t);
        let bal = (acc + rej) / 2.0;
        if bal > best.0 {
            best = (bal, t, acc, rej);
        }
    }
    let mut wins = 0.0;
    for k in known {
        for u in unknown {
            wins += if k > u {
                1.0
            } else if k == u {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = wins / (known.len() * unknown.len()).max(1) as f64;
    ThresholdChoice {
        score: score.to_string(),
        threshold: best.1,
        known_accept: best.2,
        unknown_reject: best.3,
        balanced_accuracy: best.0,
        auc,
    }
}

/// Calibrate both rules on validation `logits` (`[n, c]`), embeddings `x` (`[n, dim]`), classes `y` and the
/// class `centroids` (`[c, dim]`, unit length).
pub(crate) fn calibrate_open_set(
    logits: &[f32],
    x: &[f32],
    y: &[usize],
    centroids: &[f32],
    classes: usize,
) -> OpenSetCalibration {
    let dim = centroids.len() / classes.max(1);
    let (mut known_p, mut unknown_p, mut known_c, mut unknown_c) = (vec![], vec![], vec![], vec![]);
    for (i, &truth) in y.iter().enumerate() {
        let l = &logits[i * classes..(i + 1) * classes];
        let e = &x[i * dim..(i + 1) * dim];
        let p = softmax(l);
        let pred = argmax(l);
        known_p.push(p[pred]);
        known_c.push(dot(e, &centroids[pred * dim..(pred + 1) * dim]));
        let others: Vec<f32> = l.iter().enumerate().filter(|(j, _)| *j != truth).map(|(_, v)| *v).collect();
        unknown_p.push(softmax(&others).into_iter().fold(0.0, f32::max));
        let best_other = (0..classes)
            .filter(|&j| j != truth)
            .map(|j| dot(e, &centroids[j * dim..(j + 1) * dim]))
            .fold(f32::NEG_INFINITY, f32::max);
        unknown_c.push(best_other);
    }
    let max_probability = calibrate("max_probability", &known_p, &unknown_p);
    let centroid_cosine = calibrate("centroid_cosine", &known_c, &unknown_c);
    let prob_better = (max_probability.balanced_accuracy, max_probability.auc)
        > (centroid_cosine.balanced_accuracy, centroid_cosine.auc);
    OpenSetCalibration {
        chosen: if prob_better { "max_probability" } else { "centroid_cosine" }.to_string(),
        max_probability,
        centroid_cosine,
        method: "known: validation faces, scored by their predicted class; unknown: the same faces scored with \
                 their own class removed (softmax renormalised over the other classes; best cosine to another \
                 class's centroid); threshold maximising balanced accuracy; rule with the higher balanced \
                 accuracy, then AUC"
            .to_string(),
        val_faces: y.len(),
    }
}

pub(crate) fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores_give_a_perfect_threshold() {
        let t = calibrate("s", &[0.9, 0.8, 0.7], &[0.1, 0.2, 0.3]);
        assert_eq!((t.known_accept, t.unknown_reject, t.auc), (1.0, 1.0, 1.0));
        assert!(t.threshold > 0.3 && t.threshold <= 0.7, "{t:?}");
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&p), 2);
    }
}
