//! Values in the formats of the world, as other people's data writes them:
//! payment cards of every network, telephone numbers of many countries,
//! IPv6 in every text form. Look-alikes stay visible.

use approvals_core::mask::{Kind, MaskingEngine};

fn engine() -> MaskingEngine {
    MaskingEngine::builder().pseudonym_key(b"test key").build()
}

/// The single value found in `text`, as its kind and text.
fn found(text: &str) -> Vec<(Kind, String)> {
    engine()
        .detect(text)
        .into_iter()
        .map(|d| (d.kind, text[d.range].to_owned()))
        .collect()
}

fn assert_found(kind: &Kind, value: &str, contexts: &[&str]) {
    for context in contexts {
        let text = context.replace("{}", value);
        let hits = found(&text);
        assert!(
            hits.iter().any(|(k, v)| k == kind && v == value),
            "{kind} {value:?} not found whole in {text:?}: {hits:?}"
        );
    }
}

fn assert_visible(value: &str, contexts: &[&str]) {
    for context in contexts {
        let text = context.replace("{}", value);
        let masked = engine().mask_str(&text).into_owned();
        assert_eq!(masked, text, "{value:?} was masked");
    }
}

const CARD_CONTEXTS: &[&str] = &[
    "{}",
    "card {} exp 04/29",
    "{\"card_number_hint\": \"{}\"}",
    "UPDATE payments SET pan = '{}' WHERE id = 7;",
];

#[test]
fn cards_of_every_network_are_found_with_the_usual_separators() {
    for number in [
        "4222222222222",
        "4111111111111111",
        "4111111111111111110",
        "5555555555554444",
        "2223003122003222",
        "2720992720992729",
        "378282246310005",
        "6011111111111117",
        "6500000000000002",
        "30569309025904",
        "3056930009020004",
        "3566002020360505",
        "3530111333300000",
        "180001234567899",
        "213112345678904",
        "6200000000000005",
        "6212345678901234569",
        "500000000009",
        "6759649826438453003",
        "2200000000000004",
        "6521000000000007",
        "5080000000000002",
    ] {
        assert_found(&Kind::CreditCard, number, CARD_CONTEXTS);
    }
    for grouped in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111.1111.1111.1111",
        "3782 822463 10005",
        "3056 930902 5904",
        "3566 0020 2036 0505",
        "1800 0123 4567 899",
        "6759 6498 2643 8453 003",
        "5000 0000 0009",
        "2200 0000 0000 0004",
    ] {
        assert_found(&Kind::CreditCard, grouped, CARD_CONTEXTS);
    }
}

#[test]
fn luhn_failing_and_unissued_numbers_stay_visible() {
    for number in [
        "4111111111111112",
        "3566 0020 2036 0506",
        "180001234567890",
        "500000000001",
        "1234567812345670",
        "9999 9999 9999 9995",
    ] {
        assert_visible(number, &["order {} shipped", "tracking {}"]);
    }
}
