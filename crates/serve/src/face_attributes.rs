//! The Face API's face attributes that pixels and the detector's five landmarks can give honestly: `headPose`,
//! `blur`, `exposure`, `noise` and `qualityForRecognition`. Nothing here needs a model beyond the detector; the
//! attributes that do (mask, glasses, occlusion, accessories, age, …) are refused by the Face API instead.
//!
//! ```no_run
//! # fn demo(image: &image::RgbImage, face: &issc_core::Face) {
//! let q = issc_serve::face_attributes::measure(image, face);
//! println!("yaw {:.1}°, blur {:?} ({:.2}), quality {:?}", q.head_pose.yaw, q.blur.blur_level, q.blur.value,
//!     q.quality_for_recognition);
//! # }
//! ```
//!
//! Methods (`docs/face-api.md` has the measured agreement):
//! * **headPose** from the five landmarks, against the ArcFace alignment template (the mean frontal face of
//!   [`issc_detect::imgproc::ARCFACE_112`], with the nose's height calibrated to YuNet's points:
//!   [`FRONTAL_NOSE_HEIGHT`]) and a generic 3-D face whose nose tip stands [`NOSE_DEPTH`] inter-ocular
//!   distances in front of the eyes and mouth. `roll` is the angle of the eye line (positive: the face turned
//!   clockwise in the image); `yaw` is `atan(d / NOSE_DEPTH)` with `d` the nose tip's offset from the eye–mouth
//!   midline in inter-ocular distances (positive: the nose towards the image's right, the person turned to their
//!   left); `pitch` solves the nose tip's height between the eye line and the mouth line for the rotation of that
//!   3-D face (positive: chin up).
//! * **blur**: the no-reference blur metric of Crété-Roffet et al. (2007, "The blur effect: perception and estimation
//!   with a new no-reference perceptual blur metric") on the face box's inner part, resampled to 128 × 128 (what
//!   matters for recognition is the face at the recognizer's scale, so a small face upscaled reads as blurred). It
//!   lies in `[0, 1]`, does not depend on contrast, and grows with blur; mapped linearly so that the photos here
//!   read low and a Gaussian blur of a tenth of the face's size reads high.
//! * **exposure**: the median luma (BT.601) of the face's inner part, mapped piecewise linearly with 40 → 0.25 and
//!   210 → 0.75, Azure's thresholds between under-, good and over-exposure.
//! * **noise**: Immerkær's fast noise estimator (1996) on the smoother half of the face's inner part at its native
//!   resolution, σ in grey levels → `1 − exp(−σ / 20)`.
//! * **qualityForRecognition** combines face size, blur, exposure, noise, pose and detector score
//!   ([`quality_for_recognition`]).

use image::{GrayImage, RgbImage, imageops};
use issc_core::{Face, Landmarks5};
use serde::Serialize;

/// How far the nose tip stands in front of the eyes and the mouth corners, in inter-ocular distances (a generic
/// adult face: about 27 mm for an inter-ocular distance of 63 mm).
pub const NOSE_DEPTH: f32 = 0.42;

/// Side of the square the blur is measured on.
const BLUR_SIDE: u32 = 128;

/// Low / medium / high (blur, noise, quality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// Azure's exposure levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExposureLevel {
    /// Value below 0.25.
    UnderExposure,
    /// Value in `[0.25, 0.75)`.
    GoodExposure,
    /// Value 0.75 or more.
    OverExposure,
}

/// Head pose in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadPose {
    /// Up (positive: chin up) / down.
    pub pitch: f32,
    /// In the image plane (positive: clockwise in the image).
    pub roll: f32,
    /// Left / right (positive: the nose towards the image's right).
    pub yaw: f32,
}

/// Blur: level and value in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blur {
    /// Low below 0.25, high from 0.75.
    pub blur_level: Level,
    /// 0 sharp … 1 blurred.
    pub value: f32,
}

/// Exposure: level and value in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    /// Under below 0.25, over from 0.75.
    pub exposure_level: ExposureLevel,
    /// 0 black … 1 white.
    pub value: f32,
}

