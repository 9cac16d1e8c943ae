//! The fingerprint that binds a decision to exactly one call.

use std::fmt;
use std::io::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Identity;

/// SHA-256 of the canonical JSON of `{"action", "arguments", "requester"}`.
///
/// An approval is bound to a fingerprint: the body runs only with arguments
/// whose fingerprint is the approved one, and a vote that names another
/// fingerprint is refused. Canonical JSON here means object keys sorted by
/// their UTF-8 bytes and no insignificant whitespace, so the same call always
/// has the same fingerprint, in any process.
///
/// ```
/// use approvals_core::{Fingerprint, Identity};
/// let a = Fingerprint::of("refund", &serde_json::json!({"b": 1, "a": 2}), &Identity::new("bot"));
/// let b = Fingerprint::of("refund", &serde_json::json!({"a": 2, "b": 1}), &Identity::new("bot"));
/// assert_eq!(a, b);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Computes the fingerprint of a call.
    pub fn of(action: &str, arguments: &Value, requester: &Identity) -> Self {
        let mut hasher = HashWriter(Sha256::new());
        // The envelope's keys are written in sorted order by hand, so that the
        // arguments need not be copied into a new object.
        let _ = hasher.write_all(b"{\"action\":");
        write_json_string(&mut hasher, action);
        let _ = hasher.write_all(b",\"arguments\":");
        write_canonical(&mut hasher, arguments);
        let _ = hasher.write_all(b",\"requester\":");
        write_json_string(&mut hasher, requester.as_str());
        let _ = hasher.write_all(b"}");
        Self(hasher.0.finalize().into())
    }

    /// The fingerprint as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

impl From<Fingerprint> for String {
    fn from(fingerprint: Fingerprint) -> Self {
        fingerprint.to_hex()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::from_hex(&text).ok_or_else(|| "a fingerprint is 64 hex digits".to_owned())
    }
}

/// The canonical JSON text of a value: object keys sorted by their UTF-8
/// bytes, no whitespace. Used for fingerprints and for the audit hash chain.
///
/// The key order is sorted here explicitly, so the result does not depend on
/// whether `serde_json`'s `preserve_order` feature is enabled somewhere in the
/// dependency graph. The value is walked with a stack of its own, so any
/// depth is fine.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_canonical(&mut out, value);
    out
}

