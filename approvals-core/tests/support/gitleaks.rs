//! The gitleaks samples (`tests/data/gitleaks/samples.jsonl`), read and
//! scored: shared by the `mask_eval_gitleaks` example and the
//! `mask_gitleaks` test.

#![allow(dead_code, unreachable_pub, clippy::expect_used)]

use std::collections::BTreeMap;

use approvals_core::mask::MaskingEngine;
use serde::Deserialize;

/// One secret in its text.
#[derive(Deserialize)]
pub struct Sample {
    /// The gitleaks rule it was drawn from.
    pub rule: String,
    /// Placed after a key named for the service, rather than as drawn.
    #[serde(default)]
    pub context: bool,
    /// The text.
    pub text: String,
    /// Where the secret starts.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
}

/// The first line: where the rules came from.
#[derive(Deserialize)]
pub struct Header {
    /// The gitleaks commit.
    pub commit: String,
    /// Rules without samples.
    pub skipped: Vec<String>,
}

/// The header and the samples.
pub fn samples() -> (Header, Vec<Sample>) {
    let data = include_str!("../data/gitleaks/samples.jsonl");
    let mut lines = data.lines();
    let header = serde_json::from_str(lines.next().expect("a header")).expect("the header line");
    let samples = lines
        .map(|line| serde_json::from_str(line).expect("a sample line"))
        .collect();
    (header, samples)
}

/// Per rule: samples, secrets masked whole, secrets touched at all.
pub fn score<'a>(
    engine: &MaskingEngine,
    samples: impl IntoIterator<Item = &'a Sample>,
) -> BTreeMap<&'a str, (usize, usize, usize)> {
    let mut rules: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for sample in samples {
        let found = engine.detect(&sample.text);
        let covered = |at: usize| {
            found
                .iter()
                .any(|d| d.range.start <= at && at < d.range.end)
        };
        let entry = rules.entry(&sample.rule).or_default();
        entry.0 += 1;
        entry.1 += usize::from((sample.start..sample.end).all(covered));
        entry.2 += usize::from((sample.start..sample.end).any(covered));
    }
    rules
}
