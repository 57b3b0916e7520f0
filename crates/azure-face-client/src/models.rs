//! Response models and the service's enumerations.
//!
//! All models tolerate unknown fields, and every enumeration has an `Other(String)` variant, so values a newer
//! service version adds do not break parsing. Enumeration values are matched case-insensitively (the service
//! is not always consistent: `realface` and `realFace` both occur) and serialised in the spelling of the spec.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the client does not know, as the service spelled it.
            Other(String),
        }

        impl $name {
            /// Every value this version of the client knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as the service spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $value, )+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $( if s.eq_ignore_ascii_case($value) { return $name::$variant; } )+
                $name::Other(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name::from(s.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::from(s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Ok($name::from(s))
            }
        }
    };
}

string_enum! {
    /// Face detection model. `detection_03` is the most accurate (small, blurry, rotated faces) and the one to
    /// use with recognition; the service default is `detection_01`.
    DetectionModel {
        /// Default; returns landmarks and most attributes, but not mask.
        Detection01 => "detection_01",
        /// Improved on small, side and blurry faces; no landmarks, no attributes.
        Detection02 => "detection_02",
        /// Best accuracy; landmarks and the headPose, mask, blur and qualityForRecognition attributes.
        Detection03 => "detection_03",
    }
}

string_enum! {
    /// Face recognition model. Faces compared with each other must share one; `recognition_04` is recommended.
    RecognitionModel {
        /// The service default.
        Recognition01 => "recognition_01",
        /// Legacy.
        Recognition02 => "recognition_02",
        /// Improved accuracy.
        Recognition03 => "recognition_03",
        /// Recommended: best accuracy, also with masks.
        Recognition04 => "recognition_04",
    }
}

string_enum! {
    /// A face attribute detect can return (`returnFaceAttributes`).
    FaceAttributeType {
        /// Head pose (pitch, roll, yaw).
        HeadPose => "headPose",
        /// Glasses type.
        Glasses => "glasses",
        /// Forehead, eye and mouth occlusion.
        Occlusion => "occlusion",
        /// Headwear, glasses, mask.
        Accessories => "accessories",
        /// Blur level.
        Blur => "blur",
        /// Exposure level.
        Exposure => "exposure",
        /// Noise level.
        Noise => "noise",
        /// Mask (detection_03 only).
        Mask => "mask",
        /// Whether the image is good enough for recognition (recognition_03/04 only).
        QualityForRecognition => "qualityForRecognition",
        /// Age (Limited Access).
        Age => "age",
        /// Smile intensity (Limited Access).
        Smile => "smile",
        /// Facial hair (Limited Access).
        FacialHair => "facialHair",
        /// Hair (Limited Access).
        Hair => "hair",
    }
}

string_enum! {
    /// How find similar compares faces.
    FindSimilarMatchMode {
        /// Find faces of the same person (uses a threshold; the default).
        MatchPerson => "matchPerson",
        /// Rank by similarity, ignoring the same-person threshold.
        MatchFace => "matchFace",
    }
}

string_enum! {
    /// Type of an accessory.
    AccessoryType {
        /// Headwear.
        Headwear => "headwear",
        /// Glasses.
        Glasses => "glasses",
        /// Mask.
        Mask => "mask",
    }
}

string_enum! {
    /// Blur level.
    BlurLevel {
        /// Low.
        Low => "low",
        /// Medium.
        Medium => "medium",
        /// High.
        High => "high",
    }
}

string_enum! {
    /// Exposure level.
    ExposureLevel {
        /// Under-exposed.
        UnderExposure => "underExposure",
        /// Good.
        GoodExposure => "goodExposure",
        /// Over-exposed.
        OverExposure => "overExposure",
    }
}

string_enum! {
    /// Noise level.
    NoiseLevel {
        /// Low.
        Low => "low",
        /// Medium.
        Medium => "medium",
        /// High.
        High => "high",
    }
}

