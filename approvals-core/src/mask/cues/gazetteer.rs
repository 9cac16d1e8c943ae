//! The gazetteer: given names (US Social Security Administration baby
//! names), surnames (US Census Bureau), and which of them are also
//! lowercase English words. The lists ship in `names/` (sources, licences
//! and the script that writes them in `names/README.md`), are embedded in
//! the binary, and are read into one table the first time a capitalized
//! word is looked up.

use std::sync::LazyLock;

/// A given name.
pub(super) const FIRST: u8 = 1;
/// A surname.
pub(super) const LAST: u8 = 2;
/// Also a lowercase English word (`will`, `may`, `white`).
pub(super) const COMMON: u8 = 4;

/// The longest name looked up, in bytes after folding.
pub(super) const MAX_NAME: usize = 24;

static FIRST_NAMES: &str = include_str!("names/first.txt");
static SURNAMES: &str = include_str!("names/last.txt");
static COMMON_WORDS: &str = include_str!("names/common.txt");

/// The names, one after another in `text`, found through an open-addressed
/// table of their indexes: one allocation each, no per-name allocation.
struct Gazetteer {
    text: Vec<u8>,
    /// Start, length and class of each name.
    entries: Vec<(u32, u8, u8)>,
    /// Index + 1 of an entry, 0 for an empty slot; a power of two long.
    slots: Vec<u32>,
}

