//! What `approvals mcp proxy` adds to a `tools/call` that policy allows (a
//! read-only tool): the same rmcp client calls the example server directly
//! over stdio, and through the proxy (its child), each a child process.
//!
//! ```text
//! cargo build --release -p approvals-cli --example mcp_server
//! cargo bench -p approvals-cli --bench mcp_proxy
//! ```
//!
//! Criterion measures the mean; the percentiles (p50, p99 of 2,000 calls
//! each, after 200 to warm up) are printed at the end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};

fn example_server() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_approvals"));
    let server = bin.parent().unwrap().join("examples").join("mcp_server");
    assert!(
        server.exists(),
        "build the example first: cargo build --release -p approvals-cli --example mcp_server"
    );
    server
}

fn balance() -> CallToolRequestParams {
    let arguments = serde_json::json!({ "account": "acc_1" });
    CallToolRequestParams::new("get_balance").with_arguments(arguments.as_object().unwrap().clone())
}

async fn direct() -> RunningService<RoleClient, ()> {
    let command = tokio::process::Command::new(example_server());
    ().serve(TokioChildProcess::new(command).unwrap())
        .await
        .unwrap()
}

async fn proxied(dir: &Path) -> RunningService<RoleClient, ()> {
    std::fs::write(
        dir.join("policy.toml"),
        "[default]\napprovers = [\"ops@example.com\"]\n",
    )
    .unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_approvals"));
    command
        .current_dir(dir)
        .args([
            "mcp",
            "proxy",
            "--policy",
            "policy.toml",
            "--audit",
            "audit.jsonl",
            "--",
        ])
        .arg(example_server());
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.unwrap();
    client.list_all_tools().await.unwrap();
    client
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (direct, proxied) = runtime.block_on(async { (direct().await, proxied(dir.path()).await) });

    let mut group = c.benchmark_group("mcp_tools_call");
    group.bench_function("direct", |b| {
        b.to_async(&runtime)
            .iter(|| async { direct.call_tool(balance()).await.unwrap() });
    });
    group.bench_function("through_proxy", |b| {
        b.to_async(&runtime)
            .iter(|| async { proxied.call_tool(balance()).await.unwrap() });
    });
    group.finish();

    for (name, client) in [("direct", &direct), ("through_proxy", &proxied)] {
        let mut samples = runtime.block_on(async {
            for _ in 0..200 {
                client.call_tool(balance()).await.unwrap();
            }
            let mut samples = Vec::with_capacity(2_000);
            for _ in 0..2_000 {
                let start = Instant::now();
                client.call_tool(balance()).await.unwrap();
                samples.push(start.elapsed());
            }
            samples
        });
        let (p50, p99) = percentiles(&mut samples);
        println!("mcp_tools_call/{name}: p50 {p50:?}, p99 {p99:?} (2,000 calls)");
    }
    runtime.block_on(async {
        direct.cancel().await.unwrap();
        proxied.cancel().await.unwrap();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
