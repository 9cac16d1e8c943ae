//! OpenTelemetry: every gated call as an `approval` span, exported over OTLP.
//!
//! The gate speaks `tracing`; `tracing-opentelemetry` turns its spans into
//! OpenTelemetry spans and `opentelemetry-otlp` sends them (OTLP over HTTP,
//! protobuf) to a collector, Jaeger, Tempo, Honeycomb or any OTLP endpoint.
//! The endpoint comes from `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`); with nothing listening there, the spans are
//! dropped and the example still runs. To see them, start a collector, for
//! example Jaeger's all-in-one image, which accepts OTLP on 4318:
//!
//! ```text
//! docker run --rm -p 16686:16686 -p 4318:4318 jaegertracing/all-in-one
//! cargo run --example otel --features testing
//! ```
//!
//! then open <http://localhost:16686> and look for the service `agent`.
//! Each `approval` span carries the action, request id, risk, requester,
//! policy decision, conclusion, wait and outcome (never an argument value);
//! the body's own spans are its children and each vote is an event on it.

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;

use approvals::audit::MemoryAudit;
use approvals::channel::Choice;
use approvals::policy::Policy;
use approvals::testing::MockChannel;
use approvals::{ActionRequest, Error, Gate};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const POLICY: &str = r#"
[[rule]]
name = "reads are free"
action = "crm.read_*"
effect = "allow"

[[rule]]
name = "refunds need finance"
action = "billing.refund"
effect = "require_approval"
approvers = ["fin@example.com"]
timeout = "1m"
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn StdError>> {
    // 1. An OTLP exporter and a tracer provider that batches to it.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("agent").build())
        .build();

    // 2. `tracing` spans become OpenTelemetry spans.
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("approvals")))
        .init();

    // 3. Gated calls, as anywhere else.
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .channel(MockChannel::script([Choice::Approve]).voting_as(["fin@example.com"]))
        .audit(MemoryAudit::new())
        .build();
    let read = ActionRequest::new("crm.read_customer", "c-42").requester("agent:support");
    gate.run(read, |_| async { Ok::<_, Error>(()) }).await?;
    let refund = ActionRequest::new("billing.refund", 42_000u64).requester("agent:support");
    gate.run(refund, |cents| async move {
        let _issuing = tracing::info_span!("issue_refund", cents_bucket = bucket(cents)).entered();
        Ok::<_, Error>(())
    })
    .await?;

    // 4. Send what is batched before the process ends.
    provider.shutdown()?;
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://localhost:4318".to_owned());
    println!(
        "the spans of two gated calls were sent to {endpoint}/v1/traces \
         (the batch exporter drops them quietly when nothing listens there)"
    );
    Ok(())
}

/// A coarse size for the span: the body decides what it shows.
fn bucket(cents: u64) -> &'static str {
    if cents < 10_000 { "small" } else { "large" }
}
