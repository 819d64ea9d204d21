//! Real `crm serve` processes for multi-process tests (shared queue, killed
//! workers, cross-process events). The binary is `target/debug/crm`, built by
//! `scripts/test` before the tests run (or on demand here).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `crm serve` child process, killed on drop.
pub struct CrmProcess {
    pub child: Child,
    pub addr: SocketAddr,
    _dir: crate::server::TempDir,
}

impl Drop for CrmProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `crm` binary, built if missing.
pub fn crm_binary() -> PathBuf {
    let bin = crate::wasm::target_dir().join("debug/crm");
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(crate::wasm::workspace_root())
            .args(["build", "--quiet", "-p", "crm-host", "--bin", "crm"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the crm binary failed");
    }
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl CrmProcess {
    /// Start `crm serve` on `database_url` with a job lease of `lease_secs`; waits for /healthz.
    pub async fn start(database_url: &str, lease_secs: u64) -> CrmProcess {
        let dir = std::env::temp_dir().join(format!("crm-proc-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let child = Command::new(crm_binary())
            .current_dir(&dir)
            .args(["serve", "--listen", &addr.to_string()])
            .env("CRM_DATABASE_URL", database_url)
            .env("CRM_PLUGIN_CACHE", dir.join("cache"))
            .env("CRM_JOB_LEASE_SECS", lease_secs.to_string())
            .env("CRM_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start crm serve");
        let p = CrmProcess {
            child,
            addr,
            _dir: crate::server::TempDir(dir),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("http://{addr}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "crm serve did not become healthy on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p
    }

    /// SIGKILL: the process dies mid-work, without any clean-up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database URL for `backend` plus its temp dir (SQLite) to keep alive.
pub async fn fresh_database(
    backend: crate::server::Backend,
) -> (String, Option<crate::server::TempDir>) {
    match backend {
        crate::server::Backend::Postgres => (crate::server::fresh_postgres().await, None),
        crate::server::Backend::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("crm-db-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            (
                format!("sqlite://{}", dir.join("crm.db").display()),
                Some(crate::server::TempDir(dir)),
            )
        }
    }
}
