//! Shared by the tests that feed parsers personal data: values shaped like
//! emails, phone numbers, card numbers, names and tokens, a capture of
//! everything logged, and the check that none of it was repeated.

// Test support: a failure here is a failed test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

/// The shortest run of a seeded value that counts as repeating it.
pub const RUN: usize = 6;

/// One value shaped like personal data. The letters are drawn mostly from
/// rare ones (`q`, `x`, `z`, …), so that a run of six of them cannot occur
/// by chance in an English error message.
pub fn pii() -> impl Strategy<Value = String> {
    prop_oneof![
        // An email.
        "[qxzjkvw]{3,8}\\.[qxzjkvw]{3,8}@[qxzjkvw]{4,8}\\.(com|net|org)",
        // A phone number, in a few spellings.
        "\\+1 ?[2-9][0-9]{2} ?[2-9][0-9]{2} ?[0-9]{4}",
        "555[0-9]{7}",
        // A card number.
        "4[0-9]{15}",
        "5[1-5][0-9]{2} [0-9]{4} [0-9]{4} [0-9]{4}",
        // A name.
        "[QXZJKVW][qxzjkvw]{4,8} [QXZJKVW][qxzjkvwy]{5,9}",
        // Tokens.
        "xoxb-[0-9]{10}-[A-Za-z0-9]{16}",
        "sk_live_[A-Za-z0-9]{24}",
    ]
}

/// A value shaped like a phone or card number, as a JSON number.
pub fn pii_number() -> impl Strategy<Value = u64> {
    prop_oneof![
        5_550_000_000u64..5_559_999_999,
        4_000_000_000_000_000u64..4_999_999_999_999_999
    ]
}

/// Panics if any run of [`RUN`] characters of any seed occurs in `text`.
pub fn assert_no_echo(seeds: &[String], what: &str, text: &str) {
    for seed in seeds {
        let chars: Vec<char> = seed.chars().collect();
        if chars.len() < RUN {
            continue;
        }
        for window in chars.windows(RUN) {
            let run: String = window.iter().collect();
            assert!(
                !text.contains(&run),
                "{what} repeats `{run}` of the seeded value `{seed}`:\n{text}"
            );
        }
    }
}

/// Everything logged while the guard lives, on this thread (run the code
/// under test on a current-thread runtime so that its tasks log here too).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Starts capturing every event, down to `TRACE`, as text.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (captured, guard)
    }

    /// What was logged so far; empties the buffer.
    pub fn take(&self) -> String {
        let mut buffer = self.0.lock().unwrap();
        String::from_utf8_lossy(&std::mem::take(&mut *buffer)).into_owned()
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The status line, headers and body of an answer, as one text to search.
pub fn answer_text(response: &http::Response<bytes::Bytes>) -> String {
    let mut text = format!("{}\n", response.status());
    for (name, value) in response.headers() {
        text.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text.push_str(&String::from_utf8_lossy(response.body()));
    text
}

/// A current-thread runtime: what it runs logs on the capturing thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
