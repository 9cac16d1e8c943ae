//! A request body read up to a limit.

use bytes::Bytes;

/// The body was longer than the limit (or could not be read whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body is larger than {limit} bytes or could not be read")]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

/// Reads an axum request body of at most `limit` bytes. Every adapter in
/// this crate reads its bodies through this one function, each with its
/// channel's configured limit.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, BodyTooLarge> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| BodyTooLarge { limit })
}
