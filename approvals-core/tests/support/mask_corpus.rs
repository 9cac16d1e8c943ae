//! The labelled evaluation set of the masking engine: a deterministic
//! generator, the JSON Lines form checked in at `tests/data/mask_eval.jsonl`,
//! and the scorer.
//!
//! Records come in the shapes agents produce (tool-call JSON, SQL, shell
//! commands, HTTP requests, log lines, email-like text, chat transcripts).
//! Each labels the byte range and kind of every value that must be masked,
//! and the byte range of every look-alike that must stay visible.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use approvals_core::mask::MaskingEngine;
use serde::{Deserialize, Serialize};

/// The number of records in the checked-in set.
pub const RECORDS: usize = 2400;
/// The generator's seed for the checked-in set.
pub const SEED: u64 = 0x5EED_3A5C;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: usize,
    pub shape: String,
    pub text: String,
    pub spans: Vec<Span>,
    pub lookalikes: Vec<Span>,
}

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    pub fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| char::from(self.pick(alphabet))).collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const FIRST: &[&str] = &[
    "Jane", "John", "Maria", "Ahmed", "Wei", "Olivia", "Liam", "Sofia", "Lucas", "Amara", "Noah",
    "Priya", "Mateo", "Chloe", "Kenji", "Fatima", "Oliver", "Elena", "Hugo", "Zoe",
];
const LAST: &[&str] = &[
    "Doe", "Smith", "Garcia", "Khan", "Zhang", "Johnson", "Brown", "Rossi", "Martin", "Okafor",
    "Williams", "Patel", "Lopez", "Dubois", "Tanaka", "Haddad", "Taylor", "Novak", "Schmidt",
    "O'Brien",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "example.co.uk",
    "shop.example.io",
    "example.de",
];
const STREETS: &[&str] = &[
    "Main",
    "Baker",
    "Oak",
    "Maple",
    "Elm",
    "High",
    "Church",
    "Park",
    "Amphitheatre",
    "Mission",
    "Lake Shore",
    "Sunset",
];
const SUFFIXES: &[&str] = &[
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Boulevard",
    "Blvd",
    "Lane",
    "Drive",
    "Parkway",
    "Way",
    "Court",
    "Place",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "62704"),
    ("Mountain View", "CA", "94043"),
    ("Austin", "TX", "78701"),
    ("Seattle", "WA", "98101"),
    ("Boston", "MA", "02108"),
    ("Denver", "CO", "80202"),
];

/// A text under construction, with its labels.
struct Doc {
    text: String,
    spans: Vec<Span>,
    lookalikes: Vec<Span>,
    /// Inside a JSON string: quotes, backslashes and newlines are escaped.
    json: bool,
}

