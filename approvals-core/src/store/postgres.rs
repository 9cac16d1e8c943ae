//! The lifecycle in PostgreSQL, shared by every replica: rows changed by
//! compare-and-set, replicas woken by `LISTEN`/`NOTIFY`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::StreamExt as _;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{
    Change, Created, RequestState, SCHEMA_VERSION, Store, StoreError, StoredRequest, decode,
    encode, millis,
};
use crate::audit::{AuditRecord, AuditSink};
use crate::{RequestId, Timestamp};

/// A [`Store`] in PostgreSQL: any number of replicas share one database.
///
/// A vote is judged on whichever replica receives it, against the stored
/// state, and written by compare-and-set, so one conclusion wins any race.
/// Each transition sends `NOTIFY` with the request's id only (a hint, never
/// the truth): the replica whose caller waits wakes up and reads the row. A
/// listener that reconnects tells every waiter to read again, and waiters
/// also read on a timer, so a lost notification delays a caller, never
/// loses it.
///
/// Tables live in a schema of their own (`approvals` by default; see
/// [`PostgresStoreBuilder::schema`]), created and migrated at connect, under
/// an advisory lock so that replicas starting together migrate once.
/// Connections use no TLS: put the database on a private network or a local
/// socket proxy.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), approvals_core::store::StoreError> {
/// use approvals_core::store::PostgresStore;
/// let store = PostgresStore::builder("postgres://approvals@db.internal/approvals")
///     .schema("approvals")
///     .connect()
///     .await?;
/// # drop(store); Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    tables: Arc<Tables>,
    changes: broadcast::Sender<Change>,
    _listener: Arc<Listener>,
}

/// The schema-qualified statements of one store.
struct Tables {
    schema: String,
    channel: String,
    select: String,
    select_by_key: String,
    insert: String,
    update: String,
    append: String,
    pending: String,
    due: String,
    release: String,
    drain_lock: String,
    drain_read: String,
    drain_delete: String,
}

impl Tables {
    fn new(schema: &str) -> Self {
        let select = format!("SELECT key, version, review, state FROM {schema}.requests");
        Self {
            schema: schema.to_owned(),
            channel: format!("{schema}_changes"),
            select_by_key: format!("{select} WHERE key = $1"),
            insert: format!(
                "INSERT INTO {schema}.requests (id, key, status, version, deadline_ms, due_ms, created_ms, updated_ms, review, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) ON CONFLICT (key) DO NOTHING"
            ),
            update: format!(
                "UPDATE {schema}.requests SET status = $1, version = version + 1,
                   due_ms = CASE WHEN $2::BIGINT IS NOT NULL AND $2::BIGINT < deadline_ms THEN $2::BIGINT ELSE deadline_ms END,
                   updated_ms = $3, state = $4
                 WHERE id = $5 AND version = $6"
            ),
            append: format!("INSERT INTO {schema}.outbox (request_id, record) VALUES ($1, $2)"),
            pending: format!(
                "{select} WHERE status = 'pending' ORDER BY created_ms, id LIMIT $1"
            ),
            due: format!(
                "SELECT id FROM {schema}.requests WHERE status = 'pending' AND due_ms <= $1 ORDER BY due_ms LIMIT $2"
            ),
            release: format!(
                "UPDATE {schema}.requests SET key = key || '#' || id, version = version + 1 WHERE id = $1 AND version = $2"
            ),
            drain_lock: format!("SELECT pg_advisory_xact_lock(hashtext('{schema}.outbox'))"),
            drain_read: format!("SELECT seq, record FROM {schema}.outbox ORDER BY seq LIMIT 256"),
            drain_delete: format!("DELETE FROM {schema}.outbox WHERE seq = ANY($1)"),
            select: format!("{select} WHERE id = $1"),
        }
    }

