//! `approvals_core::canonical_json` on any JSON document.
//!
//! Properties checked for every input that parses as JSON:
//!
//! - the output is JSON that parses back to the same value, but for floats
//!   that serde_json's parser reads one unit in the last place off (it is not
//!   correctly rounded without its `float_roundtrip` feature: the input
//!   `12345678901234567897e23` is one, kept in the corpus);
//! - it is a fixed point: the canonical form of its own parse is itself,
//!   whenever that parse is the same value;
//! - it does not depend on key order: the same value written with every
//!   object's keys in reverse order has the same canonical form;
//! - it has no whitespace outside strings;
//! - where serde_json's maps are sorted (its `preserve_order` feature off,
//!   as in this build), it equals serde_json's compact output byte for
//!   byte, so keys are in ascending order of their UTF-8 bytes.

use approvals_core::canonical_json;
use serde_json::{Map, Value};

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = canonical_json(&value);
    let reparsed: Value = match serde_json::from_slice(&canonical) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("canonical_json wrote text that is not JSON: {error}"),
    };
    if reparsed == value {
        assert_eq!(
            canonical_json(&reparsed),
            canonical,
            "the canonical form is not a fixed point"
        );
    } else {
        // serde_json's parser (without its `float_roundtrip` feature) may
        // read a long decimal one unit in the last place off, so a float
        // can come back as its neighbour: that, and nothing else, may differ.
        assert!(
            same_but_for_float_ulps(&reparsed, &value),
            "the canonical form reads back as another value: {reparsed} != {value}"
        );
    }

    let mut reversed = Vec::new();
    write_keys_reversed(&value, &mut reversed);
    let reversed: Value = match serde_json::from_slice(&reversed) {
        Ok(reversed) => reversed,
        Err(error) => panic!("the reversed-key text is not JSON: {error}"),
    };
    // The reversed text is read by the same parser: the same value, but for
    // floats it reads one unit off (see above).
    if reversed == value {
        assert_eq!(
            canonical_json(&reversed),
            canonical,
            "the canonical form depends on key order"
        );
    } else {
        assert!(
            same_but_for_float_ulps(&reversed, &value),
            "the reversed-key text reads back as another value"
        );
    }

    check_layout(&canonical);
    // With sorted maps, serde_json's own compact writer sorts keys by their
    // bytes too (`String`'s order), so the two must agree byte for byte.
    if maps_are_sorted() {
        let compact = serde_json::to_vec(&value).unwrap_or_default();
        assert_eq!(
            canonical, compact,
            "canonical_json differs from sorted compact JSON"
        );
    }
}

/// Whether `a` and `b` are equal but for floats one unit in the last place
/// apart.
fn same_but_for_float_ulps(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x != y => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() && x.signum() == y.signum() => {
                x.to_bits().abs_diff(y.to_bits()) <= 1 && !a.is_i64() && !a.is_u64()
            }
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_but_for_float_ulps(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_but_for_float_ulps(vx, vy))
        }
        (a, b) => a == b,
    }
}

/// Writes `value` as JSON with each object's keys in descending order, so
/// that the text differs from the canonical form wherever an object has two
/// keys or more. serde_json's parser nests at most 128 deep, so recursion is
/// bounded.
fn write_keys_reversed(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
            out.extend_from_slice(b"{ ");
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.extend_from_slice(b" , ");
                }
                out.extend_from_slice(&serde_json::to_vec(key).unwrap_or_default());
                out.extend_from_slice(b" : ");
                write_keys_reversed(item, out);
            }
            out.extend_from_slice(b" }");
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_keys_reversed(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(&serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// No whitespace outside strings.
fn check_layout(canonical: &[u8]) {
    let mut in_string = false;
    let mut escaped = false;
    for &byte in canonical {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else {
            assert!(
                !byte.is_ascii_whitespace(),
                "the canonical form has whitespace outside strings"
            );
        }
    }
}

/// Whether serde_json's maps iterate in key order (they do unless its
/// `preserve_order` feature is on somewhere in the build).
fn maps_are_sorted() -> bool {
    let mut map = Map::new();
    map.insert("b".to_owned(), Value::Null);
    map.insert("a".to_owned(), Value::Null);
    map.keys().next().is_some_and(|first| first == "a")
}
