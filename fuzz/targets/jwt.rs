//! JWT headers and JWKS documents (`approvals_backends::jwt`), and whole
//! tokens through `JwtValidator::validate`.
//!
//! The input is read as text (lossily). Properties checked:
//!
//! - reading the header never panics; a header it accepts comes from a
//!   token of exactly three parts whose first part is base64url for a JSON
//!   object naming that algorithm (and that key id, when it has one);
//! - reading the input as a key set never panics; every key it keeps comes
//!   from an entry of the `keys` array of type `RSA`, not meant for anything
//!   but signing, with that key id and a modulus and exponent;
//! - validating the input as a token (against keys of the test provider in
//!   `support/bot.rs`) never panics, and accepts only a token that names an
//!   RS256/384/512 algorithm and the provider's key id; with the valid token
//!   as input it succeeds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::bot;

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_header(&text);
    if let Ok(document) = serde_json::from_slice::<Value>(data) {
        check_key_set(&document);
    }
    check_validate(&text);
}

fn check_header(token: &str) {
    let Ok((algorithm, kid, _critical)) = approvals_backends::fuzzing::jwt_header(token) else {
        return;
    };
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "a header was read from a token without three parts"
    );
    let header: Value = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    assert!(
        header.is_object(),
        "a header was read from a part that is not a JSON object"
    );
    assert_eq!(
        header["alg"].as_str(),
        Some(algorithm.as_str()),
        "the algorithm read is not the header's"
    );
    assert_eq!(
        header.get("kid").and_then(Value::as_str),
        kid.as_deref(),
        "the key id read is not the header's"
    );
}

fn check_key_set(document: &Value) {
    let Ok(keys) = approvals_backends::fuzzing::jwks(document) else {
        return;
    };
    let entries = document["keys"].as_array().cloned().unwrap_or_default();
    for key in keys {
        let kid = key.kid();
        let found = entries.iter().any(|entry| {
            entry["kid"].as_str() == Some(kid)
                && entry["kty"] == "RSA"
                && entry.get("use").is_none_or(|use_| use_ == "sig")
                && entry["n"].is_string()
                && entry["e"].is_string()
        });
        assert!(found, "a key was kept that no RSA signing entry describes");
    }
}

fn check_validate(token: &str) {
    let result = bot::runtime().block_on(bot::validator().validate(token));
    match result {
        Ok(verified) => {
            let Ok((algorithm, kid, _)) = approvals_backends::fuzzing::jwt_header(token) else {
                panic!("a token was accepted whose header does not read");
            };
            assert!(
                matches!(algorithm.as_str(), "RS256" | "RS384" | "RS512"),
                "a token was accepted with another algorithm"
            );
            assert_eq!(
                kid.as_deref(),
                Some("key-a"),
                "a token was accepted under an unknown key"
            );
            assert_eq!(
                verified.claim_str("iss"),
                Some(bot::ISSUER),
                "a token of another issuer was accepted"
            );
        }
        Err(error) => {
            let _ = error.to_string();
            assert_ne!(token, bot::TOKEN, "the valid token was refused: {error}");
        }
    }
}
