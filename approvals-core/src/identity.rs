//! Who asks and who decides.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization as _;

/// The canonical identity of a person or an agent, such as `alice@example.com`
/// or `agent:support-bot`.
///
/// Every channel translates its own notion of a user (a Slack user id, an
/// Entra ID object id, a bearer token) into an `Identity`, and the gate compares
/// identities only in this form. So that no spelling can split one person in
/// two (and let them approve their own request as the "other" one), an
/// identity is canonicalized once, when it is made:
///
/// 1. Unicode default-ignorable code points are removed (zero-width space,
///    joiners, the byte-order mark, the soft hyphen, variation selectors, …);
/// 2. the text is normalized to NFKC (fullwidth `ａ` is `a`; `é` written as
///    one code point or as `e` and a combining accent are the same), then
///    lower-cased, then normalized again;
/// 3. surrounding whitespace is trimmed, a leading `mailto:` (in any case)
///    is dropped, and so is a trailing dot after the domain of an address
///    (`alice@example.com.`).
///
/// Text that contains a control character or a bidirectional formatting
/// character (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), or that
/// is empty once canonicalized, is not an identity: [`Identity::parse`]
/// refuses it with an [`IdentityError`], and [`Identity::new`] makes the
/// empty identity of it, which the gate refuses as a requester and which is
/// never an approver (policies refuse it).
///
/// ```
/// use approvals_core::Identity;
/// assert_eq!(Identity::new(" Alice@Example.com "), Identity::new("alice@example.com"));
/// assert_eq!(Identity::new("mailto:alice@example.com."), Identity::new("alice@example.com"));
/// assert_eq!(Identity::new("alice\u{200B}@example.com"), Identity::new("alice@example.com"));
/// assert!(Identity::parse("alice\u{202E}@example.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(Arc<str>);

/// Why a text is not an identity. The error never includes the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Nothing is left once the text is canonicalized (it was empty, blank,
    /// invisible, or `mailto:` alone).
    #[error("the identity is empty")]
    Empty,
    /// The text contains a control character (U+0000–U+001F, U+007F–U+009F)
    /// other than whitespace around it.
    #[error("the identity contains a control character")]
    ControlCharacter,
    /// The text contains a bidirectional formatting character (U+061C,
    /// U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which can make it read
    /// as another identity.
    #[error("the identity contains a bidirectional formatting character")]
    BidirectionalFormatting,
    /// Canonicalizing the text did not settle on one form.
    #[error("the identity has no stable canonical form")]
    Unstable,
}

impl IdentityError {
    /// A short, stable name for the kind of refusal (`empty`,
    /// `control_character`, `bidirectional_formatting`, `unstable`), for
    /// logs and error codes.
    pub fn category(&self) -> &'static str {
        match self {
            IdentityError::Empty => "empty",
            IdentityError::ControlCharacter => "control_character",
            IdentityError::BidirectionalFormatting => "bidirectional_formatting",
            IdentityError::Unstable => "unstable",
        }
    }
}

impl Identity {
    /// Makes the canonical identity for `name` (see [`Identity`] for what
    /// that is).
    ///
    /// Text that [`parse`](Self::parse) refuses yields the empty identity,
    /// which matches nobody: the gate refuses it as a requester
    /// ([`Error::NoRequester`](crate::Error::NoRequester)), policies refuse
    /// it as an approver, and so a vote cast as it never counts. Use `parse`
    /// where the refusal should be reported.
    ///
    /// ```
    /// use approvals_core::Identity;
    /// assert_eq!(Identity::new("ＡＬＩＣＥ@example.com"), Identity::new("alice@example.com"));
    /// assert_eq!(Identity::new("alice\u{202E}moc.elpmaxe@"), Identity::new(""));
    /// ```
    pub fn new(name: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        if is_canonical_ascii(name) {
            return Self(Arc::from(name));
        }
        match canonicalize(name) {
            Ok(canonical) => Self(Arc::from(canonical)),
            Err(_) => Self(Arc::from("")),
        }
    }

