//! The lifecycle in one SQLite file (WAL), for one machine.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{
    Created, RequestState, SCHEMA_VERSION, Store, StoreError, StoredRequest, decode, encode, millis,
};
use crate::audit::{AuditRecord, AuditSink};
use crate::{RequestId, Timestamp};

/// A [`Store`] in one SQLite file: pending requests survive a restart of
/// the process, with nothing to run beside it. The file is opened in WAL
/// mode with `synchronous = FULL`, so a transition that returned is on
/// disk. Several processes on one machine may open the same file (SQLite
/// locks it); processes on other machines need [`PostgresStore`](super::PostgresStore)
/// (feature `postgres`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// use approvals_core::store::SqliteStore;
/// let store = SqliteStore::open(dir.path().join("approvals.db")).await?;
/// # drop(store); Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// One drain at a time in this process, so records reach the sink in
    /// order and once; the lease row does the same across processes.
    draining: Arc<tokio::sync::Mutex<()>>,
    /// Who this store is when it holds the drain lease.
    holder: Arc<str>,
}

/// How long a drain lease lasts: a process that dies holding it holds up
/// the outbox this long at most.
const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        deadline_ms INTEGER NOT NULL,
        due_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        review TEXT NOT NULL,
        state TEXT NOT NULL
    );
    CREATE INDEX requests_pending_due ON requests (status, due_ms);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE TABLE drain_lease (holder TEXT, until_ms INTEGER NOT NULL);
    INSERT INTO drain_lease (holder, until_ms) VALUES (NULL, 0);",
];

fn unavailable(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| StoreError::Unavailable {
        operation,
        message: sqlite_message(&error),
    }
}

/// The error's class and code, never the SQL's values.
fn sqlite_message(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => {
            format!("{:?} (code {})", failure.code, failure.extended_code)
        }
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            "a column has an unexpected type".to_owned()
        }
        _ => "the SQLite call failed".to_owned(),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, and
    /// migrates its schema. A schema newer than this library's is refused
    /// with [`StoreError::SchemaTooNew`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let connection = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let mut connection = Connection::open(&path).map_err(unavailable("open"))?;
            connection
                .busy_timeout(std::time::Duration::from_secs(10))
                .map_err(unavailable("open"))?;
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(unavailable("open"))?;
            connection
                .pragma_update(None, "synchronous", "FULL")
                .map_err(unavailable("open"))?;
            migrate(&mut connection)?;
            Ok(connection)
        })
        .await
        .map_err(|_| StoreError::Unavailable {
            operation: "open",
            message: "the opening task panicked".to_owned(),
        })??;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            draining: Arc::new(tokio::sync::Mutex::new(())),
            holder: Arc::from(RequestId::random().as_str()),
        })
    }

    /// Runs `work` on the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|_| StoreError::Unavailable {
            operation,
            message: "the store's task panicked".to_owned(),
        })?
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable("migrate"))?;
    transaction
        .execute(
            "CREATE TABLE IF NOT EXISTS approvals_schema (version INTEGER NOT NULL)",
            [],
        )
        .map_err(unavailable("migrate"))?;
    let found: i64 = transaction
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM approvals_schema",
            [],
            |row| row.get(0),
        )
        .map_err(unavailable("migrate"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        if version > found {
            transaction
                .execute_batch(migration)
                .map_err(unavailable("migrate"))?;
            transaction
                .execute(
                    "INSERT INTO approvals_schema (version) VALUES (?1)",
                    [version],
                )
                .map_err(unavailable("migrate"))?;
        }
    }
    transaction.commit().map_err(unavailable("migrate"))
}

