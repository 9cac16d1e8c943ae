//! The audit trail in PostgreSQL: one hash chain shared by every replica.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

use super::{AuditError, AuditRecord, AuditSink};
use crate::canonical_json;

/// The most records appended in one transaction.
const MAX_BATCH: usize = 512;

/// An [`AuditSink`] in a PostgreSQL table: one hash chain for every
/// replica writing to it, in the format of [`JsonlAudit`](super::JsonlAudit)
/// lines (each row holds one line: `{"hash", "prev", "record", "seq"}`,
/// the hash being SHA-256 of the line without its hash), so that
/// [`verify_reader`](super::verify_reader) and `approvals audit verify
/// --postgres` check it the same way.
///
/// Appends are serialized across replicas by a transaction-scoped advisory
/// lock, taken once per batch: records that arrive while a batch is being
/// written form the next one (group commit), so the lock is paid per batch,
/// not per record. A record is acknowledged once its transaction commits.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use approvals_core::audit::PostgresAudit;
/// let audit = PostgresAudit::connect("postgres://approvals@db.internal/approvals", "approvals").await?;
/// # drop(audit); Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresAudit {
    queue: mpsc::UnboundedSender<(String, oneshot::Sender<Result<(), AuditError>>)>,
    pool: Pool,
    table: Arc<str>,
}

impl std::fmt::Debug for PostgresAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAudit")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// Why the audit table could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresAuditError {
    /// The URL or schema name is not valid.
    #[error("the PostgreSQL audit sink is misconfigured: {0}")]
    Invalid(&'static str),
    /// The database could not be reached or refused the schema.
    #[error("the PostgreSQL audit table could not be used: {0}")]
    Unavailable(String),
}

fn message(error: &tokio_postgres::Error) -> String {
    match error.code() {
        Some(code) => format!("SQLSTATE {}", code.code()),
        None if error.is_closed() => "the connection is closed".to_owned(),
        None => "the connection failed".to_owned(),
    }
}

fn storage(error: &tokio_postgres::Error) -> AuditError {
    AuditError::Io(std::io::Error::other(message(error)))
}

impl PostgresAudit {
    /// Connects to the database at `url` and creates the table
    /// `<schema>.audit` if needed (`schema`: lowercase ASCII letters,
    /// digits and `_`).
    pub async fn connect(url: &str, schema: &str) -> Result<Self, PostgresAuditError> {
        let schema = quote_free(schema)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| PostgresAuditError::Invalid("the URL could not be parsed"))?;
        config.connect_timeout(Duration::from_secs(5));
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(4)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|_| PostgresAuditError::Invalid("the connection pool could not be built"))?;
        let table: Arc<str> = Arc::from(format!("{schema}.audit"));
        let unavailable =
            |error: tokio_postgres::Error| PostgresAuditError::Unavailable(message(&error));
        let mut client = pool
            .get()
            .await
            .map_err(|_| PostgresAuditError::Unavailable("no connection".to_owned()))?;
        // Replicas starting together create the table once.
        let transaction = client.transaction().await.map_err(unavailable)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&&*table])
            .await
            .map_err(unavailable)?;
        transaction
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE TABLE IF NOT EXISTS {table} (
                     seq BIGINT PRIMARY KEY,
                     hash TEXT NOT NULL,
                     line TEXT NOT NULL
                 );"
            ))
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        drop(client);
        let (queue, received) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool.clone(), Arc::clone(&table), received));
        Ok(Self { queue, pool, table })
    }

    /// Every line of the chain in `<schema>.audit` at `url`, in order, for
    /// [`verify_reader`](super::verify_reader), without creating anything
    /// (a missing table is an error).
    pub async fn read(url: &str, schema: &str) -> Result<Vec<u8>, PostgresAuditError> {
        let unavailable =
            |error: tokio_postgres::Error| PostgresAuditError::Unavailable(message(&error));
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| PostgresAuditError::Invalid("the URL could not be parsed"))?;
        config.connect_timeout(Duration::from_secs(5));
        let (client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
        let driver = tokio::spawn(connection);
        let table = format!("{}.audit", quote_free(schema)?);
        let rows = client
            .query(&format!("SELECT line FROM {table} ORDER BY seq"), &[])
            .await
            .map_err(unavailable);
        driver.abort();
        Ok(join_lines(rows?))
    }

    /// Every line of the chain, in order, for
    /// [`verify_reader`](super::verify_reader).
    pub async fn lines(&self) -> Result<Vec<u8>, AuditError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|_| AuditError::Io(std::io::Error::other("no connection")))?;
        let rows = client
            .query(
                &format!("SELECT line FROM {} ORDER BY seq", self.table),
                &[],
            )
            .await
            .map_err(|error| storage(&error))?;
        Ok(join_lines(rows))
    }

    fn queue(
        &self,
        record: &AuditRecord,
    ) -> Result<oneshot::Receiver<Result<(), AuditError>>, AuditError> {
        let value = serde_json::to_value(record).map_err(AuditError::other)?;
        let json = String::from_utf8(canonical_json(&value)).map_err(AuditError::other)?;
        let (ack, done) = oneshot::channel();
        self.queue
            .send((json, ack))
            .map_err(|_| AuditError::Closed)?;
        Ok(done)
    }
}

