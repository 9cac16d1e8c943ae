//! The bot's own access token for the Bot Framework Connector
//! (OAuth 2.0 client-credentials grant).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::kit::lock;
use serde::Deserialize;

/// Tokens are renewed this long before they expire, so that none expires in
/// flight.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// A token could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token endpoint could not be reached or answered garbage.
    #[error("the token endpoint is unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
    },
    /// The token endpoint refused the bot's credentials or request.
    #[error("the token endpoint refused the request ({status}): {error}: {description}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth error code (`invalid_client`, …).
        error: String,
        /// The endpoint's description of the error.
        description: String,
    },
}

/// Fetches and caches the bot's access token.
///
/// The token is kept until shortly before it expires (5 minutes, or half its
/// lifetime for short-lived tokens); concurrent callers share one request.
/// When the Connector answers `401` to a cached token,
/// [`invalidate`](Self::invalidate) drops it so that the next call fetches a
/// new one.
#[derive(Clone)]
pub struct BotTokenClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: String,
    timeout: Duration,
    cached: Mutex<Option<CachedToken>>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct CachedToken {
    value: Arc<str>,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct TokenErrorResponse {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl BotTokenClient {
    /// A client asking `token_url` for a token for `scope` as `client_id`.
    pub fn new(
        http: reqwest::Client,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scope: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                token_url: token_url.into(),
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                scope: scope.into(),
                timeout,
                cached: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A valid access token, from the cache or fetched.
    pub async fn token(&self) -> Result<Arc<str>, TokenError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _fetching = self.inner.fetching.lock().await;
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let fetched = self.fetch().await?;
        let value = Arc::clone(&fetched.value);
        *lock(&self.inner.cached) = Some(fetched);
        Ok(value)
    }

    /// Drops `rejected` from the cache, if it is still the cached token.
    pub fn invalidate(&self, rejected: &str) {
        let mut cached = lock(&self.inner.cached);
        if cached
            .as_ref()
            .is_some_and(|token| &*token.value == rejected)
        {
            *cached = None;
        }
    }

    fn cached(&self) -> Option<Arc<str>> {
        lock(&self.inner.cached)
            .as_ref()
            .filter(|token| Instant::now() < token.renew_at)
            .map(|token| Arc::clone(&token.value))
    }

    async fn fetch(&self) -> Result<CachedToken, TokenError> {
        let inner = &self.inner;
        let requested_at = Instant::now();
        let response = inner
            .http
            .post(&inner.token_url)
            .timeout(inner.timeout)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", inner.client_id.as_str()),
                ("client_secret", inner.client_secret.as_str()),
                ("scope", inner.scope.as_str()),
            ])
            .send()
            .await
            .map_err(|error| TokenError::Unavailable {
                message: error.without_url().to_string(),
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| TokenError::Unavailable {
                message: error.without_url().to_string(),
            })?;
        if !status.is_success() {
            let details: TokenErrorResponse = serde_json::from_slice(&body).unwrap_or_default();
            return Err(TokenError::Refused {
                status: status.as_u16(),
                error: details.error,
                description: details.error_description,
            });
        }
        let token: TokenResponse =
            serde_json::from_slice(&body).map_err(|_| TokenError::Unavailable {
                message: "the token response is not the expected JSON".into(),
            })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        let margin = RENEW_BEFORE_EXPIRY.min(lifetime / 2);
        tracing::debug!(
            lifetime_secs = lifetime.as_secs(),
            "fetched a Bot Framework token"
        );
        Ok(CachedToken {
            value: Arc::from(token.access_token),
            renew_at: requested_at + (lifetime - margin),
        })
    }
}

impl fmt::Debug for BotTokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotTokenClient")
            .field("token_url", &self.inner.token_url)
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}