    /// Makes the canonical identity for `name`, or says why it is not one:
    /// it contains a control or bidirectional formatting character, or
    /// nothing is left of it once canonicalized.
    ///
    /// ```
    /// use approvals_core::{Identity, IdentityError};
    /// assert_eq!(Identity::parse("Bob@Example.COM"), Ok(Identity::new("bob@example.com")));
    /// assert_eq!(Identity::parse(" \u{200B} "), Err(IdentityError::Empty));
    /// assert_eq!(Identity::parse("bob\u{0}"), Err(IdentityError::ControlCharacter));
    /// ```
    pub fn parse(name: impl AsRef<str>) -> Result<Self, IdentityError> {
        let name = name.as_ref();
        if is_canonical_ascii(name) {
            return Ok(Self(Arc::from(name)));
        }
        canonicalize(name).map(|canonical| Self(Arc::from(canonical)))
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `name` is already canonical without any Unicode work: printable
/// ASCII without upper case, not empty, nothing to trim, no `mailto:`, no
/// trailing dot. ASCII has no default-ignorable code points and is its own
/// NFKC form. Most identities take this path.
fn is_canonical_ascii(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes
        .iter()
        .all(|&byte| (b' '..=b'~').contains(&byte) && !byte.is_ascii_uppercase())
        && first != b' '
        && last != b' '
        && last != b'.'
        && !bytes.starts_with(MAILTO.as_bytes())
}

const MAILTO: &str = "mailto:";

/// How many rounds canonicalization may take before it must have settled.
/// A second round finds nothing left to change in practice (the property
/// tests check it); the bound makes anything else a refusal, not a loop.
const MAX_ROUNDS: usize = 4;

/// The canonical form of `name`, or why it has none.
fn canonicalize(name: &str) -> Result<String, IdentityError> {
    let mut current = name.trim().to_owned();
    for _ in 0..MAX_ROUNDS {
        refuse(&current)?;
        let next = round(&current);
        if next == current {
            if current.is_empty() {
                return Err(IdentityError::Empty);
            }
            return Ok(current);
        }
        current = next;
    }
    Err(IdentityError::Unstable)
}

/// Refuses control and bidirectional formatting characters. Checked before
/// default-ignorable code points are removed, since the bidirectional
/// controls are among them.
fn refuse(text: &str) -> Result<(), IdentityError> {
    for c in text.chars() {
        if c.is_control() {
            return Err(IdentityError::ControlCharacter);
        }
        if is_bidirectional_formatting(c) {
            return Err(IdentityError::BidirectionalFormatting);
        }
    }
    Ok(())
}

/// One round of canonicalization.
fn round(text: &str) -> String {
    // Ignorable code points go first, so that a letter and its combining
    // mark that one of them separated compose under NFKC.
    let normalized: String = text
        .chars()
        .filter(|&c| !is_default_ignorable(c))
        .nfkc()
        .collect();
    let lowered = lower(&normalized);
    // Lower-casing can leave text that is not NFKC (and NFKC can bring back
    // a default-ignorable code point: U+FFA0 becomes U+3164).
    let lowered: String = if lowered.is_ascii() {
        lowered
    } else {
        lowered
            .nfkc()
            .filter(|&c| !is_default_ignorable(c))
            .collect()
    };
    let mut rest = lowered.trim();
    while let Some(address) = rest.strip_prefix(MAILTO) {
        rest = address.trim_start();
    }
    if let Some(at) = rest.rfind('@') {
        // `alice@example.com.` names the same domain as `alice@example.com`.
        let domain = rest[at + 1..].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
        rest = &rest[..at + 1 + domain.len()];
    }
    rest.to_owned()
}

/// Full Unicode lower-casing, one character at a time (so `Σ` is always `σ`,
/// and the final form `ς` is read as `σ` too: one name, however its last
/// letter was cased).
fn lower(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == '\u{3C2}' { '\u{3C3}' } else { c })
        .collect()
}

/// Bidirectional formatting characters: the Arabic letter mark, the
/// left-to-right and right-to-left marks, the embeddings and overrides, and
/// the isolates. They reorder how text displays, so an identity containing
/// one can read as another.
fn is_bidirectional_formatting(c: char) -> bool {
    matches!(c, '\u{61C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The code points with the Unicode property `Default_Ignorable_Code_Point`,
/// as listed in `DerivedCoreProperties.txt` (Unicode 16.0; unchanged since
/// 14.0, which added U+180F), merged into ranges. They are invisible when
/// rendered, so text with them looks like text without them.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // SOFT HYPHEN
    ('\u{034F}', '\u{034F}'),   // COMBINING GRAPHEME JOINER
    ('\u{061C}', '\u{061C}'),   // ARABIC LETTER MARK
    ('\u{115F}', '\u{1160}'),   // HANGUL CHOSEONG FILLER..HANGUL JUNGSEONG FILLER
    ('\u{17B4}', '\u{17B5}'),   // KHMER VOWEL INHERENT AQ..AA
    ('\u{180B}', '\u{180F}'),   // MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
    ('\u{200B}', '\u{200F}'),   // ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK
    ('\u{202A}', '\u{202E}'),   // LEFT-TO-RIGHT EMBEDDING..RIGHT-TO-LEFT OVERRIDE
    ('\u{2060}', '\u{206F}'),   // WORD JOINER..NOMINAL DIGIT SHAPES (with reserved U+2065)
    ('\u{3164}', '\u{3164}'),   // HANGUL FILLER
    ('\u{FE00}', '\u{FE0F}'),   // VARIATION SELECTOR-1..16
    ('\u{FEFF}', '\u{FEFF}'),   // ZERO WIDTH NO-BREAK SPACE (byte-order mark)
    ('\u{FFA0}', '\u{FFA0}'),   // HALFWIDTH HANGUL FILLER
    ('\u{FFF0}', '\u{FFF8}'),   // reserved
    ('\u{1BCA0}', '\u{1BCA3}'), // SHORTHAND FORMAT LETTER OVERLAP..UP STEP
    ('\u{1D173}', '\u{1D17A}'), // MUSICAL SYMBOL BEGIN BEAM..END PHRASE
    ('\u{E0000}', '\u{E0FFF}'), // tags, VARIATION SELECTOR-17..256, reserved
];

fn is_default_ignorable(c: char) -> bool {
    // Below U+00AD there are none: the common case answers at once.
    if c < '\u{AD}' {
        return false;
    }
    DEFAULT_IGNORABLE
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
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

impl FromStr for Identity {
    type Err = IdentityError;

    /// The same as [`Identity::parse`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
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

/// Canonicalizes like [`Identity::parse`], and fails on what it refuses
/// (the error names the kind of refusal, not the text). The one exception
/// is the empty string, read as the empty identity: it is what
/// [`Identity::new`] makes of refused text and what such an identity
/// serializes to (an audit record of a vote cast as it must stay readable).
impl<'de> Deserialize<'de> for Identity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.is_empty() {
            return Ok(Self(Arc::from("")));
        }
        Self::parse(name).map_err(serde::de::Error::custom)
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
        assert_eq!(Identity::new(""), Identity::new(" "));
    }

    #[test]
    fn spellings_of_one_address_are_one_identity() {
        let alice = Identity::new("alice@example.com");
        for spelling in [
            "alice@example.com\u{200B}",
            "\u{FEFF}alice@example.com",
            "al\u{00AD}ice@exa\u{200D}mple.com",
            "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
            "ALICE@EXAMPLE.COM",
            "mailto:alice@example.com",
            "MAILTO:Alice@Example.com",
            "ｍａｉｌｔｏ：alice@example.com",
            "alice@example.com.",
            "alice@example.com. ",
            "\u{3000}alice@example.com\u{3000}",
            " \talice@example.com\n",
            "alice\u{FE0F}@example.com",
        ] {
            assert_eq!(Identity::new(spelling), alice, "{spelling:?}");
            assert_eq!(Identity::parse(spelling), Ok(alice.clone()), "{spelling:?}");
        }
        assert_eq!(
            Identity::new("jos\u{E9}@example.com"),
            Identity::new("jose\u{301}@example.com")
        );
        assert_eq!(
            Identity::new("JOS\u{C9}@x.io"),
            Identity::new("jos\u{E9}@x.io")
        );
        assert_eq!(Identity::new("ΟΔΟΣ"), Identity::new("οδος"));
        assert_ne!(
            Identity::new("alice@example.com"),
            Identity::new("alice@example.co")
        );
        assert_ne!(Identity::new("jose@x.io"), Identity::new("jos\u{E9}@x.io"));
        // The trailing dot is dropped from a domain only.
        assert_eq!(Identity::new("agent:bot.").as_str(), "agent:bot.");
    }

    #[test]
    fn refused_text_is_reported_by_parse_and_empty_from_new() {
        for (text, error) in [
            ("", IdentityError::Empty),
            ("   ", IdentityError::Empty),
            ("\u{200B}\u{FEFF}", IdentityError::Empty),
            ("mailto:", IdentityError::Empty),
            ("alice\u{0}@example.com", IdentityError::ControlCharacter),
            ("alice\u{1B}[31m", IdentityError::ControlCharacter),
            ("alice\n@example.com", IdentityError::ControlCharacter),
            ("alice\u{85}x", IdentityError::ControlCharacter),
            (
                "alice\u{202E}moc.elpmaxe@",
                IdentityError::BidirectionalFormatting,
            ),
            ("\u{200F}alice", IdentityError::BidirectionalFormatting),
            (
                "alice\u{2066}x\u{2069}",
                IdentityError::BidirectionalFormatting,
            ),
            ("alice\u{61C}", IdentityError::BidirectionalFormatting),
        ] {
            assert_eq!(Identity::parse(text), Err(error), "{text:?}");
            assert_eq!(text.parse::<Identity>(), Err(error), "{text:?}");
            assert_eq!(Identity::new(text).as_str(), "", "{text:?}");
        }
        // The error never carries the text.
        let message = Identity::parse("secret\u{202E}")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("the identity contains a bidirectional formatting character")
        );
        assert_eq!(
            IdentityError::ControlCharacter.category(),
            "control_character"
        );
    }

    #[test]
    fn deserializing_refuses_what_parse_refuses_and_keeps_the_empty_identity() {
        let refused = serde_json::from_str::<Identity>("\"bob\\u202e\"");
        assert!(refused.is_err());
        let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!error.contains("bob"), "{error}");
        let back: Identity =
            serde_json::from_str("\"mailto:Bob@X.io.\"").unwrap_or_else(|_| Identity::new("x"));
        assert_eq!(back.as_str(), "bob@x.io");
        // The empty identity round-trips (a vote cast as it is recorded).
        let empty = Identity::new("\u{202E}");
        let json = serde_json::to_string(&empty).unwrap_or_default();
        assert_eq!(json, "\"\"");
        let back: Identity = serde_json::from_str(&json).unwrap_or_else(|_| Identity::new("x"));
        assert_eq!(back, empty);
    }

