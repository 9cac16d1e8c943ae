//! Postal addresses: after an address key, from a street number and
//! suffix, and postcodes and ZIP codes with their state or city.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A postal address after an address key: a quoted string, or a street
/// address and what follows it, or a run of capitalized words, numbers and
/// codes (`Flat 2, 10 Downing St, London SW1A 2AA`).
pub(super) fn address_value(scanner: &mut Scanner<'_>, mut start: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    if bytes.get(start).is_some_and(|&b| matches!(b, b'"' | b'\'')) {
        start += 1;
        let end = quoted(scanner, start, 160)?;
        let value = &bytes[start..end];
        let letters = value.iter().filter(|b| b.is_ascii_alphabetic()).count();
        if !value.contains(&b' ')
            || letters < 3
            || value.starts_with(b"0x")
            || value.contains(&b'@')
        {
            return None;
        }
        scanner.push(Kind::Address, start..end, 0.75);
        return Some(end);
    }
    if bytes.get(start) == Some(&b'\\') && bytes.get(start + 1) == Some(&b'"') {
        return address_value(scanner, start + 1);
    }
    // Capitalized words, numbers and codes, separated by a space or `, `.
    let mut end = start;
    let mut tokens = 0;
    let mut k = start;
    loop {
        let token_end = scanner.run_end(k, 32, |b| {
            is_word(b) || b == b'\'' || b == b'-' || b == b'.' || b == b'#'
        });
        let token = &bytes[k..token_end];
        let token = token.strip_suffix(b".").unwrap_or(token);
        let ok = !token.is_empty()
            && (token[0].is_ascii_uppercase()
                || token[0].is_ascii_digit()
                || token[0] == b'#'
                || token[0] >= 0x80)
            && !token.contains(&b'@');
        if !ok || tokens == 12 {
            break;
        }
        tokens += 1;
        end = k + token.len();
        if bytes.get(token_end) == Some(&b',') && bytes.get(token_end + 1) == Some(&b' ') {
            k = token_end + 2;
        } else if bytes.get(token_end) == Some(&b' ') {
            k = token_end + 1;
        } else {
            end = if token_end > end && bytes[token_end - 1] == b'.' && token.len() <= 4 {
                token_end
            } else {
                end
            };
            break;
        }
    }
    if tokens < 2 {
        return None;
    }
    scanner.push(Kind::Address, start..end, 0.75);
    Some(end)
}

/// A street address ending with the suffix word `i..j`: a house number and
/// up to four capitalized words before it, then unit, city, state, ZIP or
/// postcode after it.
pub(super) fn street(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    // Walk back over capitalized words (or ordinals such as `5th`).
    let mut start = i;
    let mut words = 0;
    loop {
        if start < 2 || bytes[start - 1] != b' ' {
            return None;
        }
        let prev_end = start - 1;
        let mut prev_start = prev_end;
        while prev_start > 0
            && (is_word(bytes[prev_start - 1]) || bytes[prev_start - 1] == b'\'')
            && prev_end - prev_start < 32
        {
            prev_start -= 1;
        }
        let word = &bytes[prev_start..prev_end];
        if word.is_empty() {
            return None;
        }
        let number = word.len() <= 6
            && word[0].is_ascii_digit()
            && word.iter().filter(|b| b.is_ascii_alphabetic()).count() <= 1;
        let ordinal = word[0].is_ascii_digit()
            && (word.ends_with(b"th")
                || word.ends_with(b"st")
                || word.ends_with(b"nd")
                || word.ends_with(b"rd"));
        if number && !ordinal && words > 0 {
            start = prev_start;
            break;
        }
        if words == 4 || !(word[0].is_ascii_uppercase() || ordinal) {
            return None;
        }
        words += 1;
        start = prev_start;
    }
    if start > 0 && is_word(bytes[start - 1]) {
        return None;
    }
    let mut end = j;
    if bytes.get(end) == Some(&b'.') {
        end += 1;
    }
    end = address_tail(scanner, end);
    scanner.push(Kind::Address, start..end, 0.7);
    Some(end)
}

