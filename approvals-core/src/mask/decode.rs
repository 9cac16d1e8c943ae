//! Escaped and encoded text: JSON string escapes and URL percent-encoding,
//! decoded with a map back to the original bytes.
//!
//! A private key in a JSON string has its line breaks written `\n`; a
//! password in a query string has its `/` written `%2F`. The scanner reads
//! the text as written and, for each line that holds an escape, reads the
//! decoded line again: a value found there is masked over the whole of its
//! original span, escapes included.

use std::ops::Range;

/// Decoded text and, for each of its bytes, where it came from.
pub(crate) struct Decoded {
    /// The decoded text.
    pub(crate) text: String,
    /// `origin[k]` is the offset in the original text of the escape or
    /// character that produced decoded byte `k`; `origin[text.len()]` is the
    /// end of the decoded region.
    origin: Vec<usize>,
}

impl Decoded {
    /// The original span of the decoded range `range`.
    pub(crate) fn original(&self, range: Range<usize>) -> Range<usize> {
        self.origin[range.start]..self.origin[range.end]
    }
}

/// Whether the bytes at `i` (a `\` or `%`) start an escape that
/// [`decode`] reads.
#[inline]
pub(crate) fn is_escape(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'\\' => matches!(
            bytes.get(i + 1),
            Some(b'n' | b'r' | b't' | b'"' | b'\\' | b'/' | b'u' | b'b' | b'f' | b'\'')
        ),
        b'%' => {
            bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        }
        _ => false,
    }
}

/// How many times escapes are undone: a JSON string inside a JSON string
/// inside a log line has its line breaks written `\\n`.
const LEVELS: usize = 3;

/// Decodes `text[range]` (JSON escapes and percent-encoding), up to
/// [`LEVELS`] times while escapes remain. `None` when nothing changes.
pub(crate) fn decode(text: &str, range: Range<usize>) -> Option<Decoded> {
    let mut current = once(&text[range.clone()], range.start, true)?;
    for _ in 1..LEVELS {
        let bytes = current.text.as_bytes();
        if !(0..bytes.len()).any(|k| is_escape(bytes, k)) {
            break;
        }
        let Some(next) = once(&current.text, 0, true) else {
            break;
        };
        // Compose the maps: the next level's offsets point into this one.
        let origin = next.origin.iter().map(|&k| current.origin[k]).collect();
        current = Decoded {
            text: next.text,
            origin,
        };
    }
    Some(current)
}

/// One level of decoding of `text`, which starts at `base` in the original.
/// With `all_percent` off, only percent-escapes of ASCII bytes are decoded
/// (the fallback when decoding them all does not give UTF-8).
fn once(text: &str, base: usize, all_percent: bool) -> Option<Decoded> {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut origin: Vec<usize> = Vec::with_capacity(bytes.len() + 1);
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (decoded, used): (Option<DecodedChar>, usize) = match b {
            b'\\' => json_escape(bytes, i),
            b'%' => match percent(bytes, i) {
                Some(byte) if all_percent || byte < 0x80 => (Some(DecodedChar::Byte(byte)), 3),
                _ => (None, 1),
            },
            _ => (None, 1),
        };
        match decoded {
            Some(DecodedChar::Byte(byte)) => {
                out.push(byte);
                origin.push(base + i);
                changed = true;
            }
            Some(DecodedChar::Char(c)) => {
                let mut buffer = [0u8; 4];
                for &byte in c.encode_utf8(&mut buffer).as_bytes() {
                    out.push(byte);
                    origin.push(base + i);
                }
                changed = true;
            }
            None => {
                out.push(b);
                origin.push(base + i);
            }
        }
        i += used;
    }
    if !changed {
        return None;
    }
    origin.push(base + bytes.len());
    match String::from_utf8(out) {
        Ok(text) => Some(Decoded { text, origin }),
        Err(_) if all_percent => once(text, base, false),
        Err(_) => None,
    }
}

enum DecodedChar {
    Byte(u8),
    Char(char),
}

fn hex(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

fn percent(bytes: &[u8], i: usize) -> Option<u8> {
    let high = hex(*bytes.get(i + 1)?)?;
    let low = hex(*bytes.get(i + 2)?)?;
    u8::try_from(high * 16 + low).ok()
}

fn unicode_unit(bytes: &[u8], i: usize) -> Option<u32> {
    let digits = bytes.get(i..i + 4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + hex(d)?))
}

/// A JSON escape at `i` (a `\`): what it stands for and its length.
fn json_escape(bytes: &[u8], i: usize) -> (Option<DecodedChar>, usize) {
    let byte = |b: u8| (Some(DecodedChar::Byte(b)), 2);
    match bytes.get(i + 1) {
        Some(b'n') => byte(b'\n'),
        Some(b'r') => byte(b'\r'),
        Some(b't') => byte(b'\t'),
        Some(b'b') => byte(b' '),
        Some(b'f') => byte(b' '),
        Some(&c @ (b'"' | b'\\' | b'/' | b'\'')) => byte(c),
        Some(b'u') => {
            let Some(unit) = unicode_unit(bytes, i + 2) else {
                return (None, 1);
            };
            // A surrogate pair: `\ud83d\ude00`.
            if (0xD800..0xDC00).contains(&unit)
                && bytes.get(i + 6) == Some(&b'\\')
                && bytes.get(i + 7) == Some(&b'u')
            {
                if let Some(low) =
                    unicode_unit(bytes, i + 8).filter(|l| (0xDC00..0xE000).contains(l))
                {
                    let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    let c = char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER);
                    return (Some(DecodedChar::Char(c)), 12);
                }
            }
            let c = char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER);
            (Some(DecodedChar::Char(c)), 6)
        }
        _ => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_decode_and_map_back() {
        let text = r#"k: "a\nb\"c\u00e9\/d\ud83d\ude00e""#;
        let decoded = decode(text, 0..text.len()).expect("escapes");
        assert_eq!(decoded.text, "k: \"a\nb\"cé/d😀e\"");
        let at = decoded.text.find('é').expect("é");
        let range = decoded.original(at..at + 'é'.len_utf8());
        assert_eq!(&text[range], r"\u00e9");
        let at = decoded.text.find('😀').expect("emoji");
        assert_eq!(&text[decoded.original(at..at + 4)], r"\ud83d\ude00");
    }

    #[test]
    fn percent_escapes_decode_and_nested_escapes_unwind() {
        let text = "a%2Fb%C3%A9 x";
        let decoded = decode(text, 0..text.len()).expect("escapes");
        assert_eq!(decoded.text, "a/bé x");
        assert_eq!(&text[decoded.original(0..3)], "a%2Fb");
        // Not UTF-8 once decoded: only the ASCII escapes are read.
        let text = "%FF%2F";
        assert_eq!(decode(text, 0..text.len()).expect("ascii").text, "%FF/");
        // Two levels: `\\n` is a line break.
        let text = r"x\\ny";
        let decoded = decode(text, 0..text.len()).expect("escapes");
        assert_eq!(decoded.text, "x\ny");
        assert_eq!(&text[decoded.original(1..2)], r"\\n");
        assert!(decode("plain", 0..5).is_none());
    }
}
