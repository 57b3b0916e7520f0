//! Training as a long-running operation: [`TrainingPoller`].

use std::time::{Duration, Instant};

use reqwest::Method;
use url::Url;

use crate::client::{FaceClient, Retry, retry_after};
use crate::error::FaceError;
use crate::models::{OperationResult, OperationStatus, TrainingResult};
use crate::ops::collections::Kind;
use crate::requests::check_collection_id;

/// Where a poll's answer came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProgressDetails {
    /// The operation resource at `Operation-Location`.
    Operation(OperationResult),
    /// The group's or list's training status endpoint.
    Training(TrainingResult),
}

/// The state of a training run as of the latest poll.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrainingProgress {
    /// Status.
    pub status: OperationStatus,
    /// The service's message (set when training failed).
    pub message: Option<String>,
    /// The full answer.
    pub details: ProgressDetails,
}

#[derive(Debug, Clone)]
enum PollTarget {
    Operation(Url),
    TrainingStatus,
}

/// Follows a training run started by `begin_train_*` until it ends.
///
/// It polls the `Operation-Location` the service returned (only if it is on the client's own endpoint, so the
/// credential is never sent elsewhere), or the training-status endpoint of the group or list when there is no
/// such header, it points elsewhere, or it answers 404. Between polls it waits as long as the latest
/// `Retry-After` says, or [`ClientOptions::polling_interval`](crate::ClientOptions::polling_interval).
///
/// ```no_run
/// # async fn f(client: azure_face_client::FaceClient) -> Result<(), azure_face_client::FaceError> {
/// let progress = client.begin_train_large_person_group("family").await?.wait().await?;
/// println!("training {}", progress.status);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TrainingPoller {
    client: FaceClient,
    kind: Kind,
    id: String,
    operation_location: Option<Url>,
    target: PollTarget,
    next_delay: Option<Duration>,
    last: Option<TrainingProgress>,
}

impl FaceClient {
    pub(crate) async fn begin_train(&self, kind: Kind, id: &str) -> Result<TrainingPoller, FaceError> {
        check_collection_id(kind.id_argument(), id)?;
        let mut call = self.call(Method::POST, self.url(&[kind.segment(), id, "train"]));
        call.retry = Retry::OnlyIfNotProcessed;
        let response = self.execute(call).await?;
        let operation_location = response
            .headers
            .get("operation-location")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| self.base_url().join(s.trim()).ok());
        let target = match &operation_location {
            Some(url) if self.same_origin(url) => PollTarget::Operation(url.clone()),
            Some(url) => {
                tracing::warn!(
                    operation_location = %url,
                    "Operation-Location is not on the client's endpoint; polling the training status instead"
                );
                PollTarget::TrainingStatus
            }
            None => PollTarget::TrainingStatus,
        };
        Ok(TrainingPoller {
            client: self.clone(),
            kind,
            id: id.to_owned(),
            operation_location,
            target,
            next_delay: retry_after(&response.headers),
            last: None,
        })
    }
}

impl TrainingPoller {
    /// The `Operation-Location` the service returned with the 202, if any.
    pub fn operation_location(&self) -> Option<&Url> {
        self.operation_location.as_ref()
    }

    /// Whether the poller follows `Operation-Location` (true) or the training-status endpoint (false).
    pub fn follows_operation_location(&self) -> bool {
        matches!(self.target, PollTarget::Operation(_))
    }

    /// The latest progress seen, if any poll was made.
    pub fn last_progress(&self) -> Option<&TrainingProgress> {
        self.last.as_ref()
    }

    /// What is being trained, e.g. "training of large person group `family`".
    pub fn description(&self) -> String {
        format!("training of {} `{}`", self.kind.noun(), self.id)
    }

    /// Polls once and returns the progress (a failed training is a progress with status `failed` here; `wait`
    /// turns it into an error).
    pub async fn poll(&mut self) -> Result<TrainingProgress, FaceError> {
        let progress = match self.target.clone() {
            PollTarget::Operation(url) => {
                let call = self.client.call(Method::GET, url);
                match self.client.execute(call).await {
                    Ok(resp) => {
                        self.next_delay = retry_after(&resp.headers);
                        let op: OperationResult = resp.json()?;
                        TrainingProgress {
                            status: op.status.clone(),
                            message: op.message.clone(),
                            details: ProgressDetails::Operation(op),
                        }
                    }
                    Err(e) if e.status() == Some(404) => {
                        tracing::warn!("Operation-Location answered 404; polling the training status instead");
                        self.target = PollTarget::TrainingStatus;
                        return Box::pin(self.poll()).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            PollTarget::TrainingStatus => {
                let call = self.client.call(Method::GET, self.client.url(&[self.kind.segment(), &self.id, "training"]));
                let resp = self.client.execute(call).await?;
                self.next_delay = retry_after(&resp.headers);
                let t: TrainingResult = resp.json()?;
                TrainingProgress {
                    status: t.status.clone(),
                    message: t.message.clone(),
                    details: ProgressDetails::Training(t),
                }
            }
        };
        self.last = Some(progress.clone());
        Ok(progress)
    }

    /// Waits until training ends, at most [`ClientOptions::training_timeout`](crate::ClientOptions::training_timeout).
    ///
    /// Succeeded → the final progress; failed → [`FaceError::OperationFailed`] with the service's message;
    /// canceled → [`FaceError::OperationCanceled`]; too long → [`FaceError::OperationTimedOut`].
    pub async fn wait(self) -> Result<TrainingProgress, FaceError> {
        let timeout = self.client.options().training_timeout;
        self.wait_for(timeout).await
    }

    /// Like [`TrainingPoller::wait`], with an explicit time limit.
    pub async fn wait_for(mut self, timeout: Duration) -> Result<TrainingProgress, FaceError> {
        let start = Instant::now();
        loop {
            let progress = self.poll().await?;
            match progress.status {
                OperationStatus::Succeeded => return Ok(progress),
                OperationStatus::Failed => {
                    return Err(FaceError::OperationFailed {
                        operation: self.description(),
                        message: progress.message,
                    });
                }
                OperationStatus::Canceled => {
                    return Err(FaceError::OperationCanceled { operation: self.description() });
                }
                _ => {}
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                return Err(FaceError::OperationTimedOut {
                    operation: self.description(),
                    waited: elapsed,
                    last_status: progress.status.to_string(),
                });
            }
            let delay = self.next_delay.take().unwrap_or(self.client.options().polling_interval);
            tokio::time::sleep(delay.min(timeout - elapsed)).await;
        }
    }
}
