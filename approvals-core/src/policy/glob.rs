//! A small glob matcher for action names and string arguments.
//!
//! `*` matches any run of characters (none included), `?` exactly one
//! character, and everything else itself. `\` makes the next special
//! character literal (`\*`, `\?`, `\\`). `[`, `]`, `{` and `}` are reserved:
//! other glob dialects give them meaning (classes, alternatives), so a
//! pattern such as `db.{drop,truncate}_*` is rejected rather than silently
//! matching nothing; write `\[` and so on to match them literally.
//!
//! A pattern is compiled once into the runs of characters between its `*`s;
//! matching allocates nothing and is linear in the text for the common shapes
//! (`billing.*`, `*.export`, `db.drop_*`).

use std::fmt;

/// A compiled pattern.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    pattern: Box<str>,
    /// The runs between `*`s: one run means there is no `*`.
    runs: Box<[Run]>,
}

/// Characters between two `*`s.
#[derive(Clone, PartialEq, Eq)]
enum Run {
    /// No `?`: plain substring operations apply.
    Literal(Box<str>),
    /// Some `?` (`None`): one character each.
    Chars(Box<[Option<char>]>),
}

/// Why a pattern is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GlobError {
    /// `[`, `]`, `{` or `}` unescaped.
    #[error("`{0}` is reserved; write `\\{0}` to match it literally")]
    Reserved(char),
    /// `\` followed by a character that needs no escape.
    #[error("`\\{0}` is not an escape; only `*`, `?`, `[`, `]`, `{{`, `}}` and `\\` follow `\\`")]
    UnknownEscape(char),
    /// `\` at the very end.
    #[error("the pattern ends with a lone `\\`")]
    TrailingEscape,
}

impl Glob {
    /// Compiles `pattern`.
    pub(crate) fn new(pattern: &str) -> Result<Self, GlobError> {
        let mut runs = Vec::new();
        let mut run: Vec<Option<char>> = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => runs.push(Run::new(std::mem::take(&mut run))),
                '?' => run.push(None),
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '?' | '[' | ']' | '{' | '}' | '\\')) => {
                        run.push(Some(escaped));
                    }
                    Some(other) => return Err(GlobError::UnknownEscape(other)),
                    None => return Err(GlobError::TrailingEscape),
                },
                '[' | ']' | '{' | '}' => return Err(GlobError::Reserved(c)),
                literal => run.push(Some(literal)),
            }
        }
        runs.push(Run::new(run));
        Ok(Self {
            pattern: pattern.into(),
            runs: runs.into(),
        })
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let Some((first, rest)) = self.runs.split_first() else {
            return text.is_empty();
        };
        let Some(text) = first.strip_prefix(text) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // No `*`: the one run must be the whole text.
            return text.is_empty();
        };
        let Some(mut text) = last.strip_suffix(text) else {
            return false;
        };
        // Runs have a fixed length, so taking the leftmost place for each
        // middle run never loses a match.
        for run in middle {
            match run.find(text) {
                Some(after) => text = after,
                None => return false,
            }
        }
        true
    }
}

/// One element of a pattern, for comparing patterns with each other.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    AnyRun,
}

