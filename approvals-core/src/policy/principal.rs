//! Who a rule names: one identity, or every member of a group.

use std::fmt;
use std::sync::Arc;

use crate::Identity;

const GROUP_PREFIX: &str = "group:";

/// An identity, or a group defined in the policy, as written in approver
/// and requester lists: `alice@example.com` or `group:sre-leads`.
///
/// Text converts with [`Principal::parse`]: `group:NAME` (the prefix in any
/// case) names a group, anything else an identity (canonicalized like every
/// [`Identity`]). Group names are kept as written, trimmed; they are
/// case-sensitive.
///
/// ```
/// use approvals_core::Identity;
/// use approvals_core::policy::Principal;
///
/// assert_eq!(Principal::parse("group:sre-leads"), Principal::group("sre-leads"));
/// assert_eq!(
///     Principal::parse("Alice@Example.com"),
///     Principal::Identity(Identity::new("alice@example.com")),
/// );
/// assert_eq!(Principal::group("sre-leads").to_string(), "group:sre-leads");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// One person or agent.
    Identity(Identity),
    /// Every member of the group of this name, resolved when the policy is
    /// evaluated.
    Group(Arc<str>),
}

impl Principal {
    /// Reads `group:NAME` as a group and anything else as an identity.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        let is_group = text
            .get(..GROUP_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(GROUP_PREFIX));
        match text.get(GROUP_PREFIX.len()..) {
            Some(name) if is_group => Principal::Group(Arc::from(name.trim())),
            _ => Principal::Identity(Identity::new(text)),
        }
    }

    /// The group called `name` (without `group:`).
    pub fn group(name: impl AsRef<str>) -> Self {
        Principal::Group(Arc::from(name.as_ref().trim()))
    }

    /// Why this principal can name nobody, if it cannot: an empty identity
    /// (which is also what [`Identity::new`] makes of text it refuses) or a
    /// `group:` without a name.
    pub(crate) fn defect(&self) -> Option<&'static str> {
        match self {
            Principal::Identity(identity) if identity.as_str().is_empty() => {
                Some("is an empty identity")
            }
            Principal::Group(name) if name.is_empty() => Some("is `group:` without a group name"),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Identity(identity) => f.write_str(identity.as_str()),
            Principal::Group(name) => write!(f, "{GROUP_PREFIX}{name}"),
        }
    }
}

impl From<&str> for Principal {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<String> for Principal {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<&String> for Principal {
    fn from(text: &String) -> Self {
        Self::parse(text)
    }
}

/// An [`Identity`] is taken as it is, even if it starts with `group:`.
impl From<Identity> for Principal {
    fn from(identity: Identity) -> Self {
        Principal::Identity(identity)
    }
}

impl From<&Identity> for Principal {
    fn from(identity: &Identity) -> Self {
        Principal::Identity(identity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_identities() {
        assert_eq!(Principal::parse(" GROUP: sre "), Principal::group("sre"));
        assert_eq!(Principal::parse("group:SRE"), Principal::group("SRE"));
        assert_ne!(Principal::parse("group:SRE"), Principal::group("sre"));
        assert_eq!(
            Principal::parse("agent:bot"),
            Principal::Identity(Identity::new("agent:bot"))
        );
        assert_eq!(
            Principal::parse("grou"),
            Principal::Identity(Identity::new("grou"))
        );
        assert_eq!(
            Principal::parse("group:").defect(),
            Some("is `group:` without a group name")
        );
        assert_eq!(
            Principal::parse("  ").defect(),
            Some("is an empty identity")
        );
        assert_eq!(Principal::parse("bob").defect(), None);
    }
}
