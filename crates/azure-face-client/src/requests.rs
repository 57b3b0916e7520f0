//! Request options and bodies, with builders and defaults.
//!
//! Every option left unset is not sent, so the service applies its documented default.

use bytes::Bytes;
use serde::Serialize;

use crate::error::FaceError;
use crate::models::{
    DetectionModel, FaceAttributeType, FaceRectangle, FindSimilarMatchMode, LivenessModel, LivenessOperationMode,
    RecognitionModel,
};

/// Options of the detect operations (query parameters).
///
/// ```
/// use azure_face_client::{DetectOptions, DetectionModel, RecognitionModel, FaceAttributeType};
/// let options = DetectOptions::new()
///     .detection_model(DetectionModel::Detection03)
///     .recognition_model(RecognitionModel::Recognition04)
///     .return_face_id(true)
///     .return_face_attributes([FaceAttributeType::HeadPose, FaceAttributeType::QualityForRecognition]);
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DetectOptions {
    /// Detection model (service default `detection_01`; `detection_03` recommended).
    pub detection_model: Option<DetectionModel>,
    /// Recognition model (service default `recognition_01`; `recognition_04` recommended).
    pub recognition_model: Option<RecognitionModel>,
    /// Whether to return transient face ids (service default true; needs Limited Access approval).
    pub return_face_id: Option<bool>,
    /// Attributes to return; each detection model allows only some (see [`DetectOptions::validate`]).
    pub return_face_attributes: Vec<FaceAttributeType>,
    /// Whether to return the 27 landmarks (service default false; not with `detection_02`).
    pub return_face_landmarks: Option<bool>,
    /// Whether to return the recognition model with each face (service default false).
    pub return_recognition_model: Option<bool>,
    /// Lifetime of the returned face ids in seconds, 60..=86400 (service default 86400).
    pub face_id_time_to_live: Option<u32>,
}

impl DetectOptions {
    /// No options: the service defaults apply.
    pub fn new() -> Self {
        Self::default()
    }

    /// The combination this project recommends for recognition: `detection_03`, `recognition_04`, face ids on.
    pub fn recommended_for_recognition() -> Self {
        Self::new()
            .detection_model(DetectionModel::Detection03)
            .recognition_model(RecognitionModel::Recognition04)
            .return_face_id(true)
    }

    /// Sets the detection model.
    pub fn detection_model(mut self, model: DetectionModel) -> Self {
        self.detection_model = Some(model);
        self
    }

    /// Sets the recognition model.
    pub fn recognition_model(mut self, model: RecognitionModel) -> Self {
        self.recognition_model = Some(model);
        self
    }

    /// Sets whether to return face ids.
    pub fn return_face_id(mut self, on: bool) -> Self {
        self.return_face_id = Some(on);
        self
    }

    /// Sets the attributes to return.
    pub fn return_face_attributes(mut self, attributes: impl IntoIterator<Item = FaceAttributeType>) -> Self {
        self.return_face_attributes = attributes.into_iter().collect();
        self
    }

    /// Sets whether to return landmarks.
    pub fn return_face_landmarks(mut self, on: bool) -> Self {
        self.return_face_landmarks = Some(on);
        self
    }

    /// Sets whether to return the recognition model.
    pub fn return_recognition_model(mut self, on: bool) -> Self {
        self.return_recognition_model = Some(on);
        self
    }

    /// Sets the face id lifetime in seconds (60..=86400).
    pub fn face_id_time_to_live(mut self, seconds: u32) -> Self {
        self.face_id_time_to_live = Some(seconds);
        self
    }

