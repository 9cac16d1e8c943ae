//! The people and the agent tests act as, by their canonical identities.

/// An eligible approver in most tests.
pub const ALICE: &str = "alice@example.com";
/// A second eligible approver.
pub const BOB: &str = "bob@example.com";
/// An approver a request escalates to.
pub const CAROL: &str = "carol@example.com";
/// Someone every channel knows and no policy names.
pub const MALLORY: &str = "mallory@example.com";
/// The agent whose calls are reviewed.
pub const AGENT: &str = "agent:ops-bot";
