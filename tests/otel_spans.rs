//! The `approval` span as OpenTelemetry exports it (through
//! `tracing-opentelemetry`, into the SDK's in-memory exporter): one span
//! per gated call with its attributes, the body's spans as its children,
//! the vote and each step of the request as events on it, an error status with `error.type` when the
//! call ends in an error, and no argument value anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::channel::Choice;
use approvals::policy::{Policy, Rule};
use approvals::testing::MockChannel;
use approvals::{ActionRequest, Error, Gate};
use common::{AGENT, ALICE, requiring};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;

const SECRET: &str = "jane.doe@example.com";

fn refund(cents: u64) -> ActionRequest<serde_json::Value> {
    ActionRequest::new(
        "billing.refund",
        serde_json::json!({ "customer_email": SECRET, "cents": cents }),
    )
    .requester(AGENT)
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|pair| pair.key == Key::from(key.to_owned()))
        .map(|pair| &pair.value)
}

fn text(span: &SpanData, key: &str) -> String {
    attribute(span, key)
        .unwrap_or_else(|| panic!("{} has no {key}: {:?}", span.name, span.attributes))
        .as_str()
        .into_owned()
}

/// Runs `calls` under a tracer that exports into memory, and returns what
/// was exported.
async fn exported<F: std::future::Future<Output = ()>>(calls: F) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("approvals-test"));
    let subscriber = tracing_subscriber::registry().with(layer);
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        calls.await;
    }
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

#[tokio::test]
async fn an_approved_call_is_one_span_with_the_body_and_the_vote_inside() {
    let gate = Gate::builder()
        .policy(requiring(&[ALICE], 1, Duration::from_secs(60)))
        .channel(MockChannel::script([Choice::Approve]).voting_as([ALICE]))
        .audit(MemoryAudit::new())
        .build();
    let spans = exported(async {
        gate.run(refund(4_200), |_| async {
            let _step = tracing::info_span!("issue_refund").entered();
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    })
    .await;

    let approval = spans
        .iter()
        .find(|span| span.name == "approval")
        .expect("an approval span was exported");
    assert_eq!(text(approval, "approval.action"), "billing.refund");
    assert_eq!(text(approval, "approval.requester"), AGENT);
    assert_eq!(text(approval, "approval.decision"), "require_approval");
    assert_eq!(text(approval, "approval.conclusion"), "approved");
    assert_eq!(text(approval, "approval.outcome"), "ok");
    assert!(!text(approval, "approval.request_id").is_empty());
    assert!(attribute(approval, "error.type").is_none());
    assert_eq!(approval.status, Status::Unset);

    let body = spans
        .iter()
        .find(|span| span.name == "issue_refund")
        .expect("the body's span was exported");
    assert_eq!(
        body.parent_span_id,
        approval.span_context.span_id(),
        "the body's span is a child of the call's"
    );
    assert_eq!(
        body.span_context.trace_id(),
        approval.span_context.trace_id()
    );
    let vote = approval
        .events
        .iter()
        .find(|event| event.name == "vote judged")
        .expect("the vote is an event of the call's span");
    let voter = vote
        .attributes
        .iter()
        .find(|pair| pair.key.as_str() == "voter")
        .expect("the event names the voter");
    assert_eq!(voter.value.as_str(), ALICE);

    let transitions: Vec<String> = approval
        .events
        .iter()
        .filter(|event| event.name == "request transition")
        .filter_map(|event| {
            event
                .attributes
                .iter()
                .find(|pair| pair.key.as_str() == "transition")
                .map(|pair| pair.value.as_str().into_owned())
        })
        .collect();
    assert_eq!(
        transitions,
        ["requested", "concluded", "executed"],
        "each step of the request is an event of the call's span"
    );

    let everything = format!("{spans:?}");
    assert!(
        !everything.contains(SECRET),
        "no argument value is exported"
    );
    assert!(
        !everything.contains("4200"),
        "no argument value is exported"
    );
}

#[tokio::test]
async fn a_call_that_ends_in_an_error_has_an_error_status_and_type() {
    let gate = Gate::builder()
        .policy(
            Policy::new()
                .rule(
                    Rule::new("no refunds")
                        .action("billing.refund")
                        .refuse("finance only"),
                )
                .rule(Rule::new("reads").action("crm.*").allow()),
        )
        .audit(MemoryAudit::new())
        .build();
    let spans = exported(async {
        assert!(gate.authorize(refund(10)).await.is_err());
        let failed = gate
            .run(
                ActionRequest::new("crm.read", 1).requester(AGENT),
                |_| async { Err::<(), _>(Error::NoGate) },
            )
            .await;
        assert!(failed.is_err());
    })
    .await;
    let approvals: Vec<&SpanData> = spans
        .iter()
        .filter(|span| span.name == "approval")
        .collect();
    assert_eq!(approvals.len(), 2, "{spans:?}");
    let refused = approvals
        .iter()
        .find(|span| text(span, "approval.action") == "billing.refund")
        .unwrap();
    assert_eq!(text(refused, "error.type"), "refused_by_policy");
    assert!(
        matches!(refused.status, Status::Error { .. }),
        "{:?}",
        refused.status
    );
    let failed = approvals
        .iter()
        .find(|span| text(span, "approval.action") == "crm.read")
        .unwrap();
    assert_eq!(text(failed, "approval.conclusion"), "allowed_by_policy");
    assert_eq!(text(failed, "error.type"), "body_error");
    assert!(
        matches!(failed.status, Status::Error { .. }),
        "{:?}",
        failed.status
    );
}
