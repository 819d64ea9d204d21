//! The job runner of a `crm serve` process: the outbox dispatcher, the
//! scheduler and the workers, looping over [`crm_core::automation`]'s single
//! passes. On PostgreSQL every process runs them against the shared queue;
//! `NOTIFY crm_events` (sent by each committed event) wakes the dispatcher of
//! every process at once, so event-to-handler latency does not wait for a poll.

use crm_core::Crm;
use crm_core::automation;
use std::sync::Arc;
use std::time::Duration;

/// Runner settings (part of [`crate::app::Config`]).
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Run dispatcher, scheduler and workers in this process. Env: `CRM_JOBS` (`0` to disable).
    pub enabled: bool,
    /// A claimed job's lease; a job whose worker died is retried after it.
    pub lease: Duration,
    /// Lanes run at once: a plugin's jobs in a tenant run one after the
    /// other in one lane, every other job is a lane of its own.
    pub batch: u64,
    /// Idle poll interval.
    pub poll: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            enabled: true,
            lease: Duration::from_secs(60),
            batch: 16,
            poll: Duration::from_millis(200),
        }
    }
}

/// A unique worker name: host, process id and a random suffix.
pub fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "crm".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::now_v7().simple().to_string()[24..]
    )
}

/// Start the loops; they stop with the process.
pub fn spawn(crm: Crm, cfg: RunnerConfig) {
    if !cfg.enabled {
        return;
    }
    let wake = Arc::new(tokio::sync::Notify::new());
    spawn_listener(&crm, wake.clone());
    let worker = worker_id();
    tracing::info!(%worker, "job runner started");
    // Dispatcher + workers in one loop: dispatch what committed, then start
    // what is due in the free lanes; wake on an event, a lane finishing or
    // the poll interval.
    {
        let crm = crm.clone();
        let wake = wake.clone();
        let lease = chrono::Duration::from_std(cfg.lease).unwrap_or(chrono::Duration::seconds(60));
        let mut runner = automation::Runner::new(crm.clone(), worker, lease, cfg.batch as usize);
        tokio::spawn(async move {
            loop {
                let woken = wake.notified();
                let local = crm.outbox_nudge.notified();
                let dispatched = automation::dispatch_once(&crm, 200)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "dispatcher pass failed");
                        0
                    });
                let started = runner.fill().await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "worker pass failed");
                    0
                });
                if dispatched > 0 || started > 0 {
                    continue;
                }
                tokio::select! {
                    _ = woken => {}
                    _ = local => {}
                    _ = runner.lane_done() => {}
                    _ = tokio::time::sleep(cfg.poll) => {}
                }
            }
        });
    }
    // Scheduler: cheap, idempotent, every 15 s.
    tokio::spawn(async move {
        loop {
            if let Err(e) = automation::schedule_once(&crm).await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
            tokio::time::sleep(Duration::from_secs(15)).await;
        }
    });
}

/// On PostgreSQL, LISTEN for committed events of any process.
pub fn spawn_listener(crm: &Crm, wake: Arc<tokio::sync::Notify>) {
    if crm.backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let pool = crm.db.get_postgres_connection_pool().clone();
    let nudge = crm.outbox_nudge.clone();
    tokio::spawn(async move {
        loop {
            match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut l) => {
                    if let Err(e) = l.listen("crm_events").await {
                        tracing::warn!(error = %e, "LISTEN crm_events failed");
                    } else {
                        while l.recv().await.is_ok() {
                            wake.notify_waiters();
                            nudge.notify_waiters();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot open a LISTEN connection"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
