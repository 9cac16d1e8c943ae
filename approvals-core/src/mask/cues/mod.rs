//! Detectors started by a word: secrets after a secret-like key, names after
//! the cues people write, street addresses, dates of birth, and the context
//! words that other detectors consult (`version`, `phone`, `ssn`).

use super::kind::Kind;
use super::scan::{NumberRun, Scanner, is_word};
use super::validate;

mod address;
mod date;
mod gazetteer;
mod name;
mod person;
mod secret;
mod table;

use self::address::*;
pub(crate) use self::address::{postcode, state_zip};
use self::date::*;
use self::name::*;
pub(crate) use self::person::person;
use self::secret::*;
use self::table::*;

/// A context word remembered for the rest of the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cue {
    /// `version`, `release`, `node`, `upgraded`: dotted numbers nearby are
    /// versions, not IP addresses.
    Version,
    /// `phone`, `tel`, `mobile`: bare digit runs nearby are phone numbers.
    Phone,
    /// `ssn`, `social`: a bare nine-digit run nearby is an SSN.
    Ssn,
    /// `login`, `client`, `request`, `remote`: what follows identifies a
    /// client, whatever version word came before.
    Client,
}

/// What a word announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keyword {
    Cue(Cue),
    /// A key whose value is a secret (`password`, `api_key`, `token`).
    Secret,
    /// `authorization`: the value after the scheme word is a secret.
    Authorization,
    /// `bearer`: the next token is a secret.
    Bearer,
    /// `cookie`: the whole value is a secret.
    Cookie,
    /// `name`, `first_name`, `customer_name`: the value is a name.
    NameKey,
    /// `customer`, `patient`, `from`: capitalized words after it are a name.
    NameLead,
    /// `mr`, `mrs`, `dr`: the capitalized words after it are a name.
    Title,
    /// `dear`, `hi`, `hello`: a name, then a comma or the end of the line.
    Salutation,
    /// `regards`, `thanks`: a name on the next line.
    Signoff,
    /// `address`, `street`: the value is a postal address.
    AddressKey,
    /// `street`, `avenue`, `rd`: an address ends here if a house number and
    /// capitalized words come before.
    StreetSuffix,
    /// `born`, `dob`, `birth`: a date after it is a date of birth.
    Birth,
}

pub(super) const MAX_KEYWORD: usize = 40;

/// Checks the word `i..j` against the keyword table and runs what it
/// announces. Returns where scanning resumes when it found something.
///
/// Inlined into the scanner's loop: most words are refused here, and only
/// keywords pay for the call to what they announce.
#[inline]
pub(crate) fn keyword(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
    let len = j - i;
    if len > MAX_KEYWORD {
        return None;
    }
    let original = &scanner.bytes[i..j];
    if !original[0].is_ascii_alphabetic() {
        return None;
    }
    let mut buffer = [0u8; MAX_KEYWORD];
    let keyword = classify(original, &mut buffer)?;
    announced(scanner, i, j, keyword, &buffer[..len])
}