impl Doc {
    fn new(json: bool) -> Self {
        Self {
            text: String::new(),
            spans: Vec::new(),
            lookalikes: Vec::new(),
            json,
        }
    }
    fn escaped(&self, s: &str) -> String {
        if self.json {
            let quoted = serde_json::to_string(s).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_owned()
        } else {
            s.to_owned()
        }
    }
    fn raw(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn t(&mut self, s: &str) {
        let e = self.escaped(s);
        self.text.push_str(&e);
    }
    fn pii(&mut self, kind: &str, value: &str) {
        let e = self.escaped(value);
        let start = self.text.len();
        self.text.push_str(&e);
        self.spans.push(Span {
            start,
            end: self.text.len(),
            kind: kind.to_owned(),
        });
    }
    fn look(&mut self, what: &str, value: &str) {
        let e = self.escaped(value);
        let start = self.text.len();
        self.text.push_str(&e);
        self.lookalikes.push(Span {
            start,
            end: self.text.len(),
            kind: what.to_owned(),
        });
    }
}

fn luhn_digit(body: &str) -> char {
    let mut sum = 0;
    for (i, c) in body.bytes().rev().enumerate() {
        let mut v = u32::from(c - b'0');
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn card_digits(rng: &mut Rng) -> String {
    let (prefix, len): (String, usize) = match rng.below(10) {
        0 | 1 => ("4".into(), 16),
        2 => ("4".into(), 13),
        3 => (rng.range(51, 55).to_string(), 16),
        4 => (rng.range(2221, 2720).to_string(), 16),
        5 => (rng.pick(&["34", "37"]).to_string(), 15),
        6 => (rng.pick(&["6011", "65"]).to_string(), 16),
        7 => (rng.range(3528, 3589).to_string(), 16),
        8 => ("36".into(), 14),
        _ => ("62".into(), 16 + rng.below(4)),
    };
    let body = format!("{prefix}{}", rng.digits(len - prefix.len() - 1));
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

fn group(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &size in sizes {
        if at >= digits.len() {
            break;
        }
        let end = (at + size).min(digits.len());
        out.push(&digits[at..end]);
        at = end;
    }
    if at < digits.len() {
        out.push(&digits[at..]);
    }
    out.join(sep)
}

fn card(rng: &mut Rng) -> String {
    let digits = card_digits(rng);
    match (digits.len(), rng.below(3)) {
        (_, 0) => digits,
        (15, _) => group(&digits, &[4, 6, 5], rng.pick(&[" ", "-"])),
        (14, _) => group(&digits, &[4, 6, 4], rng.pick(&[" ", "-"])),
        _ => group(&digits, &[4, 4, 4, 4, 4], rng.pick(&[" ", "-"])),
    }
}

fn bad_card(rng: &mut Rng) -> String {
    let good = card_digits(rng);
    let last = good.as_bytes()[good.len() - 1] - b'0';
    format!("{}{}", &good[..good.len() - 1], (last + 1) % 10)
}

fn ssn(rng: &mut Rng) -> String {
    let area = loop {
        let a = rng.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    let sep = if rng.below(5) == 0 { " " } else { "-" };
    format!(
        "{area:03}{sep}{:02}{sep}{:04}",
        rng.range(1, 99),
        rng.range(1, 9999)
    )
}

fn bad_ssn(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("000-{:02}-{:04}", rng.range(1, 99), rng.range(1, 9999)),
        1 => format!("666-{:02}-{:04}", rng.range(1, 99), rng.range(1, 9999)),
        2 => format!(
            "9{:02}-{:02}-{:04}",
            rng.range(0, 99),
            rng.range(1, 99),
            rng.range(1, 9999)
        ),
        _ => format!("{:03}-00-{:04}", rng.range(1, 665), rng.range(1, 9999)),
    }
}

fn mod97(text: &str) -> u32 {
    text.bytes().fold(0u32, |acc, c| {
        if c.is_ascii_digit() {
            (acc * 10 + u32::from(c - b'0')) % 97
        } else {
            (acc * 100 + u32::from(c - b'A' + 10)) % 97
        }
    })
}

fn iban_compact(rng: &mut Rng, valid: bool) -> String {
    let (country, bban) = match rng.below(8) {
        0 => ("DE", rng.digits(18)),
        1 => (
            "GB",
            format!(
                "{}{}",
                rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
                rng.digits(14)
            ),
        ),
        2 => (
            "FR",
            format!(
                "{}{}{}",
                rng.digits(10),
                rng.chars(UPPER_DIGIT, 11),
                rng.digits(2)
            ),
        ),
        3 => (
            "NL",
            format!(
                "{}{}",
                rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
                rng.digits(10)
            ),
        ),
        4 => ("ES", rng.digits(20)),
        5 => (
            "IT",
            format!(
                "{}{}",
                rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1),
                rng.digits(22)
            ),
        ),
        6 => ("CH", rng.digits(17)),
        _ => ("BE", rng.digits(12)),
    };
    let check = 98 - mod97(&format!("{bban}{country}00"));
    let check = if valid {
        check
    } else {
        (check + 1 + rng.range(0, 90) as u32) % 97 + 2
    };
    let check = if !valid && check == 98 - mod97(&format!("{bban}{country}00")) {
        (check % 97) + 1
    } else {
        check
    };
    format!("{country}{check:02}{bban}")
}

fn spaced(iban: &str) -> String {
    iban.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn iban(rng: &mut Rng, valid: bool) -> String {
    let compact = iban_compact(rng, valid);
    if rng.below(2) == 0 {
        compact
    } else {
        spaced(&compact)
    }
}

fn phone(rng: &mut Rng) -> String {
    let area = format!("{}{}", rng.range(2, 9), rng.digits(2));
    let area = if &area[1..] == "11" {
        "415".to_owned()
    } else {
        area
    };
    let exchange = format!("{}{}", rng.range(2, 9), rng.digits(2));
    let line = rng.digits(4);
    match rng.below(14) {
        0 => format!("+1 {area}-{exchange}-{line}"),
        1 => format!("({area}) {exchange}-{line}"),
        2 => format!("{area}-{exchange}-{line}"),
        3 => format!("{area}.{exchange}.{line}"),
        4 => format!("+1 ({area}) {exchange}-{line}"),
        5 => format!("+1{area}{exchange}{line}"),
        6 => format!("+44 20 {} {}", rng.digits(4), rng.digits(4)),
        7 => format!("+44 7{} {}", rng.digits(3), rng.digits(6)),
        8 => format!("020 {} {}", rng.digits(4), rng.digits(4)),
        9 => format!("+49 30 {}", rng.digits(8)),
        10 => format!(
            "+33 {} {} {} {} {}",
            rng.range(1, 9),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2)
        ),
        11 => format!(
            "0{} {} {} {} {}",
            rng.range(1, 9),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2),
            rng.digits(2)
        ),
        12 => format!("+91 9{} {}", rng.digits(4), rng.digits(5)),
        _ => format!("+61 2 {} {}", rng.digits(4), rng.digits(4)),
    }
}

fn email(rng: &mut Rng) -> String {
    let first = rng.pick(FIRST).to_lowercase();
    let last = rng.pick(LAST).to_lowercase().replace('\'', "");
    let domain = rng.pick(DOMAINS);
    match rng.below(4) {
        0 => format!("{first}.{last}@{domain}"),
        1 => format!("{}{last}@{domain}", &first[..1]),
        2 => format!("{first}+{}@{domain}", rng.pick(&["billing", "test", "crm"])),
        _ => format!("{first}_{last}{}@{domain}", rng.range(1, 99)),
    }
}

fn ipv4(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.range(11, 223),
        rng.range(0, 255),
        rng.range(0, 255),
        rng.range(1, 254)
    )
}

fn ipv6(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => format!("2001:db8::{}:{}", rng.chars(HEX, 4), rng.chars(HEX, 3)),
        1 => format!(
            "fe80::{}:{}:{}",
            rng.chars(HEX, 4),
            rng.chars(HEX, 4),
            rng.range(1, 99)
        ),
        _ => (0..8)
            .map(|_| rng.chars(HEX, 4))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

fn name(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
}

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn dob(rng: &mut Rng) -> String {
    let (y, m, d) = (rng.range(1940, 2006), rng.range(1, 12), rng.range(1, 28));
    match rng.below(5) {
        0 | 1 => format!("{y}-{m:02}-{d:02}"),
        2 => format!("{m:02}/{d:02}/{y}"),
        3 => format!("{d} {} {y}", MONTHS[m as usize - 1]),
        _ => format!("{} {d}, {y}", MONTHS[m as usize - 1]),
    }
}

fn street_address(rng: &mut Rng) -> String {
    let number = rng.range(1, 9999);
    let unit = if rng.below(5) == 0 { "B" } else { "" };
    let street = format!(
        "{number}{unit} {} {}",
        rng.pick(STREETS),
        rng.pick(SUFFIXES)
    );
    match rng.below(3) {
        0 => street,
        1 => {
            let (city, state, zip) = rng.pick(CITIES);
            format!("{street}, {city}, {state} {zip}")
        }
        _ => format!(
            "{street}, London {}{} {}{}",
            rng.pick(&["NW", "SW", "E", "EC"]),
            rng.range(1, 9),
            rng.range(1, 9),
            rng.chars(b"ABDEFGHJLNPQRSTUWXYZ", 2)
        ),
    }
}

fn jwt(rng: &mut Rng) -> String {
    let header = rng.pick(&[
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9",
    ]);
    format!(
        "{header}.eyJ{}.{}",
        rng.chars(B64URL, 40),
        rng.chars(B64URL, 43)
    )
}

fn pem(rng: &mut Rng) -> String {
    let label = rng.pick(&[
        "RSA PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
    ]);
    let mut body = String::new();
    for _ in 0..rng.range(3, 6) {
        body.push_str(&rng.chars(B64, 64));
        body.push('\n');
    }
    format!("-----BEGIN {label}-----\n{body}-----END {label}-----")
}

fn aws_secret(rng: &mut Rng) -> String {
    loop {
        let s = rng.chars(B64, 40);
        let b = s.as_bytes();
        if b.iter().any(u8::is_ascii_uppercase)
            && b.iter().any(u8::is_ascii_lowercase)
            && b.iter().any(u8::is_ascii_digit)
        {
            return s;
        }
    }
}

fn password(rng: &mut Rng) -> String {
    format!(
        "{}{}{}",
        rng.pick(&[
            "hunter",
            "Winter",
            "s3cr3t",
            "P%40ss",
            "correct",
            "Tr0ub4dor"
        ]),
        rng.range(2, 9999),
        rng.pick(&["!", "#x", "", "_ok", "%3"])
    )
}

/// One sentence holding a value of `kind` in its context, written into `doc`.
fn phrase(doc: &mut Doc, rng: &mut Rng, kind: usize) {
    match kind {
        0 => {
            doc.t(rng.pick(&[
                "contact ",
                "sent to ",
                "customer email ",
                "reply-to: ",
                "cc ",
            ]));
            let v = email(rng);
            doc.pii("email", &v);
        }
        1 => {
            doc.t(rng.pick(&[
                "call ",
                "phone: ",
                "reach me at ",
                "mobile ",
                "tel. ",
                "their number is ",
            ]));
            let v = phone(rng);
            doc.pii("phone", &v);
        }
        2 => {
            doc.t(rng.pick(&["card ", "charge ", "pan=", "paid with ", "card number: "]));
            let v = card(rng);
            doc.pii("credit_card", &v);
        }
        3 => {
            doc.t(rng.pick(&["SSN ", "ssn: ", "social security number ", "tax id "]));
            let v = ssn(rng);
            doc.pii("us_ssn", &v);
        }
        4 => {
            doc.t(rng.pick(&["IBAN ", "pay to ", "account ", "iban="]));
            let v = iban(rng, true);
            doc.pii("iban", &v);
        }
        5 => {
            doc.t(rng.pick(&[
                "login from ",
                "client_ip=",
                "remote_addr: ",
                "request from ",
                "src=",
            ]));
            let v = if rng.below(4) == 0 {
                ipv6(rng)
            } else {
                ipv4(rng)
            };
            doc.pii("ip_address", &v);
        }
        6 => {
            doc.t(rng.pick(&[
                "born on ",
                "DOB: ",
                "date of birth: ",
                "birthday is ",
                "dob=",
            ]));
            let v = dob(rng);
            doc.pii("date_of_birth", &v);
        }
        7 => {
            let v = name(rng);
            match rng.below(6) {
                0 => {
                    doc.t("Name: ");
                    doc.pii("name", &v);
                }
                1 => {
                    doc.t("Dear ");
                    doc.pii("name", &v);
                    doc.t(",");
                }
                2 => {
                    doc.t("customer ");
                    doc.pii("name", &v);
                    doc.t(" asked");
                }
                3 => {
                    let title = rng.pick(&["Mr. ", "Ms. ", "Dr. ", "Mrs. "]);
                    doc.pii("name", &format!("{title}{}", rng.pick(LAST)));
                }
                4 => {
                    doc.t("name=\"");
                    doc.pii("name", &v);
                    doc.t("\"");
                }
                _ => {
                    doc.t("Hi ");
                    doc.pii("name", rng.pick(FIRST));
                    doc.t(",");
                }
            }
        }
        8 => {
            let v = street_address(rng);
            match rng.below(3) {
                0 => {
                    doc.t("Address: ");
                    doc.pii("address", &v);
                }
                _ => {
                    doc.t(rng.pick(&["ship to ", "lives at ", "deliver to "]));
                    doc.pii("address", &v);
                }
            }
        }
        _ => secret_phrase(doc, rng),
    }
}

fn secret_phrase(doc: &mut Doc, rng: &mut Rng) {
    match rng.below(16) {
        0 => {
            doc.t("aws_access_key_id=");
            let v = format!("AKIA{}", rng.chars(UPPER_DIGIT, 16));
            doc.pii("secret", &v);
        }
        1 => {
            doc.t(rng.pick(&["aws_secret_access_key=", "AWS_SECRET_ACCESS_KEY: "]));
            let v = aws_secret(rng);
            doc.pii("secret", &v);
        }
        2 => {
            doc.t("token ");
            let prefix = rng.pick(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]);
            let v = format!("{prefix}{}", rng.chars(ALNUM, 36));
            doc.pii("secret", &v);
        }
        3 => {
            doc.t("GITHUB_TOKEN=");
            let v = format!(
                "github_pat_{}_{}",
                rng.chars(ALNUM, 22),
                rng.chars(ALNUM, 59)
            );
            doc.pii("secret", &v);
        }
        4 => {
            doc.t("slack ");
            let v = format!(
                "{}-{}-{}-{}",
                rng.pick(&["xoxb", "xoxp"]),
                rng.digits(12),
                rng.digits(13),
                rng.chars(ALNUM, 24)
            );
            doc.pii("secret", &v);
        }
        5 => {
            doc.t("stripe key ");
            let v = format!(
                "{}{}",
                rng.pick(&["sk_live_", "rk_live_"]),
                rng.chars(ALNUM, 24)
            );
            doc.pii("secret", &v);
        }
        6 => {
            doc.t("maps key ");
            let v = format!(
                "AIza{}",
                rng.chars(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                    35
                )
            );
            doc.pii("secret", &v);
        }
        7 => {
            doc.t("Authorization: Bearer ");
            let v = jwt(rng);
            doc.pii("secret", &v);
        }
        8 => {
            doc.t("id_token ");
            let v = jwt(rng);
            doc.pii("secret", &v);
        }
        9 => {
            doc.t("key:\n");
            let v = pem(rng);
            doc.pii("secret", &v);
        }
        10 => {
            let json = rng.below(5) == 0;
            doc.t(if json {
                "\"password\": \""
            } else {
                rng.pick(&["password=", "DB_PASSWORD=", "PGPASSWORD=", "--password "])
            });
            let v = password(rng);
            doc.pii("secret", &v);
            if json {
                doc.t("\"");
            }
        }
        11 => {
            let scheme = rng.pick(&["postgres", "mysql", "redis", "amqp", "https"]);
            doc.t(&format!("{scheme}://"));
            let v = format!(
                "{}:{}",
                rng.pick(&["admin", "app", "svc_user", "root"]),
                password(rng)
            );
            doc.pii("secret", &v);
            doc.t("@db.internal:5432/app");
        }
        12 => {
            doc.t("Authorization: Bearer ");
            let v = rng.chars(ALNUM, 32);
            doc.pii("secret", &v);
        }
        13 => {
            doc.t("client_secret: ");
            let v = rng.chars(ALNUM, 28);
            doc.pii("secret", &v);
        }
        14 => {
            doc.t("the secret is ");
            let v = format!("{}{}", rng.chars(ALNUM, 20), rng.digits(4));
            doc.pii("secret", &v);
        }
        _ => {
            doc.t("api_key=");
            let v = rng.chars(HEX, 32);
            doc.pii("secret", &v);
        }
    }
}

/// A look-alike that must stay visible, in its context.
fn lookalike(doc: &mut Doc, rng: &mut Rng) {
    match rng.below(12) {
        0 => {
            doc.t("request_id=");
            let v = format!(
                "{}-{}-4{}-a{}-{}",
                rng.chars(HEX, 8),
                rng.chars(HEX, 4),
                rng.chars(HEX, 3),
                rng.chars(HEX, 3),
                rng.chars(HEX, 12)
            );
            doc.look("uuid", &v);
        }
        1 => {
            doc.t("commit ");
            let len = if rng.below(2) == 0 { 40 } else { 7 };
            let v = rng.chars(HEX, len);
            doc.look("git_sha", &v);
        }
        2 => {
            doc.t(rng.pick(&["version ", "release ", "node ", "build "]));
            let v = format!(
                "{}.{}.{}.{}",
                rng.range(0, 3),
                rng.range(0, 40),
                rng.range(0, 99),
                rng.range(0, 999)
            );
            doc.look("version", &v);
        }
        3 => {
            doc.t("upgraded node from ");
            let a = format!(
                "1.{}.{}.{}",
                rng.range(10, 30),
                rng.range(0, 99),
                rng.range(0, 255)
            );
            doc.look("version", &a);
            doc.t(" to ");
            let b = format!(
                "1.{}.{}.{}",
                rng.range(10, 30),
                rng.range(0, 99),
                rng.range(0, 255)
            );
            doc.look("version", &b);
        }
        4 => {
            let v = format!(
                "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
                rng.range(1, 12),
                rng.range(1, 28),
                rng.range(0, 23),
                rng.range(0, 59),
                rng.range(0, 59),
                rng.digits(3)
            );
            doc.look("timestamp", &v);
        }
        5 => {
            let v = format!(
                "2024-{:02}-{:02} {:02}:{:02}:{:02},{}",
                rng.range(1, 12),
                rng.range(1, 28),
                rng.range(0, 23),
                rng.range(0, 59),
                rng.range(0, 59),
                rng.digits(3)
            );
            doc.look("timestamp", &v);
        }
        6 => {
            doc.t(rng.pick(&["order ", "order #", "invoice ", "tracking "]));
            let v = bad_card(rng);
            doc.look("order_number", &v);
        }
        7 => {
            doc.t("ref ");
            let v = bad_ssn(rng);
            doc.look("ssn_shaped", &v);
        }
        8 => {
            doc.t("IBAN ");
            let v = iban(rng, false);
            doc.look("bad_iban", &v);
        }
        9 => {
            doc.t("epoch_ms=");
            let v = format!("17{}", rng.digits(11));
            doc.look("timestamp", &v);
        }
        10 => {
            doc.t("took ");
            let v = format!("{}ms", rng.range(1, 9999));
            doc.look("duration", &v);
            doc.t(" port ");
            let p = rng.range(1024, 65535).to_string();
            doc.look("port", &p);
        }
        _ => {
            doc.t("image sha256:");
            let v = rng.chars(HEX, 64);
            doc.look("digest", &v);
        }
    }
}

/// The sentence body: one to three values and look-alikes.
fn body(doc: &mut Doc, rng: &mut Rng, forced_kind: usize) {
    phrase(doc, rng, forced_kind);
    for _ in 0..rng.below(3) {
        doc.t(rng.pick(&["; ", " and ", ", then ", " | "]));
        if rng.below(2) == 0 {
            lookalike(doc, rng);
        } else {
            let kind = rng.below(10);
            phrase(doc, rng, kind);
        }
    }
}

const SHAPES: &[&str] = &["tool_call", "sql", "shell", "http", "log", "email", "chat"];

fn record(id: usize, rng: &mut Rng) -> Record {
    let shape = SHAPES[id % SHAPES.len()];
    let kind = (id / SHAPES.len()) % 11;
    let mut doc = Doc::new(false);
    match shape {
        "tool_call" => {
            doc.raw(&format!(
                "{{\"tool\":\"{}\",\"arguments\":{{\"note\":\"",
                rng.pick(&[
                    "crm.update_contact",
                    "billing.refund",
                    "db.query",
                    "mail.send"
                ])
            ));
            doc.json = true;
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
            doc.json = false;
            doc.raw(&format!("\",\"priority\":{}}}}}", rng.range(1, 5)));
        }
        "sql" => {
            doc.t(rng.pick(&[
                "UPDATE customers SET note = '",
                "INSERT INTO audit (detail) VALUES ('",
                "SELECT * FROM tickets WHERE body LIKE '%",
            ]));
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
            doc.t("' ;");
        }
        "shell" => {
            doc.t(rng.pick(&["$ echo \"", "$ ./notify.sh --msg \"", "$ curl -d \"msg="]));
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
            doc.t("\"");
        }
        "http" => {
            doc.t(&format!(
                "POST /v1/{} HTTP/1.1\nHost: api.example.com\nContent-Type: text/plain\n\n",
                rng.pick(&["tickets", "notes", "messages"])
            ));
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
        }
        "log" => {
            doc.look(
                "timestamp",
                &format!(
                    "2024-05-{:02}T{:02}:{:02}:{:02}.{}Z",
                    rng.range(1, 28),
                    rng.range(0, 23),
                    rng.range(0, 59),
                    rng.range(0, 59),
                    rng.digits(3)
                ),
            );
            doc.t(&format!(
                " {} {}: ",
                rng.pick(&["INFO", "WARN", "DEBUG"]),
                rng.pick(&["api::auth", "worker", "gateway"])
            ));
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
        }
        "email" => {
            doc.t("Subject: your request\n\nHello,\n\nPlease note: ");
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
            doc.t(".\n\nRegards,\n");
            let signer = name(rng);
            doc.pii("name", &signer);
            doc.t("\n");
        }
        _ => {
            doc.t("user: can you update my details? ");
            if kind == 10 {
                lookalike(&mut doc, rng)
            } else {
                body(&mut doc, rng, kind)
            }
            doc.t("\nassistant: I will open an approval request for that.");
        }
    }
    Record {
        id,
        shape: shape.to_owned(),
        text: doc.text,
        spans: doc.spans,
        lookalikes: doc.lookalikes,
    }
}

/// The evaluation set for `seed`.
pub fn generate(seed: u64, records: usize) -> Vec<Record> {
    let mut rng = Rng::new(seed);
    (0..records).map(|id| record(id, &mut rng)).collect()
}

pub fn to_jsonl(records: &[Record]) -> String {
    let mut out = String::new();
    for record in records {
        out.push_str(&serde_json::to_string(record).unwrap_or_default());
        out.push('\n');
    }
    out
}

pub fn from_jsonl(text: &str) -> Vec<Record> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a record"))
        .collect()
}

