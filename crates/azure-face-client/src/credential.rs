//! Credentials: a resource key, or Entra ID bearer tokens through [`TokenCredential`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::BoxError;

/// The OAuth scope to request Entra ID tokens for (Cognitive Services, which includes Face).
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// A Face resource key, sent as the `Ocp-Apim-Subscription-Key` header.
///
/// `Debug` never prints the key.
///
/// ```
/// use azure_face_client::KeyCredential;
/// let key = KeyCredential::new("0123456789abcdef");
/// assert!(!format!("{key:?}").contains("0123"));
/// ```
#[derive(Clone)]
pub struct KeyCredential {
    key: Arc<str>,
}

impl KeyCredential {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        KeyCredential { key: Arc::from(key.into()) }
    }

    /// The key itself. Handle with care: never log it.
    pub fn secret(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for KeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCredential").field("key", &"<redacted>").finish()
    }
}

/// An Entra ID access token and when it expires.
///
/// `Debug` never prints the token.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: String,
    /// When it expires, if known. Tokens with a known expiry are cached by the client until five minutes before
    /// it; tokens without one are requested from the credential for every request.
    pub expires_on: Option<SystemTime>,
}

impl AccessToken {
    /// A token with a known expiry.
    pub fn new(token: impl Into<String>, expires_on: Option<SystemTime>) -> Self {
        AccessToken { token: token.into(), expires_on }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("token", &"<redacted>").field("expires_on", &self.expires_on).finish()
    }
}

/// A source of Entra ID (Azure AD) bearer tokens, e.g. an adapter over `azure_identity`'s credentials.
///
/// The client asks for tokens for [`COGNITIVE_SERVICES_SCOPE`] and sends them as `Authorization: Bearer …`,
/// only ever over https.
#[async_trait::async_trait]
pub trait TokenCredential: Send + Sync {
    /// Returns a token valid for `scopes`.
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, BoxError>;
}

/// A fixed bearer token obtained elsewhere (e.g. `az account get-access-token --resource
/// https://cognitiveservices.azure.com`). `Debug` never prints it.
#[derive(Clone)]
pub struct StaticTokenCredential {
    token: AccessToken,
}

impl StaticTokenCredential {
    /// Wraps a token that the client will use as is.
    pub fn new(token: impl Into<String>) -> Self {
        StaticTokenCredential { token: AccessToken::new(token, None) }
    }
}

impl fmt::Debug for StaticTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenCredential").field("token", &"<redacted>").finish()
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(&self, _scopes: &[&str]) -> Result<AccessToken, BoxError> {
        Ok(self.token.clone())
    }
}

/// How the client authenticates: a resource key or Entra ID tokens.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// `Ocp-Apim-Subscription-Key` header; works over http too (local and compatible servers).
    Key(KeyCredential),
    /// `Authorization: Bearer` header; https only.
    Token(Arc<dyn TokenCredential>),
}

impl Credential {
    /// A key credential.
    pub fn key(key: impl Into<String>) -> Self {
        Credential::Key(KeyCredential::new(key))
    }

    /// A token credential.
    pub fn token(credential: Arc<dyn TokenCredential>) -> Self {
        Credential::Token(credential)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Key(k) => f.debug_tuple("Key").field(k).finish(),
            Credential::Token(_) => f.write_str("Token(<token credential>)"),
        }
    }
}

impl From<KeyCredential> for Credential {
    fn from(k: KeyCredential) -> Self {
        Credential::Key(k)
    }
}

impl From<Arc<dyn TokenCredential>> for Credential {
    fn from(t: Arc<dyn TokenCredential>) -> Self {
        Credential::Token(t)
    }
}

impl From<StaticTokenCredential> for Credential {
    fn from(t: StaticTokenCredential) -> Self {
        Credential::Token(Arc::new(t))
    }
}
