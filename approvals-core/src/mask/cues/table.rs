//! The keyword table: every word that announces a detector, looked up
//! without allocating (by length, first letter and last letter), and the
//! secret-like key suffixes.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Every keyword and what it announces. Street suffixes and titles count
/// only when capitalized; `street` and `dr` also end addresses (see
/// [`keyword`]).
pub(super) const WORDS: &[(&[u8], Keyword)] = &[
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
    (b"assignee", Keyword::NameKey),
    (b"reporter", Keyword::NameKey),
    (b"requester", Keyword::NameKey),
    (b"author", Keyword::NameKey),
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
    (b"herr", Keyword::Title),
    (b"frau", Keyword::Title),
    (b"mme", Keyword::Title),
    (b"mlle", Keyword::Title),
    (b"madame", Keyword::Title),
    (b"monsieur", Keyword::Title),
    (b"signor", Keyword::Title),
    (b"signora", Keyword::Title),
    (b"sig", Keyword::Title),
    (b"sra", Keyword::Title),
    (b"srta", Keyword::Title),
    (b"dhr", Keyword::Title),
    (b"dott", Keyword::Title),
    (b"mevrouw", Keyword::Title),
    (b"mevr", Keyword::Title),
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
pub(super) const MAX_LISTED: usize = {
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
pub(super) struct Table {
    /// Indexed by `length * 26 + first letter`; bit `last letter` (26 for a
    /// digit or `_`) is set when a listed word has that shape.
    shapes: [u32; (MAX_LISTED + 1) * 26],
    /// Where the words of each (length, first letter) start and end in
    /// `words`.
    buckets: [(u16, u16); (MAX_LISTED + 1) * 26],
    pub(super) words: Vec<(&'static [u8], Keyword)>,
}

pub(super) fn table() -> &'static Table {
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
pub(super) fn bucket_of(len: usize, first: u8) -> usize {
    len * 26 + usize::from(first - b'a')
}

pub(super) fn last_bit(last: u8) -> u32 {
    if last.is_ascii_lowercase() {
        u32::from(last - b'a')
    } else {
        26
    }
}

impl Table {
    /// Whether a listed word may be `original` (any case), by its shape.
    pub(super) fn may_list(&self, original: &[u8]) -> bool {
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
    pub(super) fn get(&self, lower: &[u8]) -> Option<Keyword> {
        let (start, end) = self.buckets[bucket_of(lower.len(), lower[0])];
        self.words[usize::from(start)..usize::from(end)]
            .iter()
            .find(|(word, _)| same(word, lower))
            .map(|&(_, keyword)| keyword)
    }
}

/// Byte-wise equality of two short words, inlined rather than a call to
/// `memcmp`.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Three-letter endings, a bit each, indexed by the low five bits of each
/// letter: the case needs no folding first (a digit or `_` may share a
/// letter's bit, which only lets a word through to the exact check).
pub(super) struct Tails([u64; 512]);

impl Tails {
    /// The last three bytes of each of `words` (three bytes or more).
    pub(super) const fn of(words: &[&[u8]]) -> Self {
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
    pub(super) fn may_end(&self, word: &[u8]) -> bool {
        let len = word.len();
        let at = tail_index(word[len - 3], word[len - 2], word[len - 1]);
        self.0[at / 64] & (1 << (at % 64)) != 0
    }
}

pub(super) const fn tail_index(a: u8, b: u8, c: u8) -> usize {
    ((a as usize & 31) << 10) | ((b as usize & 31) << 5) | (c as usize & 31)
}

/// The endings of [`SECRET_SUFFIXES`].
pub(super) static SECRET_TAILS: Tails = Tails::of(&SECRET_SUFFIXES);

pub(super) static PHONE_TAILS: Tails = Tails::of(&[b"phone"]);

/// What the word `original` announces, if anything. Most words are refused
/// by their shape (length, first and last letters, last three letters),
/// without being copied.
#[inline]
pub(super) fn classify(original: &[u8], buffer: &mut [u8; MAX_KEYWORD]) -> Option<Keyword> {
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
pub(super) const SECRET_SUFFIXES: [&[u8]; 18] = [
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
pub(super) fn secret_key(lower: &[u8]) -> bool {
    SECRET_SUFFIXES
        .iter()
        .any(|s| lower.len() >= s.len() && same(&lower[lower.len() - s.len()..], s))
}

/// Compound keys: `secret_key_base`, `password_hash` (a word of more than
/// eight bytes with a `_`).
pub(super) fn compound_secret(lower: &[u8]) -> bool {
    contains(lower, b"password") || contains(lower, b"secret")
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len()
        && (0..=haystack.len() - needle.len())
            .any(|at| haystack[at] == needle[0] && same(&haystack[at..at + needle.len()], needle))
}
