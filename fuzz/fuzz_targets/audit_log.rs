//! libFuzzer entry point; the body is `targets/audit_log.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/audit_log/`.
#![no_main]

#[path = "../targets/audit_log.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
