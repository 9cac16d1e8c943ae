//! How one value is masked: a strategy, and the `kind:strategy` spec that
//! names a kind, a strategy or both.

use std::fmt;
use std::str::FromStr;

use super::kind::{KINDS, Kind, normalize, quoted};

/// How a detected value is shown to reviewers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The kind's label: `[EMAIL]`.
    Label,
    /// Enough to recognise, not to use: `j***@example.com`, `•••• 4242`,
    /// the last four digits of a phone number. Kinds without a safe partial
    /// form (secrets, addresses, custom kinds) get their label instead.
    Partial,
    /// A keyed pseudonym: HMAC-SHA256 of the value under the engine's key,
    /// as `EMAIL_9f2c1a`. The same value gives the same token, so a reviewer
    /// sees that two arguments are the same person without seeing who.
    Pseudonym,
    /// Nothing: the value is removed (an object entry is removed; in text,
    /// the value is cut out).
    Drop,
}

/// The names of the strategies, as a [`MaskSpec`] writes them.
pub const STRATEGIES: [&str; 4] = ["label", "partial", "pseudonym", "drop"];

impl Strategy {
    /// The lowercase name (`"pseudonym"`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Label => "label",
            Strategy::Partial => "partial",
            Strategy::Pseudonym => "pseudonym",
            Strategy::Drop => "drop",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = InvalidMaskSpec;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match normalize(text).as_str() {
            "label" => Ok(Strategy::Label),
            "partial" => Ok(Strategy::Partial),
            "pseudonym" => Ok(Strategy::Pseudonym),
            "drop" => Ok(Strategy::Drop),
            _ => Err(InvalidMaskSpec(text.to_owned())),
        }
    }
}

/// What to mask a whole value as: a kind, a strategy, or both.
///
/// The grammar, case-insensitive: `KIND`, `STRATEGY` or `KIND:STRATEGY`,
/// where KIND is one of [`KINDS`] and STRATEGY one of [`STRATEGIES`].
///
/// - A kind alone masks the whole value as that kind, with the strategy the
///   engine is configured to use for it.
/// - A strategy alone applies to the whole value: `label` gives `[REDACTED]`,
///   `pseudonym` gives `VALUE_…`, `drop` removes it, and `partial` shows
///   the partial form of the kind the value is recognised as, or
///   `[REDACTED]` when it is not recognised as one.
/// - Every combination is safe: where a kind has no safe partial form
///   (`secret:partial`, `address:partial`), its label is shown instead.
///
/// ```
/// use approvals_core::mask::{Kind, MaskSpec, Strategy};
///
/// let spec: MaskSpec = "Email:Pseudonym".parse()?;
/// assert_eq!(spec.kind(), Some(&Kind::Email));
/// assert_eq!(spec.strategy(), Some(Strategy::Pseudonym));
/// assert_eq!("drop".parse::<MaskSpec>()?.strategy(), Some(Strategy::Drop));
/// assert!("e-mail".parse::<MaskSpec>().is_err());
/// # Ok::<(), approvals_core::mask::InvalidMaskSpec>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MaskSpec {
    kind: Option<Kind>,
    strategy: Option<Strategy>,
}

impl MaskSpec {
    /// Masks as `kind`, with the kind's configured strategy.
    pub fn kind_only(kind: Kind) -> Self {
        Self {
            kind: Some(kind),
            strategy: None,
        }
    }

    /// Applies `strategy` to the whole value.
    pub fn strategy_only(strategy: Strategy) -> Self {
        Self {
            kind: None,
            strategy: Some(strategy),
        }
    }

    /// Masks as `kind` with `strategy`.
    pub fn new(kind: Kind, strategy: Strategy) -> Self {
        Self {
            kind: Some(kind),
            strategy: Some(strategy),
        }
    }

    /// The kind, if the spec names one.
    pub fn kind(&self) -> Option<&Kind> {
        self.kind.as_ref()
    }

    /// The strategy, if the spec names one.
    pub fn strategy(&self) -> Option<Strategy> {
        self.strategy
    }
}

impl fmt::Display for MaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, self.strategy) {
            (Some(kind), Some(strategy)) => write!(f, "{kind}:{strategy}"),
            (Some(kind), None) => write!(f, "{kind}"),
            (None, Some(strategy)) => write!(f, "{strategy}"),
            (None, None) => f.write_str("label"),
        }
    }
}

/// The text is not a valid [`MaskSpec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid mask `{0}`: expected a kind ({kinds}), a strategy ({strategies}), or `kind:strategy`",
    kinds = quoted(&KINDS),
    strategies = quoted(&STRATEGIES)
)]
pub struct InvalidMaskSpec(pub String);

impl FromStr for MaskSpec {
    type Err = InvalidMaskSpec;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidMaskSpec(text.to_owned());
        let trimmed = text.trim();
        match trimmed.split_once(':') {
            Some((kind, strategy)) => {
                let kind = exact_kind(kind).ok_or_else(invalid)?;
                let strategy = exact_strategy(strategy).ok_or_else(invalid)?;
                Ok(MaskSpec::new(kind, strategy))
            }
            None => {
                if let Some(kind) = exact_kind(trimmed) {
                    Ok(MaskSpec::kind_only(kind))
                } else if let Some(strategy) = exact_strategy(trimmed) {
                    Ok(MaskSpec::strategy_only(strategy))
                } else {
                    Err(invalid())
                }
            }
        }
    }
}

/// A kind written exactly as in [`KINDS`], whatever the case (the spec
/// grammar admits no other spelling).
fn exact_kind(text: &str) -> Option<Kind> {
    let lower = text.to_ascii_lowercase();
    KINDS
        .iter()
        .position(|name| *name == lower)
        .map(|index| super::kind::BUILT_IN[index].clone())
}

fn exact_strategy(text: &str) -> Option<Strategy> {
    match text.to_ascii_lowercase().as_str() {
        "label" => Some(Strategy::Label),
        "partial" => Some(Strategy::Partial),
        "pseudonym" => Some(Strategy::Pseudonym),
        "drop" => Some(Strategy::Drop),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_strategy_and_pair_parses_in_any_case() {
        for kind in KINDS {
            assert!(kind.parse::<MaskSpec>().is_ok(), "{kind}");
            assert!(kind.to_uppercase().parse::<MaskSpec>().is_ok(), "{kind}");
            for strategy in STRATEGIES {
                let spec: MaskSpec = format!("{}:{}", kind.to_uppercase(), strategy)
                    .parse()
                    .unwrap();
                assert_eq!(spec.to_string(), format!("{kind}:{strategy}"));
            }
        }
        for strategy in STRATEGIES {
            assert_eq!(
                strategy
                    .parse::<MaskSpec>()
                    .unwrap()
                    .strategy()
                    .unwrap()
                    .name(),
                strategy
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_valid_choices() {
        for bad in [
            "",
            "mail",
            "email:",
            ":drop",
            "email:drop:x",
            "drop:email",
            "credit-card",
        ] {
            let error = bad.parse::<MaskSpec>().unwrap_err().to_string();
            assert!(error.contains("`credit_card`"), "{error}");
            assert!(error.contains("`pseudonym`"), "{error}");
        }
    }
}