/// Noise: level and value in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Noise {
    /// Low below 0.3, high from 0.7.
    pub noise_level: Level,
    /// 0 clean … 1 noisy.
    pub value: f32,
}

/// Everything [`measure`] finds about one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceQuality {
    /// Head pose.
    pub head_pose: HeadPose,
    /// Blur.
    pub blur: Blur,
    /// Exposure.
    pub exposure: Exposure,
    /// Noise.
    pub noise: Noise,
    /// Whether the face is good enough to enroll or match.
    pub quality_for_recognition: Level,
    /// The face's size: the short side of the detector's box, in pixels of the image.
    pub face_size: f32,
    /// The detector's score.
    pub score: f32,
}

/// Blur level by Azure's thresholds.
pub fn blur_level(value: f32) -> Level {
    if value < 0.25 {
        Level::Low
    } else if value < 0.75 {
        Level::Medium
    } else {
        Level::High
    }
}

/// Noise level by Azure's thresholds.
pub fn noise_level(value: f32) -> Level {
    if value < 0.3 {
        Level::Low
    } else if value < 0.7 {
        Level::Medium
    } else {
        Level::High
    }
}

/// Exposure level by Azure's thresholds.
pub fn exposure_level(value: f32) -> ExposureLevel {
    if value < 0.25 {
        ExposureLevel::UnderExposure
    } else if value < 0.75 {
        ExposureLevel::GoodExposure
    } else {
        ExposureLevel::OverExposure
    }
}

fn finite_or(v: f32, default: f32) -> f32 {
    if v.is_finite() { v } else { default }
}

/// Head pose from the five landmarks (left eye, right eye, nose tip, left and right mouth corners, left = smaller
/// x). Degrees; every value finite whatever the points.
pub fn head_pose(l: &Landmarks5) -> HeadPose {
    let p = l.0.map(|[x, y]| [f64::from(finite_or(x, 0.0)), f64::from(finite_or(y, 0.0))]);
    let (le, re, nose) = (p[0], p[1], p[2]);
    let eyes = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let mouth = [(p[3][0] + p[4][0]) / 2.0, (p[3][1] + p[4][1]) / 2.0];
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let iod = dx.hypot(dy);
    if iod < 1e-6 {
        return HeadPose { pitch: 0.0, roll: 0.0, yaw: 0.0 };
    }
    let roll = dy.atan2(dx);
    // The face's own frame: u along the eye line, v perpendicular to it, down the face.
    let u = [dx / iod, dy / iod];
    let v = [-u[1], u[0]];
    let frame = |q: [f64; 2]| {
        let d = [q[0] - eyes[0], q[1] - eyes[1]];
        (d[0] * u[0] + d[1] * u[1], d[0] * v[0] + d[1] * v[1])
    };
    let (mx, my) = frame(mouth);
    let (nx, ny) = frame(nose);
    let depth = f64::from(NOSE_DEPTH);
    // Yaw: the nose tip's offset from the eye–mouth midline at its height, in inter-ocular distances. Under a yaw ψ
    // the offset is depth·sin ψ and the inter-ocular distance shrinks by cos ψ.
    let yaw = if my.abs() > 1e-6 {
        let mid = mx * (ny / my);
        ((nx - mid) / iod / depth).atan()
    } else {
        0.0
    };
    // Pitch: the nose tip's height between the eye line (0) and the mouth line (1). The frontal face has it at t0; a 3-D face with the eyes at height t0·H, the mouth at −(1−t0)·H and both `depth`
    // behind the nose tip, turned by φ about the horizontal axis, projects the nose at
    // t = (t0·H·cos φ − D·sin φ) / (H·cos φ) → tan φ = (t0 − t)·H / D.
    let t0 = FRONTAL_NOSE_HEIGHT;
    let pitch = if my > 1e-6 {
        let t = (ny / my).clamp(-2.0, 3.0);
        // H, the eye–mouth distance of the frontal face, in inter-ocular distances (ArcFace's template: 1.16).
        let h = frontal_eye_mouth();
        ((t0 - t) * h / depth).atan()
    } else {
        0.0
    };
    let deg = |r: f64| {
        let d = r.to_degrees() as f32;
        if d.is_finite() { d } else { 0.0 }
    };
    HeadPose { pitch: deg(pitch), roll: deg(roll), yaw: deg(yaw) }
}

