//! Audit sinks for tests and benchmarks.

use std::hint::black_box;

use approvals_core::audit::{AuditError, AuditRecord, AuditSink};
use async_trait::async_trait;

/// An audit sink that keeps nothing and never fails: the gate's cost
/// without the trail's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

#[async_trait]
impl AuditSink for Discard {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        black_box(record);
        Ok(())
    }
}