/// After a street: `, Apt 4B`, `, Springfield`, `, IL 62704`, ` 94043`,
/// `, London NW1 6XE`.
pub(super) fn address_tail(scanner: &Scanner<'_>, mut end: usize) -> usize {
    let bytes = scanner.bytes;
    for _ in 0..5 {
        let mut k = end;
        if bytes.get(k) == Some(&b',') {
            k += 1;
        }
        if bytes.get(k) != Some(&b' ') {
            break;
        }
        k += 1;
        // A unit: `Apt 4B`, `Suite 200`, `Unit 5`, `#12`.
        let unit_end = scanner.run_end(k, 8, |b| b.is_ascii_alphabetic() || b == b'#' || b == b'.');
        let unit = &bytes[k..unit_end];
        let is_unit = matches!(
            unit,
            b"Apt"
                | b"Apt."
                | b"Suite"
                | b"Unit"
                | b"Flat"
                | b"Floor"
                | b"Room"
                | b"Ste"
                | b"Ste."
                | b"#"
        );
        if is_unit {
            let value_start = if unit == b"#" {
                unit_end
            } else {
                skip_spaces(scanner, unit_end, 1)
            };
            let value_end =
                scanner.run_end(value_start, 8, |b| b.is_ascii_alphanumeric() || b == b'-');
            if value_end > value_start {
                end = value_end;
                continue;
            }
            break;
        }
        // A ZIP code, with a state before it or alone.
        if let Some(zip_end) = zip(scanner, k) {
            end = zip_end;
            continue;
        }
        // A two-letter state or a UK postcode.
        if k + 2 <= bytes.len()
            && bytes[k].is_ascii_uppercase()
            && bytes.get(k + 1).is_some_and(u8::is_ascii_uppercase)
            && !bytes.get(k + 2).is_some_and(|&b| is_word(b))
        {
            end = k + 2;
            continue;
        }
        let word_end = scanner.word_end(k);
        if let Some(postcode_end) = uk_postcode(scanner, k, word_end) {
            end = postcode_end;
            continue;
        }
        // A city: capitalized words.
        match capitalized_words_end(scanner, k, 3) {
            Some(city_end) => end = city_end,
            None => break,
        }
    }
    end
}

/// A US ZIP code (`62704`, `62704-1234`) at `k`.
pub(super) fn zip(scanner: &Scanner<'_>, k: usize) -> Option<usize> {
    let end = scanner.run_end(k, 6, |b| b.is_ascii_digit());
    if end - k != 5 {
        return None;
    }
    let mut end = end;
    if scanner.bytes.get(end) == Some(&b'-') {
        let plus4 = scanner.run_end(end + 1, 5, |b| b.is_ascii_digit());
        if plus4 - end - 1 == 4 {
            end = plus4;
        }
    }
    (!scanner.bytes.get(end).is_some_and(|&b| is_word(b))).then_some(end)
}

/// A UK postcode (`SW1A 1AA`, `NW1 6XE`, `M1 1AE`): the outward code is
/// the word `i..j`.
pub(super) fn uk_postcode(scanner: &Scanner<'_>, i: usize, j: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    let outward = &bytes[i..j];
    if !(2..=4).contains(&outward.len()) || !outward[0].is_ascii_uppercase() {
        return None;
    }
    let letters = outward
        .iter()
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    if !(1..=2).contains(&letters) || !outward.get(letters).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if !outward[letters + 1..]
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return None;
    }
    let inward = bytes.get(j + 1..j + 4)?;
    if bytes[j] != b' '
        || !inward[0].is_ascii_digit()
        || !inward[1].is_ascii_uppercase()
        || !inward[2].is_ascii_uppercase()
    {
        return None;
    }
    if bytes.get(j + 4).is_some_and(|&b| is_word(b)) {
        return None;
    }
    Some(j + 4)
}

/// A UK postcode on its own.
pub(crate) fn postcode(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
    if !scanner.bytes[i].is_ascii_uppercase() || j - i > 4 || j - i < 2 {
        return None;
    }
    let end = uk_postcode(scanner, i, j)?;
    scanner.push(Kind::Address, i..end, 0.6);
    Some(end)
}

/// `Springfield, IL 62704`: a city, a state and a ZIP code, found from the
/// ZIP code (a one-group number run).
pub(crate) fn state_zip(scanner: &mut Scanner<'_>, run: &NumberRun) -> Option<usize> {
    if run.count > 2 {
        return None;
    }
    let (start, _) = run.groups[0];
    let bytes = scanner.bytes;
    let end = zip(scanner, start)?;
    if start < 6 || bytes[start - 1] != b' ' {
        return None;
    }
    let state = &bytes[start - 3..start - 1];
    if !state.iter().all(u8::is_ascii_uppercase)
        || bytes[start - 4] != b' '
        || bytes[start - 5] != b','
    {
        return None;
    }
    // Back over the city's capitalized words.
    let mut city_start = start - 5;
    let mut words = 0;
    while words < 3 && city_start > 0 {
        let word_end = city_start;
        let mut word_start = word_end;
        while word_start > 0
            && (bytes[word_start - 1].is_ascii_alphabetic() || bytes[word_start - 1] >= 0x80)
        {
            word_start -= 1;
        }
        if word_start == word_end || !bytes[word_start].is_ascii_uppercase() {
            break;
        }
        city_start = word_start;
        words += 1;
        if city_start == 0 || bytes[city_start - 1] != b' ' {
            break;
        }
        if !bytes
            .get(city_start.wrapping_sub(2))
            .is_some_and(u8::is_ascii_alphabetic)
        {
            break;
        }
        city_start -= 1;
    }
    if words == 0 {
        return None;
    }
    while bytes[city_start] == b' ' {
        city_start += 1;
    }
    scanner.push(Kind::Address, city_start..end, 0.6);
    Some(end)
}
