//! Pixel operations that must match the reference pipeline (OpenCV) closely: bilinear resize, the 5-point
//! similarity fit (Umeyama), the affine warp, and the margin crop.

use image::RgbImage;
use issc_core::{BBox, Landmarks5};

/// The ArcFace 112×112 five-point template (image-left eye, image-right eye, nose, image-left mouth corner,
/// image-right mouth corner).
pub const ARCFACE_112: [[f64; 2]; 5] =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// Fixed-point precision of OpenCV's 8-bit bilinear resize.
const RESIZE_COEF_BITS: i32 = 11;
const RESIZE_COEF_SCALE: f32 = (1 << RESIZE_COEF_BITS) as f32;

/// Bilinear resize with OpenCV's `INTER_LINEAR` sampling for 8-bit images: half-pixel centres, edge clamping,
/// two taps per axis (no antialiasing, exactly like `cv2.resize`), 11-bit fixed-point weights and OpenCV's
/// rounding, so the detector sees the same pixels as the reference.
pub fn resize_bilinear(src: &RgbImage, dw: u32, dh: u32) -> RgbImage {
    let (sw, sh) = src.dimensions();
    if (sw, sh) == (dw, dh) {
        return src.clone();
    }
    let xtab = linear_taps(sw, dw);
    let ytab = linear_taps(sh, dh);
    let srcb = src.as_raw();
    let row_len = sw as usize * 3;
    let out_row_len = dw as usize * 3;
    // Horizontal pass for the rows we need, cached per source row (two rows live at a time).
    let hresize = |sy: usize, out: &mut [i32]| {
        let row = &srcb[sy * row_len..(sy + 1) * row_len];
        for (o, &(sx, a0, a1)) in out.chunks_exact_mut(3).zip(&xtab) {
            let i0 = sx * 3;
            let i1 = if a1 != 0 { i0 + 3 } else { i0 };
            let (p0, p1) = (&row[i0..i0 + 3], &row[i1..i1 + 3]);
            o[0] = i32::from(p0[0]) * a0 + i32::from(p1[0]) * a1;
            o[1] = i32::from(p0[1]) * a0 + i32::from(p1[1]) * a1;
            o[2] = i32::from(p0[2]) * a0 + i32::from(p1[2]) * a1;
        }
    };
    let mut dst = RgbImage::new(dw, dh);
    let (mut r0, mut r1) = (vec![0i32; out_row_len], vec![0i32; out_row_len]);
    let (mut k0, mut k1) = (usize::MAX, usize::MAX);
    let dstb: &mut [u8] = &mut dst;
    for (out, &(sy, b0, b1)) in dstb.chunks_exact_mut(out_row_len).zip(&ytab) {
        let sy1 = if b1 != 0 { sy + 1 } else { sy };
        if k0 != sy {
            if k1 == sy {
                std::mem::swap(&mut r0, &mut r1);
                std::mem::swap(&mut k0, &mut k1);
            } else {
                hresize(sy, &mut r0);
                k0 = sy;
            }
        }
        if k1 != sy1 {
            hresize(sy1, &mut r1);
            k1 = sy1;
        }
        // OpenCV's SIMD path (VResizeLinearVec_32s8u): (((b0*(S0>>4))>>16) + ((b1*(S1>>4))>>16) + 2) >> 2.
        // Written over zipped slices so the compiler vectorises it.
        for ((o, &a), &b) in out.iter_mut().zip(&r0).zip(&r1) {
            let s0 = (a >> 4).clamp(i32::from(i16::MIN), i32::from(i16::MAX));
            let s1 = (b >> 4).clamp(i32::from(i16::MIN), i32::from(i16::MAX));
            let v = (((b0 * s0) >> 16) + ((b1 * s1) >> 16) + 2) >> 2;
            *o = v.clamp(0, 255) as u8;
        }
    }
    dst
}

/// The image shrunk (never enlarged) so its long side is at most `max_side`, as the reference does:
/// `scale = min(1, max_side / max(w, h))`, new size rounded half-to-even (Python's `round`), OpenCV bilinear.
/// Returns the image (borrowed when unchanged) and the scale.
pub fn shrink_to_max_side(img: &RgbImage, max_side: u32) -> (std::borrow::Cow<'_, RgbImage>, f64) {
    let (w, h) = img.dimensions();
    let scale = (f64::from(max_side) / f64::from(w.max(h))).min(1.0);
    let nw = ((f64::from(w) * scale).round_ties_even() as u32).max(1);
    let nh = ((f64::from(h) * scale).round_ties_even() as u32).max(1);
    if (nw, nh) == (w, h) {
        (std::borrow::Cow::Borrowed(img), scale)
    } else {
        (std::borrow::Cow::Owned(resize_bilinear(img, nw, nh)), scale)
    }
}