    /// Checks the combination against the documented rules, so a mistake fails here with a clear message
    /// rather than as a 400 from the service:
    ///
    /// * `detection_02` returns neither landmarks nor attributes;
    /// * `detection_03` allows only headPose, mask, blur and qualityForRecognition;
    /// * `detection_01` does not allow mask;
    /// * qualityForRecognition needs `recognition_03` or `recognition_04`;
    /// * `faceIdTimeToLive` is within 60..=86400.
    ///
    /// Models and attributes this client does not know (`Other`) are not checked.
    pub fn validate(&self) -> Result<(), FaceError> {
        if let Some(ttl) = self.face_id_time_to_live
            && !(60..=86400).contains(&ttl)
        {
            return Err(FaceError::invalid("faceIdTimeToLive", format!("{ttl} is outside 60..=86400 seconds")));
        }
        let detection = self.detection_model.clone().unwrap_or(DetectionModel::Detection01);
        let recognition = self.recognition_model.clone().unwrap_or(RecognitionModel::Recognition01);
        match detection {
            DetectionModel::Detection02 => {
                if self.return_face_landmarks == Some(true) {
                    return Err(FaceError::invalid("returnFaceLandmarks", "detection_02 does not return landmarks"));
                }
                if !self.return_face_attributes.is_empty() {
                    return Err(FaceError::invalid(
                        "returnFaceAttributes",
                        "detection_02 does not return attributes; use detection_01 or detection_03",
                    ));
                }
            }
            DetectionModel::Detection03 => {
                for a in &self.return_face_attributes {
                    let allowed = matches!(
                        a,
                        FaceAttributeType::HeadPose
                            | FaceAttributeType::Mask
                            | FaceAttributeType::Blur
                            | FaceAttributeType::QualityForRecognition
                            | FaceAttributeType::Other(_)
                    );
                    if !allowed {
                        return Err(FaceError::invalid(
                            "returnFaceAttributes",
                            format!(
                                "detection_03 does not return `{a}` (it allows headPose, mask, blur and \
                                 qualityForRecognition); use detection_01 for it"
                            ),
                        ));
                    }
                }
            }
            DetectionModel::Detection01 => {
                if self.return_face_attributes.contains(&FaceAttributeType::Mask) {
                    return Err(FaceError::invalid(
                        "returnFaceAttributes",
                        "detection_01 does not return `mask`; use detection_03 for it",
                    ));
                }
            }
            DetectionModel::Other(_) => {}
        }
        if self.return_face_attributes.contains(&FaceAttributeType::QualityForRecognition)
            && matches!(recognition, RecognitionModel::Recognition01 | RecognitionModel::Recognition02)
        {
            return Err(FaceError::invalid(
                "returnFaceAttributes",
                format!(
                    "qualityForRecognition needs recognition_03 or recognition_04, not {recognition}{}",
                    if self.recognition_model.is_none() { " (the default)" } else { "" }
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(m) = &self.detection_model {
            q.push(("detectionModel", m.to_string()));
        }
        if let Some(m) = &self.recognition_model {
            q.push(("recognitionModel", m.to_string()));
        }
        if let Some(b) = self.return_face_id {
            q.push(("returnFaceId", b.to_string()));
        }
        if !self.return_face_attributes.is_empty() {
            let csv: Vec<&str> = self.return_face_attributes.iter().map(|a| a.as_str()).collect();
            q.push(("returnFaceAttributes", csv.join(",")));
        }
        if let Some(b) = self.return_face_landmarks {
            q.push(("returnFaceLandmarks", b.to_string()));
        }
        if let Some(b) = self.return_recognition_model {
            q.push(("returnRecognitionModel", b.to_string()));
        }
        if let Some(t) = self.face_id_time_to_live {
            q.push(("faceIdTimeToLive", t.to_string()));
        }
        q
    }
}

/// Options of the add-face operations (query parameters).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AddFaceOptions {
    /// Which face to add when the image has several (required then; the service answers 400 otherwise).
    pub target_face: Option<FaceRectangle>,
    /// Detection model (service default `detection_01`; `detection_03` recommended).
    pub detection_model: Option<DetectionModel>,
    /// User data attached to the face (≤ 1 KB).
    pub user_data: Option<String>,
}

impl AddFaceOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the target face.
    pub fn target_face(mut self, rect: FaceRectangle) -> Self {
        self.target_face = Some(rect);
        self
    }

    /// Sets the detection model.
    pub fn detection_model(mut self, model: DetectionModel) -> Self {
        self.detection_model = Some(model);
        self
    }

    /// Sets the user data.
    pub fn user_data(mut self, data: impl Into<String>) -> Self {
        self.user_data = Some(data.into());
        self
    }

    pub(crate) fn query(&self) -> Result<Vec<(&'static str, String)>, FaceError> {
        let mut q = Vec::new();
        if let Some(r) = &self.target_face {
            if r.width <= 0 || r.height <= 0 || r.left < 0 || r.top < 0 {
                return Err(FaceError::invalid("targetFace", format!("{r:?} must have left, top ≥ 0 and size > 0")));
            }
            q.push(("targetFace", format!("{},{},{},{}", r.left, r.top, r.width, r.height)));
        }
        if let Some(m) = &self.detection_model {
            q.push(("detectionModel", m.to_string()));
        }
        if let Some(u) = &self.user_data {
            check_len("userData", u, 1024)?;
            q.push(("userData", u.clone()));
        }
        Ok(q)
    }
}

/// Options of find similar.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FindSimilarOptions {
    /// Most candidates to return, 1..=1000 (service default 20).
    pub max_num_of_candidates_returned: Option<u32>,
    /// Match mode (service default `matchPerson`).
    pub mode: Option<FindSimilarMatchMode>,
}

impl FindSimilarOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most candidates to return.
    pub fn max_num_of_candidates_returned(mut self, n: u32) -> Self {
        self.max_num_of_candidates_returned = Some(n);
        self
    }

