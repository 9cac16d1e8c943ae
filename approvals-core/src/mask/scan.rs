//! The single-pass scanner behind the built-in detectors.
//!
//! One loop walks the text once, byte by byte through a class table. Most
//! bytes (spaces, punctuation, the letters inside a word) cost one table
//! look-up. A few bytes start a candidate: a word is checked against the
//! keyword table and the fixed token prefixes, a digit starts a number run,
//! `@` an email or URL credential, `+` an international number, `-----` a
//! private key block, `::` an IPv6 address. Validation (Luhn, mod-97,
//! numbering rules, JSON in a JWT header) runs only at those candidates, and
//! every look-around is bounded, so the time is linear in the input whatever
//! it holds.

use std::ops::Range;

use super::cues::{self, Cue};
use super::decode;
use super::kind::{Detection, Kind};
use super::validate::{self, Dialing};

const OTHER: u8 = 0;
const ALPHA: u8 = 1;
const DIGIT: u8 = 2;
const AT: u8 = 3;
const PLUS: u8 = 4;
const DASH: u8 = 5;
const COLON: u8 = 6;
const NEWLINE: u8 = 7;
const ESCAPE: u8 = 8;

static CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() || c >= 0x80 {
            ALPHA
        } else if c.is_ascii_digit() {
            DIGIT
        } else {
            match c {
                b'@' => AT,
                b'+' => PLUS,
                b'-' => DASH,
                b':' => COLON,
                b'\n' => NEWLINE,
                b'\\' | b'%' => ESCAPE,
                _ => OTHER,
            }
        };
        b += 1;
    }
    table
};

/// The first bytes of the fixed token prefixes (`AKIA`, `ghp_`, `xoxb-`,
/// `sk_live_`, `rk_live_`, `eyJ`, `LS0tLS1CRUdJTi`, `hf_`, `npm_`,
/// `dop_v1_`, `sk-`, `glpat-`, `xapp-`, `pypi-`).
static PREFIX_START: [bool; 256] = {
    let mut table = [false; 256];
    let starts = *b"AgxsreLhndp";
    let mut k = 0;
    while k < starts.len() {
        table[starts[k] as usize] = true;
        k += 1;
    }
    table
};

/// Bytes that continue a word: letters, digits, `_`, and any byte of a
/// multi-byte UTF-8 character (so that a word never ends inside one).
#[inline]
pub(crate) fn is_word(b: u8) -> bool {
    WORD[usize::from(b)]
}

static WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
        b += 1;
    }
    table
};

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` (every byte below 0x80) that lies in
/// `lo..=hi`.
#[inline]
const fn lanes_in(x: u64, lo: u8, hi: u8) -> u64 {
    // Neither sum carries out of a byte: each byte of `x` is below 0x80.
    (x + LANES * (0x80 - lo as u64)) & !(x + LANES * (0x7f - hi as u64)) & HIGH
}

/// The high bit of each byte of `v` that is not a word byte (see
/// [`is_word`]).
#[inline]
const fn non_word_lanes(v: u64) -> u64 {
    let x = v & !HIGH;
    let word = (v & HIGH)
        | lanes_in(x, b'0', b'9')
        // Setting 0x20 folds capitals onto small letters.
        | lanes_in(x | (LANES * 0x20), b'a', b'z')
        | lanes_in(x, b'_', b'_');
    !word & HIGH
}

/// How far back a context word (`version`, `phone`, `ssn`) still counts.
const CUE_REACH: usize = 48;

/// The state of one scan: the text, what was found, and the context words
/// seen on the current line.
pub(crate) struct Scanner<'t> {
    pub(crate) text: &'t str,
    pub(crate) bytes: &'t [u8],
    pub(crate) found: Vec<Detection>,
    line_start: usize,
    version_cue: Option<usize>,
    phone_cue: Option<usize>,
    ssn_cue: Option<usize>,
    /// Scratch for decoding a JWT header.
    scratch: Vec<u8>,
    /// Whether shapes known to hold nothing are skipped whole (see
    /// [`utc_timestamp_end`]); off only in the tests that check that skipping
    /// them finds the same as reading them.
    shortcuts: bool,
    /// The starts of the lines that hold a JSON or percent escape, read
    /// again decoded after the pass.
    escaped_lines: Vec<usize>,
    /// Whether escaped lines are read again decoded (off for the text that
    /// is itself decoded: [`decode`] already undid every level).
    decodes: bool,
}

impl<'t> Scanner<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            found: Vec::new(),
            line_start: 0,
            version_cue: None,
            phone_cue: None,
            ssn_cue: None,
            scratch: Vec::new(),
            shortcuts: true,
            escaped_lines: Vec::new(),
            decodes: true,
        }
    }

    /// Runs the built-in detectors over the whole text.
    pub(crate) fn run(mut self) -> Vec<Detection> {
        let bytes = self.bytes;
        let len = bytes.len();
        let mut i = 0;
        while i < len {
            let b = bytes[i];
            i = match CLASS[usize::from(b)] {
                OTHER => i + 1,
                NEWLINE => {
                    self.line_start = i + 1;
                    i + 1
                }
                ALPHA => self.word(i),
                DIGIT => self.digits(i),
                AT => self.at(i),
                PLUS => self.plus(i),
                DASH => self.dash(i),
                COLON => self.colon(i),
                ESCAPE => self.escape(i),
                _ => i + 1,
            };
        }
        if !self.escaped_lines.is_empty() {
            self.escaped();
        }
        if !self.found.is_empty() {
            self.join_wrapped();
        }
        self.found
    }

    /// A `\` or `%`: remembers the line if an escape starts here.
    #[inline]
    fn escape(&mut self, i: usize) -> usize {
        if self.decodes
            && self.escaped_lines.last() != Some(&self.line_start)
            && decode::is_escape(self.bytes, i)
        {
            self.escaped_lines.push(self.line_start);
        }
        i + 1
    }

    /// Reads each line that holds an escape again, decoded, and masks what
    /// is found there over its whole original span.
    fn escaped(&mut self) {
        let lines = std::mem::take(&mut self.escaped_lines);
        for start in lines {
            let end = self.bytes[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.bytes.len(), |at| start + at);
            let Some(decoded) = decode::decode(self.text, start..end) else {
                continue;
            };
            let mut inner = Scanner::new(&decoded.text);
            inner.decodes = false;
            for found in inner.run() {
                let range = decoded.original(found.range.clone());
                self.push(found.kind, range, found.confidence);
            }
        }
    }

    pub(crate) fn push(&mut self, kind: Kind, range: Range<usize>, confidence: f32) {
        // Detectors that stop after a byte count, or count one byte too
        // many, can end inside a multi-byte character: the span is widened
        // to whole characters (a character cut in two is masked, not shown
        // in part) and kept within the text.
        let len = self.bytes.len();
        let mut start = range.start.min(len);
        while start > 0 && is_continuation(self.bytes[start]) {
            start -= 1;
        }
        let mut end = range.end.min(len);
        while end < len && is_continuation(self.bytes[end]) {
            end += 1;
        }
        if start < end {
            self.found
                .push(Detection::new(kind, start..end, confidence));
        }
    }

    /// Whether a context word was seen on this line, shortly before `at`.
    fn cue_near(&self, cue: Option<usize>, at: usize) -> bool {
        cue.is_some_and(|cue| cue >= self.line_start && at.saturating_sub(cue) <= CUE_REACH)
    }

    /// Whether a version word comes shortly before `at`, in the same clause.
    fn version_before(&self, at: usize) -> bool {
        self.cue_near(self.version_cue, at)
            && self.version_cue.is_some_and(|cue| {
                !self.bytes[cue.min(at)..at]
                    .iter()
                    .any(|&b| matches!(b, b';' | b'|' | b'"' | b'\n'))
            })
    }

    /// Whether the dotted number at `at` is the tag of a container image
    /// (`registry.example/api:12.4.24.82`): right after a `:` that ends a
    /// repository path with a `/` in it.
    fn image_tag_before(&self, at: usize) -> bool {
        if at < 2 || self.bytes[at - 1] != b':' {
            return false;
        }
        let name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/');
        let mut k = at - 1;
        let floor = at.saturating_sub(256);
        while k > floor && name(self.bytes[k - 1]) {
            k -= 1;
        }
        let path = &self.bytes[k..at - 1];
        // `ip:10.0.0.1` and `host/10.0.0.1` stay addresses: the path names
        // a repository (`a/b`) and ends with a name, not a separator.
        path.contains(&b'/')
            && !path.starts_with(b"/")
            && path.last().is_some_and(u8::is_ascii_alphanumeric)
    }

    pub(crate) fn set_cue(&mut self, cue: Cue, at: usize) {
        match cue {
            Cue::Version => self.version_cue = Some(at),
            Cue::Phone => self.phone_cue = Some(at),
            Cue::Ssn => self.ssn_cue = Some(at),
            Cue::Client => self.version_cue = None,
        }
    }

    fn at_boundary(&self, i: usize) -> bool {
        i == 0 || !is_word(self.bytes[i - 1])
    }

    /// End of the run of word bytes starting at `i`.
    ///
    /// Eight bytes at a time: most words end within the first eight, and
    /// one test per eight bytes is cheaper than a branch per byte whose
    /// outcome the processor cannot guess.
    #[inline]
    pub(crate) fn word_end(&self, i: usize) -> usize {
        let bytes = self.bytes;
        let mut j = i;
        while let Some(chunk) = bytes.get(j..).and_then(<[u8]>::first_chunk::<8>) {
            let outside = non_word_lanes(u64::from_le_bytes(*chunk));
            if outside != 0 {
                // Little-endian: the lowest lane is the first byte.
                return j + (outside.trailing_zeros() / 8) as usize;
            }
            j += 8;
        }
        while j < bytes.len() && is_word(bytes[j]) {
            j += 1;
        }
        j
    }

    /// End of the run starting at `i` of bytes for which `keep` holds, at
    /// most `limit` bytes long.
    pub(crate) fn run_end(&self, i: usize, limit: usize, keep: impl Fn(u8) -> bool) -> usize {
        let end = self.bytes.len().min(i.saturating_add(limit));
        let mut j = i;
        while j < end && keep(self.bytes[j]) {
            j += 1;
        }
        j
    }

    /// A word: fixed token prefixes, IBAN, keywords, IPv6 groups.
    fn word(&mut self, i: usize) -> usize {
        let j = self.word_end(i);
        if !self.at_boundary(i) {
            return j;
        }
        let word = &self.bytes[i..j];
        if let Some(end) = self.token_prefix(i, word) {
            return end;
        }
        if word.len() >= 4
            && word[0].is_ascii_uppercase()
            && word[1].is_ascii_uppercase()
            && word[2].is_ascii_digit()
            && word[3].is_ascii_digit()
        {
            if let Some(end) = self.iban(i) {
                return end;
            }
        }
        if j < self.bytes.len() && self.bytes[j] == b':' && word.len() <= 4 {
            if let Some(end) = self.ipv6(i) {
                return end;
            }
        }
        if let Some(end) = self.base64_secret(i, j) {
            return end;
        }
        if let Some(end) = cues::postcode(self, i, j) {
            return end;
        }
        if let Some(end) = cues::keyword(self, i, j) {
            return end;
        }
        // A capitalized word, as names are written: `Megan`, not `INFO`.
        if matches!(word[0], b'A'..=b'Z' | 0xC3..=0xC5) {
            let second = self.bytes.get(i + 1).copied().unwrap_or(b' ');
            if second.is_ascii_lowercase() || second >= 0x80 || second == b'\'' {
                if let Some(end) = cues::person(self, i, j) {
                    return end;
                }
            }
        }
        j
    }

    /// Tokens that announce themselves by a fixed prefix: AWS key ids,
    /// GitHub, Slack, Stripe and Google keys, JWTs.
    fn token_prefix(&mut self, i: usize, word: &[u8]) -> Option<usize> {
        // Most words start with none of the prefixes' first letters: one
        // comparison refuses them before the patterns.
        if word.len() < 2 || !PREFIX_START[usize::from(word[0])] {
            return None;
        }
        if let Some(end) = self.dashed_token(i, word) {
            return Some(end);
        }
        if word.len() < 3 {
            return None;
        }
        let bytes = self.bytes;
        let upper_digit = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
        match &word[..3] {
            b"AKI" | b"ASI" | b"ABI" | b"ACC" | b"AGP" | b"AID" | b"AIP" | b"ANP" | b"ANV"
            | b"APK" | b"ARO" | b"ASC" => {
                let known = [
                    b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AIPA", b"ANPA",
                    b"ANVA", b"APKA", b"AROA", b"ASCA",
                ];
                if word.len() == 20
                    && known.iter().any(|p| word.starts_with(*p))
                    && word.iter().all(upper_digit)
                {
                    self.push(Kind::Secret, i..i + 20, 0.95);
                    return Some(i + 20);
                }
            }
            b"ghp" | b"gho" | b"ghu" | b"ghs" | b"ghr"
                if word.get(3) == Some(&b'_')
                    && word.len() >= 40
                    && word[4..].iter().all(u8::is_ascii_alphanumeric) =>
            {
                let end = i + word.len();
                self.push(Kind::Secret, i..end, 0.95);
                return Some(end);
            }
            b"git" if word.starts_with(b"github_pat_") && word.len() >= 40 => {
                let end = i + word.len();
                self.push(Kind::Secret, i..end, 0.95);
                return Some(end);
            }
            b"xox"
                if word.len() == 4
                    && matches!(word[3], b'a' | b'b' | b'p' | b'r' | b's' | b'e')
                    && bytes.get(i + 4) == Some(&b'-') =>
            {
                let end = self.run_end(i, 256, |b| b.is_ascii_alphanumeric() || b == b'-');
                if end - i >= 20 {
                    self.push(Kind::Secret, i..end, 0.95);
                    return Some(end);
                }
            }
            b"sk_" | b"rk_"
                if (word.starts_with(b"sk_live_")
                    || word.starts_with(b"rk_live_")
                    || word.starts_with(b"sk_test_")
                    || word.starts_with(b"rk_test_"))
                    && word.len() >= 20 =>
            {
                let end = i + word.len();
                self.push(Kind::Secret, i..end, 0.95);
                return Some(end);
            }
            // Hugging Face, npm and DigitalOcean tokens.
            b"hf_" if word.len() == 37 && word[3..].iter().all(u8::is_ascii_alphanumeric) => {
                self.push(Kind::Secret, i..i + 37, 0.95);
                return Some(i + 37);
            }
            b"npm"
                if word.len() == 40
                    && word[3] == b'_'
                    && word[4..].iter().all(u8::is_ascii_alphanumeric) =>
            {
                self.push(Kind::Secret, i..i + 40, 0.95);
                return Some(i + 40);
            }
            b"dop" | b"doo" | b"dor"
                if word.len() == 71
                    && word[3..7] == *b"_v1_"
                    && word[7..].iter().all(u8::is_ascii_hexdigit) =>
            {
                self.push(Kind::Secret, i..i + 71, 0.95);
                return Some(i + 71);
            }
            b"AIz" if word.starts_with(b"AIza") => {
                let end = self.run_end(i, 64, |b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                });
                if end - i == 39 {
                    self.push(Kind::Secret, i..end, 0.95);
                    return Some(end);
                }
            }
            b"eyJ" | b"eyA" | b"ewo" | b"ew0" => return self.jwt(i),
            b"LS0" if word.starts_with(b"LS0tLS1CRUdJTi") => return self.base64_pem(i),
            _ => {}
        }
        None
    }

    /// Tokens whose prefix ends in a dash: OpenAI's and Anthropic's `sk-…`
    /// (`sk-proj-`, `sk-ant-api03-`, …), GitLab's `glpat-`, Slack's app
    /// tokens `xapp-` and PyPI's `pypi-`: the whole run of letters, digits,
    /// `_` and `-`, when it is long and has a digit and an upper-case letter
    /// (a hyphenated slug has neither).
    fn dashed_token(&mut self, i: usize, word: &[u8]) -> Option<usize> {
        let min = match word {
            b"sk" => 40,
            b"glpat" => 26,
            b"xapp" => 30,
            b"pypi" => 60,
            _ => return None,
        };
        if self.bytes.get(i + word.len()) != Some(&b'-') {
            return None;
        }
        let end = self.run_end(i, 512, |b| {
            b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
        });
        let token = &self.bytes[i..end];
        if token.len() < min
            || !token.iter().any(u8::is_ascii_digit)
            || !token[word.len()..].iter().any(u8::is_ascii_uppercase)
        {
            return None;
        }
        self.push(Kind::Secret, i..end, 0.95);
        Some(end)
    }

    /// A JWT (JWS or JWE): base64url segments joined by dots, the first of
    /// which decodes to a JSON object with an `alg`. The whole token is
    /// masked, every segment.
    fn jwt(&mut self, i: usize) -> Option<usize> {
        let end = self.run_end(i, usize::MAX, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
        });
        let mut end = end;
        while end > i && self.bytes[end - 1] == b'.' {
            end -= 1;
        }
        let token = &self.bytes[i..end];
        let mut parts = token.split(|&b| b == b'.');
        let header = parts.next()?;
        let payload = parts.next()?;
        if payload.is_empty() || header.len() < 10 {
            return None;
        }
        self.scratch.clear();
        validate::base64url_decode(header, &mut self.scratch)?;
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&self.scratch).ok()?;
        if !parsed.contains_key("alg") {
            return None;
        }
        self.push(Kind::Secret, i..end, 0.95);
        Some(end)
    }

    /// A PEM private key encoded once more in base64, as Kubernetes secrets
    /// and environment variables carry it: `LS0tLS1CRUdJTi…` is
    /// `-----BEGIN`.
    fn base64_pem(&mut self, i: usize) -> Option<usize> {
        let end = self.run_end(i, usize::MAX, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
        });
        let head = &self.bytes[i..end.min(i + 64)];
        self.scratch.clear();
        validate::base64url_decode(head, &mut self.scratch)?;
        if !self.scratch.windows(11).any(|w| {
            w.starts_with(b"PRIVATE") && matches!(w[7], b' ' | b'+') && w.ends_with(b"KEY")
        }) {
            return None;
        }
        self.push(Kind::Secret, i..end, 0.99);
        Some(end)
    }

    /// A 40-character base64 value with upper and lower case and digits, the
    /// shape of an AWS secret access key.
    fn base64_secret(&mut self, i: usize, word_end: usize) -> Option<usize> {
        let next = self.bytes.get(word_end).copied();
        if word_end - i != 40 && !matches!(next, Some(b'/' | b'+')) {
            return None;
        }
        let end = self.run_end(i, 41, |b| {
            b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
        });
        if end - i != 40
            || self
                .bytes
                .get(end)
                .is_some_and(|&b| is_word(b) || b == b'/')
        {
            return None;
        }
        let token = &self.bytes[i..end];
        let upper = token.iter().any(u8::is_ascii_uppercase);
        let lower = token.iter().any(u8::is_ascii_lowercase);
        let digit = token.iter().any(u8::is_ascii_digit);
        if upper && lower && digit {
            self.push(Kind::Secret, i..end, 0.7);
            return Some(end);
        }
        None
    }

    /// An IBAN starting at `i` (two letters, two digits), compact or in
    /// groups of four.
    fn iban(&mut self, i: usize) -> Option<usize> {
        let bytes = self.bytes;
        let length = validate::iban_length([bytes[i], bytes[i + 1]])?;
        let mut compact = [0u8; 34];
        let mut n = 0;
        let mut j = i;
        while n < length && j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_uppercase() || b.is_ascii_digit() {
                compact[n] = b;
                n += 1;
                j += 1;
            } else if b == b' ' && n % 4 == 0 && n > 0 {
                j += 1;
            } else {
                break;
            }
        }
        if n != length || bytes.get(j).is_some_and(|&b| is_word(b)) {
            return None;
        }
        // An IBAN-shaped string with wrong check digits stays visible, and
        // its digits are not read again as a card or a phone number.
        if validate::iban(&compact[..n]) {
            self.push(Kind::Iban, i..j, 0.97);
        }
        Some(j)
    }

    /// An IPv6 address starting at `i`.
    fn ipv6(&mut self, i: usize) -> Option<usize> {
        let mut end = self.run_end(i, 46, |b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if end - i >= 46 {
            return None;
        }
        while end > i && matches!(self.bytes[end - 1], b'.' | b':') {
            // A trailing `::` belongs to the address; a single `:` or `.`
            // ends a sentence or starts a port.
            if self.bytes[end - 1] == b':' && end >= i + 2 && self.bytes[end - 2] == b':' {
                break;
            }
            end -= 1;
        }
        if self.bytes.get(end).is_some_and(|&b| is_word(b)) {
            return None;
        }
        let candidate = &self.text[i..end];
        let colons = candidate.bytes().filter(|&b| b == b':').count();
        let compressed = candidate.contains("::");
        if colons < 2 || !(compressed || colons == 7) {
            return None;
        }
        let digit = candidate.bytes().any(|b| b.is_ascii_digit());
        if !digit && colons < 3 {
            return None;
        }
        if candidate.parse::<std::net::Ipv6Addr>().is_err() {
            return None;
        }
        self.push(Kind::IpAddress, i..end, 0.9);
        Some(end)
    }

    fn colon(&mut self, i: usize) -> usize {
        if self.bytes.get(i + 1) == Some(&b':')
            && (i == 0 || !self.bytes[i - 1].is_ascii_hexdigit())
            && self.bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            if let Some(end) = self.ipv6(i) {
                return end;
            }
        }
        i + 1
    }

    /// `@`: an email address, or the user and password of a URL.
    fn at(&mut self, i: usize) -> usize {
        let bytes = self.bytes;
        let local_char =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
        // URL credentials: `scheme://user:pass@host`.
        let mut k = i;
        let floor = i.saturating_sub(256);
        while k > floor
            && !matches!(
                bytes[k - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'"' | b'\'' | b'<' | b'>' | b'@' | b'`'
            )
        {
            k -= 1;
        }
        if k >= 3 && &bytes[k - 3..k] == b"://" {
            if k < i && bytes[k..i].contains(&b':') {
                self.push(Kind::Secret, k..i, 0.95);
            }
            return i + 1;
        }
        let mut start = i;
        while start > i.saturating_sub(64) && local_char(bytes[start - 1]) {
            start -= 1;
        }
        while start < i && !bytes[start].is_ascii_alphanumeric() {
            start += 1;
        }
        if start == i {
            return i + 1;
        }
        let domain_end = self.run_end(i + 1, 255, |b| {
            b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
        });
        let mut end = domain_end;
        while end > i + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &bytes[i + 1..end];
        let Some(dot) = domain.iter().rposition(|&b| b == b'.') else {
            return i + 1;
        };
        let tld = &domain[dot + 1..];
        let labels_ok = domain
            .split(|&b| b == b'.')
            .all(|label| !label.is_empty() && label[0] != b'-');
        if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) || !labels_ok {
            return i + 1;
        }
        if bytes.get(end).is_some_and(|&b| b == b'@') {
            return i + 1;
        }
        self.push(Kind::Email, start..end, 0.97);
        end
    }

    /// `-----BEGIN … PRIVATE KEY-----`: the whole block, to its END line,
    /// or to the end of the string or paragraph when the END line is
    /// missing. Every PEM private key form (`RSA`, `EC`, `DSA`, PKCS #8,
    /// `ENCRYPTED`, `OPENSSH`, PGP's `PRIVATE KEY BLOCK`) names `PRIVATE
    /// KEY` in its header; in form encoding its spaces are `+`.
    pub(crate) fn dash(&mut self, i: usize) -> usize {
        const BEGIN: &[u8] = b"-----BEGIN";
        if self.bytes.get(i + 1) != Some(&b'-')
            || !self.bytes[i..].starts_with(BEGIN)
            || !matches!(self.bytes.get(i + BEGIN.len()), Some(b' ' | b'+'))
        {
            return i + 1;
        }
        let header_start = i + BEGIN.len() + 1;
        // The header is read as bytes: its 64-byte window may end inside a
        // multi-byte character.
        let header_end = self.run_end(header_start, 64, |b| b != b'\n' && b != b'-');
        let header = &self.bytes[header_start..header_end];
        if !header.windows(11).any(|w| {
            w.starts_with(b"PRIVATE") && matches!(w[7], b' ' | b'+') && w.ends_with(b"KEY")
        }) {
            return header_end;
        }
        let window_end = floor_char_boundary(self.text, self.bytes.len().min(i + 1024 * 1024));
        let window = &self.bytes[header_end..window_end];
        let end = match find(window, b"-----END") {
            Some(at) => {
                let after = header_end + at + 8;
                find(&self.bytes[after..window_end], b"-----").map_or(window_end, |c| after + c + 5)
            }
            // No END line: the key runs to the end of its string (a quote,
            // escaped or not) or paragraph.
            None => {
                let stop = window
                    .iter()
                    .enumerate()
                    .position(|(k, &b)| {
                        matches!(b, b'"' | b'\'' | b'`' | b'<' | b'>' | b'{' | b'}')
                            || b == b'\n' && matches!(window.get(k + 1), Some(b'\n'))
                            || b == b'\n'
                                && window.get(k + 1) == Some(&b'\r')
                                && window.get(k + 2) == Some(&b'\n')
                    })
                    .map_or(window.len(), |at| at);
                let mut end = header_end + stop;
                // `…\"`: the backslashes escape the closing quote.
                while end > header_end && self.bytes[end - 1] == b'\\' {
                    end -= 1;
                }
                end
            }
        };
        let end = floor_char_boundary(self.text, end);
        self.push(Kind::Secret, i..end, 0.99);
        end
    }

    /// Extends the secrets that end a line over the lines that continue
    /// them: a token wrapped at a fixed width (base64 at 64 or 76 columns)
    /// goes on at the start of the next line with nothing else on it.
    fn join_wrapped(&mut self) {
        let bytes = self.bytes;
        for found in &mut self.found {
            if !found.kind.is_secret() {
                continue;
            }
            let mut end = found.range.end;
            // A PEM block that reached its END line is complete: the next
            // line is the text after it.
            if bytes[found.range.start..end].ends_with(b"-----") {
                continue;
            }
            // A token wrapped right after a `.` (a JWT's segment) or its
            // `=` padding.
            let trailing = bytes[end..]
                .iter()
                .take(4)
                .take_while(|&&b| matches!(b, b'.' | b'='))
                .count();
            if matches!(bytes.get(end + trailing), Some(b'\n' | b'\r')) {
                end += trailing;
            }
            let start_end = end;
            let mut previous = usize::MAX;
            // Text wrapped at a fixed width (64 columns for PEM and most
            // tools, 76 for MIME): the line the token ends on is full.
            let line_start = bytes[..end]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            let full_line = matches!(end - line_start, 64 | 76);
            loop {
                let next = match (bytes.get(end), bytes.get(end + 1)) {
                    (Some(b'\n'), _) => end + 1,
                    (Some(b'\r'), Some(b'\n')) => end + 2,
                    _ => break,
                };
                let line_end = next
                    + bytes[next..]
                        .iter()
                        .take(257)
                        .position(|&b| !is_token_byte(b))
                        .unwrap_or(bytes.len().min(next + 257) - next);
                let len = line_end - next;
                let ends_line = matches!(bytes.get(line_end), None | Some(b'\n' | b'\r'));
                // The last piece may have text after it on its line; a
                // plain word there is text, not the token's end.
                let piece = &bytes[next..line_end];
                let tokenish = len >= 16
                    || piece.iter().any(|&b| !b.is_ascii_lowercase())
                        && piece.iter().any(|&b| !b.is_ascii_alphabetic());
                // Once the text is known to be wrapped at a fixed width,
                // any last piece but a plain word (`done`, `Done`) is the
                // token's end.
                let wrapped = full_line || previous != usize::MAX;
                let word = piece.first().is_some_and(u8::is_ascii_alphabetic)
                    && piece[1..].iter().all(u8::is_ascii_lowercase);
                if len == 0
                    || len > 256
                    || len > previous
                    || !(ends_line || tokenish || wrapped && !word)
                {
                    break;
                }
                end = line_end;
                if !ends_line || len < previous && previous != usize::MAX {
                    break;
                }
                previous = len;
            }
            // The `.` or `=` alone, with nothing after it, stays.
            if end > start_end {
                found.range.end = end;
            }
        }
    }

    fn plus(&mut self, i: usize) -> usize {
        if self.bytes.get(i + 1).is_some_and(u8::is_ascii_digit) && self.at_boundary(i) {
            return self.number(i + 1, true);
        }
        i + 1
    }

    fn digits(&mut self, i: usize) -> usize {
        if !self.at_boundary(i) {
            return self.word_end(i);
        }
        if self.shortcuts {
            if let Some(end) = utc_timestamp_end(self.bytes, i) {
                return end;
            }
        }
        self.number(i, false)
    }

    /// A run of digit groups starting at `i`: cards, SSNs, phones, IPv4,
    /// ZIP codes after a state.
    fn number(&mut self, i: usize, plus: bool) -> usize {
        let bytes = self.bytes;
        let first_end = self.run_end(i, usize::MAX, |b| b.is_ascii_digit());
        if bytes.get(first_end).is_some_and(|&b| is_word(b)) {
            // Digits that start a word (`4f3a…`, `2001:db8::1`, `3rd`).
            let end = self.word_end(i);
            if bytes.get(end) == Some(&b':') && end - i <= 4 {
                if let Some(ipv6_end) = self.ipv6(i) {
                    return ipv6_end;
                }
            }
            return cues::keyword(self, i, end).unwrap_or(end);
        }
        if bytes.get(first_end) == Some(&b':') && first_end - i <= 4 {
            if let Some(end) = self.ipv6(i) {
                return end;
            }
        }
        // Most numbers in logs (counts, ports, durations) are one short
        // group: they stop here, before a run is read.
        if !plus && first_end - i < 9 && !NumberRun::continues(bytes, first_end) {
            return first_end;
        }
        let run = NumberRun::read(bytes, i);
        let single = run.count == 1;
        let digits_total = run.digit_count();
        // Most numbers in logs (counts, ports, durations) stop here.
        if single && !plus && digits_total < 9 {
            return run.end();
        }
        if run.count == 1 && digits_total > 19 {
            return run.end();
        }
        let mut a = 0;
        let mut resume = run.end();
        while a < run.count {
            let mut matched = None;
            for b in (a + 1..=run.count).rev() {
                if let Some(hit) = self.classify(&run, a, b, plus && a == 0) {
                    matched = Some((b, hit));
                    break;
                }
            }
            match matched {
                Some((b, (kind, start, confidence))) => {
                    let mut end = run.groups[b - 1].1;
                    if kind == Kind::Phone && b == run.count && run.extension > end {
                        end = run.extension;
                        resume = resume.max(end);
                    }
                    self.push(kind, start..end, confidence);
                    a = b;
                }
                None => a += 1,
            }
        }
        if let Some(zip) = cues::state_zip(self, &run) {
            resume = resume.max(zip);
        }
        resume
    }

    /// Shapes that only phone numbers take, read without a phone word:
    /// a North American number with an extension (`617.166.1264x847`), an
    /// area code in parentheses before two groups joined by a dash
    /// (`(85) 9334-4656`, `(22) 154-300`), a trunk prefix before dashed
    /// groups or one long group (`0643-8801668`, `040-882-480`,
    /// `0394 7082427`), four pairs joined by dashes (`53-41-43-35`).
    /// Amounts (`670 453 362`), dates, versions and identifiers do not take
    /// these shapes; the other national formats need a phone word.
    fn phone_shape(
        &self,
        run: &NumberRun,
        a: usize,
        b: usize,
        digits: &[u8],
        paren: bool,
    ) -> Option<(Kind, usize, f32)> {
        let groups = &run.groups[a..b];
        let n = digits.len();
        // Every shape has two groups or more and eight digits or more.
        if groups.len() < 2 || n < 8 {
            return None;
        }
        let seps = &run.seps[a..b - 1];
        let start = groups[0].0;
        let len = |k: usize| groups.get(k).map_or(0, |&(s, e)| e - s);
        let all = |sep: Sep| seps.iter().all(|&s| s == sep);
        let from = if paren { start - 1 } else { start };
        let extension = b == run.count && run.extension > groups[groups.len() - 1].1;
        // Part of a longer identifier: `0643-8801668-ab`, `06-10446904/2`.
        let end = groups[groups.len() - 1].1;
        if !extension
            && matches!(self.bytes.get(end), Some(b'-' | b'_' | b'/' | b'.'))
            && self
                .bytes
                .get(end + 1)
                .is_some_and(u8::is_ascii_alphanumeric)
        {
            return None;
        }
        let nanp = groups.len() == 3 && len(0) == 3 && len(1) == 3 && len(2) == 4;
        if extension && nanp && (all(Sep::Dash) || all(Sep::Dot) || paren && seps[1] == Sep::Dash) {
            return Some((Kind::Phone, from, 0.85));
        }
        if paren
            && groups.len() == 3
            && seps[1] == Sep::Dash
            && (2..=3).contains(&len(0))
            && (3..=4).contains(&len(1))
            && (3..=4).contains(&len(2))
            && (8..=11).contains(&n)
        {
            return Some((Kind::Phone, from, 0.8));
        }
        let trunk = !paren && (9..=11).contains(&n) && digits[0] == b'0' && digits[1] != b'0';
        if trunk
            && (2..=4).contains(&len(0))
            && (all(Sep::Dash)
                && (2..=4).contains(&groups.len())
                && groups[1..].iter().all(|&(s, e)| (3..=8).contains(&(e - s)))
                || all(Sep::Space) && groups.len() == 2 && (6..=8).contains(&len(1)))
        {
            return Some((Kind::Phone, start, 0.8));
        }
        if groups.len() == 4 && all(Sep::Dash) && (0..4).all(|k| len(k) == 2) {
            return Some((Kind::Phone, start, 0.7));
        }
        None
    }

    /// What groups `a..b` of a number run are, if anything: the kind, where
    /// the value starts (a `+` or `(` belongs to a phone number) and the
    /// confidence.
    fn classify(
        &self,
        run: &NumberRun,
        a: usize,
        b: usize,
        plus: bool,
    ) -> Option<(Kind, usize, f32)> {
        let groups = &run.groups[a..b];
        let seps = &run.seps[a..b - 1];
        let start = groups[0].0;
        // A sub-run next to the same `-` or `.` is part of a longer
        // identifier (a version, a UUID), not a value of its own.
        let joined = |sep: Sep| matches!(sep, Sep::Dash | Sep::Dot);
        if a > 0 && joined(run.seps[a - 1]) || b < run.count && joined(run.seps[b - 1]) {
            return None;
        }
        let mut digits = [0u8; 40];
        let mut n = 0;
        for &(s, e) in groups {
            for &d in &self.bytes[s..e] {
                if n == digits.len() {
                    return None;
                }
                digits[n] = d;
                n += 1;
            }
        }
        let digits = &digits[..n];
        let lens = |expected: &[usize]| {
            groups.len() == expected.len()
                && groups.iter().zip(expected).all(|(&(s, e), &l)| e - s == l)
        };
        let uniform = seps.windows(2).all(|w| w[0] == w[1]);
        let first_sep = seps.first().copied();

        if plus {
            // `+41 (0)30 701 56 09`, `+49(0)6692870724`: the `(0)` is the
            // trunk prefix, dialled at home only; the number is the rest.
            let trunk = groups.len() >= 3
                && seps[0] == Sep::Open
                && seps[1] == Sep::Paren
                && &self.bytes[groups[1].0..groups[1].1] == b"0";
            let number = if trunk {
                let code = groups[0].1 - groups[0].0;
                let mut without = [0u8; 40];
                without[..code].copy_from_slice(&digits[..code]);
                without[code..n - 1].copy_from_slice(&digits[code + 1..]);
                validate::phone(&without[..n - 1], Dialing::International)
            } else {
                validate::phone(digits, Dialing::International)
            };
            return number.then_some((Kind::Phone, start - 1, 0.95));
        }
        // IPv4.
        if groups.len() == 4 && seps.iter().all(|&s| s == Sep::Dot) {
            let octets_ok = groups.iter().all(|&(s, e)| {
                e - s <= 3 && self.text[s..e].parse::<u16>().is_ok_and(|v| v <= 255)
            });
            if octets_ok && !self.version_before(start) && !self.image_tag_before(start) {
                return Some((Kind::IpAddress, start, 0.9));
            }
            // `4242.4242.4242.4242` may still be a card.
            if !lens(&[4, 4, 4, 4]) {
                return None;
            }
        }
        if seps.contains(&Sep::Dot) && !uniform {
            return None;
        }
        // SSN.
        if lens(&[3, 2, 4]) && uniform && matches!(first_sep, Some(Sep::Dash | Sep::Space)) {
            return validate::ssn(digits).then_some((Kind::UsSsn, start, 0.9));
        }
        if groups.len() == 1
            && n == 9
            && self.cue_near(self.ssn_cue, start)
            && validate::ssn(digits)
        {
            return Some((Kind::UsSsn, start, 0.8));
        }
        // Payment cards: compact, in groups of four (the last of one to
        // five), Amex and Diners 4-6-5 and 4-6-4, long Maestro 6-13 or
        // 4-4-4-4-3; spaces, dashes, or dots in groups of four.
        if (12..=19).contains(&n)
            && (groups.len() == 1
                || uniform && matches!(first_sep, Some(Sep::Space | Sep::Dash | Sep::Dot)))
        {
            let fours = groups.len() >= 3
                && groups[..groups.len() - 1].iter().all(|&(s, e)| e - s == 4)
                && groups
                    .last()
                    .is_some_and(|&(s, e)| (1..=5).contains(&(e - s)));
            let dotted = first_sep == Some(Sep::Dot);
            let other = !dotted && (lens(&[4, 6, 5]) || lens(&[4, 6, 4]) || lens(&[6, 13]));
            if (groups.len() == 1 || fours || other) && validate::card(digits) {
                return Some((Kind::CreditCard, start, 0.95));
            }
        }
        // Phones in national formats.
        let paren = start > 0 && self.bytes[start - 1] == b'(' && first_sep == Some(Sep::Paren);
        if paren && lens(&[3, 3, 4]) && validate::phone(digits, Dialing::National) {
            return Some((Kind::Phone, start - 1, 0.9));
        }
        // An area code with its trunk prefix in parentheses: `(03) 6257
        // 6885`, `(0151) 234 5678`.
        if paren
            && digits.first() == Some(&b'0')
            && (2..=5).contains(&(groups[0].1 - groups[0].0))
            && groups.len() >= 2
            && groups.iter().all(|&(s, e)| (2..=8).contains(&(e - s)))
            && seps[1..]
                .iter()
                .all(|&sep| matches!(sep, Sep::Space | Sep::Dash))
            && validate::phone(digits, Dialing::National)
        {
            return Some((Kind::Phone, start - 1, 0.9));
        }
        if digits.starts_with(b"00")
            && groups.len() >= 2
            && validate::phone(&digits[2..], Dialing::International)
        {
            return Some((Kind::Phone, start, 0.8));
        }
        if groups.len() >= 2
            && uniform
            && matches!(first_sep, Some(Sep::Space | Sep::Dash | Sep::Dot))
        {
            let nanp_shape = lens(&[3, 3, 4]) || lens(&[1, 3, 3, 4]);
            let trunk_shape = digits.first() == Some(&b'0')
                && groups.iter().all(|&(s, e)| (2..=8).contains(&(e - s)))
                && (groups.len() >= 3 || self.cue_near(self.phone_cue, start));
            if (nanp_shape || trunk_shape) && validate::phone(digits, Dialing::National) {
                return Some((Kind::Phone, start, 0.85));
            }
        }
        if let Some(found) = self.phone_shape(run, a, b, digits, paren) {
            return Some(found);
        }
        let last_end = if b == run.count && run.extension > 0 {
            run.extension
        } else {
            groups[groups.len() - 1].1
        };
        // Read only where a phone word would decide.
        let cued =
            || self.cue_near(self.phone_cue, start) || phone_word_after(self.bytes, last_end);
        if groups.len() == 1
            && (7..=15).contains(&n)
            && cued()
            && validate::phone(digits, Dialing::National)
        {
            return Some((Kind::Phone, start, 0.75));
        }
        // After a phone word (`Phone: 95 331779`, `call me on 9777 9356`,
        // `Mobile: (59) 106-048`): a national number of the many countries
        // with 7 to 12 digits, in two to five groups. A date (`2024-06-13`)
        // is not one.
        let len = |k: usize| groups.get(k).map(|&(s, e)| e - s);
        let date = matches!((len(0), len(1), len(2)), (Some(4), Some(2), Some(2)) | (Some(2), Some(2), Some(4)))
            // A time follows: `2024-06-09 21:46`.
            || self.bytes.get(groups[groups.len() - 1].1) == Some(&b':');
        if (2..=5).contains(&groups.len())
            && (7..=12).contains(&n)
            && !date
            && groups.iter().all(|&(s, e)| (1..=8).contains(&(e - s)))
            && seps.iter().enumerate().all(|(k, &sep)| {
                matches!(sep, Sep::Space | Sep::Dash | Sep::Dot) || k == 0 && sep == Sep::Paren
            })
            && (first_sep != Some(Sep::Paren) || paren)
            && digits.iter().any(|&d| d != digits[0])
            && cued()
        {
            let from = if paren { start - 1 } else { start };
            return Some((Kind::Phone, from, 0.7));
        }
        None
    }
}

