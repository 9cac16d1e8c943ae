//! The chain's format: where the hash sits in a line, the hash or HMAC of
//! a line's body, and the hex and decimal writers.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The `prev` of the first record.
pub(super) const GENESIS: [u8; 32] = [0; 32];
/// Every line starts with this, then 64 hex digits, then `",`.
pub(super) const HASH_PREFIX: &[u8] = b"{\"hash\":\"";
/// Where the hashed bytes start within a line, after `{"hash":"<64 hex>",`.
pub(super) const BODY_START: usize = HASH_PREFIX.len() + 64 + 2;

/// SHA-256, or HMAC-SHA256 with the key already absorbed.
#[derive(Clone)]
pub(super) enum ChainKey {
    Plain,
    Keyed(Box<HmacSha256>),
}

impl ChainKey {
    pub(super) fn keyed(key: &[u8]) -> Self {
        // HMAC hashes keys longer than a block and zero-pads the rest; doing
        // it here gives a full block, for which construction cannot fail.
        let mut block = Key::<HmacSha256>::default();
        if key.len() > block.len() {
            let digest = Sha256::digest(key);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        ChainKey::Keyed(Box::new(<HmacSha256 as KeyInit>::new(&block)))
    }

    pub(super) fn from_option(key: Option<&[u8]>) -> Self {
        key.map_or(ChainKey::Plain, ChainKey::keyed)
    }

    /// The hash of the body `{` + `after_brace`: the line without its hash
    /// member. Taking the tail spares copying the line.
    pub(super) fn digest(&self, after_brace: &[u8]) -> [u8; 32] {
        match self {
            ChainKey::Plain => {
                let mut hasher = Sha256::new();
                hasher.update(b"{");
                hasher.update(after_brace);
                hasher.finalize().into()
            }
            ChainKey::Keyed(mac) => {
                let mut mac = (**mac).clone();
                mac.update(b"{");
                mac.update(after_brace);
                mac.finalize().into_bytes().into()
            }
        }
    }
}

pub(super) fn push_hex(out: &mut Vec<u8>, bytes: &[u8; 32]) {
    let at = out.len();
    out.resize(at + 64, 0);
    write_hex(&mut out[at..], bytes);
}

pub(super) fn write_hex(slot: &mut [u8], bytes: &[u8; 32]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in slot.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

pub(super) fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
