//! The automation engine over the job queue: the outbox dispatcher, the
//! scheduler, the job executor, workflow steps and the built-in scenarios
//! (SLA escalation runs as the default workflow; the sales conversion alert
//! is a daily job per tenant).
//!
//! Every function here is a single pass (`dispatch_once`, `schedule_once`,
//! `work_once`) so the host can loop them in every process and tests can
//! drive them step by step with a controllable clock. All of them are safe to
//! run concurrently in several processes: dispatch and scheduling enqueue with
//! idempotency keys, and workers claim jobs with leases.

use crate::auth::Principal;
use crate::entity::{event, job, user, workflow, workflow_run};
use crate::error::{CoreError, Result};
use crate::jobs::{self, NewJob};
use crate::plugin_api::PluginFailure;
use crate::record;
use crate::{Crm, events};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Map, Value, json};
use std::str::FromStr;
use uuid::Uuid;

/// Parse a 5-field cron expression (UTC).
pub fn parse_cron(s: &str) -> std::result::Result<croner::Cron, String> {
    if s.split_whitespace().count() != 5 {
        return Err(format!(
            "{s:?} is not a 5-field cron expression (minute hour day month weekday)"
        ));
    }
    croner::Cron::from_str(s).map_err(|e| e.to_string())
}

/// Whether event `kind` matches `pattern` (exact, or a prefix ending in '.').
pub fn kind_matches(pattern: &str, kind: &str) -> bool {
    pattern == kind || (pattern.ends_with('.') && kind.starts_with(pattern)) || pattern == "*"
}

/// The record as GraphQL-shaped JSON, by entity name, as workflows see it:
/// sensitive custom fields masked (a workflow renders values into tasks and
/// messages that every rep reads).
pub async fn record_json(crm: &Crm, tenant: Uuid, entity: &str, id: Uuid) -> Result<Option<Value>> {
    let found = crate::with_kind!(entity, K => {
        match record::find::<K, _>(&crm.db, tenant, id).await? {
            Some(m) => Some(Value::Object(record::candidate_of::<K>(crm, tenant, &m).await?)),
            None => None,
        }
    }, _ => None);
    let Some(mut rec) = found else {
        return Ok(None);
    };
    if let Some(cf) = rec
        .get_mut("customFields")
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
    {
        let sensitive = crate::custom_field::sensitive_keys(&crm.db, tenant, entity).await?;
        crate::custom_field::mask(cf, &sensitive);
    }
    Ok(Some(rec))
}

// ---------------------------------------------------------------- dispatch

