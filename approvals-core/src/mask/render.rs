//! Writing a detected value as its strategy says.

use std::borrow::Cow;
use std::fmt::Write as _;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::kind::Kind;
use super::spec::Strategy;

/// The secret under which pseudonyms are computed, held as HMAC-SHA256
/// keyed once: each pseudonym starts from a copy of the keyed state rather
/// than hashing the key again.
#[derive(Clone)]
pub(crate) struct PseudonymKey(Hmac<Sha256>);

impl PseudonymKey {
    /// A key of any length (HMAC accepts them all).
    pub(crate) fn new(key: &[u8]) -> Self {
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
                // HMAC takes keys of any length, so this is never reached.
                <Hmac<Sha256> as KeyInit>::new(&Default::default())
            }),
        )
    }

    /// A random key: pseudonyms are stable for the life of the engine only.
    pub(crate) fn random() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::new(&key)
    }

    /// Writes the first six hex digits of HMAC-SHA256(key, kind || 0 ||
    /// value).
    fn tag(&self, kind: &str, value: &str, out: &mut String) {
        let mut mac = self.0.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        for byte in &digest[..3] {
            let _ = write!(out, "{byte:02x}");
        }
    }

    /// `EMAIL_9f2c1a`: the kind in capitals and the tag of the normalized
    /// value, so that `Jane@X.io` and `jane@x.io` get the same token.
    pub(crate) fn pseudonym(&self, prefix: &str, value: &str, out: &mut String) {
        let normalized = normalize(prefix, value);
        out.extend(prefix.chars().map(|c| c.to_ascii_uppercase()));
        out.push('_');
        self.tag(prefix, &normalized, out);
    }
}

fn normalize<'v>(kind: &str, value: &'v str) -> Cow<'v, str> {
    match kind {
        "phone" | "credit_card" | "us_ssn" => {
            Cow::Owned(value.chars().filter(char::is_ascii_digit).collect())
        }
        "iban" => Cow::Owned(
            value
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        ),
        "email" | "name" | "address" | "ip_address" => Cow::Owned(collapse_and_lower(value)),
        _ => Cow::Borrowed(value),
    }
}

/// Words separated by single spaces, in lowercase: in one pass for ASCII
/// text (most values), else as `str::to_lowercase` has it (which lowers a
/// final capital sigma as a final sigma).
fn collapse_and_lower(value: &str) -> String {
    if !value.is_ascii() {
        return value
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
    }
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// The generic label, for values masked without a kind.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Writes `value`, of `kind`, masked with `strategy`.
pub(crate) fn render(
    kind: &Kind,
    strategy: Strategy,
    value: &str,
    key: &PseudonymKey,
    out: &mut String,
) {
    match strategy {
        Strategy::Drop => {}
        Strategy::Label => push_label(kind, out),
        Strategy::Pseudonym => key.pseudonym(kind.name(), value, out),
        Strategy::Partial => {
            if !partial(kind, value, out) {
                push_label(kind, out);
            }
        }
    }
}

fn push_label(kind: &Kind, out: &mut String) {
    out.push('[');
    out.push_str(&kind.name().to_ascii_uppercase());
    out.push(']');
}

const DOT: &str = "\u{2022}";

fn last_digits(value: &str, n: usize) -> Option<String> {
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= n * 2).then(|| digits[digits.len() - n..].iter().collect())
}