#[async_trait]
impl AuditSink for PostgresAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.queue(record)?.await.unwrap_or(Err(AuditError::Closed))
    }

    /// Queues every record before waiting, so they share a transaction.
    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), AuditError> {
        let waits = records
            .iter()
            .map(|record| self.queue(record))
            .collect::<Result<Vec<_>, _>>()?;
        for done in waits {
            done.await.unwrap_or(Err(AuditError::Closed))?;
        }
        Ok(())
    }
}

/// The schema name, if it needs no quoting (so it can be spliced into SQL).
fn quote_free(schema: &str) -> Result<&str, PostgresAuditError> {
    let valid = schema
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_lowercase() || byte == b'_')
        && schema
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        && schema.len() <= 48;
    if valid {
        Ok(schema)
    } else {
        Err(PostgresAuditError::Invalid(
            "a schema name is lowercase ASCII letters, digits and `_`",
        ))
    }
}

fn join_lines(rows: Vec<tokio_postgres::Row>) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        let line: String = row.get(0);
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

type Pending = (String, oneshot::Sender<Result<(), AuditError>>);

/// Appends queued records in batches until every handle is dropped.
async fn writer(pool: Pool, table: Arc<str>, mut received: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = received.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match received.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let lines: Vec<&str> = batch.iter().map(|(json, _)| json.as_str()).collect();
        let result = append(&pool, &table, &lines).await;
        for (_, ack) in batch {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                Err(error) => Err(AuditError::Io(std::io::Error::other(error.clone()))),
            });
        }
    }
}

/// Appends `records` to the chain in one transaction, under the table's
/// advisory lock.
async fn append(pool: &Pool, table: &str, records: &[&str]) -> Result<(), String> {
    let mut client = pool
        .get()
        .await
        .map_err(|_| "no connection to the audit database".to_owned())?;
    let transaction = client
        .transaction()
        .await
        .map_err(|error| message(&error))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&table])
        .await
        .map_err(|error| message(&error))?;
    let head = transaction
        .query_opt(
            &format!("SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1"),
            &[],
        )
        .await
        .map_err(|error| message(&error))?;
    let (mut seq, mut prev) = match head {
        Some(row) => (row.get::<_, i64>(0), row.get::<_, String>(1)),
        None => (0, "0".repeat(64)),
    };
    let insert = transaction
        .prepare(&format!(
            "INSERT INTO {table} (seq, hash, line) VALUES ($1, $2, $3)"
        ))
        .await
        .map_err(|error| message(&error))?;
    for record in records {
        seq += 1;
        // The line as `JsonlAudit` writes it: `{"hash":…,` then the body
        // `"prev":…,"record":…,"seq":…}` whose SHA-256 the hash is.
        let body = format!("{{\"prev\":\"{prev}\",\"record\":{record},\"seq\":{seq}}}");
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let line = format!("{{\"hash\":\"{hash}\",{}", &body[1..]);
        transaction
            .execute(&insert, &[&seq, &hash, &line])
            .await
            .map_err(|error| message(&error))?;
        prev = hash;
    }
    transaction.commit().await.map_err(|error| message(&error))
}
