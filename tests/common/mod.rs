//! Shared set-up for the facade's integration tests.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use approvals::policy::{Policy, RequirementBuilder, Rule};

/// Reviewers used across the tests.
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const CAROL: &str = "carol@example.com";
pub const MALLORY: &str = "mallory@example.com";
pub const AGENT: &str = "agent:ops-bot";

/// Every action needs `quorum` approvals from `approvers` within `timeout`.
pub fn requiring(approvers: &[&str], quorum: u32, timeout: Duration) -> Policy {
    Policy::new().rule(
        Rule::new("gated").action("*").require(
            RequirementBuilder::new()
                .approvers(approvers.iter().copied())
                .quorum(quorum)
                .timeout(timeout),
        ),
    )
}
