//! The service context every command runs with.

use crate::error::Result;
use crate::plugin_api::{NoPlugins, PluginHooks};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Source of "now", replaceable in tests (SLA timers, recency rules).
pub trait Clock: Send + Sync {
    fn now(&self) -> crate::Timestamp;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> crate::Timestamp {
        chrono::Utc::now()
    }
}

/// A clock tests move by hand.
pub struct ManualClock(RwLock<crate::Timestamp>);

impl ManualClock {
    pub fn new(at: crate::Timestamp) -> Self {
        ManualClock(RwLock::new(at))
    }
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.write() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> crate::Timestamp {
        self.0
            .read()
            .map(|t| *t)
            .unwrap_or_else(|e| *e.into_inner())
    }
}

/// Handle on the CRM's domain services: database, plugin hooks, clock and the
/// outbox nudge. Cheap to clone.
#[derive(Clone)]
pub struct Crm {
    pub db: DatabaseConnection,
    pub hooks: Arc<RwLock<Arc<dyn PluginHooks>>>,
    pub clock: Arc<dyn Clock>,
    /// Woken after every commit that wrote events, so the relay publishes at once.
    pub outbox_nudge: Arc<tokio::sync::Notify>,
    /// SQLite only: the process's writers take turns here (see [`Crm::write_gate`]).
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Seals and opens sensitive custom field values ([`crate::secrets`]).
    pub data_key: Arc<crate::secrets::DataKey>,
}

/// How long a writer waits for its turn before giving up, as SQLite's own
/// busy timeout does.
const GATE_TIMEOUT: Duration = Duration::from_secs(10);

/// A write transaction: on SQLite it also holds the process's write gate
/// until it commits or is dropped. Use it wherever a connection is expected.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> std::result::Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> std::result::Result<(), sea_orm::DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = sea_orm::DatabaseTransaction;
    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(
        &self,
        stmt: sea_orm::Statement,
    ) -> std::result::Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(
        &self,
        sql: &str,
    ) -> std::result::Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(
        &self,
        stmt: sea_orm::Statement,
    ) -> std::result::Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(
        &self,
        stmt: sea_orm::Statement,
    ) -> std::result::Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

impl Crm {
    /// Connect to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and run pending migrations.
    /// Connect to `url` and migrate. The data key is `CRM_DATA_KEY`, else
    /// (SQLite file) the key file beside the database ([`crate::secrets`]).
    pub async fn connect(url: &str) -> Result<Self> {
        let db = connect_db(url).await?;
        migrate(&db).await?;
        let key =
            crate::secrets::DataKey::from_env_or_file(crate::secrets::DataKey::file_for_url(url));
        key.check().map_err(crate::error::CoreError::Internal)?;
        Ok(Crm::new(db).with_data_key(key))
    }

    /// This CRM with data key `key`.
    pub fn with_data_key(mut self, key: crate::secrets::DataKey) -> Self {
        self.data_key = Arc::new(key);
        self
    }