/// Whether a phone word follows the number ending at `end`: `53-41-43-35
/// office`, `785 2419-Office`, `6035579730-Fax`, `555 0100 (mobile)`.
fn phone_word_after(bytes: &[u8], end: usize) -> bool {
    let mut k = end;
    if matches!(bytes.get(k), Some(b' ' | b'-')) {
        k += 1;
    }
    if bytes.get(k) == Some(&b'(') {
        k += 1;
    }
    let start = k;
    while k < bytes.len() && k - start <= 8 && bytes[k].is_ascii_alphabetic() {
        k += 1;
    }
    if k == end || bytes.get(k).is_some_and(|&b| is_word(b)) {
        return false;
    }
    let word = &bytes[start..k];
    [
        &b"office"[..],
        b"fax",
        b"mobile",
        b"cell",
        b"tel",
        b"phone",
        b"landline",
    ]
    .iter()
    .any(|w| word.eq_ignore_ascii_case(w))
}

/// The end of an RFC 3339 timestamp in UTC (`2024-05-03T10:03:14Z`, with or
/// without a fraction of a second) starting at `i` and ending a word, the
/// most common number-like thing in logs.
///
/// Read group by group, such a timestamp yields nothing: `2024-05` is no
/// kind of number when its first digit is not `0` (a leading `0` could start
/// a phone number), `03T10` is a word, `03:14.156Z` cannot be an IPv6
/// address because a letter follows it, `14.156` and `156Z` stop at the
/// letter. So it is skipped whole, in one comparison against its shape; a
/// test checks that the scanner finds the same with and without this.
fn utc_timestamp_end(bytes: &[u8], i: usize) -> Option<usize> {
    const SHAPE: &[u8; 19] = b"0000-00-00T00:00:00";
    let head = bytes.get(i..i + SHAPE.len())?;
    let shaped = head.iter().zip(SHAPE).all(|(&b, &shape)| {
        if shape == b'0' {
            b.is_ascii_digit()
        } else {
            b == shape
        }
    });
    if !shaped || head[0] == b'0' {
        return None;
    }
    let mut end = i + SHAPE.len();
    if bytes.get(end) == Some(&b'.') {
        let fraction = end + 1;
        end = fraction;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == fraction {
            return None;
        }
    }
    if bytes.get(end) != Some(&b'Z') || bytes.get(end + 1).is_some_and(|&b| is_word(b)) {
        return None;
    }
    Some(end + 1)
}

