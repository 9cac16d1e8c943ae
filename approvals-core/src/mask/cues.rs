//! Detectors started by a word: secrets after a secret-like key, names after
//! the cues people write, street addresses, dates of birth, and the context
//! words that other detectors consult (`version`, `phone`, `ssn`).

use super::kind::Kind;
use super::scan::{NumberRun, Scanner, is_word};
use super::validate;

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
enum Keyword {
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

const MAX_KEYWORD: usize = 40;

/// Every keyword and what it announces. Street suffixes and titles count
/// only when capitalized; `street` and `dr` also end addresses (see
/// [`keyword`]).
const WORDS: &[(&[u8], Keyword)] = &[
    (b"version", Keyword::Cue(Cue::Version)),
    (b"versions", Keyword::Cue(Cue::Version)),
    (b"ver", Keyword::Cue(Cue::Version)),
    (b"v", Keyword::Cue(Cue::Version)),
    (b"release", Keyword::Cue(Cue::Version)),
    (b"released", Keyword::Cue(Cue::Version)),
    (b"node", Keyword::Cue(Cue::Version)),
    (b"build", Keyword::Cue(Cue::Version)),
    (b"upgraded", Keyword::Cue(Cue::Version)),
    (b"upgrade", Keyword::Cue(Cue::Version)),
    (b"upgrading", Keyword::Cue(Cue::Version)),
    (b"updated", Keyword::Cue(Cue::Version)),
    (b"downgraded", Keyword::Cue(Cue::Version)),
    (b"rollback", Keyword::Cue(Cue::Version)),
    (b"firmware", Keyword::Cue(Cue::Version)),
    (b"kernel", Keyword::Cue(Cue::Version)),
    (b"revision", Keyword::Cue(Cue::Version)),
    (b"rev", Keyword::Cue(Cue::Version)),
    (b"tag", Keyword::Cue(Cue::Version)),
    (b"sdk", Keyword::Cue(Cue::Version)),
    (b"chrome", Keyword::Cue(Cue::Version)),
    (b"firefox", Keyword::Cue(Cue::Version)),
    (b"safari", Keyword::Cue(Cue::Version)),
    (b"agent", Keyword::Cue(Cue::Version)),
    (b"os", Keyword::Cue(Cue::Version)),
    (b"java", Keyword::Cue(Cue::Version)),
    (b"python", Keyword::Cue(Cue::Version)),
    (b"go", Keyword::Cue(Cue::Version)),
    (b"rust", Keyword::Cue(Cue::Version)),
    (b"npm", Keyword::Cue(Cue::Version)),
    (b"pip", Keyword::Cue(Cue::Version)),
    (b"phone", Keyword::Cue(Cue::Phone)),
    (b"tel", Keyword::Cue(Cue::Phone)),
    (b"telephone", Keyword::Cue(Cue::Phone)),
    (b"mobile", Keyword::Cue(Cue::Phone)),
    (b"cell", Keyword::Cue(Cue::Phone)),
    (b"call", Keyword::Cue(Cue::Phone)),
    (b"fax", Keyword::Cue(Cue::Phone)),
    (b"whatsapp", Keyword::Cue(Cue::Phone)),
    (b"sms", Keyword::Cue(Cue::Phone)),
    (b"text", Keyword::Cue(Cue::Phone)),
    (b"ph", Keyword::Cue(Cue::Phone)),
    (b"mob", Keyword::Cue(Cue::Phone)),
    (b"msisdn", Keyword::Cue(Cue::Phone)),
    (b"phones", Keyword::Cue(Cue::Phone)),
    (b"called", Keyword::Cue(Cue::Phone)),
    (b"dial", Keyword::Cue(Cue::Phone)),
    (b"ssn", Keyword::Cue(Cue::Ssn)),
    (b"social", Keyword::Cue(Cue::Ssn)),
    (b"ssns", Keyword::Cue(Cue::Ssn)),
    (b"login", Keyword::Cue(Cue::Client)),
    (b"logged", Keyword::Cue(Cue::Client)),
    (b"request", Keyword::Cue(Cue::Client)),
    (b"remote", Keyword::Cue(Cue::Client)),
    (b"src", Keyword::Cue(Cue::Client)),
    (b"ip", Keyword::Cue(Cue::Client)),
    (b"peer", Keyword::Cue(Cue::Client)),
    (b"connection", Keyword::Cue(Cue::Client)),
    (b"connect", Keyword::Cue(Cue::Client)),
    (b"connected", Keyword::Cue(Cue::Client)),
    (b"user", Keyword::Cue(Cue::Client)),
    (b"signin", Keyword::Cue(Cue::Client)),
    (b"session", Keyword::Cue(Cue::Client)),
    (b"authorization", Keyword::Authorization),
    (b"proxy_authorization", Keyword::Authorization),
    (b"bearer", Keyword::Bearer),
    (b"cookie", Keyword::Cookie),
    (b"set_cookie", Keyword::Cookie),
    (b"cookies", Keyword::Cookie),
    (b"pass", Keyword::Secret),
    (b"pw", Keyword::Secret),
    (b"key", Keyword::Secret),
    (b"name", Keyword::NameKey),
    (b"fullname", Keyword::NameKey),
    (b"full_name", Keyword::NameKey),
    (b"firstname", Keyword::NameKey),
    (b"first_name", Keyword::NameKey),
    (b"lastname", Keyword::NameKey),
    (b"last_name", Keyword::NameKey),
    (b"surname", Keyword::NameKey),
    (b"givenname", Keyword::NameKey),
    (b"given_name", Keyword::NameKey),
    (b"familyname", Keyword::NameKey),
    (b"family_name", Keyword::NameKey),
    (b"middlename", Keyword::NameKey),
    (b"middle_name", Keyword::NameKey),
    (b"customername", Keyword::NameKey),
    (b"customer_name", Keyword::NameKey),
    (b"contactname", Keyword::NameKey),
    (b"contact_name", Keyword::NameKey),
    (b"cardholder", Keyword::NameKey),
    (b"cardholder_name", Keyword::NameKey),
    (b"patientname", Keyword::NameKey),
    (b"patient_name", Keyword::NameKey),
    (b"employee_name", Keyword::NameKey),
    (b"displayname", Keyword::NameKey),
    (b"display_name", Keyword::NameKey),
    (b"recipient_name", Keyword::NameKey),
    (b"sender_name", Keyword::NameKey),
    (b"account_holder", Keyword::NameKey),
    (b"customer", Keyword::NameLead),
    (b"client", Keyword::NameLead),
    (b"patient", Keyword::NameLead),
    (b"employee", Keyword::NameLead),
    (b"contact", Keyword::NameLead),
    (b"applicant", Keyword::NameLead),
    (b"recipient", Keyword::NameLead),
    (b"sender", Keyword::NameLead),
    (b"from", Keyword::NameLead),
    (b"to", Keyword::NameLead),
    (b"cc", Keyword::NameLead),
    (b"attn", Keyword::NameLead),
    (b"signed", Keyword::NameLead),
    (b"member", Keyword::NameLead),
    (b"tenant", Keyword::NameLead),
    (b"guest", Keyword::NameLead),
    (b"passenger", Keyword::NameLead),
    (b"mr", Keyword::Title),
    (b"mrs", Keyword::Title),
    (b"ms", Keyword::Title),
    (b"miss", Keyword::Title),
    (b"dr", Keyword::Title),
    (b"prof", Keyword::Title),
    (b"mx", Keyword::Title),
    (b"dear", Keyword::Salutation),
    (b"hi", Keyword::Salutation),
    (b"hello", Keyword::Salutation),
    (b"hey", Keyword::Salutation),
    (b"regards", Keyword::Signoff),
    (b"sincerely", Keyword::Signoff),
    (b"thanks", Keyword::Signoff),
    (b"cheers", Keyword::Signoff),
    (b"best", Keyword::Signoff),
    (b"yours", Keyword::Signoff),
    (b"thank", Keyword::Signoff),
    (b"address", Keyword::AddressKey),
    (b"street", Keyword::AddressKey),
    (b"addr", Keyword::AddressKey),
    (b"street_address", Keyword::AddressKey),
    (b"streetaddress", Keyword::AddressKey),
    (b"shipping_address", Keyword::AddressKey),
    (b"billing_address", Keyword::AddressKey),
    (b"home_address", Keyword::AddressKey),
    (b"mailing_address", Keyword::AddressKey),
    (b"postal_address", Keyword::AddressKey),
    (b"address1", Keyword::AddressKey),
    (b"address_line1", Keyword::AddressKey),
    (b"address_line_1", Keyword::AddressKey),
    (b"born", Keyword::Birth),
    (b"dob", Keyword::Birth),
    (b"birth", Keyword::Birth),
    (b"birthday", Keyword::Birth),
    (b"birthdate", Keyword::Birth),
    (b"birth_date", Keyword::Birth),
    (b"date_of_birth", Keyword::Birth),
    (b"dateofbirth", Keyword::Birth),
    (b"st", Keyword::StreetSuffix),
    (b"avenue", Keyword::StreetSuffix),
    (b"ave", Keyword::StreetSuffix),
    (b"road", Keyword::StreetSuffix),
    (b"rd", Keyword::StreetSuffix),
    (b"boulevard", Keyword::StreetSuffix),
    (b"blvd", Keyword::StreetSuffix),
    (b"lane", Keyword::StreetSuffix),
    (b"ln", Keyword::StreetSuffix),
    (b"drive", Keyword::StreetSuffix),
    (b"court", Keyword::StreetSuffix),
    (b"ct", Keyword::StreetSuffix),
    (b"place", Keyword::StreetSuffix),
    (b"pl", Keyword::StreetSuffix),
    (b"way", Keyword::StreetSuffix),
    (b"terrace", Keyword::StreetSuffix),
    (b"parkway", Keyword::StreetSuffix),
    (b"pkwy", Keyword::StreetSuffix),
    (b"highway", Keyword::StreetSuffix),
    (b"hwy", Keyword::StreetSuffix),
    (b"square", Keyword::StreetSuffix),
    (b"sq", Keyword::StreetSuffix),
    (b"circle", Keyword::StreetSuffix),
    (b"cir", Keyword::StreetSuffix),
    (b"crescent", Keyword::StreetSuffix),
    (b"close", Keyword::StreetSuffix),
    (b"plaza", Keyword::StreetSuffix),
    (b"trail", Keyword::StreetSuffix),
    (b"row", Keyword::StreetSuffix),
    (b"gardens", Keyword::StreetSuffix),
    (b"mews", Keyword::StreetSuffix),
];

/// The longest word in [`WORDS`].
const MAX_LISTED: usize = {
    let mut longest = 0;
    let mut k = 0;
    while k < WORDS.len() {
        if WORDS[k].0.len() > longest {
            longest = WORDS[k].0.len();
        }
        k += 1;
    }
    longest
};

/// [`WORDS`] laid out for a look-up without hashing or comparing most words:
/// a bit per (length, first letter, last byte) says whether any listed word
/// has that shape, and the words of each (length, first letter) sit together.
/// Every listed word is lowercase and starts with a letter (a test checks).
struct Table {
    /// Indexed by `length * 26 + first letter`; bit `last letter` (26 for a
    /// digit or `_`) is set when a listed word has that shape.
    shapes: [u32; (MAX_LISTED + 1) * 26],
    /// Where the words of each (length, first letter) start and end in
    /// `words`.
    buckets: [(u16, u16); (MAX_LISTED + 1) * 26],
    words: Vec<(&'static [u8], Keyword)>,
}

fn table() -> &'static Table {
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut words = WORDS.to_vec();
        words.sort_by_key(|(word, _)| (word.len(), word[0]));
        let mut table = Table {
            shapes: [0; (MAX_LISTED + 1) * 26],
            buckets: [(0, 0); (MAX_LISTED + 1) * 26],
            words,
        };
        for (at, (word, _)) in table.words.iter().enumerate() {
            let bucket = bucket_of(word.len(), word[0]);
            table.shapes[bucket] |= 1 << last_bit(word[word.len() - 1]);
            let at = u16::try_from(at).unwrap_or(u16::MAX);
            let (start, end) = &mut table.buckets[bucket];
            if *start == *end {
                *start = at;
            }
            *end = at.saturating_add(1);
        }
        table
    })
}

