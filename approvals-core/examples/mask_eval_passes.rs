//! Masks the mask bench's 1 MB text (`sparse` or `dense`, made by
//! `tests/support/mask_text.rs`) a given number of times, for counting
//! instructions, which a loaded machine does not change as it changes
//! time:
//!
//! ```text
//! cargo build -p approvals-core --release --example mask_eval_passes
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/mask_eval_passes sparse 0
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/mask_eval_passes sparse 4
//! ```
//!
//! The difference of the two counts over 4 is what one pass costs.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::expect_used)]

#[path = "../tests/support/mask_text.rs"]
mod mask_text;

use approvals_core::mask::MaskingEngine;

fn main() {
    let mut args = std::env::args().skip(1);
    let line = match args.next().as_deref() {
        Some("sparse") => mask_text::sparse_line,
        Some("dense") => mask_text::dense_line,
        _ => {
            eprintln!("usage: mask_eval_passes sparse|dense PASSES");
            std::process::exit(2);
        }
    };
    let passes: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number of passes");
    let input = mask_text::text(1 << 20, line);
    let engine = MaskingEngine::builder().pseudonym_key(b"bench").build();
    // One pass outside the count: the gazetteer is built on first use.
    let mut total = engine.mask_str(&input).len();
    for _ in 0..passes {
        total += engine.mask_str(std::hint::black_box(&input)).len();
    }
    println!("{total}");
}
