//! Checks that tell real values from look-alikes: Luhn, issuer ranges,
//! mod-97 and per-country IBAN lengths, SSN rules, telephone numbering rules.
//!
//! Each takes the digits (or characters) already extracted by the scanner,
//! allocates nothing and runs in time linear in its input.

/// Whether `digits` (ASCII digits only) pass the Luhn check.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (position, digit) in digits.iter().rev().enumerate() {
        let mut value = u32::from(digit.wrapping_sub(b'0'));
        if value > 9 {
            return false;
        }
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
}

/// The leading `n` digits as a number.
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// Whether `digits` fall in a payment card issuer's range with a length that
/// issuer uses (the networks' published IIN ranges):
///
/// | network | IIN | digits |
/// | --- | --- | --- |
/// | Visa | 4 | 13–19 |
/// | Mastercard | 51–55, 2221–2720 | 16 |
/// | American Express | 34, 37 | 15 |
/// | Discover | 6011, 644–649, 65, 622126–622925 | 16–19 |
/// | Diners Club | 300–305, 3095, 36, 38, 39 | 14–19 |
/// | JCB | 3528–3589; 1800, 2131 | 16–19; 15 |
/// | UnionPay | 62, 81 | 16–19 |
/// | Maestro | 50, 56–69 | 12–19 |
/// | Mir | 2200–2204 | 16–19 |
/// | RuPay | 60, 65, 81, 82, 508, 353, 356 | 16 |
pub(crate) fn card_issuer(digits: &[u8]) -> bool {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return false;
    }
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    let long = (16..=19).contains(&len);
    let visa = p1 == 4 && len >= 13;
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16;
    let amex = matches!(p2, 34 | 37) && len == 15;
    let discover =
        (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622_126..=622_925).contains(&p6))
            && long;
    let diners = ((300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39))
        && (14..=19).contains(&len);
    let jcb = (3528..=3589).contains(&p4) && long || matches!(p4, 1800 | 2131) && len == 15;
    let unionpay = matches!(p2, 62 | 81) && long;
    let maestro = (p2 == 50 || (56..=69).contains(&p2)) && (12..=19).contains(&len);
    let mir = (2200..=2204).contains(&p4) && long;
    let rupay = (matches!(p2, 60 | 65 | 81 | 82) || matches!(p3, 508 | 353 | 356)) && len == 16;
    visa || mastercard || amex || discover || diners || jcb || unionpay || maestro || mir || rupay
}

/// A payment card number: a known issuer range and the Luhn check.
pub(crate) fn card(digits: &[u8]) -> bool {
    card_issuer(digits) && luhn(digits)
}

