//! The glue between the domain and the wasm runtime: which plugins run for a
//! tenant, building their input, applying their decisions, running their
//! handlers (events, schedules, actions) with a host API bound to the
//! plugin's own principal, recording runs, suspending plugins that keep
//! failing, and plugin lifecycle for GraphQL/CLI.
//!
//! A plugin's authority in a tenant is [`Grants`]: what its manifest asks for
//! intersected with what the operator granted (`enablePlugin(grants:)`,
//! everything asked for when omitted). Its GraphQL principal carries exactly
//! those scopes.
//!
//! Architecture invariant: every process reads the installed set and the
//! tenant enablements from the database on each call, so install, upgrade,
//! enable and uninstall take effect everywhere without a restart. Compiled
//! components are cached by content hash; a call holds an `Arc` to the
//! version it started with, so an upgrade never disturbs calls in flight.

use crate::app::Config;
use crate::plugin::{
    CallContext, FailurePolicy, FunctionDecl, FunctionKind, Grants, HandlerContext, HostApi,
    HostError, HttpRequest, HttpResponse, Invocation, LoadedPlugin, Manifest, OutboundHttp,
    PluginRuntime, RuntimeConfig, host_codes,
};
use crm_core::plugin_api::{
    Decision, PluginFailure, PluginHooks, PluginRejection, ScheduleSpec, ScoredInTxn,
    ValidateOutcome, Written,
};
use crm_core::plugin_store::{self, RunRecord, ScoreCause};
use crm_core::{Crm, Principal};
use crm_graphql::{CrmSchema, InputPlan, PluginAdmin, PluginAdminError, PluginInfo, RescoreReport};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Instant;
use uuid::Uuid;

mod check;
mod preview;
mod trial;

/// `store_batch` with no transaction: the scores get one of their own.
const NO_TXN: Option<&sea_orm::DatabaseConnection> = None;

/// Where a plugin call runs (it blocks: wasm under fuel and a deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallOn {
    /// On the calling thread, for the small calls on a write's path
    /// (validate, scoring in the write's transaction): with
    /// `block_in_place` the worker's other tasks move to another thread
    /// meanwhile, and the call skips the hop to the blocking pool and back,
    /// which costs as much as a one-record call itself.
    Caller,
    /// On the blocking pool, for bulk work whose task overlaps stages
    /// (rescore) and must not be blocked.
    Pool,
}

/// Run blocking plugin call `f` as `on` says. A panic in it (a host bug:
/// guest faults are traps, not panics) comes back as an error, as from the
/// blocking pool. `Caller` needs a multi-thread runtime; on a
/// current-thread one (tests) the call goes to the pool.
async fn run_call<T: Send + 'static>(
    on: CallOn,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on == CallOn::Caller && multi {
        tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .map_err(|_| "the plugin call panicked in the host".to_string())
        })
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string())
    }
}

/// GraphQL list field of each pluggable entity (for input queries).
fn list_field(entity: &str) -> Option<&'static str> {
    Some(match entity {
        "contact" => "contacts",
        "company" => "companies",
        "deal" => "deals",
        "activity" => "activities",
        "task" => "tasks",
        "ticket" => "tickets",
        "product" => "products",
        "order" => "orders",
        _ => return None,
    })
}

/// Records per scoring batch (one fresh instance per batch).
pub const SCORE_BATCH: usize = 500;

/// A compiled input query, or `None` when it needs the GraphQL executor.
type PlanSlot = Option<Arc<InputPlan>>;

/// How [`PluginHost::input_records`] answers an input query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPath {
    /// The compiled plan when it can, else the GraphQL executor.
    Planned,
    /// Always the GraphQL executor (the reference the plan must match).
    GraphQl,
}

pub struct PluginHost {
    crm: Crm,
    runtime: PluginRuntime,
    loaded: RwLock<HashMap<String, Arc<LoadedPlugin>>>,
    schema: OnceLock<CrmSchema>,
    /// The limit-free schema for the host's own batched input queries.
    bulk_schema: OnceLock<CrmSchema>,
    calls: Mutex<HashMap<String, Calls>>,
    /// Routing per tenant (enabled plugins, their config and grants), cached
    /// briefly: other processes' changes show within [`ROUTE_TTL`]; this
    /// process's installs, enables and suspensions invalidate it at once.
    routes: Mutex<HashMap<Uuid, (std::time::Instant, Vec<Active>)>>,
    /// Bumped by every invalidation: a load that raced one is not cached.
    routes_generation: std::sync::atomic::AtomicU64,
    /// Compiled input queries.
    plans: PlanCache,
    /// Run records and failure accounting, written off the request path.
    recorder: tokio::sync::mpsc::UnboundedSender<RecMsg>,
    /// Handlers' outbound HTTP (contract 0.3.0): one connection pool.
    http: OutboundHttp,
    /// Outbound HTTP requests sent, by (plugin, outcome), for `/metrics`.
    http_counts: HttpCounts,
}

/// Outbound HTTP requests by (plugin, outcome): the status class (`2xx`,
/// ...) or the host error code (`TIMEOUT`, `UNAVAILABLE`, ...).
type HttpCounts = Arc<Mutex<std::collections::BTreeMap<(String, String), u64>>>;

/// Most compiled input queries one process keeps.
const MAX_PLANS: usize = 512;

/// Compiled input queries by entity and query text, at most [`MAX_PLANS`]:
/// query texts come from manifests, so upgrades add new ones over a
/// process's life. A hit allocates nothing; a full cache is emptied
/// (compiling again is cheap, and the queries of plugins no longer
/// installed go with it).
#[derive(Default)]
struct PlanCache(Mutex<HashMap<&'static str, HashMap<String, PlanSlot>>>);

impl PlanCache {
    fn get(&self, entity: &'static str, input: &str) -> PlanSlot {
        let mut plans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = plans.get(entity).and_then(|m| m.get(input)) {
            return slot.clone();
        }
        if plans.values().map(HashMap::len).sum::<usize>() >= MAX_PLANS {
            plans.clear();
        }
        let slot = InputPlan::compile(entity, input).map(Arc::new);
        plans
            .entry(entity)
            .or_default()
            .insert(input.to_owned(), slot.clone());
        slot
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let plans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        plans.values().map(HashMap::len).sum()
    }
}

/// How long a tenant's plugin routing is reused.
const ROUTE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// A plugin's calls in this process.
#[derive(Default)]
struct Calls {
    ok: u64,
    failed: u64,
    last_failed: bool,
}

/// How long the run recorder gathers runs before writing them.
const RECORD_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// Work for the run recorder.
enum RecMsg {
    Run {
        record: Box<RunRecord>,
        failure: Option<String>,
        /// Whether the run counts towards the plugin's health in the
        /// tenant (the failure counter that suspends it): not for trials.
        health: bool,
    },
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Writes run records in batches and keeps the failure counters, in order.
/// Suspensions invalidate `routes` through `on_suspend`.
async fn run_recorder(
    crm: Crm,
    suspend_after: i32,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<RecMsg>,
    on_suspend: Arc<dyn Fn() + Send + Sync>,
) {
    // (tenant, plugin) pairs that may have a failure count to reset.
    let mut dirty: std::collections::HashSet<(Uuid, String)> = std::collections::HashSet::new();
    let mut known_clean: std::collections::HashSet<(Uuid, String)> =
        std::collections::HashSet::new();
    while let Some(first) = rx.recv().await {
        // Gather for a moment (unless someone waits for a flush): one write
        // transaction per batch of runs rather than one per run, so run
        // records do not queue against the writes they describe for
        // SQLite's single write lock.
        let deadline = tokio::time::Instant::now() + RECORD_WINDOW;
        let mut batch = vec![first];
        while batch.len() < 500 && !matches!(batch.last(), Some(RecMsg::Flush(_))) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => batch.push(m),
                Ok(None) | Err(_) => break,
            }
        }
        let mut flushes = vec![];
        let mut runs = vec![];
        for m in batch {
            match m {
                RecMsg::Run {
                    record,
                    failure,
                    health,
                } => runs.push((*record, failure, health)),
                RecMsg::Flush(tx) => flushes.push(tx),
            }
        }
        if let Err(e) =
            plugin_store::record_runs(&crm, runs.iter().map(|(r, _, _)| r.clone()).collect()).await
        {
            tracing::error!(error = %e, "cannot record plugin runs");
        }
        for (r, failure, _) in runs.into_iter().filter(|(_, _, health)| *health) {
            let key = (r.tenant, r.plugin_id.clone());
            let res = match failure {
                Some(reason) => {
                    known_clean.remove(&key);
                    dirty.insert(key);
                    plugin_store::note_failure(&crm, r.tenant, &r.plugin_id, &reason, suspend_after).await.map(|suspended| {
                        if suspended {
                            tracing::warn!(plugin = %r.plugin_id, tenant = %r.tenant, "plugin suspended after repeated failures");
                            on_suspend();
                        }
                    })
                }
                None if known_clean.contains(&key) && !dirty.contains(&key) => Ok(()),
                None => {
                    dirty.remove(&key);
                    known_clean.insert(key);
                    plugin_store::note_success(&crm, r.tenant, &r.plugin_id).await
                }
            };
            if let Err(e) = res {
                tracing::error!(error = %e, "cannot update plugin status");
            }
        }
        for tx in flushes {
            let _ = tx.send(());
        }
    }
}