/// Turn committed, not yet dispatched events into jobs: plugin handlers,
/// event-triggered workflows and timers of timer workflows. Returns the
/// number of events dispatched.
pub async fn dispatch_once(crm: &Crm, limit: u64) -> Result<usize> {
    let batch = event::Entity::find()
        .filter(event::Column::PublishedAt.is_null())
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(&crm.db)
        .await?;
    let hooks = crm.hooks();
    let now = crm.now();
    // Each tenant's enabled workflows, read once per batch.
    let mut flows: std::collections::HashMap<Uuid, Vec<workflow::Model>> =
        std::collections::HashMap::new();
    for e in &batch {
        let payload = event_json(e);
        for (plugin, handler) in hooks.subscribers(e.tenant_id, &e.kind).await {
            let j = NewJob::new(
                Some(e.tenant_id),
                "plugin.event",
                json!({"plugin": plugin, "handler": handler, "event": payload}),
                now,
            )
            .key(format!("ev:{}:plugin:{plugin}:{handler}", e.id));
            {
                let _gate = crm.write_gate().await?;
                jobs::enqueue(&crm.db, now, j).await?;
            }
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = flows.entry(e.tenant_id) {
            slot.insert(
                workflow::Entity::find()
                    .filter(workflow::Column::TenantId.eq(e.tenant_id))
                    .filter(workflow::Column::Enabled.eq(true))
                    .all(&crm.db)
                    .await?,
            );
        }
        for w in flows.get(&e.tenant_id).into_iter().flatten() {
            match w.trigger.get("type").and_then(Value::as_str) {
                Some("event") => {
                    let hit = w
                        .trigger
                        .get("events")
                        .and_then(Value::as_array)
                        .is_some_and(|ks| {
                            ks.iter()
                                .filter_map(Value::as_str)
                                .any(|k| kind_matches(k, &e.kind))
                        });
                    if hit {
                        let j = NewJob::new(Some(e.tenant_id), "workflow.start", json!({"workflow": w.id, "entity": e.entity, "recordId": e.record_id, "event": payload}), now)
                            .key(format!("ev:{}:wf:{}", e.id, w.id));
                        {
                            let _gate = crm.write_gate().await?;
                            jobs::enqueue(&crm.db, now, j).await?;
                        }
                    }
                }
                Some("timer") => schedule_timer(crm, w, e).await?,
                _ => {}
            }
        }
        let _gate = crm.write_gate().await?;
        event::Entity::update_many()
            .col_expr(event::Column::PublishedAt, Expr::value(now))
            .filter(event::Column::Seq.eq(e.seq))
            .exec(&crm.db)
            .await?;
    }
    Ok(batch.len())
}

/// The event as handlers see it.
pub fn event_json(e: &event::Model) -> Value {
    json!({"id": e.id, "kind": e.kind, "entity": e.entity, "recordId": e.record_id, "payload": e.payload, "createdAt": crate::json::ts(&e.created_at), "seq": e.seq})
}

/// A record of a timer workflow's entity changed: (re)arm its timer at field + offset.
async fn schedule_timer(crm: &Crm, w: &workflow::Model, e: &event::Model) -> Result<()> {
    let entity = w
        .trigger
        .get("entity")
        .and_then(Value::as_str)
        .unwrap_or("");
    if e.entity != entity || !(e.kind.ends_with(".created") || e.kind.ends_with(".updated")) {
        return Ok(());
    }
    let Some(id) = e.record_id else { return Ok(()) };
    let field = w.trigger.get("field").and_then(Value::as_str).unwrap_or("");
    let offset = w
        .trigger
        .get("offsetMinutes")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let Some(rec) = record_json(crm, e.tenant_id, entity, id).await? else {
        return Ok(());
    };
    let Some(due) = rec
        .get(field)
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    else {
        return Ok(());
    };
    let at = due.with_timezone(&chrono::Utc) + chrono::Duration::minutes(offset);
    let j = NewJob::new(
        Some(e.tenant_id),
        "workflow.timer",
        json!({"workflow": w.id, "entity": entity, "recordId": id, "dueAt": crate::json::ts(&at)}),
        at,
    )
    .key(format!("timer:{}:{id}:{}", w.id, at.timestamp_millis()));
    let _gate = crm.write_gate().await?;
    jobs::enqueue(&crm.db, crm.now(), j).await?;
    Ok(())
}

// ---------------------------------------------------------------- schedule

/// Enqueue the latest due run of every schedule (plugin schedules, schedule
/// workflows, the daily sales conversion check). Idempotent per fire time.
pub async fn schedule_once(crm: &Crm) -> Result<usize> {
    let now = crm.now();
    let mut n = 0;
    let last = |cron: &str| -> Option<crate::Timestamp> {
        parse_cron(cron)
            .ok()?
            .find_previous_occurrence(&now, true)
            .ok()
    };
    for s in crm.hooks().schedules().await {
        if let Some(at) = last(&s.cron) {
            let j = NewJob::new(
                Some(s.tenant),
                "plugin.schedule",
                json!({"plugin": s.plugin, "schedule": s.name, "firedAt": crate::json::ts(&at)}),
                at,
            )
            .key(format!(
                "sched:{}:{}:{}:{}",
                s.tenant,
                s.plugin,
                s.name,
                at.timestamp()
            ));
            n += usize::from(jobs::enqueue(&crm.db, now, j).await?);
        }
    }
    let flows = workflow::Entity::find()
        .filter(workflow::Column::Enabled.eq(true))
        .all(&crm.db)
        .await?;
    for w in flows
        .iter()
        .filter(|w| w.trigger.get("type").and_then(Value::as_str) == Some("schedule"))
    {
        if let Some(at) = w.trigger.get("cron").and_then(Value::as_str).and_then(last) {
            let j = NewJob::new(
                Some(w.tenant_id),
                "workflow.start",
                json!({"workflow": w.id, "firedAt": crate::json::ts(&at)}),
                at,
            )
            .key(format!(
                "sched:{}:wf:{}:{}",
                w.tenant_id,
                w.id,
                at.timestamp()
            ));
            n += usize::from(jobs::enqueue(&crm.db, now, j).await?);
        }
    }
    for t in crate::tenant::tenants(crm).await? {
        let cron = t
            .settings
            .pointer("/automation/salesAlertCron")
            .and_then(Value::as_str)
            .unwrap_or("0 7 * * *")
            .to_string();
        if let Some(at) = last(&cron) {
            let j = NewJob::new(
                Some(t.id),
                "sales.conversion_check",
                json!({"firedAt": crate::json::ts(&at)}),
                at,
            )
            .key(format!("sched:{}:sales:{}", t.id, at.timestamp()));
            n += usize::from(jobs::enqueue(&crm.db, now, j).await?);
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------- work

/// Which jobs run one after the other: the jobs of one plugin in one
/// tenant (handlers keep state in their key-value store and must not race
/// themselves); every other job is a lane of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Lane {
    Plugin(Uuid, String),
    Alone(Uuid),
}

fn lane_of(j: &job::Model) -> Lane {
    match j.payload.get("plugin").and_then(Value::as_str) {
        Some(p) => Lane::Plugin(j.tenant_id.unwrap_or_default(), p.to_string()),
        None => Lane::Alone(j.id),
    }
}

/// Claimed jobs by lane, each lane's in claim (due) order.
fn lanes_of(claimed: Vec<job::Model>) -> std::collections::BTreeMap<Lane, Vec<job::Model>> {
    let mut lanes: std::collections::BTreeMap<Lane, Vec<job::Model>> = Default::default();
    for j in claimed {
        lanes.entry(lane_of(&j)).or_default().push(j);
    }
    lanes
}

/// Run one claimed job and record its outcome. Its lease is renewed while
/// it runs (every half lease), so only a worker that died loses it.
async fn run_job(crm: &Crm, j: &job::Model, worker: &str, lease: chrono::Duration) {
    let renew = async {
        let every = (lease / 2)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            match jobs::renew(crm, j.id, worker, lease).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => tracing::warn!(job = %j.id, error = %e, "cannot renew a job's lease"),
            }
        }
        // Lost (an operator's retry, say): let the job finish; completing
        // it will not count.
        std::future::pending::<()>().await
    };
    let outcome = tokio::select! {
        r = execute(crm, j) => r,
        () = renew => Err("the job's lease renewal stopped".to_string()),
    };
    let res = match outcome {
        Ok(()) => jobs::complete(crm, j.id, worker).await.map(|_| ()),
        Err(msg) => {
            tracing::warn!(job = %j.id, kind = %j.kind, attempt = j.attempts, error = %msg, "job failed");
            jobs::fail(crm, j, worker, &msg).await.map(|_| ())
        }
    };
    if let Err(e) = res {
        tracing::error!(job = %j.id, error = %e, "cannot record job outcome");
    }
}

/// Run a lane's claimed jobs one after the other. A job that waited behind
/// the ones before it renews its lease first; if it can no longer (the
/// lease ran out and another worker took it), it is left to that worker.
async fn run_lane(crm: &Crm, lane: Vec<job::Model>, worker: &str, lease: chrono::Duration) {
    for (i, j) in lane.into_iter().enumerate() {
        if i > 0 {
            match jobs::renew(crm, j.id, worker, lease).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(job = %j.id, error = %e, "cannot renew a job's lease");
                    continue;
                }
            }
        }
        run_job(crm, &j, worker, lease).await;
    }
}