/// The nose tip's height between the eye line (0) and the mouth line (1) on a frontal face, as YuNet places its
/// points: the median over the 121 photos of `identity/public` (mostly frontal portraits). ArcFace's template has
/// 0.494; YuNet's nose point sits lower.
pub const FRONTAL_NOSE_HEIGHT: f64 = 0.577;

/// The eye–mouth distance of ArcFace's frontal template in inter-ocular distances (1.16).
fn frontal_eye_mouth() -> f64 {
    let t = issc_detect::imgproc::ARCFACE_112;
    let eyes = (t[0][1] + t[1][1]) / 2.0;
    let mouth = (t[3][1] + t[4][1]) / 2.0;
    (mouth - eyes) / (t[1][0] - t[0][0])
}

/// The face box shrunk by the given fractions of its size on each side, clamped to the image: `(x0, y0, x1, y1)`,
/// possibly empty.
fn inner(face: &Face, w: u32, h: u32, fx: f32, fy: f32) -> (u32, u32, u32, u32) {
    let b = face.bbox;
    let clamp_x = |v: f32| if v.is_finite() { v.clamp(0.0, w as f32) as u32 } else { 0 };
    let clamp_y = |v: f32| if v.is_finite() { v.clamp(0.0, h as f32) as u32 } else { 0 };
    let (x0, x1) = (clamp_x(b.x + fx * b.w), clamp_x(b.x + (1.0 - fx) * b.w));
    let (y0, y1) = (clamp_y(b.y + fy * b.h), clamp_y(b.y + (1.0 - fy) * b.h));
    (x0, y0, x1.max(x0), y1.max(y0))
}

