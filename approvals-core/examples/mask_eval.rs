//! Scores the masking engine on the labelled evaluation set and prints the
//! per-kind precision and recall.
//!
//! ```text
//! cargo run -p approvals-core --example mask_eval            # the table
//! cargo run -p approvals-core --example mask_eval -- misses  # and every miss
//! cargo run -p approvals-core --example mask_eval -- generate approvals-core/tests/data/mask_eval.jsonl
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::expect_used)]

#[path = "../tests/support/mask_corpus.rs"]
mod mask_corpus;

use approvals_core::mask::MaskingEngine;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("generate") {
        let path = args
            .get(1)
            .map_or("approvals-core/tests/data/mask_eval.jsonl", String::as_str);
        let records = mask_corpus::generate(mask_corpus::SEED, mask_corpus::RECORDS);
        std::fs::write(path, mask_corpus::to_jsonl(&records)).expect("write the evaluation set");
        println!("wrote {} records to {path}", records.len());
        return;
    }
    let records = mask_corpus::from_jsonl(include_str!("../tests/data/mask_eval.jsonl"));
    let engine = MaskingEngine::new();
    let score = mask_corpus::score(&engine, &records);
    println!("{} records\n", records.len());
    println!("{}", score.table());
    if args.first().map(String::as_str) == Some("show") {
        for id in args
            .iter()
            .skip(1)
            .filter_map(|id| id.parse::<usize>().ok())
        {
            let record = &records[id];
            println!("{id}: {}", record.text);
            for d in engine.detect(&record.text) {
                println!("    {} {:?}", d.kind, &record.text[d.range]);
            }
        }
    }
    if args.first().map(String::as_str) == Some("misses") {
        println!("misses:");
        for miss in &score.misses {
            println!("  {miss}");
        }
        println!("false positives:");
        for fp in &score.false_positives {
            println!("  {fp}");
        }
    }
}