    fn migrations(&self) -> [String; 1] {
        let schema = &self.schema;
        [format!(
            "CREATE TABLE {schema}.requests (
                id TEXT PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL,
                version BIGINT NOT NULL,
                deadline_ms BIGINT NOT NULL,
                due_ms BIGINT NOT NULL,
                created_ms BIGINT NOT NULL,
                updated_ms BIGINT NOT NULL,
                review TEXT NOT NULL,
                state TEXT NOT NULL
            );
            CREATE INDEX requests_pending_due ON {schema}.requests (status, due_ms);
            CREATE TABLE {schema}.outbox (
                seq BIGSERIAL PRIMARY KEY,
                request_id TEXT NOT NULL,
                record TEXT NOT NULL
            );"
        )]
    }
}

/// Stops the listener task when the last clone of the store is dropped.
struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Configures a [`PostgresStore`].
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: String,
    pool_size: usize,
    connect_timeout: Duration,
}

impl std::fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// The schema the tables live in (default `approvals`): lowercase ASCII
    /// letters, digits and `_`, starting with a letter or `_`, at most 48
    /// bytes.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// How many connections the pool keeps (default 16).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long connecting, or waiting for a pooled connection, may take
    /// before the operation fails with [`StoreError::Unavailable`]
    /// (default 5 seconds).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects, creates or migrates the schema, and starts listening for
    /// changes made by other replicas.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        if !valid_schema(&self.schema) {
            return Err(StoreError::Invalid {
                message: "a schema name is lowercase ASCII letters, digits and `_`, starting with a letter or `_`, at most 48 bytes".to_owned(),
            });
        }
        let mut config: tokio_postgres::Config =
            self.url.parse().map_err(|_| StoreError::Invalid {
                message: "the PostgreSQL URL could not be parsed".to_owned(),
            })?;
        config.connect_timeout(self.connect_timeout);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .build()
            .map_err(|_| StoreError::Invalid {
                message: "the connection pool could not be built".to_owned(),
            })?;
        let tables = Arc::new(Tables::new(&self.schema));
        migrate(&pool, &tables).await?;
        let changes = broadcast::channel(4096).0;
        let listener = tokio::spawn(listen(config, tables.channel.clone(), changes.clone()));
        Ok(PostgresStore {
            pool,
            tables,
            changes,
            _listener: Arc::new(Listener(listener)),
        })
    }
}

fn valid_schema(schema: &str) -> bool {
    let mut bytes = schema.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && schema.len() <= 48
}

impl PostgresStore {
    /// Configures a store on the database at `url`
    /// (`postgres://user:password@host:port/database`).
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            schema: "approvals".to_owned(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Connects with the default settings (schema `approvals`).
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// Drops the store's schema and everything in it. For tests and for
    /// taking a deployment down for good.
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let client = self.client("drop the schema").await?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.tables.schema
            ))
            .await
            .map_err(unavailable("drop the schema"))
    }

    async fn client(
        &self,
        operation: &'static str,
    ) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable {
                operation,
                message: match error {
                    deadpool_postgres::PoolError::Timeout(_) => {
                        "no connection within the timeout".to_owned()
                    }
                    deadpool_postgres::PoolError::Backend(error) => postgres_message(&error),
                    _ => "no connection could be made".to_owned(),
                },
            })
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.tables.schema)
            .finish_non_exhaustive()
    }
}

/// The error's SQLSTATE or class, never a value from a statement.
fn postgres_message(error: &tokio_postgres::Error) -> String {
    match error.code() {
        Some(code) => format!("SQLSTATE {}", code.code()),
        None if error.is_closed() => "the connection is closed".to_owned(),
        None => "the connection failed".to_owned(),
    }
}

fn unavailable(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| StoreError::Unavailable {
        operation,
        message: postgres_message(&error),
    }
}

