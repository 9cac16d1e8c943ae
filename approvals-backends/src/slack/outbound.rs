//! A thin client of the Slack Web API: the handful of methods approvals need.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::render::Message;
use crate::kit::{Retry, RetryPolicy, retry_after_header};

/// Where the Web API lives unless configured otherwise.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api/";

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A Slack Web API call that failed. The texts name the method and Slack's
/// own error string; they never carry a token or a message's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlackError {
    /// Slack answered `{"ok": false, "error": "…"}`, for example
    /// `channel_not_found`, `not_in_channel`, `invalid_auth`,
    /// `missing_scope` or `invalid_blocks`.
    #[error("Slack refused `{method}`: {error}")]
    Api {
        /// The Web API method.
        method: &'static str,
        /// Slack's error string.
        error: String,
    },
    /// Slack kept answering HTTP 429 after the allowed retries, or asked to
    /// wait longer than the client is configured to.
    #[error("Slack rate-limited `{method}` (retry after {retry_after:?}, {retries} retries made)")]
    RateLimited {
        /// The Web API method.
        method: &'static str,
        /// The last `Retry-After` Slack gave.
        retry_after: Duration,
        /// How many times the call was retried.
        retries: u32,
    },
    /// Slack answered with an HTTP status other than 200 or 429.
    #[error("Slack answered `{method}` with HTTP {status}")]
    Status {
        /// The Web API method.
        method: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// Slack could not be reached, or the call timed out.
    #[error("Slack could not be reached for `{method}`: {source}")]
    Transport {
        /// The Web API method.
        method: &'static str,
        /// The transport error (without the URL, which may carry a query).
        #[source]
        source: reqwest::Error,
    },
    /// Slack's answer was not what the method returns.
    #[error("Slack's answer to `{method}` could not be read: {message}")]
    Decode {
        /// The Web API method.
        method: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// The client could not be built (TLS set-up).
    #[error("the Slack client could not be built: {0}")]
    Build(#[source] reqwest::Error),
}

impl SlackError {
    /// Slack's error string, when Slack answered `ok: false`.
    pub fn slack_error(&self) -> Option<&str> {
        match self {
            SlackError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (network, rate limit, a 5xx),
    /// as opposed to a refusal that needs a change of configuration.
    pub fn is_transient(&self) -> bool {
        match self {
            SlackError::Transport { .. } | SlackError::RateLimited { .. } => true,
            SlackError::Status { status, .. } => *status >= 500,
            SlackError::Api { error, .. } => {
                matches!(
                    error.as_str(),
                    "ratelimited"
                        | "service_unavailable"
                        | "fatal_error"
                        | "internal_error"
                        | "request_timeout"
                )
            }
            SlackError::Decode { .. } | SlackError::Build(_) => false,
        }
    }
}

/// A bot token (`xoxb-…`). Its `Debug` output is redacted.
#[derive(Clone)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A client of the Slack Web API. Cheap to clone (clones share one
/// connection pool).
///
/// ```no_run
/// use std::time::Duration;
/// use approvals_backends::slack::SlackClient;
///
/// # use approvals_backends::kit::RetryPolicy;
/// # fn main() -> Result<(), approvals_backends::slack::SlackError> {
/// let client = SlackClient::builder("xoxb-your-bot-token")
///     .timeout(Duration::from_secs(10))
///     .retry(RetryPolicy::default().max_retries(3))
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
    token: Token,
    retry: RetryPolicy,
}

/// Builds a [`SlackClient`].
#[derive(Debug)]
pub struct SlackClientBuilder {
    token: Token,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl SlackClientBuilder {
    /// The Web API's base URL (default [`DEFAULT_BASE_URL`]); the method
    /// name is appended to it. Tests point it at a fake on loopback.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        self.base_url = base_url;
        self
    }

    /// The time a whole call may take, retries excluded (default 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time connecting may take (default 5 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How a call answered with HTTP 429 is retried after the
    /// `Retry-After` Slack gives (default: 3 retries, waits of at most 30 s;
    /// a longer one fails the call at once). Other failures are not retried:
    /// a message Slack may have posted must not be posted twice.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<SlackClient, SlackError> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("approvals/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SlackError::Build)?;
        Ok(SlackClient {
            http,
            base_url: self.base_url,
            token: self.token,
            retry: self.retry,
        })
    }
}

/// Where a posted message lives: what `chat.update` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedMessage {
    /// The channel's id (`C…`), even if the message was posted by name.
    pub channel: String,
    /// The message's timestamp, its id within the channel.
    pub ts: String,
}

/// A Slack user, as far as mapping it to an identity needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    /// The user id (`U…` or `W…`).
    pub id: String,
    /// The profile email, when the token may read it (`users:read.email`).
    pub email: Option<String>,
    /// Whether the account is deactivated.
    pub deleted: bool,
    /// Whether the account is a bot.
    pub is_bot: bool,
}

#[derive(Deserialize)]
struct UserEnvelope {
    user: RawUser,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    profile: RawProfile,
}

#[derive(Deserialize, Default)]
struct RawProfile {
    #[serde(default)]
    email: Option<String>,
}