/// Claim and run up to `limit` due jobs, and return when they are all
/// done. Returns how many ran. Tests drive the queue with it; `crm serve`
/// uses [`Runner`], which does not wait for a slow lane.
pub async fn work_once(
    crm: &Crm,
    worker: &str,
    lease: chrono::Duration,
    limit: u64,
) -> Result<usize> {
    let claimed = jobs::claim(crm, worker, lease, limit).await?;
    let n = claimed.len();
    let runs = lanes_of(claimed)
        .into_values()
        .map(|lane| run_lane(crm, lane, worker, lease));
    futures::future::join_all(runs).await;
    Ok(n)
}

/// A worker that keeps up to `lanes` lanes running at once and claims more
/// as soon as one finishes, passing over the plugin lanes it is already
/// running. So a plugin whose handlers are slow (each run up to its
/// deadline) or that has a long backlog occupies one lane: other plugins'
/// jobs, other tenants' jobs and workflows keep running beside it instead
/// of waiting for a whole batch behind it.
pub struct Runner {
    crm: Crm,
    worker: String,
    lease: chrono::Duration,
    lanes: usize,
    running: tokio::task::JoinSet<()>,
    /// The lane of each running task.
    tasks: std::collections::HashMap<tokio::task::Id, Lane>,
}

impl Runner {
    pub fn new(crm: Crm, worker: String, lease: chrono::Duration, lanes: usize) -> Runner {
        Runner {
            crm,
            worker,
            lease,
            lanes: lanes.max(1),
            running: tokio::task::JoinSet::new(),
            tasks: Default::default(),
        }
    }

    /// Claim due jobs for the free lanes and start them. Returns how many
    /// jobs were claimed.
    pub async fn fill(&mut self) -> Result<usize> {
        self.reap();
        let free = self.lanes.saturating_sub(self.running.len());
        if free == 0 {
            return Ok(0);
        }
        let busy: Vec<(Uuid, String)> = self
            .tasks
            .values()
            .filter_map(|l| match l {
                Lane::Plugin(t, p) => Some((*t, p.clone())),
                Lane::Alone(_) => None,
            })
            .collect();
        let claimed =
            jobs::claim_except(&self.crm, &self.worker, self.lease, free as u64, &busy).await?;
        let n = claimed.len();
        for (lane, jobs) in lanes_of(claimed) {
            let (crm, worker, lease) = (self.crm.clone(), self.worker.clone(), self.lease);
            let handle = self
                .running
                .spawn(async move { run_lane(&crm, jobs, &worker, lease).await });
            self.tasks.insert(handle.id(), lane);
        }
        Ok(n)
    }

    /// Forget the lanes that finished.
    fn reap(&mut self) {
        while let Some(done) = self.running.try_join_next_with_id() {
            self.finished(done);
        }
    }

    fn finished(
        &mut self,
        done: std::result::Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    ) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => {
                // The jobs' leases run out and they are claimed again.
                tracing::error!(error = %e, "a job lane stopped");
                e.id()
            }
        };
        self.tasks.remove(&id);
    }

    /// Wait until a running lane finishes; with none running, forever (for
    /// `select!` beside the other wake-ups).
    pub async fn lane_done(&mut self) {
        match self.running.join_next_with_id().await {
            Some(done) => self.finished(done),
            None => std::future::pending().await,
        }
    }
}

/// The job kind of a rescore in the background (`startRescore`).
pub const RESCORE_JOB: &str = "plugin.rescore";