string_enum! {
    /// Glasses type.
    GlassesType {
        /// No glasses.
        NoGlasses => "noGlasses",
        /// Reading glasses.
        ReadingGlasses => "readingGlasses",
        /// Sunglasses.
        Sunglasses => "sunglasses",
        /// Swimming goggles.
        SwimmingGoggles => "swimmingGoggles",
    }
}

string_enum! {
    /// Hair colour.
    HairColorType {
        /// Unknown.
        Unknown => "unknown",
        /// White.
        White => "white",
        /// Gray.
        Gray => "gray",
        /// Blond.
        Blond => "blond",
        /// Brown.
        Brown => "brown",
        /// Red.
        Red => "red",
        /// Black.
        Black => "black",
        /// Other colour.
        OtherColor => "other",
    }
}

string_enum! {
    /// Mask type.
    MaskType {
        /// A face mask.
        FaceMask => "faceMask",
        /// No mask.
        NoMask => "noMask",
        /// Another covering.
        OtherMaskOrOcclusion => "otherMaskOrOcclusion",
        /// Uncertain.
        Uncertain => "uncertain",
    }
}

string_enum! {
    /// Whether an image is good enough for recognition.
    QualityForRecognition {
        /// Low: do not enroll or identify with it.
        Low => "low",
        /// Medium: fine for identification, not ideal for enrolment.
        Medium => "medium",
        /// High: best for enrolment.
        High => "high",
    }
}

string_enum! {
    /// Status of a training run or long-running operation.
    OperationStatus {
        /// Queued.
        NotStarted => "notStarted",
        /// Running.
        Running => "running",
        /// Finished successfully.
        Succeeded => "succeeded",
        /// Finished with an error.
        Failed => "failed",
        /// Canceled (long-running operations only).
        Canceled => "canceled",
    }
}

impl OperationStatus {
    /// Whether the status is final (succeeded, failed or canceled).
    pub fn is_terminal(&self) -> bool {
        matches!(self, OperationStatus::Succeeded | OperationStatus::Failed | OperationStatus::Canceled)
    }
}

string_enum! {
    /// State of a liveness session or attempt.
    OperationState {
        /// Not started.
        NotStarted => "NotStarted",
        /// Running.
        Running => "Running",
        /// Succeeded.
        Succeeded => "Succeeded",
        /// Failed.
        Failed => "Failed",
        /// Canceled.
        Canceled => "Canceled",
    }
}

string_enum! {
    /// Liveness operation mode.
    LivenessOperationMode {
        /// Passive (no user action).
        Passive => "Passive",
        /// Passive and active (the user moves closer).
        PassiveActive => "PassiveActive",
    }
}

string_enum! {
    /// Liveness model version.
    LivenessModel {
        /// 2024-11-15.
        V2024_11_15 => "2024-11-15",
    }
}

string_enum! {
    /// Outcome of a liveness check.
    LivenessDecision {
        /// The check could not decide.
        Uncertain => "uncertain",
        /// A live face.
        RealFace => "realface",
        /// A spoof (photo, screen, mask).
        SpoofFace => "spoofface",
    }
}

string_enum! {
    /// Type of a verify reference image.
    ImageType {
        /// Colour image.
        Color => "Color",
        /// Infrared image.
        Infrared => "Infrared",
        /// Depth image.
        Depth => "Depth",
    }
}

/// A face's bounding box in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FaceRectangle {
    /// Distance from the image's top edge.
    pub top: i32,
    /// Distance from the image's left edge.
    pub left: i32,
    /// Width.
    pub width: i32,
    /// Height.
    pub height: i32,
}