/// The bucket of a word of `len` bytes starting with the lowercase letter
/// `first`.
fn bucket_of(len: usize, first: u8) -> usize {
    len * 26 + usize::from(first - b'a')
}

fn last_bit(last: u8) -> u32 {
    if last.is_ascii_lowercase() {
        u32::from(last - b'a')
    } else {
        26
    }
}

impl Table {
    /// Whether a listed word may be `original` (any case), by its shape.
    fn may_list(&self, original: &[u8]) -> bool {
        let len = original.len();
        let first = original[0].to_ascii_lowercase();
        if len > MAX_LISTED || !first.is_ascii_lowercase() {
            return false;
        }
        let last = original[len - 1].to_ascii_lowercase();
        self.shapes[bucket_of(len, first)] & (1 << last_bit(last)) != 0
    }

    /// The listed word `lower` (lowercase, of a shape [`Self::may_list`]
    /// lets through).
    fn get(&self, lower: &[u8]) -> Option<Keyword> {
        let (start, end) = self.buckets[bucket_of(lower.len(), lower[0])];
        self.words[usize::from(start)..usize::from(end)]
            .iter()
            .find(|(word, _)| same(word, lower))
            .map(|&(_, keyword)| keyword)
    }
}

/// Byte-wise equality of two short words, inlined rather than a call to
/// `memcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Three-letter endings, a bit each, indexed by the low five bits of each
/// letter: the case needs no folding first (a digit or `_` may share a
/// letter's bit, which only lets a word through to the exact check).
struct Tails([u64; 512]);

