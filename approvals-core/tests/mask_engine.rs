//! The masking engine as users call it: detection, strategies, overrides,
//! configuration, and robustness on hostile input.

use std::borrow::Cow;

use approvals_core::mask::{ActionMasking, CustomDetector, Kind, Masker, MaskingEngine, Strategy};
use approvals_core::{ArgumentMask, Identity};
use proptest::prelude::{Just, ProptestConfig, any, prop, prop_assert, prop_oneof, proptest};
use proptest::strategy::Strategy as _;
use serde_json::{Value, json};

#[path = "support/mask_text.rs"]
mod mask_text;

fn engine() -> MaskingEngine {
    MaskingEngine::builder().pseudonym_key(b"test key").build()
}

fn mask(spec: &str) -> ArgumentMask {
    ArgumentMask {
        argument: "value".into(),
        spec: spec.to_owned().into(),
    }
}

#[test]
fn nothing_found_returns_the_input_without_a_copy() {
    let engine = engine();
    let text =
        "GET /v1/orders/42 200 35ms version 1.19.29.233 sha 3f2a9c1 at 2024-05-01T12:34:56.789Z";
    assert!(matches!(engine.mask_str(text), Cow::Borrowed(t) if std::ptr::eq(t, text)));
    assert!(engine.detect(text).is_empty());
}

#[test]
fn detections_carry_kind_byte_range_and_confidence() {
    let text = "é jane@example.com from 2001:db8::1";
    let found = engine().detect(text);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].kind, Kind::Email);
    assert_eq!(&text[found[0].range.clone()], "jane@example.com");
    assert!(found[0].confidence > 0.9);
    assert_eq!(found[1].kind, Kind::IpAddress);
    assert_eq!(&text[found[1].range.clone()], "2001:db8::1");
}

