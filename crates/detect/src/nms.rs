//! Greedy non-maximum suppression and the post-processing every detector shares.

use issc_core::{BBox, Face, Landmarks5};

use crate::DetectorConfig;

/// Greedy NMS as the reference (`facepipe.py: nms`): highest score first; a box is dropped when its IoU with a
/// kept box exceeds `iou_threshold`. Returns kept indices, highest score first.
pub fn nms(faces: &[Face], iou_threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| faces[b].score.total_cmp(&faces[a].score));
    let mut keep = Vec::new();
    let mut suppressed = vec![false; faces.len()];
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let a = &faces[i].bbox;
        for &j in &order[pos + 1..] {
            if !suppressed[j] && iou_eps(a, &faces[j].bbox) > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// IoU with the reference's `+1e-9` in the denominator.
fn iou_eps(a: &BBox, b: &BBox) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.w).min(b.x + b.w);
    let y2 = (a.y + a.h).min(b.y + b.h);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    inter / (a.w * a.h + b.w * b.h - inter + 1e-9)
}

/// NMS, `top_k`, mapping back to original pixels (divide by the resize `scale`), and the minimum face size.
pub(crate) fn finish(faces: Vec<Face>, config: &DetectorConfig, scale: f64) -> Vec<Face> {
    let keep = nms(&faces, config.nms_threshold);
    let unscale = |v: f32| (f64::from(v) / scale) as f32;
    keep.into_iter()
        .take(config.top_k)
        .map(|i| {
            let f = &faces[i];
            Face {
                bbox: BBox::new(unscale(f.bbox.x), unscale(f.bbox.y), unscale(f.bbox.w), unscale(f.bbox.h)),
                score: f.score,
                landmarks: Landmarks5(f.landmarks.0.map(|[x, y]| [unscale(x), unscale(y)])),
            }
        })
        .filter(|f| f.bbox.w.min(f.bbox.h) >= config.min_face)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face { bbox: BBox::new(x, 0.0, 10.0, 10.0), score, landmarks: Landmarks5::default() }
    }

    #[test]
    fn suppresses_overlaps_and_keeps_order() {
        let faces = vec![face(0.0, 0.7), face(1.0, 0.9), face(50.0, 0.8)];
        assert_eq!(nms(&faces, 0.3), vec![1, 2]);
        assert_eq!(nms(&faces, 0.95), vec![1, 2, 0]);
    }
}
