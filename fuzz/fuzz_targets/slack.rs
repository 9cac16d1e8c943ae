//! libFuzzer entry point; the body is `targets/slack.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/slack/`.
#![no_main]

#[path = "../targets/slack.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
