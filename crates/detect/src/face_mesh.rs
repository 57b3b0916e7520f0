//! Dense facial landmarks: MediaPipe Face Mesh's landmark network (468 points) on a detected face.
//!
//! The network expects the face upright in a 192×192 crop of about 1.5× the face's size. It is run the way
//! MediaPipe runs it on a still image: first on a square around the detector's box, turned so that the eyes are
//! level, then once more on the square MediaPipe's tracker would take from those first 468 points (their bounding
//! box in the face's own frame, 1.5× its long side, turned by the line through the eyes' outer corners, points 33 and
//! 263). The second pass is what the network was trained for and is measurably closer to annotated points
//! (`tests/face_mesh.rs`).
//!
//! Points are numbered as in MediaPipe's canonical face mesh (`mediapipe/modules/face_geometry/data`): 33 and 263 are
//! the outer corners of the subject's right and left eyes, 1 the nose tip, 61 and 291 the mouth corners, and so on.

use image::RgbImage;
use issc_core::Face;

use crate::imgproc::{Affine, warp_affine};
use crate::onnx_model::faces_to_nchw;
use crate::runner::{ModelRunner, output};
use crate::{DetectError, ModelDir, models};

const NAME: &str = "Face Mesh";
/// Side of the crop the network takes.
pub const FACE_MESH_INPUT: u32 = 192;
/// Number of points.
pub const FACE_MESH_POINTS: usize = 468;
/// The crop's side relative to the face (MediaPipe's `RectTransformationCalculator` scale).
const ROI_SCALE: f64 = 1.5;
/// Outer corners of the subject's right and left eye: the line MediaPipe levels the second crop by.
const RIGHT_EYE_OUTER: usize = 33;
const LEFT_EYE_OUTER: usize = 263;

/// 468 points of one face, in the image's pixel coordinates (`z`: depth relative to the face's centre, in the same
/// pixel units, smaller = nearer the camera).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMeshPoints {
    /// `[x, y, z]` per point, in MediaPipe's numbering.
    pub points: Vec<[f32; 3]>,
    /// The network's own confidence that the crop holds a face (sigmoid of its face flag), 0..1.
    pub presence: f32,
}

impl FaceMeshPoints {
    /// Point `i` as `[x, y]`.
    pub fn xy(&self, i: usize) -> [f32; 2] {
        let p = self.points[i];
        [p[0], p[1]]
    }

    /// The mean of points `idx`, as `[x, y]`.
    pub fn mean_xy(&self, idx: &[usize]) -> [f32; 2] {
        let n = idx.len().max(1) as f32;
        let (sx, sy) = idx.iter().fold((0.0, 0.0), |(sx, sy), &i| (sx + self.points[i][0], sy + self.points[i][1]));
        [sx / n, sy / n]
    }
}

/// Where one of the 27 named landmarks comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandmarkSource {
    /// The detector's own point `i` (ArcFace order: image-left eye, image-right eye, nose tip, image-left and
    /// image-right mouth corner): the five that alignment uses stay exactly where the detector put them.
    Detector(usize),
    /// The mean of these Face Mesh points.
    Mesh(&'static [usize]),
}

/// The 27 landmarks of the Azure Face API (`FaceLandmarks`, in the spec's names and order; "Left" is the side with the
/// smaller x in the image, as Azure returns them), and the points each is taken from.
pub const LANDMARKS_27: [(&str, LandmarkSource); 27] = {
    use LandmarkSource::{Detector, Mesh};
    [
        ("pupilLeft", Detector(0)),
        ("pupilRight", Detector(1)),
        ("noseTip", Detector(2)),
        ("mouthLeft", Detector(3)),
        ("mouthRight", Detector(4)),
        ("eyebrowLeftOuter", Mesh(&[70])),
        ("eyebrowLeftInner", Mesh(&[107, 55])),
        ("eyeLeftOuter", Mesh(&[33])),
        ("eyeLeftTop", Mesh(&[159])),
        ("eyeLeftBottom", Mesh(&[145])),
        ("eyeLeftInner", Mesh(&[133])),
        ("eyebrowRightInner", Mesh(&[336, 285])),
        ("eyebrowRightOuter", Mesh(&[300])),
        ("eyeRightInner", Mesh(&[362])),
        ("eyeRightTop", Mesh(&[386])),
        ("eyeRightBottom", Mesh(&[374])),
        ("eyeRightOuter", Mesh(&[263])),
        ("noseRootLeft", Mesh(&[122])),
        ("noseRootRight", Mesh(&[351])),
        ("noseLeftAlarTop", Mesh(&[49])),
        ("noseRightAlarTop", Mesh(&[279])),
        ("noseLeftAlarOutTip", Mesh(&[64])),
        ("noseRightAlarOutTip", Mesh(&[294])),
        ("upperLipTop", Mesh(&[0])),
        ("upperLipBottom", Mesh(&[13])),
        ("underLipTop", Mesh(&[14])),
        ("underLipBottom", Mesh(&[17])),
    ]
};