/// Runs what the keyword `i..j` (`lower` in lowercase) announces.
#[inline(never)]
pub(super) fn announced(
    scanner: &mut Scanner<'_>,
    i: usize,
    j: usize,
    keyword: Keyword,
    lower: &[u8],
) -> Option<usize> {
    let original = &scanner.bytes[i..j];
    // `api-key`, `x-api-key`: a bare `key` counts after `api-` and the like.
    if matches!(keyword, Keyword::Secret) && lower == b"key" {
        let before = &scanner.bytes[i.saturating_sub(7)..i];
        let prefixed = [
            &b"api-"[..],
            b"api.",
            b"access-",
            b"secret-",
            b"private-",
            b"signing-",
        ]
        .iter()
        .any(|p| {
            before.len() >= p.len() && before[before.len() - p.len()..].eq_ignore_ascii_case(p)
        });
        if !prefixed {
            return None;
        }
    }
    match keyword {
        Keyword::Cue(cue) => {
            scanner.set_cue(cue, j);
            None
        }
        Keyword::Secret => secret_value(scanner, i, j),
        Keyword::Authorization => authorization(scanner, j),
        Keyword::Bearer => {
            let start = skip_spaces(scanner, j, 3);
            if start == j {
                return None;
            }
            token_secret(scanner, start, 8)
        }
        Keyword::Cookie => {
            let start = separator(scanner, j, false)?;
            let end = line_value_end(scanner, start, 4096);
            (end > start).then(|| {
                scanner.push(Kind::Secret, start..end, 0.9);
                end
            })
        }
        Keyword::NameKey => name_value(scanner, j),
        Keyword::NameLead => {
            if let Some(start) = separator(scanner, j, false) {
                return name_value_from(scanner, start);
            }
            let start = skip_spaces(scanner, j, 1);
            if start == j {
                return None;
            }
            // `from`, `to`: places and things follow as often as people, so
            // the words after them must read as a name.
            if matches!(lower, b"from" | b"to" | b"cc") {
                let end = scanner.word_end(start);
                return person(scanner, start, end);
            }
            capitalized_name(scanner, start, 3, 0.6)
        }
        Keyword::Title => {
            let mut start = j;
            if scanner.bytes.get(start) == Some(&b'.') {
                start += 1;
            }
            let start = skip_spaces(scanner, start, 1);
            if start == j || start == j + 1 && scanner.bytes.get(j) == Some(&b'.') {
                return None;
            }
            // `1600 Hill Dr` is an address, not a title.
            if let Some(end) = street(scanner, i, j) {
                return Some(end);
            }
            capitalized_name(scanner, start, 3, 0.7).inspect(|_| {
                // The title belongs to the name.
                if let Some(last) = scanner.found.last_mut() {
                    last.range.start = i;
                }
            })
        }
        Keyword::Salutation => {
            let start = skip_spaces(scanner, j, 1);
            if start == j || is_title(scanner, start) {
                // `Dear Mr. Smith`: the title reads the name.
                return None;
            }
            let end = capitalized_words_end(scanner, start, 3)?;
            let next = scanner.bytes.get(end).copied();
            if !matches!(
                next,
                None | Some(b',' | b'!' | b'\n' | b'\r' | b':' | b'.' | b' ' | b'-')
            ) {
                return None;
            }
            if next == Some(b' ') && !matches!(scanner.bytes.get(end + 1), Some(b'-')) {
                return None;
            }
            scanner.push(Kind::Name, start..end, 0.6);
            Some(end)
        }
        Keyword::Signoff => {
            let mut k = j;
            if scanner.bytes.get(k) == Some(&b',') {
                k += 1;
            } else if lower == b"thank" || lower == b"best" {
                // `Thank you,` / `Best regards,` lead to their own word.
                return None;
            }
            while matches!(scanner.bytes.get(k), Some(b' ' | b'\r')) {
                k += 1;
            }
            if scanner.bytes.get(k) != Some(&b'\n') {
                return None;
            }
            let start = skip_spaces(scanner, k + 1, 4);
            capitalized_name(scanner, start, 3, 0.6)
        }
        Keyword::AddressKey => match separator(scanner, j, false) {
            Some(start) => address_value(scanner, start),
            // `Baker Street` in a sentence.
            None if original[0].is_ascii_uppercase() => street(scanner, i, j),
            None => None,
        },
        Keyword::StreetSuffix => street(scanner, i, j),
        Keyword::Birth => birth_date(scanner, j),
    }
}

pub(super) fn is_title(scanner: &Scanner<'_>, at: usize) -> bool {
    let end = scanner.run_end(at, 9, |b| b.is_ascii_alphabetic());
    matches!(
        &scanner.bytes[at..end],
        b"Mr"
            | b"Mrs"
            | b"Ms"
            | b"Miss"
            | b"Dr"
            | b"Prof"
            | b"Mx"
            | b"Herr"
            | b"Frau"
            | b"Mme"
            | b"Mlle"
            | b"Madame"
            | b"Monsieur"
            | b"Signor"
            | b"Signora"
            | b"Sig"
            | b"Sra"
            | b"Srta"
            | b"Dhr"
            | b"Dott"
            | b"Mevrouw"
            | b"Mevr"
    )
}

pub(super) fn skip_spaces(scanner: &Scanner<'_>, at: usize, limit: usize) -> usize {
    scanner.run_end(at, limit, |b| b == b' ' || b == b'\t')
}