impl Tails {
    /// The last three bytes of each of `words` (three bytes or more).
    const fn of(words: &[&[u8]]) -> Self {
        let mut bits = [0u64; 512];
        let mut k = 0;
        while k < words.len() {
            let word = words[k];
            let len = word.len();
            let at = tail_index(word[len - 3], word[len - 2], word[len - 1]);
            bits[at / 64] |= 1 << (at % 64);
            k += 1;
        }
        Self(bits)
    }

    /// Whether `word` (at least three bytes) may end with one of them.
    #[inline]
    fn may_end(&self, word: &[u8]) -> bool {
        let len = word.len();
        let at = tail_index(word[len - 3], word[len - 2], word[len - 1]);
        self.0[at / 64] & (1 << (at % 64)) != 0
    }
}

const fn tail_index(a: u8, b: u8, c: u8) -> usize {
    ((a as usize & 31) << 10) | ((b as usize & 31) << 5) | (c as usize & 31)
}

/// The endings of [`SECRET_SUFFIXES`].
static SECRET_TAILS: Tails = Tails::of(&SECRET_SUFFIXES);

static PHONE_TAILS: Tails = Tails::of(&[b"phone"]);

/// What the word `original` announces, if anything. Most words are refused
/// by their shape (length, first and last letters, last three letters),
/// without being copied.
#[inline]
fn classify(original: &[u8], buffer: &mut [u8; MAX_KEYWORD]) -> Option<Keyword> {
    let len = original.len();
    let table = table();
    let listed = table.may_list(original);
    let secret = len >= 5 && SECRET_TAILS.may_end(original);
    let phone = len > 5 && (original[0] | 0x20 == b'p' || PHONE_TAILS.may_end(original));
    let compound = len > 8 && original.contains(&b'_');
    if !(listed || secret || phone || compound) {
        return None;
    }
    for (slot, b) in buffer.iter_mut().zip(original) {
        *slot = b.to_ascii_lowercase();
    }
    let lower = &buffer[..len];
    if listed {
        let capitalized = original[0].is_ascii_uppercase();
        match table.get(lower) {
            Some(Keyword::Title | Keyword::StreetSuffix) if !capitalized => {}
            Some(keyword) => return Some(keyword),
            None => {}
        }
    }
    if secret && secret_key(lower) || compound && compound_secret(lower) {
        return Some(Keyword::Secret);
    }
    if phone && (lower.ends_with(b"phone") || lower.starts_with(b"phone")) {
        return Some(Keyword::Cue(Cue::Phone));
    }
    None
}