impl FaceRectangle {
    /// A rectangle from its left, top, width and height (the order of the `targetFace` parameter).
    pub fn new(left: i32, top: i32, width: i32, height: i32) -> Self {
        FaceRectangle { top, left, width, height }
    }
}

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LandmarkCoordinate {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

/// The 27 face landmarks. Azure returns all of them; the five used for alignment (pupils, nose tip, mouth
/// corners) are required, the others optional so that compatible servers that locate only five points (such as
/// `issc serve`) parse too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FaceLandmarks {
    /// Landmark `pupilLeft`.
    pub pupil_left: LandmarkCoordinate,
    /// Landmark `pupilRight`.
    pub pupil_right: LandmarkCoordinate,
    /// Landmark `noseTip`.
    pub nose_tip: LandmarkCoordinate,
    /// Landmark `mouthLeft`.
    pub mouth_left: LandmarkCoordinate,
    /// Landmark `mouthRight`.
    pub mouth_right: LandmarkCoordinate,
    /// Landmark `eyebrowLeftOuter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eyebrow_left_outer: Option<LandmarkCoordinate>,
    /// Landmark `eyebrowLeftInner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eyebrow_left_inner: Option<LandmarkCoordinate>,
    /// Landmark `eyeLeftOuter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_left_outer: Option<LandmarkCoordinate>,
    /// Landmark `eyeLeftTop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_left_top: Option<LandmarkCoordinate>,
    /// Landmark `eyeLeftBottom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_left_bottom: Option<LandmarkCoordinate>,
    /// Landmark `eyeLeftInner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_left_inner: Option<LandmarkCoordinate>,
    /// Landmark `eyebrowRightInner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eyebrow_right_inner: Option<LandmarkCoordinate>,
    /// Landmark `eyebrowRightOuter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eyebrow_right_outer: Option<LandmarkCoordinate>,
    /// Landmark `eyeRightInner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_right_inner: Option<LandmarkCoordinate>,
    /// Landmark `eyeRightTop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_right_top: Option<LandmarkCoordinate>,
    /// Landmark `eyeRightBottom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_right_bottom: Option<LandmarkCoordinate>,
    /// Landmark `eyeRightOuter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_right_outer: Option<LandmarkCoordinate>,
    /// Landmark `noseRootLeft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nose_root_left: Option<LandmarkCoordinate>,
    /// Landmark `noseRootRight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nose_root_right: Option<LandmarkCoordinate>,
    /// Landmark `noseLeftAlarTop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nose_left_alar_top: Option<LandmarkCoordinate>,
    /// Landmark `noseRightAlarTop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nose_right_alar_top: Option<LandmarkCoordinate>,
    /// Landmark `noseLeftAlarOutTip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nose_left_alar_out_tip: Option<LandmarkCoordinate>,
    /// Landmark `noseRightAlarOutTip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nose_right_alar_out_tip: Option<LandmarkCoordinate>,
    /// Landmark `upperLipTop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_lip_top: Option<LandmarkCoordinate>,
    /// Landmark `upperLipBottom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_lip_bottom: Option<LandmarkCoordinate>,
    /// Landmark `underLipTop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_lip_top: Option<LandmarkCoordinate>,
    /// Landmark `underLipBottom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_lip_bottom: Option<LandmarkCoordinate>,
}

/// Head pose in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HeadPose {
    /// Pitch.
    pub pitch: f64,
    /// Roll.
    pub roll: f64,
    /// Yaw.
    pub yaw: f64,
}

/// Facial hair lengths (0..1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FacialHair {
    /// Moustache.
    pub moustache: f64,
    /// Beard.
    pub beard: f64,
    /// Sideburns.
    pub sideburns: f64,
}

/// A hair colour with its confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HairColor {
    /// Colour.
    pub color: HairColorType,
    /// Confidence (0..1).
    pub confidence: f64,
}

/// Hair properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HairProperties {
    /// Baldness (0..1).
    pub bald: f64,
    /// Whether the hair is hidden.
    pub invisible: bool,
    /// Colours, most likely first.
    #[serde(default)]
    pub hair_color: Vec<HairColor>,
}

/// Which face regions are occluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OcclusionProperties {
    /// Forehead occluded.
    pub forehead_occluded: bool,
    /// Eyes occluded.
    pub eye_occluded: bool,
    /// Mouth occluded.
    pub mouth_occluded: bool,
}

