//! Names after a name key or a title: quoted strings or capitalized words
//! that are not common words.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The value of a name key: a quoted string, or capitalized words.
pub(super) fn name_value(scanner: &mut Scanner<'_>, j: usize) -> Option<usize> {
    if let Some(start) = separator(scanner, j, false) {
        return name_value_from(scanner, start);
    }
    // `my name is Alibek Godina`, `her maiden name is Alfreðsdóttir`.
    let rest = &scanner.bytes[j..];
    let skip = [&b" is "[..], b"'s ", b" was "]
        .iter()
        .find(|prefix| rest.starts_with(prefix))?
        .len();
    capitalized_name(scanner, j + skip, 4, 0.6)
}

pub(super) fn name_value_from(scanner: &mut Scanner<'_>, mut start: usize) -> Option<usize> {
    if scanner.bytes.get(start) == Some(&b'\\') && scanner.bytes.get(start + 1) == Some(&b'"') {
        start += 1;
    }
    if scanner
        .bytes
        .get(start)
        .is_some_and(|&b| matches!(b, b'"' | b'\''))
    {
        start += 1;
        let end = quoted(scanner, start, 96)?;
        let value = &scanner.bytes[start..end];
        let letters = value.iter().any(|&b| b.is_ascii_alphabetic() || b >= 0x80);
        if !letters || value.contains(&b'@') || end - start > 80 {
            return None;
        }
        scanner.push(Kind::Name, start..end, 0.8);
        return Some(end);
    }
    capitalized_name(scanner, start, 4, 0.7)
}

/// Common capitalized words that are not names.
pub(super) fn not_a_name(word: &[u8]) -> bool {
    matches!(
        word,
        b"The"
            | b"A"
            | b"An"
            | b"All"
            | b"Team"
            | b"Everyone"
            | b"There"
            | b"Folks"
            | b"Guys"
            | b"World"
            | b"Support"
            | b"Sir"
            | b"Madam"
            | b"Customer"
            | b"Friend"
            | b"Friends"
            | b"Hiring"
            | b"Manager"
            | b"Admin"
            | b"Service"
            | b"Sales"
            | b"Billing"
            | b"It"
            | b"This"
            | b"That"
            | b"We"
            | b"You"
            | b"I"
            | b"My"
            | b"Our"
            | b"Your"
            | b"Please"
            | b"Thanks"
            | b"Thank"
            | b"Regards"
            | b"Best"
            | b"Hi"
            | b"Hello"
            | b"Dear"
            | b"Ok"
            | b"OK"
            | b"Yes"
            | b"No"
            | b"Not"
            | b"None"
            | b"Null"
            | b"Unknown"
            | b"User"
            | b"Client"
            | b"Agent"
            | b"Bot"
            | b"System"
            | b"Error"
            | b"Warning"
            | b"Info"
            | b"Debug"
            | b"Request"
            | b"Response"
            | b"Order"
            | b"Account"
            | b"Monday"
            | b"Tuesday"
            | b"Wednesday"
            | b"Thursday"
            | b"Friday"
            | b"Saturday"
            | b"Sunday"
            | b"Again"
            | b"Morning"
            | b"Afternoon"
            | b"Evening"
            | b"Note"
    )
}

/// One capitalized word (`Jane`, `O'Brien`, `Smith-Jones`, `José`) or an
/// initial (`J.`) at `at`; returns its end.
pub(super) fn capitalized_word(scanner: &Scanner<'_>, at: usize) -> Option<usize> {
    let bytes = scanner.bytes;
    let first = *bytes.get(at)?;
    let upper = first.is_ascii_uppercase() || (0xC3..=0xC5).contains(&first);
    if !upper || (at > 0 && is_word(bytes[at - 1])) {
        return None;
    }
    let mut end = scanner.run_end(at, 32, |b| is_word(b) || b == b'\'' || b == b'-');
    while end > at && matches!(bytes[end - 1], b'\'' | b'-') {
        end -= 1;
    }
    let word = &bytes[at..end];
    if word.len() == 1 && bytes.get(end) == Some(&b'.') {
        return Some(end + 1);
    }
    let rest_lower = word[1..]
        .iter()
        .all(|&b| !b.is_ascii_uppercase() || b == b'c');
    let mc = word.starts_with(b"Mc") || word.starts_with(b"Mac") || word.starts_with(b"O'");
    if word.len() < 2
        || word.iter().any(u8::is_ascii_digit)
        || word.contains(&b'_')
        || !(rest_lower || mc)
    {
        return None;
    }
    Some(end)
}

/// The end of up to `max` capitalized words separated by single spaces.
pub(super) fn capitalized_words_end(
    scanner: &Scanner<'_>,
    start: usize,
    max: usize,
) -> Option<usize> {
    let first_end = capitalized_word(scanner, start)?;
    if not_a_name(&scanner.bytes[start..first_end]) {
        return None;
    }
    let mut end = first_end;
    for _ in 1..max {
        if scanner.bytes.get(end) != Some(&b' ') {
            break;
        }
        let Some(next) = capitalized_word(scanner, end + 1) else {
            break;
        };
        if not_a_name(&scanner.bytes[end + 1..next]) {
            break;
        }
        end = next;
    }
    Some(end)
}

pub(super) fn capitalized_name(
    scanner: &mut Scanner<'_>,
    start: usize,
    max: usize,
    confidence: f32,
) -> Option<usize> {
    let end = capitalized_words_end(scanner, start, max)?;
    scanner.push(Kind::Name, start..end, confidence);
    Some(end)
}