    /// Sets the match mode.
    pub fn mode(mut self, mode: FindSimilarMatchMode) -> Self {
        self.mode = Some(mode);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        if let Some(n) = self.max_num_of_candidates_returned
            && !(1..=1000).contains(&n)
        {
            return Err(FaceError::invalid("maxNumOfCandidatesReturned", format!("{n} is outside 1..=1000")));
        }
        Ok(())
    }
}

/// Options of identify.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct IdentifyOptions {
    /// Most candidates per face, 1..=100 (service default 10).
    pub max_num_of_candidates_returned: Option<u32>,
    /// Confidence threshold 0..=1 (service default: its internal threshold).
    pub confidence_threshold: Option<f64>,
}

impl IdentifyOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most candidates per face.
    pub fn max_num_of_candidates_returned(mut self, n: u32) -> Self {
        self.max_num_of_candidates_returned = Some(n);
        self
    }

    /// Sets the confidence threshold.
    pub fn confidence_threshold(mut self, t: f64) -> Self {
        self.confidence_threshold = Some(t);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        if let Some(n) = self.max_num_of_candidates_returned
            && !(1..=100).contains(&n)
        {
            return Err(FaceError::invalid("maxNumOfCandidatesReturned", format!("{n} is outside 1..=100")));
        }
        if let Some(t) = self.confidence_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(FaceError::invalid("confidenceThreshold", format!("{t} is outside 0..=1")));
        }
        Ok(())
    }
}

/// Body of creating a person group, large person group, face list or large face list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateCollectionRequest {
    /// Name, 1..=128 characters.
    pub name: String,
    /// User data, ≤ 16 KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Recognition model (service default `recognition_01`; `recognition_04` recommended). Faces added later
    /// are extracted with it, and identify needs query faces detected with the same model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
}

impl CreateCollectionRequest {
    /// A request with a name.
    pub fn new(name: impl Into<String>) -> Self {
        CreateCollectionRequest { name: name.into(), user_data: None, recognition_model: None }
    }

    /// Sets the user data.
    pub fn user_data(mut self, data: impl Into<String>) -> Self {
        self.user_data = Some(data.into());
        self
    }

    /// Sets the recognition model.
    pub fn recognition_model(mut self, model: RecognitionModel) -> Self {
        self.recognition_model = Some(model);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        check_name(&self.name)?;
        if let Some(u) = &self.user_data {
            check_len("userData", u, 16384)?;
        }
        Ok(())
    }
}

/// Body of updating a group, list or person: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UpdateRequest {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New user data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

