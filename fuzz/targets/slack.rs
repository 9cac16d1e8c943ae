//! Slack's inbound side: the `v0` request signature check and the
//! interactivity payload parser.
//!
//! The input is read as `timestamp header \n signature header \n body`
//! (missing lines are absent headers). Properties checked:
//!
//! - `signature::verify` never panics, and accepts only a timestamp within
//!   the window and a signature equal to `sign`'s (hex digits in either
//!   case);
//! - for any body and any timestamp that parses, `sign`'s own signature is
//!   accepted at that time, refused as stale one second past the window, and
//!   refused as a mismatch with one digit changed or under another secret;
//! - `parse_interaction` on the body and `parse_payload` on the input never
//!   panic, and what they accept is well-formed: a non-empty user id and a
//!   request id without control characters, whose fingerprint reads back
//!   from its hex.

use approvals_backends::signature::{SignatureError, sign, verify};
use approvals_backends::slack::{Interaction, Reference, parse_interaction, parse_payload};

const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
const WINDOW: i64 = 300;
const NOW: i64 = 1_700_000_000;

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let timestamp = lines.next().and_then(|l| std::str::from_utf8(l).ok());
    let signature = lines.next().and_then(|l| std::str::from_utf8(l).ok());
    let body = lines.next().unwrap_or_default();

    check_verify(timestamp, signature, body);
    check_interaction(parse_interaction(body));
    if let Ok(text) = std::str::from_utf8(data) {
        check_interaction(parse_payload(text));
    }
}

fn check_verify(timestamp: Option<&str>, signature: Option<&str>, body: &[u8]) {
    let result = verify(SECRET, timestamp, signature, body, NOW, WINDOW);
    if result.is_ok() {
        let Some(at) = timestamp.and_then(|t| t.trim().parse::<i64>().ok()) else {
            panic!("a signature was accepted without a valid timestamp");
        };
        assert!(
            NOW.abs_diff(at) <= WINDOW.unsigned_abs(),
            "a stale signature was accepted"
        );
        assert_eq!(
            signature.map(|s| s.trim().to_ascii_lowercase()),
            Some(sign(SECRET, at, body)),
            "a signature other than sign's was accepted"
        );
    }

    let Some(at) = timestamp.and_then(|t| t.trim().parse::<i64>().ok()) else {
        return;
    };
    let good = sign(SECRET, at, body);
    assert_eq!(
        verify(SECRET, timestamp, Some(&good), body, at, WINDOW),
        Ok(()),
        "sign's own signature was refused"
    );
    if let Some(late) = at.checked_add(WINDOW + 1) {
        assert_eq!(
            verify(SECRET, timestamp, Some(&good), body, late, WINDOW),
            Err(SignatureError::Stale),
            "a signature past the window was accepted"
        );
    }
    let mut bad = good.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
    let bad = String::from_utf8(bad).unwrap_or_default();
    assert_eq!(
        verify(SECRET, timestamp, Some(&bad), body, at, WINDOW),
        Err(SignatureError::Mismatch),
        "a changed signature was accepted"
    );
    assert_eq!(
        verify(b"another secret", timestamp, Some(&good), body, at, WINDOW),
        Err(SignatureError::Mismatch),
        "a signature under another secret was accepted"
    );
}

fn check_interaction<E: std::fmt::Display>(parsed: Result<Interaction, E>) {
    match parsed {
        Ok(Interaction::Click(click)) => {
            assert!(!click.user_id.trim().is_empty(), "a click without a user");
            check_reference(&click.reference);
        }
        Ok(Interaction::DenyReason(reason)) => {
            assert!(!reason.user_id.trim().is_empty(), "a reason without a user");
            check_reference(&reason.reference);
            if let Some(text) = &reason.reason {
                assert!(!text.is_empty(), "an empty reason was kept");
            }
        }
        Ok(Interaction::Edit(edit)) => {
            assert!(!edit.user_id.trim().is_empty(), "an edit without a user");
            check_reference(&edit.reference);
            assert!(
                edit.inputs.windows(2).all(|pair| pair[0].0 <= pair[1].0),
                "an edit's inputs are not sorted by path"
            );
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

fn check_reference(reference: &Reference) {
    let id = reference.request_id.as_str();
    assert!(!id.is_empty(), "an empty request id");
    assert!(
        !id.chars().any(char::is_control),
        "a request id with control characters"
    );
    let hex = reference.fingerprint.to_hex();
    assert_eq!(
        approvals_core::Fingerprint::from_hex(&hex),
        Some(reference.fingerprint),
        "a fingerprint does not read back from its hex"
    );
}
