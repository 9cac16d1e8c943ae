//! Slack user → canonical [`Identity`].

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use approvals_core::{Identity, async_trait};
use lru::LruCache;

use super::outbound::{SlackClient, SlackError};
use crate::kit::lock;

/// Translates a Slack user into the canonical identity the gate judges.
///
/// `Ok(None)` means the user is not mapped: their votes are refused and they
/// are told so. An error means the mapping could not be looked up now.
#[async_trait]
pub trait SlackIdentities: Send + Sync {
    /// The identity of Slack user `user_id` in team `team_id`.
    async fn identity(
        &self,
        user_id: &str,
        team_id: Option<&str>,
    ) -> Result<Option<Identity>, SlackError>;
}

/// A fixed map from Slack user ids to identities.
///
/// ```
/// use approvals_backends::slack::StaticIdentities;
///
/// let identities = StaticIdentities::new()
///     .user("U024BE7LH", "alice@example.com")
///     .user("U0G9QF9C6", "bob@example.com");
/// assert_eq!(identities.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticIdentities {
    users: HashMap<String, Identity>,
}

impl StaticIdentities {
    /// An empty map (every user is unmapped).
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps Slack user `user_id` to `identity`.
    #[must_use]
    pub fn user(mut self, user_id: impl Into<String>, identity: impl Into<Identity>) -> Self {
        self.users.insert(user_id.into(), identity.into());
        self
    }

    /// How many users are mapped.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user is mapped.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl<U: Into<String>, I: Into<Identity>> FromIterator<(U, I)> for StaticIdentities {
    fn from_iter<T: IntoIterator<Item = (U, I)>>(iter: T) -> Self {
        Self {
            users: iter
                .into_iter()
                .map(|(user, identity)| (user.into(), identity.into()))
                .collect(),
        }
    }
}

#[async_trait]
impl SlackIdentities for StaticIdentities {
    async fn identity(
        &self,
        user_id: &str,
        _team_id: Option<&str>,
    ) -> Result<Option<Identity>, SlackError> {
        Ok(self.users.get(user_id).cloned())
    }
}

/// Identities from each user's profile email, read with `users.info` (scope
/// `users:read.email`), kept in a bounded cache.
///
/// Deactivated accounts, bots and users without an email are unmapped.
/// Found identities are cached for `ttl` (default one hour) so that a changed
/// email takes effect; at `capacity` (default 10,000) the oldest entry goes.
#[derive(Debug)]
pub struct EmailIdentities {
    client: SlackClient,
    ttl: Duration,
    cache: Mutex<LruCache<String, (Identity, Instant)>>,
}

/// The users kept by default.
const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(10_000) {
    Some(capacity) => capacity,
    None => NonZeroUsize::MIN,
};

impl EmailIdentities {
    /// Looks users up with `client`.
    pub fn new(client: SlackClient) -> Self {
        Self {
            client,
            ttl: Duration::from_secs(3600),
            cache: Mutex::new(LruCache::new(DEFAULT_CAPACITY)),
        }
    }

    /// The most users kept in the cache (at least 1).
    #[must_use]
    pub fn capacity(self, capacity: usize) -> Self {
        lock(&self.cache).resize(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN));
        self
    }

    /// How long a looked-up identity is trusted before it is looked up again.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many users the cache holds now.
    pub fn cached(&self) -> usize {
        lock(&self.cache).len()
    }

    fn cached_identity(&self, user_id: &str) -> Option<Identity> {
        lock(&self.cache)
            .get(user_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(identity, _)| identity.clone())
    }

    fn remember(&self, user_id: &str, identity: Identity) {
        lock(&self.cache).put(user_id.to_owned(), (identity, Instant::now()));
    }
}

#[async_trait]
impl SlackIdentities for EmailIdentities {
    async fn identity(
        &self,
        user_id: &str,
        _team_id: Option<&str>,
    ) -> Result<Option<Identity>, SlackError> {
        if let Some(identity) = self.cached_identity(user_id) {
            return Ok(Some(identity));
        }
        let user = match self.client.user_info(user_id).await {
            Ok(user) => user,
            Err(error) if error.slack_error() == Some("user_not_found") => return Ok(None),
            Err(error) => return Err(error),
        };
        if user.deleted || user.is_bot {
            return Ok(None);
        }
        let Some(email) = user.email else {
            return Ok(None);
        };
        let identity = Identity::new(email);
        self.remember(user_id, identity.clone());
        Ok(Some(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_map_is_canonical_and_refuses_strangers() {
        let identities: StaticIdentities = [("U1", "Alice@Example.com")].into_iter().collect();
        let found = identities.identity("U1", None).await.ok().flatten();
        assert_eq!(found, Some(Identity::new("alice@example.com")));
        let stranger = identities.identity("U2", None).await.ok().flatten();
        assert_eq!(stranger, None);
    }

    #[test]
    fn cache_is_bounded() {
        let Ok(client) = SlackClient::new("xoxb-test") else {
            panic!("client");
        };
        let identities = EmailIdentities::new(client).capacity(2);
        identities.remember("U1", Identity::new("a"));
        identities.remember("U2", Identity::new("b"));
        identities.remember("U1", Identity::new("a2"));
        identities.remember("U3", Identity::new("c"));
        assert_eq!(identities.cached(), 2);
        // Least recently used first out: U1 was refreshed, U2 goes.
        assert_eq!(identities.cached_identity("U2"), None);
        assert_eq!(identities.cached_identity("U1"), Some(Identity::new("a2")));
        assert_eq!(identities.cached_identity("U3"), Some(Identity::new("c")));
        let expired =
            EmailIdentities::new(SlackClient::new("x").unwrap_or_else(|_| unreachable!()))
                .ttl(Duration::ZERO);
        expired.remember("U1", Identity::new("a"));
        assert_eq!(expired.cached_identity("U1"), None);
    }
}