/// Written with a stack of its own rather than by recursion, so that a value
/// nested however deep cannot exhaust the thread's stack.
fn write_canonical<W: std::io::Write>(out: &mut W, value: &Value) {
    /// A container being written: what is left of it.
    enum Open<'v> {
        Object(std::vec::IntoIter<(&'v String, &'v Value)>),
        Array(std::slice::Iter<'v, Value>),
    }
    let mut open: Vec<(Open<'_>, bool)> = Vec::new();
    let mut next = Some(value);
    loop {
        match next.take() {
            Some(Value::Object(map)) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let _ = out.write_all(b"{");
                open.push((Open::Object(entries.into_iter()), true));
            }
            Some(Value::Array(items)) => {
                let _ = out.write_all(b"[");
                open.push((Open::Array(items.iter()), true));
            }
            // Scalars have one serialization in serde_json; writing into a
            // Vec or a hasher cannot fail.
            Some(scalar) => {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
            None => {}
        }
        let Some((container, first)) = open.last_mut() else {
            return;
        };
        let comma = !std::mem::replace(first, false);
        match container {
            Open::Object(entries) => match entries.next() {
                Some((key, item)) => {
                    if comma {
                        let _ = out.write_all(b",");
                    }
                    write_json_string(out, key);
                    let _ = out.write_all(b":");
                    next = Some(item);
                }
                None => {
                    let _ = out.write_all(b"}");
                    open.pop();
                }
            },
            Open::Array(items) => match items.next() {
                Some(item) => {
                    if comma {
                        let _ = out.write_all(b",");
                    }
                    next = Some(item);
                }
                None => {
                    let _ = out.write_all(b"]");
                    open.pop();
                }
            },
        }
    }
}

fn write_json_string<W: std::io::Write>(out: &mut W, text: &str) {
    let _ = serde_json::to_writer(out, text);
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let value = json!({"b": [ {"z": 1, "a": null} ], "a": "x y", "é": 1, "Z": true});
        let text = String::from_utf8(canonical_json(&value)).unwrap_or_default();
        assert_eq!(text, r#"{"Z":true,"a":"x y","b":[{"a":null,"z":1}],"é":1}"#);
    }

    /// The straightforward recursive form, to compare with.
    fn reference(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push(b'{');
                for (index, (key, item)) in entries.into_iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    out.extend(serde_json::to_vec(key).unwrap());
                    out.push(b':');
                    reference(item, out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    reference(item, out);
                }
                out.push(b']');
            }
            scalar => out.extend(serde_json::to_vec(scalar).unwrap()),
        }
    }

    #[test]
    fn canonical_json_matches_the_recursive_form() {
        let values = [
            json!(null),
            json!([]),
            json!({}),
            json!([[], {}, [[]], {"a": {}}]),
            json!({"b": [1, 2.5, "x\"y", null, true], "a": {"d": [], "c": [{}]}, "": -0}),
            json!([{"z": [1, [2, [3, {"y": "\u{1F600}"}]]]}, "tail"]),
        ];
        for value in values {
            let mut expected = Vec::new();
            reference(&value, &mut expected);
            assert_eq!(canonical_json(&value), expected, "{value}");
        }
    }

    #[test]
    fn canonical_json_and_fingerprints_of_a_very_deep_value_fit_a_small_stack() {
        let done = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let depth = 100_000;
                let mut value = json!(1);
                for level in 0..depth {
                    value = if level % 2 == 0 {
                        Value::Array(vec![value])
                    } else {
                        Value::Object(serde_json::Map::from_iter([("k".to_owned(), value)]))
                    };
                }
                let text = canonical_json(&value);
                let _ = Fingerprint::of("deep", &value, &Identity::new("bot"));
                // Taken apart by hand: `Value`'s own drop is recursive.
                let mut stack = vec![value];
                while let Some(value) = stack.pop() {
                    match value {
                        Value::Array(items) => stack.extend(items),
                        Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
                        _ => {}
                    }
                }
                text
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            done.len(),
            100_000 / 2 * ("[".len() + "{\"k\":".len() + "]}".len()) + 1
        );
        assert!(done.starts_with(b"{\"k\":[{\"k\":[") && done.ends_with(b"]}]}"));
    }

    #[test]
    fn fingerprint_is_sha256_of_the_canonical_envelope() {
        let args = json!({"amount": 10, "customer": "c_1"});
        let requester = Identity::new("agent:bot");
        let envelope = json!({"action": "refund", "arguments": args, "requester": "agent:bot"});
        let expected: [u8; 32] = Sha256::digest(canonical_json(&envelope)).into();
        assert_eq!(
            Fingerprint::of("refund", &args, &requester).as_bytes(),
            &expected
        );
    }

    #[test]
    fn fingerprint_changes_with_any_part() {
        let args = json!({"amount": 10});
        let bot = Identity::new("bot");
        let base = Fingerprint::of("refund", &args, &bot);
        assert_ne!(base, Fingerprint::of("refund2", &args, &bot));
        assert_ne!(
            base,
            Fingerprint::of("refund", &json!({"amount": 11}), &bot)
        );
        assert_ne!(
            base,
            Fingerprint::of("refund", &args, &Identity::new("bot2"))
        );
    }

    #[test]
    fn fingerprint_hex_round_trips() {
        let fp = Fingerprint::of("a", &json!(null), &Identity::new("b"));
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
        assert_eq!(Fingerprint::from_hex("zz"), None);
    }
}