/// BT.601 luma of a region.
fn luma(img: &RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> GrayImage {
    GrayImage::from_fn(x1 - x0, y1 - y0, |x, y| {
        let p = img.get_pixel(x0 + x, y0 + y).0;
        let v = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
        image::Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

/// Crété-Roffet's blur metric of a grey image, in `[0, 1]` (1 when there is nothing to judge).
pub fn crete_roffet(g: &GrayImage) -> f32 {
    let (w, h) = (g.width() as usize, g.height() as usize);
    if w < 10 || h < 10 {
        return 1.0;
    }
    let f: Vec<f32> = g.as_raw().iter().map(|&v| f32::from(v)).collect();
    // 9-tap moving averages along each axis (edges clamped).
    let mean9 = |along_x: bool| {
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0;
                for k in -4i64..=4 {
                    let (xx, yy) = if along_x {
                        ((x as i64 + k).clamp(0, w as i64 - 1) as usize, y)
                    } else {
                        (x, (y as i64 + k).clamp(0, h as i64 - 1) as usize)
                    };
                    s += f[yy * w + xx];
                }
                out[y * w + x] = s / 9.0;
            }
        }
        out
    };
    let (bh, bv) = (mean9(true), mean9(false));
    let (mut sf_h, mut sv_h, mut sf_v, mut sv_v) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in 1..h {
        for x in 1..w {
            let i = y * w + x;
            let dfh = (f[i] - f[i - 1]).abs();
            let dbh = (bh[i] - bh[i - 1]).abs();
            let dfv = (f[i] - f[i - w]).abs();
            let dbv = (bv[i] - bv[i - w]).abs();
            sf_h += f64::from(dfh);
            sv_h += f64::from((dfh - dbh).max(0.0));
            sf_v += f64::from(dfv);
            sv_v += f64::from((dfv - dbv).max(0.0));
        }
    }
    let b = |sf: f64, sv: f64| if sf > 0.0 { ((sf - sv) / sf) as f32 } else { 1.0 };
    b(sf_h, sv_h).max(b(sf_v, sv_v)).clamp(0.0, 1.0)
}

/// Crété-Roffet values that map to Azure's 0 and 1 (measured: `docs/face-api.md`).
const BLUR_SHARP: f32 = 0.35;
const BLUR_BLURRED: f32 = 0.95;

/// Blur of the face in `image`: value in `[0, 1]` and Azure's level.
pub fn blur(image: &RgbImage, face: &Face) -> Blur {
    let r = inner(face, image.width(), image.height(), 0.1, 0.1);
    let value = if r.2 - r.0 < 2 || r.3 - r.1 < 2 {
        1.0
    } else {
        // At the face's own resolution up to BLUR_SIDE: a small face is small, not blurred (size counts apart).
        let side = (r.2 - r.0).min(r.3 - r.1).clamp(16, BLUR_SIDE);
        let g = imageops::resize(&luma(image, r), side, side, imageops::FilterType::Triangle);
        ((crete_roffet(&g) - BLUR_SHARP) / (BLUR_BLURRED - BLUR_SHARP)).clamp(0.0, 1.0)
    };
    Blur { blur_level: blur_level(value), value }
}

/// Exposure of the face in `image` from the median luma of its inner part.
pub fn exposure(image: &RgbImage, face: &Face) -> Exposure {
    let r = inner(face, image.width(), image.height(), 0.2, 0.15);
    let mut hist = [0u64; 256];
    let (x0, y0, x1, y1) = r;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = image.get_pixel(x, y).0;
            let v = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            hist[v.round().clamp(0.0, 255.0) as usize] += 1;
        }
    }
    let n: u64 = hist.iter().sum();
    let median = if n == 0 {
        128.0
    } else {
        let mut acc = 0;
        let mut m = 255.0;
        for (i, c) in hist.iter().enumerate() {
            acc += c;
            if acc * 2 >= n {
                m = i as f32;
                break;
            }
        }
        m
    };
    // (0, 0), (40, 0.25), (210, 0.75), (255, 1).
    let value = if median < 40.0 {
        0.25 * median / 40.0
    } else if median < 210.0 {
        0.25 + 0.5 * (median - 40.0) / 170.0
    } else {
        0.75 + 0.25 * (median - 210.0) / 45.0
    }
    .clamp(0.0, 1.0);
    Exposure { exposure_level: exposure_level(value), value }
}

/// Noise σ (grey levels) of a grey image by Immerkær's estimator over its smoother half (the pixels whose
/// gradient is at most the median), so that the face's own edges count little.
pub fn noise_sigma(g: &GrayImage) -> f32 {
    let (w, h) = (g.width() as usize, g.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let f = |x: usize, y: usize| i32::from(g.as_raw()[y * w + x]);
    let mut samples: Vec<(i32, i32)> = Vec::with_capacity((w - 2) * (h - 2));
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            // Immerkær's mask [1 −2 1; −2 4 −2; 1 −2 1].
            let m = f(x - 1, y - 1) + f(x + 1, y - 1) + f(x - 1, y + 1) + f(x + 1, y + 1)
                - 2 * (f(x, y - 1) + f(x - 1, y) + f(x + 1, y) + f(x, y + 1))
                + 4 * f(x, y);
            let gx = f(x + 1, y) - f(x - 1, y);
            let gy = f(x, y + 1) - f(x, y - 1);
            samples.push((gx.abs() + gy.abs(), m.abs()));
        }
    }
    let mid = samples.len() / 2;
    samples.select_nth_unstable_by_key(mid, |s| s.0);
    let smooth = &samples[..=mid];
    let mean = smooth.iter().map(|s| f64::from(s.1)).sum::<f64>() / smooth.len() as f64;
    ((std::f64::consts::FRAC_PI_2).sqrt() * mean / 6.0) as f32
}