/// The 27 landmarks of [`LANDMARKS_27`] for `face`, from its detector points and its Face Mesh points, `[x, y]` in
/// image pixels.
pub fn landmarks_27(face: &Face, mesh: &FaceMeshPoints) -> [[f32; 2]; 27] {
    LANDMARKS_27.map(|(_, source)| match source {
        LandmarkSource::Detector(i) => face.landmarks.0[i],
        LandmarkSource::Mesh(idx) => mesh.mean_xy(idx),
    })
}

/// A square region of the image, turned by `angle` (radians, clockwise in image coordinates).
#[derive(Debug, Clone, Copy)]
struct Roi {
    cx: f64,
    cy: f64,
    side: f64,
    angle: f64,
}

impl Roi {
    /// The affine map from image pixels to crop pixels (pixel-centre coordinates, as `warp_affine` takes).
    fn to_crop(self) -> Affine {
        let k = f64::from(FACE_MESH_INPUT) / self.side;
        let (s, c) = self.angle.sin_cos();
        let half = (f64::from(FACE_MESH_INPUT) - 1.0) / 2.0;
        // q = k · R(−angle) · (p − centre) + half
        let (a, b, d, e) = (k * c, k * s, -k * s, k * c);
        [[a, b, half - a * self.cx - b * self.cy], [d, e, half - d * self.cx - e * self.cy]]
    }

    /// A network output (crop units, 0..192 across the crop's edges) back in image pixels.
    fn to_image(self, u: f32, v: f32, z: f32) -> [f32; 3] {
        let k = self.side / f64::from(FACE_MESH_INPUT);
        let (s, c) = self.angle.sin_cos();
        let half = f64::from(FACE_MESH_INPUT) / 2.0;
        let (du, dv) = ((f64::from(u) - half) * k, (f64::from(v) - half) * k);
        [(self.cx + c * du - s * dv) as f32, (self.cy + s * du + c * dv) as f32, (f64::from(z) * k) as f32]
    }

    fn finite(self) -> bool {
        self.cx.is_finite() && self.cy.is_finite() && self.side.is_finite() && self.side > 0.0 && self.angle.is_finite()
    }
}

/// The Face Mesh landmark network.
pub struct FaceMesh {
    runner: ModelRunner,
}

impl FaceMesh {
    /// Load and check `face_landmark_mediapipe_468.onnx` from `models`.
    pub fn new(models: &ModelDir) -> Result<Self, DetectError> {
        let bytes = models.load(&models::FACE_MESH)?;
        Ok(Self { runner: ModelRunner::new(NAME, bytes)? })
    }

    /// The 468 points of `face` (found by any detector of this crate) in `image`. `None` when the face's geometry is
    /// degenerate (a zero-sized box).
    pub fn landmarks(&self, image: &RgbImage, face: &Face) -> Result<Option<FaceMeshPoints>, DetectError> {
        let b = face.bbox;
        let [e0, e1] = [face.landmarks.0[0], face.landmarks.0[1]];
        let angle = f64::from(e1[1] - e0[1]).atan2(f64::from(e1[0] - e0[0]));
        let first = Roi {
            cx: f64::from(b.x + b.w / 2.0),
            cy: f64::from(b.y + b.h / 2.0),
            side: ROI_SCALE * f64::from(b.w.max(b.h)),
            angle: if angle.is_finite() { angle } else { 0.0 },
        };
        if !first.finite() {
            return Ok(None);
        }
        let pass1 = self.run(image, first)?;
        let second = roi_from_points(&pass1.points);
        if !second.finite() {
            return Ok(Some(pass1));
        }
        Ok(Some(self.run(image, second)?))
    }