/// FNV-1a: the keys are short ASCII words, for which it is fast and spreads
/// well; the table is built from shipped data, never from input.
fn hash(word: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &b in word {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl Gazetteer {
    fn build() -> Self {
        let lists = [
            (FIRST_NAMES, FIRST),
            (SURNAMES, LAST),
            (COMMON_WORDS, COMMON),
        ];
        let count: usize = lists.iter().map(|(list, _)| list.lines().count()).sum();
        let mut table = Self {
            text: Vec::with_capacity(lists.iter().map(|(list, _)| list.len() * 2).sum()),
            entries: Vec::with_capacity(count),
            slots: vec![0; (count * 2).next_power_of_two()],
        };
        let mut name = Vec::with_capacity(MAX_NAME);
        for (list, class) in lists {
            name.clear();
            for line in list.lines() {
                let Some((&shared, rest)) = line.as_bytes().split_first() else {
                    continue;
                };
                // Front coding: a digit for the letters shared with the
                // name before, then the rest.
                name.truncate(usize::from(shared.wrapping_sub(b'0')).min(name.len()));
                name.extend_from_slice(rest);
                table.insert(&name, class);
            }
        }
        table
    }

    fn slot(&self, word: &[u8]) -> (usize, Option<usize>) {
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut at = hash(word) as usize & mask;
        loop {
            match self.slots[at] {
                0 => return (at, None),
                index => {
                    let entry = index as usize - 1;
                    let (start, len, _) = self.entries[entry];
                    let start = start as usize;
                    if &self.text[start..start + usize::from(len)] == word {
                        return (at, Some(entry));
                    }
                }
            }
            at = (at + 1) & mask;
        }
    }

    fn insert(&mut self, word: &[u8], class: u8) {
        if word.is_empty() || word.len() > MAX_NAME {
            return;
        }
        match self.slot(word) {
            (_, Some(entry)) => self.entries[entry].2 |= class,
            (at, None) => {
                #[allow(clippy::cast_possible_truncation)]
                let (start, len) = (self.text.len() as u32, word.len() as u8);
                self.text.extend_from_slice(word);
                self.entries.push((start, len, class));
                #[allow(clippy::cast_possible_truncation)]
                let index = self.entries.len() as u32;
                self.slots[at] = index;
            }
        }
    }

    fn get(&self, word: &[u8]) -> u8 {
        self.slot(word).1.map_or(0, |entry| self.entries[entry].2)
    }
}

static GAZETTEER: LazyLock<Gazetteer> = LazyLock::new(Gazetteer::build);

/// Lowercases `word` and folds the Latin-1 accented letters to their base
/// letter (`López` → `lopez`), without apostrophes. `None` for other
/// characters.
fn fold(word: &[u8], out: &mut [u8; MAX_NAME]) -> Option<usize> {
    let mut n = 0;
    let mut k = 0;
    while k < word.len() {
        let b = word[k];
        if b == b'\'' {
            // The lists write `O'Brien` as `obrien`.
            k += 1;
            continue;
        }
        let c = if b.is_ascii_alphabetic() || b == b'-' {
            k += 1;
            b.to_ascii_lowercase()
        } else if b == 0xC3 {
            let next = *word.get(k + 1)?;
            k += 2;
            latin1_base(next | 0x20)?
        } else {
            return None;
        };
        *out.get_mut(n)? = c;
        n += 1;
    }
    Some(n)
}

/// The base letter of a Latin-1 letter given by the second byte of its
/// UTF-8 form (`0xC3 xx`), lowercased.
fn latin1_base(second: u8) -> Option<u8> {
    Some(match second {
        0xA0..=0xA5 => b'a',
        0xA7 => b'c',
        0xA8..=0xAB => b'e',
        0xAC..=0xAF => b'i',
        0xB1 => b'n',
        0xB2..=0xB6 | 0xB8 => b'o',
        0xB9..=0xBC => b'u',
        0xBD | 0xBF => b'y',
        _ => return None,
    })
}

/// What the gazetteer knows of one word, in any case: `FIRST`, `LAST`,
/// `COMMON` bits, 0 for a word it does not list. A hyphenated name
/// (`Marín-Charon`) counts as what either part is.
pub(super) fn lookup(word: &[u8]) -> u8 {
    let mut buffer = [0u8; MAX_NAME];
    let Some(len) = fold(word, &mut buffer) else {
        return 0;
    };
    let folded = &buffer[..len];
    let table = &*GAZETTEER;
    let class = table.get(folded);
    if class == 0 && folded.contains(&b'-') {
        return folded
            .split(|&b| b == b'-')
            .map(|part| table.get(part))
            .fold(0, |all, class| all | class);
    }
    class
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    #[test]
    fn the_gazetteer_knows_given_names_surnames_and_common_words() {
        assert_eq!(lookup(b"Megan") & FIRST, FIRST);
        assert_eq!(lookup(b"HARTMANN") & LAST, LAST);
        assert_ne!(lookup(b"Will") & COMMON, 0);
        assert_ne!(lookup(b"White") & COMMON, 0);
        assert_eq!(lookup(b"Hartmann") & COMMON, 0);
        assert_ne!(lookup(b"Smith") & LAST, 0);
        assert_ne!(lookup("López".as_bytes()) & LAST, 0);
        assert_ne!(lookup(b"Smith-Jones") & LAST, 0);
        assert_eq!(lookup(b"Kubernetes"), 0);
        assert_ne!(lookup(b"O'Brien") & LAST, 0);
        assert_eq!(lookup("Łukasz".as_bytes()), 0);
    }

    #[test]
    fn every_line_of_the_data_is_read_back_as_a_lowercase_name() {
        let table = &*GAZETTEER;
        let mut distinct = std::collections::HashSet::new();
        for list in [FIRST_NAMES, SURNAMES, COMMON_WORDS] {
            let mut name = Vec::new();
            for line in list.lines() {
                let (shared, rest) = line.as_bytes().split_first().expect("a line");
                assert!(shared.is_ascii_digit(), "{line:?}");
                name.truncate(usize::from(shared - b'0'));
                name.extend_from_slice(rest);
                assert_ne!(table.get(&name), 0, "{name:?}");
                distinct.insert(name.clone());
            }
        }
        assert_eq!(table.entries.len(), distinct.len());
        for &(start, len, class) in &table.entries {
            let name = &table.text[start as usize..start as usize + usize::from(len)];
            assert!(len >= 2 && class & (FIRST | LAST) != 0, "{name:?}");
            assert!(
                name.iter()
                    .all(|&b| b.is_ascii_lowercase() || b == b'\'' || b == b'-'),
                "{name:?}"
            );
        }
    }
}
