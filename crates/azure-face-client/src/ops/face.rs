//! Detection and recognition: detect, find similar, group, identify, verify.

use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use uuid::Uuid;

use crate::client::{Body, Call, FaceClient, Retry};
use crate::error::FaceError;
use crate::models::{
    FaceDetectionResult, FindSimilarMatchMode, FindSimilarResult, GroupingResult, IdentificationResult,
    VerificationResult,
};
use crate::requests::{DetectOptions, FindSimilarOptions, IdentifyOptions, check_collection_id};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FindSimilarBody<'a> {
    face_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_num_of_candidates_returned: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'a FindSimilarMatchMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_ids: Option<&'a [Uuid]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    face_list_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    large_face_list_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentifyBody<'a> {
    face_ids: &'a [Uuid],
    #[serde(skip_serializing_if = "Option::is_none")]
    person_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    large_person_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dynamic_person_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_num_of_candidates_returned: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence_threshold: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody<'a> {
    face_id: Uuid,
    person_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    large_person_group_id: Option<&'a str>,
}

fn check_face_ids(argument: &'static str, ids: &[Uuid], min: usize, max: usize) -> Result<(), FaceError> {
    if ids.len() < min || ids.len() > max {
        return Err(FaceError::invalid(argument, format!("has {} face ids; {min}..={max} are allowed", ids.len())));
    }
    Ok(())
}

impl FaceClient {
    fn detect_call(&self, options: &DetectOptions, body: Body) -> Result<Call, FaceError> {
        options.validate()?;
        let url = self.url_with_query(&["detect"], &options.query());
        Ok(Call { method: Method::POST, url, body, retry: Retry::Safe, accept: "application/json" })
    }

    /// Detects faces in an image (JPEG, PNG, GIF first frame, BMP; 1 KB..6 MB), largest first.
    ///
    /// `POST /detect` with `application/octet-stream`. Returns an empty list when there is no face.
    pub async fn detect(
        &self,
        image: impl Into<Bytes>,
        options: &DetectOptions,
    ) -> Result<Vec<FaceDetectionResult>, FaceError> {
        let image = image.into();
        if image.is_empty() {
            return Err(FaceError::invalid("imageContent", "the image is empty"));
        }
        let call = self.detect_call(options, Body::Binary(image))?;
        self.send_json(call).await
    }

    /// Detects faces in an image the service downloads from `url`.
    ///
    /// `POST /detect` with `{"url": ...}`.
    pub async fn detect_from_url(
        &self,
        url: &str,
        options: &DetectOptions,
    ) -> Result<Vec<FaceDetectionResult>, FaceError> {
        url::Url::parse(url).map_err(|e| FaceError::invalid("url", format!("`{url}` is not an absolute URL: {e}")))?;
        let body = serde_json::to_vec(&serde_json::json!({ "url": url }))
            .map_err(|e| FaceError::invalid("url", e.to_string()))?;
        let call = self.detect_call(options, Body::Json(body))?;
        self.send_json(call).await
    }

    /// Detects faces in a session image of a liveness session.
    ///
    /// `POST /detect` with `{"sessionImageId": ...}`.
    pub async fn detect_from_session_image_id(
        &self,
        session_image_id: &str,
        options: &DetectOptions,
    ) -> Result<Vec<FaceDetectionResult>, FaceError> {
        if session_image_id.is_empty() {
            return Err(FaceError::invalid("sessionImageId", "is empty"));
        }
        let body = serde_json::to_vec(&serde_json::json!({ "sessionImageId": session_image_id }))
            .map_err(|e| FaceError::invalid("sessionImageId", e.to_string()))?;
        let call = self.detect_call(options, Body::Json(body))?;
        self.send_json(call).await
    }

    async fn find_similar_impl(&self, body: FindSimilarBody<'_>) -> Result<Vec<FindSimilarResult>, FaceError> {
        let call = self.json_call(Method::POST, self.url(&["findsimilars"]), &body, Retry::Safe)?;
        self.send_json(call).await
    }

    /// Finds faces similar to `face_id` among `face_ids` (1..=1000 transient face ids).
    ///
    /// `POST /findsimilars` with `faceIds`. Results carry `face_id`.
    pub async fn find_similar(
        &self,
        face_id: Uuid,
        face_ids: &[Uuid],
        options: &FindSimilarOptions,
    ) -> Result<Vec<FindSimilarResult>, FaceError> {
        options.validate()?;
        check_face_ids("faceIds", face_ids, 1, 1000)?;
        self.find_similar_impl(FindSimilarBody {
            face_id,
            max_num_of_candidates_returned: options.max_num_of_candidates_returned,
            mode: options.mode.as_ref(),
            face_ids: Some(face_ids),
            face_list_id: None,
            large_face_list_id: None,
        })
        .await
    }