/// An accessory with its confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessoryItem {
    /// Type.
    #[serde(rename = "type")]
    pub kind: AccessoryType,
    /// Confidence (0..1).
    pub confidence: f64,
}

/// Blur.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BlurProperties {
    /// Level.
    pub blur_level: BlurLevel,
    /// Value (0..1).
    pub value: f64,
}

/// Exposure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExposureProperties {
    /// Level.
    pub exposure_level: ExposureLevel,
    /// Value (0..1).
    pub value: f64,
}

/// Noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NoiseProperties {
    /// Level.
    pub noise_level: NoiseLevel,
    /// Value (0..1).
    pub value: f64,
}

/// Mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MaskProperties {
    /// Whether nose and mouth are covered.
    pub nose_and_mouth_covered: bool,
    /// Type.
    #[serde(rename = "type")]
    pub kind: MaskType,
}

/// Face attributes; only those requested are present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FaceAttributes {
    /// Estimated age (Limited Access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<f64>,
    /// Smile intensity 0..1 (Limited Access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smile: Option<f64>,
    /// Facial hair (Limited Access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facial_hair: Option<FacialHair>,
    /// Glasses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glasses: Option<GlassesType>,
    /// Head pose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_pose: Option<HeadPose>,
    /// Hair (Limited Access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hair: Option<HairProperties>,
    /// Occlusion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occlusion: Option<OcclusionProperties>,
    /// Accessories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessories: Option<Vec<AccessoryItem>>,
    /// Blur.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur: Option<BlurProperties>,
    /// Exposure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<ExposureProperties>,
    /// Noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<NoiseProperties>,
    /// Mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<MaskProperties>,
    /// Quality for recognition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_for_recognition: Option<QualityForRecognition>,
}

/// One detected face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FaceDetectionResult {
    /// Transient face id (only when `returnFaceId` is true; expires after `faceIdTimeToLive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_id: Option<Uuid>,
    /// Recognition model (only when `returnRecognitionModel` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
    /// Bounding box.
    pub face_rectangle: FaceRectangle,
    /// Landmarks (only when `returnFaceLandmarks` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_landmarks: Option<FaceLandmarks>,
    /// Attributes (only those requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_attributes: Option<FaceAttributes>,
}

/// A similar face found by find similar: `face_id` when searching face ids, `persisted_face_id` when searching
/// a (large) face list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FindSimilarResult {
    /// Similarity (0..1).
    pub confidence: f64,
    /// The similar face, when searching face ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_id: Option<Uuid>,
    /// The similar persisted face, when searching a face list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persisted_face_id: Option<Uuid>,
}

/// Result of grouping faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GroupingResult {
    /// Groups of similar faces, largest first.
    #[serde(default)]
    pub groups: Vec<Vec<Uuid>>,
    /// Faces similar to no other.
    #[serde(default)]
    pub messy_group: Vec<Uuid>,
}

/// A person a face may belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IdentificationCandidate {
    /// The person.
    pub person_id: Uuid,
    /// Confidence (0..1).
    pub confidence: f64,
}

/// Identification result for one query face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IdentificationResult {
    /// The query face.
    pub face_id: Uuid,
    /// Candidates, most likely first; empty when nobody matched.
    #[serde(default)]
    pub candidates: Vec<IdentificationCandidate>,
}

/// Verification result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct VerificationResult {
    /// Whether the two belong to the same person (confidence ≥ 0.5).
    pub is_identical: bool,
    /// Confidence (0..1).
    pub confidence: f64,
}

/// A person group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PersonGroup {
    /// Id.
    pub person_group_id: String,
    /// Name.
    pub name: String,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Recognition model (only when requested with `returnRecognitionModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
}

/// A large person group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LargePersonGroup {
    /// Id.
    pub large_person_group_id: String,
    /// Name.
    pub name: String,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Recognition model (only when requested with `returnRecognitionModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
}

