//! Masking on data this project did not generate: the independent corpus
//! made by Presidio's data generator with Faker in eight locales
//! (`tests/data/independent`). The floors are the figures last measured
//! (names with the gazetteer, phones in the shapes only phones take), so
//! that no change quietly loses ground; the table
//! is printed by `cargo run -p approvals-core --release --example
//! mask_eval_independent`.

#![allow(clippy::expect_used)]

#[path = "support/independent.rs"]
mod independent;

use approvals_core::mask::MaskingEngine;

#[test]
fn the_independent_corpus_is_masked_at_least_as_well_as_when_it_was_added() {
    let records = independent::corpus(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/independent/corpus.jsonl"
    ));
    assert_eq!(records.len(), 8_000);
    let found = independent::detect(&MaskingEngine::new(), &records);
    let scores = independent::score(&records, &found, None);
    let table = scores.table();
    for (kind, recall, precision) in [
        ("email", 100.0, 99.0),
        ("iban", 100.0, 99.0),
        ("ip_address", 100.0, 99.0),
        ("credit_card", 93.0, 99.0),
        ("phone", 87.0, 99.0),
        ("us_ssn", 53.0, 99.0),
        ("address", 16.0, 90.0),
        ("name", 66.5, 90.0),
    ] {
        assert!(
            scores.recall(kind) >= recall,
            "{kind}: recall {:.1} % under {recall} %\n{table}",
            scores.recall(kind)
        );
        assert!(
            scores.precision(kind) >= precision,
            "{kind}: precision {:.1} % under {precision} %\n{table}",
            scores.precision(kind)
        );
    }
    let per_thousand = 1000.0 * scores.outside as f64 / scores.records as f64;
    assert!(
        per_thousand <= 1.0,
        "{per_thousand:.2} detections per 1,000 records outside every labelled value\n{table}"
    );
}
