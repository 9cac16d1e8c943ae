//! The stores the lifecycle suite runs against: the gate's own memory (no
//! store), `MemoryStore`, SQLite in a temporary file, and PostgreSQL in a
//! schema of its own (dropped after the test) on the server named by
//! `APPROVALS_TEST_POSTGRES`.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use approvals::GateBuilder;
use approvals::store::{MemoryStore, PostgresStore, SqliteStore};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "APPROVALS_TEST_POSTGRES";

/// Which store a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No store: the gate's own memory.
    Unstored,
    Memory,
    Sqlite,
    Postgres,
}

/// A store made for one test, removed when dropped.
pub enum Backend {
    Unstored,
    Memory(MemoryStore),
    Sqlite {
        store: SqliteStore,
        path: PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres {
        store: PostgresStore,
        url: String,
        schema: String,
    },
}

/// The PostgreSQL URL for tests, or `None` (and a line saying the test is
/// skipped, and why) when it is not set.
#[allow(clippy::print_stderr)] // a skipped test must say so, and why
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped {test}: {POSTGRES_ENV} is not set (e.g. postgres://postgres@127.0.0.1:5432/test); CI sets it"
            );
            None
        }
    }
}

/// A schema name no other test uses.
pub fn fresh_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "approvals_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0)
    )
}

impl Backend {
    /// The backend of `kind`, or `None` when it cannot run here (PostgreSQL
    /// without its variable).
    pub async fn new(kind: Kind, test: &str) -> Option<Self> {
        Some(match kind {
            Kind::Unstored => Backend::Unstored,
            Kind::Memory => Backend::Memory(MemoryStore::new()),
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path = dir.path().join("approvals.db");
                let store = SqliteStore::open(&path)
                    .await
                    .expect("the SQLite store opens");
                Backend::Sqlite {
                    store,
                    path,
                    _dir: dir,
                }
            }
            Kind::Postgres => {
                let url = postgres_url(test)?;
                let schema = fresh_schema();
                let store = PostgresStore::builder(&url)
                    .schema(&schema)
                    .pool_size(8)
                    .connect()
                    .await
                    .expect("the PostgreSQL store connects");
                Backend::Postgres { store, url, schema }
            }
        })
    }

    /// Whether requests outlive the gate (a store is set).
    /// The backend's store (none without one).
    pub fn store(&self) -> std::sync::Arc<dyn approvals::store::Store> {
        match self {
            Backend::Unstored => panic!("no store"),
            Backend::Memory(store) => std::sync::Arc::new(store.clone()),
            Backend::Sqlite { store, .. } => std::sync::Arc::new(store.clone()),
            Backend::Postgres { store, .. } => std::sync::Arc::new(store.clone()),
        }
    }

    pub fn stored(&self) -> bool {
        !matches!(self, Backend::Unstored)
    }

    /// Sets this backend's store on a gate builder, waking waiters quickly.
    pub fn on<S>(&self, builder: GateBuilder<S>) -> GateBuilder<S> {
        let builder = builder
            .store_poll_interval(Duration::from_millis(50))
            .sweep_interval(Duration::from_millis(50));
        match self {
            Backend::Unstored => builder,
            Backend::Memory(store) => builder.store(store.clone()),
            Backend::Sqlite { store, .. } => builder.store(store.clone()),
            Backend::Postgres { store, .. } => builder.store(store.clone()),
        }
    }

    /// A second handle on the same stored requests, as a restarted process
    /// or another replica has (the SQLite file opened again, a new
    /// PostgreSQL pool).
    pub async fn reopen(&self) -> Self {
        match self {
            Backend::Unstored => Backend::Unstored,
            Backend::Memory(store) => Backend::Memory(store.clone()),
            Backend::Sqlite { path, .. } => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                Backend::Sqlite {
                    store: SqliteStore::open(path)
                        .await
                        .expect("the SQLite store reopens"),
                    path: path.clone(),
                    _dir: dir,
                }
            }
            Backend::Postgres { url, schema, .. } => Backend::Postgres {
                store: PostgresStore::builder(url)
                    .schema(schema)
                    .connect()
                    .await
                    .expect("the PostgreSQL store reconnects"),
                url: url.clone(),
                schema: schema.clone(),
            },
        }
    }

    /// Removes what the backend made (PostgreSQL: its schema).
    pub async fn finish(self) {
        if let Backend::Postgres { store, .. } = self {
            store
                .drop_schema()
                .await
                .expect("the test schema is dropped");
        }
    }
}

/// Generates one test per backend for each case: `case(kind)` is an
/// `async fn(Kind)`.
#[macro_export]
macro_rules! each_store {
    ($($case:ident),* $(,)?) => {
        mod unstored {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Unstored).await;
                }
            )*
        }
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Postgres).await;
                }
            )*
        }
    };
}

/// Generates one test per store (no store-less gate) for each case.
#[macro_export]
macro_rules! each_durable_store {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Postgres).await;
                }
            )*
        }
    };
}

/// Generates one test per database store (SQLite, PostgreSQL) for each
/// case, in a module of its own.
#[macro_export]
macro_rules! each_database {
    ($($case:ident),* $(,)?) => {
        mod database_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Sqlite).await;
                }
            )*
        }
        mod database_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::$case($crate::stores::backend::Kind::Postgres).await;
                }
            )*
        }
    };
}
