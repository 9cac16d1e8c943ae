//! Default action names identify the function: two tools whose gated
//! methods share a name (`call`) in one module are two actions, so that a
//! policy rule for one never lets the other run.

#![allow(clippy::unwrap_used)]

use std::future::Future;

use approvals::audit::{AuditEvent, MemoryAudit};
use approvals::policy::{Policy, Rule};
use approvals::{Error, Gate};

mod traits {
    use approvals::Error;

    /// A trait defined in another module than the types that implement it.
    pub(crate) trait Remote {
        async fn call(&self) -> Result<&'static str, Error>;
    }
}

mod tools {
    use approvals::channel::async_trait;
    use approvals::{Error, requires_approval};

    pub(crate) struct Search;
    pub(crate) struct DeleteAll;
    pub(crate) struct Holder<T>(pub(crate) T);

    pub(crate) trait Tool {
        async fn call(&self, input: String) -> Result<&'static str, Error>;
    }

    pub(crate) trait Other {
        async fn call(&self, input: String) -> Result<&'static str, Error>;
    }

    #[async_trait]
    pub(crate) trait Plugin {
        async fn invoke(&self) -> Result<&'static str, Error>;
    }

    impl Tool for Search {
        #[requires_approval]
        async fn call(&self, input: String) -> Result<&'static str, Error> {
            let _ = input;
            Ok("searched")
        }
    }

    impl Tool for DeleteAll {
        #[requires_approval]
        async fn call(&self, input: String) -> Result<&'static str, Error> {
            let _ = input;
            Ok("deleted everything")
        }
    }

    impl Other for Search {
        #[requires_approval]
        async fn call(&self, input: String) -> Result<&'static str, Error> {
            let _ = input;
            Ok("searched otherwise")
        }
    }

    impl super::traits::Remote for Search {
        #[requires_approval]
        async fn call(&self) -> Result<&'static str, Error> {
            Ok("searched remotely")
        }
    }

    #[async_trait]
    impl Plugin for Search {
        #[requires_approval]
        async fn invoke(&self) -> Result<&'static str, Error> {
            Ok("searched as a plugin")
        }
    }

    #[async_trait]
    impl Plugin for DeleteAll {
        #[requires_approval]
        async fn invoke(&self) -> Result<&'static str, Error> {
            Ok("deleted everything as a plugin")
        }
    }

    impl Search {
        #[requires_approval]
        pub(crate) async fn run(&self) -> Result<&'static str, Error> {
            Ok("ran a search")
        }
    }

    impl DeleteAll {
        #[requires_approval]
        pub(crate) async fn run(&self) -> Result<&'static str, Error> {
            Ok("ran a deletion")
        }
    }

    impl<T: Send + Sync> Holder<T> {
        #[requires_approval]
        pub(crate) async fn get(&self) -> Result<&'static str, Error> {
            Ok("held")
        }
    }

    #[requires_approval]
    pub(crate) async fn call(input: String) -> Result<&'static str, Error> {
        let _ = input;
        Ok("called freely")
    }
}

use tools::{DeleteAll, Holder, Other, Plugin, Search, Tool};
use traits::Remote;

fn gate_with(policy: Policy, audit: &MemoryAudit) -> Gate {
    Gate::builder()
        .policy(policy)
        .audit(audit.clone())
        .default_requester("agent:tools")
        .build()
}

/// The action name a gated call asks the gate for.
async fn action_of<T>(call: impl Future<Output = Result<T, Error>>) -> String {
    let audit = MemoryAudit::new();
    let allowing = gate_with(Policy::new().rule(Rule::new("all").allow()), &audit);
    approvals::scope(allowing, call).await.unwrap();
    audit
        .records()
        .iter()
        .find_map(|record| match &record.event {
            AuditEvent::Requested { action, .. } => Some(action.to_string()),
            _ => None,
        })
        .unwrap()
}

/// A gate that allows exactly `action` and nothing else (everything else
/// needs approval from nobody, so it fails closed).
fn allowing_only(action: &str) -> Gate {
    gate_with(
        Policy::new().rule(Rule::new("only").action(action).allow()),
        &MemoryAudit::new(),
    )
}

#[tokio::test]
async fn two_tools_with_a_gated_call_in_one_module_are_two_actions() {
    // The rule that allows the search by its default name does not let the
    // deletion run unreviewed.
    let search = action_of(Tool::call(&Search, "q".into())).await;
    let gate = allowing_only(&search);
    let searched = approvals::scope(gate.clone(), Tool::call(&Search, "q".into())).await;
    assert_eq!(searched.unwrap(), "searched");
    let deleted = approvals::scope(gate, Tool::call(&DeleteAll, "t".into())).await;
    assert!(matches!(deleted, Err(Error::Policy(_))), "{deleted:?}");

    let delete = action_of(Tool::call(&DeleteAll, "t".into())).await;
    assert_ne!(search, delete);
}

