//! Who a Teams user is, as the gate knows them.

use std::collections::HashMap;
use std::sync::Arc;

use approvals_core::{Identity, async_trait};

/// The Teams user behind a click, as the (authenticated) activity names them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TeamsUser {
    /// The user's Microsoft Entra ID object id (`from.aadObjectId`).
    pub aad_object_id: String,
    /// The user's Teams id (`from.id`, `29:…`).
    pub teams_id: String,
    /// The display name Teams sent; informational only, never an identity.
    pub name: Option<String>,
    /// The tenant of the conversation (`conversation.tenantId`), if sent.
    pub tenant_id: Option<String>,
}

/// A directory lookup failed; the vote is not cast and the voter is told to
/// try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the user directory is unavailable: {message}")]
pub struct DirectoryError {
    /// What went wrong.
    pub message: String,
}

impl DirectoryError {
    /// A failed lookup.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Translates a Teams user into the canonical [`Identity`] that policies name
/// (usually an email address).
///
/// `Ok(None)` means the user is not known: their click is answered with an
/// error and no vote is cast. Implement it over Microsoft Graph, LDAP or your
/// own user table; [`StaticDirectory`] is a fixed map.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// The identity of `user`, if known.
    async fn identity(&self, user: &TeamsUser) -> Result<Option<Identity>, DirectoryError>;
}

#[async_trait]
impl<T: UserDirectory + ?Sized> UserDirectory for &T {
    async fn identity(&self, user: &TeamsUser) -> Result<Option<Identity>, DirectoryError> {
        (**self).identity(user).await
    }
}

#[async_trait]
impl<T: UserDirectory + ?Sized> UserDirectory for Box<T> {
    async fn identity(&self, user: &TeamsUser) -> Result<Option<Identity>, DirectoryError> {
        (**self).identity(user).await
    }
}

#[async_trait]
impl<T: UserDirectory + ?Sized> UserDirectory for Arc<T> {
    async fn identity(&self, user: &TeamsUser) -> Result<Option<Identity>, DirectoryError> {
        (**self).identity(user).await
    }
}

/// A fixed map from Entra ID object ids to identities.
///
/// Object ids are GUIDs and compared without regard to case.
///
/// ```
/// use approvals_backends::teams::StaticDirectory;
///
/// let directory = StaticDirectory::new()
///     .user("6f1c0b5e-0000-4000-8000-00000000a11c", "alice@example.com")
///     .user("6f1c0b5e-0000-4000-8000-000000000b0b", "bob@example.com");
/// assert_eq!(directory.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticDirectory {
    users: HashMap<String, Identity>,
}

impl StaticDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps the object id `aad_object_id` to `identity`.
    #[must_use]
    pub fn user(mut self, aad_object_id: &str, identity: impl Into<Identity>) -> Self {
        self.users
            .insert(aad_object_id.trim().to_ascii_lowercase(), identity.into());
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

impl<K: AsRef<str>, V: Into<Identity>> FromIterator<(K, V)> for StaticDirectory {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Self::new(), |directory, (id, identity)| {
                directory.user(id.as_ref(), identity)
            })
    }
}

#[async_trait]
impl UserDirectory for StaticDirectory {
    async fn identity(&self, user: &TeamsUser) -> Result<Option<Identity>, DirectoryError> {
        Ok(self
            .users
            .get(&user.aad_object_id.trim().to_ascii_lowercase())
            .cloned())
    }
}
