//! libFuzzer entry point; the body is `targets/jwt.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/jwt/`.
#![no_main]

#[path = "../targets/jwt.rs"]
mod body;

// The test identity provider the body uses (as `crate::bot`).
#[path = "../targets/support/bot.rs"]
#[allow(dead_code)]
mod bot;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
