//! Replays the fuzzers' corpora: every file under `fuzz/corpus/<target>/`
//! goes through the same function the fuzz target `<target>` runs
//! (`fuzz/targets/<target>.rs`), so that an ordinary `cargo test` checks
//! every input the fuzzers kept, and every crash they once found, with the
//! same assertions. See `fuzz/README.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

// The test identity provider of the Teams and JWT targets (`crate::bot`).
#[cfg(feature = "teams")]
#[path = "../fuzz/targets/support/bot.rs"]
mod bot;

#[path = "../fuzz/targets/audit_log.rs"]
mod audit_log;
#[path = "../fuzz/targets/canonical_json.rs"]
mod canonical_json;
#[cfg(feature = "http")]
#[path = "../fuzz/targets/http_body.rs"]
mod http_body;
#[cfg(feature = "teams")]
#[path = "../fuzz/targets/jwt.rs"]
mod jwt;
#[path = "../fuzz/targets/mask.rs"]
mod mask;
#[path = "../fuzz/targets/policy_toml.rs"]
mod policy_toml;
#[cfg(feature = "slack")]
#[path = "../fuzz/targets/slack.rs"]
mod slack;
#[cfg(feature = "teams")]
#[path = "../fuzz/targets/teams_activity.rs"]
mod teams_activity;

/// Runs `run` on every file of the target's corpus, naming the file that
/// fails.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect(),
        Err(error) => panic!("cannot read {}: {error}", dir.display()),
    };
    files.sort();
    assert!(!files.is_empty(), "the corpus of {target} is empty");
    let mut failed = Vec::new();
    for file in &files {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(error) => panic!("cannot read {}: {error}", file.display()),
        };
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs of {target} fail (run one with `cargo fuzz run {target} <file>`): {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn audit_log_corpus() {
    replay("audit_log", audit_log::run);
}

#[test]
fn canonical_json_corpus() {
    replay("canonical_json", canonical_json::run);
}

#[cfg(feature = "http")]
#[test]
fn http_body_corpus() {
    replay("http_body", http_body::run);
}

#[cfg(feature = "teams")]
#[test]
fn jwt_corpus() {
    replay("jwt", jwt::run);
}

#[test]
fn mask_corpus() {
    replay("mask", mask::run);
}

#[test]
fn policy_toml_corpus() {
    replay("policy_toml", policy_toml::run);
}

#[cfg(feature = "slack")]
#[test]
fn slack_corpus() {
    replay("slack", slack::run);
}

#[cfg(feature = "teams")]
#[test]
fn teams_activity_corpus() {
    replay("teams_activity", teams_activity::run);
}
