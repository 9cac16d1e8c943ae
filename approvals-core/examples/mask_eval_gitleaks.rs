//! How many of gitleaks' secrets the masking engine masks, rule by rule.
//!
//! `tests/data/gitleaks/samples.jsonl` holds texts drawn at random from
//! each rule's regular expression in gitleaks' default configuration (MIT
//! licence), with where the secret (the rule's capture group) is; see
//! `generate.py` beside it. A secret counts as masked when every one of its
//! bytes is under a detection of any kind.
//!
//! ```text
//! cargo run -p approvals-core --release --example mask_eval_gitleaks            # the summaries
//! cargo run -p approvals-core --release --example mask_eval_gitleaks -- --all   # every rule
//! ```

#![allow(clippy::print_stdout, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/support/gitleaks.rs"]
mod gitleaks;

use approvals_core::mask::MaskingEngine;
use gitleaks::Sample;

fn main() {
    let all = std::env::args().any(|arg| arg == "--all");
    let (header, samples) = gitleaks::samples();
    let engine = MaskingEngine::new();
    println!(
        "gitleaks {} ({} rules skipped: Go-only syntax or nothing drawn)\n",
        &header.commit[..12],
        header.skipped.len()
    );
    for (context, title) in [
        (false, "as drawn from each rule's expression"),
        (
            true,
            "in configuration and code, after a key named for the service",
        ),
    ] {
        let chosen: Vec<&Sample> = samples.iter().filter(|s| s.context == context).collect();
        report(&engine, &chosen, title, all);
    }
}

/// Scores `samples` and prints the summary and the worst rules.
fn report(engine: &MaskingEngine, samples: &[&Sample], title: &str, all: bool) {
    let rules = gitleaks::score(engine, samples.iter().copied());
    let total: usize = rules.values().map(|r| r.0).sum();
    let whole: usize = rules.values().map(|r| r.1).sum();
    let touched: usize = rules.values().map(|r| r.2).sum();
    let full_rules = rules.values().filter(|r| r.1 == r.0).count();
    let none_rules = rules.values().filter(|r| r.2 == 0).count();
    println!("## {title}: {} rules, {total} secrets", rules.len());
    println!(
        "masked whole: {whole} ({:.1} %); touched at all: {touched} ({:.1} %); rules with every secret masked whole: {full_rules}; with none touched: {none_rules}\n",
        100.0 * whole as f64 / total as f64,
        100.0 * touched as f64 / total as f64
    );
    let mut ordered: Vec<_> = rules.iter().collect();
    ordered.sort_by(|a, b| {
        let share = |r: &(usize, usize, usize)| r.1 as f64 / r.0 as f64;
        share(a.1).total_cmp(&share(b.1)).then(a.0.cmp(b.0))
    });
    if all {
        println!("| rule | samples | masked whole | touched |");
        println!("| --- | ---: | ---: | ---: |");
        for (rule, (n, whole, touched)) in ordered {
            println!("| {rule} | {n} | {whole} | {touched} |");
        }
        println!();
    }
}
