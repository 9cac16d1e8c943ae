//! Throughput of the masking engine on text.
//!
//! - `mask/sparse/*`: a service log with sparse personal data: timestamps,
//!   levels, request ids (UUIDs), paths, queries, counts and durations, and
//!   in about one line of ten a client IP or an email.
//! - `mask/dense/*`: agent-action text where every line holds values:
//!   emails, phone numbers, cards, IBANs, secrets, names.
//!
//! The texts are made by `tests/support/mask_text.rs`; a test checks that
//! they hold what is said here.
//!
//! Sizes from 1 KB to 100 MB, reported in bytes per second. Run with
//! `cargo bench -p approvals-core --bench mask`; add `-- sparse/1MB` to run
//! one case. Each input is exactly its size (the last line cut short) and is
//! made once, outside the timed region, only if its case runs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use approvals_core::mask::MaskingEngine;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/support/mask_text.rs"]
mod mask_text;

use mask_text::{Lcg, dense_line, sparse_line, text};

const SIZES: [(&str, usize); 5] = [
    ("1KB", 1 << 10),
    ("64KB", 64 << 10),
    ("1MB", 1 << 20),
    ("16MB", 16 << 20),
    ("100MB", 100 << 20),
];

fn bench(c: &mut Criterion, name: &str, line: fn(&mut Lcg, &mut String)) {
    let engine = MaskingEngine::builder().pseudonym_key(b"bench").build();
    let mut group = c.benchmark_group(format!("mask/{name}"));
    for (label, size) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 16 << 20 {
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(10));
        }
        // Made on first use, so that a filtered run does not build 100 MB
        // texts it does not measure.
        let mut input = None;
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            let input: &String = input.get_or_insert_with(|| text(size, line));
            b.iter(|| engine.mask_str(black_box(input)).len());
        });
    }
    group.finish();
}

fn sparse(c: &mut Criterion) {
    bench(c, "sparse", sparse_line);
}

fn dense(c: &mut Criterion) {
    bench(c, "dense", dense_line);
}

criterion_group!(benches, sparse, dense);
criterion_main!(benches);