/// A face list, with its faces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FaceList {
    /// Id.
    pub face_list_id: String,
    /// Name.
    pub name: String,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Recognition model (only when requested with `returnRecognitionModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
    /// Faces in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persisted_faces: Option<Vec<PersistedFace>>,
}

/// A face list as listed (without its faces).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FaceListItem {
    /// Id.
    pub face_list_id: String,
    /// Name.
    pub name: String,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Recognition model (only when requested with `returnRecognitionModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
}

/// A large face list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LargeFaceList {
    /// Id.
    pub large_face_list_id: String,
    /// Name.
    pub name: String,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Recognition model (only when requested with `returnRecognitionModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_model: Option<RecognitionModel>,
}

/// A person of a person group or large person group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Person {
    /// Id.
    pub person_id: Uuid,
    /// Name.
    pub name: String,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The person's faces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persisted_face_ids: Option<Vec<Uuid>>,
}

/// A person of a person group (same shape as [`Person`]).
pub type PersonGroupPerson = Person;
/// A person of a large person group (same shape as [`Person`]).
pub type LargePersonGroupPerson = Person;

/// A face stored in a person or face list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PersistedFace {
    /// Id.
    pub persisted_face_id: Uuid,
    /// User data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

/// A face of a face list (same shape as [`PersistedFace`]).
pub type FaceListFace = PersistedFace;
/// A face of a large face list (same shape as [`PersistedFace`]).
pub type LargeFaceListFace = PersistedFace;
/// A face of a person group person (same shape as [`PersistedFace`]).
pub type PersonGroupPersonFace = PersistedFace;
/// A face of a large person group person (same shape as [`PersistedFace`]).
pub type LargePersonGroupPersonFace = PersistedFace;

/// Result of creating a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreatePersonResult {
    /// The new person's id.
    pub person_id: Uuid,
}

/// Result of adding a face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AddFaceResult {
    /// The new persisted face's id.
    pub persisted_face_id: Uuid,
}

/// Training status of a person group, large person group or large face list (timestamps are RFC 3339 text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TrainingResult {
    /// Status.
    pub status: OperationStatus,
    /// When the group was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// When training last changed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_date_time: Option<String>,
    /// When training last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_training_date_time: Option<String>,
    /// Why training failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A long-running operation resource, as found at an `Operation-Location` URL (timestamps are RFC 3339 text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OperationResult {
    /// Operation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Status.
    pub status: OperationStatus,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<String>,
    /// When it last changed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_time: Option<String>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_time: Option<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a liveness decision was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessColorDecisionTarget {
    /// The face in the colour image.
    pub face_rectangle: FaceRectangle,
}

/// Targets of a liveness decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LivenessDecisionTargets {
    /// Colour image target.
    pub color: LivenessColorDecisionTarget,
}

/// An error of a liveness attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LivenessError {
    /// Error code, e.g. `FaceWithMaskDetected`.
    pub code: String,
    /// Message.
    pub message: String,
    /// Targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<LivenessDecisionTargets>,
}

/// Result of a liveness attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessResult {
    /// Decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_decision: Option<LivenessDecision>,
    /// Targets.
    pub targets: LivenessDecisionTargets,
    /// Digest of the request, to check integrity on the server side.
    pub digest: String,
    /// Session image id (when session images are enabled); fetch it with `get_session_image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_image_id: Option<String>,
}

/// One attempt of a liveness session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessSessionAttempt {
    /// Attempt number.
    pub attempt_id: i32,
    /// State.
    pub attempt_status: OperationState,
    /// Result, when the attempt succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<LivenessResult>,
    /// Error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LivenessError>,
}

/// Results of a liveness session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LivenessSessionResults {
    /// Attempts, latest first.
    #[serde(default)]
    pub attempts: Vec<LivenessSessionAttempt>,
}

/// A liveness session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessSession {
    /// Session id.
    pub session_id: String,
    /// Token the end-user device uses to run the check (give it to the device only).
    pub auth_token: String,
    /// State (absent in some answers to create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OperationState>,
    /// Model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<LivenessModel>,
    /// Results so far.
    #[serde(default)]
    pub results: LivenessSessionResults,
}