/// The partial form of a value, if the kind has a safe one. Returns whether
/// something was written.
fn partial(kind: &Kind, value: &str, out: &mut String) -> bool {
    match kind {
        Kind::Email => {
            let Some((local, domain)) = value.rsplit_once('@') else {
                return false;
            };
            let Some(first) = local.chars().next() else {
                return false;
            };
            let _ = write!(out, "{first}***@{domain}");
            true
        }
        Kind::CreditCard | Kind::Phone => {
            let Some(last) = last_digits(value, 4) else {
                return false;
            };
            let _ = write!(out, "{DOT}{DOT}{DOT}{DOT} {last}");
            true
        }
        Kind::UsSsn => {
            let Some(last) = last_digits(value, 4) else {
                return false;
            };
            let _ = write!(out, "{DOT}{DOT}{DOT}-{DOT}{DOT}-{last}");
            true
        }
        Kind::Iban => {
            let compact: Vec<char> = value.chars().filter(char::is_ascii_alphanumeric).collect();
            if compact.len() < 12 {
                return false;
            }
            let country: String = compact[..2].iter().collect();
            let last: String = compact[compact.len() - 4..].iter().collect();
            let _ = write!(out, "{country}{DOT}{DOT} {DOT}{DOT}{DOT}{DOT} {last}");
            true
        }
        Kind::IpAddress => {
            if let Ok(v4) = value.trim().parse::<std::net::Ipv4Addr>() {
                let [a, b, _, _] = v4.octets();
                let _ = write!(out, "{a}.{b}.{DOT}.{DOT}");
                true
            } else if let Ok(v6) = value.trim().parse::<std::net::Ipv6Addr>() {
                let first = v6.segments()[0];
                let _ = write!(out, "{first:x}:{DOT}{DOT}{DOT}");
                true
            } else {
                false
            }
        }
        Kind::DateOfBirth => {
            let year = value
                .as_bytes()
                .windows(4)
                .position(|w| w.iter().all(u8::is_ascii_digit))
                .map(|at| &value[at..at + 4]);
            match year {
                Some(year) => {
                    let _ = write!(out, "{DOT}{DOT}/{DOT}{DOT}/{year}");
                    true
                }
                None => false,
            }
        }
        Kind::Name => {
            let initials: Vec<String> = value
                .split_whitespace()
                .filter_map(|word| word.chars().find(|c| c.is_alphabetic()))
                .map(|c| format!("{}.", c.to_uppercase()))
                .collect();
            if initials.is_empty() {
                return false;
            }
            out.push_str(&initials.join(" "));
            true
        }
        // Credentials, addresses and custom kinds have no safe partial form.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(kind: Kind, strategy: Strategy, value: &str) -> String {
        let mut out = String::new();
        render(&kind, strategy, value, &PseudonymKey::new(b"k"), &mut out);
        out
    }

    #[test]
    fn partial_forms() {
        assert_eq!(
            shown(Kind::Email, Strategy::Partial, "jane@example.com"),
            "j***@example.com"
        );
        assert_eq!(
            shown(Kind::CreditCard, Strategy::Partial, "4242 4242 4242 4242"),
            "•••• 4242"
        );
        assert_eq!(
            shown(Kind::Phone, Strategy::Partial, "+1 (415) 555-0132"),
            "•••• 0132"
        );
        assert_eq!(
            shown(Kind::UsSsn, Strategy::Partial, "123-45-6789"),
            "•••-••-6789"
        );
        assert_eq!(
            shown(Kind::Iban, Strategy::Partial, "DE89 3704 0044 0532 0130 00"),
            "DE•• •••• 3000"
        );
        assert_eq!(
            shown(Kind::IpAddress, Strategy::Partial, "203.0.113.7"),
            "203.0.•.•"
        );
        assert_eq!(
            shown(Kind::DateOfBirth, Strategy::Partial, "1985-03-14"),
            "••/••/1985"
        );
        assert_eq!(
            shown(Kind::Name, Strategy::Partial, "Jane van Doe"),
            "J. V. D."
        );
        assert_eq!(
            shown(Kind::Secret, Strategy::Partial, "hunter2"),
            "[SECRET]"
        );
        assert_eq!(
            shown(Kind::Address, Strategy::Partial, "1 Main St"),
            "[ADDRESS]"
        );
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_normalized() {
        let a = shown(Kind::Email, Strategy::Pseudonym, "Jane@Example.com");
        let b = shown(Kind::Email, Strategy::Pseudonym, "jane@example.com");
        let c = shown(Kind::Email, Strategy::Pseudonym, "john@example.com");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("EMAIL_") && a.len() == 12, "{a}");
        let mut other = String::new();
        PseudonymKey::new(b"other").pseudonym("email", "jane@example.com", &mut other);
        assert_ne!(a, other);
    }

    #[test]
    fn normalizing_collapses_spaces_and_lowers_case_in_ascii_and_beyond() {
        for (value, expected) in [
            ("  Jane \t DOE\n", "jane doe"),
            ("Jane@Example.COM", "jane@example.com"),
            ("ÉLODIE  Ümlaut", "élodie ümlaut"),
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευς"),
            ("a\u{000B}b", "a b"),
            ("", ""),
        ] {
            assert_eq!(normalize("name", value), expected, "{value:?}");
            assert_eq!(
                collapse_and_lower(value),
                value
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            );
        }
    }

    #[test]
    fn a_pseudonym_is_the_hmac_of_kind_and_value_under_the_key() {
        // Tokens must stay the same across versions for a given key: they
        // are compared across runs and stored in audit trails.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"a key").unwrap();
        mac.update(b"email\0jane@example.com");
        let expected = format!("EMAIL_{}", hex::encode(&mac.finalize().into_bytes()[..3]));
        let key = PseudonymKey::new(b"a key");
        for _ in 0..2 {
            let mut token = String::new();
            key.pseudonym("email", "Jane@Example.com", &mut token);
            assert_eq!(token, expected);
        }
    }
}
