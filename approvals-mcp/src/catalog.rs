//! What the proxy knows about the server's tools: learned from the server's
//! own `tools/list` answers, never from the client.

use std::collections::HashMap;

use approvals_core::Risk;
use approvals_core::policy::{Policy, Rule};
use rmcp::model::Tool;

/// The name of the rule the proxy adds after the policy's own rules for the
/// tools that the server marks `readOnlyHint: true`; it is recorded in the
/// audit trail when it decides.
pub const READ_ONLY_RULE: &str = "mcp read-only tools (readOnlyHint)";

/// What the server's annotations say about one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ToolHints {
    /// `readOnlyHint: true`: the tool changes nothing.
    pub(crate) read_only: bool,
    /// `destructiveHint`, or `true` when absent (the protocol's default).
    pub(crate) destructive: bool,
}

impl ToolHints {
    fn of(tool: &Tool) -> Self {
        let annotations = tool.annotations.as_ref();
        let read_only = annotations.and_then(|a| a.read_only_hint) == Some(true);
        let destructive = !read_only && annotations.and_then(|a| a.destructive_hint) != Some(false);
        Self {
            read_only,
            destructive,
        }
    }

    /// The risk the call declares: low for read-only tools, high for
    /// destructive (or unannotated) ones, medium otherwise.
    pub(crate) fn risk(self) -> Risk {
        if self.read_only {
            Risk::Low
        } else if self.destructive {
            Risk::High
        } else {
            Risk::Medium
        }
    }
}

/// The tools the server listed, by name.
#[derive(Debug, Default)]
pub(crate) struct ToolCatalog {
    tools: HashMap<String, ToolHints>,
}

impl ToolCatalog {
    /// Adds (or updates) the tools of one `tools/list` page.
    pub(crate) fn learn(&mut self, tools: &[Tool]) {
        for tool in tools {
            self.tools
                .insert(tool.name.to_string(), ToolHints::of(tool));
        }
    }

    /// The hints of a tool the server listed, or `None` for a tool it never
    /// listed.
    pub(crate) fn get(&self, name: &str) -> Option<ToolHints> {
        self.tools.get(name).copied()
    }

    /// `base`, followed by one rule allowing the read-only tools, if any.
    /// The policy's own rules come first, so they still decide for these
    /// tools when they match; the default requirement still applies to
    /// every other tool.
    pub(crate) fn layered_policy(&self, base: &Policy, server: &str) -> Policy {
        let mut read_only: Vec<&str> = self
            .tools
            .iter()
            .filter(|(_, hints)| hints.read_only)
            .map(|(name, _)| name.as_str())
            .collect();
        if read_only.is_empty() {
            return base.clone();
        }
        read_only.sort_unstable();
        let mut rule = Rule::new(READ_ONLY_RULE);
        for tool in read_only {
            rule = rule.action(&escape_glob(&action_name(server, tool)));
        }
        base.clone().rule(rule.allow())
    }
}

/// The action name of a tool call: `mcp.<server>.<tool>`.
pub(crate) fn action_name(server: &str, tool: &str) -> String {
    format!("mcp.{server}.{tool}")
}

/// A server name as it appears in action names: letters, digits, `-` and
/// `_` are kept; anything else (dots included, which separate the parts of
/// the action name) becomes `_`.
pub fn action_segment(name: &str) -> String {
    let segment: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if segment.is_empty() {
        "server".to_owned()
    } else {
        segment
    }
}

/// Escapes the characters a policy glob treats specially, so that the
/// pattern matches the name exactly.
fn escape_glob(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '\\' | '[' | ']' | '{' | '}') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use approvals_core::Identity;
    use approvals_core::policy::{PolicyInput, RequirementBuilder, Verdict};
    use rmcp::model::ToolAnnotations;
    use std::sync::Arc;

    fn tool(name: &'static str, annotations: Option<ToolAnnotations>) -> Tool {
        let mut tool = Tool::new(name, "a tool", Arc::new(serde_json::Map::new()));
        tool.annotations = annotations;
        tool
    }

    fn verdict(policy: &Policy, action: &str) -> String {
        let requester = Identity::new("agent:test");
        let arguments = serde_json::json!({});
        policy
            .evaluate(&PolicyInput {
                action,
                risk: Risk::Low,
                requester: &requester,
                arguments: &arguments,
            })
            .map(|decision| decision.verdict.as_str().to_owned())
            .unwrap_or_else(|error| format!("error: {error}"))
    }

    #[test]
    fn hints_follow_the_protocol_defaults() {
        let read_only = ToolHints::of(&tool("a", Some(ToolAnnotations::new().read_only(true))));
        assert!(read_only.read_only);
        assert_eq!(read_only.risk(), Risk::Low);
        let unannotated = ToolHints::of(&tool("b", None));
        assert!(!unannotated.read_only && unannotated.destructive);
        assert_eq!(unannotated.risk(), Risk::High);
        let additive = ToolHints::of(&tool(
            "c",
            Some(ToolAnnotations::new().read_only(false).destructive(false)),
        ));
        assert_eq!(additive.risk(), Risk::Medium);
    }

    #[test]
    fn read_only_tools_are_allowed_after_the_policys_own_rules() {
        let mut catalog = ToolCatalog::default();
        catalog.learn(&[
            tool("get_balance", Some(ToolAnnotations::new().read_only(true))),
            tool("odd*name", Some(ToolAnnotations::new().read_only(true))),
            tool("refund", None),
        ]);
        let base = Policy::new()
            .rule(
                Rule::new("no secrets")
                    .action("mcp.bank.odd\\*name")
                    .refuse("not this one"),
            )
            .default_requirement(RequirementBuilder::new().approvers(["ops@example.com"]));
        let policy = catalog.layered_policy(&base, "bank");
        policy.validate().expect("the layered policy is valid");
        assert_eq!(verdict(&policy, "mcp.bank.get_balance"), "allow");
        assert_eq!(verdict(&policy, "mcp.bank.odd*name"), "refuse");
        assert_eq!(verdict(&policy, "mcp.bank.oddXname"), "require_approval");
        assert_eq!(verdict(&policy, "mcp.bank.refund"), "require_approval");
        assert_eq!(
            verdict(&policy, "mcp.other.get_balance"),
            "require_approval"
        );
        assert!(matches!(
            policy
                .evaluate(&PolicyInput {
                    action: "mcp.bank.get_balance",
                    risk: Risk::Low,
                    requester: &Identity::new("agent:test"),
                    arguments: &serde_json::json!({}),
                })
                .map(|d| d.verdict),
            Ok(Verdict::Allow)
        ));
    }

    #[test]
    fn server_names_become_one_segment() {
        assert_eq!(
            action_segment("example-servers/everything"),
            "example-servers_everything"
        );
        assert_eq!(action_segment("bank.v2"), "bank_v2");
        assert_eq!(action_segment("  "), "server");
    }
}