/// Queue a rescore of `plugin` over every record of `tenant` and return its
/// job; while one is queued or running, that one instead. The job is keyed
/// on the newest rescore job of the plugin in the tenant, so two requests
/// racing past the pending check queue one job and both get it.
pub async fn queue_rescore(crm: &Crm, tenant: Uuid, plugin: &str) -> Result<job::Model> {
    let (pending, newest) = jobs::plugin_jobs(crm, tenant, RESCORE_JOB, plugin).await?;
    if let Some(j) = pending {
        return Ok(j);
    }
    let after = newest.map_or_else(|| "none".to_owned(), |id| id.to_string());
    let key = format!("rescore:{tenant}:{plugin}:after:{after}");
    let now = crm.now();
    let mut j = NewJob::new(
        Some(tenant),
        RESCORE_JOB,
        json!({"plugin": plugin, "progress": {"done": 0, "total": 0}}),
        now,
    )
    .key(key.clone());
    j.max_attempts = 3;
    jobs::enqueue(&crm.db, now, j).await?;
    jobs::by_key(crm, &key)
        .await?
        .ok_or_else(|| CoreError::not_found("job", key))
}

/// The job kind of a check of stored records in the background
/// (`startCheckRecords`).
pub const CHECK_JOB: &str = "plugin.check";

/// Queue a check of stored records by `p` (`request`: `plugin`, `entity`,
/// `apply`, `configPatch`) and return its job. The job acts as `p`'s API
/// key as it stands when the job runs: revoked by then, the job fails.
pub async fn queue_check(crm: &Crm, p: &Principal, request: Value) -> Result<job::Model> {
    let Some(key_id) = p.key_id else {
        return Err(CoreError::Forbidden(
            "a background check acts as the API key that asked for it; call it with an API key"
                .into(),
        ));
    };
    let mut payload = match request {
        Value::Object(o) => o,
        _ => {
            return Err(CoreError::invalid(
                "request",
                "INVALID_VALUE",
                "expected an object",
            ));
        }
    };
    payload.insert("keyId".into(), json!(key_id));
    payload.insert("progress".into(), json!({"done": 0, "total": 0}));
    let now = crm.now();
    let key = format!("check:{}:{}", p.tenant_id, Uuid::now_v7());
    let mut j =
        NewJob::new(Some(p.tenant_id), CHECK_JOB, Value::Object(payload), now).key(key.clone());
    // Running it again is harmless (an applied patch is not a change any
    // more), but a check that failed three times will not pass a fourth.
    j.max_attempts = 3;
    jobs::enqueue(&crm.db, now, j).await?;
    jobs::by_key(crm, &key)
        .await?
        .ok_or_else(|| CoreError::not_found("job", key))
}

/// Run a queued check as the key that asked for it.
async fn check_job(crm: &Crm, j: &job::Model, tenant: Uuid) -> std::result::Result<(), String> {
    let key = uuid_of(&j.payload, "keyId").ok_or("payload has no keyId")?;
    let p = crate::tenant::principal_of_key(crm, tenant, key)
        .await
        .map_err(|e| format!("cannot act as the API key that started this check: {e}"))?;
    let progress = Progress::default();
    let hooks = crm.hooks();
    let callback = progress.callback();
    let run = hooks.check_records(&p, &j.payload, &callback);
    progress.drive(crm, j, "check", run).await
}

/// Run a queued rescore.
async fn rescore_job(
    crm: &Crm,
    j: &job::Model,
    tenant: Uuid,
    plugin: &str,
) -> std::result::Result<(), String> {
    let progress = Progress::default();
    let hooks = crm.hooks();
    let callback = progress.callback();
    let run = hooks.rescore(tenant, plugin, &callback);
    progress.drive(crm, j, "rescore", run).await
}

/// The progress of a long plugin job (rescore, check): its payload carries
/// `progress` (`done`, `total` records), written every two seconds with the
/// lease renewed, and at the end the `report`.
#[derive(Default)]
struct Progress {
    done: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
}

impl Progress {
    /// What the work calls after each batch.
    fn callback(&self) -> impl Fn(u64, u64) + Send + Sync + '_ {
        use std::sync::atomic::Ordering::Relaxed;
        move |d, t| {
            self.done.store(d, Relaxed);
            self.total.store(t, Relaxed);
        }
    }

    fn payload(&self, j: &job::Model, extra: Option<(&str, Value)>) -> Value {
        use std::sync::atomic::Ordering::Relaxed;
        let mut payload = j.payload.clone();
        if let Some(o) = payload.as_object_mut() {
            o.insert(
                "progress".into(),
                json!({"done": self.done.load(Relaxed), "total": self.total.load(Relaxed)}),
            );
            if let Some((k, v)) = extra {
                o.insert(k.into(), v);
            }
        }
        payload
    }

    /// Run `work`, beating the job's heartbeat meanwhile, and store its report.
    async fn drive(
        &self,
        crm: &Crm,
        j: &job::Model,
        what: &str,
        work: impl std::future::Future<Output = std::result::Result<Value, PluginFailure>>,
    ) -> std::result::Result<(), String> {
        // Ends only when this worker no longer holds the job (its lease ran
        // out and another worker took it over): this run then stops.
        let beat = async {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                match jobs::heartbeat(crm, j, self.payload(j, None)).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(job = %j.id, error = %e, "cannot record the {what}'s progress")
                    }
                }
            }
        };
        let outcome = tokio::select! {
            r = work => r,
            () = beat => return Err(format!("another worker took this {what} over (its lease ran out); it runs there")),
        };
        match outcome {
            Ok(report) => {
                jobs::heartbeat(crm, j, self.payload(j, Some(("report", report))))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            Err(f) => Err(f.to_string()),
        }
    }
}