fn admin_err(code: &'static str, e: impl std::fmt::Display) -> PluginAdminError {
    PluginAdminError::new(code, e.to_string())
}

impl PluginHost {
    pub fn new(crm: Crm, cfg: &Config) -> anyhow::Result<Arc<Self>> {
        let rc = RuntimeConfig {
            cache_dir: Some(cfg.plugin_cache_dir.clone()),
            http_requests_per_run: cfg.plugin_http_requests_per_run,
            ..RuntimeConfig::default()
        };
        let runtime = PluginRuntime::new(rc).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let host = Arc::new(PluginHost {
            crm: crm.clone(),
            runtime,
            loaded: RwLock::new(HashMap::new()),
            schema: OnceLock::new(),
            bulk_schema: OnceLock::new(),
            calls: Mutex::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
            routes_generation: std::sync::atomic::AtomicU64::new(0),
            plans: PlanCache::default(),
            recorder: tx,
            http: OutboundHttp::new(cfg.plugin_http_private_networks)
                .map_err(|e| anyhow::anyhow!("cannot start the outbound HTTP client: {e}"))?,
            http_counts: HttpCounts::default(),
        });
        let weak = Arc::downgrade(&host);
        let on_suspend: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if let Some(h) = weak.upgrade() {
                h.invalidate_routes();
            }
        });
        tokio::spawn(run_recorder(crm, cfg.suspend_after, rx, on_suspend));
        Ok(host)
    }

    /// Give the host its schemas (set once at start-up): the public one for
    /// plugins' host-API calls (same limits as clients), the limit-free one for
    /// batched input queries the host itself builds from manifests.
    pub fn set_schemas(&self, public: CrmSchema, bulk: CrmSchema) {
        let _ = self.schema.set(public);
        let _ = self.bulk_schema.set(bulk);
    }

    /// Forget cached routing (after installs, enables, disables, suspensions).
    pub fn invalidate_routes(&self) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        self.routes_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        routes.clear();
    }

    /// Wait until every run recorded so far is written.
    pub async fn flush_runs(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.recorder.send(RecMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    /// Calls per plugin in this process: (id, ok, failed).
    /// Outbound HTTP requests handlers sent in this process, as
    /// (plugin, outcome, count): outcome is the status class (`2xx`, `4xx`,
    /// ...) or the host error code (`TIMEOUT`, `UNAVAILABLE`, ...).
    pub fn http_counts(&self) -> Vec<(String, String, u64)> {
        let m = self.http_counts.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .map(|((plugin, outcome), n)| (plugin.clone(), outcome.clone(), *n))
            .collect()
    }

    pub fn call_counts(&self) -> Vec<(String, u64, u64)> {
        let m = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m.iter().map(|(k, c)| (k.clone(), c.ok, c.failed)).collect();
        v.sort();
        v
    }

    fn count(&self, id: &str, ok: bool) {
        let mut m = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let c = m.entry(id.to_string()).or_default();
        if ok {
            c.ok += 1
        } else {
            c.failed += 1
        }
        c.last_failed = !ok;
    }

    /// Whether the plugin's last call failed: it then scores after commit,
    /// so a slow or broken scorer never holds a write's transaction (and
    /// SQLite's write lock) open more than once in a row.
    fn is_failing(&self, id: &str) -> bool {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .is_some_and(|c| c.last_failed)
    }

    /// The compiled plugin `id` at content hash `hash`, compiling (or reading
    /// the disk cache) on first use.
    async fn ensure_loaded(
        &self,
        id: &str,
        hash: &str,
    ) -> Result<Arc<LoadedPlugin>, PluginAdminError> {
        if let Some(p) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .filter(|p| p.hash == hash)
        {
            return Ok(p.clone());
        }
        let row = plugin_store::plugin(&self.crm, id)
            .await
            .map_err(|e| admin_err("NOT_FOUND", e))?;
        let manifest = Manifest::from_json(&row.manifest.to_string())
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        let rt = self.runtime.clone();
        let loaded = tokio::task::spawn_blocking(move || rt.load(&manifest, &row.component))
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Enabled, active plugins of a tenant with their config overrides and
    /// effective grants.
    async fn active_for(&self, tenant: Uuid) -> Vec<Active> {
        if let Some((at, routes)) = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant)
            && at.elapsed() < ROUTE_TTL
        {
            return routes.clone();
        }
        let generation = self
            .routes_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        let fresh = self.load_routes(tenant).await;
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if self
            .routes_generation
            .load(std::sync::atomic::Ordering::SeqCst)
            == generation
        {
            routes.insert(tenant, (std::time::Instant::now(), fresh.clone()));
        }
        fresh
    }

    async fn load_routes(&self, tenant: Uuid) -> Vec<Active> {
        let enabled = match plugin_store::enablements_of(&self.crm, tenant).await {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot read plugin enablements");
                return vec![];
            }
        };
        let enabled: Vec<_> = enabled
            .into_iter()
            .filter(|t| t.enabled && t.status == plugin_store::ACTIVE)
            .collect();
        if enabled.is_empty() {
            return vec![];
        }
        let heads = plugin_store::plugin_heads(&self.crm)
            .await
            .unwrap_or_default();
        let mut out = vec![];
        for t in enabled {
            let Some((_, _, hash)) = heads.iter().find(|h| h.0 == t.plugin_id) else {
                continue;
            };
            match self.ensure_loaded(&t.plugin_id, hash).await {
                Ok(plugin) => {
                    let grants = Grants::new(&plugin.manifest, &granted(&t.grants));
                    let config =
                        plugin_store::open_config(&self.crm, t.tenant_id, &t.plugin_id, t.config);
                    out.push(Active {
                        plugin,
                        config,
                        grants,
                    });
                }
                Err(e) => {
                    tracing::error!(plugin = %t.plugin_id, error = %e.message, "cannot load plugin")
                }
            }
        }
        out
    }

    /// Record a run of the plugin's own work in the tenant: a failure
    /// counts towards suspending it there, a success resets the count.
    async fn record(
        &self,
        tenant: Uuid,
        plugin: &LoadedPlugin,
        function: &str,
        entity: &str,
        stats: &crate::plugin::RunStats,
        outcome: Outcome<'_>,
    ) {
        self.record_run(tenant, plugin, function, entity, stats, outcome, true)
            .await
    }

    /// Record a run of a trial an administrator asked for (a check or a
    /// score preview, perhaps under a configuration being tried): listed
    /// with the plugin's runs, but neither its failure nor its success
    /// changes the plugin's health in the tenant.
    async fn record_trial(
        &self,
        tenant: Uuid,
        plugin: &LoadedPlugin,
        function: &str,
        entity: &str,
        stats: &crate::plugin::RunStats,
        outcome: Outcome<'_>,
    ) {
        self.record_run(tenant, plugin, function, entity, stats, outcome, false)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_run(
        &self,
        tenant: Uuid,
        plugin: &LoadedPlugin,
        function: &str,
        entity: &str,
        stats: &crate::plugin::RunStats,
        outcome: Outcome<'_>,
        health: bool,
    ) {
        let failure = match outcome {
            Outcome::Failed(f) => Some(f),
            Outcome::Ok | Outcome::Rejected => None,
        };
        if health {
            self.count(plugin.id(), failure.is_none());
        }
        let log = if stats.log.is_empty() {
            None
        } else {
            Some(stats.log.join("\n"))
        };
        let r = RunRecord {
            tenant,
            plugin_id: plugin.id().to_string(),
            plugin_version: plugin.manifest.version.to_string(),
            function: function.to_string(),
            entity: entity.to_string(),
            records: stats.records,
            duration_us: stats.duration.as_micros() as i64,
            fuel_used: stats.fuel_used,
            outcome: outcome.as_str(),
            error_code: failure.map(|f| f.code.clone()),
            error: failure.map(|f| f.message.clone()),
            log,
        };
        let failure = failure.map(|f| format!("{}: {}", f.code, f.message));
        if self
            .recorder
            .send(RecMsg::Run {
                record: Box::new(r),
                failure,
                health,
            })
            .is_err()
        {
            tracing::error!("the run recorder stopped; a plugin run was not recorded");
        }
    }

    fn effective(plugin: &LoadedPlugin, overrides: &Value) -> Value {
        plugin
            .manifest
            .effective_config(overrides)
            .unwrap_or_else(|_| {
                plugin
                    .manifest
                    .effective_config(&serde_json::json!({}))
                    .unwrap_or(Value::Null)
            })
    }

    /// The compiled form of an input query; `None` when it needs the
    /// GraphQL executor.
    fn plan(&self, entity: &'static str, input: &str) -> Option<Arc<InputPlan>> {
        self.plans.get(entity, input)
    }

    /// The input records of a score function with input query `input`: the
    /// query over `ids` as plugin `plugin_id`'s principal with `scopes`, one
    /// JSON document per record found. The compiled plan answers when it can
    /// and the principal may read all it reads; otherwise (or with `path`
    /// [`InputPath::GraphQl`]) the GraphQL executor runs the query. Both
    /// give the same documents.
    #[allow(clippy::too_many_arguments)]
    pub async fn input_records(
        &self,
        tenant: Uuid,
        plugin_id: &str,
        entity: &'static str,
        input: &str,
        scopes: Vec<String>,
        ids: &[Uuid],
        path: InputPath,
    ) -> Result<Vec<(Uuid, String)>, PluginFailure> {
        let fail = |m: String| PluginFailure {
            plugin: plugin_id.to_string(),
            code: "INPUT_QUERY".into(),
            message: m,
        };
        let p = Principal::plugin(tenant, plugin_id, scopes);
        if path == InputPath::Planned
            && let Some(plan) = self.plan(entity, input)
            && plan.permitted(&p)
        {
            let now = self.crm.now();
            let key = &self.crm.data_key;
            let (records, reads) = plan
                .run_for(&self.crm.db, now, tenant, ids, false, &p, key)
                .await
                .map_err(|e| fail(format!("input query failed: {e}")))?;
            crm_core::custom_field::audit_reads(&self.crm, &p, &reads)
                .await
                .map_err(|e| fail(format!("cannot audit the sensitive values read: {e}")))?;
            return Ok(records);
        }
        let schema = self
            .bulk_schema
            .get()
            .ok_or_else(|| fail("schema not ready".into()))?;
        let field = list_field(entity)
            .ok_or_else(|| fail(format!("entity {entity} has no input query support")))?;
        // `id` is always selected so results can be matched to records.
        let selection = input.trim().trim_start_matches('{').trim_end_matches('}');
        let query = format!(
            "query($ids: [ID!], $n: Int) {{ {field}(first: $n, filter: {{id: {{in: $ids}}}}) {{ edges {{ node {{ id {selection} }} }} }} }}"
        );
        let vars = serde_json::json!({"ids": ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(), "n": ids.len()});
        let req = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(vars))
            .data(crm_graphql::Loaders::new(&self.crm, &p))
            .data(p)
            .data(crm_graphql::BulkRead);
        let resp = schema.execute(req).await;
        if let Some(e) = resp.errors.first() {
            return Err(fail(format!("input query failed: {}", e.message)));
        }
        let data = resp.data.into_json().map_err(|e| fail(e.to_string()))?;
        let edges = data
            .get(field)
            .and_then(|c| c.get("edges"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(edges
            .into_iter()
            .filter_map(|e| {
                let node = e.get("node")?.clone();
                let id = Uuid::parse_str(node.get("id")?.as_str()?).ok()?;
                Some((id, node.to_string()))
            })
            .collect())
    }

    /// The candidate `record` as validator `plugin` may see it: sensitive
    /// custom values masked unless it was granted `pii:read`, in which case
    /// the read is audited as the plugin's. `sensitive` caches the tenant's
    /// sensitive keys of `entity` across the validators of one write.
    async fn visible_candidate(
        &self,
        tenant: Uuid,
        entity: &str,
        plugin: &LoadedPlugin,
        grants: &Grants,
        record: &Value,
        sensitive: &mut Option<Vec<String>>,
    ) -> Result<String, PluginFailure> {
        use crm_core::custom_field as cf;
        let Some(values) = record
            .get("customFields")
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        else {
            return Ok(record.to_string());
        };
        let fail = |e: crm_core::CoreError| PluginFailure {
            plugin: plugin.id().into(),
            code: "INTERNAL".into(),
            message: format!("cannot read the sensitive custom fields of {entity}: {e}"),
        };
        let keys = match sensitive {
            Some(k) => k,
            None => sensitive.insert(
                cf::sensitive_keys(&self.crm.db, tenant, entity)
                    .await
                    .map_err(fail)?,
            ),
        };
        let shown = cf::present(values, keys);
        if shown.is_empty() {
            return Ok(record.to_string());
        }
        if grants.allows(cf::PII_READ) {
            let record_id = record
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            // A record being created has no id yet: nothing to audit
            // against but the caller's own input.
            if let Some(record_id) = record_id {
                let p = Principal::plugin(tenant, plugin.id(), grants.scopes().to_vec());
                let read = cf::SensitiveRead {
                    entity: entity.to_string(),
                    record_id,
                    keys: shown.iter().map(|k| k.to_string()).collect(),
                };
                cf::audit_reads(&self.crm, &p, &[read])
                    .await
                    .map_err(fail)?;
            }
            return Ok(record.to_string());
        }
        let mut masked = record.clone();
        if let Some(v) = masked.get_mut("customFields") {
            cf::mask(v, keys);
        }
        Ok(masked.to_string())
    }

    /// The score functions of `plugin` for `entity`.
    fn score_functions<'p>(
        plugin: &'p LoadedPlugin,
        entity: &'p str,
    ) -> impl Iterator<Item = &'p FunctionDecl> + 'p {
        plugin.manifest.functions.iter().filter(move |f| {
            f.kind == FunctionKind::Score && f.entities.iter().any(|e| e == entity)
        })
    }

    /// Read one batch's input; a failure is recorded as the batch's run.
    async fn read_batch(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        f: &FunctionDecl,
        grants: &Grants,
        ids: &[Uuid],
    ) -> Option<Vec<(Uuid, String)>> {
        match self
            .function_input(tenant, entity, plugin, f, grants, ids)
            .await
        {
            Ok(records) => Some(records),
            Err(fail) => {
                self.record_input_failure(tenant, plugin, f, entity, ids.len(), &fail, true)
                    .await;
                None
            }
        }
    }

    /// The input records of function `f` of `plugin` over `ids`, read as
    /// the plugin's principal with `grants`.
    async fn function_input(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &LoadedPlugin,
        f: &FunctionDecl,
        grants: &Grants,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, PluginFailure> {
        self.input_records(
            tenant,
            plugin.id(),
            entity,
            &f.input,
            grants.scopes().to_vec(),
            ids,
            InputPath::Planned,
        )
        .await
    }

    /// Record the run of score function `f` whose input of `n` records
    /// could not be read.
    /// (`health`: whether it counts towards the plugin's health, as
    /// [`Self::record`], or not, as [`Self::record_trial`].)
    #[allow(clippy::too_many_arguments)]
    async fn record_input_failure(
        &self,
        tenant: Uuid,
        plugin: &LoadedPlugin,
        f: &FunctionDecl,
        entity: &str,
        n: usize,
        fail: &PluginFailure,
        health: bool,
    ) {
        let stats = crate::plugin::RunStats {
            records: n,
            ..Default::default()
        };
        let name = format!("score[{}]", f.name);
        let outcome = Outcome::Failed(fail);
        self.record_run(tenant, plugin, &name, entity, &stats, outcome, health)
            .await;
    }

    /// Run score function `f` over `records` in wasm, on the thread `on` says.
    #[allow(clippy::too_many_arguments)]
    async fn call_batch(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        f: &FunctionDecl,
        config: Value,
        docs: Vec<String>,
        on: CallOn,
    ) -> Option<Invocation<Vec<Vec<crm_core::plugin_api::ScoreValue>>>> {
        let ctx = CallContext {
            tenant: tenant.to_string(),
            entity: entity.to_string(),
            config,
            fuel_per_record: f.fuel_per_record,
        };
        let rt = self.runtime.clone();
        let pl = plugin.clone();
        let name = f.name.clone();
        match run_call(on, move || rt.score_function(&pl, &name, &ctx, &docs)).await {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::error!(error = %e, "plugin call task failed");
                None
            }
        }
    }

    /// Store a batch's scores (in transaction `on`, or in one of their own)
    /// and record its run; whether it succeeded.
    #[allow(clippy::too_many_arguments)]
    async fn store_batch<C: ConnectionTrait>(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        f: &FunctionDecl,
        ids: &[Uuid],
        inv: Invocation<Vec<Vec<crm_core::plugin_api::ScoreValue>>>,
        on: Option<&C>,
        cause: ScoreCause,
    ) -> (usize, bool) {
        let name = format!("score[{}]", f.name);
        match inv.result {
            Ok(scores) => {
                let rows: Vec<(Uuid, Vec<crm_core::plugin_api::ScoreValue>)> = ids
                    .iter()
                    .zip(scores)
                    .map(|(id, mut s)| {
                        for v in &mut s {
                            if v.name.is_empty() {
                                v.name = f.name.clone();
                            }
                        }
                        (*id, s)
                    })
                    .collect();
                let w = plugin_store::ScoreWrite {
                    tenant,
                    entity,
                    plugin_id: plugin.id(),
                    scorer: Some(&f.name),
                    cause,
                };
                let stored = match on {
                    Some(db) => plugin_store::store_scores_on(db, self.crm.now(), w, &rows).await,
                    None => plugin_store::store_scores(&self.crm, w, &rows).await,
                };
                if let Err(e) = &stored {
                    tracing::error!(error = %e, plugin = plugin.id(), "cannot store scores");
                }
                self.record(tenant, plugin, &name, entity, &inv.stats, Outcome::Ok)
                    .await;
                (rows.len(), stored.is_ok())
            }
            Err(fail) => {
                self.record(
                    tenant,
                    plugin,
                    &name,
                    entity,
                    &inv.stats,
                    Outcome::Failed(&fail),
                )
                .await;
                (0, false)
            }
        }
    }

    /// Score function `f` of active plugin `a` over `ids` with compiled
    /// input `plan`, reading and storing on `db` (the write's transaction);
    /// whether it all went through. Failures are recorded as runs.
    #[allow(clippy::too_many_arguments)]
    async fn score_planned<C: ConnectionTrait>(
        &self,
        db: &C,
        plan: &InputPlan,
        tenant: Uuid,
        entity: &'static str,
        a: &Active,
        f: &FunctionDecl,
        ids: &[Uuid],
        written: Written,
    ) -> bool {
        let created = written == Written::Created;
        let now = self.crm.now();
        let p = Principal::plugin(tenant, a.plugin.id(), a.grants.scopes().to_vec());
        let read = async {
            let (records, reads) = plan
                .run_for(db, now, tenant, ids, created, &p, &self.crm.data_key)
                .await?;
            // In the write's transaction: the audit commits with the scores.
            crm_core::custom_field::audit_reads_on(db, &p, now, &reads).await?;
            Ok::<_, crm_core::CoreError>(records)
        };
        let records = match read.await {
            Ok(r) => r,
            Err(e) => {
                let fail = PluginFailure {
                    plugin: a.plugin.id().to_string(),
                    code: "INPUT_QUERY".into(),
                    message: format!("input query failed: {e}"),
                };
                self.record_input_failure(tenant, &a.plugin, f, entity, ids.len(), &fail, true)
                    .await;
                return false;
            }
        };
        // A record just created has no scores to replace or compare with.
        let cause = if created {
            ScoreCause::Created
        } else {
            ScoreCause::Updated
        };
        self.call_and_store(
            tenant,
            entity,
            &a.plugin,
            &a.config,
            f,
            records,
            Some(db),
            cause,
        )
        .await
        .1
    }

    /// Run score function `f` over its input `records` and store the scores
    /// (in transaction `on`, or in one of their own) for `cause`: how many
    /// were scored and whether it all went through.
    #[allow(clippy::too_many_arguments)]
    async fn call_and_store<C: ConnectionTrait>(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        config: &Value,
        f: &FunctionDecl,
        records: Vec<(Uuid, String)>,
        on: Option<&C>,
        cause: ScoreCause,
    ) -> (usize, bool) {
        if records.is_empty() {
            return (0, true);
        }
        let config = Self::effective(plugin, config);
        let (found, docs): (Vec<Uuid>, Vec<String>) = records.into_iter().unzip();
        let Some(inv) = self
            .call_batch(tenant, entity, plugin, f, config, docs, CallOn::Caller)
            .await
        else {
            return (0, false);
        };
        self.store_batch(tenant, entity, plugin, f, &found, inv, on, cause)
            .await
    }

    /// Run one plugin's score functions for `entity` over `ids` and store the
    /// scores, one step after the other (the path of a single write).
    #[allow(clippy::too_many_arguments)]
    async fn score_with(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        config: &Value,
        grants: &Grants,
        ids: &[Uuid],
        skip: &ScoredInTxn,
    ) -> (usize, bool) {
        let mut scored = 0;
        let mut ok = true;
        for f in
            Self::score_functions(plugin, entity).filter(|f| !skip.contains(plugin.id(), &f.name))
        {
            let Some(records) = self
                .read_batch(tenant, entity, plugin, f, grants, ids)
                .await
            else {
                ok = false;
                continue;
            };
            let (n, stored) = self
                .call_and_store(
                    tenant,
                    entity,
                    plugin,
                    config,
                    f,
                    records,
                    NO_TXN,
                    ScoreCause::Updated,
                )
                .await;
            scored += n;
            ok &= stored;
        }
        (scored, ok)
    }

    /// Re-run `plugin_id`'s scorers over every record of the tenant, calling
    /// `progress(done, total)` after each batch.
    ///
    /// Batches flow through three stages that overlap: reading the input of
    /// batch n+2, running batch n+1 in wasm and storing batch n happen at
    /// once (the database and the wasm call each have their own threads).
    pub async fn rescore_with_progress(
        &self,
        tenant: Uuid,
        plugin_id: &str,
        progress: impl Fn(u64, u64),
    ) -> Result<RescoreReport, PluginAdminError> {
        let start = Instant::now();
        let tp = plugin_store::tenant_plugin(&self.crm, tenant, plugin_id)
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        let Some(tp) = tp.filter(|t| t.enabled) else {
            return Err(PluginAdminError::new(
                "BAD_USER_INPUT",
                format!(
                    "plugin {plugin_id} is not enabled for this tenant; enable it first (enablePlugin)"
                ),
            ));
        };
        let plugin = self.installed(plugin_id).await?;
        let grants = Grants::new(&plugin.manifest, &granted(&tp.grants));
        let config = Self::effective(
            &plugin,
            &plugin_store::open_config(&self.crm, tenant, plugin_id, tp.config),
        );
        let mut report = RescoreReport {
            plugin: plugin_id.to_string(),
            ..Default::default()
        };
        let entities: Vec<&'static str> = crm_core::plugin_api::PLUGGABLE_ENTITIES
            .iter()
            .copied()
            .filter(|e| Self::score_functions(&plugin, e).next().is_some())
            .collect();
        for entity in entities {
            // Every score this rescore stores is written at or after `since`.
            let since = self.crm.now();
            let ids = crm_core::record::all_ids(&self.crm, tenant, entity)
                .await
                .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
            let total = ids.len() as u64;
            report.records += total as i64;
            let mut failed_here = 0;
            for f in Self::score_functions(&plugin, entity) {
                let (scored, failed) = self
                    .rescore_function(
                        tenant, entity, &plugin, f, &config, &grants, &ids, &progress,
                    )
                    .await;
                report.scored += scored;
                failed_here += failed;
            }
            report.failed_batches += failed_here;
            // Every record got the plugin's current answer: what it did not
            // write again is a score it no longer gives (a renamed score
            // after an upgrade) or of a record that is gone. After a failed
            // batch the old scores stay: they are all some records have.
            if failed_here == 0 {
                let t = Instant::now();
                let removed = plugin_store::delete_scores_older_than(
                    &self.crm,
                    tenant,
                    entity,
                    plugin.id(),
                    since,
                )
                .await
                .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
                tracing::info!(
                    plugin = plugin.id(),
                    entity,
                    removed,
                    ms = t.elapsed().as_millis() as u64,
                    "rescore removed the scores it did not write again"
                );
            }
            // One event for the bulk re-grade (a rescore emits no
            // grade_changed per record): `contact.rescored`.
            let done = serde_json::json!({
                "plugin": plugin.id(),
                "records": total,
                "failedBatches": failed_here,
            });
            crm_core::events::emit(
                &self.crm.db,
                &Principal::system(tenant),
                self.crm.now(),
                &format!("{entity}.rescored"),
                entity,
                None,
                done,
            )
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        }
        report.duration_ms = start.elapsed().as_millis() as i64;
        Ok(report)
    }

    /// One score function over `ids` as a three-stage pipeline; returns
    /// (records scored, failed batches).
    #[allow(clippy::too_many_arguments)]
    async fn rescore_function(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        f: &FunctionDecl,
        config: &Value,
        grants: &Grants,
        ids: &[Uuid],
        progress: &impl Fn(u64, u64),
    ) -> (i64, i64) {
        /// A batch after the wasm stage.
        enum Called {
            /// Its input could not be read or the call task failed (recorded).
            Failed,
            /// None of its records exist any more: nothing to call.
            Empty,
            /// The records found, and the call's outcome.
            Ran(
                Vec<Uuid>,
                Invocation<Vec<Vec<crm_core::plugin_api::ScoreValue>>>,
            ),
        }
        type Read = (usize, Option<Vec<(Uuid, String)>>);
        let total = ids.len() as u64;
        let (to_call, mut reads) = tokio::sync::mpsc::channel::<Read>(2);
        let (to_store, mut calls) = tokio::sync::mpsc::channel::<(usize, Called)>(2);
        let busy = |t: &std::sync::atomic::AtomicU64, since: Instant| {
            t.fetch_add(
                since.elapsed().as_micros() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        };
        let (t_read, t_call, t_store) = (
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
        );
        let (t_read, t_call, t_store) = (&t_read, &t_call, &t_store);
        let read = async move {
            for chunk in ids.chunks(SCORE_BATCH) {
                let t = Instant::now();
                let records = self
                    .read_batch(tenant, entity, plugin, f, grants, chunk)
                    .await;
                busy(t_read, t);
                if to_call.send((chunk.len(), records)).await.is_err() {
                    break;
                }
            }
        };
        let call = async move {
            while let Some((n, records)) = reads.recv().await {
                let called = match records {
                    None => Called::Failed,
                    Some(records) if records.is_empty() => Called::Empty,
                    Some(records) => {
                        let (found, docs): (Vec<Uuid>, Vec<String>) = records.into_iter().unzip();
                        let t = Instant::now();
                        let inv = self
                            .call_batch(
                                tenant,
                                entity,
                                plugin,
                                f,
                                config.clone(),
                                docs,
                                CallOn::Pool,
                            )
                            .await;
                        busy(t_call, t);
                        inv.map_or(Called::Failed, |inv| Called::Ran(found, inv))
                    }
                };
                if to_store.send((n, called)).await.is_err() {
                    break;
                }
            }
        };
        let store = async {
            let (mut scored, mut failed, mut done) = (0i64, 0i64, 0u64);
            while let Some((n, called)) = calls.recv().await {
                match called {
                    Called::Ran(found, inv) => {
                        let t = Instant::now();
                        let (k, ok) = self
                            // The rescore cleans up once, at its end.
                            .store_batch(
                                tenant,
                                entity,
                                plugin,
                                f,
                                &found,
                                inv,
                                NO_TXN,
                                ScoreCause::Rescore,
                            )
                            .await;
                        busy(t_store, t);
                        scored += k as i64;
                        failed += i64::from(!ok);
                    }
                    Called::Empty => {}
                    Called::Failed => failed += 1,
                }
                done += n as u64;
                progress(done, total);
            }
            (scored, failed)
        };
        let ((), (), out) = futures::join!(read, call, store);
        let ms =
            |t: &std::sync::atomic::AtomicU64| t.load(std::sync::atomic::Ordering::Relaxed) / 1000;
        tracing::debug!(
            plugin = plugin.id(),
            entity,
            records = ids.len(),
            read_ms = ms(t_read),
            wasm_ms = ms(t_call),
            store_ms = ms(t_store),
            "rescore stages (busy time of each; they overlap)"
        );
        out
    }

    /// The installed version of plugin `id`, loaded (`NOT_FOUND` when it is
    /// not installed).
    async fn installed(&self, id: &str) -> Result<Arc<LoadedPlugin>, PluginAdminError> {
        let heads = plugin_store::plugin_heads(&self.crm)
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        let hash = heads
            .iter()
            .find(|h| h.0 == id)
            .map(|h| h.2.clone())
            .ok_or_else(|| {
                PluginAdminError::new(
                    "NOT_FOUND",
                    format!("plugin {id} is not installed (crm plugin list shows what is)"),
                )
            })?;
        self.ensure_loaded(id, &hash).await
    }

    async fn manifest_of(&self, id: &str) -> Result<Manifest, PluginAdminError> {
        let infos = plugin_store::plugin_infos(&self.crm)
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        let (_, _, _, m, _) = infos.into_iter().find(|i| i.0 == id).ok_or_else(|| {
            PluginAdminError::new("NOT_FOUND", format!("plugin {id} is not installed"))
        })?;
        Manifest::from_json(&m.to_string()).map_err(|e| admin_err("PLUGIN_FAILED", e))
    }
}

/// How a run ended, for its record.
#[derive(Clone, Copy)]
enum Outcome<'a> {
    Ok,
    /// A validate function refused the write (not a plugin failure).
    Rejected,
    /// Counts towards suspension.
    Failed(&'a PluginFailure),
}

impl Outcome<'_> {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// Set `value` at a dotted GraphQL path inside a JSON object.
fn apply_patch(record: &mut Value, path: &str, value: Value) {
    let mut cur = record;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            obj.insert((*p).to_string(), value);
            return;
        }
        cur = obj
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

#[async_trait::async_trait]
impl PluginHooks for PluginHost {
    async fn validate(
        &self,
        tenant: Uuid,
        entity: &'static str,
        record: &mut Value,
    ) -> ValidateOutcome {
        // Sensitive custom fields of the candidate, read only when it has
        // custom values and a validator is about to see them.
        let mut sensitive: Option<Vec<String>> = None;
        for Active {
            plugin,
            config,
            grants,
        } in self.active_for(tenant).await
        {
            for f in plugin.manifest.functions.iter().filter(|f| {
                f.kind == FunctionKind::Validate && f.entities.iter().any(|e| e == entity)
            }) {
                let ctx = CallContext {
                    tenant: tenant.to_string(),
                    entity: entity.to_string(),
                    config: Self::effective(&plugin, &config),
                    fuel_per_record: f.fuel_per_record,
                };
                let docs = match self
                    .visible_candidate(tenant, entity, &plugin, &grants, record, &mut sensitive)
                    .await
                {
                    Ok(doc) => vec![doc],
                    Err(failure) => return ValidateOutcome::Failed(failure),
                };
                let rt = self.runtime.clone();
                let pl = plugin.clone();
                let name = f.name.clone();
                let inv = match run_call(CallOn::Caller, move || {
                    rt.validate_function(&pl, &name, &ctx, &docs)
                })
                .await
                {
                    Ok(i) => i,
                    Err(e) => {
                        let failure = PluginFailure {
                            plugin: plugin.id().into(),
                            code: "TRAP".into(),
                            message: e,
                        };
                        return ValidateOutcome::Failed(failure);
                    }
                };
                let name = format!("validate[{}]", f.name);
                match inv.result {
                    Ok(mut decisions) => match decisions.pop() {
                        Some(Decision::Accept) | None => {
                            self.record(tenant, &plugin, &name, entity, &inv.stats, Outcome::Ok)
                                .await
                        }
                        Some(Decision::Patch(patches)) => {
                            for (path, value) in patches {
                                apply_patch(record, &path, value);
                            }
                            self.record(tenant, &plugin, &name, entity, &inv.stats, Outcome::Ok)
                                .await;
                        }
                        Some(Decision::Reject(errors)) => {
                            self.record(
                                tenant,
                                &plugin,
                                &name,
                                entity,
                                &inv.stats,
                                Outcome::Rejected,
                            )
                            .await;
                            return ValidateOutcome::Rejected(PluginRejection {
                                plugin: plugin.id().into(),
                                errors,
                            });
                        }
                    },
                    Err(failure) => {
                        self.record(
                            tenant,
                            &plugin,
                            &name,
                            entity,
                            &inv.stats,
                            Outcome::Failed(&failure),
                        )
                        .await;
                        if f.on_failure == FailurePolicy::FailClosed {
                            return ValidateOutcome::Failed(failure);
                        }
                    }
                }
            }
        }
        ValidateOutcome::Accepted
    }

    async fn after_write(&self, tenant: Uuid, entity: &'static str, ids: &[Uuid]) {
        self.after_commit(tenant, entity, ids, &ScoredInTxn::default())
            .await;
    }

    async fn score_in_txn(
        &self,
        txn: &crm_core::WriteTxn,
        tenant: Uuid,
        entity: &'static str,
        ids: &[Uuid],
        written: Written,
    ) -> ScoredInTxn {
        use sea_orm::TransactionTrait;
        let mut done = vec![];
        let postgres = txn.get_database_backend() == sea_orm::DbBackend::Postgres;
        for a in self.active_for(tenant).await {
            for f in Self::score_functions(&a.plugin, entity) {
                // Only compiled input runs here: the GraphQL executor reads
                // through the pool, which cannot see the uncommitted write.
                let Some(plan) = self.plan(entity, &f.input) else {
                    continue;
                };
                let p = Principal::plugin(tenant, a.plugin.id(), a.grants.scopes().to_vec());
                if !plan.permitted(&p) || self.is_failing(a.plugin.id()) {
                    continue;
                }
                if postgres {
                    // A failed statement aborts a PostgreSQL transaction:
                    // the scorer works in a savepoint, so its failure
                    // leaves the write intact.
                    let sp = match txn.begin().await {
                        Ok(sp) => sp,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot open a savepoint; scoring after commit");
                            continue;
                        }
                    };
                    let ok = self
                        .score_planned(&sp, &plan, tenant, entity, &a, f, ids, written)
                        .await;
                    let ended = if ok {
                        sp.commit().await
                    } else {
                        sp.rollback().await
                    };
                    if let Err(e) = ended {
                        tracing::warn!(error = %e, plugin = a.plugin.id(), "cannot end the scoring savepoint");
                    }
                } else {
                    self.score_planned(&**txn, &plan, tenant, entity, &a, f, ids, written)
                        .await;
                }
                done.push((a.plugin.id().to_string(), f.name.clone()));
            }
        }
        ScoredInTxn(done)
    }

    async fn after_commit(
        &self,
        tenant: Uuid,
        entity: &'static str,
        ids: &[Uuid],
        done: &ScoredInTxn,
    ) {
        for a in self.active_for(tenant).await {
            self.score_with(tenant, entity, &a.plugin, &a.config, &a.grants, ids, done)
                .await;
        }
    }

    async fn subscribers(&self, tenant: Uuid, kind: &str) -> Vec<(String, String)> {
        let mut out = vec![];
        for a in self.active_for(tenant).await {
            // A plugin never hears its own events: reacting to them could loop.
            if kind.starts_with(&format!("plugin.{}.", a.plugin.id())) {
                continue;
            }
            for h in a.plugin.manifest.handlers_for(kind) {
                out.push((a.plugin.id().to_string(), h.name.clone()));
            }
        }
        out
    }

    async fn schedules(&self) -> Vec<ScheduleSpec> {
        let enabled = match plugin_store::enablements(&self.crm).await {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot read plugin enablements");
                return vec![];
            }
        };
        let heads = plugin_store::plugin_heads(&self.crm)
            .await
            .unwrap_or_default();
        let mut out = vec![];
        for t in enabled
            .iter()
            .filter(|t| t.enabled && t.status == plugin_store::ACTIVE)
        {
            let Some((_, _, hash)) = heads.iter().find(|h| h.0 == t.plugin_id) else {
                continue;
            };
            let plugin = match self.ensure_loaded(&t.plugin_id, hash).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(plugin = %t.plugin_id, error = %e.message, "cannot load plugin");
                    continue;
                }
            };
            for s in &plugin.manifest.schedules {
                out.push(ScheduleSpec {
                    tenant: t.tenant_id,
                    plugin: t.plugin_id.clone(),
                    name: s.name.clone(),
                    cron: s.cron.clone(),
                });
            }
        }
        out
    }

    async fn on_event(
        &self,
        tenant: Uuid,
        plugin: &str,
        handler: &str,
        event: &Value,
    ) -> Result<(), PluginFailure> {
        let Ready(a) = self.enablement(tenant, plugin).await? else {
            // Disabled, suspended or uninstalled since the event was
            // dispatched: nothing to run, nothing to retry.
            tracing::debug!(%plugin, %handler, "skipping an event for a plugin not active");
            return Ok(());
        };
        if a.plugin.manifest.handler(handler).is_none() {
            tracing::info!(%plugin, %handler, "skipping an event for a handler the plugin no longer declares");
            return Ok(());
        }
        let entity = event
            .get("entity")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let event = event.clone();
        self.run_handler(
            tenant,
            a,
            format!("on-event[{handler}]"),
            &entity,
            handler,
            move |rt, p, ctx, host| rt.on_event(p, ctx, &event, host),
        )
        .await
    }

    async fn on_webhook(
        &self,
        tenant: Uuid,
        plugin: &str,
        webhook: &str,
        request: &Value,
    ) -> Result<(), PluginFailure> {
        let Ready(a) = self.enablement(tenant, plugin).await? else {
            // Unlike an event, a delivery exists nowhere else: keep it
            // queued (retried, then dead-lettered for an operator's retryJob).
            return Err(PluginFailure {
                plugin: plugin.to_string(),
                code: "UNAVAILABLE".into(),
                message: format!(
                    "plugin {plugin} is not active for this tenant; the webhook delivery is kept \
                     (enable the plugin, then retry the job if it was dead-lettered)"
                ),
            });
        };
        if a.plugin.manifest.webhook(webhook).is_none() {
            tracing::info!(%plugin, %webhook, "dropping a delivery for a webhook the plugin no longer declares");
            return Ok(());
        }
        let request = request.clone();
        self.run_handler(
            tenant,
            a,
            format!("on-webhook[{webhook}]"),
            "",
            webhook,
            move |rt, p, ctx, host| rt.on_webhook(p, ctx, &request, host),
        )
        .await
    }

    async fn rescore(
        &self,
        tenant: Uuid,
        plugin: &str,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<Value, PluginFailure> {
        let r = self
            .rescore_with_progress(tenant, plugin, progress)
            .await
            .map_err(|e| PluginFailure {
                plugin: plugin.to_string(),
                code: e.code.into(),
                message: e.message,
            })?;
        Ok(serde_json::json!({
            "records": r.records,
            "scored": r.scored,
            "failedBatches": r.failed_batches,
            "durationMs": r.duration_ms,
        }))
    }

    async fn check_records(
        &self,
        p: &Principal,
        request: &Value,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<Value, PluginFailure> {
        // The job's payload: the request `startCheckRecords` queued (the
        // other keys are the job's own).
        let req: crm_graphql::CheckRequest =
            serde_json::from_value(request.clone()).map_err(|e| PluginFailure {
                plugin: String::new(),
                code: "INTERNAL".into(),
                message: format!("the check's request cannot be read: {e}"),
            })?;
        let fail = |code: &str, message: String| PluginFailure {
            plugin: req.plugin.clone(),
            code: code.into(),
            message,
        };
        let report = self
            .check_records(p, req.clone(), progress)
            .await
            .map_err(|e| fail(e.code, e.message))?;
        self.flush_runs().await;
        serde_json::to_value(report).map_err(|e| fail("INTERNAL", e.to_string()))
    }

    async fn on_schedule(
        &self,
        tenant: Uuid,
        plugin: &str,
        schedule: &str,
    ) -> Result<(), PluginFailure> {
        let Ready(a) = self.enablement(tenant, plugin).await? else {
            tracing::debug!(%plugin, %schedule, "skipping a schedule of a plugin not active");
            return Ok(());
        };
        if a.plugin.manifest.schedule(schedule).is_none() {
            tracing::info!(%plugin, %schedule, "skipping a schedule the plugin no longer declares");
            return Ok(());
        }
        self.run_handler(
            tenant,
            a,
            format!("on-schedule[{schedule}]"),
            "",
            schedule,
            |rt, p, ctx, host| rt.on_schedule(p, ctx, host),
        )
        .await
    }

    async fn action(
        &self,
        tenant: Uuid,
        plugin: &str,
        action: &str,
        input: Value,
    ) -> Result<Value, PluginFailure> {
        let failure = |code: &str, message: String| PluginFailure {
            plugin: plugin.to_string(),
            code: code.to_string(),
            message,
        };
        let a = match self.enablement(tenant, plugin).await? {
            Ready(a) => a,
            NotEnabled => {
                return Err(failure(
                    "NOT_ENABLED",
                    format!(
                        "plugin {plugin} is not enabled for this tenant; enable it first (enablePlugin)"
                    ),
                ));
            }
            Suspended(reason) => return Err(failure("SUSPENDED", reason)),
        };
        if a.plugin.manifest.action(action).is_none() {
            let known: Vec<&str> = a
                .plugin
                .manifest
                .actions
                .iter()
                .map(|x| x.name.as_str())
                .collect();
            return Err(failure(
                "UNKNOWN_ACTION",
                format!(
                    "plugin {plugin} has no action {action:?} (its actions: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        self.run_handler(
            tenant,
            a,
            format!("action[{action}]"),
            "",
            action,
            move |rt, p, ctx, host| rt.action(p, ctx, &input, host),
        )
        .await
    }
}

// ------------------------------------------------------------- handlers

/// An enabled, active plugin of a tenant.
#[derive(Clone)]
struct Active {
    plugin: Arc<LoadedPlugin>,
    /// The tenant's configuration overrides.
    config: Value,
    grants: Grants,
}

/// Whether a plugin may run in a tenant now.
enum Enablement {
    Ready(Active),
    /// Not installed, not enabled, or disabled.
    NotEnabled,
    /// Suspended after repeated failures: the reason.
    Suspended(String),
}
use Enablement::{NotEnabled, Ready, Suspended};

/// The grants stored for an enablement (a JSON array of strings).
fn granted(grants: &Value) -> Vec<String> {
    grants
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl PluginHost {
    /// Plugin `id` in `tenant`, loaded, if it is enabled and active.
    async fn enablement(&self, tenant: Uuid, id: &str) -> Result<Enablement, PluginFailure> {
        let unavailable = |e: String| PluginFailure {
            plugin: id.to_string(),
            code: "UNAVAILABLE".into(),
            message: e,
        };
        let tp = plugin_store::tenant_plugin(&self.crm, tenant, id)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let Some(tp) = tp.filter(|t| t.enabled) else {
            return Ok(NotEnabled);
        };
        if tp.status != plugin_store::ACTIVE {
            return Ok(Suspended(tp.status_reason.unwrap_or_else(|| {
                format!("plugin {id} is suspended for this tenant; enablePlugin resumes it")
            })));
        }
        let heads = plugin_store::plugin_heads(&self.crm)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let Some((_, _, hash)) = heads.iter().find(|h| h.0 == id) else {
            return Ok(NotEnabled);
        };
        let plugin = self
            .ensure_loaded(id, hash)
            .await
            .map_err(|e| unavailable(e.message))?;
        let grants = Grants::new(&plugin.manifest, &granted(&tp.grants));
        let config = plugin_store::open_config(&self.crm, tenant, id, tp.config);
        Ok(Ready(Active {
            plugin,
            config,
            grants,
        }))
    }

    /// Run one handler invocation on a blocking thread with a host API
    /// bound to the plugin's principal in `tenant`, and record the run as
    /// `entry_point` (counting a failure towards suspension).
    async fn run_handler<T: Send + 'static>(
        &self,
        tenant: Uuid,
        active: Active,
        entry_point: String,
        entity: &str,
        name: &str,
        call: impl FnOnce(
            &PluginRuntime,
            &LoadedPlugin,
            &HandlerContext,
            Arc<dyn HostApi>,
        ) -> Invocation<T>
        + Send
        + 'static,
    ) -> Result<T, PluginFailure> {
        let Active {
            plugin,
            config,
            grants,
        } = active;
        let config = Self::effective(&plugin, &config);
        let schema = self.schema.get().cloned().ok_or_else(|| PluginFailure {
            plugin: plugin.id().to_string(),
            code: "UNAVAILABLE".into(),
            message: "the GraphQL schema is not ready yet".into(),
        })?;
        let host: Arc<dyn HostApi> = Arc::new(TenantHostApi {
            crm: self.crm.clone(),
            schema,
            tenant,
            plugin: plugin.id().to_string(),
            principal: Principal::plugin(tenant, plugin.id(), grants.scopes().to_vec()),
            config: config.clone(),
            handle: tokio::runtime::Handle::current(),
            http: self.http.clone(),
            http_counts: self.http_counts.clone(),
        });
        let ctx = HandlerContext {
            tenant: tenant.to_string(),
            config,
            now: self
                .crm
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            name: name.to_string(),
            grants,
            deadline: None,
        };
        let rt = self.runtime.clone();
        let pl = plugin.clone();
        let inv = tokio::task::spawn_blocking(move || call(&rt, &pl, &ctx, host))
            .await
            .map_err(|e| PluginFailure {
                plugin: plugin.id().to_string(),
                code: "TRAP".into(),
                message: format!("the handler's thread failed: {e}"),
            })?;
        match inv.result {
            Ok(value) => {
                self.record(
                    tenant,
                    &plugin,
                    &entry_point,
                    entity,
                    &inv.stats,
                    Outcome::Ok,
                )
                .await;
                Ok(value)
            }
            Err(failure) => {
                self.record(
                    tenant,
                    &plugin,
                    &entry_point,
                    entity,
                    &inv.stats,
                    Outcome::Failed(&failure),
                )
                .await;
                Err(failure)
            }
        }
    }
}

/// The host API of one handler run: GraphQL as the plugin's principal,
/// key-value storage and events of the plugin in the tenant. The runtime
/// calls it from the blocking thread running the guest, so each call
/// blocks on the server's Tokio runtime.
struct TenantHostApi {
    crm: Crm,
    schema: CrmSchema,
    tenant: Uuid,
    plugin: String,
    principal: Principal,
    config: Value,
    handle: tokio::runtime::Handle,
    http: OutboundHttp,
    http_counts: HttpCounts,
}

impl TenantHostApi {
    fn graphql(&self, document: &str, variables: &Value) -> Result<Value, HostError> {
        let req = async_graphql::Request::new(document)
            .variables(async_graphql::Variables::from_json(variables.clone()))
            .data(self.principal.clone())
            .data(crm_graphql::Loaders::new(&self.crm, &self.principal));
        let resp = self.handle.block_on(self.schema.execute(req));
        if let Some(e) = resp.errors.first() {
            let code = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .and_then(|c| match c {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    async_graphql::Value::Enum(n) => Some(n.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "GRAPHQL_ERROR".to_string());
            return Err(HostError::new(code, e.message.clone()));
        }
        resp.data
            .into_json()
            .map_err(|e| HostError::new(host_codes::HOST_ERROR, e.to_string()))
    }

    /// A storage failure, logged in full; the plugin gets no internals.
    fn internal(&self, what: &str, e: crm_core::CoreError) -> HostError {
        tracing::error!(plugin = %self.plugin, tenant = %self.tenant, error = %e, "plugin {what} failed");
        HostError::new(
            host_codes::HOST_ERROR,
            format!("{what} failed; the server log has details"),
        )
    }
}

impl HostApi for TenantHostApi {
    fn query(&self, query: &str, variables: &Value) -> Result<Value, HostError> {
        self.graphql(query, variables)
    }

    fn mutate(&self, mutation: &str, variables: &Value) -> Result<Value, HostError> {
        self.graphql(mutation, variables)
    }

    fn kv_get(&self, key: &str) -> Result<Option<String>, HostError> {
        self.handle
            .block_on(plugin_store::kv_get(
                &self.crm,
                self.tenant,
                &self.plugin,
                key,
            ))
            .map_err(|e| self.internal("kv-get", e))
    }

    fn kv_set(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.handle
            .block_on(plugin_store::kv_set(
                &self.crm,
                self.tenant,
                &self.plugin,
                key,
                value,
            ))
            .map_err(|e| self.internal("kv-set", e))
    }

    fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.handle
            .block_on(plugin_store::kv_delete(
                &self.crm,
                self.tenant,
                &self.plugin,
                key,
            ))
            .map(|_| ())
            .map_err(|e| self.internal("kv-delete", e))
    }

    fn config(&self) -> Value {
        self.config.clone()
    }

    fn emit(&self, kind: &str, payload: &Value) -> Result<(), HostError> {
        let kind = format!("plugin.{}.{kind}", self.plugin);
        let crm = &self.crm;
        self.handle
            .block_on(crm_core::events::emit(
                &crm.db,
                &self.principal,
                crm.now(),
                &kind,
                "plugin",
                None,
                payload.clone(),
            ))
            .map_err(|e| self.internal("emit", e))?;
        crm.outbox_nudge.notify_waiters();
        Ok(())
    }

    fn http(
        &self,
        request: HttpRequest,
        timeout: std::time::Duration,
        max_body: usize,
    ) -> Result<HttpResponse, HostError> {
        let answer = self.http.send(&self.handle, request, timeout, max_body);
        let outcome = match &answer {
            Ok(r) => format!("{}xx", r.status / 100),
            Err(e) => e.code.clone(),
        };
        let mut counts = self.http_counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((self.plugin.clone(), outcome)).or_default() += 1;
        answer
    }
}

#[async_trait::async_trait]
impl PluginAdmin for PluginHost {
    async fn install(
        &self,
        manifest_toml: &str,
        component: Vec<u8>,
        upgrade: bool,
    ) -> Result<PluginInfo, PluginAdminError> {
        let manifest = Manifest::parse(manifest_toml).map_err(|e| {
            let mut err = PluginAdminError::new("BAD_USER_INPUT", e.to_string());
            err.fields = e
                .errors
                .iter()
                .map(|i| (format!("plugin.toml: {}", i.path), i.message.clone()))
                .collect();
            err
        })?;
        let exists = plugin_store::plugin_heads(&self.crm)
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?
            .into_iter()
            .any(|h| h.0 == manifest.id);
        if exists && !upgrade {
            return Err(PluginAdminError::new(
                "CONFLICT",
                format!(
                    "plugin {} is already installed; use upgradePlugin (or `crm plugin install --upgrade`)",
                    manifest.id
                ),
            ));
        }
        if !exists && upgrade {
            return Err(PluginAdminError::new(
                "NOT_FOUND",
                format!("plugin {} is not installed; use installPlugin", manifest.id),
            ));
        }
        let rt = self.runtime.clone();
        let m2 = manifest.clone();
        let bytes = component.clone();
        let loaded = tokio::task::spawn_blocking(move || rt.load(&m2, &bytes))
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?
            .map_err(|e| admin_err("BAD_USER_INPUT", e))?;
        let json = manifest.to_json();
        plugin_store::save_plugin(
            &self.crm,
            &manifest.id,
            &manifest.version.to_string(),
            &loaded.contract.to_string(),
            json.clone(),
            component,
            &loaded.hash,
        )
        .await
        .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(manifest.id.clone(), loaded.clone());
        self.invalidate_routes();
        Ok(PluginInfo {
            id: manifest.id.clone(),
            version: manifest.version.to_string(),
            contract: loaded.contract.to_string(),
            description: manifest.description.clone(),
            manifest: json,
            hash: loaded.hash.clone(),
        })
    }

    async fn uninstall(&self, id: &str) -> Result<(), PluginAdminError> {
        plugin_store::delete_plugin(&self.crm, id)
            .await
            .map_err(|e| match e {
                crm_core::CoreError::NotFound { .. } => {
                    admin_err("NOT_FOUND", format!("plugin {id} is not installed"))
                }
                e => admin_err("PLUGIN_FAILED", e),
            })?;
        if let Some(p) = self
            .loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
        {
            self.runtime.evict(&p.hash);
        }
        // Its storage goes with it (an upgrade keeps it: that is not an uninstall).
        if let Err(e) = plugin_store::kv_delete_plugin(&self.crm, id).await {
            tracing::error!(plugin = %id, error = %e, "cannot delete the plugin's key-value storage");
        }
        self.invalidate_routes();
        Ok(())
    }

    async fn list(&self) -> Result<Vec<PluginInfo>, PluginAdminError> {
        let infos = plugin_store::plugin_infos(&self.crm)
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        Ok(infos
            .into_iter()
            .map(|(id, version, contract, manifest, hash)| PluginInfo {
                description: manifest
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                id,
                version,
                contract,
                manifest,
                hash,
            })
            .collect())
    }

    async fn effective_config(
        &self,
        id: &str,
        overrides: &Value,
    ) -> Result<Value, PluginAdminError> {
        let m = self.manifest_of(id).await?;
        m.effective_config(overrides).map_err(|e| {
            let mut err = PluginAdminError::new("BAD_USER_INPUT", e.to_string());
            err.fields = e
                .errors
                .iter()
                .map(|i| (i.path.clone(), i.message.clone()))
                .collect();
            err
        })
    }

    async fn requested_capabilities(&self, id: &str) -> Result<Vec<String>, PluginAdminError> {
        Ok(Grants::requested(&self.manifest_of(id).await?))
    }

    fn changed(&self) {
        self.invalidate_routes();
    }

    async fn flush(&self) {
        self.flush_runs().await;
    }

    async fn rescore(&self, tenant: Uuid, id: &str) -> Result<RescoreReport, PluginAdminError> {
        self.rescore_with_progress(tenant, id, |_, _| {}).await
    }

    async fn check_records(
        &self,
        p: &Principal,
        req: crm_graphql::CheckRequest,
    ) -> Result<crm_graphql::RecordCheckReport, PluginAdminError> {
        let report = self.check_records(p, req, |_, _| {}).await;
        // The runs of the check are queryable as soon as it answers.
        self.flush_runs().await;
        report
    }

    async fn preview_scores(
        &self,
        p: &Principal,
        req: crm_graphql::PreviewRequest,
    ) -> Result<crm_graphql::ScorePreview, PluginAdminError> {
        let preview = self.preview_scores(p, req, |_, _| {}).await;
        self.flush_runs().await;
        preview
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_land_at_dotted_paths() {
        let mut r = serde_json::json!({"phone": "138 0013 8000", "customFields": {"a": 1}});
        apply_patch(&mut r, "phone", serde_json::json!("+8613800138000"));
        apply_patch(&mut r, "customFields.vin", serde_json::json!("X"));
        assert_eq!(r["phone"], "+8613800138000");
        assert_eq!(r["customFields"]["vin"], "X");
        assert_eq!(r["customFields"]["a"], 1);
    }

    #[test]
    fn plan_cache_hits_and_stays_bounded() {
        let cache = PlanCache::default();
        let plan = cache.get("contact", "{ title }").expect("compiles");
        let again = cache.get("contact", "{ title }").expect("cached");
        assert!(Arc::ptr_eq(&plan, &again), "a hit returns the cached plan");
        // Another entity with the same text is its own entry.
        let company = cache.get("company", "{ name }").expect("compiles");
        assert!(!Arc::ptr_eq(&plan, &company));
        assert_eq!(cache.len(), 2);
        // Many distinct queries (an upgrade per day for years) never hold
        // more than MAX_PLANS entries.
        for i in 0..(MAX_PLANS * 2) {
            cache.get("contact", &format!("{{ title a{i}: email }}"));
            assert!(cache.len() <= MAX_PLANS);
        }
        // An emptied cache compiles again.
        assert!(cache.get("contact", "{ title }").is_some());
    }

    /// The thread a call ran on.
    fn where_it_ran() -> std::thread::ThreadId {
        std::thread::current().id()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn caller_calls_run_on_the_callers_thread_and_panics_become_errors() {
        let here = std::thread::current().id();
        let ran_on = run_call(CallOn::Caller, where_it_ran).await.expect("runs");
        assert_eq!(ran_on, here, "no hop to the blocking pool");
        let pooled = run_call(CallOn::Pool, where_it_ran).await.expect("runs");
        assert_ne!(pooled, here, "bulk calls go to the blocking pool");
        for on in [CallOn::Caller, CallOn::Pool] {
            let err = run_call(on, || -> u8 { panic!("host bug") })
                .await
                .expect_err("a panic is an error");
            assert!(!err.is_empty());
        }
        // The worker is still serving after a panic on it.
        assert_eq!(run_call(CallOn::Caller, || 7).await, Ok(7));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_uses_the_pool() {
        // `block_in_place` would panic here.
        let here = std::thread::current().id();
        let ran_on = run_call(CallOn::Caller, where_it_ran).await.expect("runs");
        assert_ne!(ran_on, here);
    }
}
