//! Property: every spelling of one person is one identity, and two people
//! never become one.
//!
//! People are generated as distinct canonical addresses (ASCII letters and
//! digits, and accented letters so that composed and decomposed forms
//! differ); each is then respelled many ways at once: letters in upper case,
//! fullwidth forms of ASCII characters, accents decomposed (NFD),
//! invisible code points (zero-width space and joiners, the byte-order mark,
//! the soft hyphen, a variation selector, the word joiner) inserted
//! anywhere, a `mailto:` prefix in any case, a trailing dot on the domain,
//! and whitespace around it.

use std::collections::BTreeSet;

use approvals_core::Identity;
use proptest::collection::{btree_set, vec};
use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};
use proptest::strategy::Strategy;

/// Letters of a local part: `e` and `é` both, so that people who differ
/// only by an accent are generated.
const LOCAL: &[char] = &[
    'a', 'b', 'e', 'i', 'j', 'n', 'o', 's', 'u', 'z', '0', '7', '.', '-', '_', 'é', 'ü', 'ñ', 'ç',
    'å', 'σ',
];
const DOMAIN: &[char] = &['a', 'c', 'e', 'm', 'x', '9', '-', 'é'];
const TLDS: &[&str] = &["com", "io", "org"];

/// Code points that render as nothing.
const INVISIBLE: &[char] = &[
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}', '\u{AD}', '\u{FE0F}', '\u{2060}', '\u{34F}',
];
/// Whitespace that may surround an identity.
const SPACE: &[char] = &[' ', '\t', '\n', '\u{A0}', '\u{3000}', '\u{2003}'];
const MAILTO: &[&str] = &[
    "mailto:",
    "MAILTO:",
    "Mailto:",
    "ｍａｉｌｔｏ：",
    "mailto: ",
];

/// One person, as a canonical address.
fn person() -> impl Strategy<Value = String> {
    (
        vec(0..LOCAL.len(), 1..8),
        vec(0..DOMAIN.len(), 1..6),
        0..TLDS.len(),
    )
        .prop_map(|(local, domain, tld)| {
            let local: String = local.into_iter().map(|i| LOCAL[i]).collect();
            let domain: String = domain.into_iter().map(|i| DOMAIN[i]).collect();
            format!("{local}@{domain}.{}", TLDS[tld])
        })
}

/// How to respell a text: one choice per character (cycled), insertions,
/// and what goes around it.
#[derive(Debug, Clone)]
struct Respelling {
    /// Per character: bit 0 upper case, bit 1 fullwidth, bit 2 decomposed.
    forms: Vec<u8>,
    /// Invisible code points to insert: (position, which).
    invisible: Vec<(usize, usize)>,
    mailto: Option<usize>,
    trailing_dot: bool,
    before: Vec<usize>,
    after: Vec<usize>,
}

fn respelling() -> impl Strategy<Value = Respelling> {
    (
        vec(any::<u8>(), 1..16),
        vec((any::<usize>(), 0..INVISIBLE.len()), 0..4),
        proptest::option::of(0..MAILTO.len()),
        any::<bool>(),
        vec(0..SPACE.len(), 0..3),
        vec(0..SPACE.len(), 0..3),
    )
        .prop_map(
            |(forms, invisible, mailto, trailing_dot, before, after)| Respelling {
                forms,
                invisible,
                mailto,
                trailing_dot,
                before,
                after,
            },
        )
}

/// The fullwidth form of a printable ASCII character.
fn fullwidth(c: char) -> Option<char> {
    if ('!'..='~').contains(&c) {
        char::from_u32(u32::from(c) - 0x21 + 0xFF01)
    } else {
        None
    }
}

/// The decomposed (NFD) form of the accented letters used here.
fn decomposed(c: char) -> Option<&'static str> {
    Some(match c {
        'é' => "e\u{301}",
        'É' => "E\u{301}",
        'ü' => "u\u{308}",
        'Ü' => "U\u{308}",
        'ñ' => "n\u{303}",
        'Ñ' => "N\u{303}",
        'ç' => "c\u{327}",
        'Ç' => "C\u{327}",
        'å' => "a\u{30A}",
        'Å' => "A\u{30A}",
        _ => return None,
    })
}

impl Respelling {
    fn apply(&self, canonical: &str) -> String {
        let mut pieces: Vec<String> = Vec::new();
        for (index, c) in canonical.chars().enumerate() {
            let form = self.forms[index % self.forms.len()];
            let c = if form & 1 == 1 {
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(upper), None) => upper,
                    _ => c,
                }
            } else {
                c
            };
            let piece = if form & 2 == 2 {
                fullwidth(c).map_or_else(|| c.to_string(), String::from)
            } else if form & 4 == 4 {
                decomposed(c).map_or_else(|| c.to_string(), str::to_owned)
            } else {
                c.to_string()
            };
            pieces.push(piece);
        }
        if self.trailing_dot {
            pieces.push(".".to_owned());
        }
        if let Some(mailto) = self.mailto {
            pieces.insert(0, MAILTO[mailto].to_owned());
        }
        for &(at, which) in &self.invisible {
            let at = at % (pieces.len() + 1);
            pieces.insert(at, INVISIBLE[which].to_string());
        }
        let mut text: String = self.before.iter().map(|&i| SPACE[i]).collect();
        text.extend(pieces);
        text.extend(self.after.iter().map(|&i| SPACE[i]));
        text
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn spellings_of_one_person_are_one_identity_and_people_stay_apart(
        people in btree_set(person(), 1..6),
        respellings in vec(vec(respelling(), 1..5), 6),
    ) {
        let mut identities = BTreeSet::new();
        for (person, respellings) in people.iter().zip(&respellings) {
            let identity = Identity::new(person);
            prop_assert_eq!(identity.as_str(), person.as_str(), "the generated person is canonical");
            for respelling in respellings {
                let spelling = respelling.apply(person);
                prop_assert_eq!(&Identity::new(&spelling), &identity, "spelling {:?}", spelling);
                let parsed = Identity::parse(&spelling);
                prop_assert_eq!(parsed.as_ref(), Ok(&identity), "spelling {:?}", spelling);
            }
            identities.insert(identity);
        }
        // Distinct people are distinct identities, however spelled.
        prop_assert_eq!(identities.len(), people.len());
    }

    #[test]
    fn canonicalizing_twice_changes_nothing(text in "\\PC{0,24}") {
        let once = Identity::new(&text);
        prop_assert_eq!(&Identity::new(once.as_str()), &once);
        if let Ok(parsed) = Identity::parse(&text) {
            prop_assert_eq!(&parsed, &once);
            prop_assert!(!parsed.as_str().is_empty());
        } else {
            prop_assert_eq!(once.as_str(), "");
        }
    }
}