impl UpdateRequest {
    /// Changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the new name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the new user data.
    pub fn user_data(mut self, data: impl Into<String>) -> Self {
        self.user_data = Some(data.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        if self.name.is_none() && self.user_data.is_none() {
            return Err(FaceError::invalid("name", "an update needs a name or user data (both are empty)"));
        }
        if let Some(n) = &self.name {
            check_name(n)?;
        }
        if let Some(u) = &self.user_data {
            check_len("userData", u, 16384)?;
        }
        Ok(())
    }
}

/// Body of creating a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreatePersonRequest {
    /// Name, 1..=128 characters.
    pub name: String,
    /// User data, ≤ 16 KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

impl CreatePersonRequest {
    /// A request with a name.
    pub fn new(name: impl Into<String>) -> Self {
        CreatePersonRequest { name: name.into(), user_data: None }
    }

    /// Sets the user data.
    pub fn user_data(mut self, data: impl Into<String>) -> Self {
        self.user_data = Some(data.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        check_name(&self.name)?;
        if let Some(u) = &self.user_data {
            check_len("userData", u, 16384)?;
        }
        Ok(())
    }
}

/// Paging of list operations: results are sorted by id; `start` is the last id of the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// List entries whose id is greater than this (exclusive).
    pub start: Option<String>,
    /// Most entries to return, 1..=1000 (service default 1000).
    pub top: Option<u32>,
}

impl ListOptions {
    /// The first page, service default size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the exclusive start id.
    pub fn start(mut self, start: impl Into<String>) -> Self {
        self.start = Some(start.into());
        self
    }

    /// Sets the page size.
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    pub(crate) fn query(&self) -> Result<Vec<(&'static str, String)>, FaceError> {
        let mut q = Vec::new();
        if let Some(s) = &self.start {
            check_len("start", s, 64)?;
            q.push(("start", s.clone()));
        }
        if let Some(t) = self.top {
            if !(1..=1000).contains(&t) {
                return Err(FaceError::invalid("top", format!("{t} is outside 1..=1000")));
            }
            q.push(("top", t.to_string()));
        }
        Ok(q)
    }
}

/// Options of listing groups and lists: paging plus whether to return each one's recognition model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListCollectionsOptions {
    /// Paging.
    pub page: ListOptions,
    /// Whether to return each entry's recognition model (service default false).
    pub return_recognition_model: Option<bool>,
}

impl ListCollectionsOptions {
    /// The first page, service default size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the exclusive start id.
    pub fn start(mut self, start: impl Into<String>) -> Self {
        self.page.start = Some(start.into());
        self
    }

    /// Sets the page size.
    pub fn top(mut self, top: u32) -> Self {
        self.page.top = Some(top);
        self
    }

    /// Sets whether to return recognition models.
    pub fn return_recognition_model(mut self, on: bool) -> Self {
        self.return_recognition_model = Some(on);
        self
    }

    pub(crate) fn query(&self) -> Result<Vec<(&'static str, String)>, FaceError> {
        let mut q = self.page.query()?;
        if let Some(b) = self.return_recognition_model {
            q.push(("returnRecognitionModel", b.to_string()));
        }
        Ok(q)
    }
}

/// Body of creating a liveness session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateLivenessSessionRequest {
    /// Operation mode.
    pub liveness_operation_mode: LivenessOperationMode,
    /// Whether the device sets the correlation id itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_correlation_id_set_in_client: Option<bool>,
    /// Whether to keep a session image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_session_image: Option<bool>,
    /// Model version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_model_version: Option<LivenessModel>,
    /// Device correlation id (≤ 64 characters), to detect abuse across sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_correlation_id: Option<String>,
    /// Lifetime of the session's auth token in seconds, 60..=86400 (service default 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_time_to_live_in_seconds: Option<u32>,
}

impl CreateLivenessSessionRequest {
    /// A request in the given mode.
    pub fn new(mode: LivenessOperationMode) -> Self {
        CreateLivenessSessionRequest {
            liveness_operation_mode: mode,
            device_correlation_id_set_in_client: None,
            enable_session_image: None,
            liveness_model_version: None,
            device_correlation_id: None,
            auth_token_time_to_live_in_seconds: None,
        }
    }

