//! The gate. (Being written.)

/// Placeholder.
#[derive(Clone, Debug)]
pub struct VoteBox;
/// Placeholder.
pub struct Gate;
/// Placeholder.
pub struct GateBuilder;
/// Placeholder.
pub struct Approval;
