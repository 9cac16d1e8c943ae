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

const PHONE_CONTEXTS: &[&str] = &[
    "call {} now",
    "{\"contact_phone\": \"{}\"}",
    "INSERT INTO leads (tel) VALUES ('{}');",
];

#[test]
fn phones_with_a_trunk_prefix_or_an_extension_are_found_whole() {
    for number in [
        // An area code with its trunk prefix in parentheses.
        "(03) 6257 6885",
        "(0151) 234 5678",
        "(030) 701-56-09",
        // The trunk prefix `(0)` after the country code.
        "+41 (0)30 701 56 09",
        "+44 (0)20 7946 0958",
        "+49(0)6692870724",
        // Extensions written onto the number.
        "384.666.6257x874",
        "415-555-0132x12",
        "(415) 555-0132ext.3",
    ] {
        assert_found(&Kind::Phone, number, PHONE_CONTEXTS);
    }
}

#[test]
fn what_only_looks_like_a_phone_stays_visible() {
    for text in [
        "resolution 1920x1080",
        "build 1.2.3x4",
        "f(0)3 and 123(4)",
        "retry 3x then fail",
        "order 2024-0613x2",
        "(2024) 12 34",
    ] {
        assert_visible(text, &["{}", "note: {}"]);
    }
}

#[test]
fn ipv6_in_every_text_form_is_found() {
    for address in [
        "2001:db8:85a3:0:0:8a2e:370:7334",
        "4237:8d93:9abd:4c53:e5b0:731f:ff9b:c08",
        "2001:DB8::8A2E:370:7334",
        "2001:db8::1",
        "fe80::1",
        "::1",
        "::ffff:192.0.2.128",
        "64:ff9b::192.0.2.33",
        "2001:db8:0:0:1:0:0:1",
    ] {
        assert_found(
            &Kind::IpAddress,
            address,
            &[
                "from {} port 22",
                "[{}]:8080",
                "{\"peer\": \"{}\"}",
                "addr={}",
            ],
        );
    }
}

#[test]
fn image_tags_and_versions_are_not_addresses_but_addresses_after_a_key_are() {
    for text in [
        "image registry.example/api:12.4.24.82",
        "pull ghcr.io/acme/worker:1.20.3.4 done",
        "FROM docker.io/library/node:20.11.1.0",
        "version 10.0.19041.1",
    ] {
        assert_visible(text, &["{}", "log: {}"]);
    }
    assert_found(
        &Kind::IpAddress,
        "10.0.0.1",
        &["ip:{}", "host {}:443", "http://{}/x", "peers=a/b,{}"],
    );
}

#[test]
fn national_numbers_after_a_phone_word_are_found() {
    for (text, number) in [
        ("Phone: 95 331779", "95 331779"),
        ("Can someone call me on 9777 9356?", "9777 9356"),
        ("Mobile: (59) 106-048", "(59) 106-048"),
        ("You can call 51 856 43 00", "51 856 43 00"),
        ("fax 28-15-10-60", "28-15-10-60"),
    ] {
        let hits = found(text);
        assert!(
            hits.iter().any(|(k, v)| *k == Kind::Phone && v == number),
            "{number:?} not found in {text:?}: {hits:?}"
        );
    }
    // Dates, times and amounts after the same words stay.
    for text in [
        "call on 2024-06-13 at 10",
        "call at 2024-06-09 21:46:44",
        "phone batch 12 of 12",
        "called 3 times",
    ] {
        assert_visible(text, &["{}"]);
    }
}

#[test]
fn tokens_of_the_services_agents_call_are_found_without_a_key_before_them() {
    for token in [
        "sk-ant-api03-xVVVBzds36puneuZS5ZVxwl9EriPc6Z1ft_AZgD-fWbk1kQENxyCFXeSSsNAmG7a9uP-B6Mp2UnqqrVmiNPc60sHbb1SOAA",
        "sk-proj-Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFGH",
        "glpat-Xy12abcdefghijklmnopqrst",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
        "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "xapp-1-A0123456789-0123456789012-abcdef0123456789abcdef",
    ] {
        assert_found(
            &Kind::Secret,
            token,
            &["{}", "using {} here", "{\"value\": \"{}\"}"],
        );
    }
    // Slugs and words with the same prefixes stay.
    assert_visible(
        "see https://x.io/sk-learn-tutorial-for-beginners-with-examples-and-more",
        &["{}"],
    );
    assert_visible("task-sk-1234 and hf_small and npm_install", &["{}"]);
}

#[test]
fn national_numbers_in_shapes_only_phones_take_are_found_without_a_phone_word() {
    for number in [
        // A North American number with an extension.
        "617.166.1264x847",
        "650-060-0721x7090",
        "(181)604-8948x5140",
        // An area code in parentheses before two dashed groups.
        "(85) 9334-4656",
        "(22) 154-300",
        "(116)594-4586",
        // A trunk prefix before dashed groups, or before one long group.
        "0643-8801668",
        "06-10446904",
        "040-882-480",
        "0394 7082427",
        // Four pairs joined by dashes.
        "53-41-43-35",
    ] {
        assert_found(
            &Kind::Phone,
            number,
            &[
                "I would like to stop receiving messages to {}",
                "They're not answering at {}.",
                "{}",
            ],
        );
    }
}

#[test]
fn national_numbers_before_a_phone_word_are_found() {
    for (text, number) in [
        ("785 2419-Office", "785 2419"),
        ("53-41-43-35 office", "53-41-43-35"),
        ("6035579730-Fax", "6035579730"),
        ("929 35 079 (mobile)", "929 35 079"),
    ] {
        let hits = found(text);
        assert!(
            hits.iter().any(|(k, v)| *k == Kind::Phone && v == number),
            "{number:?} not found in {text:?}: {hits:?}"
        );
    }
}

#[test]
fn numbers_in_other_shapes_stay_visible_without_a_phone_word() {
    for text in [
        // Amounts with spaces between thousands.
        "a budget of 670 453 362 EUR",
        "total 1 234 567",
        // Dates, times, versions, build numbers, identifiers.
        "released 2024-06-13 at 21:46",
        "build 2024.06.1234",
        "order 2024-0613-2231",
        "invoice 10-2024-000123",
        "ticket 4521-887213",
        "version 617.166.1264",
        "sha 0643-8801668-ab",
        "12-05-24 backup",
        "10.0.0.1 and 192.168.1.254",
        "card 4242 4242 4242 4242",
        "took 0.125 s, 12 34 56 78 samples",
    ] {
        let hits = found(text);
        assert!(
            !hits.iter().any(|(k, _)| *k == Kind::Phone),
            "a phone in {text:?}: {hits:?}"
        );
    }
}
