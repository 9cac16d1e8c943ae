//! `approvals store`: read a request store and its audit chain directly,
//! without going through an app.

use std::path::PathBuf;

use approvals_core::store::{PostgresStore, SqliteStore, Store};
use clap::{Args, Subcommand};

use crate::exit;
use crate::out::{Out, Tone};

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// List the requests pending in a store, whichever process made them:
    /// what a restarted app takes up when it makes the same calls again.
    Pending(PendingArgs),
    /// Verify the audit chain that replicas share in PostgreSQL
    /// (`PostgresAudit`).
    VerifyAudit(VerifyAuditArgs),
}

/// Which store.
#[derive(Debug, Args)]
pub(crate) struct Place {
    /// A SQLite store file.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "postgres",
        required_unless_present = "postgres"
    )]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL URL. Prefer the APPROVALS_POSTGRES environment variable
    /// for a URL with a password: other users can see command-line
    /// arguments in the process list.
    #[arg(
        long,
        env = "APPROVALS_POSTGRES",
        hide_env_values = true,
        value_name = "URL"
    )]
    postgres: Option<String>,
    /// The PostgreSQL schema the store's tables are in.
    #[arg(long, default_value = "approvals", value_name = "NAME")]
    schema: String,
}

#[derive(Debug, Args)]
pub(crate) struct PendingArgs {
    #[command(flatten)]
    place: Place,
    /// At most this many, oldest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyAuditArgs {
    /// The PostgreSQL URL (or APPROVALS_POSTGRES).
    #[arg(
        long,
        env = "APPROVALS_POSTGRES",
        hide_env_values = true,
        value_name = "URL"
    )]
    postgres: String,
    /// The schema the audit table is in.
    #[arg(long, default_value = "approvals", value_name = "NAME")]
    schema: String,
}

pub(crate) fn run(command: StoreCommand, out: &Out) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            out.error(format!("could not start: {error}"));
            return exit::TROUBLE;
        }
    };
    runtime.block_on(async {
        match command {
            StoreCommand::Pending(args) => pending(args, out).await,
            StoreCommand::VerifyAudit(args) => verify_audit(args, out).await,
        }
    })
}

async fn pending(args: PendingArgs, out: &Out) -> u8 {
    let store: Box<dyn Store> = match (&args.place.sqlite, &args.place.postgres) {
        (Some(path), _) => match SqliteStore::open(path).await {
            Ok(store) => Box::new(store),
            Err(error) => {
                out.error(error);
                return exit::TROUBLE;
            }
        },
        (None, Some(url)) => match PostgresStore::builder(url)
            .schema(&args.place.schema)
            .pool_size(1)
            .connect()
            .await
        {
            Ok(store) => Box::new(store),
            Err(error) => {
                out.error(error);
                return exit::TROUBLE;
            }
        },
        (None, None) => {
            out.error("name a store: --sqlite PATH or --postgres URL");
            return exit::TROUBLE;
        }
    };
    let pending = match store.pending(args.limit).await {
        Ok(pending) => pending,
        Err(error) => {
            out.error(error);
            return exit::TROUBLE;
        }
    };
    let reviews: Vec<serde_json::Value> = pending
        .iter()
        .map(|stored| {
            let mut view = serde_json::to_value(&stored.review).unwrap_or_default();
            view["approved_by"] = serde_json::to_value(&stored.state.approvals).unwrap_or_default();
            view["approvals"] = stored.state.approvals.len().into();
            view
        })
        .collect();
    if args.json {
        let body = serde_json::json!({ "requests": reviews });
        out.line(serde_json::to_string_pretty(&body).unwrap_or_default());
        return exit::OK;
    }
    if reviews.is_empty() {
        out.line("no pending requests");
        return exit::OK;
    }
    for (index, review) in reviews.iter().enumerate() {
        if index > 0 {
            out.line("");
        }
        crate::remote::show_request(review, out);
    }
    exit::OK
}

/// `approvals audit verify --postgres URL`: the same check as
/// `approvals store verify-audit`.
pub(crate) fn verify_postgres_audit(url: &str, schema: &str, out: &Out) -> u8 {
    run(
        StoreCommand::VerifyAudit(VerifyAuditArgs {
            postgres: url.to_owned(),
            schema: schema.to_owned(),
        }),
        out,
    )
}

async fn verify_audit(args: VerifyAuditArgs, out: &Out) -> u8 {
    let lines = match approvals_core::audit::PostgresAudit::read(&args.postgres, &args.schema).await
    {
        Ok(lines) => lines,
        Err(error) => {
            out.error(error);
            return exit::TROUBLE;
        }
    };
    match approvals_core::audit::verify_reader(&lines[..], None) {
        Ok(report) => {
            let head = report
                .head
                .map(|(seq, hash)| format!(" (head {seq}:{hash})"))
                .unwrap_or_default();
            out.line(out.paint(
                Tone::Good,
                format!("ok: {} records, the chain is intact{head}", report.records),
            ));
            exit::OK
        }
        Err(error) => {
            out.error(format!("the chain is broken: {error}"));
            exit::FAILED
        }
    }
}
