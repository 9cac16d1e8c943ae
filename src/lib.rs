//! approvals facade.