fn uuid_of(v: &Value, key: &str) -> Option<Uuid> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// Run one job. `Err` is the failure message (the job retries).
pub async fn execute(crm: &Crm, j: &job::Model) -> std::result::Result<(), String> {
    let tenant = j.tenant_id.unwrap_or_default();
    let p = &j.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match j.kind.as_str() {
        "plugin.event" => crm
            .hooks()
            .on_event(
                tenant,
                &s("plugin"),
                &s("handler"),
                p.get("event").unwrap_or(&Value::Null),
            )
            .await
            .map_err(|f| f.to_string()),
        "plugin.schedule" => crm
            .hooks()
            .on_schedule(tenant, &s("plugin"), &s("schedule"))
            .await
            .map_err(|f| f.to_string()),
        crate::webhook::JOB_KIND => crm
            .hooks()
            .on_webhook(
                tenant,
                &s("plugin"),
                &s("webhook"),
                p.get("request").unwrap_or(&Value::Null),
            )
            .await
            .map_err(|f| f.to_string()),
        RESCORE_JOB => rescore_job(crm, j, tenant, &s("plugin")).await,
        CHECK_JOB => check_job(crm, j, tenant).await,
        "workflow.start" => {
            let wf = uuid_of(p, "workflow").ok_or("payload has no workflow")?;
            let w = match crate::workflow::get(crm, tenant, wf).await {
                Ok(w) if w.enabled => w,
                _ => return Ok(()), // deleted or disabled since: nothing to do
            };
            start_run(
                crm,
                &w,
                p.get("entity").and_then(Value::as_str),
                uuid_of(p, "recordId"),
                p.get("event"),
            )
            .await
            .map_err(|e| e.to_string())
        }
        "workflow.timer" => {
            let wf = uuid_of(p, "workflow").ok_or("payload has no workflow")?;
            let w = match crate::workflow::get(crm, tenant, wf).await {
                Ok(w) if w.enabled => w,
                _ => return Ok(()),
            };
            let entity = s("entity");
            let id = uuid_of(p, "recordId").ok_or("payload has no recordId")?;
            // The record may have moved its due time since: only fire when still due.
            let Some(rec) = record_json(crm, tenant, &entity, id)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(());
            };
            let field = w.trigger.get("field").and_then(Value::as_str).unwrap_or("");
            let offset = w
                .trigger
                .get("offsetMinutes")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let due = rec
                .get(field)
                .and_then(Value::as_str)
                .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
                .map(|d| d.with_timezone(&chrono::Utc) + chrono::Duration::minutes(offset));
            match due {
                Some(d) if d <= crm.now() && crate::json::ts(&d) == s("dueAt") => {
                    start_run(crm, &w, Some(&entity), Some(id), None)
                        .await
                        .map_err(|e| e.to_string())
                }
                _ => Ok(()),
            }
        }
        "workflow.resume" => {
            let run = uuid_of(p, "run").ok_or("payload has no run")?;
            let step = p.get("step").and_then(Value::as_u64).unwrap_or(0) as usize;
            resume_run(crm, tenant, run, step)
                .await
                .map_err(|e| e.to_string())
        }
        "sales.conversion_check" => sales_conversion_check(crm, tenant)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "test.touch" => {
            // For tests and benchmarks: optionally sleep, then record one audit row per run.
            if let Some(ms) = p.get("sleepMs").and_then(Value::as_u64) {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let sys = Principal::system(tenant);
            events::audit(
                &crm.db,
                &sys,
                crm.now(),
                "touched",
                "job",
                Some(j.id),
                json!({"attempt": j.attempts}),
            )
            .await
            .map_err(|e| e.to_string())
        }
        other => Err(format!("unknown job kind {other:?}")),
    }
}

// ---------------------------------------------------------------- workflows

/// Whether one condition holds on a record.
pub fn condition_holds(c: &Value, rec: &Value) -> bool {
    let field = c.get("field").and_then(Value::as_str).unwrap_or("");
    let actual = rec
        .pointer(&format!("/{}", field.replace('.', "/")))
        .cloned()
        .unwrap_or(Value::Null);
    let want = c.get("value").cloned().unwrap_or(Value::Null);
    let num = |v: &Value| {
        v.as_f64().or_else(|| {
            v.as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.timestamp_millis() as f64)
        })
    };
    let same = |a: &Value, b: &Value| match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    };
    match c.get("op").and_then(Value::as_str).unwrap_or("eq") {
        "eq" => same(&actual, &want),
        "neq" => !same(&actual, &want),
        "in" => want
            .as_array()
            .is_some_and(|a| a.iter().any(|w| same(&actual, w))),
        "isNull" => actual.is_null() == want.as_bool().unwrap_or(true),
        "contains" => match (&actual, &want) {
            (Value::String(a), Value::String(w)) => a.to_lowercase().contains(&w.to_lowercase()),
            (Value::Array(a), w) => a.iter().any(|x| same(x, w)),
            _ => false,
        },
        op => match (num(&actual), num(&want)) {
            (Some(a), Some(w)) => match op {
                "gt" => a > w,
                "gte" => a >= w,
                "lt" => a < w,
                "lte" => a <= w,
                _ => false,
            },
            _ => false,
        },
    }
}

