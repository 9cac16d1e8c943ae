//! Regression: a policy predicate's bound is the kind of value arguments
//! hold (a customer's email, a card number), and a bound that did not load
//! was quoted in the error (`invalid type: integer `5551234567`, expected a
//! string`, `invalid pattern `[jane.doe@example.com]*``).
//!
//! Policies whose predicate operand is seeded with values shaped like
//! personal data, and invalid in every way below, fail to load with no run
//! of six characters of any seeded value in the error (`Display` and
//! `Debug`) or in anything logged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::sync::{Arc, Mutex};

use approvals_core::policy::{Policy, PolicyError};
use proptest::prelude::*;

/// The shortest run of a seeded value that counts as repeating it.
const RUN: usize = 6;

/// A value shaped like personal data; letters mostly rare ones, so that six
/// of them in a row cannot occur by chance in an English message.
fn pii() -> impl Strategy<Value = String> {
    prop_oneof![
        "[qxzjkvw]{3,8}\\.[qxzjkvw]{3,8}@[qxzjkvw]{4,8}\\.(com|net|org)",
        "\\+1 ?[2-9][0-9]{2} ?[2-9][0-9]{2} ?[0-9]{4}",
        "4[0-9]{15}",
        "5[1-5][0-9]{2} [0-9]{4} [0-9]{4} [0-9]{4}",
        "[QXZJKVW][qxzjkvw]{4,8} [QXZJKVW][qxzjkvwy]{5,9}",
        "xoxb-[0-9]{10}-[A-Za-z0-9]{16}",
        "sk_live_[A-Za-z0-9]{24}",
    ]
}

fn pii_number() -> impl Strategy<Value = u64> {
    prop_oneof![
        5_550_000_000u64..5_559_999_999,
        4_000_000_000_000_000u64..4_999_999_999_999_999
    ]
}

/// A rule whose one predicate is `operator` on `customer.email`.
fn policy(operator: &str) -> String {
    format!(
        "[[rule]]\nname = \"customer exports\"\naction = \"crm.export\"\neffect = \"allow\"\nwhen = [{{ arg = \"customer.email\", {operator} }}]\n"
    )
}

/// A policy that must not load, and the values seeded in it.
fn invalid_policy() -> impl Strategy<Value = (String, Vec<String>)> {
    (pii(), pii(), pii_number(), 0..13usize, 0.0..1.0f64).prop_map(
        |(text, other, number, at, cut)| {
            let number_text = number.to_string();
            let operator = match at {
                // Wrong types for the operator.
                0 => format!("matches = {number}"),
                1 => format!("in = \"{text}\""),
                2 => format!("exists = \"{text}\""),
                3 => format!("matches = [\"{text}\", {number}]"),
                4 => format!("lt = \"{text}\""),
                // A pattern that is not a glob.
                5 => format!("matches = \"[{text}]*\""),
                6 => format!("matches = \"{text}\\\\q{other}\""),
                // Values TOML has but arguments do not.
                7 => format!("in = [\"{text}\", 1979-05-27T07:32:00Z, {number}]"),
                8 => format!("eq = {{ email = \"{text}\", since = 1979-05-27 }}"),
                // Two operators, and an unknown one.
                9 => format!("eq = \"{text}\", ne = {number}"),
                10 => format!("equals = \"{text}\", eq = {number}"),
                // Not TOML: an unquoted value, a string cut short.
                11 => format!("eq = {text} {other}"),
                _ => {
                    let chars: Vec<char> = text.chars().collect();
                    let keep = ((chars.len() as f64) * cut) as usize;
                    let prefix: String = chars[..keep.max(RUN)].iter().collect();
                    format!("eq = \"{prefix}")
                }
            };
            (policy(&operator), vec![text, other, number_text])
        },
    )
}

fn assert_no_echo(seeds: &[String], what: &str, text: &str) {
    for seed in seeds {
        let chars: Vec<char> = seed.chars().collect();
        for window in chars.windows(RUN) {
            let run: String = window.iter().collect();
            assert!(
                !text.contains(&run),
                "{what} repeats `{run}` of the seeded value `{seed}`:\n{text}"
            );
        }
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_predicate_value_that_does_not_load_is_not_quoted((text, seeds) in invalid_policy()) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        let error: PolicyError = tracing::subscriber::with_default(subscriber, || {
            Policy::from_toml_str(&text).unwrap_err()
        });
        assert_no_echo(&seeds, "the error", &error.to_string());
        assert_no_echo(&seeds, "the error's Debug", &format!("{error:?}"));
        assert_no_echo(&seeds, "the log", &captured.take());
        // The error still says where.
        prop_assert!(error.location().is_some_and(|at| at.line == 5), "{}", error);
    }
}

#[test]
fn a_wrong_type_names_the_operator_and_what_was_expected() {
    let error = Policy::from_toml_str(&policy("matches = 5551234567")).unwrap_err();
    let message = error.to_string();
    assert!(!message.contains("5551234567"), "{message}");
    assert!(
        message.contains("line 5") && message.contains("wrong type, expected a string"),
        "{message}"
    );
    let error =
        Policy::from_toml_str(&policy("matches = \"[jane.doe@example.com]*\"")).unwrap_err();
    let message = error.to_string();
    assert!(!message.contains("jane.doe"), "{message}");
    assert!(
        message.contains("invalid pattern in `matches` on `customer.email`"),
        "{message}"
    );
}
