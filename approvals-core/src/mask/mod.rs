//! Turning arguments and free text into what a reviewer may see.
//!
//! Everything that leaves the gate (messages to channels, audit records,
//! errors, `Debug` output) is built from the [`MaskedView`] and masked text
//! that a [`Masker`] produces, never from the raw arguments.
//!
//! The gate's default masker is the [`MaskingEngine`]. It finds personal
//! data and secrets in free text and in JSON (strings at any depth, and by
//! key), and shows each as its [`Strategy`] says: a label (`[EMAIL]`), a
//! partial form (`j***@example.com`, `•••• 4242`), a keyed pseudonym
//! (`EMAIL_9f2c1a`: the same person gives the same token) or nothing.
//!
//! ```
//! use approvals_core::mask::MaskingEngine;
//!
//! let engine = MaskingEngine::new();
//! let masked = engine.mask("login from 203.0.113.7, card 4242-4242-4242-4242");
//! assert_eq!(masked.detections.len(), 2);
//! assert!(masked.text.ends_with("card •••• 4242"));
//!
//! // Nothing found: the input comes back as it was, without a copy.
//! assert!(matches!(engine.mask_str("deploy version 1.19.29.233"), std::borrow::Cow::Borrowed(_)));
//! ```
//!
//! # What is caught
//!
//! | kind | caught | checked by |
//! | --- | --- | --- |
//! | `email` | `local@domain.tld` | a dotted domain with an alphabetic TLD |
//! | `phone` | `+` international numbers of the major regions; North American `(415) 555-0132`, `415-555-0132`, `415.555.0132`, `1 415 555 0132`; national numbers with a trunk 0 in three or more groups (`020 7946 0958`, `01 23 45 67 89`) or in dashed groups or one long group (`0643-8801668`, `040-882-480`, `0394 7082427`); an area code in parentheses before dashed groups (`(85) 9334-4656`); North American shapes with an extension (`617.166.1264x847`); four dashed pairs (`53-41-43-35`); national numbers after `phone`, `tel`, `mobile`, `call` or before `office`, `fax`, `mobile` | calling code and national length; NANP area and exchange rules |
//! | `credit_card` | 12–19 digits, compact or in groups of 4 (Amex 4-6-5, Diners 4-6-4, long Maestro 6-13) with spaces, dashes or dots | IIN ranges and lengths of Visa, Mastercard incl. 2-series, Amex, Discover, Diners, JCB (15 and 16–19), UnionPay, Maestro (12–19), Mir, RuPay; Luhn |
//! | `us_ssn` | `123-45-6789`, `123 45 6789`; nine bare digits after `ssn` | area not 000, 666 or 9xx; group not 00; serial not 0000 |
//! | `iban` | compact or in groups of 4, uppercase | per-country length and mod-97 |
//! | `ip_address` | IPv4 unless a version word (`version`, `release`, `node`, `upgraded`, …) comes shortly before on the line; IPv6 | octet ranges; the standard IPv6 parser |
//! | `date_of_birth` | a date shortly after `born`, `dob`, `birth`, `birthday`, `date of birth` (ISO, `14/03/1985`, `14 March 1985`, `March 14, 1985`) | day and month ranges |
//! | `secret` | AWS access key ids and 40-character secret keys, GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab `glpat-`, Slack `xox?-` and `xapp-` tokens, Stripe `sk_live_`/`rk_live_`/`sk_test_`/`rk_test_`, OpenAI and Anthropic `sk-…` keys, Hugging Face `hf_`, npm `npm_`, PyPI `pypi-`, DigitalOcean `dop_v1_`, Google `AIza` keys, JWTs, PEM and OpenSSH private key blocks (the whole block), values after password/secret/token/key-like keys (`DB_PASSWORD=…`, `"apiKey": "…"`, `--password …`), `Authorization`/`Bearer` credentials, cookies, `scheme://user:pass@host` credentials, high-entropy tokens right after a secret-like word | fixed prefixes and lengths; a JWT header must decode to JSON with `alg` |
//! | `name` | after `Name:`-like labels and name keys (`assignee`, `author`), `name is`, titles (`Mr`, `Dr`, `Frau`, `Mme`), salutations (`Dear`, `Hi`), `customer`/`patient`/`From:` leads, sign-offs (`Regards,` then a line); in free text, capitalized words that a gazetteer of 12,000 given names and 50,000 surnames knows, in context: a given name before a capitalized word (`Megan Maur`), a word, an initial and a word (`Lena P Wirth`), a word before a known surname, a known given name alone, a surname after `by`/`with`/`said` or before `'s`, an unknown word after `said`, `told`, `call me`, names listed after a name (`Potter and Burns`) | the gazetteer; names that are also common words (`Will`, `May`, `White`) need a surname that is not or a lead; months, countries, well-known places and products, company and street words (`Inc`, `Street`) are refused |
//! | `address` | house number + capitalized words + street suffix (`221B Baker Street`, `1600 Amphitheatre Pkwy`) with unit, city, state, ZIP or UK postcode after it; `Address:` labels; `City, ST 12345`; UK postcodes | heuristics |
//!
//! In structured data, a value under a key that names a kind is masked as
//! that kind whatever it looks like: `password`, `secret`, `token`,
//! `api_key`, `access_key`, `private_key`, `authorization`, `cookie`, `ssn`,
//! `email`, `phone`, `dob`/`birth_date`, `card`/`card_number`/`pan`,
//! `iban`/`account_number`, `name`/`first_name`/`last_name`/`full_name`,
//! `address`/`street`, `ip`, and keys ending in them (`db_password`,
//! `customer_email`), whatever the case or separator (`apiKey`, `api-key`,
//! `API_KEY`). [`MaskingEngineBuilder::key`] adds more.
//!
//! # What stays visible
//!
//! Reviewers need look-alikes to decide: UUIDs, git SHAs, versions and build
//! numbers (`1.19.29.233` after `version`), log timestamps, order numbers
//! that fail Luhn, SSN-shaped numbers that break the SSN rules, IBAN-shaped
//! strings with wrong check digits.
//!
//! # What is not caught
//!
//! Names in free text are found by the gazetteer and the cues above: a name
//! the gazetteer does not know and no cue announces (many names from
//! outside the United States), a name that is also a common word without a
//! lead, and a lone surname are not caught; a place or company written like
//! a name can be taken for one. About two names in three of an independent
//! corpus are found (see `BENCHMARKS.md`). Postal addresses without a house
//! number and street suffix or a label are not caught. No language model is
//! used. Other gaps: phone numbers written without any separator or `+` and
//! with no phone word nearby, local numbers without an area code, national
//! formats in groups that amounts also take (`670 453 362`) with no phone
//! word nearby, secrets of providers not listed and without a
//! secret-like key next to them, and dates of birth without a birth word.
//! For structured data, name the argument's kind with
//! [`ActionRequest::mask_argument`](crate::ActionRequest::mask_argument) or a
//! key; for your own formats, add a [`CustomDetector`].
//!
//! # Speed and robustness
//!
//! The built-in detectors share one pass over the text: a byte-class table
//! finds candidates (a word, a digit run, `@`, `+`, `-----`, `::`), and
//! validation runs only there, with bounded look-around, so time is linear
//! in the input. Custom detectors use the `regex` crate (linear time as
//! well), one pass each. JSON is walked iteratively, so depth is no limit.