    /// Sets whether the device sets the correlation id.
    pub fn device_correlation_id_set_in_client(mut self, on: bool) -> Self {
        self.device_correlation_id_set_in_client = Some(on);
        self
    }

    /// Sets whether to keep a session image.
    pub fn enable_session_image(mut self, on: bool) -> Self {
        self.enable_session_image = Some(on);
        self
    }

    /// Sets the model version.
    pub fn liveness_model_version(mut self, v: LivenessModel) -> Self {
        self.liveness_model_version = Some(v);
        self
    }

    /// Sets the device correlation id.
    pub fn device_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.device_correlation_id = Some(id.into());
        self
    }

    /// Sets the auth token lifetime in seconds.
    pub fn auth_token_time_to_live_in_seconds(mut self, s: u32) -> Self {
        self.auth_token_time_to_live_in_seconds = Some(s);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        validate_liveness(self.device_correlation_id.as_deref(), self.auth_token_time_to_live_in_seconds)
    }
}

/// Body of creating a liveness-with-verify session (sent as multipart/form-data).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CreateLivenessWithVerifySessionRequest {
    /// Operation mode.
    pub liveness_operation_mode: LivenessOperationMode,
    /// Whether the device sets the correlation id itself.
    pub device_correlation_id_set_in_client: Option<bool>,
    /// Whether to keep a session image.
    pub enable_session_image: Option<bool>,
    /// Model version.
    pub liveness_model_version: Option<LivenessModel>,
    /// Whether to return the verify image's hash.
    pub return_verify_image_hash: Option<bool>,
    /// Threshold of the verification, 0..=1.
    pub verify_confidence_threshold: Option<f64>,
    /// The reference image to verify the live face against.
    pub verify_image: Bytes,
    /// Device correlation id (≤ 64 characters).
    pub device_correlation_id: Option<String>,
    /// Lifetime of the session's auth token in seconds, 60..=86400 (service default 600).
    pub auth_token_time_to_live_in_seconds: Option<u32>,
}

impl CreateLivenessWithVerifySessionRequest {
    /// A request in the given mode with a reference image.
    pub fn new(mode: LivenessOperationMode, verify_image: impl Into<Bytes>) -> Self {
        CreateLivenessWithVerifySessionRequest {
            liveness_operation_mode: mode,
            device_correlation_id_set_in_client: None,
            enable_session_image: None,
            liveness_model_version: None,
            return_verify_image_hash: None,
            verify_confidence_threshold: None,
            verify_image: verify_image.into(),
            device_correlation_id: None,
            auth_token_time_to_live_in_seconds: None,
        }
    }

    /// Sets whether the device sets the correlation id.
    pub fn device_correlation_id_set_in_client(mut self, on: bool) -> Self {
        self.device_correlation_id_set_in_client = Some(on);
        self
    }

    /// Sets whether to keep a session image.
    pub fn enable_session_image(mut self, on: bool) -> Self {
        self.enable_session_image = Some(on);
        self
    }

    /// Sets the model version.
    pub fn liveness_model_version(mut self, v: LivenessModel) -> Self {
        self.liveness_model_version = Some(v);
        self
    }

    /// Sets whether to return the verify image's hash.
    pub fn return_verify_image_hash(mut self, on: bool) -> Self {
        self.return_verify_image_hash = Some(on);
        self
    }

    /// Sets the verification threshold.
    pub fn verify_confidence_threshold(mut self, t: f64) -> Self {
        self.verify_confidence_threshold = Some(t);
        self
    }