async fn migrate(pool: &Pool, tables: &Tables) -> Result<(), StoreError> {
    let failed = unavailable("migrate");
    let mut client = pool.get().await.map_err(|error| StoreError::Unavailable {
        operation: "connect",
        message: match error {
            deadpool_postgres::PoolError::Backend(error) => postgres_message(&error),
            _ => "no connection could be made".to_owned(),
        },
    })?;
    let transaction = client.transaction().await.map_err(&failed)?;
    let schema = &tables.schema;
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("{schema}.migrate")],
        )
        .await
        .map_err(&failed)?;
    transaction
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.approvals_schema (version BIGINT NOT NULL);"
        ))
        .await
        .map_err(&failed)?;
    let found: i64 = transaction
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.approvals_schema"),
            &[],
        )
        .await
        .map_err(&failed)?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, migration) in tables.migrations().iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        if version > found {
            transaction
                .batch_execute(migration)
                .await
                .map_err(&failed)?;
            transaction
                .execute(
                    &format!("INSERT INTO {schema}.approvals_schema (version) VALUES ($1)"),
                    &[&version],
                )
                .await
                .map_err(&failed)?;
        }
    }
    transaction.commit().await.map_err(&failed)
}

/// Listens for the store's notifications on a connection of its own, and
/// reconnects when it is lost; after every (re)connection every waiter is
/// told to read again, since notifications sent meanwhile are lost.
async fn listen(
    config: tokio_postgres::Config,
    channel: String,
    changes: broadcast::Sender<Change>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(notification) = message {
                        if sender.send(notification.payload().to_owned()).is_err() {
                            return;
                        }
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {channel}"))
                .await
                .is_ok()
            {
                backoff = Duration::from_millis(200);
                let _ = changes.send(Change::Resync);
                while let Some(id) = received.recv().await {
                    let _ = changes.send(Change::Request(RequestId::from_string(id)));
                }
            }
            driver.abort();
            drop(client);
        }
        let _ = changes.send(Change::Resync);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn stored(row: &tokio_postgres::Row) -> Result<StoredRequest, StoreError> {
    let corrupt = |what| move |_| StoreError::Corrupt { what };
    let key: String = row.try_get(0).map_err(corrupt("key"))?;
    let version: i64 = row.try_get(1).map_err(corrupt("version"))?;
    let review: String = row.try_get(2).map_err(corrupt("review"))?;
    let state: String = row.try_get(3).map_err(corrupt("state"))?;
    Ok(StoredRequest {
        key,
        review: decode(&review, "review")?,
        state: decode(&state, "state")?,
        version: u64::try_from(version).map_err(|_| StoreError::Corrupt { what: "version" })?,
    })
}

async fn append(
    transaction: &deadpool_postgres::Transaction<'_>,
    statement: &str,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let failed = unavailable("append to the outbox");
    let statement = transaction
        .prepare_cached(statement)
        .await
        .map_err(&failed)?;
    for record in records {
        transaction
            .execute(&statement, &[&record.request_id.as_str(), &encode(record)])
            .await
            .map_err(&failed)?;
    }
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn create(
        &self,
        request: &StoredRequest,
        records: &[AuditRecord],
    ) -> Result<Created, StoreError> {
        let failed = unavailable("create a request");
        let mut client = self.client("create a request").await?;
        let transaction = client.transaction().await.map_err(&failed)?;
        let insert = transaction
            .prepare_cached(&self.tables.insert)
            .await
            .map_err(&failed)?;
        let now = millis(Timestamp::now());
        let inserted = transaction
            .execute(
                &insert,
                &[
                    &request.review.id.as_str(),
                    &request.key,
                    &request.state.status(),
                    &to_i64(request.version),
                    &millis(request.review.deadline),
                    &millis(request.state.next_due(request.review.deadline)),
                    &now,
                    &encode(&request.review),
                    &encode(&request.state),
                ],
            )
            .await
            .map_err(&failed)?;
        if inserted == 0 {
            let row = transaction
                .query_one(&self.tables.select_by_key, &[&request.key])
                .await
                .map_err(&failed)?;
            return Ok(Created::Existing(Box::new(stored(&row)?)));
        }
        append(&transaction, &self.tables.append, records).await?;
        transaction.commit().await.map_err(&failed)?;
        Ok(Created::New)
    }

    async fn load(&self, id: &RequestId) -> Result<Option<StoredRequest>, StoreError> {
        let failed = unavailable("load a request");
        let client = self.client("load a request").await?;
        let statement = client
            .prepare_cached(&self.tables.select)
            .await
            .map_err(&failed)?;
        client
            .query_opt(&statement, &[&id.as_str()])
            .await
            .map_err(&failed)?
            .as_ref()
            .map(stored)
            .transpose()
    }

    async fn update(
        &self,
        id: &RequestId,
        version: u64,
        state: &RequestState,
        records: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        let failed = unavailable("update a request");
        let mut client = self.client("update a request").await?;
        let transaction = client.transaction().await.map_err(&failed)?;
        let update = transaction
            .prepare_cached(&self.tables.update)
            .await
            .map_err(&failed)?;
        let escalation: Option<i64> = state
            .escalation
            .as_ref()
            .map(|escalation| millis(escalation.at));
        let changed = transaction
            .execute(
                &update,
                &[
                    &state.status(),
                    &escalation,
                    &millis(Timestamp::now()),
                    &encode(state),
                    &id.as_str(),
                    &to_i64(version),
                ],
            )
            .await
            .map_err(&failed)?;
        if changed != 1 {
            return Ok(false);
        }
        append(&transaction, &self.tables.append, records).await?;
        transaction
            .execute(
                "SELECT pg_notify($1, $2)",
                &[&self.tables.channel, &id.as_str()],
            )
            .await
            .map_err(&failed)?;
        transaction.commit().await.map_err(&failed)?;
        Ok(true)
    }

    async fn release_key(&self, id: &RequestId, version: u64) -> Result<bool, StoreError> {
        let client = self.client("release a key").await?;
        client
            .execute(&self.tables.release, &[&id.as_str(), &to_i64(version)])
            .await
            .map(|changed| changed == 1)
            .map_err(unavailable("release a key"))
    }

    async fn pending(&self, limit: usize) -> Result<Vec<StoredRequest>, StoreError> {
        let failed = unavailable("list pending requests");
        let client = self.client("list pending requests").await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .query(&self.tables.pending, &[&limit])
            .await
            .map_err(&failed)?
            .iter()
            .map(stored)
            .collect()
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        let failed = unavailable("find due requests");
        let client = self.client("find due requests").await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .query(&self.tables.due, &[&millis(now), &limit])
            .await
            .map_err(&failed)?
            .iter()
            .map(|row| {
                row.try_get::<_, String>(0)
                    .map(RequestId::from_string)
                    .map_err(|_| StoreError::Corrupt { what: "id" })
            })
            .collect()
    }

    async fn drain(&self, sink: &dyn AuditSink) -> Result<usize, StoreError> {
        let failed = unavailable("drain the outbox");
        let mut written = 0;
        loop {
            let mut client = self.client("drain the outbox").await?;
            // The advisory lock makes one drain at a time across replicas;
            // rows are removed in the transaction that wrote them to the
            // sink, so a drain that dies leaves them for the next one.
            let transaction = client.transaction().await.map_err(&failed)?;
            transaction
                .execute(&self.tables.drain_lock, &[])
                .await
                .map_err(&failed)?;
            let rows = transaction
                .query(&self.tables.drain_read, &[])
                .await
                .map_err(&failed)?;
            if rows.is_empty() {
                return Ok(written);
            }
            // The rows read are removed by their numbers, not by a bound:
            // a transaction that took a lower number may commit after this
            // read, and its rows are left for the next drain.
            let seqs = rows
                .iter()
                .map(|row| row.try_get::<_, i64>(0))
                .collect::<Result<Vec<i64>, _>>()
                .map_err(|_| StoreError::Corrupt { what: "seq" })?;
            let records = rows
                .iter()
                .map(|row| {
                    let text: String = row.try_get(1).map_err(|_| StoreError::Corrupt {
                        what: "outbox record",
                    })?;
                    decode::<AuditRecord>(&text, "outbox record")
                })
                .collect::<Result<Vec<_>, _>>()?;
            sink.record_all(&records).await?;
            written += records.len();
            transaction
                .execute(&self.tables.drain_delete, &[&seqs])
                .await
                .map_err(&failed)?;
            transaction.commit().await.map_err(&failed)?;
        }
    }

    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        Some(self.changes.subscribe())
    }
}