/// NCHW float planes in **BGR** order, minus `mean_bgr`, on a zero canvas of `pw`×`ph` (≥ the image), the image at
/// the top-left: the input layout of YuNet (mean 0, padded to multiples of 32) and RetinaFace.
pub fn bgr_planes(src: &RgbImage, pw: usize, ph: usize, mean_bgr: [f32; 3]) -> Vec<f32> {
    let plane = pw * ph;
    let mut data = vec![0f32; 3 * plane];
    let w = src.width() as usize;
    if w == 0 || pw < w || ph < src.height() as usize {
        return data;
    }
    let (b, rest) = data.split_at_mut(plane);
    let (g, r) = rest.split_at_mut(plane);
    for (y, row) in src.as_raw().chunks_exact(w * 3).enumerate() {
        let span = y * pw..y * pw + w;
        for (((px, b), g), r) in
            row.chunks_exact(3).zip(&mut b[span.clone()]).zip(&mut g[span.clone()]).zip(&mut r[span])
        {
            *b = f32::from(px[2]) - mean_bgr[0];
            *g = f32::from(px[1]) - mean_bgr[1];
            *r = f32::from(px[0]) - mean_bgr[2];
        }
    }
    data
}

/// For each destination index: (source index, weight0, weight1) in 11-bit fixed point.
fn linear_taps(src_len: u32, dst_len: u32) -> Vec<(usize, i32, i32)> {
    let scale = f64::from(src_len) / f64::from(dst_len);
    (0..dst_len)
        .map(|d| {
            let mut f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            f -= s as f32;
            if s < 0 {
                f = 0.0;
                s = 0;
            }
            if s >= i64::from(src_len) - 1 {
                f = 0.0;
                s = i64::from(src_len) - 1;
            }
            let a0 = ((1.0 - f) * RESIZE_COEF_SCALE).round() as i32;
            let a1 = (f * RESIZE_COEF_SCALE).round() as i32;
            (s as usize, a0, a1)
        })
        .collect()
}

/// A 2×3 affine matrix `[[a, b, tx], [c, d, ty]]` mapping source pixels to destination pixels.
pub type Affine = [[f64; 3]; 2];

/// Least-squares similarity transform (rotation, uniform scale, translation; no reflection) from `src` to `dst`
/// points: Umeyama (1991), as OpenCV's `FaceRecognizerSF::alignCrop` and scikit-image's `SimilarityTransform`.
///
/// In 2-D Umeyama's SVD solution has a closed form: with centred points `(x, y) → (u, v)`,
/// `s·R = [[p, −q], [q, p]]` where `p = Σ(xu + yv) / Σ(x² + y²)` and `q = Σ(xv − yu) / Σ(x² + y²)`. This holds for
/// both signs of the cross-covariance determinant, i.e. it equals the SVD form including Umeyama's reflection
/// guard.
pub fn similarity_transform(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Affine> {
    let n = src.len().min(dst.len());
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let (mut msx, mut msy, mut mdx, mut mdy) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        msx += src[i][0];
        msy += src[i][1];
        mdx += dst[i][0];
        mdy += dst[i][1];
    }
    msx /= nf;
    msy /= nf;
    mdx /= nf;
    mdy /= nf;
    let (mut var, mut p, mut q) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (src[i][0] - msx, src[i][1] - msy);
        let (u, v) = (dst[i][0] - mdx, dst[i][1] - mdy);
        var += x * x + y * y;
        p += x * u + y * v;
        q += x * v - y * u;
    }
    if var.is_nan() || var <= 1e-12 || !p.is_finite() || !q.is_finite() {
        return None;
    }
    let (a, b) = (p / var, q / var);
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Some([[a, -b, tx], [b, a, ty]])
}

/// Invert a 2×3 affine matrix.
pub fn invert_affine(m: &Affine) -> Option<Affine> {
    let [[a, b, tx], [c, d, ty]] = *m;
    let det = a * d - b * c;
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
    Some([[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]])
}

