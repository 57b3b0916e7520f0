//! YuNet (2023 "cls/obj/bbox/kps" heads), decoded exactly as OpenCV's `FaceDetectorYN` and MODELS.md §3.

use image::RgbImage;
use issc_core::{BBox, Face, Landmarks5};

use crate::runner::{ModelRunner, output};
use crate::{DetectError, Detector, DetectorConfig, ModelDir, imgproc, models, nms};

const NAME: &str = "YuNet-n";
const STRIDES: [usize; 3] = [8, 16, 32];

/// The YuNet-n detector (`face_detection_yunet_n_dynamic.onnx`): any input size that is a multiple of 32; the
/// image is resized so its long side is at most `max_side` (never enlarged) and zero-padded right and bottom.
pub struct YuNet {
    runner: ModelRunner,
    config: DetectorConfig,
}

impl YuNet {
    /// Load and check the model from `models`.
    pub fn new(models: &ModelDir, config: DetectorConfig) -> Result<Self, DetectError> {
        config.validate()?;
        let bytes = models.load(&models::YUNET_N_DYNAMIC)?;
        let runner = ModelRunner::new(NAME, bytes)?;
        let names = runner.output_names()?;
        for s in STRIDES {
            for head in ["cls", "obj", "bbox", "kps"] {
                let want = format!("{head}_{s}");
                if !names.contains(&want) {
                    return Err(DetectError::inference(NAME, format!("model lacks output {want}; is it YuNet 2023?")));
                }
            }
        }
        Ok(Self { runner, config })
    }
}

/// The network input for an image: BGR planes, raw 0..255, padded to multiples of 32, and the scale used.
pub(crate) struct Blob {
    pub data: Vec<f32>,
    pub width: usize,
    pub height: usize,
    pub scale: f64,
}

/// Resize so the long side is at most `max_side` (reference: `scale = min(1, max_side / max(w, h))`, new size
/// rounded half-to-even as Python's `round`), then pad to multiples of 32 and lay out BGR planes.
pub(crate) fn yunet_blob(img: &RgbImage, max_side: u32) -> Blob {
    let (src, scale) = imgproc::shrink_to_max_side(img, max_side);
    let (nw, nh) = src.dimensions();
    let pw = (nw as usize).div_ceil(32) * 32;
    let ph = (nh as usize).div_ceil(32) * 32;
    let data = imgproc::bgr_planes(&src, pw, ph, [0.0; 3]);
    Blob { data, width: pw, height: ph, scale }
}

impl Detector for YuNet {
    fn name(&self) -> &str {
        "yunet"
    }

    fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, DetectError> {
        self.detect_min_face(img, self.config.min_face)
    }

    fn accepts_reduced(&self) -> bool {
        true
    }

    fn detect_reduced(&self, img: &RgbImage, scale: f32) -> Result<Vec<Face>, DetectError> {
        let faces = self.detect_min_face(img, self.config.min_face / scale)?;
        Ok(faces.into_iter().map(|f| crate::to_full_size(&f, scale)).collect())
    }
}

impl YuNet {
    /// Detection with `min_face` in `img`'s pixels.
    fn detect_min_face(&self, img: &RgbImage, min_face: f32) -> Result<Vec<Face>, DetectError> {
        let blob = yunet_blob(img, self.config.max_side);
        let outs = self.runner.run(&[1, 3, blob.height, blob.width], &blob.data)?;
        let mut boxes = Vec::new();
        let thr = self.config.score_threshold;
        for s in STRIDES {
            let (cols, rows) = (blob.width / s, blob.height / s);
            let n = cols * rows;
            let cls = output(&outs, &format!("cls_{s}"), NAME)?;
            let obj = output(&outs, &format!("obj_{s}"), NAME)?;
            let bbox = output(&outs, &format!("bbox_{s}"), NAME)?;
            let kps = output(&outs, &format!("kps_{s}"), NAME)?;
            if cls.len() != n || obj.len() != n || bbox.len() != 4 * n || kps.len() != 10 * n {
                return Err(DetectError::inference(NAME, format!("unexpected output sizes for stride {s}")));
            }
            let sf = s as f32;
            for idx in 0..n {
                let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
                if score < thr {
                    continue;
                }
                let (r, c) = ((idx / cols) as f32, (idx % cols) as f32);
                let b = &bbox[4 * idx..4 * idx + 4];
                let cx = (c + b[0]) * sf;
                let cy = (r + b[1]) * sf;
                let bw = b[2].exp() * sf;
                let bh = b[3].exp() * sf;
                let k = &kps[10 * idx..10 * idx + 10];
                let mut lm = [[0f32; 2]; 5];
                for (j, p) in lm.iter_mut().enumerate() {
                    *p = [(k[2 * j] + c) * sf, (k[2 * j + 1] + r) * sf];
                }
                boxes.push(Face {
                    bbox: BBox::new(cx - bw / 2.0, cy - bh / 2.0, bw, bh),
                    score,
                    landmarks: Landmarks5(lm),
                });
            }
        }
        Ok(nms::finish(boxes, &DetectorConfig { min_face, ..self.config }, blob.scale))
    }
}
