//! Detection by key in structured data: a value under `password`,
//! `customer_email` or `apiKey` is masked as its kind whatever it looks like.

use std::collections::HashMap;

use super::kind::Kind;

/// Lowercase ASCII letters and digits of `key`: `apiKey`, `api-key` and
/// `API_KEY` all become `apikey`.
pub(crate) fn normalize_key(key: &str) -> String {
    key.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// Keys named exactly (after normalization).
const EXACT: &[(&str, Kind)] = &[
    ("password", Kind::Secret),
    ("passwd", Kind::Secret),
    ("pwd", Kind::Secret),
    ("pass", Kind::Secret),
    ("passphrase", Kind::Secret),
    ("secret", Kind::Secret),
    ("token", Kind::Secret),
    ("apikey", Kind::Secret),
    ("accesskey", Kind::Secret),
    ("privatekey", Kind::Secret),
    ("secretkey", Kind::Secret),
    ("authorization", Kind::Secret),
    ("proxyauthorization", Kind::Secret),
    ("cookie", Kind::Secret),
    ("cookies", Kind::Secret),
    ("setcookie", Kind::Secret),
    ("credentials", Kind::Secret),
    ("credential", Kind::Secret),
    ("ssn", Kind::UsSsn),
    ("usssn", Kind::UsSsn),
    ("socialsecuritynumber", Kind::UsSsn),
    ("email", Kind::Email),
    ("mail", Kind::Email),
    ("emailaddress", Kind::Email),
    ("phone", Kind::Phone),
    ("phonenumber", Kind::Phone),
    ("mobile", Kind::Phone),
    ("telephone", Kind::Phone),
    ("tel", Kind::Phone),
    ("cell", Kind::Phone),
    ("cellphone", Kind::Phone),
    ("fax", Kind::Phone),
    ("msisdn", Kind::Phone),
    ("dob", Kind::DateOfBirth),
    ("birthdate", Kind::DateOfBirth),
    ("dateofbirth", Kind::DateOfBirth),
    ("birthday", Kind::DateOfBirth),
    ("card", Kind::CreditCard),
    ("cardnumber", Kind::CreditCard),
    ("creditcard", Kind::CreditCard),
    ("creditcardnumber", Kind::CreditCard),
    ("ccnumber", Kind::CreditCard),
    ("pan", Kind::CreditCard),
    ("iban", Kind::Iban),
    ("accountnumber", Kind::Iban),
    ("bankaccount", Kind::Iban),
    ("bankaccountnumber", Kind::Iban),
    ("name", Kind::Name),
    ("firstname", Kind::Name),
    ("lastname", Kind::Name),
    ("fullname", Kind::Name),
    ("surname", Kind::Name),
    ("givenname", Kind::Name),
    ("familyname", Kind::Name),
    ("middlename", Kind::Name),
    ("address", Kind::Address),
    ("street", Kind::Address),
    ("streetaddress", Kind::Address),
    ("addressline1", Kind::Address),
    ("addressline2", Kind::Address),
    ("ip", Kind::IpAddress),
    ("ipaddress", Kind::IpAddress),
    ("clientip", Kind::IpAddress),
    ("remoteip", Kind::IpAddress),
    ("remoteaddr", Kind::IpAddress),
    ("sourceip", Kind::IpAddress),
    ("srcip", Kind::IpAddress),
    ("xforwardedfor", Kind::IpAddress),
    ("userip", Kind::IpAddress),
    ("peerip", Kind::IpAddress),
    ("realip", Kind::IpAddress),
    ("xrealip", Kind::IpAddress),
];

/// Key endings that name a kind (`db_password`, `customer_email`,
/// `clientSecret`, `billing_address`). Checked after the exact keys and
/// the exceptions below.
const SUFFIXES: &[(&str, Kind)] = &[
    ("password", Kind::Secret),
    ("passwd", Kind::Secret),
    ("secret", Kind::Secret),
    ("token", Kind::Secret),
    ("apikey", Kind::Secret),
    ("accesskey", Kind::Secret),
    ("privatekey", Kind::Secret),
    ("secretkey", Kind::Secret),
    ("email", Kind::Email),
    ("emailaddress", Kind::Email),
    ("phone", Kind::Phone),
    ("phonenumber", Kind::Phone),
    ("cardnumber", Kind::CreditCard),
    ("iban", Kind::Iban),
    ("ssn", Kind::UsSsn),
    ("birthdate", Kind::DateOfBirth),
    ("dateofbirth", Kind::DateOfBirth),
    ("fullname", Kind::Name),
    ("firstname", Kind::Name),
    ("lastname", Kind::Name),
    ("ipaddress", Kind::IpAddress),
];

/// Keys that end like a kind but are not one.
const NOT_KEYS: &[&str] = &["tokentype", "tokenurl", "tokenendpoint"];

/// Name-like keys: `customer_name`, `cardholder_name`.
const NAME_OWNERS: &[&str] = &[
    "customer",
    "contact",
    "patient",
    "cardholder",
    "accountholder",
    "holder",
    "employee",
    "recipient",
    "sender",
    "billing",
    "shipping",
    "person",
    "owner",
    "legal",
    "maiden",
    "user",
    "display",
    "member",
    "guest",
    "passenger",
    "applicant",
    "beneficiary",
];

/// Address-like keys: `billing_address`, not `ip_address` or `email_address`.
const ADDRESS_OWNERS: &[&str] = &[
    "home",
    "billing",
    "shipping",
    "mailing",
    "postal",
    "delivery",
    "street",
    "residential",
    "customer",
    "contact",
    "business",
    "work",
];

/// The kind a key names, from the built-in list and the engine's own keys.
pub(crate) fn kind_of_key(key: &str, extra: &HashMap<String, Kind>) -> Option<Kind> {
    if key.is_empty() || key.len() > 64 {
        return None;
    }
    let normalized = normalize_key(key);
    if let Some(kind) = extra.get(&normalized) {
        return Some(kind.clone());
    }
    if let Some((_, kind)) = EXACT.iter().find(|(name, _)| *name == normalized) {
        return Some(kind.clone());
    }
    if NOT_KEYS.contains(&normalized.as_str()) {
        return None;
    }
    if let Some(owner) = normalized.strip_suffix("name") {
        if NAME_OWNERS.contains(&owner) && owner != "user" && owner != "display" {
            return Some(Kind::Name);
        }
    }
    if let Some(owner) = normalized.strip_suffix("address") {
        if ADDRESS_OWNERS.contains(&owner) {
            return Some(Kind::Address);
        }
    }
    SUFFIXES
        .iter()
        .find(|(suffix, _)| normalized.ends_with(suffix) && normalized.len() > suffix.len())
        .map(|(_, kind)| kind.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_whatever_the_case_or_separator() {
        let none = HashMap::new();
        for key in [
            "apiKey",
            "api-key",
            "API_KEY",
            "x_api_key",
            "DB_PASSWORD",
            "clientSecret",
        ] {
            assert_eq!(kind_of_key(key, &none), Some(Kind::Secret), "{key}");
        }
        assert_eq!(kind_of_key("customer_email", &none), Some(Kind::Email));
        assert_eq!(kind_of_key("Birth-Date", &none), Some(Kind::DateOfBirth));
        assert_eq!(kind_of_key("card_number", &none), Some(Kind::CreditCard));
        assert_eq!(kind_of_key("first_name", &none), Some(Kind::Name));
        assert_eq!(kind_of_key("customer_name", &none), Some(Kind::Name));
        assert_eq!(kind_of_key("billing_address", &none), Some(Kind::Address));
        assert_eq!(kind_of_key("ip_address", &none), Some(Kind::IpAddress));
        for key in [
            "hostname",
            "username",
            "filename",
            "max_tokens",
            "bucket",
            "zip",
            "email_count",
        ] {
            assert_eq!(kind_of_key(key, &none), None, "{key}");
        }
        let extra = HashMap::from([("memberno".to_owned(), Kind::Name)]);
        assert_eq!(kind_of_key("member_no", &extra), Some(Kind::Name));
    }
}
