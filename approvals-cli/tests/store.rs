//! `approvals store`: pending requests read from a store file, and the
//! PostgreSQL audit chain verified (and a changed record caught).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use approvals_backends::testing::QueueChannel;
use approvals_core::audit::{AuditEvent, AuditRecord, AuditSink, MemoryAudit, PostgresAudit};
use approvals_core::policy::{Policy, RequirementBuilder, Rule};
use approvals_core::store::SqliteStore;
use approvals_core::{ActionRequest, Conclusion, Error, Gate, RequestId};

fn approvals(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_approvals"))
        .args(args)
        .env_remove("APPROVALS_POSTGRES")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_lists_what_a_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("approvals.db");
    let (channel, votes) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(
            Policy::new().rule(
                Rule::new("gated").action("*").require(
                    RequirementBuilder::new()
                        .approvers(["alice@example.com"])
                        .timeout(Duration::from_secs(60)),
                ),
            ),
        )
        .channel(channel)
        .store(SqliteStore::open(&path).await.unwrap())
        .audit(MemoryAudit::new())
        .build();
    let caller = tokio::spawn({
        let gate = gate.clone();
        async move {
            let request = ActionRequest::new("keys.rotate", serde_json::json!({"key": "k-1"}))
                .requester("agent:ops");
            gate.run(request, |_| async { Ok::<_, Error>(()) }).await
        }
    });
    let review = votes.next_request().await;
    let path_text = path.display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        approvals(&["store", "pending", "--sqlite", &path_text, "--json"])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed["requests"][0]["id"], review.id.as_str());
    assert_eq!(listed["requests"][0]["action"], "keys.rotate");
    caller.abort();
}

#[test]
fn pending_needs_a_store() {
    let output = approvals(&["store", "pending"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--sqlite") || stderr.contains("--postgres"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_audit_checks_the_shared_chain_and_names_a_changed_record() {
    let Ok(url) = std::env::var("APPROVALS_TEST_POSTGRES") else {
        eprintln!(
            "skipped verify_audit_checks_the_shared_chain: APPROVALS_TEST_POSTGRES is not set; CI sets it"
        );
        return;
    };
    let schema = format!("approvals_cli_{}", std::process::id());
    let audit = PostgresAudit::connect(&url, &schema).await.unwrap();
    let records: Vec<AuditRecord> = (0..5)
        .map(|n| {
            AuditRecord::now(
                RequestId::from_string(format!("r-{n}")),
                AuditEvent::Concluded {
                    conclusion: Conclusion::Expired,
                },
            )
        })
        .collect();
    Arc::new(audit.clone()).record_all(&records).await.unwrap();
    let verify = {
        let (url, schema) = (url.clone(), schema.clone());
        move || {
            approvals(&[
                "store",
                "verify-audit",
                "--postgres",
                &url,
                "--schema",
                &schema,
            ])
        }
    };
    let ok = tokio::task::spawn_blocking(verify.clone()).await.unwrap();
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 records"));
    // The audit command reads the table as well.
    let through_audit = {
        let (url, schema) = (url.clone(), schema.clone());
        move || approvals(&["audit", "verify", "--postgres", &url, "--schema", &schema])
    };
    let ok = tokio::task::spawn_blocking(through_audit.clone())
        .await
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 records"));

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "UPDATE {schema}.audit SET line = replace(line, 'r-2', 'r-9') WHERE seq = 3"
        ))
        .await
        .unwrap();
    let broken = tokio::task::spawn_blocking(through_audit).await.unwrap();
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let broken = tokio::task::spawn_blocking(verify).await.unwrap();
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("broken") && stderr.contains('3'),
        "{stderr}"
    );
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