/// The endings of keys whose values are credentials.
const SECRET_SUFFIXES: [&[u8]; 18] = [
    b"password",
    b"passwd",
    b"pwd",
    b"passphrase",
    b"secret",
    b"token",
    b"apikey",
    b"api_key",
    b"accesskey",
    b"access_key",
    b"secretkey",
    b"secret_key",
    b"privatekey",
    b"private_key",
    b"credentials",
    b"credential",
    b"auth_key",
    b"authkey",
];

/// Keys whose values are credentials: `password`, `db_password`,
/// `clientSecret`, `aws_secret_access_key`, `x_auth_token` (a word of at
/// least five bytes that [`SECRET_TAILS`] lets through).
fn secret_key(lower: &[u8]) -> bool {
    SECRET_SUFFIXES
        .iter()
        .any(|s| lower.len() >= s.len() && same(&lower[lower.len() - s.len()..], s))
}

/// Compound keys: `secret_key_base`, `password_hash` (a word of more than
/// eight bytes with a `_`).
fn compound_secret(lower: &[u8]) -> bool {
    contains(lower, b"password") || contains(lower, b"secret")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len()
        && (0..=haystack.len() - needle.len())
            .any(|at| haystack[at] == needle[0] && same(&haystack[at..at + needle.len()], needle))
}

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
fn announced(
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

fn is_title(scanner: &Scanner<'_>, at: usize) -> bool {
    let end = scanner.run_end(at, 5, |b| b.is_ascii_alphabetic());
    matches!(
        &scanner.bytes[at..end],
        b"Mr" | b"Mrs" | b"Ms" | b"Miss" | b"Dr" | b"Prof" | b"Mx"
    )
}

fn skip_spaces(scanner: &Scanner<'_>, at: usize, limit: usize) -> usize {
    scanner.run_end(at, limit, |b| b == b' ' || b == b'\t')
}

/// After a key: closing quotes, spaces, `=` `:` `=>` `:=`, spaces and an
/// opening quote. Returns where the value starts. With `space_ok`, a space
/// alone separates too (`--password hunter2`).
fn separator(scanner: &Scanner<'_>, at: usize, space_ok: bool) -> Option<usize> {
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
fn value_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
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
fn line_value_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
    let end = scanner.run_end(start, limit, |b| !matches!(b, b'\n' | b'\r' | b'"' | b'\\'));
    trim_end(scanner, start, end)
}

fn trim_end(scanner: &Scanner<'_>, start: usize, mut end: usize) -> usize {
    while end > start && matches!(scanner.bytes[end - 1], b' ' | b'\t' | b',' | b'.' | b';') {
        end -= 1;
    }
    end
}

/// The value after an opening quote at `start - 1`, if there is one: its
/// end before the closing quote.
fn quoted(scanner: &Scanner<'_>, start: usize, limit: usize) -> Option<usize> {
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
fn string_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
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
fn escaped_string_end(scanner: &Scanner<'_>, start: usize, limit: usize) -> usize {
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

fn is_placeholder(value: &[u8]) -> bool {
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
fn secret_value(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
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

fn high_entropy(token: &[u8]) -> bool {
    token.len() >= 16
        && token.iter().any(u8::is_ascii_digit)
        && token.iter().any(u8::is_ascii_alphabetic)
        && validate::entropy(token) >= 3.3
}

/// A bearer or other credential token at `start`, at least `min` long.
fn token_secret(scanner: &mut Scanner<'_>, start: usize, min: usize) -> Option<usize> {
    let end = value_end(scanner, start, 4096);
    if end - start < min {
        return None;
    }
    scanner.push(Kind::Secret, start..end, 0.95);
    Some(end)
}

/// `Authorization: Bearer abc`, `Authorization: Basic dXNlcjpwYXNz`,
/// `authorization=abc`.
fn authorization(scanner: &mut Scanner<'_>, j: usize) -> Option<usize> {
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

/// The value of a name key: a quoted string, or capitalized words.
fn name_value(scanner: &mut Scanner<'_>, j: usize) -> Option<usize> {
    let start = separator(scanner, j, false)?;
    name_value_from(scanner, start)
}

fn name_value_from(scanner: &mut Scanner<'_>, mut start: usize) -> Option<usize> {
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
fn not_a_name(word: &[u8]) -> bool {
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
fn capitalized_word(scanner: &Scanner<'_>, at: usize) -> Option<usize> {
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
fn capitalized_words_end(scanner: &Scanner<'_>, start: usize, max: usize) -> Option<usize> {
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

fn capitalized_name(
    scanner: &mut Scanner<'_>,
    start: usize,
    max: usize,
    confidence: f32,
) -> Option<usize> {
    let end = capitalized_words_end(scanner, start, max)?;
    scanner.push(Kind::Name, start..end, confidence);
    Some(end)
}

/// A postal address after an address key: a quoted string, or a street
/// address and what follows it, or a run of capitalized words, numbers and
/// codes (`Flat 2, 10 Downing St, London SW1A 2AA`).
fn address_value(scanner: &mut Scanner<'_>, mut start: usize) -> Option<usize> {
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
fn street(scanner: &mut Scanner<'_>, i: usize, j: usize) -> Option<usize> {
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
fn address_tail(scanner: &Scanner<'_>, mut end: usize) -> usize {
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
fn zip(scanner: &Scanner<'_>, k: usize) -> Option<usize> {
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
fn uk_postcode(scanner: &Scanner<'_>, i: usize, j: usize) -> Option<usize> {
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

const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// A month name or its abbreviation at `at`; returns its end.
fn month(scanner: &Scanner<'_>, at: usize) -> Option<usize> {
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

fn number_at(scanner: &Scanner<'_>, at: usize, min: usize, max: usize) -> Option<(usize, u32)> {
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
fn date(scanner: &Scanner<'_>, at: usize) -> Option<usize> {
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
fn birth_date(scanner: &mut Scanner<'_>, j: usize) -> Option<usize> {
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