/// A US social security number by the rules of issuance: area not 000, 666
/// or 900–999; group not 00; serial not 0000.
pub(crate) fn ssn(digits: &[u8]) -> bool {
    if digits.len() != 9 {
        return false;
    }
    let area = prefix(digits, 3);
    let group = prefix(&digits[3..], 2);
    let serial = prefix(&digits[5..], 4);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// The length of an IBAN in `country` (two uppercase ASCII letters), for the
/// countries of the IBAN registry.
pub(crate) fn iban_length(country: [u8; 2]) -> Option<usize> {
    let len = match &country {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" => 20,
        b"CH" | b"CR" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"PL" | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        b"RU" => 33,
        _ => return None,
    };
    Some(len)
}

/// Whether `iban` (uppercase letters and digits, no spaces) has its
/// country's length and a valid mod-97 check.
pub(crate) fn iban(iban: &[u8]) -> bool {
    if iban.len() < 15 || !iban[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    if iban_length([iban[0], iban[1]]) != Some(iban.len()) {
        return false;
    }
    if !iban[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut remainder = 0u32;
    let rotated = iban[4..].iter().chain(iban[..4].iter());
    for &c in rotated {
        match c {
            b'0'..=b'9' => remainder = (remainder * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => remainder = (remainder * 100 + u32::from(c - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    remainder == 1
}

/// Where a telephone number's digits came from, for the numbering rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialing {
    /// Written with `+` (or `00`): the digits start with a country code.
    International,
    /// Written in a national format, with separators.
    National,
}

/// How long a national significant number is in the country of the calling
/// code at the start of `digits`, and the length of that code.
fn country(digits: &[u8]) -> Option<(usize, std::ops::RangeInclusive<usize>)> {
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    // One-digit codes: North America and Russia/Kazakhstan.
    match p1 {
        1 => return Some((1, 10..=10)),
        7 => return Some((1, 10..=10)),
        _ => {}
    }
    let two = match p2 {
        20 | 52 | 54 | 57 | 58 | 63 | 86 | 90 | 91 | 92 | 98 => Some(10..=11),
        27 | 31 | 33 | 34 | 40 | 41 | 48 | 56 | 61 | 93 | 94 => Some(9..=9),
        30 | 39 | 55 => Some(9..=11),
        32 | 36 | 51 | 66 => Some(8..=9),
        43 | 49 => Some(6..=13),
        44 => Some(9..=10),
        45 | 47 | 53 | 65 => Some(8..=8),
        46 => Some(7..=10),
        60 | 64 | 95 => Some(8..=10),
        62 => Some(8..=12),
        81 | 84 => Some(9..=10),
        82 => Some(8..=10),
        _ => None,
    };
    if let Some(range) = two {
        return Some((2, range));
    }
    // Three-digit codes: zones 2, 3, 4, 5, 6, 8 and 9 not taken above.
    let leading = p1;
    if matches!(leading, 2 | 3 | 4 | 5 | 6 | 8 | 9) {
        let range = match p3 {
            351 | 420 | 421 | 380 | 212 | 213 | 254 | 966 | 886 => 9..=9,
            852 | 853 | 974 | 216 | 372 => 7..=8,
            353 | 354 => 7..=9,
            352 | 358 => 6..=12,
            234 | 880 => 8..=10,
            971 | 972 => 8..=9,
            _ => 6..=12,
        };
        return Some((3, range));
    }
    None
}

/// Whether a North American number (10 digits, no leading 1) follows the
/// numbering plan: area code and exchange start with 2–9, and the area code
/// is not an N11 service code.
fn nanp(digits: &[u8]) -> bool {
    digits.len() == 10
        && (b'2'..=b'9').contains(&digits[0])
        && !(digits[1] == b'1' && digits[2] == b'1')
        && (b'2'..=b'9').contains(&digits[3])
}

/// Whether `digits` form a telephone number by the numbering rules of the
/// major regions.
///
/// International numbers need a known calling code and a national number of
/// that country's length (North American numbers follow the NANP rules).
/// National numbers are North American (10 digits, or 11 with the leading 1)
/// or use a trunk prefix 0 followed by 9 or 10 digits (Europe, Asia-Pacific).
pub(crate) fn phone(digits: &[u8], dialing: Dialing) -> bool {
    if !(7..=15).contains(&digits.len()) {
        return false;
    }
    match dialing {
        Dialing::International => {
            let Some((code_len, range)) = country(digits) else {
                return false;
            };
            let national = &digits[code_len..];
            if !range.contains(&national.len()) {
                return false;
            }
            match digits[0] {
                b'1' => nanp(national),
                // A national number never starts with the trunk prefix once
                // the country code is written (Italy keeps it, and is 39).
                _ => national[0] != b'0' || digits.starts_with(b"39"),
            }
        }
        Dialing::National => match digits.len() {
            10 if digits[0] != b'0' => nanp(digits),
            11 if digits[0] == b'1' => nanp(&digits[1..]),
            10 | 11 => digits[0] == b'0' && digits[1] != b'0',
            _ => false,
        },
    }
}

/// Decodes unpadded base64url (or base64) into `out`; `None` if `text` is not
/// base64. Used to check that a JWT's header is JSON.
pub(crate) fn base64url_decode(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for &c in text {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(())
}

/// Shannon entropy of `text` in bits per byte.
pub(crate) fn entropy(text: &[u8]) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    let mut counts = [0u16; 256];
    for &b in text {
        counts[usize::from(b)] = counts[usize::from(b)].saturating_add(1);
    }
    #[allow(clippy::cast_precision_loss)]
    let len = text.len() as f32;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f32::from(count) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_refuses_one_digit_off() {
        assert!(luhn(b"4242424242424242"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4242424242424241"));
        assert!(card(b"2223003122003222"), "2-series Mastercard");
        assert!(card(b"5555555555554444"));
        assert!(card(b"6011111111111117"));
        assert!(card(b"3530111333300000"));
        assert!(card(b"36227206271667"), "Diners 14 digits");
        assert!(!card(b"1234567812345670"), "no issuer starts with 1");
    }

    #[test]
    fn every_network_in_its_iin_ranges_and_lengths() {
        // Test numbers the networks and processors publish, Luhn-valid.
        for (network, number) in [
            ("Visa 13", &b"4222222222222"[..]),
            ("Visa 19", b"4111111111111111110"),
            ("Mastercard 2-series", b"2720992720992729"),
            ("Amex", b"371449635398431"),
            ("Discover", b"6011000990139424"),
            ("Discover 65", b"6500000000000002"),
            ("Diners 14", b"30569309025904"),
            ("Diners 16", b"3056930009020004"),
            ("JCB 16", b"3566002020360505"),
            ("JCB 15", b"180001234567899"),
            ("JCB 15 2131", b"213112345678904"),
            ("UnionPay 16", b"6200000000000005"),
            ("UnionPay 19", b"6212345678901234569"),
            ("Maestro 12", b"500000000009"),
            ("Maestro 19", b"6759649826438453003"),
            ("Mir", b"2200000000000004"),
            ("RuPay", b"6521000000000007"),
            ("RuPay 508", b"5080000000000002"),
        ] {
            assert!(card_issuer(number), "{network}: issuer");
            assert!(luhn(number), "{network}: the test number is Luhn-valid");
            assert!(card(number), "{network}");
        }
        // Lengths a network does not use.
        assert!(!card_issuer(b"37144963539843"), "Amex 14");
        assert!(!card_issuer(b"51000000000000000"), "Mastercard 17");
        assert!(!card_issuer(b"40000000000"), "11 digits");
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn(b"123456789"));
        for bad in [
            &b"000123456"[..],
            b"666123456",
            b"912345678",
            b"123006789",
            b"123450000",
        ] {
            assert!(!ssn(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn iban_checks_length_and_mod_97() {
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"NL91ABNA0417164300"));
        assert!(iban(b"FR1420041010050500013M02606"));
        assert!(!iban(b"DE88370400440532013000"), "check digits");
        assert!(!iban(b"DE8937040044053201300"), "length");
        assert!(!iban(b"XX89370400440532013000"), "country");
    }

    #[test]
    fn phone_numbering_rules() {
        assert!(phone(b"14155550132", Dialing::International));
        assert!(
            !phone(b"14151550132", Dialing::International),
            "exchange 1xx"
        );
        assert!(phone(b"442079460958", Dialing::International));
        assert!(phone(b"4930123456789", Dialing::International));
        assert!(phone(b"33123456789", Dialing::International));
        assert!(
            !phone(b"330123456789", Dialing::International),
            "trunk 0 after code"
        );
        assert!(phone(b"4155550132", Dialing::National));
        assert!(phone(b"02079460958", Dialing::National));
        assert!(!phone(b"0012345678", Dialing::National));
        assert!(!phone(b"20240501", Dialing::National));
    }

    #[test]
    fn base64url_and_entropy() {
        let mut out = Vec::new();
        base64url_decode(b"eyJhbGciOiJIUzI1NiJ9", &mut out).unwrap();
        assert_eq!(out, br#"{"alg":"HS256"}"#);
        assert!(entropy(b"aaaaaaaa") < 0.1);
        assert!(entropy(b"q8Zr2LmX0pVb7NcT") > 3.5);
    }
}
