//! What a Teams channel needs to know: the bot's registration, where to post,
//! and where Microsoft's services live.

use crate::kit::RetryPolicy;
use std::fmt;
use std::time::Duration;

/// Microsoft Entra ID's public authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The scope a bot asks for to call the Bot Framework Connector.
pub const DEFAULT_TOKEN_SCOPE: &str = "https://api.botframework.com/.default";

/// Where the Bot Framework publishes the keys that sign its requests.
pub const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";

/// The issuer of the tokens the Bot Framework sends with each request.
pub const DEFAULT_ISSUER: &str = "https://api.botframework.com";

/// Where approval cards go: a Teams channel, group chat or personal chat, as
/// the Bot Framework names it.
///
/// The bot learns both values from any activity it receives in that
/// conversation (`serviceUrl` and `conversation.id`); the endpoint logs them
/// at `info` level for that reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conversation {
    /// The Connector's base URL for the conversation's region, such as
    /// `https://smba.trafficmanager.net/emea/`.
    pub service_url: String,
    /// The conversation id, such as `19:…@thread.tacv2`.
    pub conversation_id: String,
}

impl Conversation {
    /// The conversation `conversation_id` served at `service_url`.
    pub fn new(service_url: impl Into<String>, conversation_id: impl Into<String>) -> Self {
        Self {
            service_url: service_url.into(),
            conversation_id: conversation_id.into(),
        }
    }
}

/// The settings of a [`TeamsChannel`](super::TeamsChannel).
///
/// Only the bot's registration and the conversation are required; every
/// Microsoft URL has a default and can be pointed elsewhere (tests use fakes
/// on loopback).
///
/// ```
/// use approvals_backends::teams::{Conversation, TeamsConfig};
///
/// let config = TeamsConfig::new(
///     "00000000-0000-0000-0000-000000000001", // the bot's app id
///     "the client secret",
///     "00000000-0000-0000-0000-0000000000aa", // the tenant the bot is registered in
///     Conversation::new("https://smba.trafficmanager.net/emea/", "19:abc@thread.tacv2"),
/// );
/// assert!(!format!("{config:?}").contains("the client secret"));
/// ```
#[derive(Clone)]
pub struct TeamsConfig {
    pub(crate) app_id: String,
    pub(crate) app_password: String,
    pub(crate) tenant_id: String,
    pub(crate) conversation: Conversation,
    pub(crate) authority: String,
    pub(crate) token_scope: String,
    pub(crate) openid_metadata_url: String,
    pub(crate) issuers: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) key_refresh_interval: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) request_timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

impl TeamsConfig {
    /// The settings for the bot `app_id` with client secret `app_password`,
    /// registered as a single-tenant app in `tenant_id`, posting to
    /// `conversation`.
    ///
    /// Tokens are requested from `{authority}/{tenant_id}/oauth2/v2.0/token`.
    /// A bot still registered as multi-tenant passes `"botframework.com"` as
    /// the tenant.
    pub fn new(
        app_id: impl Into<String>,
        app_password: impl Into<String>,
        tenant_id: impl Into<String>,
        conversation: Conversation,
    ) -> Self {
        Self {
            app_id: app_id.into(),
            app_password: app_password.into(),
            tenant_id: tenant_id.into(),
            conversation,
            authority: DEFAULT_AUTHORITY.to_owned(),
            token_scope: DEFAULT_TOKEN_SCOPE.to_owned(),
            openid_metadata_url: DEFAULT_OPENID_METADATA_URL.to_owned(),
            issuers: vec![DEFAULT_ISSUER.to_owned()],
            leeway: Duration::from_secs(5 * 60),
            key_refresh_interval: Duration::from_secs(5 * 60),
            retry: RetryPolicy::default().max_wait(Duration::from_secs(60)),
            request_timeout: Duration::from_secs(15),
            max_body_bytes: 256 * 1024,
        }
    }

    /// The identity provider that issues the bot's tokens (default
    /// `https://login.microsoftonline.com`; national clouds have their own).
    #[must_use]
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = authority.into();
        self
    }

    /// The scope asked for in the client-credentials grant (default
    /// `https://api.botframework.com/.default`).
    #[must_use]
    pub fn token_scope(mut self, scope: impl Into<String>) -> Self {
        self.token_scope = scope.into();
        self
    }

    /// The OpenID metadata whose `jwks_uri` lists the keys that sign inbound
    /// requests (default: the Bot Framework's).
    #[must_use]
    pub fn openid_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.openid_metadata_url = url.into();
        self
    }

    /// The accepted issuers of inbound tokens (default
    /// `https://api.botframework.com`).
    #[must_use]
    pub fn issuers<I>(mut self, issuers: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.issuers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// The clock skew allowed on inbound tokens (default 5 minutes).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The shortest time between two fetches of the signing keys when
    /// tokens name unknown keys (default 5 minutes).
    #[must_use]
    pub fn key_refresh_interval(mut self, interval: Duration) -> Self {
        self.key_refresh_interval = interval;
        self
    }

    /// How a Connector call is tried again after a connection failure,
    /// `429 Too Many Requests` or a `5xx` answer (default: 3 retries, waits
    /// of at most 60 s; a longer `Retry-After` ends the call).
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The largest activity the messaging endpoint reads (default 256 KiB);
    /// a larger one is answered `413` before it is authenticated.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How long one outbound HTTP call may take (default 15 s).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The bot's app id (the audience of inbound tokens).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Where cards are posted.
    pub fn conversation(&self) -> &Conversation {
        &self.conversation
    }

    /// The URL the bot's tokens are requested from.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant_id
        )
    }
}

impl fmt::Debug for TeamsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsConfig")
            .field("app_id", &self.app_id)
            .field("app_password", &"<redacted>")
            .field("tenant_id", &self.tenant_id)
            .field("conversation", &self.conversation)
            .field("authority", &self.authority)
            .field("token_scope", &self.token_scope)
            .field("openid_metadata_url", &self.openid_metadata_url)
            .field("issuers", &self.issuers)
            .field("leeway", &self.leeway)
            .field("key_refresh_interval", &self.key_refresh_interval)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}