#[tokio::test]
async fn methods_of_one_name_are_distinct_actions_in_every_shape() {
    // Inherent methods of two types.
    let search = action_of(Search.run()).await;
    let gate = allowing_only(&search);
    assert_eq!(
        approvals::scope(gate.clone(), Search.run()).await.unwrap(),
        "ran a search"
    );
    assert!(approvals::scope(gate, DeleteAll.run()).await.is_err());

    // `#[async_trait]` methods of two types.
    let search = action_of(Search.invoke()).await;
    let gate = allowing_only(&search);
    assert!(
        approvals::scope(gate.clone(), Search.invoke())
            .await
            .is_ok()
    );
    assert!(approvals::scope(gate, DeleteAll.invoke()).await.is_err());

    // One type, two traits with a method of the same name, and a free
    // function of that name in the same module.
    let tool = action_of(Tool::call(&Search, "q".into())).await;
    let gate = allowing_only(&tool);
    assert!(
        approvals::scope(gate.clone(), Tool::call(&Search, "q".into()))
            .await
            .is_ok()
    );
    assert!(
        approvals::scope(gate.clone(), Other::call(&Search, "q".into()))
            .await
            .is_err()
    );
    assert!(
        approvals::scope(gate.clone(), Remote::call(&Search))
            .await
            .is_err()
    );
    assert!(
        approvals::scope(gate, tools::call("q".into()))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn default_names_are_the_module_then_the_type_then_the_method() {
    let names = [
        action_of(Tool::call(&Search, "q".into())).await,
        action_of(Tool::call(&DeleteAll, "q".into())).await,
        action_of(Other::call(&Search, "q".into())).await,
        action_of(Remote::call(&Search)).await,
        action_of(Search.invoke()).await,
        action_of(Search.run()).await,
        action_of(Holder(1_u8).get()).await,
        action_of(tools::call("q".into())).await,
    ];
    assert_eq!(
        names,
        [
            "macro_action_names::tools::<Search as Tool>::call",
            "macro_action_names::tools::<DeleteAll as Tool>::call",
            "macro_action_names::tools::<Search as Other>::call",
            "macro_action_names::tools::<Search as macro_action_names::traits::Remote>::call",
            "macro_action_names::tools::<Search as Plugin>::invoke",
            "macro_action_names::tools::Search::run",
            "macro_action_names::tools::Holder<_>::get",
            "macro_action_names::tools::call",
        ]
    );
    // One name for every instance of a generic impl: it is one function.
    assert_eq!(
        action_of(Holder("text").get()).await,
        "macro_action_names::tools::Holder<_>::get"
    );
}

#[tokio::test]
async fn globs_and_policy_files_take_the_default_names() {
    // The module prefix covers every gated function of the module.
    let gate = allowing_only("macro_action_names::tools::*");
    assert!(
        approvals::scope(gate.clone(), Tool::call(&DeleteAll, "t".into()))
            .await
            .is_ok()
    );
    assert!(
        approvals::scope(gate.clone(), DeleteAll.run())
            .await
            .is_ok()
    );
    assert!(
        approvals::scope(gate, tools::call("q".into()))
            .await
            .is_ok()
    );

    // Every implementation of one trait's method, and nothing else.
    let gate = allowing_only("macro_action_names::tools::<* as Tool>::call");
    assert!(
        approvals::scope(gate.clone(), Tool::call(&Search, "q".into()))
            .await
            .is_ok()
    );
    assert!(
        approvals::scope(gate.clone(), Tool::call(&DeleteAll, "t".into()))
            .await
            .is_ok()
    );
    assert!(
        approvals::scope(gate.clone(), Other::call(&Search, "q".into()))
            .await
            .is_err()
    );
    assert!(approvals::scope(gate, Search.run()).await.is_err());

    // The same names in a policy file.
    let policy = Policy::from_toml_str(
        r#"
        [[rule]]
        name = "searches"
        action = ["macro_action_names::tools::<Search as Tool>::call", "macro_action_names::tools::Search::*"]
        effect = "allow"
        "#,
    )
    .unwrap();
    let gate = gate_with(policy, &MemoryAudit::new());
    assert!(
        approvals::scope(gate.clone(), Tool::call(&Search, "q".into()))
            .await
            .is_ok()
    );
    assert!(approvals::scope(gate.clone(), Search.run()).await.is_ok());
    assert!(
        approvals::scope(gate.clone(), Tool::call(&DeleteAll, "t".into()))
            .await
            .is_err()
    );
    assert!(approvals::scope(gate, DeleteAll.run()).await.is_err());
}
