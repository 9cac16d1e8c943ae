//! `Policy::from_toml_str` on any text.
//!
//! Properties checked:
//!
//! - reading never panics, and an error renders (`Display`, `location`);
//! - a policy that loads also passes `validate` (files are checked when
//!   loaded);
//! - evaluating a loaded policy never panics, for several calls (each risk
//!   level, requesters inside and outside its groups, argument values of
//!   every JSON type), and gives the same decision twice.

use approvals_core::policy::{Policy, PolicyInput};
use approvals_core::{Identity, Risk};
use serde_json::json;

/// Runs one input.
pub(crate) fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = match Policy::from_toml_str(text) {
        Ok(policy) => policy,
        Err(error) => {
            let _ = error.to_string();
            let _ = error.location();
            return;
        }
    };
    if let Err(error) = policy.validate() {
        panic!("a policy that loaded does not validate: {error}");
    }

    let mut requesters = vec![
        Identity::new("agent:fuzz"),
        Identity::new("alice@example.com"),
    ];
    let groups: Vec<String> = policy.group_names().map(str::to_owned).collect();
    for group in &groups {
        if let Some(members) = policy.group_members(group) {
            requesters.extend(members.iter().take(1).cloned());
        }
    }
    let mut actions: Vec<String> = vec!["billing.refund".to_owned(), "db.drop_users".to_owned()];
    actions.extend(policy.rules().iter().map(|rule| rule.name().to_owned()));
    let arguments = [
        json!(null),
        json!({"amount": 50, "customer": {"country": "FR"}, "items": [{"sku": "a"}]}),
        json!({"amount": "50", "env": "production", "table": "users"}),
        json!({"amount": 1e300, "dry_run": true, "tags": ["x", 1, null]}),
    ];
    for action in actions.iter().take(4) {
        for risk in Risk::ALL {
            for requester in requesters.iter().take(3) {
                for arguments in &arguments {
                    let input = PolicyInput {
                        action,
                        risk,
                        requester,
                        arguments,
                    };
                    let first = policy.evaluate(&input);
                    let second = policy.evaluate(&input);
                    match (&first, &second) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b, "evaluation is not deterministic"),
                        (Err(a), Err(b)) => {
                            assert_eq!(
                                a.to_string(),
                                b.to_string(),
                                "evaluation is not deterministic"
                            );
                        }
                        _ => panic!("evaluation is not deterministic"),
                    }
                }
            }
        }
    }
}