/// `cv2.warpAffine(src, m, (w, h), INTER_LINEAR, BORDER_CONSTANT, 0)`: every destination pixel samples the source
/// at `m⁻¹·(x, y)` bilinearly, with source coordinates quantised to 1/32 pixel as OpenCV does; samples outside the
/// image are black.
pub fn warp_affine(src: &RgbImage, m: &Affine, w: u32, h: u32) -> RgbImage {
    let mut dst = RgbImage::new(w, h);
    let Some(inv) = invert_affine(m) else {
        return dst;
    };
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let raw = src.as_raw();
    let stride = sw as usize * 3;
    let pixel = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            [0.0; 3]
        } else {
            let i = y as usize * stride + x as usize * 3;
            [f32::from(raw[i]), f32::from(raw[i + 1]), f32::from(raw[i + 2])]
        }
    };
    const INTER_TAB: f64 = 32.0;
    let out: &mut [u8] = &mut dst;
    for (y, row) in out.chunks_exact_mut(w as usize * 3).enumerate() {
        let yf = y as f64;
        for (x, o) in row.chunks_exact_mut(3).enumerate() {
            let xf = x as f64;
            let sx = round_half_away(((inv[0][0] * xf + inv[0][1] * yf + inv[0][2]) * INTER_TAB).clamp(-1e15, 1e15));
            let sy = round_half_away(((inv[1][0] * xf + inv[1][1] * yf + inv[1][2]) * INTER_TAB).clamp(-1e15, 1e15));
            let (ix, iy) = (sx.div_euclid(32), sy.div_euclid(32));
            let (fx, fy) = (sx.rem_euclid(32) as f32 / 32.0, sy.rem_euclid(32) as f32 / 32.0);
            let (p00, p01, p10, p11) = if ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh {
                // Inside: the four samples straight from the rows.
                let i = iy as usize * stride + ix as usize * 3;
                let (a, b) = (&raw[i..i + 6], &raw[i + stride..i + stride + 6]);
                let f = |s: &[u8]| [f32::from(s[0]), f32::from(s[1]), f32::from(s[2])];
                (f(&a[..3]), f(&a[3..]), f(&b[..3]), f(&b[3..]))
            } else {
                (pixel(ix, iy), pixel(ix + 1, iy), pixel(ix, iy + 1), pixel(ix + 1, iy + 1))
            };
            for c in 0..3 {
                let top = p00[c] * (1.0 - fx) + p01[c] * fx;
                let bottom = p10[c] * (1.0 - fx) + p11[c] * fx;
                o[c] = round_half_away_u8(top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    dst
}

/// `v.round() as i64` (half away from zero) without a call into libm: truncate, then step by the exact remainder.
fn round_half_away(v: f64) -> i64 {
    let t = v as i64;
    let rest = v - t as f64;
    if rest >= 0.5 {
        t + 1
    } else if rest <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// `v.round().clamp(0.0, 255.0) as u8` without a call into libm.
fn round_half_away_u8(v: f32) -> u8 {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    if v >= 255.0 {
        return 255;
    }
    let t = v as u32;
    (if v - t as f32 >= 0.5 { t + 1 } else { t }) as u8
}

/// How much [`align_face`] enlarges the face: the similarity transform's scale from the image's pixels to the
/// aligned crop's (above 1: the crop has more pixels than the face in `src`). `None` when the landmarks are
/// degenerate.
pub fn align_scale(landmarks: &Landmarks5, size: u32) -> Option<f64> {
    let k = f64::from(size) / 112.0;
    let template = ARCFACE_112.map(|[x, y]| [x * k, y * k]);
    let m = similarity_transform(&landmarks.to_f64(), &template)?;
    Some(m[0][0].hypot(m[1][0]))
}

/// The face aligned to the ArcFace template and warped to `size`×`size` (112 for SFace). For other sizes the
/// template is scaled by `size / 112`.
pub fn align_face(src: &RgbImage, landmarks: &Landmarks5, size: u32) -> Option<RgbImage> {
    let k = f64::from(size) / 112.0;
    let template = ARCFACE_112.map(|[x, y]| [x * k, y * k]);
    let m = similarity_transform(&landmarks.to_f64(), &template)?;
    Some(warp_affine(src, &m, size, size))
}

/// The seed's margin crop: the box enlarged by `margin` of its size on each side, made square around its centre,
/// cut out (black outside the image) and resized to `size`×`size` with an antialiasing filter.
pub fn margin_crop(src: &RgbImage, bbox: &BBox, margin: f32, size: u32) -> RgbImage {
    let sq = bbox.expanded_square(margin);
    let side = sq.w.round().max(1.0) as u32;
    let (x0, y0) = (sq.x.round() as i64, sq.y.round() as i64);
    let mut canvas = RgbImage::new(side, side);
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    for cy in 0..side {
        let sy = y0 + i64::from(cy);
        if sy < 0 || sy >= sh {
            continue;
        }
        for cx in 0..side {
            let sx = x0 + i64::from(cx);
            if sx >= 0 && sx < sw {
                canvas.put_pixel(cx, cy, *src.get_pixel(sx as u32, sy as u32));
            }
        }
    }
    if side == size {
        canvas
    } else {
        image::imageops::resize(&canvas, size, size, image::imageops::FilterType::Triangle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7_f64, 0.3_f64, 12.0, -5.0);
        let src: Vec<[f64; 2]> = ARCFACE_112.to_vec();
        let dst: Vec<[f64; 2]> = src
            .iter()
            .map(|[x, y]| [s * (th.cos() * x - th.sin() * y) + tx, s * (th.sin() * x + th.cos() * y) + ty])
            .collect();
        let m = similarity_transform(&src, &dst).unwrap();
        assert!((m[0][0] - s * th.cos()).abs() < 1e-9);
        assert!((m[1][0] - s * th.sin()).abs() < 1e-9);
        assert!((m[0][2] - tx).abs() < 1e-9 && (m[1][2] - ty).abs() < 1e-9);
        let inv = invert_affine(&m).unwrap();
        let p = [50.0, 60.0];
        let q = [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]];
        let r = [inv[0][0] * q[0] + inv[0][1] * q[1] + inv[0][2], inv[1][0] * q[0] + inv[1][1] * q[1] + inv[1][2]];
        assert!((r[0] - p[0]).abs() < 1e-9 && (r[1] - p[1]).abs() < 1e-9);
    }

    #[test]
    fn similarity_never_reflects() {
        // Mirror-image points: the best similarity (no reflection) has positive determinant.
        let src: Vec<[f64; 2]> = ARCFACE_112.to_vec();
        let dst: Vec<[f64; 2]> = src.iter().map(|[x, y]| [-x, *y]).collect();
        let m = similarity_transform(&src, &dst).unwrap();
        assert!(m[0][0] * m[1][1] - m[0][1] * m[1][0] >= 0.0);
    }

    #[test]
    fn resize_matches_opencv_on_a_ramp() {
        // cv2.resize(np.arange(8, dtype=uint8)*30 as 1x8x3 -> 1x4x3, INTER_LINEAR) == [15, 75, 135, 195]
        let mut src = RgbImage::new(8, 1);
        for x in 0..8 {
            src.put_pixel(x, 0, Rgb([(x * 30) as u8; 3]));
        }
        let out = resize_bilinear(&src, 4, 1);
        let got: Vec<u8> = (0..4).map(|x| out.get_pixel(x, 0).0[0]).collect();
        assert_eq!(got, vec![15, 75, 135, 195]);
    }

    #[test]
    fn rounding_matches_the_standard_library() {
        for v in [-2.5, -1.5, -0.5, -0.49999999999999994, 0.0, 0.49999999999999994, 0.5, 1.5, 2.5, 1e9 + 0.5, -7.25] {
            assert_eq!(round_half_away(v), v.round() as i64, "{v}");
        }
        for v in [-3.0f32, -0.5, 0.0, 0.49999997, 0.5, 1.5, 127.5, 254.5, 254.49998, 255.0, 300.0, f32::NAN] {
            assert_eq!(round_half_away_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
        }
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let mut src = RgbImage::new(5, 4);
        for (i, p) in src.pixels_mut().enumerate() {
            *p = Rgb([i as u8 * 10, 7, 200]);
        }
        let m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        assert_eq!(warp_affine(&src, &m, 5, 4), src);
        // A translation by one pixel brings black in at the border.
        let t = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        let out = warp_affine(&src, &t, 5, 4);
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(1, 0).0, src.get_pixel(0, 0).0);
    }

    #[test]
    fn margin_crop_is_square_and_sized() {
        let src = RgbImage::from_pixel(100, 80, Rgb([9, 9, 9]));
        let c = margin_crop(&src, &BBox::new(80.0, 60.0, 30.0, 40.0), 0.2, 64);
        assert_eq!(c.dimensions(), (64, 64));
        assert_eq!(c.get_pixel(63, 63).0, [0, 0, 0], "outside the image is black");
        assert_eq!(c.get_pixel(5, 5).0, [9, 9, 9]);
    }
}
