//! The `approvals` command.
fn main() {}