impl From<RawUser> for SlackUser {
    fn from(user: RawUser) -> Self {
        SlackUser {
            id: user.id,
            email: user.profile.email.filter(|email| !email.is_empty()),
            deleted: user.deleted,
            is_bot: user.is_bot,
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

enum Body<'a> {
    Json(&'a Value),
    Query(&'a [(&'a str, &'a str)]),
}

impl SlackClient {
    /// A client for `token` with the default base URL and timeouts.
    pub fn new(token: impl Into<String>) -> Result<Self, SlackError> {
        Self::builder(token).build()
    }

    /// Starts building a client for `token`.
    pub fn builder(token: impl Into<String>) -> SlackClientBuilder {
        SlackClientBuilder {
            token: Token(token.into()),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `chat.postMessage`: posts `message` to `channel` (an id or a name).
    pub async fn post_message(
        &self,
        channel: &str,
        message: &Message,
    ) -> Result<PostedMessage, SlackError> {
        let body = json!({
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        self.call("chat.postMessage", Body::Json(&body)).await
    }

    /// `chat.update`: replaces the message at `ts` in `channel` (an id).
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &Message,
    ) -> Result<(), SlackError> {
        let body = json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "blocks": message.blocks,
        });
        self.call::<Empty>("chat.update", Body::Json(&body))
            .await
            .map(drop)
    }

    /// `chat.postEphemeral`: shows `text` to `user` only, in `channel`.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "user": user, "text": text });
        self.call::<Empty>("chat.postEphemeral", Body::Json(&body))
            .await
            .map(drop)
    }

    /// `views.open`: opens `view` (a modal) for the click that gave
    /// `trigger_id`, which Slack accepts for 3 seconds only.
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        let body = json!({ "trigger_id": trigger_id, "view": view });
        self.call::<Empty>("views.open", Body::Json(&body))
            .await
            .map(drop)
    }

    /// `users.info`: the user with id `user`.
    pub async fn user_info(&self, user: &str) -> Result<SlackUser, SlackError> {
        let found: UserEnvelope = self
            .call("users.info", Body::Query(&[("user", user)]))
            .await?;
        Ok(found.user.into())
    }

    /// `users.lookupByEmail`: the user whose profile email is `email`.
    pub async fn lookup_by_email(&self, email: &str) -> Result<SlackUser, SlackError> {
        let found: UserEnvelope = self
            .call("users.lookupByEmail", Body::Query(&[("email", email)]))
            .await?;
        Ok(found.user.into())
    }

    /// Calls `method`, retrying on HTTP 429 as Slack asks, and turns
    /// `ok: false` into [`SlackError::Api`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        body: Body<'_>,
    ) -> Result<T, SlackError> {
        let url = format!("{}{method}", self.base_url);
        let mut retries = 0;
        loop {
            let request = match &body {
                Body::Json(value) => self
                    .http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, JSON_CONTENT_TYPE)
                    .body(
                        serde_json::to_vec(value).map_err(|error| SlackError::Decode {
                            method,
                            message: error.to_string(),
                        })?,
                    ),
                Body::Query(query) => self.http.get(&url).query(query),
            };
            let response = request
                .bearer_auth(&self.token.0)
                .send()
                .await
                .map_err(|source| SlackError::Transport {
                    method,
                    source: source.without_url(),
                })?;
            let status = response.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let asked = retry_after_header(
                    response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .map(|value| value.as_bytes()),
                );
                let Retry::After(wait) = self.retry.after_rate_limit(retries, asked) else {
                    return Err(SlackError::RateLimited {
                        method,
                        retry_after: asked.unwrap_or(self.retry.default_wait),
                        retries,
                    });
                };
                retries += 1;
                tracing::debug!(method, ?wait, retries, "Slack rate limit, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                return Err(SlackError::Status {
                    method,
                    status: status.as_u16(),
                });
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|source| SlackError::Transport {
                    method,
                    source: source.without_url(),
                })?;
            return decode(method, &bytes);
        }
    }
}

fn decode<T: DeserializeOwned>(method: &'static str, bytes: &[u8]) -> Result<T, SlackError> {
    let decode_error = |error: serde_json::Error| SlackError::Decode {
        method,
        message: error.to_string(),
    };
    let value: Value = serde_json::from_slice(bytes).map_err(decode_error)?;
    if value.get("ok").and_then(Value::as_bool) != Some(true) {
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_owned();
        return Err(SlackError::Api { method, error });
    }
    serde_json::from_value(value).map_err(decode_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_false_names_slacks_error() {
        let error = decode::<Empty>(
            "chat.postMessage",
            br#"{"ok":false,"error":"channel_not_found"}"#,
        )
        .err();
        assert_eq!(
            error.as_ref().and_then(SlackError::slack_error),
            Some("channel_not_found")
        );
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some("Slack refused `chat.postMessage`: channel_not_found")
        );
    }

    #[test]
    fn answers_are_decoded() {
        let posted: Result<PostedMessage, _> = decode(
            "chat.postMessage",
            br#"{"ok":true,"channel":"C1","ts":"1503435956.000247","message":{}}"#,
        );
        assert_eq!(
            posted.ok(),
            Some(PostedMessage {
                channel: "C1".into(),
                ts: "1503435956.000247".into()
            })
        );
        let missing = decode::<PostedMessage>("chat.postMessage", br#"{"ok":true}"#);
        assert!(matches!(missing, Err(SlackError::Decode { .. })));
        let garbage = decode::<Empty>("chat.update", b"<html>");
        assert!(matches!(garbage, Err(SlackError::Decode { .. })));
    }

    #[test]
    fn users_map_their_profile_email() {
        let user: Result<UserEnvelope, _> = decode(
            "users.info",
            br#"{"ok":true,"user":{"id":"U1","deleted":false,"profile":{"email":"Alice@Example.com"}}}"#,
        );
        let user = user.map(|u| SlackUser::from(u.user)).ok();
        assert_eq!(
            user.and_then(|u| u.email),
            Some("Alice@Example.com".to_owned())
        );
    }

    #[test]
    fn debug_redacts_the_token() {
        let client = SlackClient::new("xoxb-secret-token");
        assert!(client.is_ok_and(|c| !format!("{c:?}").contains("xoxb-secret-token")));
    }
}
