//! Arguments nested deeply, through the whole gate: serialization,
//! fingerprint, masking, policy, audit and the binding check before the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use approvals_core::audit::{JsonlAudit, MemoryAudit, verify};
use approvals_core::policy::{Policy, Rule};
use approvals_core::{ActionRequest, Error, Gate, MAX_ARGUMENT_DEPTH};
use serde_json::{Value, json};

/// `depth` arrays and objects in turn around an object with an email, built
/// without recursion (`json!` would serialize what it wraps).
fn nested(depth: usize) -> Value {
    let mut value = json!({"email": "jane@example.com"});
    for level in 1..depth {
        value = if level % 2 == 1 {
            Value::Array(vec![value])
        } else {
            Value::Object(serde_json::Map::from_iter([("k".to_owned(), value)]))
        };
    }
    value
}

/// How many arrays and objects are nested in `value`, without recursion.
fn depth_of(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => deepest = deepest.max(depth),
        }
    }
    deepest
}

/// Takes a value apart without recursion: `Value`'s own `Drop` recurses,
/// and 10,000 levels of it do not fit a 2 MiB stack in a debug build.
fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// A gate whose policy allows everything: depth is the only reason left to
/// refuse.
fn allowing_gate(audit: impl approvals_core::audit::AuditSink + 'static) -> Gate {
    Gate::builder()
        .policy(Policy::new().rule(Rule::new("everything").action("*").allow()))
        .audit(audit)
        .build()
}

// A normal multi-threaded runtime: the gated call runs on one of its worker
// threads, with their default stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_nested_ten_thousand_deep_fail_closed_with_a_typed_error() {
    let audit = MemoryAudit::new();
    let gate = allowing_gate(audit.clone());
    // Shared, so that the gate drops a reference and the test takes the
    // value apart itself.
    let deep = Arc::new(nested(10_000));
    let ran = Arc::new(AtomicBool::new(false));
    let call = {
        let (gate, deep, ran) = (gate.clone(), Arc::clone(&deep), Arc::clone(&ran));
        tokio::spawn(async move {
            let request = ActionRequest::new("records.import", deep).requester("agent:bot");
            gate.run(request, |_| async move {
                ran.store(true, Ordering::SeqCst);
                Ok::<_, Error>(())
            })
            .await
        })
    };
    let result = call.await.expect("the gated call's task ends normally");
    match result {
        Err(Error::Arguments { category }) => {
            assert!(
                category.contains(&MAX_ARGUMENT_DEPTH.to_string()),
                "{category}"
            );
            let message = Error::Arguments { category }.to_string();
            assert_eq!(
                message,
                "the arguments could not be serialized (nested more than 64 levels deep)"
            );
        }
        other => panic!("expected Error::Arguments, got {other:?}"),
    }
    assert!(!ran.load(Ordering::SeqCst), "the body must not run");
    // Refused before the first record: nothing was fingerprinted or shown.
    assert_eq!(audit.len(), 0);
    assert!(gate.votes().pending().is_empty());

    // `authorize` refuses the same way.
    let request = ActionRequest::new("records.import", Arc::clone(&deep)).requester("agent:bot");
    assert!(matches!(
        gate.authorize(request).await,
        Err(Error::Arguments { .. })
    ));

    let deep = Arc::try_unwrap(deep).unwrap_or_else(|_| panic!("the gate kept a reference"));
    dismantle(deep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_at_the_limit_run_and_their_audit_trail_verifies() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("audit.jsonl");
    let audit = Arc::new(JsonlAudit::open(&path).expect("the audit file opens"));
    let gate = allowing_gate(Arc::clone(&audit));

    let arguments = nested(MAX_ARGUMENT_DEPTH);
    assert_eq!(depth_of(&arguments), MAX_ARGUMENT_DEPTH);
    let request = ActionRequest::new("records.import", arguments).requester("agent:bot");
    let received = gate
        .run(request, |arguments| async move {
            Ok::<_, Error>(depth_of(&arguments))
        })
        .await
        .expect("arguments at the limit run");
    assert_eq!(received, MAX_ARGUMENT_DEPTH);

    // One level more is refused, and nothing more is recorded.
    let request =
        ActionRequest::new("records.import", nested(MAX_ARGUMENT_DEPTH + 1)).requester("agent:bot");
    let refused = gate.run(request, |_| async { Ok::<_, Error>(()) }).await;
    assert!(
        matches!(refused, Err(Error::Arguments { .. })),
        "{refused:?}"
    );

    audit.close().await.expect("the trail closes");
    // The masked arguments sit two levels down in each line: the trail
    // stays within what `serde_json` reads back.
    let report = verify(&path, None).expect("the trail verifies");
    assert_eq!(report.records, 3, "requested, concluded, executed");
    let text = std::fs::read_to_string(&path).expect("the trail reads");
    assert!(!text.contains("jane@example.com"), "the email is masked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_made_too_deep_after_approval_do_not_run() {
    let gate = allowing_gate(MemoryAudit::new());
    let shared = Arc::new(Mutex::new(json!({"id": 7})));
    let request = ActionRequest::new("records.update", Arc::clone(&shared)).requester("agent:bot");
    let approval = gate.authorize(request).await.expect("allowed by policy");

    // Interior mutability: deeper than the limit after the fingerprint.
    let deep = nested(MAX_ARGUMENT_DEPTH + 10);
    let original = std::mem::replace(&mut *shared.lock().expect("not poisoned"), deep);
    let ran = AtomicBool::new(false);
    let result = approval
        .run(|_| async {
            ran.store(true, Ordering::SeqCst);
            Ok::<_, Error>(())
        })
        .await;
    assert!(
        matches!(result, Err(Error::BindingMismatch { .. })),
        "{result:?}"
    );
    assert!(!ran.load(Ordering::SeqCst));
    dismantle(original);
}
