//! libFuzzer entry point; the body is `targets/canonical_json.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/canonical_json/`.
#![no_main]

#[path = "../targets/canonical_json.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
