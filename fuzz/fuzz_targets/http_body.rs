//! libFuzzer entry point; the body is `targets/http_body.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/http_body/`.
#![no_main]

#[path = "../targets/http_body.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
