//! The masking engine against its labelled evaluation set: the checked-in
//! set is what the generator makes, and the engine meets its targets.

#[path = "support/mask_corpus.rs"]
mod mask_corpus;

use approvals_core::mask::MaskingEngine;

const SET: &str = include_str!("data/mask_eval.jsonl");

#[test]
fn the_checked_in_set_is_the_generators_output() {
    let generated = mask_corpus::to_jsonl(&mask_corpus::generate(
        mask_corpus::SEED,
        mask_corpus::RECORDS,
    ));
    assert!(
        generated == SET,
        "tests/data/mask_eval.jsonl is stale: run `cargo run -p approvals-core --example mask_eval -- generate`"
    );
    let records = mask_corpus::from_jsonl(SET);
    assert!(records.len() >= 2000);
    for kind in approvals_core::mask::KINDS {
        let values = records
            .iter()
            .flat_map(|r| &r.spans)
            .filter(|s| s.kind == kind)
            .count();
        assert!(values >= 100, "{kind}: only {values} labelled values");
    }
    for shape in ["tool_call", "sql", "shell", "http", "log", "email", "chat"] {
        assert!(records.iter().any(|r| r.shape == shape), "{shape}");
    }
    // Labels point at what they say.
    for record in &records {
        for span in record.spans.iter().chain(&record.lookalikes) {
            assert!(
                record
                    .text
                    .get(span.start..span.end)
                    .is_some_and(|v| !v.is_empty())
            );
        }
    }
}

#[test]
fn the_engine_meets_its_targets_on_the_evaluation_set() {
    let records = mask_corpus::from_jsonl(SET);
    let score = mask_corpus::score(&MaskingEngine::new(), &records);
    println!("{}", score.table());
    let structured = [
        "email",
        "phone",
        "credit_card",
        "us_ssn",
        "iban",
        "ip_address",
        "date_of_birth",
        "secret",
    ];
    for kind in structured {
        let s = &score.kinds[kind];
        assert!(
            s.recall() >= 0.99,
            "{kind} recall {:.3}: {:#?}",
            s.recall(),
            score.misses
        );
        assert!(
            s.precision() >= 0.97,
            "{kind} precision {:.3}: {:#?}",
            s.precision(),
            score.false_positives
        );
    }
    // Names and addresses are heuristics: floors that catch regressions.
    for kind in ["name", "address"] {
        let s = &score.kinds[kind];
        assert!(
            s.recall() >= 0.9,
            "{kind} recall {:.3}: {:#?}",
            s.recall(),
            score.misses
        );
        assert!(
            s.precision() >= 0.9,
            "{kind} precision {:.3}",
            s.precision()
        );
    }
    assert!(
        score.lookalike_rate() <= 0.01,
        "look-alikes masked {:.3}: {:#?}",
        score.lookalike_rate(),
        score.false_positives
    );
}
