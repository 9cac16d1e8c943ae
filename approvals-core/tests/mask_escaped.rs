//! Secrets and personal data in escaped and encoded text: JSON string
//! escapes, a JSON string inside a log line, URL-encoding, base64, lines
//! wrapped at a fixed width. Whatever the form, the whole value is masked:
//! no 8-character run of a secret reaches the reviewer.

#![allow(clippy::expect_used)]

use approvals_core::mask::{Kind, MaskingEngine};
use proptest::prelude::{ProptestConfig, prop_assert, proptest};
use proptest::strategy::Strategy as _;

fn engine() -> MaskingEngine {
    MaskingEngine::builder().pseudonym_key(b"test key").build()
}

/// A deterministic base64 body of `lines` lines of 64 characters.
fn base64_body(seed: u64, lines: usize) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = seed | 1;
    let mut out = String::new();
    for line in 0..lines {
        if line > 0 {
            out.push('\n');
        }
        for _ in 0..64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(char::from(B64[(state % 64) as usize]));
        }
    }
    out
}

/// Every PEM private key form, and OpenSSH's.
const PEM_LABELS: [&str; 7] = [
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "PGP PRIVATE KEY BLOCK",
];

fn pem(label: &str, seed: u64) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        base64_body(seed, 6)
    )
}

/// JSON string content, as `serde_json` writes it.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

