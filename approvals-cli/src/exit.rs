//! Exit codes, the same for every subcommand.

/// Done: the input was masked, the log verifies, the vote counted, the
/// list was printed.
pub(crate) const OK: u8 = 0;
/// The check failed: the log does not verify, the vote did not count,
/// there is no such request, a line to mask is not valid JSON, the policy
/// has errors or one of its tests fails, the MCP server behind `mcp proxy`
/// exited while its client was connected.
pub(crate) const FAILED: u8 = 1;
/// The command line is wrong (clap exits with it too).
pub(crate) const USAGE: u8 = 2;
/// It could not be done: a file could not be read, the API could not be
/// reached or answered unexpectedly.
pub(crate) const TROUBLE: u8 = 3;
/// The API did not accept the token.
pub(crate) const UNAUTHORIZED: u8 = 4;
/// `policy check --deny-warnings` found warnings, and no error.
pub(crate) const WARNINGS: u8 = 5;

/// The exit codes, as `--help` shows them.
pub(crate) const HELP: &str = "\
Exit codes:
  0  done: the input was masked, the log verifies, the vote counted,
     the list was printed
  1  the check failed: the log does not verify, the vote did not count,
     there is no such request, a line to mask is not valid JSON, the
     policy has errors or one of its tests fails, the MCP server behind
     `mcp proxy` exited while its client was connected
  2  the command line is wrong
  3  it could not be done: a file could not be read, the API could not be
     reached or answered unexpectedly
  4  the API did not accept the token
  5  policy check --deny-warnings found warnings (and no error)";
