//! libFuzzer entry point; the body is `targets/mask.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/mask/`.
#![no_main]

#[path = "../targets/mask.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