fn append(
    transaction: &rusqlite::Transaction<'_>,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    let mut statement = transaction
        .prepare_cached("INSERT INTO outbox (request_id, record) VALUES (?1, ?2)")
        .map_err(unavailable("append to the outbox"))?;
    for record in records {
        statement
            .execute(params![record.request_id.as_str(), encode(record)])
            .map_err(unavailable("append to the outbox"))?;
    }
    Ok(())
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn stored(
    (key, version, review, state): (String, i64, String, String),
) -> Result<StoredRequest, StoreError> {
    Ok(StoredRequest {
        key,
        review: decode(&review, "review")?,
        state: decode(&state, "state")?,
        version: u64::try_from(version).map_err(|_| StoreError::Corrupt { what: "version" })?,
    })
}

const SELECT: &str = "SELECT key, version, review, state FROM requests";

#[async_trait]
impl Store for SqliteStore {
    async fn create(
        &self,
        request: &StoredRequest,
        records: &[AuditRecord],
    ) -> Result<Created, StoreError> {
        let request = request.clone();
        let records = records.to_vec();
        self.with("create a request", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable("create a request"))?;
            let existing = transaction
                .query_row(&format!("{SELECT} WHERE key = ?1"), [&request.key], read_row)
                .optional()
                .map_err(unavailable("create a request"))?;
            if let Some(existing) = existing {
                return Ok(Created::Existing(Box::new(stored(existing)?)));
            }
            let now = millis(Timestamp::now());
            transaction
                .execute(
                    "INSERT INTO requests (id, key, status, version, deadline_ms, due_ms, created_ms, updated_ms, review, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
                    params![
                        request.review.id.as_str(),
                        request.key,
                        request.state.status(),
                        i64::try_from(request.version).unwrap_or(i64::MAX),
                        millis(request.review.deadline),
                        millis(request.state.next_due(request.review.deadline)),
                        now,
                        encode(&request.review),
                        encode(&request.state),
                    ],
                )
                .map_err(unavailable("create a request"))?;
            append(&transaction, &records)?;
            transaction.commit().map_err(unavailable("create a request"))?;
            Ok(Created::New)
        })
        .await
    }

    async fn load(&self, id: &RequestId) -> Result<Option<StoredRequest>, StoreError> {
        let id = id.clone();
        self.with("load a request", move |connection| {
            connection
                .prepare_cached(&format!("{SELECT} WHERE id = ?1"))
                .and_then(|mut statement| statement.query_row([id.as_str()], read_row).optional())
                .map_err(unavailable("load a request"))?
                .map(stored)
                .transpose()
        })
        .await
    }

    async fn update(
        &self,
        id: &RequestId,
        version: u64,
        state: &RequestState,
        records: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        let id = id.clone();
        let state = state.clone();
        let records = records.to_vec();
        self.with("update a request", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable("update a request"))?;
            let version = i64::try_from(version).unwrap_or(i64::MAX);
            let escalation = state.escalation.as_ref().map(|escalation| millis(escalation.at));
            let changed = transaction
                .execute(
                    "UPDATE requests SET status = ?1, version = version + 1,
                       due_ms = CASE WHEN ?2 IS NOT NULL AND ?2 < deadline_ms THEN ?2 ELSE deadline_ms END,
                       updated_ms = ?3, state = ?4
                     WHERE id = ?5 AND version = ?6",
                    params![
                        state.status(),
                        escalation,
                        millis(Timestamp::now()),
                        encode(&state),
                        id.as_str(),
                        version,
                    ],
                )
                .map_err(unavailable("update a request"))?;
            if changed != 1 {
                return Ok(false);
            }
            append(&transaction, &records)?;
            transaction.commit().map_err(unavailable("update a request"))?;
            Ok(true)
        })
        .await
    }

    async fn release_key(&self, id: &RequestId, version: u64) -> Result<bool, StoreError> {
        let id = id.clone();
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.with("release a key", move |connection| {
            connection
                .execute(
                    "UPDATE requests SET key = key || '#' || id, version = version + 1 WHERE id = ?1 AND version = ?2",
                    params![id.as_str(), version],
                )
                .map(|changed| changed == 1)
                .map_err(unavailable("release a key"))
        })
        .await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<StoredRequest>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with("list pending requests", move |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{SELECT} WHERE status = 'pending' ORDER BY created_ms, id LIMIT ?1"
                ))
                .map_err(unavailable("list pending requests"))?;
            let rows = statement
                .query_map([limit], read_row)
                .map_err(unavailable("list pending requests"))?;
            rows.map(|row| stored(row.map_err(unavailable("list pending requests"))?))
                .collect()
        })
        .await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let now = millis(now);
        self.with("find due requests", move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT id FROM requests WHERE status = 'pending' AND due_ms <= ?1 ORDER BY due_ms LIMIT ?2",
                )
                .map_err(unavailable("find due requests"))?;
            let rows = statement
                .query_map(params![now, limit], |row| row.get::<_, String>(0))
                .map_err(unavailable("find due requests"))?;
            rows.map(|row| {
                row.map(RequestId::from_string)
                    .map_err(unavailable("find due requests"))
            })
            .collect()
        })
        .await
    }

    async fn drain(&self, sink: &dyn AuditSink) -> Result<usize, StoreError> {
        let _draining = self.draining.lock().await;
        self.take_lease().await?;
        let drained = self.drain_leased(sink).await;
        let holder = Arc::clone(&self.holder);
        let released = self
            .with("drain the outbox", move |connection| {
                connection
                    .execute(
                        "UPDATE drain_lease SET holder = NULL, until_ms = 0 WHERE holder = ?1",
                        [&*holder],
                    )
                    .map_err(unavailable("drain the outbox"))
            })
            .await;
        let written = drained?;
        released?;
        Ok(written)
    }
}

impl SqliteStore {
    /// Waits until this store holds the drain lease (another process's
    /// lapses after [`LEASE`]).
    async fn take_lease(&self) -> Result<(), StoreError> {
        loop {
            let holder = Arc::clone(&self.holder);
            let taken = self
                .with("drain the outbox", move |connection| {
                    let now = millis(Timestamp::now());
                    let until =
                        now.saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX));
                    connection
                        .execute(
                            "UPDATE drain_lease SET holder = ?1, until_ms = ?2
                             WHERE holder IS NULL OR holder = ?1 OR until_ms < ?3",
                            params![&*holder, until, now],
                        )
                        .map(|changed| changed == 1)
                        .map_err(unavailable("drain the outbox"))
                })
                .await?;
            if taken {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn drain_leased(&self, sink: &dyn AuditSink) -> Result<usize, StoreError> {
        let mut written = 0;
        loop {
            // A batch is read, written to the sink, then removed up to the
            // last record the sink took.
            let batch = self
                .with("drain the outbox", |connection| {
                    let mut statement = connection
                        .prepare_cached("SELECT seq, record FROM outbox ORDER BY seq LIMIT 256")
                        .map_err(unavailable("drain the outbox"))?;
                    let rows = statement
                        .query_map([], |row| {
                            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                        })
                        .map_err(unavailable("drain the outbox"))?;
                    rows.map(|row| row.map_err(unavailable("drain the outbox")))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            let Some(&(last, _)) = batch.last() else {
                return Ok(written);
            };
            let records = batch
                .iter()
                .map(|(_, text)| decode::<AuditRecord>(text, "outbox record"))
                .collect::<Result<Vec<_>, _>>()?;
            sink.record_all(&records).await?;
            written += records.len();
            self.with("drain the outbox", move |connection| {
                connection
                    .execute("DELETE FROM outbox WHERE seq <= ?1", [last])
                    .map_err(unavailable("drain the outbox"))
            })
            .await?;
        }
    }
}