/// The largest char boundary at or before `at`.
pub(crate) fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// What separates two digit groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sep {
    Space,
    Dash,
    Dot,
    /// `)` or `) ` after an area code.
    Paren,
    /// ` (` before an area code.
    Open,
}

/// Up to 12 digit groups separated by single separators.
pub(crate) struct NumberRun {
    pub(crate) groups: [(usize, usize); 12],
    pub(crate) seps: [Sep; 12],
    pub(crate) count: usize,
    /// Where a phone extension written onto the last group (`x874`,
    /// `ext.12`) ends, or 0.
    pub(crate) extension: usize,
}

impl NumberRun {
    fn read(bytes: &[u8], start: usize) -> Self {
        let mut run = NumberRun {
            groups: [(0, 0); 12],
            seps: [Sep::Space; 12],
            count: 0,
            extension: 0,
        };
        let mut k = start;
        loop {
            let mut e = k;
            while e < bytes.len() && bytes[e].is_ascii_digit() {
                e += 1;
            }
            if run.count > 0 && bytes.get(e).is_some_and(|&b| is_word(b)) {
                // The group starts a word (`12 items` is fine, `12abc` not),
                // unless the word is an extension (`6257x874`).
                if let Some(end) = extension_end(bytes, e).filter(|_| e > k) {
                    run.groups[run.count] = (k, e);
                    run.count += 1;
                    run.extension = end;
                }
                break;
            }
            run.groups[run.count] = (k, e);
            run.count += 1;
            if run.count == run.groups.len() || e - k > 19 {
                break;
            }
            let Some((sep, next)) = Self::separator(bytes, e) else {
                break;
            };
            run.seps[run.count - 1] = sep;
            k = next;
        }
        run
    }