/// Replace `{{field}}` with the record's values.
fn render(template: &str, rec: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = rest[start + 2..start + end].trim();
        match rec.pointer(&format!("/{}", key.replace('.', "/"))) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => {}
            Some(v) => out.push_str(&v.to_string()),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Start a run of `w` on a record, if its conditions hold on the record
/// (and, under `event`, the event that triggered it: `event.kind`,
/// `event.payload.to`).
async fn start_run(
    crm: &Crm,
    w: &workflow::Model,
    entity: Option<&str>,
    record_id: Option<Uuid>,
    event: Option<&Value>,
) -> Result<()> {
    let rec = match (entity, record_id) {
        (Some(e), Some(id)) => record_json(crm, w.tenant_id, e, id).await?,
        _ => None,
    };
    let mut rec_v = rec.clone().unwrap_or(Value::Null);
    if let Some(event) = event {
        match &mut rec_v {
            Value::Object(o) => {
                o.insert("event".into(), event.clone());
            }
            other => *other = json!({ "event": event }),
        }
    }
    let conditions = w.conditions.as_array().cloned().unwrap_or_default();
    if !conditions.iter().all(|c| condition_holds(c, &rec_v)) {
        return Ok(());
    }
    let now = crm.now();
    let run = workflow_run::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(w.tenant_id),
        workflow_id: Set(w.id),
        entity: Set(entity.map(str::to_string)),
        record_id: Set(record_id),
        status: Set("running".into()),
        steps: Set(json!([])),
        error: Set(None),
        finished_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&crm.db)
    .await?;
    let p = Principal::system(w.tenant_id);
    events::emit(
        &crm.db,
        &p,
        now,
        "workflow.run_started",
        "workflow",
        Some(w.id),
        json!({"workflow": w.name, "runId": run.id, "entity": entity, "recordId": record_id}),
    )
    .await?;
    crm.outbox_nudge.notify_waiters();
    run_steps(crm, w, run, 0).await
}

async fn resume_run(crm: &Crm, tenant: Uuid, run_id: Uuid, step: usize) -> Result<()> {
    let Some(run) = workflow_run::Entity::find_by_id(run_id)
        .filter(workflow_run::Column::TenantId.eq(tenant))
        .one(&crm.db)
        .await?
    else {
        return Ok(());
    };
    if run.status != "waiting" {
        return Ok(());
    }
    let w = crate::workflow::get(crm, tenant, run.workflow_id).await?;
    run_steps(crm, &w, run, step).await
}