mod cues;
mod decode;
mod engine;
mod keys;
mod kind;
mod render;
mod scan;
mod spec;
mod type_label;
mod validate;

pub use engine::{
    ActionMasking, CustomDetector, MaskConfigError, Masked, MaskingEngine, MaskingEngineBuilder,
    Validator, ValueDetection,
};
pub use kind::{Detection, KINDS, Kind, UnknownKind};
pub use spec::{InvalidMaskSpec, MaskSpec, STRATEGIES, Strategy};
pub use type_label::TypeLabelMasker;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ArgumentMask;

/// The reviewer-safe view of a call's arguments: the same shape as the
/// arguments, with values masked.
///
/// Cheap to clone: the request shown to channels and every audit record of
/// the request share one copy.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaskedView(Arc<Value>);

impl MaskedView {
    /// Wraps a value that is already masked.
    ///
    /// Only maskers should call this: the gate trusts that what it holds is
    /// safe to show.
    pub fn from_masked(value: Value) -> Self {
        Self(Arc::new(value))
    }

    /// The masked value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

impl fmt::Debug for MaskedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedView({})", self.0)
    }
}

impl fmt::Display for MaskedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Produces reviewer-safe views of arguments and free text.
///
/// The gate calls the masker once per request, before anything is audited or
/// sent to a channel.
pub trait Masker: Send + Sync {
    /// Masks the serialized arguments of `action`, applying the caller's
    /// per-argument `overrides` (see [`ActionRequest::mask_argument`]).
    ///
    /// [`ActionRequest::mask_argument`]: crate::ActionRequest::mask_argument
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView;

    /// Masks free text written by the requester (the justification) or
    /// produced from the call (an error message).
    fn mask_text(&self, text: &str) -> String;
}

impl<M: Masker + ?Sized> Masker for &M {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        (**self).mask_arguments(action, arguments, overrides)
    }
    fn mask_text(&self, text: &str) -> String {
        (**self).mask_text(text)
    }
}

impl<M: Masker + ?Sized> Masker for Box<M> {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        (**self).mask_arguments(action, arguments, overrides)
    }
    fn mask_text(&self, text: &str) -> String {
        (**self).mask_text(text)
    }
}

impl<M: Masker + ?Sized> Masker for Arc<M> {
    fn mask_arguments(
        &self,
        action: &str,
        arguments: &Value,
        overrides: &[ArgumentMask],
    ) -> MaskedView {
        (**self).mask_arguments(action, arguments, overrides)
    }
    fn mask_text(&self, text: &str) -> String {
        (**self).mask_text(text)
    }
}
