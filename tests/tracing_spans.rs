//! One `approval` span per gated call, with what it is and how it ended,
//! the body running inside it, and never an argument value in any field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use approvals::audit::MemoryAudit;
use approvals::policy::{Arg, Policy, Rule};
use approvals::testing::MockChannel;
use approvals::{ActionRequest, Error, Gate};
use common::{AGENT, ALICE, requiring};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

const SECRET: &str = "jane.doe@example.com";

/// What the layer saw: each span's name and fields, and each event's
/// fields with the name of the span it happened in.
#[derive(Clone, Default)]
struct Seen {
    spans: Arc<Mutex<BTreeMap<u64, (String, FieldMap)>>>,
    events: Arc<Mutex<Vec<SeenEvent>>>,
}

type FieldMap = BTreeMap<String, String>;
/// An event's fields, with the id of the span it happened in.
type SeenEvent = (Option<u64>, FieldMap);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").replace('"', ""),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        self.spans.lock().unwrap().insert(
            id.into_u64(),
            (attributes.metadata().name().to_owned(), fields),
        );
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = context.event_span(event).map(|span| span.id().into_u64());
        self.events.lock().unwrap().push((parent, fields));
    }
}

impl Seen {
    fn approvals(&self) -> Vec<(u64, BTreeMap<String, String>)> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (name, _))| name == "approval")
            .map(|(id, (_, fields))| (*id, fields.clone()))
            .collect()
    }
    fn everything(&self) -> String {
        format!(
            "{:?} {:?}",
            self.spans.lock().unwrap(),
            self.events.lock().unwrap()
        )
    }
}

fn refund(cents: u64) -> ActionRequest<serde_json::Value> {
    ActionRequest::new(
        "billing.refund",
        serde_json::json!({ "customer_email": SECRET, "cents": cents }),
    )
    .requester(AGENT)
}

#[tokio::test]
async fn each_call_has_one_span_with_its_decision_conclusion_and_outcome() {
    let seen = Seen::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()));
    let policy = requiring(&[ALICE], 1, Duration::from_secs(60));
    let policy = Policy::new()
        .rule(
            Rule::new("small refunds")
                .action("billing.refund")
                .when(Arg::path("cents").lt(100))
                .allow(),
        )
        .rule(policy.rules()[0].clone());
    let gate = Gate::builder()
        .policy(policy)
        .channel(MockChannel::script([approvals::channel::Choice::Approve]).voting_as([ALICE]))
        .audit(MemoryAudit::new())
        .build();

    // Allowed by policy; the body's own event happens inside the span.
    gate.run(refund(50), |_| async {
        tracing::info!(step = "inside the body");
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    // Approved by a reviewer; the body fails.
    let failed = gate
        .run(refund(5_000), |_| async { Err::<(), _>(Error::NoGate) })
        .await;
    assert!(failed.is_err());

    let spans = seen.approvals();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (allowed_id, allowed) = &spans[0];
    let (_, approved) = &spans[1];
    for (fields, decision, conclusion, outcome) in [
        (allowed, "allow", "allowed_by_policy", "ok"),
        (approved, "require_approval", "approved", "error"),
    ] {
        assert_eq!(fields["approval.action"], "billing.refund");
        assert_eq!(fields["approval.requester"], AGENT);
        assert_eq!(fields["approval.risk"], "medium");
        assert_eq!(fields["approval.decision"], decision);
        assert_eq!(fields["approval.conclusion"], conclusion);
        assert_eq!(fields["approval.outcome"], outcome);
        assert!(fields["approval.wait_ms"].parse::<u64>().is_ok());
        assert!(!fields["approval.request_id"].is_empty());
    }
    let body_event = seen
        .events
        .lock()
        .unwrap()
        .iter()
        .find(|(_, fields)| {
            fields
                .get("step")
                .is_some_and(|step| step == "inside the body")
        })
        .cloned()
        .expect("the body's event was seen");
    assert_eq!(
        body_event.0,
        Some(*allowed_id),
        "the body runs in the call's span"
    );
    let vote = seen
        .events
        .lock()
        .unwrap()
        .iter()
        .find(|(_, fields)| fields.get("message").is_some_and(|m| m == "vote judged"))
        .cloned()
        .expect("the vote was seen")
        .1;
    assert_eq!(vote["request_id"], approved["approval.request_id"]);
    assert_eq!(vote["voter"], ALICE);
    assert_eq!(vote["counted"], "true");
    assert!(
        !seen.everything().contains(SECRET),
        "no argument value in any span or event"
    );
}

#[tokio::test]
async fn a_refused_call_records_how_it_ended() {
    let seen = Seen::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()));
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("no refunds")
                    .action("billing.refund")
                    .refuse("refunds are handled by finance"),
            ),
        )
        .audit(MemoryAudit::new())
        .build();
    let refused = gate.authorize(refund(10)).await;
    assert!(matches!(refused, Err(Error::RefusedByPolicy { .. })));
    let spans = seen.approvals();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].1["approval.decision"], "refuse");
    assert_eq!(spans[0].1["approval.conclusion"], "refused_by_policy");
    assert!(!spans[0].1.contains_key("approval.outcome"), "nothing ran");
    assert!(!seen.everything().contains(SECRET));
}