impl Glob {
    /// The pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.pattern
    }

    fn tokens(&self) -> Vec<Token> {
        let mut tokens = Vec::new();
        for (index, run) in self.runs.iter().enumerate() {
            if index > 0 {
                tokens.push(Token::AnyRun);
            }
            match run {
                Run::Literal(literal) => tokens.extend(literal.chars().map(Token::Char)),
                Run::Chars(chars) => {
                    tokens.extend(chars.iter().map(|c| c.map_or(Token::AnyChar, Token::Char)))
                }
            }
        }
        tokens
    }

    /// Whether every text that `other` matches is matched by this pattern
    /// too, as far as it can be proven by matching this pattern against
    /// `other`'s own elements: a `*` here takes any of `other`'s elements,
    /// a `?` one character or `?`, a character only itself. Sound (a `true`
    /// is a proof); it may miss a few unusual inclusions, such as `*?`
    /// covering `?*`.
    pub(crate) fn covers(&self, other: &Glob) -> bool {
        let (outer, inner) = (self.tokens(), other.tokens());
        // covered[i][j]: outer[i..] covers inner[j..].
        let width = inner.len() + 1;
        let mut covered = vec![false; (outer.len() + 1) * width];
        covered[outer.len() * width + inner.len()] = true;
        for i in (0..outer.len()).rev() {
            for j in (0..=inner.len()).rev() {
                let next = |i: usize, j: usize| covered[i * width + j];
                let here = match (outer[i], inner.get(j)) {
                    (Token::AnyRun, next_inner) => {
                        next(i + 1, j) || (next_inner.is_some() && next(i, j + 1))
                    }
                    (Token::AnyChar, Some(Token::Char(_) | Token::AnyChar)) => next(i + 1, j + 1),
                    (Token::Char(c), Some(Token::Char(d))) if c == *d => next(i + 1, j + 1),
                    _ => false,
                };
                covered[i * width + j] = here;
            }
        }
        covered[0]
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", &*self.pattern)
    }
}

impl Run {
    fn new(chars: Vec<Option<char>>) -> Self {
        if chars.iter().all(Option::is_some) {
            Run::Literal(chars.into_iter().flatten().collect::<String>().into())
        } else {
            Run::Chars(chars.into())
        }
    }

