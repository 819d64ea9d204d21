//! The seam between domain services and the plugin runtime.
//!
//! `core` knows nothing of wasm: it calls plugins through [`PluginHooks`],
//! which the host implements with its wasmtime runtime. Services call
//! `validate` inside a write (before anything is written), `score_in_txn`
//! in the write's transaction before it commits, and `after_commit` (or
//! `after_write`) once it has committed.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Entities plugins can be attached to, by their manifest name.
pub const PLUGGABLE_ENTITIES: &[&str] = &[
    "contact", "company", "deal", "activity", "task", "ticket", "product", "order",
];

/// A problem a plugin found with one field of a candidate record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginFieldError {
    /// GraphQL path of the field (`email`, `customFields.vin`).
    pub path: String,
    /// Machine-readable code chosen by the plugin (`INVALID_PHONE`).
    pub code: String,
    pub message: String,
}

/// The outcome of one plugin validating one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    Accept,
    /// Replace each `(path, value)`; paths are GraphQL field names, dotted for nesting.
    Patch(Vec<(String, serde_json::Value)>),
    Reject(Vec<PluginFieldError>),
}

/// One score computed by a plugin for one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreValue {
    pub name: String,
    /// Clamped to 0..=100 by the host.
    pub value: u8,
    pub grade: Option<String>,
    pub reasons: Vec<String>,
}

/// Why a plugin call failed as a whole (trap, timeout, budget, bad output, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("plugin {plugin} failed ({code}): {message}")]
pub struct PluginFailure {
    pub plugin: String,
    /// `TIMEOUT`, `FUEL_EXHAUSTED`, `MEMORY_LIMIT`, `TRAP`, `OUTPUT_TOO_LARGE`,
    /// `BAD_OUTPUT`, `PLUGIN_ERROR`, `SUSPENDED`, ...
    pub code: String,
    pub message: String,
}

/// Rejection of a write by a plugin validate hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRejection {
    pub plugin: String,
    pub errors: Vec<PluginFieldError>,
}

/// What validating a candidate record produced.
#[derive(Debug)]
pub enum ValidateOutcome {
    /// The (possibly patched) record may be written.
    Accepted,
    Rejected(PluginRejection),
    /// A fail-closed plugin failed: the write must not happen.
    Failed(PluginFailure),
}

/// How the records handed to [`PluginHooks::score_in_txn`] were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Created by this transaction: nothing else references them yet (no
    /// activity, deal or ticket can point at a record that did not exist),
    /// so what is aggregated over such rows is known to be empty and need
    /// not be read.
    Created,
    /// Existing records changed by this transaction.
    Updated,
}

/// The (plugin, score function) pairs that ran inside a write's transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScoredInTxn(pub Vec<(String, String)>);

impl ScoredInTxn {
    /// Whether score function `function` of plugin `plugin` ran.
    pub fn contains(&self, plugin: &str, function: &str) -> bool {
        self.0.iter().any(|(p, f)| p == plugin && f == function)
    }
}

/// Implemented by the host's plugin runtime; services hold it as `Arc<dyn PluginHooks>`.
#[async_trait::async_trait]
pub trait PluginHooks: Send + Sync {
    /// Run every enabled validate function for `entity` of `tenant` over the
    /// candidate `record` (GraphQL-shaped JSON), applying patches in place.
    async fn validate(
        &self,
        tenant: Uuid,
        entity: &'static str,
        record: &mut serde_json::Value,
    ) -> ValidateOutcome;