    /// The separator at `e`, after a digit group, and where the next group
    /// starts, if another group follows.
    #[inline]
    fn separator(bytes: &[u8], e: usize) -> Option<(Sep, usize)> {
        let digit_at = |k: usize| bytes.get(k).is_some_and(u8::is_ascii_digit);
        match (bytes.get(e), bytes.get(e + 1)) {
            (Some(b' '), _) if digit_at(e + 1) => Some((Sep::Space, e + 1)),
            (Some(b'-'), _) if digit_at(e + 1) => Some((Sep::Dash, e + 1)),
            (Some(b'.'), _) if digit_at(e + 1) => Some((Sep::Dot, e + 1)),
            (Some(b')'), Some(b' ')) if digit_at(e + 2) => Some((Sep::Paren, e + 2)),
            (Some(b')'), _) if digit_at(e + 1) => Some((Sep::Paren, e + 1)),
            (Some(b' '), Some(b'(')) if digit_at(e + 2) => Some((Sep::Open, e + 2)),
            // `+49(0)…`: only the trunk prefix is written this way.
            (Some(b'('), Some(b'0')) if bytes.get(e + 2) == Some(&b')') => Some((Sep::Open, e + 1)),
            _ => None,
        }
    }

    /// Whether the digit group ending at `e` is followed by another, so that
    /// [`Self::read`] would read more than one group.
    #[inline]
    fn continues(bytes: &[u8], e: usize) -> bool {
        Self::separator(bytes, e).is_some()
    }

