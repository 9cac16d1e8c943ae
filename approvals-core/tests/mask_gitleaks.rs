//! Secrets of every kind gitleaks knows (its default rules, drawn at
//! random; `tests/data/gitleaks`): kept at or above the share masked when
//! the samples were added. `cargo run -p approvals-core --release --example
//! mask_eval_gitleaks -- --all` prints each rule.

#![allow(clippy::cast_precision_loss)]

#[path = "support/gitleaks.rs"]
mod gitleaks;

use approvals_core::mask::MaskingEngine;

#[test]
fn gitleaks_secrets_are_masked_at_least_as_often_as_when_the_samples_were_added() {
    let (_, samples) = gitleaks::samples();
    let engine = MaskingEngine::new();
    for (context, floor) in [(true, 97.5), (false, 13.5)] {
        let rules = gitleaks::score(&engine, samples.iter().filter(|s| s.context == context));
        let total: usize = rules.values().map(|r| r.0).sum();
        let whole: usize = rules.values().map(|r| r.1).sum();
        let share = 100.0 * whole as f64 / total as f64;
        assert!(
            share >= floor,
            "in context: {context}: {share:.1} % of {total} secrets masked whole, under {floor} %"
        );
    }
}
