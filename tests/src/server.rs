//! A real CRM server on an ephemeral port with a fresh database, on SQLite or
//! PostgreSQL, and a small GraphQL client for it.
//!
//! PostgreSQL runs at `CRM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each server gets its own
//! fresh database. When PostgreSQL is unreachable the PostgreSQL variant of a
//! test FAILS (it never skips).

use crm_core::Crm;
use crm_host::app::{App, Config};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The data key of PostgreSQL test servers (SQLite ones make a key file).
pub const TEST_DATA_KEY: &str = "5f3c0e9a1b7d2c4e6a8f0b1d3e5c7a9b2d4f6e8a0c1b3d5e7f9a2c4e6b8d0f1a";

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: App,
    /// The demo-free tenant created for the test, and its admin key.
    pub tenant: uuid::Uuid,
    pub admin_key: String,
    /// SQL statements executed so far (for N+1 tests).
    pub queries: Arc<AtomicU64>,
    pub http: reqwest::Client,
    pub backend: Backend,
    pub database_url: String,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop (no extra dependency).
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("CRM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Create a fresh PostgreSQL database and return its URL. Panics (failing the
/// test) when PostgreSQL is unreachable.
pub async fn fresh_postgres() -> String {
    use sea_orm::ConnectionTrait;
    let admin = postgres_admin_url();
    let db = sea_orm::Database::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable ({e}); start it (see README) — tests never skip it"));
    let name = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.clone());
    format!("{base}/{name}")
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, None).await
    }

    /// Start with an optional clock (for time-dependent behaviour).
    pub async fn start_with(
        backend: Backend,
        clock: Option<Arc<dyn crm_core::Clock>>,
    ) -> TestServer {
        Self::start_opts(backend, clock, true).await
    }

    /// Start with an optional clock and with or without the background job
    /// runner (tests of the queue drive it with [`TestServer::drain`]).
    pub async fn start_opts(
        backend: Backend,
        clock: Option<Arc<dyn crm_core::Clock>>,
        run_jobs: bool,
    ) -> TestServer {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("crm-test-{}", uuid::Uuid::now_v7().simple()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                (
                    format!("sqlite://{}", dir.join("crm.db").display()),
                    Some(TempDir(dir)),
                )
            }
            Backend::Postgres => (fresh_postgres().await, None),
        };
        let mut db = crm_core::service::connect_db(&url).await.expect("connect");
        let queries = Arc::new(AtomicU64::new(0));
        let q = queries.clone();
        let log_sql = std::env::var_os("CRM_TEST_LOG_SQL").is_some();
        db.set_metric_callback(move |info| {
            q.fetch_add(1, Ordering::Relaxed);
            if log_sql {
                eprintln!("SQL {}", info.statement.sql);
            }
        });
        crm_core::service::migrate(&db).await.expect("migrate");
        // As `Crm::connect` does: a key file beside a SQLite database; the
        // PostgreSQL tests stand for a deployment that sets CRM_DATA_KEY.
        let key = match crm_core::secrets::DataKey::file_for_url(&url) {
            Some(file) => crm_core::secrets::DataKey::from_env_or_file(Some(file)),
            None => crm_core::secrets::DataKey::from_hex(TEST_DATA_KEY),
        };
        let mut crm = Crm::new(db).with_data_key(key);
        if let Some(c) = clock {
            crm = crm.with_clock(c);
        }
        let cache = std::env::temp_dir().join("crm-test-plugin-cache");
        let mut cfg = Config {
            database_url: url.clone(),
            plugin_cache_dir: cache,
            ..Config::default()
        };
        cfg.jobs.enabled = run_jobs;
        let app = App::with_crm(crm.clone(), &cfg).await.expect("app");
        let addr = app.clone().spawn().await.expect("spawn");
        let (t, key) = crm_core::tenant::create_tenant(&crm, "Test Co", "CN")
            .await
            .expect("tenant");
        TestServer {
            addr,
            app,
            tenant: t.id,
            admin_key: key,
            queries,
            http: reqwest::Client::new(),
            backend,
            database_url: url,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// POST a GraphQL request with `key`; returns the whole JSON response.
    pub async fn gql_as(&self, key: &str, query: &str, variables: Value) -> Value {
        self.http
            .post(self.url())
            .bearer_auth(key)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json response")
    }

    /// POST as the tenant admin.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(&self.admin_key, query, variables).await
    }

    /// POST as admin and expect no errors; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let r = self.gql(query, variables).await;
        assert!(r.get("errors").is_none(), "unexpected errors: {r}");
        r["data"].clone()
    }

    /// Run the dispatcher, the scheduler and a worker until nothing is due
    /// (at the current clock). Returns the number of jobs run.
    pub async fn drain(&self) -> usize {
        let crm = &self.app.crm;
        let mut total = 0;
        crm_core::automation::schedule_once(crm)
            .await
            .expect("schedule");
        for _ in 0..50 {
            let d = crm_core::automation::dispatch_once(crm, 500)
                .await
                .expect("dispatch");
            let w = crm_core::automation::work_once(
                crm,
                "test-worker",
                chrono::Duration::seconds(30),
                100,
            )
            .await
            .expect("work");
            total += w;
            if d == 0 && w == 0 {
                break;
            }
        }
        total
    }

    /// Create a user (`role`: ADMIN, MANAGER, SALES, SUPPORT, READ_ONLY) reporting to `manager`; returns its id.
    pub async fn user(&self, name: &str, role: &str, manager: Option<&str>) -> String {
        let email = format!("{}@test.invalid", name.to_lowercase().replace(' ', "."));
        let d = self
            .ok(
                "mutation($i: UserInput!) { createUser(input: $i) { id } }",
                json!({"i": {"name": name, "email": email, "role": role, "managerId": manager}}),
            )
            .await;
        d["createUser"]["id"].as_str().expect("id").to_string()
    }

    /// Tasks assigned to `assignee` (title, description, dueAt, createdAt, recordId).
    pub async fn tasks_of(&self, assignee: &str) -> Vec<Value> {
        let d = self
            .ok(
                "query($a: ID!) { tasks(first: 50, filter: {assigneeId: {eq: $a}}) { edges { node { title description dueAt createdAt recordId } } } }",
                json!({"a": assignee}),
            )
            .await;
        d["tasks"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e["node"].clone())
            .collect()
    }

    /// Create another tenant; returns its admin key.
    pub async fn other_tenant(&self, name: &str) -> String {
        crm_core::tenant::create_tenant(&self.app.crm, name, "US")
            .await
            .expect("tenant")
            .1
    }

    /// An API key of `role` (`SALES`, `READ_ONLY`, ...) in the test tenant.
    pub async fn key_with_role(&self, role: &str) -> String {
        let d = self
            .ok(
                "mutation($r: Role!) { createApiKey(input: {name: \"k\", role: $r}) { key } }",
                json!({"r": role}),
            )
            .await;
        d["createApiKey"]["key"].as_str().expect("key").to_string()
    }
}

/// The first error's `extensions.code`, or "" when there is none.
pub fn error_code(r: &Value) -> String {
    r["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Run one async test body against both backends:
/// `both_backends!(name, |srv| async move { ... });` defines `name_sqlite` and `name_postgres`.
/// `both_backends!(no_runner name, body)` starts the servers without their
/// job runner: the test runs queued jobs itself with `srv.drain()`.
#[macro_export]
macro_rules! both_backends {
    (no_runner $name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let srv = $crate::server::TestServer::start_opts(
                    $crate::server::Backend::Sqlite,
                    None,
                    false,
                )
                .await;
                ($body)(srv).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let srv = $crate::server::TestServer::start_opts(
                    $crate::server::Backend::Postgres,
                    None,
                    false,
                )
                .await;
                ($body)(srv).await;
            }
        }
    };
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let srv = $crate::server::TestServer::start($crate::server::Backend::Sqlite).await;
                ($body)(srv).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let srv =
                    $crate::server::TestServer::start($crate::server::Backend::Postgres).await;
                ($body)(srv).await;
            }
        }
    };
}