/// Counts for one kind.
#[derive(Clone, Debug, Default)]
pub struct KindScore {
    /// Labelled values.
    pub gold: usize,
    /// Labelled values fully covered by detections of their kind.
    pub found: usize,
    /// Labelled values fully covered by detections of any kind (not leaked).
    pub masked: usize,
    /// Detections of the kind.
    pub detected: usize,
    /// Detections of the kind that overlap a labelled value of the kind.
    pub correct: usize,
}

impl KindScore {
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.gold)
    }
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.detected)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

#[derive(Clone, Debug, Default)]
pub struct Score {
    pub kinds: BTreeMap<String, KindScore>,
    pub lookalikes: usize,
    pub lookalikes_masked: usize,
    pub misses: Vec<String>,
    pub false_positives: Vec<String>,
}

impl Score {
    pub fn lookalike_rate(&self) -> f64 {
        ratio(self.lookalikes_masked, self.lookalikes)
    }

    pub fn table(&self) -> String {
        let mut out = String::from(
            "| kind | values | recall | masked (any kind) | detections | precision |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for (kind, s) in &self.kinds {
            let _ = writeln!(
                out,
                "| {kind} | {} | {:.1} % | {:.1} % | {} | {:.1} % |",
                s.gold,
                100.0 * s.recall(),
                100.0 * ratio(s.masked, s.gold),
                s.detected,
                100.0 * s.precision()
            );
        }
        let _ = writeln!(
            out,
            "\nlook-alikes: {} of {} masked ({:.2} %)",
            self.lookalikes_masked,
            self.lookalikes,
            100.0 * self.lookalike_rate()
        );
        out
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Whether `detections` (sorted, disjoint) cover `span` entirely.
fn covered(
    detections: &[(usize, usize, String)],
    span: (usize, usize),
    kind: Option<&str>,
) -> bool {
    let mut at = span.0;
    for (start, end, k) in detections {
        if kind.is_some_and(|kind| kind != k) {
            continue;
        }
        if *start <= at && *end > at {
            at = *end;
        }
        if at >= span.1 {
            return true;
        }
    }
    at >= span.1
}

pub fn score(engine: &MaskingEngine, records: &[Record]) -> Score {
    let mut score = Score::default();
    for record in records {
        let detections: Vec<(usize, usize, String)> = engine
            .detect(&record.text)
            .into_iter()
            .map(|d| (d.range.start, d.range.end, d.kind.name().to_owned()))
            .collect();
        for span in &record.spans {
            let s = score.kinds.entry(span.kind.clone()).or_default();
            s.gold += 1;
            let range = (span.start, span.end);
            if covered(&detections, range, Some(&span.kind)) {
                s.found += 1;
            } else {
                score.misses.push(format!(
                    "{} {}: {:?}",
                    record.id,
                    span.kind,
                    &record.text[span.start..span.end]
                ));
            }
            if covered(&detections, range, None) {
                s.masked += 1;
            }
        }
        for (start, end, kind) in &detections {
            let s = score.kinds.entry(kind.clone()).or_default();
            s.detected += 1;
            let hit = record
                .spans
                .iter()
                .any(|g| &g.kind == kind && overlaps((g.start, g.end), (*start, *end)));
            if hit {
                s.correct += 1;
            } else {
                score.false_positives.push(format!(
                    "{} {kind}: {:?}",
                    record.id,
                    &record.text[*start..*end]
                ));
            }
        }
        for look in &record.lookalikes {
            score.lookalikes += 1;
            if detections
                .iter()
                .any(|(s, e, _)| overlaps((*s, *e), (look.start, look.end)))
            {
                score.lookalikes_masked += 1;
                score.false_positives.push(format!(
                    "{} look-alike {}: {:?}",
                    record.id,
                    look.kind,
                    &record.text[look.start..look.end]
                ));
            }
        }
    }
    score
}
