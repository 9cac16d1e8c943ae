//! What a detection is: its kind, where it is, how sure the engine is.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

/// A kind of personal or secret data.
///
/// The ten built-in kinds are those a [`MaskSpec`](super::MaskSpec) can
/// name; [`Kind::Custom`] is the kind of a [custom
/// detector](super::CustomDetector).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// An email address.
    Email,
    /// A telephone number.
    Phone,
    /// A payment card number (Luhn-valid, known issuer range).
    CreditCard,
    /// A United States social security number.
    UsSsn,
    /// An international bank account number (mod-97 valid).
    Iban,
    /// An IPv4 or IPv6 address that identifies a client.
    IpAddress,
    /// A date of birth (a date where the context says so).
    DateOfBirth,
    /// A person's name.
    Name,
    /// A postal address.
    Address,
    /// A credential: key, token, password, private key.
    Secret,
    /// The kind of a custom detector, by its name.
    Custom(Arc<str>),
}

/// The built-in kinds, in the order of [`KINDS`].
pub(crate) const BUILT_IN: [Kind; 10] = [
    Kind::Email,
    Kind::Phone,
    Kind::CreditCard,
    Kind::UsSsn,
    Kind::Iban,
    Kind::IpAddress,
    Kind::DateOfBirth,
    Kind::Name,
    Kind::Address,
    Kind::Secret,
];

/// The names of the built-in kinds, as a [`MaskSpec`](super::MaskSpec)
/// writes them.
pub const KINDS: [&str; 10] = [
    "email",
    "phone",
    "credit_card",
    "us_ssn",
    "iban",
    "ip_address",
    "date_of_birth",
    "name",
    "address",
    "secret",
];

impl Kind {
    /// The lowercase name (`"credit_card"`); a custom kind's own name.
    pub fn name(&self) -> &str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::CreditCard => "credit_card",
            Kind::UsSsn => "us_ssn",
            Kind::Iban => "iban",
            Kind::IpAddress => "ip_address",
            Kind::DateOfBirth => "date_of_birth",
            Kind::Name => "name",
            Kind::Address => "address",
            Kind::Secret => "secret",
            Kind::Custom(name) => name,
        }
    }

    /// The label shown in place of a value (`"[CREDIT_CARD]"`).
    pub fn label(&self) -> String {
        format!("[{}]", self.name().to_ascii_uppercase())
    }

    /// Whether the kind is a credential, which is never shown in part.
    pub fn is_secret(&self) -> bool {
        matches!(self, Kind::Secret)
    }

    /// Dense index of a built-in kind (custom kinds have none).
    pub(crate) fn index(&self) -> Option<usize> {
        BUILT_IN.iter().position(|kind| kind == self)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text is not one of [`KINDS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind `{0}`, expected one of {list}", list = quoted(&KINDS))]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    /// Parses a built-in kind's name, whatever its case; `-` and a space
    /// stand for `_`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = normalize(text);
        KINDS
            .iter()
            .position(|name| *name == wanted)
            .map(|index| BUILT_IN[index].clone())
            .ok_or_else(|| UnknownKind(text.to_owned()))
    }
}

pub(crate) fn normalize(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

pub(crate) fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One piece of sensitive data found in a text.
///
/// `range` is in bytes and always falls on `char` boundaries of the text it
/// was found in.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// What was found.
    pub kind: Kind,
    /// Where, in bytes.
    pub range: Range<usize>,
    /// How sure the engine is, from 0 to 1: a checksum that passed
    /// (Luhn, mod-97) or a fixed token prefix gives 0.95 and more, a
    /// shape alone less, a heuristic (names, addresses) 0.5 to 0.7.
    pub confidence: f32,
}

impl Detection {
    pub(crate) fn new(kind: Kind, range: Range<usize>, confidence: f32) -> Self {
        Self {
            kind,
            range,
            confidence,
        }
    }
}