    #[test]
    fn canonical_identities_are_their_own_canonical_form() {
        for text in [
            "alice@example.com",
            "Ǆ\u{301}ẞ@x.io",
            "\u{FFA0}x",
            "ﷺ@x.io",
            "İstanbul@x.io",
            "ᾼ@x.io",
            "mailto:mailto: alice@x.io . .",
            "alice@x.io. . . . . . . . . . . .",
        ] {
            let once = Identity::new(text);
            assert_eq!(Identity::new(once.as_str()), once, "{text:?}");
            assert_eq!(Identity::parse(once.as_str()), Ok(once.clone()), "{text:?}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_full_canonicalization() {
        for text in [
            "alice@example.com",
            "agent:support-bot",
            "a b",
            "x.y@z",
            "~!#$%^&*()_+{}|:<>?",
        ] {
            assert!(is_canonical_ascii(text), "{text:?}");
            assert_eq!(canonicalize(text).as_deref(), Ok(text), "{text:?}");
        }
        for text in [
            "", " a", "a ", "A", "a.", "mailto:a", "a\u{7F}", "a\tb", "é",
        ] {
            assert!(!is_canonical_ascii(text), "{text:?}");
        }
    }

    #[test]
    fn the_default_ignorable_table_is_sorted_and_disjoint() {
        for pair in DEFAULT_IGNORABLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
        for c in [
            '\u{AD}',
            '\u{200B}',
            '\u{2065}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E0FFF}',
            '\u{180F}',
        ] {
            assert!(is_default_ignorable(c), "{c:?}");
        }
        for c in [
            'a',
            '\u{AC}',
            '\u{AE}',
            '\u{2070}',
            '\u{FF00}',
            '\u{E1000}',
            ' ',
        ] {
            assert!(!is_default_ignorable(c), "{c:?}");
        }
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