/// JSON string content with every escape JSON allows: `\/` and `\uXXXX`
/// for everything outside printable ASCII.
fn json_escaped_fully(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// Percent-encoding of everything but the unreserved characters.
fn url_encoded(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes JSON escapes and percent-encoding (three levels), so that a
/// surviving piece of a secret is seen in whatever form it survived.
fn plain(text: &str) -> String {
    let mut current = text.to_owned();
    for _ in 0..3 {
        let bytes = current.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let hex = |k: usize| {
                bytes
                    .get(k..k + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            };
            match (b, bytes.get(i + 1)) {
                (b'\\', Some(b'n')) => {
                    out.push(b'\n');
                    i += 2;
                }
                (b'\\', Some(b'r')) => {
                    out.push(b'\r');
                    i += 2;
                }
                (b'\\', Some(b't')) => {
                    out.push(b'\t');
                    i += 2;
                }
                (b'\\', Some(&c @ (b'"' | b'\\' | b'/'))) => {
                    out.push(c);
                    i += 2;
                }
                (b'%', _) if hex(i + 1).is_some() => {
                    out.push(hex(i + 1).unwrap_or_default());
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        current = String::from_utf8_lossy(&out).into_owned();
    }
    current
}

/// Whether any 8-character run of `secret` survives in `masked`, read
/// plain and with line breaks removed. Returns the first such run.
fn surviving_run(secret: &str, masked: &str) -> Option<String> {
    let secret: Vec<char> = secret
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r'))
        .collect();
    let forms = [masked.to_owned(), plain(masked)];
    let forms: Vec<String> = forms.iter().map(|f| f.replace(['\n', '\r'], "")).collect();
    secret.windows(8).find_map(|window| {
        let run: String = window.iter().collect();
        forms.iter().any(|f| f.contains(&run)).then_some(run)
    })
}

/// A secret in the context it comes with (a key before a password, a
/// scheme before a bearer token), and the secret itself.
fn placed(kind: usize, value: &str) -> (String, String) {
    let secret = value.to_owned();
    let context = match kind {
        0 => format!("export DB_PASSWORD={value}"),
        1 => format!("{{\"password\": \"{value}\"}}"),
        2 => format!("Authorization: Bearer {value}"),
        3 => format!("postgres://app:{value}@db.internal:5432/orders"),
        4 => format!("aws_secret_access_key = {value}"),
        _ => format!("using key {value} now"),
    };
    (context, secret)
}

/// The forms a secret reaches the masker in.
fn forms(context: &str, secret: &str) -> Vec<(&'static str, String)> {
    let wrapped = {
        let chars: Vec<char> = secret.chars().collect();
        let lines: Vec<String> = chars.chunks(64).map(|c| c.iter().collect()).collect();
        context.replace(secret, &lines.join("\n"))
    };
    let escaped = json_escaped(context);
    vec![
        ("raw", context.to_owned()),
        ("json", format!("{{\"input\":\"{escaped}\"}}")),
        (
            "json, every escape",
            format!("{{\"input\":\"{}\"}}", json_escaped_fully(context)),
        ),
        (
            "json in a log line",
            format!(
                "2024-05-03T10:03:14.156Z INFO tool call body={{\"tool\":\"deploy\",\"arguments\":{{\"input\":\"{escaped}\"}}}} took 35ms"
            ),
        ),
        (
            "json string in a json string in a log line",
            format!(
                "2024-05-03T10:03:14.156Z INFO {{\"message\":\"{}\"}}",
                json_escaped(&format!("{{\"input\":\"{escaped}\"}}"))
            ),
        ),
        (
            "url-encoded",
            format!("GET /hook?payload={}", url_encoded(context)),
        ),
        ("wrapped at 64 columns", wrapped),
    ]
}

fn assert_masked_in_every_form(context: &str, secret: &str) {
    let engine = engine();
    for (form, text) in forms(context, secret) {
        let masked = engine.mask_str(&text);
        assert!(
            surviving_run(secret, &masked).is_none(),
            "{form}: a run of the secret survives {:?}\n  in: {text}\n  out: {masked}",
            surviving_run(secret, &masked)
        );
    }
}

#[test]
fn a_private_key_with_escaped_line_breaks_is_masked_whole() {
    // The shape of a service-account JSON file, and of a tool call's
    // arguments holding one.
    let key = pem("PRIVATE KEY", 7);
    let file = format!(
        "{{\"type\":\"service_account\",\"private_key_id\":\"4f1c\",\"private_key\":\"{}\",\"client_email\":\"bot@project.iam.example.com\"}}",
        json_escaped(&key)
    );
    let masked = engine().mask_str(&file).into_owned();
    assert!(surviving_run(&key, &masked).is_none(), "{masked}");
    assert!(masked.contains("\"private_key_id\":\"4f1c\""), "{masked}");
    // The key is one span, from BEGIN to END.
    let found = engine().detect(&file);
    let secret = found
        .iter()
        .find(|d| d.kind == Kind::Secret && file[d.range.clone()].contains("BEGIN"))
        .expect("the key is found");
    let span = &file[secret.range.clone()];
    assert!(span.starts_with("-----BEGIN PRIVATE KEY-----\\n"), "{span}");
    assert!(span.ends_with("-----END PRIVATE KEY-----"), "{span}");
}

#[test]
fn every_pem_private_key_form_is_masked_in_every_escaped_form() {
    for (seed, label) in (1..).zip(PEM_LABELS) {
        let key = pem(label, seed);
        assert_masked_in_every_form(&format!("key file:\n{key}\nend of file"), &key);
        assert_masked_in_every_form(&format!("{{\"private_key\": \"{key}\"}}"), &key);
    }
}

#[test]
fn a_private_key_without_its_end_line_is_masked_to_the_end_of_its_string() {
    let key = format!("-----BEGIN RSA PRIVATE KEY-----\n{}", base64_body(3, 5));
    let text = format!(
        "{{\"note\":\"{}\",\"next\":\"visible\"}}",
        json_escaped(&key)
    );
    let masked = engine().mask_str(&text).into_owned();
    assert!(surviving_run(&key, &masked).is_none(), "{masked}");
    assert!(masked.ends_with(",\"next\":\"visible\"}"), "{masked}");
    // Cut short in plain text: to the blank line.
    let text = format!("{key}\n\nthe rest stays");
    let masked = engine().mask_str(&text).into_owned();
    assert!(surviving_run(&key, &masked).is_none(), "{masked}");
    assert!(masked.ends_with("\n\nthe rest stays"), "{masked}");
}

#[test]
fn a_private_key_encoded_in_base64_is_masked() {
    // As a Kubernetes secret carries it.
    let key = pem("RSA PRIVATE KEY", 11);
    let encoded = base64_encode(key.as_bytes());
    let text =
        format!("data:\n  tls.key: {encoded}\n  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n");
    let masked = engine().mask_str(&text).into_owned();
    // The first bytes are those of every PEM block, the certificate's too.
    assert!(surviving_run(&encoded[16..], &masked).is_none(), "{masked}");
    // A certificate is not a secret.
    assert!(
        masked.contains("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"),
        "{masked}"
    );
    assert_masked_in_every_form(&format!("tls.key: {encoded}"), &encoded);
}

fn base64_encode(bytes: &[u8]) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (k, &b)| acc | u32::from(b) << (16 - 8 * k));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64url(bytes: &[u8]) -> String {
    base64_encode(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

#[test]
fn jwts_are_masked_whole_in_every_form() {
    let header = base64url(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
    let payload = base64url(br#"{"sub":"1234567890","name":"Jane Doe","iat":1516239022}"#);
    let signature = base64url(&[7u8; 64]);
    let jws = format!("{header}.{payload}.{signature}");
    assert_masked_in_every_form(&format!("Authorization: Bearer {jws}"), &jws);
    assert_masked_in_every_form(&format!("the session token is {jws}."), &jws);
    // A JWE has five segments; a header written with line breaks starts
    // `ewog`.
    let jwe_header = base64url(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
    let jwe = format!(
        "{jwe_header}.{}.{}.{}.{}",
        base64url(&[1u8; 40]),
        base64url(&[2u8; 12]),
        base64url(&[3u8; 48]),
        base64url(&[4u8; 16])
    );
    assert_masked_in_every_form(&format!("cookie: session={jwe}"), &jwe);
    let pretty = format!(
        "{}.{payload}.{signature}",
        base64url(b"{\n  \"alg\": \"HS256\"\n}")
    );
    assert_masked_in_every_form(&format!("jwt {pretty} done"), &pretty);
}

#[test]
fn personal_data_inside_escapes_is_found() {
    let engine = engine();
    // An email URL-encoded, a name with a `\u00e9` escape, a phone number in
    // an escaped JSON string.
    let masked = engine.mask_str("GET /unsubscribe?email=jos%C3%A9.garcia%40example.com&x=1");
    assert!(!plain(&masked).contains("garcia"), "{masked}");
    let masked = engine.mask_str(r#"{"args":"{\"name\": \"Jos\u00e9 Garc\u00eda\", \"ok\": 1}"}"#);
    assert!(!masked.contains("Garc"), "{masked}");
    let masked = engine.mask_str(r#"{"body":"call me:\n+44 20 7946 0958\nthanks"}"#);
    assert!(!masked.contains("7946"), "{masked}");
    // Escapes alone change nothing visible.
    let text = r#"{"path":"C:\\builds\\new\\table","query":"a%20b"}"#;
    assert_eq!(engine.mask_str(text), text);
}

/// The secret kinds the engine knows, as generated values.
fn secret_value() -> impl proptest::strategy::Strategy<Value = (usize, String)> {
    proptest::prop_oneof![
        "AKIA[A-Z0-9]{16}".prop_map(|v| (5, v)),
        "[A-Za-z0-9/+]{18}/[A-Za-z0-9]{21}".prop_map(|v| (4, v)),
        "ghp_[A-Za-z0-9]{36}".prop_map(|v| (5, v)),
        "github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}".prop_map(|v| (5, v)),
        "xoxb-[0-9]{12}-[0-9]{12}-[A-Za-z0-9]{24}".prop_map(|v| (5, v)),
        "sk_live_[A-Za-z0-9]{24,40}".prop_map(|v| (5, v)),
        "AIza[A-Za-z0-9_-]{35}".prop_map(|v| (5, v)),
        "[A-Za-z0-9!#^*]{12,24}".prop_map(|v| (0, v)),
        "[A-Za-z0-9!#^*]{12,24}".prop_map(|v| (1, v)),
        "[A-Za-z0-9._~-]{20,60}".prop_map(|v| (2, v)),
        "[A-Za-z0-9]{12,24}".prop_map(|v| (3, v)),
        (0..PEM_LABELS.len(), proptest::num::u64::ANY)
            .prop_map(|(label, seed)| (6, pem(PEM_LABELS[label], seed))),
        (proptest::collection::vec(proptest::num::u8::ANY, 16..64)).prop_map(|payload| (
            5,
            format!(
                "{}.{}.{}",
                base64url(br#"{"alg":"HS256","typ":"JWT"}"#),
                base64url(&payload),
                base64url(&payload[..16])
            )
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_run_of_a_secret_survives_in_any_form((kind, value) in secret_value()) {
        let (context, secret) = placed(kind, &value);
        let engine = engine();
        for (form, text) in forms(&context, &secret) {
            let masked = engine.mask_str(&text);
            let run = surviving_run(&secret, &masked);
            prop_assert!(run.is_none(), "{}: {:?} survives\n  in: {}\n  out: {}", form, run, text, masked);
        }
    }
}

/// Found by the property test: a token wrapped at 64 columns whose last
/// piece is letters only, with text after it on its line.
#[test]
fn the_last_piece_of_a_wrapped_token_is_masked_even_when_it_is_letters_only() {
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.AAAAAAAAAAAAAAAADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAADAAAAA";
    assert_masked_in_every_form(&format!("using key {token} now"), token);
    let wrapped = "using key eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.AAAAAAAAAAAAAAAADAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAA\nAADAAAAA now";
    let masked = engine().mask_str(wrapped);
    assert_eq!(masked, "using key [SECRET] now");
}