    /// The rest of `text` when it starts with this run.
    fn strip_prefix<'t>(&self, text: &'t str) -> Option<&'t str> {
        match self {
            Run::Literal(literal) => text.strip_prefix(&**literal),
            Run::Chars(pattern) => {
                let mut chars = text.chars();
                for expected in pattern.iter() {
                    let actual = chars.next()?;
                    if expected.is_some_and(|expected| expected != actual) {
                        return None;
                    }
                }
                Some(chars.as_str())
            }
        }
    }

    /// The start of `text` when it ends with this run.
    fn strip_suffix<'t>(&self, text: &'t str) -> Option<&'t str> {
        match self {
            Run::Literal(literal) => text.strip_suffix(&**literal),
            Run::Chars(pattern) => {
                let mut chars = text.chars();
                for expected in pattern.iter().rev() {
                    let actual = chars.next_back()?;
                    if expected.is_some_and(|expected| expected != actual) {
                        return None;
                    }
                }
                Some(chars.as_str())
            }
        }
    }

    /// The rest of `text` after the leftmost occurrence of this run.
    fn find<'t>(&self, text: &'t str) -> Option<&'t str> {
        match self {
            Run::Literal(literal) => text
                .find(&**literal)
                .and_then(|start| text.get(start + literal.len()..)),
            Run::Chars(_) => {
                let mut rest = text;
                loop {
                    if let Some(after) = self.strip_prefix(rest) {
                        return Some(after);
                    }
                    let mut chars = rest.chars();
                    chars.next()?;
                    rest = chars.as_str();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).unwrap().matches(text)
    }

    fn covers(outer: &str, inner: &str) -> bool {
        Glob::new(outer).unwrap().covers(&Glob::new(inner).unwrap())
    }

    #[test]
    fn coverage_between_patterns() {
        assert!(covers("*", "billing.refund"));
        assert!(covers("*", "db.*"));
        assert!(covers("billing.*", "billing.refund"));
        assert!(covers("billing.*", "billing.re*"));
        assert!(covers("billing.*", "billing.?"));
        assert!(covers("db.drop_*", "db.drop_*"));
        assert!(covers("*.export", "data.export"));
        assert!(covers("*a*", "a*"));
        assert!(covers("data.?", "data.x"));
        assert!(!covers("billing.refund", "billing.*"));
        assert!(!covers("billing.*", "billing"));
        assert!(!covers("data.?", "data.*"));
        assert!(!covers("db.drop_*", "db.*"));
        assert!(!covers("a?", "a*"));
        assert!(!covers("x", "y"));
    }

    /// Every pattern pair over a small alphabet: when `covers` says yes,
    /// every text up to four characters that the inner pattern matches is
    /// matched by the outer one.
    #[test]
    fn coverage_is_sound() {
        let pieces = ["a", "b", "?", "*"];
        let mut patterns = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = patterns
                .iter()
                .flat_map(|pattern| pieces.iter().map(move |piece| format!("{pattern}{piece}")))
                .collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|text| ["a", "b"].map(|c| format!("{text}{c}")))
                .collect();
            texts.extend(longer);
        }
        texts.sort();
        texts.dedup();
        let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(p).unwrap()).collect();
        let mut proven = 0;
        for outer in &globs {
            for inner in &globs {
                if outer.covers(inner) {
                    proven += 1;
                    for text in &texts {
                        assert!(
                            !inner.matches(text) || outer.matches(text),
                            "{outer:?} covers {inner:?} but not {text:?}"
                        );
                    }
                }
            }
        }
        assert!(proven > 1000, "{proven}");
    }

    #[test]
    fn no_wildcard_is_an_exact_match() {
        assert!(matches("billing.refund", "billing.refund"));
        assert!(!matches("billing.refund", "billing.refunds"));
        assert!(!matches("billing.refund", "billing.refun"));
        assert!(!matches("billing.refund", "Billing.refund"));
    }

    #[test]
    fn empty_pattern_matches_only_empty_text() {
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn star_alone_matches_everything() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything.at all"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn prefix_and_suffix_stars() {
        assert!(matches("billing.*", "billing.refund"));
        assert!(matches("billing.*", "billing."));
        assert!(!matches("billing.*", "billing"));
        assert!(!matches("billing.*", "xbilling.refund"));
        assert!(matches("db.drop_*", "db.drop_table"));
        assert!(!matches("db.drop_*", "db.dropped"));
        assert!(matches("*.export", "data.export"));
        assert!(!matches("*.export", "data.exports"));
        assert!(matches("data.export*", "data.export"));
        assert!(matches("data.export*", "data.export_all"));
    }

    #[test]
    fn several_stars_in_order() {
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("a*b*c", "abbbc"));
        assert!(matches("a*b*c", "acbc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(!matches("a*b*c", "ab"));
        assert!(!matches("a*b*c", "bac"));
        // Prefix and suffix may not overlap.
        assert!(!matches("a*a", "a"));
        assert!(matches("a*a", "aa"));
        assert!(matches("*x*", "x"));
        assert!(!matches("*x*", "y"));
    }

    #[test]
    fn question_mark_is_exactly_one_character() {
        assert!(matches("?", "a"));
        assert!(!matches("?", ""));
        assert!(!matches("?", "ab"));
        assert!(matches("db.v?", "db.v2"));
        assert!(!matches("db.v?", "db.v10"));
        assert!(matches("?*", "a"));
        assert!(!matches("?*", ""));
        assert!(matches("*?", "é"));
        // One character, not one byte.
        assert!(matches("caf?", "café"));
        assert!(matches("a*?c*d", "abcxd"));
        assert!(matches("*b?d*", "xxbcdyy"));
        assert!(!matches("*b?d*", "xxbdyy"));
        assert!(matches("a?*?b", "axyb"));
        assert!(!matches("a?*?b", "axb"));
    }

    #[test]
    fn escapes_and_reserved_characters() {
        assert!(matches(r"what\?", "what?"));
        assert!(!matches(r"what\?", "whatx"));
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
        assert!(matches(r"\[draft\]*", "[draft] notes"));
        assert!(matches(r"back\\slash", r"back\slash"));
        assert_eq!(Glob::new("db.[a-z]*").err(), Some(GlobError::Reserved('[')));
        assert_eq!(Glob::new("db.{a,b}").err(), Some(GlobError::Reserved('{')));
        assert_eq!(Glob::new(r"a\b").err(), Some(GlobError::UnknownEscape('b')));
        assert_eq!(Glob::new("a\\").err(), Some(GlobError::TrailingEscape));
    }

    #[test]
    fn debug_shows_the_pattern() {
        assert_eq!(format!("{:?}", Glob::new("a*").unwrap()), "Glob(\"a*\")");
    }
}