/// Execute steps from `from`, recording each; a delay parks the run as a job.
async fn run_steps(
    crm: &Crm,
    w: &workflow::Model,
    run: workflow_run::Model,
    from: usize,
) -> Result<()> {
    let steps = w.steps.as_array().cloned().unwrap_or_default();
    let mut log = run.steps.as_array().cloned().unwrap_or_default();
    let p = Principal::system(w.tenant_id);
    let mut status = "succeeded";
    let mut error = None;
    for (i, step) in steps.iter().enumerate().skip(from) {
        let rec = match (run.entity.as_deref(), run.record_id) {
            (Some(e), Some(id)) => record_json(crm, w.tenant_id, e, id)
                .await?
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let t = step.get("type").and_then(Value::as_str).unwrap_or("");
        if t == "delay" {
            let minutes = step.get("minutes").and_then(Value::as_i64).unwrap_or(0);
            let at = crm.now() + chrono::Duration::minutes(minutes);
            log.push(json!({"step": i, "type": t, "status": "waiting", "until": crate::json::ts(&at), "at": crate::json::ts(&crm.now())}));
            let j = NewJob::new(
                Some(w.tenant_id),
                "workflow.resume",
                json!({"run": run.id, "step": i + 1}),
                at,
            )
            .key(format!("resume:{}:{}", run.id, i + 1));
            jobs::enqueue(&crm.db, crm.now(), j).await?;
            save_run(crm, &run, "waiting", &log, None).await?;
            return Ok(());
        }
        match run_step(crm, &p, step, &rec, run.entity.as_deref(), run.record_id).await {
            Ok(detail) => log.push(json!({"step": i, "type": t, "status": "succeeded", "detail": detail, "at": crate::json::ts(&crm.now())})),
            Err(e) => {
                log.push(json!({"step": i, "type": t, "status": "failed", "error": e.to_string(), "at": crate::json::ts(&crm.now())}));
                status = "failed";
                error = Some(e.to_string());
                break;
            }
        }
    }
    save_run(crm, &run, status, &log, error).await?;
    events::emit(
        &crm.db,
        &p,
        crm.now(),
        &format!("workflow.run_{status}"),
        "workflow",
        Some(w.id),
        json!({"workflow": w.name, "runId": run.id, "recordId": run.record_id}),
    )
    .await?;
    crm.outbox_nudge.notify_waiters();
    Ok(())
}

async fn save_run(
    crm: &Crm,
    run: &workflow_run::Model,
    status: &str,
    log: &[Value],
    error: Option<String>,
) -> Result<()> {
    let mut a = run.clone().into_active_model();
    a.status = Set(status.to_string());
    a.steps = Set(Value::Array(log.to_vec()));
    a.error = Set(error);
    a.updated_at = Set(crm.now());
    if status != "waiting" && status != "running" {
        a.finished_at = Set(Some(crm.now()));
    }
    a.update(&crm.db).await?;
    Ok(())
}

/// Who a step's `assignee` names: a user id, `owner`/`assignee` (the record's
/// `ownerId`/`assigneeId`), `manager_of:<field>` (that user's supervisor), or
/// `pipeline_manager`. Falls back to the tenant's first manager, then admin.
pub async fn resolve_assignee(
    crm: &Crm,
    tenant: Uuid,
    spec: &str,
    rec: &Value,
) -> Result<Option<Uuid>> {
    let field_user = |f: &str| {
        rec.get(f)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    let direct = match spec {
        "owner" => field_user("ownerId"),
        "assignee" => field_user("assigneeId"),
        s if s.starts_with("manager_of:") => {
            let who = field_user(&s["manager_of:".len()..]).or_else(|| field_user("ownerId"));
            match who {
                Some(u) => user::Entity::find_by_id(u)
                    .filter(user::Column::TenantId.eq(tenant))
                    .one(&crm.db)
                    .await?
                    .and_then(|u| u.manager_id),
                None => None,
            }
        }
        s => Uuid::parse_str(s).ok(),
    };
    if direct.is_some() {
        return Ok(direct);
    }
    for role in ["manager", "admin"] {
        if let Some(u) = user::Entity::find()
            .filter(user::Column::TenantId.eq(tenant))
            .filter(user::Column::Role.eq(role))
            .order_by_asc(user::Column::CreatedAt)
            .one(&crm.db)
            .await?
        {
            return Ok(Some(u.id));
        }
    }
    Ok(None)
}

async fn run_step(
    crm: &Crm,
    p: &Principal,
    step: &Value,
    rec: &Value,
    entity: Option<&str>,
    record_id: Option<Uuid>,
) -> Result<Value> {
    let str_of = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or("");
    match str_of("type") {
        "createTask" => {
            let assignee = resolve_assignee(
                crm,
                p.tenant_id,
                step.get("assignee")
                    .and_then(Value::as_str)
                    .unwrap_or("owner"),
                rec,
            )
            .await?;
            let due = step
                .get("dueInMinutes")
                .and_then(Value::as_i64)
                .map(|m| crate::json::ts(&(crm.now() + chrono::Duration::minutes(m))));
            let mut input = json!({"title": render(str_of("title"), rec), "assigneeId": assignee, "dueAt": due});
            if let Some(d) = step.get("description").and_then(Value::as_str) {
                input["description"] = render(d, rec).into();
            }
            if let (Some(e), Some(id)) = (entity, record_id)
                && crate::task::LINKABLE.contains(&e)
            {
                input["recordEntity"] = e.to_uppercase().into();
                input["recordId"] = id.to_string().into();
            }
            let t = record::create::<crate::task::Task>(crm, p, input).await?;
            Ok(json!({"taskId": t.id, "assigneeId": t.assignee_id}))
        }
        "updateField" => {
            let (Some(e), Some(id)) = (entity, record_id) else {
                return Err(CoreError::invalid(
                    "step",
                    "NO_RECORD",
                    "updateField needs a record",
                ));
            };
            let mut patch = Map::new();
            patch.insert(
                str_of("field").to_string(),
                step.get("value").cloned().unwrap_or(Value::Null),
            );
            record::update_of(crm, p, e, id, Value::Object(patch)).await?;
            Ok(json!({"field": str_of("field")}))
        }
        "addTag" => {
            let (Some(e), Some(id)) = (entity, record_id) else {
                return Err(CoreError::invalid(
                    "step",
                    "NO_RECORD",
                    "addTag needs a record",
                ));
            };
            let mut tags: Vec<Value> = rec
                .get("tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let tag = render(str_of("tag"), rec);
            if !tags.iter().any(|t| t.as_str() == Some(&tag)) {
                tags.push(tag.clone().into());
            }
            record::update_of(crm, p, e, id, json!({"tags": tags})).await?;
            Ok(json!({"tag": tag}))
        }
        "notify" => {
            let kind = str_of("kind");
            let kind = if kind.contains('.') {
                kind.to_string()
            } else {
                format!("workflow.{kind}")
            };
            let payload = json!({"message": render(str_of("message"), rec), "entity": entity, "recordId": record_id, "record": rec});
            events::emit(
                &crm.db,
                p,
                crm.now(),
                &kind,
                entity.unwrap_or("workflow"),
                record_id,
                payload,
            )
            .await?;
            crm.outbox_nudge.notify_waiters();
            Ok(json!({"event": kind}))
        }
        "runAction" => {
            let input = step.get("input").cloned().unwrap_or(json!({}));
            let input = serde_json::from_str(&render(&input.to_string(), rec)).unwrap_or(input);
            let out = crm
                .hooks()
                .action(p.tenant_id, str_of("plugin"), str_of("action"), input)
                .await
                .map_err(CoreError::PluginFailed)?;
            Ok(out)
        }
        other => Err(CoreError::invalid(
            "step.type",
            "INVALID_VALUE",
            format!("unknown step {other}"),
        )),
    }
}

// ---------------------------------------------------------------- sales alert

/// DOMAIN §5: alert a pipeline's manager when a stage's conversion over the
/// last 30 days fell below its historical average. Returns alerts raised.
pub async fn sales_conversion_check(crm: &Crm, tenant: Uuid) -> Result<usize> {
    let p = Principal::system(tenant);
    let t = crate::tenant::get_tenant(crm, tenant).await?;
    let window = t
        .settings
        .pointer("/automation/conversionWindowDays")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let min_deals = t
        .settings
        .pointer("/automation/conversionMinDeals")
        .and_then(Value::as_i64)
        .unwrap_or(3);
    let since = crm.now() - chrono::Duration::days(window);
    let mut raised = 0;
    let pipelines = record::list::<crate::pipeline::Pipeline>(
        crm,
        &p,
        &crate::query::ListArgs {
            limit: 100,
            ..Default::default()
        },
    )
    .await?
    .items;
    for pl in pipelines {
        let all = crate::analytics::funnel(crm, &p, pl.id, None).await?;
        let recent = crate::analytics::funnel(crm, &p, pl.id, Some(since)).await?;
        for (h, r) in all.iter().zip(recent.iter()) {
            let (Some(hist), Some(now_rate)) = (h.conversion_rate, r.conversion_rate) else {
                continue;
            };
            let prev_reached = recent
                .iter()
                .filter(|s| !s.stage.is_lost && s.stage.position < r.stage.position)
                .map(|s| s.reached)
                .next_back()
                .unwrap_or(0);
            if prev_reached < min_deals || now_rate >= hist {
                continue;
            }
            let rec = json!({"pipeline": pl.name, "stage": r.stage.name, "recent": format!("{now_rate:.0}%"), "historical": format!("{hist:.0}%"), "ownerId": pl.manager_id});
            let assignee = resolve_assignee(crm, tenant, "owner", &rec).await?;
            let title = format!(
                "Conversion into \"{}\" ({}) fell to {now_rate:.0}% over the last {window} days (historical {hist:.0}%)",
                r.stage.name, pl.name
            );
            record::create::<crate::task::Task>(crm, &p, json!({"title": title, "assigneeId": assignee, "dueAt": crate::json::ts(&(crm.now() + chrono::Duration::days(1)))})).await?;
            events::emit(&crm.db, &p, crm.now(), "pipeline.conversion_dropped", "pipeline", Some(pl.id), json!({"stageId": r.stage.id, "stage": r.stage.name, "recentRate": now_rate, "historicalRate": hist, "windowDays": window, "managerId": pl.manager_id})).await?;
            raised += 1;
        }
    }
    crm.outbox_nudge.notify_waiters();
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_like_users_expect() {
        let rec = json!({"priority": "P1", "firstRespondedAt": null, "amount": 6_000_000.0, "tags": ["vip"], "dueAt": "2026-01-01T10:00:00Z"});
        assert!(condition_holds(
            &json!({"field": "priority", "op": "in", "value": ["P1", "P2"]}),
            &rec
        ));
        assert!(condition_holds(
            &json!({"field": "firstRespondedAt", "op": "isNull", "value": true}),
            &rec
        ));
        assert!(condition_holds(
            &json!({"field": "amount", "op": "gt", "value": 5_000_000}),
            &rec
        ));
        assert!(condition_holds(
            &json!({"field": "tags", "op": "contains", "value": "vip"}),
            &rec
        ));
        assert!(condition_holds(
            &json!({"field": "dueAt", "op": "lt", "value": "2026-01-02T00:00:00Z"}),
            &rec
        ));
        assert!(!condition_holds(
            &json!({"field": "priority", "op": "eq", "value": "P2"}),
            &rec
        ));
    }

    #[test]
    fn templates_render_record_fields() {
        let rec = json!({"subject": "Down", "priority": "P1", "n": 3});
        assert_eq!(
            render("{{priority}}: {{subject}} x{{n}} {{missing}}!", &rec),
            "P1: Down x3 !"
        );
    }

    #[test]
    fn kinds_match_exactly_or_by_prefix() {
        assert!(kind_matches("ticket.", "ticket.created"));
        assert!(kind_matches("ticket.created", "ticket.created"));
        assert!(!kind_matches("ticket.created", "ticket.updated"));
        assert!(parse_cron("0 6 * * *").is_ok());
        assert!(parse_cron("0 6 * *").is_err());
    }
}