/// Result of the verification part of liveness-with-verify.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessWithVerifyOutputs {
    /// Match confidence (0..1).
    pub match_confidence: f64,
    /// Whether the faces match.
    pub is_identical: bool,
}

/// Reference image of a liveness-with-verify session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessWithVerifyReference {
    /// Image type.
    pub reference_type: ImageType,
    /// The face in the reference image.
    pub face_rectangle: FaceRectangle,
    /// Its quality for recognition.
    pub quality_for_recognition: QualityForRecognition,
}

/// Result of a liveness-with-verify attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessWithVerifyResult {
    /// Decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_decision: Option<LivenessDecision>,
    /// Targets.
    pub targets: LivenessDecisionTargets,
    /// Digest of the request.
    pub digest: String,
    /// Session image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_image_id: Option<String>,
    /// Verification result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_result: Option<LivenessWithVerifyOutputs>,
    /// Hash of the verify image (when requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_image_hash: Option<String>,
}

/// One attempt of a liveness-with-verify session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessWithVerifySessionAttempt {
    /// Attempt number.
    pub attempt_id: i32,
    /// State.
    pub attempt_status: OperationState,
    /// Result, when the attempt succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<LivenessWithVerifyResult>,
    /// Error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LivenessError>,
}

/// Results of a liveness-with-verify session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessWithVerifySessionResults {
    /// Reference images.
    #[serde(default)]
    pub verify_references: Vec<LivenessWithVerifyReference>,
    /// Attempts, latest first.
    #[serde(default)]
    pub attempts: Vec<LivenessWithVerifySessionAttempt>,
}

/// A liveness-with-verify session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LivenessWithVerifySession {
    /// Session id.
    pub session_id: String,
    /// Token the end-user device uses to run the check (give it to the device only).
    pub auth_token: String,
    /// State (absent in some answers to create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OperationState>,
    /// Model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<LivenessModel>,
    /// Results so far.
    #[serde(default)]
    pub results: LivenessWithVerifySessionResults,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_case_insensitive_and_tolerant() {
        let d: LivenessDecision = serde_json::from_str("\"realFace\"").unwrap_or(LivenessDecision::Uncertain);
        assert_eq!(d, LivenessDecision::RealFace);
        let m: RecognitionModel = serde_json::from_str("\"recognition_99\"").unwrap_or(RecognitionModel::Recognition01);
        assert_eq!(m, RecognitionModel::Other("recognition_99".into()));
        assert_eq!(serde_json::to_string(&m).ok().as_deref(), Some("\"recognition_99\""));
        assert_eq!(FaceAttributeType::from("qualityforrecognition"), FaceAttributeType::QualityForRecognition);
        assert_eq!(DetectionModel::Detection03.to_string(), "detection_03");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let v: VerificationResult =
            serde_json::from_str(r#"{"isIdentical":true,"confidence":0.9,"newField":{"x":1}}"#).expect("parses");
        assert!(v.is_identical);
    }
}

#[cfg(test)]
mod landmark_tests {
    use super::*;

    #[test]
    fn five_point_landmarks_from_a_compatible_server_parse() {
        let p = |x: f64| serde_json::json!({"x": x, "y": 1.0});
        let body = serde_json::json!([{
            "faceRectangle": {"left": 1, "top": 2, "width": 3, "height": 4},
            "faceLandmarks": {"pupilLeft": p(1.0), "pupilRight": p(2.0), "noseTip": p(3.0), "mouthLeft": p(4.0), "mouthRight": p(5.0)}
        }]);
        let faces: Vec<FaceDetectionResult> = serde_json::from_value(body).unwrap();
        let lm = faces[0].face_landmarks.as_ref().unwrap();
        assert_eq!(lm.mouth_right.x, 5.0);
        assert!(lm.eyebrow_left_outer.is_none());
        let back = serde_json::to_value(lm).unwrap();
        assert_eq!(back.as_object().unwrap().len(), 5, "absent landmarks stay absent");
    }
}
