//! The `v0` request signature: HMAC-SHA256 over a timestamp and the raw body.
//!
//! This is Slack's signing scheme, used both to check Slack's inbound
//! requests and to sign the HTTP channel's outbound webhooks:
//!
//! ```text
//! signature = "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + raw_body))
//! ```
//!
//! `timestamp` is the Unix time in seconds, sent in a header beside the
//! signature. A receiver recomputes the signature over the raw bytes it
//! received (before any parsing), compares it in constant time, and rejects
//! a timestamp too far from its own clock, so that a captured request cannot
//! be replayed later.
//!
//! ```
//! use approvals_backends::signature::{sign, verify};
//!
//! let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
//! let body = br#"{"event":"request.created"}"#;
//! let signature = sign(secret, 1_700_000_000, body);
//! assert!(signature.starts_with("v0="));
//! assert!(verify(secret, Some("1700000000"), Some(&signature), body, 1_700_000_010, 300).is_ok());
//! assert!(verify(secret, Some("1700000000"), Some(&signature), b"{}", 1_700_000_010, 300).is_err());
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed request was rejected. The text says what is wrong without
/// repeating any secret or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The timestamp header is absent.
    #[error("the request timestamp header is missing")]
    MissingTimestamp,
    /// The timestamp header is not a whole number of seconds.
    #[error("the request timestamp is not a Unix time in seconds")]
    MalformedTimestamp,
    /// The timestamp is further from now than the replay window allows.
    #[error(
        "the request timestamp is {skew_secs} s away from now, outside the {window_secs} s window"
    )]
    Stale {
        /// How far the timestamp is from now, in seconds.
        skew_secs: i64,
        /// The window allowed, in seconds.
        window_secs: i64,
    },
    /// The signature header is absent.
    #[error("the request signature header is missing")]
    MissingSignature,
    /// The signature header is not `v0=` followed by 64 hex digits.
    #[error("the request signature is not of the form v0=<64 hex digits>")]
    MalformedSignature,
    /// The signature does not match the body and timestamp.
    #[error("the request signature does not match")]
    Mismatch,
}

/// The `v0` signature of `body` sent at `timestamp` (Unix seconds):
/// `"v0=" + 64 lowercase hex digits`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("v0={}", hex::encode(digest))
}

/// Checks the headers of a signed request against its raw `body`.
///
/// `now` is the receiver's clock in Unix seconds (a parameter so that tests
/// can fix it); a timestamp more than `window_secs` away from it is
/// rejected. The comparison of signatures takes the same time wherever they
/// differ.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
    window_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp_text = timestamp_header.ok_or(SignatureError::MissingTimestamp)?;
    let timestamp: i64 = timestamp_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew_secs = now.saturating_sub(timestamp).saturating_abs();
    if skew_secs > window_secs {
        return Err(SignatureError::Stale {
            skew_secs,
            window_secs,
        });
    }
    let signature = signature_header.ok_or(SignatureError::MissingSignature)?;
    let digits = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SignatureError::MalformedSignature)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(digits, &mut expected).map_err(|_| SignatureError::MalformedSignature)?;
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
    mac.update(b"v0:");
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
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn matches_slacks_published_vector() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY), EXPECTED);
        assert_eq!(
            verify(
                SECRET,
                Some("1531420618"),
                Some(EXPECTED),
                BODY,
                TIMESTAMP + 10,
                300
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_every_kind_of_bad_request() {
        let ts = Some("1531420618");
        let sig = Some(EXPECTED);
        let now = TIMESTAMP;
        assert_eq!(
            verify(SECRET, None, sig, BODY, now, 300),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(SECRET, Some("soon"), sig, BODY, now, 300),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify(SECRET, ts, sig, BODY, now + 301, 300),
            Err(SignatureError::Stale {
                skew_secs: 301,
                window_secs: 300
            })
        );
        assert_eq!(
            verify(SECRET, ts, sig, BODY, now - 301, 300),
            Err(SignatureError::Stale {
                skew_secs: 301,
                window_secs: 300
            })
        );
        assert_eq!(
            verify(SECRET, ts, None, BODY, now, 300),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            verify(SECRET, ts, Some("v1=abc"), BODY, now, 300),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify(SECRET, ts, Some("v0=zz"), BODY, now, 300),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify(SECRET, ts, sig, b"token=changed", now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another secret", ts, sig, BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some("1531420619"), sig, BODY, now, 300),
            Err(SignatureError::Mismatch)
        );
    }
}
