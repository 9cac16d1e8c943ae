//! Scores masking on the independent corpus (`tests/data/independent`,
//! made by Presidio's data generator with Faker in eight locales, not by
//! this project): per kind, strict and overlap precision, recall and F1,
//! the share of each value's characters masked, the share of values masked
//! whole, and detections outside every labelled value.
//!
//! ```text
//! cargo run -p approvals-core --release --example mask_eval_independent
//! cargo run -p approvals-core --release --example mask_eval_independent -- --detections presidio.jsonl
//! cargo run -p approvals-core --release --example mask_eval_independent -- --misses phone
//! ```
//!
//! `--misses KIND` lists the values of that kind no detection overlapped,
//! then the detections of that kind that overlap no value of it.
//!
//! With `--detections FILE` it scores another tool's detections instead of
//! the engine's: one JSON line per corpus line, `{"spans": [{"kind",
//! "start", "end"}]}` with byte offsets and this crate's kind names
//! (`presidio_detect.py` beside the corpus writes Presidio's).

#![allow(clippy::print_stdout, clippy::expect_used)]

#[path = "../tests/support/independent.rs"]
mod independent;

use approvals_core::mask::MaskingEngine;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let path = option("--corpus").unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/independent/corpus.jsonl"
        )
        .to_owned()
    });
    let records = independent::corpus(&path);
    let found = match option("--detections") {
        Some(detections) => std::fs::read_to_string(detections)
            .expect("read the detections")
            .lines()
            .map(|line| {
                serde_json::from_str::<independent::Found>(line)
                    .expect("a detections line")
                    .spans
            })
            .collect(),
        None => independent::detect(&MaskingEngine::new(), &records),
    };
    let misses_of = option("--misses");
    let scores = independent::score(&records, &found, misses_of.as_deref());
    println!("{} records from {path}\n", records.len());
    println!("{}", scores.table());
    for miss in &scores.misses {
        println!("miss {miss}");
    }
    for wrong in &scores.wrong {
        println!("wrong {wrong}");
    }
}
