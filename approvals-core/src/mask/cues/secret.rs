//! Secrets after a secret-like key: quoted or bare values, `Authorization`
//! headers, high-entropy tokens; placeholders stay visible.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn is_placeholder(value: &[u8]) -> bool {
    let lower: Vec<u8> = value.iter().map(u8::to_ascii_lowercase).collect();
    value.len() < 3
        || value.iter().all(|&b| {
            matches!(
                b,
                b'*' | b'x' | b'X' | b'.' | b'#' | b'-' | b'\xe2' | b'\x80' | b'\xa2'
            )
        })
        || value.starts_with(b"${")
        || value.starts_with(b"$")
        || value.starts_with(b"{{")
        || value.starts_with(b"<")
        || value.starts_with(b"[")
        || matches!(
            lower.as_slice(),
            b"null"
                | b"none"
                | b"true"
                | b"false"
                | b"redacted"
                | b"required"
                | b"optional"
                | b"string"
                | b"undefined"
                | b"empty"
                | b"changeme"
                | b"hidden"
                | b"secret"
                | b"password"
                | b"token"
        )
}

/// The value after a secret-like key, or a high-entropy token right after
/// the word.
pub(super) fn secret_value(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
    let dashed = i >= 2 && &scanner.bytes[i - 2..i] == b"--";
    if let Some(mut start) = separator(scanner, j, dashed) {
        if scanner
            .bytes
            .get(start)
            .is_some_and(|&b| matches!(b, b'"' | b'\'' | b'`'))
        {
            start += 1;
        }
        let mut escaped_quote = false;
        if scanner.bytes.get(start) == Some(&b'\\') && scanner.bytes.get(start + 1) == Some(&b'"') {
            start += 2;
            escaped_quote = true;
        }
        // A private key under a secret key is masked whole, to its END line.
        if scanner.bytes[start..].starts_with(b"-----BEGIN") {
            let end = scanner.dash(start);
            if scanner.found.last().is_some_and(|d| d.range.start == start) {
                return Some(end);
            }
        }
        let end = if escaped_quote {
            escaped_string_end(scanner, start, 4096)
        } else if scanner.bytes.get(start.wrapping_sub(1)) == Some(&b'"') {
            string_end(scanner, start, 4096)
        } else {
            quoted(scanner, start, 512).unwrap_or_else(|| value_end(scanner, start, 512))
        };
        let value = &scanner.bytes[start..end];
        if is_placeholder(value) {
            return None;
        }
        // `token: Bearer abc…`: the scheme word stays visible.
        if let Some(space) = value.iter().position(|&b| b == b' ') {
            let scheme = &value[..space];
            if scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"basic") {
                scanner.push(Kind::Secret, start + space + 1..end, 0.95);
                return Some(end);
            }
        }
        scanner.push(Kind::Secret, start..end, 0.9);
        return Some(end);
    }
    // `secret 8f0c…`, `the token is q8Zr2…`: a high-entropy token close by.
    let mut k = j;
    for _ in 0..3 {
        let start = scanner.run_end(k, 4, |b| matches!(b, b' ' | b'"' | b'\'' | b'`'));
        let end = value_end(scanner, start, 512);
        if end == start {
            return None;
        }
        let token = &scanner.bytes[start..end];
        if high_entropy(token) {
            scanner.push(Kind::Secret, start..end, 0.7);
            return Some(end);
        }
        if !token.iter().all(u8::is_ascii_alphabetic) || token.len() > 6 {
            return None;
        }
        k = end;
    }
    None
}

pub(super) fn high_entropy(token: &[u8]) -> bool {
    token.len() >= 16
        && token.iter().any(u8::is_ascii_digit)
        && token.iter().any(u8::is_ascii_alphabetic)
        && validate::entropy(token) >= 3.3
}

/// A bearer or other credential token at `start`, at least `min` long.
pub(super) fn token_secret(scanner: &mut Scanner<'_>, start: usize, min: usize) -> Option<usize> {
    let end = value_end(scanner, start, 4096);
    if end - start < min {
        return None;
    }
    scanner.push(Kind::Secret, start..end, 0.95);
    Some(end)
}

/// `Authorization: Bearer abc`, `Authorization: Basic dXNlcjpwYXNz`,
/// `authorization=abc`.
pub(super) fn authorization(scanner: &mut Scanner<'_>, j: usize) -> Option<usize> {
    let mut start = separator(scanner, j, false)?;
    if scanner
        .bytes
        .get(start)
        .is_some_and(|&b| matches!(b, b'"' | b'\''))
    {
        start += 1;
    }
    let first_end = value_end(scanner, start, 64);
    if scanner.bytes.get(first_end) == Some(&b' ') {
        let scheme = &scanner.bytes[start..first_end];
        if scheme.len() <= 12 && scheme.iter().all(u8::is_ascii_alphabetic) {
            return token_secret(scanner, first_end + 1, 1);
        }
    }
    token_secret(scanner, start, 1)
}
