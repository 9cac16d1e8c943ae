//! Metrics: the gate's counters, gauge and histograms served to Prometheus.
//!
//! The gate emits through the `metrics` facade; this example installs the
//! Prometheus recorder (`metrics-exporter-prometheus`, without its own HTTP
//! server), runs a few gated calls with scripted reviewers, and prints what
//! a scrape would read. With `--listen ADDR` it then serves the same text on
//! `http://ADDR/metrics` until interrupted, for a Prometheus to scrape:
//!
//! ```text
//! cargo run --example metrics --features testing,axum
//! cargo run --example metrics --features testing,axum -- --listen 127.0.0.1:9464
//! ```
//!
//! A scrape configuration for it:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: agent
//!     static_configs:
//!       - targets: ["127.0.0.1:9464"]
//! ```

#![allow(clippy::print_stdout)]

use std::error::Error as StdError;

use approvals::audit::MemoryAudit;
use approvals::channel::Choice;
use approvals::policy::Policy;
use approvals::testing::MockChannel;
use approvals::{ActionRequest, Error, Gate};
use metrics_exporter_prometheus::PrometheusBuilder;

const POLICY: &str = r#"
[groups]
finance = ["fin@example.com"]

[[rule]]
name = "reads are free"
action = "crm.read_*"
effect = "allow"

[[rule]]
name = "refunds need finance"
action = "billing.refund"
effect = "require_approval"
approvers = ["group:finance"]
timeout = "1m"
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn StdError>> {
    let listen = listen_address()?;
    // 1. Install a recorder, then describe the gate's metrics to it.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            &[0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 3600.0],
        )?
        .install_recorder()?;
    approvals::telemetry::enable();

    // 2. A gate like any other: nothing in it is about metrics.
    let finance = MockChannel::script([Choice::Approve, Choice::deny("duplicate refund")])
        .voting_as(["fin@example.com"]);
    let gate = Gate::builder()
        .policy(Policy::from_toml_str(POLICY)?)
        .channel(finance)
        .audit(MemoryAudit::new())
        .build();
    for customer in ["c-1", "c-2", "c-3"] {
        let read = ActionRequest::new("crm.read_customer", customer).requester("agent:support");
        gate.run(read, |_| async { Ok::<_, Error>(()) }).await?;
    }
    for cents in [4_200u64, 4_200] {
        let refund = ActionRequest::new("billing.refund", cents).requester("agent:support");
        let ran = gate.run(refund, |_| async { Ok::<_, Error>(()) }).await;
        println!(
            "refund of {cents} cents: {}",
            ran.map_or_else(|error| error.to_string(), |()| "ran".to_owned())
        );
    }

    // 3. What a scrape reads.
    println!("\n{}", prometheus.render());

    if let Some(address) = listen {
        // Without its own HTTP server the exporter is kept up to date here.
        let upkeep = prometheus.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let prometheus = prometheus.clone();
                async move { prometheus.render() }
            }),
        );
        let listener = tokio::net::TcpListener::bind(address).await?;
        println!(
            "serving http://{}/metrics (Ctrl-C to stop)",
            listener.local_addr()?
        );
        axum::serve(listener, app).await?;
    }
    Ok(())
}

/// `--listen ADDR`, if given.
fn listen_address() -> Result<Option<std::net::SocketAddr>, Box<dyn StdError>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(None),
        (Some("--listen"), Some(address)) => Ok(Some(address.parse()?)),
        _ => Err("usage: metrics [--listen ADDR]".into()),
    }
}
