//! The expansion of `#[requires_approval]` is lint-clean: this file is
//! compiled (and, in CI, checked by clippy) with every warning an error.

#![deny(warnings, clippy::pedantic, unused_qualifications)]

use std::sync::Arc;

use approvals::audit::MemoryAudit;
use approvals::channel::async_trait;
use approvals::policy::{Policy, Rule};
use approvals::{Error, Gate, requires_approval};
use serde::Serialize;

/// Reads one record.
#[requires_approval]
pub async fn read_record(id: u64) -> Result<u64, Error> {
    Ok(id)
}

/// Every argument of the attribute at once.
#[requires_approval(
    name = "lints.everything",
    description = "Every argument",
    risk = "critical",
    approvers = ["group:sre", "alice@example.com"],
    quorum = 2,
    timeout = "1h30m",
    gate = approvals::current()?,
    requester = "agent:lints",
    justification = format!("export of {table}"),
    crate = "approvals"
)]
pub async fn everything(
    table: &str,
    #[approval(mask = "email:partial")] contact: String,
    #[approval(rename = "rows")] limit: usize,
    #[approval(skip)] connection: &mut Vec<u8>,
    (first, second): (u8, u8),
    mut counter: u32,
) -> Result<usize, Error> {
    counter += u32::from(first) + u32::from(second);
    connection.push(1);
    Ok(table.len() + contact.len() + limit + counter as usize)
}

/// A generic function with a where clause and an `impl Trait` return.
#[requires_approval(risk = "low")]
pub async fn generic<'a, T>(
    items: &'a [T],
    extra: impl Serialize + Send,
) -> anyhow::Result<impl Iterator<Item = &'a T>>
where
    T: Serialize + Sync,
{
    drop(extra);
    Ok(items.iter())
}

/// A service with methods.
pub struct Service {
    gate: Gate,
    calls: u32,
}

impl Service {
    /// By reference.
    #[requires_approval(gate = self.gate)]
    pub async fn by_ref(&self, id: u64) -> Result<u64, Error> {
        Ok(id + u64::from(self.calls))
    }

    /// By mutable reference.
    #[requires_approval(gate = self.gate)]
    pub async fn by_mut(&mut self) -> Result<u32, Error> {
        self.calls += 1;
        Ok(self.calls)
    }

    /// By value.
    #[requires_approval(gate = self.gate)]
    pub async fn by_value(self) -> Result<u32, Error> {
        Ok(self.calls)
    }

    /// Through an `Arc`.
    #[requires_approval(gate = Arc::clone(&self).gate.clone())]
    pub async fn by_arc(self: Arc<Self>) -> Result<u32, Error> {
        Ok(self.calls)
    }
}

/// A tool.
#[async_trait]
pub trait Tool {
    /// Calls it.
    async fn call(&self, input: String) -> Result<usize, Error>;
}

#[async_trait]
impl Tool for Service {
    #[requires_approval(gate = self.gate)]
    async fn call(&self, input: String) -> Result<usize, Error> {
        Ok(input.len())
    }
}

#[tokio::test]
async fn the_lint_clean_functions_run() {
    let gate = Gate::builder()
        .policy(
            Policy::new()
                .group("sre", ["bob@example.com"])
                .rule(Rule::new("all").allow()),
        )
        .audit(MemoryAudit::new())
        .default_requester("agent:lints")
        .build();
    let mut connection = Vec::new();
    let total = approvals::scope(gate.clone(), async {
        read_record(1).await?;
        let collected: Vec<&u8> = generic(&[1, 2], "x")
            .await
            .map_err(|_| Error::NoGate)?
            .collect();
        assert_eq!(collected.len(), 2);
        everything("t", "c".into(), 1, &mut connection, (1, 1), 0).await
    })
    .await;
    assert_eq!(total.ok(), Some(5));
    assert_eq!(connection, [1]);
    let mut service = Service { gate, calls: 0 };
    assert_eq!(service.by_mut().await.ok(), Some(1));
    assert_eq!(service.by_ref(1).await.ok(), Some(2));
    assert_eq!(service.call("ab".into()).await.ok(), Some(2));
    let service = Arc::new(service);
    assert_eq!(Arc::clone(&service).by_arc().await.ok(), Some(1));
    if let Ok(service) = Arc::try_unwrap(service) {
        assert_eq!(service.by_value().await.ok(), Some(1));
    }
}
