//! Dates of birth after a birth key, in numeric or month-name forms.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// A month name or its abbreviation at `at`; returns its end.
pub(super) fn month(scanner: &Scanner<'_>, at: usize) -> Option<usize> {
    let end = scanner.run_end(at, 10, |b| b.is_ascii_alphabetic());
    let word = &scanner.bytes[at..end];
    if word.len() < 3 {
        return None;
    }
    let lower: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
    const FULL: [&[u8]; 12] = [
        b"january",
        b"february",
        b"march",
        b"april",
        b"may",
        b"june",
        b"july",
        b"august",
        b"september",
        b"october",
        b"november",
        b"december",
    ];
    let ok =
        MONTHS.iter().any(|m| lower == *m) || FULL.iter().any(|m| lower == *m) || lower == b"sept";
    if !ok {
        return None;
    }
    Some(if scanner.bytes.get(end) == Some(&b'.') {
        end + 1
    } else {
        end
    })
}

pub(super) fn number_at(
    scanner: &Scanner<'_>,
    at: usize,
    min: usize,
    max: usize,
) -> Option<(usize, u32)> {
    let end = scanner.run_end(at, max + 1, |b| b.is_ascii_digit());
    let len = end - at;
    if len < min || len > max {
        return None;
    }
    let value = scanner.text[at..end].parse().ok()?;
    Some((end, value))
}

/// A date at `at`: `1985-03-14`, `14/03/1985`, `03/14/85`, `14.03.1985`,
/// `14 March 1985`, `March 14, 1985`, `14th Mar 1985`.
pub(super) fn date(scanner: &Scanner<'_>, at: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    let sep_at = |k: usize| {
        bytes
            .get(k)
            .copied()
            .filter(|b| matches!(b, b'-' | b'/' | b'.'))
    };
    if let Some((end, first)) = number_at(scanner, at, 1, 4) {
        if let Some(sep) = sep_at(end) {
            let (end2, second) = number_at(scanner, end + 1, 1, 2)?;
            if sep_at(end2) != Some(sep) {
                return None;
            }
            let (end3, third) = number_at(scanner, end2 + 1, 2, 4)?;
            let ymd = end - at == 4 && (1..=12).contains(&second) && (1..=31).contains(&third);
            let dmy_or_mdy = end - at <= 2
                && ((1..=31).contains(&first) && (1..=12).contains(&second)
                    || (1..=12).contains(&first) && (1..=31).contains(&second));
            return (ymd && (1880..=2100).contains(&first) || dmy_or_mdy).then_some(end3);
        }
        // `14 March 1985`, `14th of March 1985`.
        if end - at > 2 {
            return None;
        }
        let mut k = scanner.run_end(end, 2, |b| b.is_ascii_alphabetic());
        k = skip_spaces(scanner, k, 1);
        if bytes[k..].starts_with(b"of ") {
            k += 3;
        }
        let month_end = month(scanner, k)?;
        let k = skip_spaces(scanner, month_end, 1);
        let k = if bytes.get(k) == Some(&b',') {
            skip_spaces(scanner, k + 1, 1)
        } else {
            k
        };
        let (year_end, _) = number_at(scanner, k, 4, 4)?;
        return Some(year_end);
    }
    // `March 14, 1985`.
    let month_end = month(scanner, at)?;
    let k = skip_spaces(scanner, month_end, 1);
    let (day_end, day) = number_at(scanner, k, 1, 2)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let k = scanner.run_end(day_end, 2, |b| b.is_ascii_alphabetic());
    let k = if bytes.get(k) == Some(&b',') {
        k + 1
    } else {
        k
    };
    let k = skip_spaces(scanner, k, 1);
    let (year_end, _) = number_at(scanner, k, 4, 4)?;
    Some(year_end)
}

/// A date shortly after a birth cue.
pub(super) fn birth_date(scanner: &mut Scanner<'_>, j: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    let mut k = j;
    let limit = (j + 32).min(bytes.len());
    while k < limit {
        let b = bytes[k];
        if b.is_ascii_digit() || b.is_ascii_alphabetic() {
            if let Some(end) = date(scanner, k) {
                scanner.push(Kind::DateOfBirth, k..end, 0.85);
                return Some(end);
            }
            // Skip a short linking word (`on`, `is`, `of`, `date`).
            let word_end = scanner.word_end(k);
            if word_end - k > 5 || b.is_ascii_digit() {
                return None;
            }
            k = word_end;
        } else if matches!(b, b'\n') {
            return None;
        } else {
            k += 1;
        }
    }
    None
}
