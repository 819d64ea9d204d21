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
}

impl Crm {
    /// Connect to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and run pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let db = connect_db(url).await?;
        migrate(&db).await?;
        Ok(Crm::new(db))
    }

    pub fn new(db: DatabaseConnection) -> Self {
        Crm {
            db,
            hooks: Arc::new(RwLock::new(Arc::new(NoPlugins))),
            clock: Arc::new(SystemClock),
            outbox_nudge: Arc::new(tokio::sync::Notify::new()),
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
    pub async fn write_txn(&self) -> Result<sea_orm::DatabaseTransaction> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        Ok(self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?)
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