    fn run(&self, image: &RgbImage, roi: Roi) -> Result<FaceMeshPoints, DetectError> {
        let s = FACE_MESH_INPUT as usize;
        let crop = warp_affine(image, &roi.to_crop(), FACE_MESH_INPUT, FACE_MESH_INPUT);
        // RGB planes scaled to 0..1 (MediaPipe's input range).
        let mut data = faces_to_nchw(std::slice::from_ref(&crop), FACE_MESH_INPUT)?;
        data.iter_mut().for_each(|v| *v /= 255.0);
        let outs = self.runner.run(&[1, 3, s, s], &data)?;
        let raw = output(&outs, "landmarks", NAME)?;
        let flag = output(&outs, "face_flag", NAME)?;
        if raw.len() != FACE_MESH_POINTS * 3 || flag.len() != 1 {
            return Err(DetectError::inference(
                NAME,
                format!("unexpected output sizes {} and {}", raw.len(), flag.len()),
            ));
        }
        let points = raw.chunks_exact(3).map(|p| roi.to_image(p[0], p[1], p[2])).collect();
        Ok(FaceMeshPoints { points, presence: 1.0 / (1.0 + (-flag[0]).exp()) })
    }
}

/// MediaPipe's `FaceLandmarksToRoi`: the points' bounding box in the frame levelled by the eyes' outer corners,
/// squared on its long side and scaled by 1.5.
fn roi_from_points(points: &[[f32; 3]]) -> Roi {
    let (r, l) = (points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER]);
    let angle = f64::from(l[1] - r[1]).atan2(f64::from(l[0] - r[0]));
    let (s, c) = angle.sin_cos();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in points {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        // Into the levelled frame: R(−angle)·p.
        let q = [c * x + s * y, -s * x + c * y];
        for k in 0..2 {
            lo[k] = lo[k].min(q[k]);
            hi[k] = hi[k].max(q[k]);
        }
    }
    let (mx, my) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
    Roi { cx: c * mx - s * my, cy: s * mx + c * my, side: ROI_SCALE * (hi[0] - lo[0]).max(hi[1] - lo[1]), angle }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_maps_round_trip() {
        let roi = Roi { cx: 300.0, cy: 200.0, side: 150.0, angle: 0.3 };
        let m = roi.to_crop();
        for (x, y) in [(300.0, 200.0), (250.0, 180.0), (360.0, 260.0)] {
            let u = m[0][0] * x + m[0][1] * y + m[0][2];
            let v = m[1][0] * x + m[1][1] * y + m[1][2];
            // to_crop uses pixel centres, to_image the network's edge-based units: half a pixel apart.
            let back = roi.to_image((u + 0.5) as f32, (v + 0.5) as f32, 0.0);
            assert!((f64::from(back[0]) - x).abs() < 1e-3 && (f64::from(back[1]) - y).abs() < 1e-3, "{back:?}");
        }
        // The centre lands in the middle of the crop.
        assert!((m[0][0] * 300.0 + m[0][1] * 200.0 + m[0][2] - 95.5).abs() < 1e-9);
    }

    #[test]
    fn roi_from_points_is_the_levelled_box() {
        // A square of points turned by 30°, with the "eye corners" on one horizontal edge of the square's frame.
        let a = 30f64.to_radians();
        let (s, c) = a.sin_cos();
        let mut pts = vec![[0f32; 3]; FACE_MESH_POINTS];
        let corners = [(-50.0, -50.0), (50.0, -50.0), (50.0, 50.0), (-50.0, 50.0)];
        for (i, p) in pts.iter_mut().enumerate() {
            let (x, y) = corners[i % 4];
            *p = [(100.0 + c * x - s * y) as f32, (80.0 + s * x + c * y) as f32, 0.0];
        }
        pts[RIGHT_EYE_OUTER] = [(100.0 + c * -50.0 - s * -50.0) as f32, (80.0 + s * -50.0 + c * -50.0) as f32, 0.0];
        pts[LEFT_EYE_OUTER] = [(100.0 + c * 50.0 - s * -50.0) as f32, (80.0 + s * 50.0 + c * -50.0) as f32, 0.0];
        let roi = roi_from_points(&pts);
        assert!((roi.angle - a).abs() < 1e-4, "{roi:?}");
        assert!((roi.cx - 100.0).abs() < 1e-3 && (roi.cy - 80.0).abs() < 1e-3, "{roi:?}");
        assert!((roi.side - 150.0).abs() < 1e-3, "{roi:?}");
    }
}
