//! Posting and updating activities through the Bot Framework Connector.

use std::fmt;
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use super::config::Conversation;
use super::token::{BotTokenClient, TokenError};
use crate::kit::{Retry, RetryPolicy, retry_after_header};

/// A Connector call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The bot's token could not be had.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The conversation's service URL cannot take a path.
    #[error("the service URL `{0}` is not a usable base URL")]
    InvalidServiceUrl(String),
    /// The Connector refused the bot's token, even a freshly fetched one.
    #[error("the Connector refused the bot's token")]
    Unauthorized,
    /// Still rate limited after the allowed retries, or asked to wait longer
    /// than allowed.
    #[error("rate limited by the Connector (retry after {retry_after:?})")]
    RateLimited {
        /// The last wait the Connector asked for.
        retry_after: Duration,
    },
    /// The Connector answered with an error.
    #[error("the Connector answered {status}: {code}: {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The error code from the body (`ConversationNotFound`, …), if any.
        code: String,
        /// The message from the body, if any.
        message: String,
    },
    /// The Connector could not be reached, or kept failing with `5xx`.
    #[error("the Connector is unavailable: {message}")]
    Unavailable {
        /// What went wrong.
        message: String,
    },
    /// A success answer without the expected content.
    #[error("unexpected answer from the Connector: {0}")]
    UnexpectedResponse(String),
}

/// Sends and updates activities in Bot Framework conversations.
///
/// Each call carries the bot's token; a `401` drops the cached token and
/// tries once more with a fresh one. `429 Too Many Requests` waits for
/// `Retry-After` and `5xx` answers back off, both up to the configured number
/// of retries.
#[derive(Clone)]
pub struct ConnectorClient {
    http: reqwest::Client,
    tokens: BotTokenClient,
    retry: RetryPolicy,
    timeout: Duration,
}

#[derive(Deserialize)]
struct ResourceResponse {
    id: String,
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ConnectorClient {
    /// A client that authenticates with `tokens`.
    pub fn new(
        http: reqwest::Client,
        tokens: BotTokenClient,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            tokens,
            retry,
            timeout,
        }
    }

    /// Posts `activity` to `conversation` and returns the new activity's id.
    pub async fn send(
        &self,
        conversation: &Conversation,
        activity: &Value,
    ) -> Result<String, ConnectorError> {
        let url = activities_url(conversation, None)?;
        let body = self.call(Method::POST, url, activity).await?;
        serde_json::from_slice::<ResourceResponse>(&body)
            .map(|resource| resource.id)
            .map_err(|_| ConnectorError::UnexpectedResponse("no activity id".into()))
    }

    /// Replaces activity `activity_id` of `conversation` with `activity`.
    pub async fn update(
        &self,
        conversation: &Conversation,
        activity_id: &str,
        activity: &Value,
    ) -> Result<(), ConnectorError> {
        let url = activities_url(conversation, Some(activity_id))?;
        self.call(Method::PUT, url, activity).await.map(drop)
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: &Value,
    ) -> Result<bytes::Bytes, ConnectorError> {
        let mut refreshed = false;
        let mut retries = 0;
        loop {
            let token = self.tokens.token().await?;
            let sent = self
                .http
                .request(method.clone(), url.clone())
                .timeout(self.timeout)
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .json(body)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) if error.is_connect() || error.is_timeout() => {
                    let Retry::After(wait) = self.retry.after_failure(retries) else {
                        return Err(ConnectorError::Unavailable {
                            message: error.without_url().to_string(),
                        });
                    };
                    tracing::debug!(error = %error.without_url(), "Connector unreachable, retrying");
                    retries += 1;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(error) => {
                    return Err(ConnectorError::Unavailable {
                        message: error.without_url().to_string(),
                    });
                }
            };
            let status = response.status();
            if status.is_success() {
                return response
                    .bytes()
                    .await
                    .map_err(|error| ConnectorError::Unavailable {
                        message: error.without_url().to_string(),
                    });
            }
            match status {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    tracing::debug!("Connector refused the cached token, fetching a new one");
                    self.tokens.invalidate(&token);
                    refreshed = true;
                }
                StatusCode::UNAUTHORIZED => return Err(ConnectorError::Unauthorized),
                StatusCode::TOO_MANY_REQUESTS => {
                    let asked = retry_after_header(
                        response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .map(|value| value.as_bytes()),
                    );
                    let Retry::After(wait) = self.retry.after_rate_limit(retries, asked) else {
                        return Err(ConnectorError::RateLimited {
                            retry_after: asked.unwrap_or(self.retry.default_wait),
                        });
                    };
                    tracing::debug!(?wait, "rate limited by the Connector");
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                status if status.is_server_error() => {
                    let Retry::After(wait) = self.retry.after_failure(retries) else {
                        return Err(ConnectorError::Unavailable {
                            message: format!("{status} after {retries} retries"),
                        });
                    };
                    tracing::debug!(%status, "Connector failed, retrying");
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                status => {
                    let body = response.bytes().await.unwrap_or_default();
                    let details: ErrorResponse = serde_json::from_slice(&body).unwrap_or_default();
                    return Err(if status.is_server_error() {
                        ConnectorError::Unavailable {
                            message: format!("{status} after {retries} retries"),
                        }
                    } else {
                        ConnectorError::Rejected {
                            status: status.as_u16(),
                            code: details.error.code,
                            message: details.error.message,
                        }
                    });
                }
            }
        }
    }
}

impl fmt::Debug for ConnectorClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorClient")
            .field("tokens", &self.tokens)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// `{serviceUrl}/v3/conversations/{id}/activities[/{activity}]`, with the
/// ids escaped as the Bot Framework SDKs escape them (every byte but
/// unreserved characters; conversation ids hold `:`, `@` and `;`).
fn activities_url(
    conversation: &Conversation,
    activity_id: Option<&str>,
) -> Result<Url, ConnectorError> {
    let invalid = || ConnectorError::InvalidServiceUrl(conversation.service_url.clone());
    let base = Url::parse(&conversation.service_url).map_err(|_| invalid())?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(invalid());
    }
    let mut url = format!(
        "{}/v3/conversations/{}/activities",
        base.as_str().trim_end_matches('/'),
        escape(&conversation.conversation_id)
    );
    if let Some(activity_id) = activity_id {
        url.push('/');
        url.push_str(&escape(activity_id));
    }
    Url::parse(&url).map_err(|_| invalid())
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn escape(segment: &str) -> String {
    use std::fmt::Write as _;
    let mut escaped = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            escaped.push(char::from(byte));
        } else {
            let _infallible = write!(escaped, "%{byte:02X}");
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_escaped_into_one_segment() {
        let conversation = Conversation::new(
            "https://smba.example/emea/",
            "19:abc@thread.tacv2;messageid=1/2",
        );
        let url = activities_url(&conversation, Some("1:7")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://smba.example/emea/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1%2F2/activities/1%3A7"
        );
        let bare = Conversation::new("https://smba.example", "a");
        assert_eq!(
            activities_url(&bare, None).unwrap().as_str(),
            "https://smba.example/v3/conversations/a/activities"
        );
        assert!(activities_url(&Conversation::new("not a url", "a"), None).is_err());
    }
}
