//! Entry points for the fuzz targets in the repository's `fuzz/` directory,
//! for parsers that are not public on their own.
//!
//! Not a stable API: hidden from the documentation, it may change or go in
//! any release. Use [`jwt`](crate::jwt) instead.

#[cfg(feature = "jwt")]
use std::sync::Arc;

#[cfg(feature = "jwt")]
use crate::jwt::{JwtError, VerificationKey};

/// What a JWT's header says before any key is looked up: the algorithm it
/// names, its key id, and whether it has a `crit` member.
#[cfg(feature = "jwt")]
pub fn jwt_header(token: &str) -> Result<(String, Option<String>, bool), JwtError> {
    crate::jwt::TokenHeader::parse(token)
        .map(|header| (header.algorithm, header.kid, header.critical))
}

/// The keys read from a JWKS document.
#[cfg(feature = "jwt")]
pub fn jwks(document: &serde_json::Value) -> Result<Vec<Arc<VerificationKey>>, JwtError> {
    crate::jwt::parse_key_set(document).map(|keys| keys.into_values().collect())
}