    /// Records of `entity` were written and committed: run scorers over them.
    /// Failures are recorded by the runtime, never returned to the writer.
    async fn after_write(&self, tenant: Uuid, entity: &'static str, ids: &[Uuid]);

    /// Records of `entity` were written in `txn`, not yet committed: run the
    /// scorers whose input can be read inside the transaction and store their
    /// scores in it, so a record and its scores commit together. Failures are
    /// recorded, never returned: the write goes ahead. What was done goes to
    /// [`PluginHooks::after_commit`]. `written` says whether the records
    /// were created or updated.
    async fn score_in_txn(
        &self,
        _txn: &crate::WriteTxn,
        _tenant: Uuid,
        _entity: &'static str,
        _ids: &[Uuid],
        _written: Written,
    ) -> ScoredInTxn {
        ScoredInTxn::default()
    }

    /// The write committed: run the scorers [`PluginHooks::score_in_txn`]
    /// left (`done` lists those it ran).
    async fn after_commit(
        &self,
        tenant: Uuid,
        entity: &'static str,
        ids: &[Uuid],
        done: &ScoredInTxn,
    ) {
        if done.0.is_empty() {
            self.after_write(tenant, entity, ids).await;
        }
    }

    /// (plugin, handler) pairs of the tenant's enabled plugins subscribed to event `kind`.
    async fn subscribers(&self, _tenant: Uuid, _kind: &str) -> Vec<(String, String)> {
        vec![]
    }

    /// Schedules of every tenant's enabled plugins.
    async fn schedules(&self) -> Vec<ScheduleSpec> {
        vec![]
    }

    /// Run a plugin's on-event handler (from the job queue).
    async fn on_event(
        &self,
        _tenant: Uuid,
        plugin: &str,
        _handler: &str,
        _event: &serde_json::Value,
    ) -> Result<(), PluginFailure> {
        Err(no_runtime(plugin))
    }

    /// Run a plugin's on-webhook handler for a queued delivery (from the job
    /// queue; `request` is the JSON [`crate::webhook::accept`] stored).
    async fn on_webhook(
        &self,
        _tenant: Uuid,
        plugin: &str,
        _webhook: &str,
        _request: &serde_json::Value,
    ) -> Result<(), PluginFailure> {
        Err(no_runtime(plugin))
    }

    /// Run a plugin's on-schedule handler (from the job queue).
    async fn on_schedule(
        &self,
        _tenant: Uuid,
        plugin: &str,
        _schedule: &str,
    ) -> Result<(), PluginFailure> {
        Err(no_runtime(plugin))
    }

    /// Re-run a plugin's scorers over every record of `tenant` (a queued
    /// `plugin.rescore` job), calling `progress(done, total)` after each
    /// batch; returns the report (`records`, `scored`, `failedBatches`,
    /// `durationMs`).
    async fn rescore(
        &self,
        _tenant: Uuid,
        plugin: &str,
        _progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<serde_json::Value, PluginFailure> {
        Err(no_runtime(plugin))
    }

    /// Run a plugin's validate functions over stored records as `p` (the
    /// `plugin.check` job): `request` holds `plugin`, `entity`, `apply` and
    /// `configPatch` as `checkRecords` takes them; returns the report.
    async fn check_records(
        &self,
        _p: &crate::Principal,
        request: &serde_json::Value,
        _progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<serde_json::Value, PluginFailure> {
        Err(no_runtime(
            request
                .get("plugin")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default(),
        ))
    }

    /// Run a plugin action and return its JSON result.
    async fn action(
        &self,
        _tenant: Uuid,
        plugin: &str,
        _action: &str,
        _input: serde_json::Value,
    ) -> Result<serde_json::Value, PluginFailure> {
        Err(no_runtime(plugin))
    }
}

/// A cron schedule declared by an enabled plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub tenant: Uuid,
    pub plugin: String,
    pub name: String,
    /// 5-field cron, UTC.
    pub cron: String,
}

fn no_runtime(plugin: &str) -> PluginFailure {
    PluginFailure {
        plugin: plugin.to_string(),
        code: "UNAVAILABLE".into(),
        message: "no plugin runtime in this process".into(),
    }
}

/// Hooks that do nothing: used when no plugin runtime is configured.
pub struct NoPlugins;

#[async_trait::async_trait]
impl PluginHooks for NoPlugins {
    async fn validate(
        &self,
        _: Uuid,
        _: &'static str,
        _: &mut serde_json::Value,
    ) -> ValidateOutcome {
        ValidateOutcome::Accepted
    }
    async fn after_write(&self, _: Uuid, _: &'static str, _: &[Uuid]) {}
}