    /// Sets the device correlation id.
    pub fn device_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.device_correlation_id = Some(id.into());
        self
    }

    /// Sets the auth token lifetime in seconds.
    pub fn auth_token_time_to_live_in_seconds(mut self, s: u32) -> Self {
        self.auth_token_time_to_live_in_seconds = Some(s);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        if self.verify_image.is_empty() {
            return Err(FaceError::invalid("verifyImage", "the reference image is empty"));
        }
        if let Some(t) = self.verify_confidence_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(FaceError::invalid("verifyConfidenceThreshold", format!("{t} is outside 0..=1")));
        }
        validate_liveness(self.device_correlation_id.as_deref(), self.auth_token_time_to_live_in_seconds)
    }

    /// The text form fields, in the spec's order, then the file.
    pub(crate) fn text_fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![("livenessOperationMode", self.liveness_operation_mode.to_string())];
        if let Some(b) = self.device_correlation_id_set_in_client {
            f.push(("deviceCorrelationIdSetInClient", b.to_string()));
        }
        if let Some(b) = self.enable_session_image {
            f.push(("enableSessionImage", b.to_string()));
        }
        if let Some(v) = &self.liveness_model_version {
            f.push(("livenessModelVersion", v.to_string()));
        }
        if let Some(b) = self.return_verify_image_hash {
            f.push(("returnVerifyImageHash", b.to_string()));
        }
        if let Some(t) = self.verify_confidence_threshold {
            f.push(("verifyConfidenceThreshold", t.to_string()));
        }
        if let Some(d) = &self.device_correlation_id {
            f.push(("deviceCorrelationId", d.clone()));
        }
        if let Some(s) = self.auth_token_time_to_live_in_seconds {
            f.push(("authTokenTimeToLiveInSeconds", s.to_string()));
        }
        f
    }
}

fn validate_liveness(device_correlation_id: Option<&str>, ttl: Option<u32>) -> Result<(), FaceError> {
    if let Some(d) = device_correlation_id {
        check_len("deviceCorrelationId", d, 64)?;
    }
    if let Some(s) = ttl
        && !(60..=86400).contains(&s)
    {
        return Err(FaceError::invalid("authTokenTimeToLiveInSeconds", format!("{s} is outside 60..=86400")));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), FaceError> {
    let n = name.chars().count();
    if n == 0 || n > 128 {
        return Err(FaceError::invalid("name", format!("must have 1..=128 characters, has {n}")));
    }
    Ok(())
}

fn check_len(argument: &'static str, value: &str, max: usize) -> Result<(), FaceError> {
    let n = value.chars().count();
    if n > max {
        return Err(FaceError::invalid(argument, format!("must have at most {max} characters, has {n}")));
    }
    Ok(())
}

/// Checks a person group, large person group, face list or large face list id: `^[a-z0-9-_]+$`, 1..=64
/// characters.
pub(crate) fn check_collection_id(argument: &'static str, id: &str) -> Result<(), FaceError> {
    if id.is_empty() || id.len() > 64 {
        return Err(FaceError::invalid(argument, format!("`{id}` must have 1..=64 characters")));
    }
    if !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
        return Err(FaceError::invalid(
            argument,
            format!("`{id}` may only contain lowercase letters, digits, '-' and '_'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_rules() {
        let ok = DetectOptions::new()
            .detection_model(DetectionModel::Detection03)
            .recognition_model(RecognitionModel::Recognition04)
            .return_face_attributes([FaceAttributeType::Mask, FaceAttributeType::QualityForRecognition]);
        assert!(ok.validate().is_ok());
        let bad = DetectOptions::new()
            .detection_model(DetectionModel::Detection03)
            .return_face_attributes([FaceAttributeType::Age]);
        assert!(bad.validate().is_err());
        let bad = DetectOptions::new().return_face_attributes([FaceAttributeType::QualityForRecognition]);
        assert!(bad.validate().unwrap_err().to_string().contains("(the default)"));
        let bad = DetectOptions::new().detection_model(DetectionModel::Detection02).return_face_landmarks(true);
        assert!(bad.validate().is_err());
        assert!(DetectOptions::new().face_id_time_to_live(59).validate().is_err());
    }

    #[test]
    fn collection_ids() {
        assert!(check_collection_id("x", "family-2024_a").is_ok());
        assert!(check_collection_id("x", "Family").is_err());
        assert!(check_collection_id("x", "../etc").is_err());
        assert!(check_collection_id("x", "").is_err());
    }

    #[test]
    fn target_face_is_csv() {
        let q = AddFaceOptions::new().target_face(FaceRectangle::new(10, 20, 100, 110)).query().unwrap_or_default();
        assert_eq!(q, vec![("targetFace", "10,20,100,110".to_owned())]);
    }
}
