//! Throughput of the masking engine on text.
//!
//! - `mask/sparse/*`: log-like text with sparse personal data (about one
//!   value in twenty lines): timestamps, levels, request ids (UUIDs), paths,
//!   durations, versions, and now and then a client IP or an email.
//! - `mask/dense/*`: agent-action text where every line holds values:
//!   emails, phone numbers, cards, IBANs, secrets, names.
//!
//! Sizes from 1 KB to 100 MB, reported in bytes per second. Run with
//! `cargo bench -p approvals-core --bench mask`; add `-- sparse/1MB` to run
//! one case. The 100 MB cases allocate the input once per size (outside the
//! timed region).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use approvals_core::mask::MaskingEngine;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A small deterministic generator, so that every run masks the same text.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sparse_line(rng: &mut Lcg, out: &mut String) {
    use std::fmt::Write as _;
    let level = ["INFO", "DEBUG", "WARN", "INFO"][rng.below(4) as usize];
    let _ = write!(
        out,
        "2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z {level} api::handler request_id={:08x}-{:04x}-4{:03x}-a{:03x}-{:012x} method=GET path=/v1/orders/{} status=200 duration_ms={} ",
        rng.below(28) + 1,
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1000),
        rng.next(),
        rng.below(0xffff),
        rng.below(0xfff),
        rng.below(0xfff),
        rng.next() << 16 | rng.next(),
        rng.below(100_000),
        rng.below(900) + 10,
    );
    match rng.below(20) {
        0 => {
            let _ = write!(out, "login from 203.0.113.{}", rng.below(250) + 1);
        }
        1 => {
            let _ = write!(out, "user=jane.doe{}@example.com", rng.below(100));
        }
        2 => out.push_str("service version 1.19.29.233 ready"),
        _ => out.push_str("user_agent=\"Mozilla/5.0 (X11; Linux x86_64)\" cache=hit"),
    }
    out.push('\n');
}

fn dense_line(rng: &mut Lcg, out: &mut String) {
    use std::fmt::Write as _;
    let _ = match rng.below(6) {
        0 => write!(
            out,
            "{{\"tool\":\"crm.update\",\"arguments\":{{\"email\":\"jane{}@example.com\",\"phone\":\"+1 415 555 {:04}\",\"note\":\"Dear Mr. Smith, call me\"}}}}",
            rng.below(1000),
            rng.below(10_000)
        ),
        1 => write!(
            out,
            "UPDATE customers SET card = '4242 4242 4242 4242', iban = 'DE89 3704 0044 0532 0130 00' WHERE id = {};",
            rng.below(100_000)
        ),
        2 => write!(
            out,
            "$ curl -H \"Authorization: Bearer ghp_abcdefghijklmnopqrstuvwxyz01234567{:02}\" https://api.example.com/users/{}",
            rng.below(100),
            rng.below(1000)
        ),
        3 => write!(
            out,
            "user: my SSN is 123-45-{:04} and I live at 221B Baker Street, London NW1 6XE",
            rng.below(9000) + 1000
        ),
        4 => write!(
            out,
            "export DB_PASSWORD=hunter{} AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE; psql postgres://app:s3cret@db:5432/x",
            rng.below(100)
        ),
        _ => write!(
            out,
            "login from 198.51.100.{} for john.smith@example.org, born on 1985-03-14, phone (415) 555-{:04}",
            rng.below(250) + 1,
            rng.below(10_000)
        ),
    };
    out.push('\n');
}

fn text(size: usize, line: fn(&mut Lcg, &mut String)) -> String {
    let mut rng = Lcg(42);
    let mut out = String::with_capacity(size + 512);
    while out.len() < size {
        line(&mut rng, &mut out);
    }
    out
}

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
        let input = text(size, line);
        group.throughput(Throughput::Bytes(input.len() as u64));
        if size >= 16 << 20 {
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(10));
        }
        group.bench_with_input(BenchmarkId::from_parameter(label), &input, |b, input| {
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
