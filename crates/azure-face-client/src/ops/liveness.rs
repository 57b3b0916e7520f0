//! Liveness and liveness-with-verify sessions (v1.2 GA paths).

use bytes::Bytes;
use reqwest::Method;

use crate::client::{Call, FaceClient, Retry, multipart};
use crate::error::FaceError;
use crate::models::{LivenessSession, LivenessWithVerifySession};
use crate::requests::{CreateLivenessSessionRequest, CreateLivenessWithVerifySessionRequest};

fn check_session_id(argument: &'static str, id: &str) -> Result<(), FaceError> {
    if id.is_empty() || id.len() > 128 {
        return Err(FaceError::invalid(argument, format!("`{id}` must have 1..=128 characters")));
    }
    Ok(())
}

impl FaceClient {
    /// Creates a liveness session (`POST /detectLiveness-sessions`). Give the returned `auth_token` to the
    /// end-user device only. Not retried except on 429.
    pub async fn create_liveness_session(
        &self,
        request: &CreateLivenessSessionRequest,
    ) -> Result<LivenessSession, FaceError> {
        request.validate()?;
        let call =
            self.json_call(Method::POST, self.url(&["detectLiveness-sessions"]), request, Retry::OnlyIfNotProcessed)?;
        self.send_json(call).await
    }

    /// Gets a liveness session and its results (`GET /detectLiveness-sessions/{sessionId}`).
    pub async fn get_liveness_session_result(&self, session_id: &str) -> Result<LivenessSession, FaceError> {
        check_session_id("sessionId", session_id)?;
        self.send_json(self.call(Method::GET, self.url(&["detectLiveness-sessions", session_id]))).await
    }

    /// Deletes a liveness session (`DELETE /detectLiveness-sessions/{sessionId}`).
    pub async fn delete_liveness_session(&self, session_id: &str) -> Result<(), FaceError> {
        check_session_id("sessionId", session_id)?;
        self.send_unit(self.call(Method::DELETE, self.url(&["detectLiveness-sessions", session_id]))).await
    }

    /// Creates a liveness-with-verify session (`POST /detectLivenessWithVerify-sessions`, multipart/form-data with
    /// the reference image). Not retried except on 429.
    pub async fn create_liveness_with_verify_session(
        &self,
        request: &CreateLivenessWithVerifySessionRequest,
    ) -> Result<LivenessWithVerifySession, FaceError> {
        request.validate()?;
        let body = multipart(&request.text_fields(), "verify-image", "verifyImage", &request.verify_image);
        let call = Call {
            method: Method::POST,
            url: self.url(&["detectLivenessWithVerify-sessions"]),
            body,
            retry: Retry::OnlyIfNotProcessed,
            accept: "application/json",
        };
        self.send_json(call).await
    }

    /// Gets a liveness-with-verify session and its results (`GET /detectLivenessWithVerify-sessions/{sessionId}`).
    pub async fn get_liveness_with_verify_session_result(
        &self,
        session_id: &str,
    ) -> Result<LivenessWithVerifySession, FaceError> {
        check_session_id("sessionId", session_id)?;
        self.send_json(self.call(Method::GET, self.url(&["detectLivenessWithVerify-sessions", session_id]))).await
    }

    /// Deletes a liveness-with-verify session (`DELETE /detectLivenessWithVerify-sessions/{sessionId}`).
    pub async fn delete_liveness_with_verify_session(&self, session_id: &str) -> Result<(), FaceError> {
        check_session_id("sessionId", session_id)?;
        self.send_unit(self.call(Method::DELETE, self.url(&["detectLivenessWithVerify-sessions", session_id]))).await
    }

    /// Downloads a session image (`GET /sessionImages/{sessionImageId}`), as the image bytes.
    pub async fn get_session_image(&self, session_image_id: &str) -> Result<Bytes, FaceError> {
        check_session_id("sessionImageId", session_image_id)?;
        let mut call = self.call(Method::GET, self.url(&["sessionImages", session_image_id]));
        call.accept = "application/octet-stream, application/json";
        Ok(self.execute(call).await?.body)
    }
}
