//! Who is calling: authenticators that turn a request's credentials into an
//! [`Identity`].

use std::fmt;
use std::sync::Arc;

use approvals_core::{Identity, async_trait};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Turns the credentials of an HTTP request into the caller's canonical
/// [`Identity`].
///
/// The API calls it before anything else on every request. Any error is
/// answered with `401 Unauthorized` and the same body whatever went wrong,
/// so an unknown caller learns nothing (not even whether a token was close);
/// the reason is logged at debug level for the operator.
///
/// Implement it to plug in your own scheme (mutual TLS, a session cookie,
/// an API gateway's header):
///
/// ```
/// use approvals_backends::http::{AuthError, Authenticator};
/// use approvals_core::{Identity, async_trait};
///
/// /// Trusts the identity an authenticating proxy puts in a header.
/// struct FromProxy;
///
/// #[async_trait]
/// impl Authenticator for FromProxy {
///     async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
///         let user = headers.get("x-authenticated-user").ok_or(AuthError::MissingCredentials)?;
///         let user = user.to_str().map_err(|_| AuthError::Malformed("not text".into()))?;
///         Ok(Identity::new(user))
///     }
/// }
/// ```
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// The caller's identity, or why the request is not authenticated.
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError>;
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for &T {
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        (**self).authenticate(headers).await
    }
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Box<T> {
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        (**self).authenticate(headers).await
    }
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Arc<T> {
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        (**self).authenticate(headers).await
    }
}

/// Why a request was not authenticated. Never shown to the caller (who gets
/// a bare 401); logged for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or not a bearer credential.
    #[error("no bearer credential was presented")]
    MissingCredentials,
    /// The credential is not of the expected form.
    #[error("the credential is malformed: {0}")]
    Malformed(String),
    /// The credential is well-formed but belongs to nobody.
    #[error("the credential is not recognised")]
    Unknown,
    /// The credential was recognised but is not valid (expired, wrong
    /// issuer or audience, bad signature).
    #[error("the credential is not valid: {0}")]
    Invalid(String),
    /// The authenticator could not decide (its key source is unreachable).
    /// The request is refused all the same: authentication fails closed.
    #[error("authentication is unavailable: {0}")]
    Unavailable(String),
}

/// The bearer credential of a request: the text after `Bearer ` in the
/// `Authorization` header (the scheme is matched without regard to case).
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::MissingCredentials)?;
    let text = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the Authorization header is not text".into()))?;
    let (scheme, token) = text
        .trim()
        .split_once(' ')
        .ok_or(AuthError::MissingCredentials)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingCredentials);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::MissingCredentials);
    }
    Ok(token)
}

/// Static bearer tokens, each mapped to an identity.
///
/// For service accounts, scripts and small teams. Tokens are kept only as
/// SHA-256 digests and every presented token is compared with every
/// configured one in constant time, so neither the comparison's duration nor
/// which token matched leaks through timing. `Debug` shows identities, never
/// tokens.
///
/// ```
/// use approvals_backends::http::{Authenticator, StaticTokens};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tokens = StaticTokens::new()
///     .token("s3cr3t-for-alice", "alice@example.com")
///     .token("s3cr3t-for-bob", "bob@example.com");
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", "Bearer s3cr3t-for-bob".parse().unwrap());
/// assert_eq!(tokens.authenticate(&headers).await.unwrap().as_str(), "bob@example.com");
///
/// headers.insert("authorization", "Bearer guess".parse().unwrap());
/// assert!(tokens.authenticate(&headers).await.is_err());
/// # }
/// ```
#[derive(Clone, Default)]
pub struct StaticTokens {
    entries: Vec<([u8; 32], Identity)>,
}

impl StaticTokens {
    /// No tokens yet: every request is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token that authenticates as `identity`. An empty token is
    /// ignored, since it could never be presented.
    #[must_use]
    pub fn token(mut self, token: impl AsRef<str>, identity: impl Into<Identity>) -> Self {
        let token = token.as_ref().trim();
        if !token.is_empty() {
            self.entries.push((digest(token), identity.into()));
        }
        self
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identity a token belongs to.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        let presented = digest(token);
        let mut found = None;
        // Every entry is compared, matched or not, to keep the time flat.
        for (expected, identity) in &self.entries {
            if bool::from(expected.ct_eq(&presented)) && found.is_none() {
                found = Some(identity.clone());
            }
        }
        found
    }
}

impl fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokens")
            .field(
                "identities",
                &self.entries.iter().map(|(_, id)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[async_trait]
impl Authenticator for StaticTokens {
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<Identity, AuthError> {
        let token = bearer_token(headers)?;
        self.identify(token).ok_or(AuthError::Unknown)
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn static_tokens_map_to_identities() {
        let tokens = StaticTokens::new()
            .token("alpha", "Alice@Example.com")
            .token("beta", "bob@example.com")
            .token("   ", "nobody");
        assert_eq!(tokens.len(), 2);
        let alice = tokens.authenticate(&headers("Bearer alpha")).await.unwrap();
        assert_eq!(alice, Identity::new("alice@example.com"));
        let bob = tokens
            .authenticate(&headers("bearer   beta "))
            .await
            .unwrap();
        assert_eq!(bob, Identity::new("bob@example.com"));
        assert!(matches!(
            tokens.authenticate(&headers("Bearer alph")).await,
            Err(AuthError::Unknown)
        ));
        assert!(matches!(
            tokens.authenticate(&headers("Basic YWxwaGE=")).await,
            Err(AuthError::MissingCredentials)
        ));
        assert!(matches!(
            tokens.authenticate(&headers("Bearer ")).await,
            Err(AuthError::MissingCredentials)
        ));
        assert!(matches!(
            tokens.authenticate(&http::HeaderMap::new()).await,
            Err(AuthError::MissingCredentials)
        ));
        let debug = format!("{tokens:?}");
        assert!(debug.contains("alice@example.com"));
        assert!(!debug.contains("alpha") && !debug.contains("beta\""));
    }
}
