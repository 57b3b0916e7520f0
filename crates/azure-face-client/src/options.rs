//! Client configuration: API version, timeouts, retries, polling.

use std::time::Duration;

use rand::Rng;

/// The API version this client speaks by default (a path segment: `/face/v1.2/...`).
pub const DEFAULT_API_VERSION: &str = "v1.2";

/// Options of a [`FaceClient`](crate::FaceClient). Start from `ClientOptions::default()` and change what you need.
///
/// ```
/// use std::time::Duration;
/// use azure_face_client::{ClientOptions, RetryOptions};
/// let options = ClientOptions::default()
///     .timeout(Duration::from_secs(30))
///     .retry(RetryOptions::default().max_retries(3));
/// assert_eq!(options.retry.max_retries, 3);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// API version path segment, default [`DEFAULT_API_VERSION`].
    pub api_version: String,
    /// Time limit of one attempt (connect, send, receive the whole response). Default 60 s.
    pub timeout: Duration,
    /// Time limit to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Retry policy.
    pub retry: RetryOptions,
    /// Delay between polls of a long-running operation when the service sends no `Retry-After`. Default 2 s.
    pub polling_interval: Duration,
    /// How long [`TrainingPoller::wait`](crate::TrainingPoller::wait) waits for training before giving up.
    /// Default 30 minutes.
    pub training_timeout: Duration,
    /// Text appended to the `User-Agent` header (e.g. your application's name and version).
    pub user_agent_suffix: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
            polling_interval: Duration::from_secs(2),
            training_timeout: Duration::from_secs(30 * 60),
            user_agent_suffix: None,
        }
    }
}

impl ClientOptions {
    /// Sets the API version path segment (e.g. `v1.2`, `v1.2-preview.1`, `v1.0` for compatible servers).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Sets the time limit of one attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the connection time limit.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the polling interval of long-running operations (used when the service sends no `Retry-After`).
    pub fn polling_interval(mut self, interval: Duration) -> Self {
        self.polling_interval = interval;
        self
    }

    /// Sets how long to wait for training to finish.
    pub fn training_timeout(mut self, timeout: Duration) -> Self {
        self.training_timeout = timeout;
        self
    }

    /// Appends text to the `User-Agent` header.
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }
}

/// Retry policy: exponential backoff with jitter, honouring `Retry-After`.
///
/// Retried: HTTP 408, 429, 5xx (except 501 and 505) and connection errors and timeouts — for idempotent requests
/// (GET, PUT, PATCH, DELETE) and read-only POSTs (detect, verify, identify, find similar, group). POSTs that create
/// something (persons, faces, liveness sessions, training) are retried only on 429 (the service did not process
/// the request) and on failures to connect (nothing was sent).
///
/// The delay before retry `n` (0-based) is `min(max_delay, base_delay × 2ⁿ)`, reduced by a random fraction up to
/// `jitter`, unless the service sent `Retry-After` (seconds or an HTTP date), `retry-after-ms` or
/// `x-ms-retry-after-ms`, which is used as is. Retrying stops after `max_retries` retries, or when the next delay
/// would take the total time slept past `max_total_delay`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryOptions {
    /// Retries after the first attempt. Default 5; 0 disables retries.
    pub max_retries: u32,
    /// First backoff delay. Default 800 ms.
    pub base_delay: Duration,
    /// Largest backoff delay. Default 30 s.
    pub max_delay: Duration,
    /// Largest total time slept between attempts of one call. Default 60 s.
    pub max_total_delay: Duration,
    /// Fraction (0..=1) of each backoff delay that is randomised away, so clients do not retry in lockstep.
    /// Default 0.2.
    pub jitter: f64,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 5,
            base_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(30),
            max_total_delay: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

impl RetryOptions {
    /// No retries at all.
    pub fn none() -> Self {
        RetryOptions { max_retries: 0, ..RetryOptions::default() }
    }

    /// Sets the number of retries.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first backoff delay.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Sets the largest backoff delay.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets the largest total time slept between attempts.
    pub fn max_total_delay(mut self, d: Duration) -> Self {
        self.max_total_delay = d;
        self
    }

    /// Sets the jitter fraction (clamped to 0..=1).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        self
    }

    /// The backoff delay before retry number `retry` (0-based), jitter applied.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(30));
        let delay = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let jitter = if self.jitter.is_nan() { 0.0 } else { self.jitter.clamp(0.0, 1.0) };
        if jitter > 0.0 {
            let cut: f64 = rand::rng().random_range(0.0..=jitter);
            delay.mul_f64(1.0 - cut)
        } else {
            delay
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = RetryOptions::default()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(500))
            .jitter(0.0);
        assert_eq!(r.backoff(0), Duration::from_millis(100));
        assert_eq!(r.backoff(1), Duration::from_millis(200));
        assert_eq!(r.backoff(2), Duration::from_millis(400));
        assert_eq!(r.backoff(3), Duration::from_millis(500));
        assert_eq!(r.backoff(40), Duration::from_millis(500));
    }

    #[test]
    fn jitter_only_shortens() {
        let r = RetryOptions::default().base_delay(Duration::from_millis(1000)).jitter(0.5);
        for _ in 0..100 {
            let d = r.backoff(0);
            assert!(d <= Duration::from_millis(1000) && d >= Duration::from_millis(500), "{d:?}");
        }
    }
}
