//! `approvals`: the command line of the `approvals` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod mask;

/// Tools for the `approvals` library.
#[derive(Debug, Parser)]
#[command(name = "approvals", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mask personal data and secrets in a file or standard input.
    Mask(mask::MaskArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Mask(args) => mask::run(&args),
    }
}
