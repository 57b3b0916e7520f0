//! Azure AI Face as a remote detector (cargo feature `azure`): the seed's remote-detection path.
//!
//! Each photo is sent as a PNG to `POST /face/v1.2/detect` with `detection_03` + `recognition_04`, face ids and
//! landmarks on. Boxes and the five landmarks the local pipeline uses (`pupilLeft`, `pupilRight`, `noseTip`,
//! `mouthLeft`, `mouthRight`: already in ArcFace order, image-left first) come back, with the transient face ids
//! for later verify / identify calls. Azure returns no detection confidence: the score is 1.

use azure_face_client::{DetectOptions, FaceClient, FaceDetectionResult};
use image::RgbImage;
use issc_core::{BBox, Face, Landmarks5};

use crate::{DetectError, Detector, DetectorConfig};

const NAME: &str = "Azure Face detect";

/// Remote detector over Azure AI Face (or any server speaking its v1.2 API).
pub struct AzureDetector {
    client: FaceClient,
    options: DetectOptions,
    config: DetectorConfig,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for AzureDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureDetector").field("client", &self.client).field("options", &self.options).finish()
    }
}

impl AzureDetector {
    /// A detector from `AZURE_FACE_ENDPOINT` and `AZURE_FACE_KEY` (environment or `.env`).
    pub fn from_env(config: DetectorConfig) -> Result<Self, DetectError> {
        let client = FaceClient::from_env().map_err(|e| DetectError::Config(e.to_string()))?;
        Self::new(client, config)
    }

    /// A detector over an existing client.
    pub fn new(client: FaceClient, config: DetectorConfig) -> Result<Self, DetectError> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DetectError::inference(NAME, format!("cannot start the async runtime: {e}")))?;
        let options = DetectOptions::recommended_for_recognition().return_face_landmarks(true);
        Ok(Self { client, options, config, runtime })
    }

    /// Faces with their transient Azure face ids.
    pub fn detect_with_ids(&self, image: &RgbImage) -> Result<Vec<(Face, Option<String>)>, DetectError> {
        let mut png = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(|e| DetectError::inference(NAME, format!("cannot encode the photo: {e}")))?;
        let found = self
            .runtime
            .block_on(self.client.detect(png.into_inner(), &self.options))
            .map_err(|e| DetectError::inference(NAME, e))?;
        let mut faces: Vec<(Face, Option<String>)> = found.iter().map(to_face).collect();
        faces.retain(|(f, _)| f.bbox.w.min(f.bbox.h) >= self.config.min_face);
        faces.sort_by(|a, b| b.0.bbox.area().total_cmp(&a.0.bbox.area()));
        faces.truncate(self.config.top_k);
        Ok(faces)
    }
}

fn to_face(r: &FaceDetectionResult) -> (Face, Option<String>) {
    let rect = &r.face_rectangle;
    let bbox = BBox::new(rect.left as f32, rect.top as f32, rect.width as f32, rect.height as f32);
    let landmarks = match &r.face_landmarks {
        Some(l) => Landmarks5(
            [&l.pupil_left, &l.pupil_right, &l.nose_tip, &l.mouth_left, &l.mouth_right]
                .map(|p| [p.x as f32, p.y as f32]),
        ),
        // Without landmarks, a rough five points from the box keep alignment possible.
        None => {
            let (x, y, w, h) = (bbox.x, bbox.y, bbox.w, bbox.h);
            Landmarks5([
                [x + 0.34 * w, y + 0.46 * h],
                [x + 0.66 * w, y + 0.46 * h],
                [x + 0.50 * w, y + 0.64 * h],
                [x + 0.37 * w, y + 0.82 * h],
                [x + 0.63 * w, y + 0.82 * h],
            ])
        }
    };
    (Face { bbox, score: 1.0, landmarks }, r.face_id.map(|id| id.to_string()))
}

impl Detector for AzureDetector {
    fn name(&self) -> &str {
        "azure"
    }

    fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, DetectError> {
        Ok(self.detect_with_ids(image)?.into_iter().map(|(f, _)| f).collect())
    }

    fn detect_with_ids(&self, image: &RgbImage) -> Result<Vec<(Face, Option<String>)>, DetectError> {
        AzureDetector::detect_with_ids(self, image)
    }
}
