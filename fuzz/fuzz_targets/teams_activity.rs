//! libFuzzer entry point; the body is `targets/teams_activity.rs`, which the main
//! workspace's `tests/fuzz_corpora.rs` replays over `corpus/teams_activity/`.
#![no_main]

#[path = "../targets/teams_activity.rs"]
mod body;

// The test identity provider the body uses (as `crate::bot`).
#[path = "../targets/support/bot.rs"]
#[allow(dead_code)]
mod bot;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