/// Noise of the face in `image` (at most 1024 × 1024 of its native pixels, from its centre).
pub fn noise(image: &RgbImage, face: &Face) -> Noise {
    let (mut x0, mut y0, mut x1, mut y1) = inner(face, image.width(), image.height(), 0.15, 0.15);
    const CAP: u32 = 1024;
    if x1 - x0 > CAP {
        x0 += (x1 - x0 - CAP) / 2;
        x1 = x0 + CAP;
    }
    if y1 - y0 > CAP {
        y0 += (y1 - y0 - CAP) / 2;
        y1 = y0 + CAP;
    }
    let sigma = noise_sigma(&luma(image, (x0, y0, x1, y1)));
    let value = (1.0 - (-sigma / 20.0).exp()).clamp(0.0, 1.0);
    Noise { noise_level: noise_level(value), value }
}

/// The face sizes (short side of the box, pixels) below which a face is low and from which it may be high.
pub const QUALITY_SIZE_LOW: f32 = 48.0;
/// See [`QUALITY_SIZE_LOW`].
pub const QUALITY_SIZE_HIGH: f32 = 100.0;

/// `qualityForRecognition`: **low** when any one thing rules recognition out — a face under
/// [`QUALITY_SIZE_LOW`] px, a blur value of 0.5 or more, a median luma under 20 or over 235 (exposure value < 0.125
/// or ≥ 0.875), high noise, |yaw| > 25° or |pitch| > 30°, or a detector score under 0.7; **high** when everything is
/// good — at least [`QUALITY_SIZE_HIGH`] px, low blur, good exposure, low noise, |yaw| and |pitch| ≤ 20°, score
/// ≥ 0.85; **medium** otherwise. Roll does not count (alignment undoes it). The yaw and blur cut-offs are where
/// SFace's genuine pairs on `identity/public` grow less alike (`docs/face-api.md`).
pub fn quality_for_recognition(
    face_size: f32,
    score: f32,
    pose: &HeadPose,
    blur: &Blur,
    exposure: &Exposure,
    noise: &Noise,
) -> Level {
    let (yaw, pitch) = (pose.yaw.abs(), pose.pitch.abs());
    // Every input is finite (measure makes it so); a NaN would read as low anyway: `>=` is false for it.
    let fine = face_size >= QUALITY_SIZE_LOW
        && blur.value < 0.5
        && (0.125..0.875).contains(&exposure.value)
        && noise.noise_level != Level::High
        && yaw <= 25.0
        && pitch <= 30.0
        && score >= 0.7;
    let low = !fine;
    let high = face_size >= QUALITY_SIZE_HIGH
        && blur.blur_level == Level::Low
        && exposure.exposure_level == ExposureLevel::GoodExposure
        && noise.noise_level == Level::Low
        && yaw <= 20.0
        && pitch <= 20.0
        && score >= 0.85;
    if low {
        Level::Low
    } else if high {
        Level::High
    } else {
        Level::Medium
    }
}

/// Every attribute of `face` (found by the detector in `image`).
pub fn measure(image: &RgbImage, face: &Face) -> FaceQuality {
    let head_pose = head_pose(&face.landmarks);
    let blur = blur(image, face);
    let exposure = exposure(image, face);
    let noise = noise(image, face);
    let face_size = finite_or(face.bbox.w.min(face.bbox.h), 0.0).max(0.0);
    let score = finite_or(face.score, 0.0);
    let quality_for_recognition = quality_for_recognition(face_size, score, &head_pose, &blur, &exposure, &noise);
    FaceQuality { head_pose, blur, exposure, noise, quality_for_recognition, face_size, score }
}

#[cfg(test)]
mod tests {
    use super::*;
    use issc_core::BBox;

    fn frontal(scale: f32, dx: f32, dy: f32) -> Landmarks5 {
        Landmarks5(issc_detect::imgproc::ARCFACE_112.map(|[x, y]| [x as f32 * scale + dx, y as f32 * scale + dy]))
    }

