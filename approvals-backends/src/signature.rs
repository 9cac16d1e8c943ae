//! The `v0` request signature: HMAC-SHA256 over `v0:{timestamp}:{body}`.
//!
//! Slack signs every interactivity request this way, and the HTTP channel's
//! outbound webhooks use the same scheme, so one implementation serves both.
//! The signature is `"v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body))`,
//! computed over the raw body bytes, before any parsing.
//!
//! ```
//! use approvals_backends::signature::{sign, verify, SignatureError};
//!
//! let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
//! let body = b"payload=%7B%7D";
//! let signature = sign(secret, 1_700_000_000, body);
//! assert!(signature.starts_with("v0="));
//!
//! // Checked against a clock: accepted within the window, refused outside it.
//! let timestamp = "1700000000";
//! assert_eq!(verify(secret, Some(timestamp), Some(&signature), body, 1_700_000_100, 300), Ok(()));
//! assert_eq!(
//!     verify(secret, Some(timestamp), Some(&signature), body, 1_700_000_301, 300),
//!     Err(SignatureError::Stale),
//! );
//! ```

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The version prefix of the signature scheme.
const VERSION: &str = "v0";

/// Why a signed request was refused. None of the variants carries the secret
/// or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The timestamp header is absent.
    #[error("the request timestamp header is missing")]
    MissingTimestamp,
    /// The signature header is absent.
    #[error("the request signature header is missing")]
    MissingSignature,
    /// The timestamp header is not a whole number of Unix seconds.
    #[error("the request timestamp is not a number of Unix seconds")]
    MalformedTimestamp,
    /// The signature header is not `v0=` followed by 64 hex digits.
    #[error("the request signature is not of the form `v0=<64 hex digits>`")]
    MalformedSignature,
    /// The timestamp is further from now than the replay window, in the past
    /// or in the future.
    #[error("the request timestamp is outside the replay window")]
    Stale,
    /// The signature does not match the body and timestamp.
    #[error("the request signature does not match")]
    Mismatch,
}

/// Signs `body` sent at `timestamp` (Unix seconds): `"v0=<hex>"`.
///
/// ```
/// // The known-answer vector Slack publishes.
/// let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
/// assert_eq!(
///     approvals_backends::signature::sign(b"8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body.as_bytes()),
///     "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
/// );
/// ```
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("{VERSION}={}", hex::encode(digest))
}

/// Verifies a signed request: both headers present, the timestamp within
/// `window_secs` of `now` (either way, so a timestamp from the future is
/// refused too), and the signature equal to [`sign`]'s, compared in constant
/// time.
///
/// `now` is a parameter so that callers (and tests) choose the clock.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
    window_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp_header = timestamp_header.ok_or(SignatureError::MissingTimestamp)?;
    let signature_header = signature_header.ok_or(SignatureError::MissingSignature)?;
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let age_secs = now.abs_diff(timestamp);
    let window_secs = window_secs.max(0).unsigned_abs();
    if age_secs > window_secs {
        return Err(SignatureError::Stale);
    }
    let expected = signature_header
        .trim()
        .strip_prefix(VERSION)
        .and_then(|rest| rest.strip_prefix('='))
        .filter(|digits| digits.len() == 64)
        .and_then(|digits| hex::decode(digits).ok())
        .ok_or(SignatureError::MalformedSignature)?;
    // `verify_slice` compares in constant time.
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of every length, so `new_from_slice` never fails; the
    // fallback only keeps a panic out of library code.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    mac.update(VERSION.as_bytes());
    mac.update(b":");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1_531_420_618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn known_answer_vector_signs() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), EXPECTED);
    }

    #[test]
    fn known_answer_vector_verifies() {
        assert_eq!(
            verify(
                SECRET,
                Some("1531420618"),
                Some(EXPECTED),
                BODY.as_bytes(),
                TIMESTAMP + 10,
                300
            ),
            Ok(())
        );
    }

    #[test]
    fn every_refusal_is_named() {
        let body = BODY.as_bytes();
        let ts = Some("1531420618");
        let sig = Some(EXPECTED);
        let check = |ts, sig, body: &[u8], now| verify(SECRET, ts, sig, body, now, 300);
        assert_eq!(
            check(None, sig, body, TIMESTAMP),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            check(ts, None, body, TIMESTAMP),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            check(Some("yesterday"), sig, body, TIMESTAMP),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            check(ts, Some("v1=abc"), body, TIMESTAMP),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            check(ts, Some("v0=zz"), body, TIMESTAMP),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            check(ts, sig, body, TIMESTAMP + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(ts, sig, body, TIMESTAMP - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(check(ts, sig, body, TIMESTAMP + 300), Ok(()));
        assert_eq!(
            check(ts, sig, b"token=changed", TIMESTAMP),
            Err(SignatureError::Mismatch)
        );
        let other = sign(b"another secret", TIMESTAMP, body);
        assert_eq!(
            check(ts, Some(&other), body, TIMESTAMP),
            Err(SignatureError::Mismatch)
        );
        // The signature covers the timestamp: moving it breaks the match.
        assert_eq!(
            check(Some("1531420619"), sig, body, TIMESTAMP),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let sig = sign(SECRET, i64::MIN, b"");
        assert!(matches!(
            verify(
                SECRET,
                Some(&i64::MIN.to_string()),
                Some(&sig),
                b"",
                i64::MAX,
                300
            ),
            Err(SignatureError::Stale)
        ));
        assert_eq!(
            verify(
                SECRET,
                Some(&i64::MIN.to_string()),
                Some(&sig),
                b"",
                i64::MIN,
                -5
            ),
            Ok(())
        );
    }
}