    /// Finds faces similar to `face_id` in a face list.
    ///
    /// `POST /findsimilars` with `faceListId`. Results carry `persisted_face_id`.
    pub async fn find_similar_from_face_list(
        &self,
        face_id: Uuid,
        face_list_id: &str,
        options: &FindSimilarOptions,
    ) -> Result<Vec<FindSimilarResult>, FaceError> {
        options.validate()?;
        check_collection_id("faceListId", face_list_id)?;
        self.find_similar_impl(FindSimilarBody {
            face_id,
            max_num_of_candidates_returned: options.max_num_of_candidates_returned,
            mode: options.mode.as_ref(),
            face_ids: None,
            face_list_id: Some(face_list_id),
            large_face_list_id: None,
        })
        .await
    }

    /// Finds faces similar to `face_id` in a large face list (which must be trained).
    ///
    /// `POST /findsimilars` with `largeFaceListId`. Results carry `persisted_face_id`.
    pub async fn find_similar_from_large_face_list(
        &self,
        face_id: Uuid,
        large_face_list_id: &str,
        options: &FindSimilarOptions,
    ) -> Result<Vec<FindSimilarResult>, FaceError> {
        options.validate()?;
        check_collection_id("largeFaceListId", large_face_list_id)?;
        self.find_similar_impl(FindSimilarBody {
            face_id,
            max_num_of_candidates_returned: options.max_num_of_candidates_returned,
            mode: options.mode.as_ref(),
            face_ids: None,
            face_list_id: None,
            large_face_list_id: Some(large_face_list_id),
        })
        .await
    }

    /// Groups 2..=1000 faces by similarity.
    ///
    /// `POST /group`.
    pub async fn group(&self, face_ids: &[Uuid]) -> Result<GroupingResult, FaceError> {
        check_face_ids("faceIds", face_ids, 2, 1000)?;
        let body = serde_json::json!({ "faceIds": face_ids });
        let call = self.json_call(Method::POST, self.url(&["group"]), &body, Retry::Safe)?;
        self.send_json(call).await
    }

    async fn identify_impl(
        &self,
        mut body: IdentifyBody<'_>,
        options: &IdentifyOptions,
    ) -> Result<Vec<IdentificationResult>, FaceError> {
        options.validate()?;
        check_face_ids("faceIds", body.face_ids, 1, 10)?;
        body.max_num_of_candidates_returned = options.max_num_of_candidates_returned;
        body.confidence_threshold = options.confidence_threshold;
        let call = self.json_call(Method::POST, self.url(&["identify"]), &body, Retry::Safe)?;
        self.send_json(call).await
    }