    #[test]
    fn the_frontal_template_is_level() {
        // ArcFace's template, with the nose where YuNet puts it on a frontal face.
        let mut l = frontal(3.0, 10.0, 20.0);
        let (eyes, mouth) = ((l.0[0][1] + l.0[1][1]) / 2.0, (l.0[3][1] + l.0[4][1]) / 2.0);
        l.0[2][1] = eyes + FRONTAL_NOSE_HEIGHT as f32 * (mouth - eyes);
        let p = head_pose(&l);
        assert!(p.roll.abs() < 0.5 && p.yaw.abs() < 1.5 && p.pitch.abs() < 0.5, "{p:?}");
        // ArcFace's own nose sits higher: chin up.
        assert!(head_pose(&frontal(3.0, 10.0, 20.0)).pitch > 5.0);
    }

    #[test]
    fn roll_follows_a_rotation_and_yaw_the_nose() {
        let f = frontal(2.0, 0.0, 0.0);
        // The template's eyes are 0.3° off level.
        let r0 = head_pose(&f).roll;
        for deg in [-30.0f32, -10.0, 15.0, 45.0] {
            let (s, c) = deg.to_radians().sin_cos();
            let r = Landmarks5(f.0.map(|[x, y]| [x * c - y * s, x * s + y * c]));
            assert!((head_pose(&r).roll - r0 - deg).abs() < 0.01, "{deg}: {:?}", head_pose(&r));
        }
        let mut right = f;
        right.0[2][0] += 20.0;
        let mut up = f;
        up.0[2][1] -= 10.0;
        assert!(head_pose(&right).yaw > 20.0);
        assert!(head_pose(&up).pitch > 10.0);
    }

    #[test]
    fn degenerate_points_and_boxes_give_finite_answers() {
        for l in [Landmarks5::default(), Landmarks5([[f32::NAN, f32::INFINITY]; 5])] {
            let p = head_pose(&l);
            assert!(p.yaw.is_finite() && p.pitch.is_finite() && p.roll.is_finite());
        }
        let img = RgbImage::new(20, 20);
        for bbox in [
            BBox { x: 0.0, y: 0.0, w: 0.0, h: 0.0 },
            BBox { x: -50.0, y: 30.0, w: 5.0, h: 5.0 },
            BBox { x: f32::NAN, y: 0.0, w: f32::INFINITY, h: 3.0 },
            BBox { x: 0.0, y: 0.0, w: 20.0, h: 20.0 },
        ] {
            let q = measure(&img, &Face { bbox, score: f32::NAN, landmarks: Landmarks5::default() });
            assert!((0.0..=1.0).contains(&q.blur.value), "{q:?}");
            assert!((0.0..=1.0).contains(&q.exposure.value) && (0.0..=1.0).contains(&q.noise.value));
            assert_eq!(q.quality_for_recognition, Level::Low);
        }
    }

    #[test]
    fn the_metrics_move_the_right_way_on_a_synthetic_face() {
        // A textured square: sharp, then blurred; dark; noisy.
        let img = RgbImage::from_fn(200, 200, |x, y| {
            let v = if (x / 8 + y / 8) % 2 == 0 { 90 } else { 170 };
            image::Rgb([v, v, v])
        });
        let face =
            Face { bbox: BBox { x: 20.0, y: 20.0, w: 160.0, h: 160.0 }, score: 0.9, landmarks: Landmarks5::default() };
        let sharp = blur(&img, &face).value;
        let soft = blur(&imageops::blur(&img, 4.0), &face).value;
        assert!(soft > sharp + 0.2, "{sharp} {soft}");
        let dark = RgbImage::from_fn(200, 200, |x, y| image::Rgb(img.get_pixel(x, y).0.map(|v| v / 6)));
        assert_eq!(exposure(&dark, &face).exposure_level, ExposureLevel::UnderExposure);
        assert_eq!(exposure(&img, &face).exposure_level, ExposureLevel::GoodExposure);
        let mut seed = 1u64;
        let noisy = RgbImage::from_fn(200, 200, |x, y| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let n = ((seed >> 33) % 61) as i32 - 30;
            image::Rgb(img.get_pixel(x, y).0.map(|v| (i32::from(v) + n).clamp(0, 255) as u8))
        });
        assert!(noise(&noisy, &face).value > noise(&img, &face).value + 0.3);
    }
}
