//! Approval channels for `approvals`.
