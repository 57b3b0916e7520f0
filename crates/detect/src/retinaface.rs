//! RetinaFace with a MobileNet-0.25 backbone (biubug6 export), decoded as MODELS.md §5 and `facepipe.py`.

use image::RgbImage;
use issc_core::{BBox, Face, Landmarks5};

use crate::runner::{ModelRunner, output};
use crate::{DetectError, Detector, DetectorConfig, ModelDir, imgproc, models, nms};

const NAME: &str = "RetinaFace-MobileNet0.25";
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
const STEPS: [(usize, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
const VARIANCE: [f32; 2] = [0.1, 0.2];

/// The RetinaFace-MobileNet0.25 detector: any input size, BGR minus the ImageNet-caffe means.
pub struct RetinaFace {
    runner: ModelRunner,
    config: DetectorConfig,
}

impl RetinaFace {
    /// Load and check the model from `models`.
    pub fn new(models: &ModelDir, config: DetectorConfig) -> Result<Self, DetectError> {
        config.validate()?;
        let mut bytes = models.load(&models::RETINAFACE_MB025)?;
        crate::onnxfix::rename_question_mark_dims(&mut bytes);
        let runner = ModelRunner::new(NAME, bytes)?;
        let names = runner.output_names()?;
        for want in ["loc", "conf", "iou"] {
            if !names.iter().any(|n| n == want) {
                return Err(DetectError::inference(NAME, format!("model lacks output '{want}'")));
            }
        }
        Ok(Self { runner, config })
    }
}

/// Anchor boxes `(cx, cy, w, h)` in relative units, row-major per step, as biubug6's `PriorBox`.
fn priors(h: usize, w: usize) -> Vec<[f32; 4]> {
    let mut out = Vec::new();
    for (step, sizes) in STEPS {
        let (fh, fw) = (h.div_ceil(step), w.div_ceil(step));
        for i in 0..fh {
            for j in 0..fw {
                let cx = (j as f32 + 0.5) * step as f32 / w as f32;
                let cy = (i as f32 + 0.5) * step as f32 / h as f32;
                for s in sizes {
                    out.push([cx, cy, s / w as f32, s / h as f32]);
                }
            }
        }
    }
    out
}

impl Detector for RetinaFace {
    fn name(&self) -> &str {
        "retinaface"
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

impl RetinaFace {
    /// Detection with `min_face` in `img`'s pixels.
    fn detect_min_face(&self, img: &RgbImage, min_face: f32) -> Result<Vec<Face>, DetectError> {
        let (src, scale) = imgproc::shrink_to_max_side(img, self.config.max_side);
        let (nw, nh) = src.dimensions();
        let (pw, ph) = (nw as usize, nh as usize);
        let data = imgproc::bgr_planes(&src, pw, ph, MEAN_BGR);
        let outs = self.runner.run(&[1, 3, ph, pw], &data)?;
        let loc = output(&outs, "loc", NAME)?;
        let conf = output(&outs, "conf", NAME)?;
        let lms = output(&outs, "iou", NAME)?;
        let pri = priors(ph, pw);
        let n = pri.len();
        if loc.len() != 4 * n || conf.len() != 2 * n || lms.len() != 10 * n {
            return Err(DetectError::inference(NAME, format!("expected {n} anchors for a {pw}x{ph} input")));
        }
        let (fw, fh) = (pw as f32, ph as f32);
        let mut faces = Vec::new();
        for (k, p) in pri.iter().enumerate() {
            let score = conf[2 * k + 1];
            if score < self.config.score_threshold {
                continue;
            }
            let l = &loc[4 * k..4 * k + 4];
            let cx = p[0] + l[0] * VARIANCE[0] * p[2];
            let cy = p[1] + l[1] * VARIANCE[0] * p[3];
            let bw = p[2] * (l[2] * VARIANCE[1]).exp();
            let bh = p[3] * (l[3] * VARIANCE[1]).exp();
            let m = &lms[10 * k..10 * k + 10];
            let mut lm = [[0f32; 2]; 5];
            for (j, q) in lm.iter_mut().enumerate() {
                *q = [(p[0] + m[2 * j] * VARIANCE[0] * p[2]) * fw, (p[1] + m[2 * j + 1] * VARIANCE[0] * p[3]) * fh];
            }
            faces.push(Face {
                bbox: BBox::new((cx - bw / 2.0) * fw, (cy - bh / 2.0) * fh, bw * fw, bh * fh),
                score,
                landmarks: Landmarks5(lm),
            });
        }
        Ok(nms::finish(faces, &DetectorConfig { min_face, ..self.config }, scale))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn symbolic_dims_are_renamed_only_in_inputs_and_outputs() {
        let models = crate::ModelDir::locate(None).unwrap();
        let original = models.load(&crate::models::RETINAFACE_MB025).unwrap();
        let mut fixed = original.clone();
        // batch, height, width of the input; batch and anchors of the three outputs.
        assert_eq!(crate::onnxfix::rename_question_mark_dims(&mut fixed), 9);
        let changed = original.iter().zip(&fixed).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 9, "one byte per renamed dimension, nothing else");
    }

    #[test]
    fn prior_count_matches_feature_maps() {
        let p = super::priors(480, 640);
        assert_eq!(p.len(), 2 * (60 * 80 + 30 * 40 + 15 * 20));
        assert!((p[0][0] - 4.0 / 640.0).abs() < 1e-7 && (p[1][2] - 32.0 / 640.0).abs() < 1e-7);
    }
}
