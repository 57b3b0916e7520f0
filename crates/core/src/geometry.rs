//! Face geometry: boxes, five landmarks, detected faces.

use serde::{Deserialize, Serialize};

/// An axis-aligned box in pixel coordinates of the (orientation-corrected) image: top-left `x`, `y`, width `w`,
/// height `h`. Serialised as the array `[x, y, w, h]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl From<[f32; 4]> for BBox {
    fn from([x, y, w, h]: [f32; 4]) -> Self {
        Self { x, y, w, h }
    }
}

impl From<BBox> for [f32; 4] {
    fn from(b: BBox) -> Self {
        [b.x, b.y, b.w, b.h]
    }
}

impl BBox {
    /// A box from its top-left corner and size.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    /// Area in square pixels (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Centre point `(cx, cy)`.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Intersection over union with another box, in `[0, 1]`.
    pub fn iou(&self, other: &BBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.w).min(other.x + other.w);
        let y2 = (self.y + self.h).min(other.y + other.h);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box multiplied by `s` (coordinates and size), e.g. to map from a resized image back to the original.
    pub fn scaled(&self, s: f32) -> BBox {
        BBox::new(self.x * s, self.y * s, self.w * s, self.h * s)
    }

    /// The box grown by `ratio` of its size on every side and made square around its centre
    /// (side = `max(w, h) * (1 + 2 * ratio)`), as the seed's margin crop did.
    pub fn expanded_square(&self, ratio: f32) -> BBox {
        let (cx, cy) = self.center();
        let side = self.w.max(self.h) * (1.0 + 2.0 * ratio);
        BBox::new(cx - side / 2.0, cy - side / 2.0, side, side)
    }
}

/// Five facial landmarks in image pixels, in the order of the ArcFace template: the eye on the image's left
/// (the subject's right eye), the eye on the image's right, the nose tip, the mouth corner on the image's left,
/// the mouth corner on the image's right. Serialised as `[[x, y], ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Landmarks5(pub [[f32; 2]; 5]);

impl Landmarks5 {
    /// The landmarks multiplied by `s`.
    pub fn scaled(&self, s: f32) -> Landmarks5 {
        Landmarks5(self.0.map(|[x, y]| [x * s, y * s]))
    }

    /// The points as `f64` pairs, for geometric fitting.
    pub fn to_f64(&self) -> [[f64; 2]; 5] {
        self.0.map(|[x, y]| [f64::from(x), f64::from(y)])
    }
}

/// One detected face: box, detector confidence in `[0, 1]`, and five landmarks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Face rectangle.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Detector confidence.
    pub score: f32,
    /// Five landmarks, ArcFace order.
    pub landmarks: Landmarks5,
}

impl Face {
    /// Index of the face with the largest box area, if any.
    pub fn largest(faces: &[Face]) -> Option<usize> {
        faces.iter().enumerate().max_by(|a, b| a.1.bbox.area().total_cmp(&b.1.bbox.area())).map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 5.0, 5.0)), 0.0);
        let b = BBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn bbox_serialises_as_array_and_face_uses_box_key() {
        let f = Face { bbox: BBox::new(1.0, 2.0, 3.0, 4.0), score: 0.5, landmarks: Landmarks5([[1.0, 2.0]; 5]) };
        let v = serde_json::to_value(f).unwrap();
        assert_eq!(v["box"], serde_json::json!([1.0, 2.0, 3.0, 4.0]));
        assert_eq!(v["landmarks"][4], serde_json::json!([1.0, 2.0]));
        let back: Face = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn expanded_square_keeps_centre() {
        let b = BBox::new(10.0, 20.0, 40.0, 60.0).expanded_square(0.2);
        assert_eq!(b.center(), (30.0, 50.0));
        assert!((b.w - 84.0).abs() < 1e-4 && (b.h - 84.0).abs() < 1e-4);
    }

    #[test]
    fn largest_face_by_area() {
        let mk = |w: f32| Face { bbox: BBox::new(0.0, 0.0, w, w), score: 1.0, landmarks: Landmarks5::default() };
        assert_eq!(Face::largest(&[mk(3.0), mk(9.0), mk(5.0)]), Some(1));
        assert_eq!(Face::largest(&[]), None);
    }
}