#[test]
fn default_strategies_suit_a_reviewer() {
    let engine = engine();
    let masked = engine.mask_str(
        "jane@example.com +44 20 7946 0958 4242-4242-4242-4242 123-45-6789 ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    );
    let parts: Vec<&str> = masked.split(' ').collect();
    assert!(parts[0].starts_with("EMAIL_"), "{masked}");
    assert_eq!(
        &parts[1..],
        ["••••", "0958", "••••", "4242", "[US_SSN]", "[SECRET]"]
    );
    // The same value gives the same pseudonym, in any argument.
    let view = engine.mask_arguments(
        "crm.merge",
        &json!({"from": "Jane@Example.com", "into": {"contact": "jane@example.com"}}),
        &[],
    );
    assert_eq!(view.as_value()["from"], view.as_value()["into"]["contact"]);
}

#[test]
fn values_under_kind_keys_are_masked_whatever_they_look_like() {
    let view = engine().mask_arguments(
        "x",
        &json!({
            "apiKey": "short",
            "API-KEY": ["a", "b"],
            "user": {"Password": {"old": "x1", "new": "y2"}, "ssn": 123456789, "first_name": "jane"},
            "count": 3,
            "ok": true
        }),
        &[],
    );
    assert_eq!(
        view.as_value(),
        &json!({
            "apiKey": "[SECRET]",
            "API-KEY": ["[SECRET]", "[SECRET]"],
            "user": {"Password": {"old": "[SECRET]", "new": "[SECRET]"}, "ssn": "[US_SSN]", "first_name": view.as_value()["user"]["first_name"]},
            "count": 3,
            "ok": true
        })
    );
    assert!(
        view.as_value()["user"]["first_name"]
            .as_str()
            .unwrap()
            .starts_with("NAME_")
    );
}

#[test]
fn argument_specs_follow_the_agreed_grammar() {
    let engine = engine();
    let args = json!({"value": "jane@example.com", "other": "kept"});
    let masked = |spec: &str| {
        engine
            .mask_arguments("a", &args, &[mask(spec)])
            .as_value()
            .clone()
    };
    assert_eq!(masked("email:label")["value"], "[EMAIL]");
    assert_eq!(masked("EMAIL:PARTIAL")["value"], "j***@example.com");
    assert!(
        masked("email")["value"]
            .as_str()
            .unwrap()
            .starts_with("EMAIL_")
    );
    assert_eq!(masked("label")["value"], "[REDACTED]");
    assert!(
        masked("pseudonym")["value"]
            .as_str()
            .unwrap()
            .starts_with("VALUE_")
    );
    assert_eq!(
        masked("partial")["value"],
        "j***@example.com",
        "recognised as an email"
    );
    assert_eq!(masked("drop"), json!({"other": "kept"}));
    assert_eq!(masked("phone:drop"), json!({"other": "kept"}));
    // Every combination is safe: a secret is never shown in part.
    assert_eq!(masked("secret:partial")["value"], "[SECRET]");
    assert_eq!(masked("address:partial")["value"], "[ADDRESS]");
    // A name masks the whole value as that kind, whatever it holds.
    assert_eq!(masked("name:label")["value"], "[NAME]");
    // Unknown specs fail safe.
    assert_eq!(masked("e-mail")["value"], "[REDACTED]");
    assert_eq!(masked("")["value"], "[REDACTED]");
    assert_eq!(masked("other")["other"], "kept");
    // `partial` on something that is not one recognised value shows nothing.
    let free = json!({"value": "call me maybe"});
    assert_eq!(
        engine
            .mask_arguments("a", &free, &[mask("partial")])
            .as_value()["value"],
        "[REDACTED]"
    );
}

#[test]
fn every_spec_the_grammar_allows_is_accepted_and_never_leaks() {
    let engine = engine();
    let args = json!({"value": {"deep": ["jane@example.com", 4_242_424_242_424_242u64]}});
    let mut specs: Vec<String> = approvals_core::mask::KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    specs.extend(
        approvals_core::mask::STRATEGIES
            .iter()
            .map(|s| s.to_string()),
    );
    for kind in approvals_core::mask::KINDS {
        for strategy in approvals_core::mask::STRATEGIES {
            specs.push(format!("{kind}:{strategy}"));
        }
    }
    for spec in specs {
        assert!(
            spec.parse::<approvals_core::mask::MaskSpec>().is_ok(),
            "{spec}"
        );
        let text = engine
            .mask_arguments("a", &args, &[mask(&spec)])
            .to_string();
        assert!(
            !text.contains("jane@example.com") && !text.contains("4242424242424242"),
            "{spec}: {text}"
        );
    }
}

#[test]
fn action_configuration_overrides_strategies_and_arguments() {
    let engine = MaskingEngine::builder()
        .pseudonym_key(b"k")
        .strategy(Kind::Phone, Strategy::Label)
        .action(
            "billing.*",
            ActionMasking::new()
                .strategy(Kind::Email, Strategy::Partial)
                .argument("memo", "drop".parse().unwrap())
                .argument("ref", "label".parse().unwrap()),
        )
        .unwrap()
        .build();
    let args =
        json!({"to": "jane@example.com", "phone": "+1 415 555 0132", "memo": "x", "ref": "r-1"});
    let billing = engine.mask_arguments("billing.refund", &args, &[]);
    assert_eq!(
        billing.as_value(),
        &json!({"to": "j***@example.com", "phone": "[PHONE]", "ref": "[REDACTED]"})
    );
    // The request's own override wins over the action's.
    let overridden = engine.mask_arguments(
        "billing.refund",
        &args,
        &[ArgumentMask {
            argument: "memo".into(),
            spec: "label".into(),
        }],
    );
    assert_eq!(overridden.as_value()["memo"], "[REDACTED]");
    let other = engine.mask_arguments("crm.update", &args, &[]);
    assert!(
        other.as_value()["to"]
            .as_str()
            .unwrap()
            .starts_with("EMAIL_")
    );
    assert_eq!(other.as_value()["memo"], "x");
}

#[test]
fn custom_detectors_keys_and_allow_lists() {
    let engine = MaskingEngine::builder()
        .detector(CustomDetector::new("ticket", r"\bTCK-\d{4}\b").unwrap())
        .detector(CustomDetector::new("email", r"\b[a-z]+ at corp dot com\b").unwrap())
        .key("member_no", Kind::Name)
        .allow_value("support@example.com")
        .allow_pattern(r"[a-z]+@noreply\.example\.com")
        .unwrap()
        .strategy(Kind::Email, Strategy::Label)
        .build();
    assert_eq!(
        engine.mask_str("TCK-1234 from jo at corp dot com to support@example.com or bot@noreply.example.com, not jo@example.com"),
        "[TICKET] from [EMAIL] to support@example.com or bot@noreply.example.com, not [EMAIL]"
    );
    let view = engine.mask_arguments("a", &json!({"memberNo": "12"}), &[]);
    assert!(
        view.as_value()["memberNo"]
            .as_str()
            .unwrap()
            .starts_with("NAME_")
    );
    assert!(CustomDetector::new("x", "(").is_err());
    assert!(CustomDetector::new(" ", "x").is_err());
    assert!(
        MaskingEngine::builder()
            .action("a{b", ActionMasking::new())
            .is_err()
    );
}

#[test]
fn detect_value_reports_pointers_keys_and_key_based_kinds() {
    let found = engine().detect_value(
        &json!({"a/b": [{"note": "mail jo@example.com"}], "jo@example.com": 1, "token": "t"}),
    );
    let summary: Vec<(String, bool, String)> = found
        .iter()
        .map(|f| (f.pointer.clone(), f.key, f.detection.kind.to_string()))
        .collect();
    assert!(
        summary.contains(&("/a~1b/0/note".into(), false, "email".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&("/jo@example.com".into(), true, "email".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&("/token".into(), false, "secret".into())),
        "{summary:?}"
    );
}

#[test]
fn json_nested_ten_thousand_deep_is_masked_without_overflow() {
    let depth = 10_000;
    let mut value = json!({"email": "jane@example.com", "note": "call +1 415 555 0132"});
    for i in 0..depth {
        // Not `json!`, which would serialize (recursively) what it wraps.
        value = if i % 2 == 0 {
            Value::Array(vec![value])
        } else {
            Value::Object(serde_json::Map::from_iter([("k".to_owned(), value)]))
        };
    }
    let engine = engine();
    let masked = engine.mask_value(&value);
    let found = engine.detect_value(&value);
    assert_eq!(found.len(), 2);
    // Walk down without recursion, then take both trees apart the same way
    // (dropping a deep `Value` recursively would overflow the test's stack).
    let mut node = &masked;
    loop {
        node = match node {
            Value::Array(items) => &items[0],
            Value::Object(map) if map.contains_key("k") => &map["k"],
            _ => break,
        };
    }
    assert!(node["email"].as_str().unwrap().starts_with("EMAIL_"));
    assert_eq!(node["note"], "call •••• 0132");
    dismantle(masked);
    dismantle(value);
}

fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[test]
fn a_large_input_is_masked_whole() {
    let line =
        "2024-05-01T12:34:56Z INFO request from 198.51.100.23 user=jo@example.com took 35ms\n";
    let text = line.repeat(32 * 1024 * 1024 / line.len());
    let engine = engine();
    let masked = engine.mask_str(&text);
    assert!(!masked.contains("198.51.100.23") && !masked.contains("jo@example.com"));
    assert_eq!(masked.lines().count(), text.lines().count());
}

#[test]
fn hostile_shapes_do_not_panic() {
    let engine = engine();
    let inputs = [
        "@".repeat(10_000),
        "1".repeat(100_000),
        "1 ".repeat(50_000),
        "1-".repeat(50_000),
        "a:".repeat(50_000),
        ":".repeat(50_000),
        "-----BEGIN PRIVATE KEY-----".repeat(1000),
        "password=".repeat(10_000),
        "Dear ".repeat(10_000),
        "1 Main Street, ".repeat(10_000),
        "eyJ".repeat(10_000),
        "é€😀\u{0}\u{7f}".repeat(10_000),
        "+".repeat(10_000),
        "DE89 ".repeat(10_000),
    ];
    for input in &inputs {
        let masked = engine.mask(input);
        for d in &masked.detections {
            assert!(input.is_char_boundary(d.range.start) && input.is_char_boundary(d.range.end));
        }
    }
}

#[test]
fn a_pem_header_cut_inside_a_multibyte_character_does_not_panic() {
    // The header window is 64 bytes; here its end falls inside `Ü`.
    let text = format!("-----BEGIN {}Ü PRIVATE KEY-----\nabc", "x".repeat(63));
    let masked = engine().mask(&text);
    assert!(masked.detections.is_empty(), "{:?}", masked.detections);
    let text = format!("-----BEGIN {}Ü", "é".repeat(40));
    assert!(engine().mask(&text).detections.is_empty());
}

#[test]
fn the_benchmark_texts_hold_what_the_benchmark_says() {
    let engine = engine();
    // Sparse: about one line in ten holds an email or a client IP, and
    // nothing else is masked (ids, timestamps, queries, versions stay).
    let sparse = mask_text::text(1 << 20, mask_text::sparse_line);
    let lines = sparse.lines().count();
    let found = engine.detect(&sparse);
    let per_line = found.len() as f64 / lines as f64;
    assert!((0.07..0.13).contains(&per_line), "{per_line}");
    assert!(
        found
            .iter()
            .all(|d| matches!(d.kind, Kind::Email | Kind::IpAddress)),
        "{:?}",
        found
            .iter()
            .find(|d| !matches!(d.kind, Kind::Email | Kind::IpAddress))
    );
    let masked = engine.mask_str(&sparse);
    assert!(masked.contains("version 1.19.29.233") && masked.contains("request_id="));
    // Dense: every line holds values, two or more on average.
    let dense = mask_text::text(64 << 10, mask_text::dense_line);
    let lines = dense.lines().count();
    for line in dense.lines().take(lines - 1) {
        assert!(!engine.detect(line).is_empty(), "{line}");
    }
    assert!(engine.detect(&dense).len() >= 2 * lines);
}

#[tokio::test]
async fn the_gate_masks_with_the_engine_by_default() {
    use approvals_core::audit::{AuditEvent, MemoryAudit};
    use approvals_core::policy::{Policy, Rule};
    use approvals_core::{ActionRequest, Gate};

    let audit = MemoryAudit::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("no")
                    .action("*")
                    .refuse("never for jo@example.com"),
            ),
        )
        .audit(audit.clone())
        .build();
    let request = ActionRequest::new(
        "crm.export",
        json!({"email": "jo@example.com", "card": "4242 4242 4242 4242"}),
    )
    .requester(Identity::new("agent:a"))
    .justification("jo@example.com asked, call +1 415 555 0132");
    let error = gate.authorize(request).await.unwrap_err().to_string();
    assert!(!error.contains("jo@example.com"), "{error}");
    let records = serde_json::to_string(&audit.records()).unwrap();
    for raw in ["jo@example.com", "4242 4242", "415 555"] {
        assert!(!records.contains(raw), "{raw} in {records}");
    }
    let requested = audit.records().into_iter().find_map(|r| match r.event {
        AuditEvent::Requested {
            arguments,
            justification,
            ..
        } => Some((arguments, justification)),
        _ => None,
    });
    let (arguments, justification) = requested.unwrap();
    assert_eq!(arguments.as_value()["card"], "•••• 4242");
    assert!(justification.unwrap().ends_with("call •••• 0132"));
}

/// Values of every supported kind, generated.
fn sensitive_value() -> impl proptest::strategy::Strategy<Value = String> {
    let card = (
        prop::sample::select(vec!["4", "51", "2221", "34", "6011", "3530"]),
        0u64..1_000_000_000_000,
    )
        .prop_map(|(prefix, n)| {
            let len = if prefix == "34" { 15 } else { 16 };
            let mut body = format!("{prefix}{n:012}");
            body.truncate(len - 1);
            while body.len() < len - 1 {
                body.push('7');
            }
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
            format!("{body}{}", (10 - sum % 10) % 10)
        });
    let email = (
        "[a-z]{1,10}",
        "[a-z]{2,10}",
        prop::sample::select(vec!["com", "org", "io", "co.uk"]),
    )
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"));
    let ssn = (1u32..899, 1u32..99, 1u32..9999)
        .prop_filter("area 666", |(a, _, _)| *a != 666)
        .prop_map(|(a, g, s)| format!("{a:03}-{g:02}-{s:04}"));
    let phone = (2u32..9, 0u32..99, 2u32..9, 0u32..99, 0u32..9999)
        .prop_filter("N11", |(_, b, _, _, _)| *b != 11)
        .prop_map(|(a, b, c, d, e)| format!("+1 {a}{b:02}-{c}{d:02}-{e:04}"));
    let ip = (11u8..223, any::<u8>(), any::<u8>(), 1u8..254)
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"));
    let aws = "[A-Z0-9]{16}".prop_map(|s| format!("AKIA{s}"));
    let github = "[A-Za-z0-9]{36}".prop_map(|s| format!("ghp_{s}"));
    let iban = "[0-9]{18}".prop_map(|bban| {
        let digits = format!("{bban}131400");
        let r = digits
            .bytes()
            .fold(0u32, |acc, c| (acc * 10 + u32::from(c - b'0')) % 97);
        format!("DE{:02}{bban}", 98 - r)
    });
    prop_oneof![card, email, ssn, phone, ip, aws, github, iban]
}

/// Whether the engine reads a dotted quad right after `word` as a version.
fn announces_a_version(word: &str) -> bool {
    engine()
        .mask_str(&format!("{word} 11.0.0.1"))
        .contains("11.0.0.1")
}

fn filler() -> impl proptest::strategy::Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            // Not a version word (`version`, `os`, `node`, ...): a dotted
            // quad after one is a version by design.
            "[a-z]{1,8}".prop_filter("a version word", |word| !announces_a_version(word)),
            "[A-Z][a-z]{1,8}".prop_filter("a version word", |word| !announces_a_version(word)),
            "[0-9]{1,3}",
            Just("from".to_owned()),
            Just("é".to_owned()),
            "[.,;:!?()]",
        ],
        0..12,
    )
    .prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_value_embedded_in_text_never_appears_in_the_masked_text(
        value in sensitive_value(), before in filler(), after in filler(),
        open in prop::sample::select(vec![" ", "\n", " (", " \"", "\t", " '", " <"]),
        close in prop::sample::select(vec![" ", "\n", ") ", "\" ", ", ", ". ", "> "]),
    ) {
        let text = format!("{before}{open}{value}{close}{after}");
        let masked = engine().mask_str(&text).into_owned();
        prop_assert!(!masked.contains(&value), "{value} leaked from {text:?}: {masked:?}");
    }

    #[test]
    fn a_value_embedded_in_json_never_appears_in_the_masked_view(
        value in sensitive_value(), before in filler(), key in "[a-z]{1,8}", depth in 0usize..6,
    ) {
        let mut json = json!({ key.clone(): format!("{before} {value}") });
        for _ in 0..depth {
            json = json!({"items": [json, 1, null]});
        }
        let view = engine().mask_arguments("a", &json, &[]);
        prop_assert!(!view.to_string().contains(&value), "{value} leaked: {view}");
    }

    #[test]
    fn any_input_is_masked_without_panicking(text in "\\PC{0,400}") {
        let engine = engine();
        let masked = engine.mask(&text);
        let mut last_end = 0;
        for d in &masked.detections {
            prop_assert!(d.range.start >= last_end && d.range.start < d.range.end && d.range.end <= text.len());
            last_end = d.range.end;
        }
    }

    #[test]
    fn any_bytes_as_json_strings_do_not_panic(items in prop::collection::vec(any::<String>(), 0..8)) {
        let value = json!({"a": items, "password": "x"});
        let _ = engine().mask_arguments("a", &value, &[mask("x:y")]);
    }
}