    fn identify_body(face_ids: &[Uuid]) -> IdentifyBody<'_> {
        IdentifyBody {
            face_ids,
            person_group_id: None,
            large_person_group_id: None,
            person_ids: None,
            dynamic_person_group_id: None,
            max_num_of_candidates_returned: None,
            confidence_threshold: None,
        }
    }

    /// Identifies 1..=10 faces against a (trained) person group.
    ///
    /// `POST /identify` with `personGroupId`.
    pub async fn identify_from_person_group(
        &self,
        face_ids: &[Uuid],
        person_group_id: &str,
        options: &IdentifyOptions,
    ) -> Result<Vec<IdentificationResult>, FaceError> {
        check_collection_id("personGroupId", person_group_id)?;
        let body = IdentifyBody { person_group_id: Some(person_group_id), ..Self::identify_body(face_ids) };
        self.identify_impl(body, options).await
    }

    /// Identifies 1..=10 faces against a (trained) large person group.
    ///
    /// `POST /identify` with `largePersonGroupId`.
    pub async fn identify_from_large_person_group(
        &self,
        face_ids: &[Uuid],
        large_person_group_id: &str,
        options: &IdentifyOptions,
    ) -> Result<Vec<IdentificationResult>, FaceError> {
        check_collection_id("largePersonGroupId", large_person_group_id)?;
        let body = IdentifyBody { large_person_group_id: Some(large_person_group_id), ..Self::identify_body(face_ids) };
        self.identify_impl(body, options).await
    }

    /// Identifies 1..=10 faces against 1..=30 persons of the person directory.
    ///
    /// `POST /identify` with `personIds`.
    pub async fn identify_from_person_directory(
        &self,
        face_ids: &[Uuid],
        person_ids: &[Uuid],
        options: &IdentifyOptions,
    ) -> Result<Vec<IdentificationResult>, FaceError> {
        if person_ids.is_empty() || person_ids.len() > 30 {
            return Err(FaceError::invalid(
                "personIds",
                format!(
                    "has {} ids; 1..=30 are allowed (use identify_from_whole_person_directory for all)",
                    person_ids.len()
                ),
            ));
        }
        let ids = person_ids.iter().map(Uuid::to_string).collect();
        let body = IdentifyBody { person_ids: Some(ids), ..Self::identify_body(face_ids) };
        self.identify_impl(body, options).await
    }

    /// Identifies 1..=10 faces against every person of the person directory (`personIds: ["*"]`).
    pub async fn identify_from_whole_person_directory(
        &self,
        face_ids: &[Uuid],
        options: &IdentifyOptions,
    ) -> Result<Vec<IdentificationResult>, FaceError> {
        let body = IdentifyBody { person_ids: Some(vec!["*".to_owned()]), ..Self::identify_body(face_ids) };
        self.identify_impl(body, options).await
    }

    /// Identifies 1..=10 faces against a dynamic person group.
    ///
    /// `POST /identify` with `dynamicPersonGroupId`.
    pub async fn identify_from_dynamic_person_group(
        &self,
        face_ids: &[Uuid],
        dynamic_person_group_id: &str,
        options: &IdentifyOptions,
    ) -> Result<Vec<IdentificationResult>, FaceError> {
        check_collection_id("dynamicPersonGroupId", dynamic_person_group_id)?;
        let body =
            IdentifyBody { dynamic_person_group_id: Some(dynamic_person_group_id), ..Self::identify_body(face_ids) };
        self.identify_impl(body, options).await
    }

    /// Verifies whether two faces belong to the same person.
    ///
    /// `POST /verify` with `faceId1`, `faceId2`.
    pub async fn verify_face_to_face(&self, face_id1: Uuid, face_id2: Uuid) -> Result<VerificationResult, FaceError> {
        let body = serde_json::json!({ "faceId1": face_id1, "faceId2": face_id2 });
        let call = self.json_call(Method::POST, self.url(&["verify"]), &body, Retry::Safe)?;
        self.send_json(call).await
    }

    async fn verify_impl(&self, body: VerifyBody<'_>) -> Result<VerificationResult, FaceError> {
        let call = self.json_call(Method::POST, self.url(&["verify"]), &body, Retry::Safe)?;
        self.send_json(call).await
    }

    /// Verifies whether a face belongs to a person of a person group.
    ///
    /// `POST /verify` with `faceId`, `personGroupId`, `personId`.
    pub async fn verify_from_person_group(
        &self,
        face_id: Uuid,
        person_group_id: &str,
        person_id: Uuid,
    ) -> Result<VerificationResult, FaceError> {
        check_collection_id("personGroupId", person_group_id)?;
        self.verify_impl(VerifyBody {
            face_id,
            person_id,
            person_group_id: Some(person_group_id),
            large_person_group_id: None,
        })
        .await
    }

    /// Verifies whether a face belongs to a person of a large person group.
    ///
    /// `POST /verify` with `faceId`, `largePersonGroupId`, `personId`.
    pub async fn verify_from_large_person_group(
        &self,
        face_id: Uuid,
        large_person_group_id: &str,
        person_id: Uuid,
    ) -> Result<VerificationResult, FaceError> {
        check_collection_id("largePersonGroupId", large_person_group_id)?;
        self.verify_impl(VerifyBody {
            face_id,
            person_id,
            person_group_id: None,
            large_person_group_id: Some(large_person_group_id),
        })
        .await
    }

    /// Verifies whether a face belongs to a person of the person directory.
    ///
    /// `POST /verify` with `faceId`, `personId`.
    pub async fn verify_from_person_directory(
        &self,
        face_id: Uuid,
        person_id: Uuid,
    ) -> Result<VerificationResult, FaceError> {
        self.verify_impl(VerifyBody { face_id, person_id, person_group_id: None, large_person_group_id: None }).await
    }
}