/// After a key: closing quotes, spaces, `=` `:` `=>` `:=`, spaces and an
/// opening quote. Returns where the value starts. With `space_ok`, a space
/// alone separates too (`--password hunter2`).
pub(super) fn separator(scanner: &Scanner<'_>, at: usize, space_ok: bool) -> Option<usize> {
    let bytes = scanner.bytes;
    let mut k = at;
    let quote = |b: u8| matches!(b, b'"' | b'\'' | b'\\' | b'`');
    k = scanner.run_end(k, 3, quote);
    let after_key = k;
    k = skip_spaces(scanner, k, 3);
    let found = match (bytes.get(k), bytes.get(k + 1)) {
        (Some(b':'), Some(b'=')) | (Some(b'='), Some(b'>')) => {
            k += 2;
            true
        }
        (Some(b':' | b'='), _) => {
            k += 1;
            true
        }
        _ => false,
    };
    if !(found || space_ok && k > after_key) {
        return None;
    }
    k = skip_spaces(scanner, k, 3);
    Some(k)
}

/// Where an unquoted value ends.
pub(super) fn value_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
    scanner.run_end(start, limit, |b| {
        !matches!(
            b,
            b' ' | b'\t'
                | b'\n'
                | b'\r'
                | b','
                | b';'
                | b'&'
                | b'"'
                | b'\''
                | b')'
                | b'}'
                | b']'
                | b'<'
                | b'>'
                | b'`'
                | b'\\'
        )
    })
}

/// Where a value that may hold spaces ends: its closing quote, or the end of
/// the line.
pub(super) fn line_value_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
    let end = scanner.run_end(start, limit, |b| !matches!(b, b'\n' | b'\r' | b'"' | b'\\'));
    trim_end(scanner, start, end)
}

pub(super) fn trim_end(scanner: &Scanner<'_>, start: usize, mut end: usize) -> usize {
    while end > start && matches!(scanner.bytes[end - 1], b' ' | b'\t' | b',' | b'.' | b';') {
        end -= 1;
    }
    end
}

/// The value after an opening quote at `start - 1`, if there is one: its
/// end before the closing quote.
pub(super) fn quoted(scanner: &Scanner<'_>, start: usize, limit: usize) -> Option<usize> {
    let open = *scanner.bytes.get(start.checked_sub(1)?)?;
    if !matches!(open, b'"' | b'\'' | b'`') {
        return None;
    }
    let end = scanner.run_end(start, limit, |b| b != open && b != b'\n' && b != b'\\');
    Some(end)
}

/// The end of a JSON string's content starting at `start` (after its
/// opening quote): its closing quote, escapes (`\"`, `\n`) included, or the
/// end of the line.
pub(super) fn string_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
    let bytes = scanner.bytes;
    let stop = bytes.len().min(start.saturating_add(limit));
    let mut k = start;
    while k < stop {
        match bytes[k] {
            b'"' | b'\n' => break,
            b'\\' => k += 2,
            _ => k += 1,
        }
    }
    k.min(stop)
}

/// The end of the content of a string quoted with `\"` (a JSON string
/// inside a JSON string): the next `\"` not itself escaped, or the end of
/// the line.
pub(super) fn escaped_string_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
    let bytes = scanner.bytes;
    let stop = bytes.len().min(start.saturating_add(limit));
    let mut k = start;
    while k < stop {
        match bytes[k] {
            b'"' | b'\n' => break,
            b'\\' if bytes.get(k + 1) == Some(&b'"') => break,
            _ => k += 1,
        }
    }
    k.min(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_word_is_found_in_any_case() {
        let table = table();
        for &(word, keyword) in WORDS {
            assert!(word[0].is_ascii_lowercase(), "{word:?}");
            assert!(
                word.iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_'),
                "{word:?}"
            );
            let upper = word.to_ascii_uppercase();
            assert!(table.may_list(word) && table.may_list(&upper), "{word:?}");
            assert_eq!(table.get(word), Some(keyword), "{word:?}");
        }
        assert_eq!(table.words.len(), WORDS.len());
    }

    #[test]
    fn every_secret_suffix_passes_the_ending_filter_in_any_case() {
        for suffix in SECRET_SUFFIXES {
            assert!(SECRET_TAILS.may_end(suffix), "{suffix:?}");
            assert!(
                SECRET_TAILS.may_end(&suffix.to_ascii_uppercase()),
                "{suffix:?}"
            );
        }
        assert!(PHONE_TAILS.may_end(b"homePHONE"));
        assert!(!SECRET_TAILS.may_end(b"status") && !PHONE_TAILS.may_end(b"status"));
    }

    #[test]
    fn words_of_other_shapes_are_refused_without_a_look_up() {
        let table = table();
        for word in [&b"orders"[..], b"handler", b"x", b"query", b"_name"] {
            assert!(!table.may_list(word), "{word:?}");
        }
        assert_eq!(table.get(b"cache"), None);
    }
}
