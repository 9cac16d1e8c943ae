//! `approvals`: the operator's command for the `approvals` library.
//!
//! Each area has a module of its own; this file only parses the command line
//! and dispatches.

mod audit;
mod exit;
mod mask;
mod mcp;
mod out;
mod parse;
mod policy;
mod remote;
mod store;
mod tlog;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mask personal data and secrets, verify and read audit logs, review
/// pending approval requests, and check and test policy files.
#[derive(Debug, Parser)]
#[command(name = "approvals", version, propagate_version = true, after_help = exit::HELP)]
struct Cli {
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t = out::ColorChoice::Auto, global = true)]
    color: out::ColorChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mask personal data and secrets in a file or standard input.
    Mask(mask::MaskArgs),
    /// Check or read a JSON Lines audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// List the requests waiting for a decision, over the HTTP API.
    Pending(remote::PendingArgs),
    /// Approve a pending request, as the identity of your token.
    Approve(remote::ApproveArgs),
    /// Deny a pending request, as the identity of your token.
    Deny(remote::DenyArgs),
    /// Read a request store (SQLite or PostgreSQL) and its audit chain.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Check a policy file, explain its decision for a call, run its tests.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Put approvals in front of an MCP server.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = out::Out::new(cli.color);
    let code = match cli.command {
        Command::Mask(args) => mask::run(&args),
        Command::Audit(command) => audit::run(command, &out),
        Command::Pending(args) => remote::pending(args, &out),
        Command::Approve(args) => remote::approve(args, &out),
        Command::Deny(args) => remote::deny(args, &out),
        Command::Store(command) => store::run(command, &out),
        Command::Policy(command) => policy::run(command, &out),
        Command::Mcp(command) => mcp::run(command),
    };
    ExitCode::from(code)
}
