//! libFuzzer entry point; the body is `targets/policy_toml.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/policy_toml/`.
#![no_main]

#[path = "../targets/policy_toml.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
