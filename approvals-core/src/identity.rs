//! Who asks and who decides.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The canonical identity of a person or an agent, such as `alice@example.com`
/// or `agent:support-bot`.
///
/// Every channel translates its own notion of a user (a Slack user id, an
/// Entra ID object id, a bearer token) into an `Identity`, and the gate compares
/// identities only in this form. To keep one person from appearing as two
/// (`Alice@Example.com` and `alice@example.com`), an identity is trimmed and
/// lower-cased when it is made.
///
/// ```
/// use approvals_core::Identity;
/// assert_eq!(Identity::new(" Alice@Example.com "), Identity::new("alice@example.com"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(Arc<str>);

impl Identity {
    /// Makes the canonical identity for `name`.
    pub fn new(name: impl AsRef<str>) -> Self {
        let trimmed = name.as_ref().trim();
        if trimmed.chars().any(char::is_uppercase) {
            Self(Arc::from(trimmed.to_lowercase()))
        } else {
            Self(Arc::from(trimmed))
        }
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", &*self.0)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Identity {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<&String> for Identity {
    fn from(name: &String) -> Self {
        Self::new(name)
    }
}

impl From<&Identity> for Identity {
    fn from(identity: &Identity) -> Self {
        identity.clone()
    }
}

impl From<String> for Identity {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl AsRef<str> for Identity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Identity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self::new(name))
    }
}

/// The id of one approval request, unique per request (a random UUID).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A new random id.
    pub fn random() -> Self {
        // Encoded on the stack and copied once into the shared string,
        // rather than through `Display` into a `String` first.
        let mut text = uuid::Uuid::encode_buffer();
        Self(Arc::from(
            &*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text),
        ))
    }

    /// An id as received from a channel (a button value, a URL path).
    pub fn from_string(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", &*self.0)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_canonical() {
        assert_eq!(
            Identity::new("Bob@Example.COM"),
            Identity::new("bob@example.com")
        );
        assert_eq!(Identity::new("  carol "), Identity::new("carol"));
        assert_ne!(Identity::new("carol"), Identity::new("carol2"));
        let json = serde_json::to_string(&Identity::new("Dave")).unwrap_or_default();
        assert_eq!(json, "\"dave\"");
        let back: Identity = serde_json::from_str("\"DAVE\"").unwrap_or_else(|_| Identity::new(""));
        assert_eq!(back, Identity::new("dave"));
    }

    #[test]
    fn request_ids_are_unique() {
        assert_ne!(RequestId::random(), RequestId::random());
    }

    #[test]
    fn request_ids_are_lowercase_hyphenated_uuids() {
        let id = RequestId::random();
        let parsed = uuid::Uuid::parse_str(id.as_str()).map(|uuid| uuid.hyphenated().to_string());
        assert_eq!(parsed.ok().as_deref(), Some(id.as_str()));
        assert_eq!(id.as_str().len(), 36);
    }
}
