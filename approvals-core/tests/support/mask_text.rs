//! The texts of the masking benchmark, shared with the test that checks
//! they hold what the benchmark says they hold.
//!
//! - sparse: a service log. Each line has a timestamp, a level, a target and
//!   a message (an HTTP request, a database query, a job, a cache miss and a
//!   retry) with request ids (UUIDs), paths, counts and durations. About one
//!   line in ten holds a value to mask (a client IP after `login from`, or an
//!   email), one in twenty a version look-alike (`version 1.19.29.233`).
//! - dense: agent-action text where every line holds values: emails, phone
//!   numbers, cards, IBANs, secrets, names, addresses, dates of birth.

#![allow(dead_code, unreachable_pub)]

/// A small deterministic generator, so that every run masks the same text.
pub struct Lcg(u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn sparse_line(rng: &mut Lcg, out: &mut String) {
    use std::fmt::Write as _;
    let level = ["INFO", "DEBUG", "WARN", "INFO"][rng.below(4) as usize];
    let _ = write!(
        out,
        "2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z {level} ",
        rng.below(28) + 1,
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1000),
    );
    let request_id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.next(),
        rng.below(0xffff),
        rng.below(0xfff),
        rng.below(0xfff),
        rng.next() << 16 | rng.next(),
    );
    // What most lines of a service log say: requests, queries, jobs, cache
    // and retries, with ids, paths, counts and durations.
    let _ = match rng.below(5) {
        0 | 1 => write!(
            out,
            "api::handler request_id={request_id} method={} path=/v1/orders/{} status={} duration_ms={} ",
            ["GET", "POST", "GET", "PUT"][rng.below(4) as usize],
            rng.below(100_000),
            [200, 200, 201, 404, 500][rng.below(5) as usize],
            rng.below(900) + 10,
        ),
        2 => write!(
            out,
            "db::pool request_id={request_id} query=\"SELECT id, status, total FROM orders WHERE customer_id = $1 LIMIT {}\" rows={} elapsed_ms={} ",
            rng.below(100) + 1,
            rng.below(50),
            rng.below(40) + 1,
        ),
        3 => write!(
            out,
            "worker::jobs job=send_invoice queue=default id={} attempt={} of 5 completed in {}.{:02}s ",
            rng.below(1_000_000),
            rng.below(5) + 1,
            rng.below(10),
            rng.below(100),
        ),
        _ => write!(
            out,
            "cache::redis request_id={request_id} miss for orders:{} (ttl=300s), retrying upstream payments-svc after {}ms: connection reset by peer ",
            rng.below(100_000),
            rng.below(500) + 50,
        ),
    };
    // Now and then a value to mask, or a look-alike to leave visible.
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

pub fn dense_line(rng: &mut Lcg, out: &mut String) {
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

/// Exactly `size` bytes of text made of `line`s (the last one cut short).
pub fn text(size: usize, line: fn(&mut Lcg, &mut String)) -> String {
    let mut rng = Lcg(42);
    let mut out = String::with_capacity(size + 512);
    while out.len() < size {
        line(&mut rng, &mut out);
    }
    out.truncate(size);
    out
}