    pub fn new(db: DatabaseConnection) -> Self {
        let gate = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Crm {
            gate,
            db,
            hooks: Arc::new(RwLock::new(Arc::new(NoPlugins))),
            clock: Arc::new(SystemClock),
            outbox_nudge: Arc::new(tokio::sync::Notify::new()),
            data_key: Arc::new(crate::secrets::DataKey::from_env_or_file(None)),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Install the plugin runtime (the host does this once at start-up).
    pub fn set_hooks(&self, hooks: Arc<dyn PluginHooks>) {
        if let Ok(mut h) = self.hooks.write() {
            *h = hooks;
        }
    }

    pub fn hooks(&self) -> Arc<dyn PluginHooks> {
        self.hooks
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn now(&self) -> crate::Timestamp {
        self.clock.now()
    }

    /// Begin a command's transaction. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads before it
    /// writes fails with SQLITE_BUSY when another writer commits in between,
    /// while an immediate one simply waits its turn (busy_timeout).
    ///
    /// On SQLite the transaction first takes the process's write gate, so
    /// writers queue in order and each starts the moment the one before it
    /// commits; left to SQLite they would poll the lock, sleeping 1, 2, 5,
    /// 10 ms... between tries, which made most of a write's latency whenever
    /// two writes met (a create and the outbox dispatcher, say).
    pub async fn write_txn(&self) -> Result<WriteTxn> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        let gate = self.write_gate().await?;
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn { txn, _gate: gate })
    }

    /// Wait for this process's turn to write to SQLite (`None` on
    /// PostgreSQL, which has row locks). Hold the guard across a single
    /// autocommit write; [`Crm::write_txn`] takes it for a transaction. A
    /// holder must not wait for the gate again: it is not re-entrant.
    pub async fn write_gate(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        let Some(gate) = &self.gate else {
            return Ok(None);
        };
        match tokio::time::timeout(GATE_TIMEOUT, gate.clone().lock_owned()).await {
            Ok(guard) => Ok(Some(guard)),
            Err(_) => Err(crate::error::CoreError::Db(sea_orm::DbErr::Custom(
                format!(
                    "the database stayed busy for {} s; retry the request",
                    GATE_TIMEOUT.as_secs()
                ),
            ))),
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }
}

/// Open a connection pool. SQLite files are created if missing and run in WAL mode.
pub async fn connect_db(url: &str) -> Result<DatabaseConnection> {
    let mut url = url.to_string();
    let sqlite = url.starts_with("sqlite:");
    if sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        url.push_str(if url.contains('?') {
            "&mode=rwc"
        } else {
            "?mode=rwc"
        });
    }
    let memory = url.contains(":memory:");
    let mut opts = ConnectOptions::new(url);
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30));
    if memory {
        // Every connection to `sqlite::memory:` is its own database: keep exactly one.
        opts.max_connections(1).min_connections(1);
    } else if sqlite {
        // SQLite has one writer; a small pool avoids lock convoys while WAL lets readers proceed.
        opts.max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // Read pages through a shared memory map instead of a
                    // pread() per page, and keep more of them per connection
                    // (the default cache is 2 MB): bulk reads such as a
                    // rescore of every contact are several times faster.
                    .pragma("mmap_size", "268435456")
                    .pragma("cache_size", "-32768")
            });
    } else {
        opts.max_connections(32).min_connections(2);
    }
    let db = Database::connect(opts).await?;
    Ok(db)
}

/// Apply every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    use crm_migrations::MigratorTrait;
    crm_migrations::Migrator::up(db, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_file() -> (Crm, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("crm-gate-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        (Crm::connect(&url).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn sqlite_writers_wait_for_the_gate_and_get_it_at_commit() {
        let (crm, dir) = sqlite_file().await;
        let txn = crm.write_txn().await.unwrap();
        // Another writer waits while the transaction is open...
        let waiting = tokio::time::timeout(Duration::from_millis(50), crm.write_gate()).await;
        assert!(
            waiting.is_err(),
            "the gate must be held by the open transaction"
        );
        // ...and gets its turn as soon as it commits.
        let crm2 = crm.clone();
        let next = tokio::spawn(async move { crm2.write_txn().await.map(|_| ()) });
        txn.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the next writer starts after the commit")
            .unwrap()
            .unwrap();
        // A dropped (rolled back) transaction releases it too.
        drop(crm.write_txn().await.unwrap());
        assert!(crm.write_gate().await.unwrap().is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn concurrent_sqlite_writes_all_commit() {
        use sea_orm::ConnectionTrait;
        let (crm, dir) = sqlite_file().await;
        crm.db
            .execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let crm = crm.clone();
                tokio::spawn(async move {
                    let txn = crm.write_txn().await?;
                    txn.execute_unprepared(&format!("INSERT INTO t VALUES ({i})"))
                        .await?;
                    txn.commit().await?;
                    Ok::<_, crate::CoreError>(())
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n = crm
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(n, 32);
        let _ = std::fs::remove_dir_all(dir);
    }
}