    pub(crate) fn end(&self) -> usize {
        self.groups[self.count - 1].1
    }

    fn digit_count(&self) -> usize {
        self.groups[..self.count].iter().map(|&(s, e)| e - s).sum()
    }
}

/// The end of a phone extension written onto a number at `at` (`x874`,
/// `ext123`, `ext.123`: one to six digits ending a word).
fn extension_end(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at..];
    let digits_at = if rest.starts_with(b"ext.") {
        4
    } else if rest.starts_with(b"ext") {
        3
    } else if rest.first() == Some(&b'x') {
        1
    } else {
        return None;
    };
    let start = at + digits_at;
    let mut end = start;
    while end < bytes.len() && end - start < 7 && bytes[end].is_ascii_digit() {
        end += 1;
    }
    let count = end - start;
    ((1..=6).contains(&count) && !bytes.get(end).is_some_and(|&b| is_word(b))).then_some(end)
}

/// The first offset of `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = 0;
    while at + needle.len() <= haystack.len() {
        let k = haystack[at..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        at += k;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// Bytes of base64, base64url and JWT tokens.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.')
}

/// Whether `byte` continues a UTF-8 character rather than starting one.
fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_byte_word_test_agrees_with_the_byte_table() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut chunk = *b"aaaaaaaa";
                chunk[lane] = b;
                let outside = non_word_lanes(u64::from_le_bytes(chunk));
                assert_eq!(outside == 0, is_word(b), "byte {b:#x} in lane {lane}");
                if !is_word(b) {
                    assert_eq!(outside.trailing_zeros() / 8, lane as u32);
                }
            }
        }
    }

    fn scan(text: &str, shortcuts: bool) -> Vec<(String, std::ops::Range<usize>)> {
        let mut scanner = Scanner::new(text);
        scanner.shortcuts = shortcuts;
        scanner
            .run()
            .into_iter()
            .map(|d| (d.kind.to_string(), d.range))
            .collect()
    }

    #[test]
    fn utc_timestamps_are_recognized_by_their_whole_shape() {
        let end = |text: &str| utc_timestamp_end(text.as_bytes(), 0);
        assert_eq!(end("2024-05-03T10:03:14Z"), Some(20));
        assert_eq!(end("2024-05-03T10:03:14.156Z rest"), Some(24));
        assert_eq!(end("2024-05-03T10:03:14.1Z,"), Some(22));
        for not in [
            "2024-05-03T10:03:14",
            "2024-05-03T10:03:14.Z",
            "2024-05-03T10:03:14Zulu",
            "2024-05-03T10:03:14+02:00",
            "2024-05-03 10:03:14Z",
            "0024-05-03T10:03:14Z",
            "2024-05-3T10:03:14Z",
            "2024/05/03T10:03:14Z",
        ] {
            assert_eq!(end(not), None, "{not}");
        }
    }

    #[test]
    fn skipping_utc_timestamps_finds_what_reading_them_finds() {
        // Every context word that changes how numbers read, every byte that
        // may follow, and timestamps that are not quite UTC.
        let stamps = [
            "2024-05-03T10:03:14Z",
            "2024-05-03T10:03:14.156Z",
            "1999-12-31T23:59:59.999999999Z",
            "2024-05-03T10:03:05.1Z",
            "0044-12-03T10:03:14Z",
            "2024-05-03T10:03:14.156",
            "2024-05-03T10:03:14+02:00",
            "2024-05-03T10:03:14::1",
            "2024-05-03 10:03:14Z",
        ];
        let before = [
            "",
            " ",
            "phone ",
            "call ",
            "ssn ",
            "version ",
            "login from ",
            "born ",
            "(",
            "+",
            "-",
            "x",
            "IBAN ",
            "Dear ",
            "id=",
        ];
        let after = [
            "",
            " ",
            "\n",
            ":",
            ":1",
            "::1",
            ".",
            ".5",
            " 5",
            "-5",
            "-12-34",
            " 555 0132",
            " 123-45-6789",
            "Z",
            "abc",
            "@example.com",
            "/x",
        ];
        let mut checked = 0;
        for stamp in stamps {
            for lead in before {
                for tail in after {
                    let text = format!("{lead}{stamp}{tail} and 2024-05-03T10:03:14Z{tail}");
                    assert_eq!(scan(&text, true), scan(&text, false), "{text:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, stamps.len() * before.len() * after.len());
    }

    proptest::proptest! {
        #[test]
        fn skipping_utc_timestamps_changes_nothing_in_any_text(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("2024-05-03T10:03:14Z".to_owned()),
                    proptest::strategy::Just("2024-05-03T10:03:14.156Z".to_owned()),
                    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,4})?Z?",
                    "[0-9]{1,12}",
                    "[ .:+()-]{1,2}",
                    "(phone|ssn|version|born|login from|call|tel|IBAN|Dear|user)",
                    "[a-zA-Z]{1,6}",
                ],
                0..24,
            )
        ) {
            let text = pieces.concat();
            proptest::prop_assert_eq!(scan(&text, true), scan(&text, false), "{:?}", text);
        }
    }

    #[test]
    fn word_end_agrees_with_a_byte_by_byte_walk() {
        let text = "ab_9 é€x1234567890abcdefGHIJ_klm-n\u{0}zz 0123456789abcdef!x";
        let scanner = Scanner::new(text);
        for i in 0..=text.len() {
            let mut j = i;
            while j < text.len() && is_word(text.as_bytes()[j]) {
                j += 1;
            }
            assert_eq!(scanner.word_end(i), j, "from {i}");
        }
    }
}
