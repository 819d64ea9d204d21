//! The durable job queue (DESIGN §5): event handlers, schedules, workflow
//! steps and timers run as rows of `jobs`.
//!
//! A worker *claims* due jobs by setting a lease (`locked_by`, `locked_until`);
//! on PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so many processes
//! share the queue and each job is claimed by one of them. A job whose worker
//! died is claimable again once its lease expires. Failures retry with
//! exponential backoff until `max_attempts`, then the job is `dead` until an
//! operator retries it. Enqueueing with an idempotency key is a no-op when the
//! key exists, which makes dispatch and scheduling safe to run in every process.

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::job;
use crate::error::{CoreError, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, TryInsertResult,
};
use serde_json::Value;
use uuid::Uuid;

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const SUCCEEDED: &str = "succeeded";
pub const DEAD: &str = "dead";

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub tenant: Option<Uuid>,
    /// What runs it: `plugin.event`, `plugin.schedule`, `plugin.webhook`, `plugin.rescore`, `workflow.start`, `workflow.resume`,
    /// `workflow.timer`, `sales.conversion_check`, `test.touch`.
    pub kind: String,
    pub payload: Value,
    pub run_at: crate::Timestamp,
    pub max_attempts: i32,
    /// Enqueueing twice with the same key creates one job.
    pub idempotency_key: Option<String>,
}

impl NewJob {
    pub fn new(tenant: Option<Uuid>, kind: &str, payload: Value, run_at: crate::Timestamp) -> Self {
        NewJob {
            tenant,
            kind: kind.to_string(),
            payload,
            run_at,
            max_attempts: 5,
            idempotency_key: None,
        }
    }
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Enqueue a job (inside a caller's transaction or not). Returns whether a row was created.
pub async fn enqueue<C: ConnectionTrait>(db: &C, now: crate::Timestamp, j: NewJob) -> Result<bool> {
    let am = job::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(j.tenant),
        kind: Set(j.kind),
        payload: Set(j.payload),
        status: Set(QUEUED.into()),
        attempts: Set(0),
        max_attempts: Set(j.max_attempts.max(1)),
        run_at: Set(j.run_at),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        idempotency_key: Set(j.idempotency_key),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    };
    let res = job::Entity::insert(am)
        .on_conflict_do_nothing_on([job::Column::IdempotencyKey])
        .exec_without_returning(db)
        .await?;
    Ok(matches!(res, TryInsertResult::Inserted(n) if n > 0))
}

/// Claim up to `limit` due jobs for `worker` with a lease of `lease`.
pub async fn claim(
    crm: &Crm,
    worker: &str,
    lease: chrono::Duration,
    limit: u64,
) -> Result<Vec<job::Model>> {
    claim_except(crm, worker, lease, limit, &[]).await
}

/// [`claim`], passing over the jobs of plugin lanes `busy` (tenant,
/// plugin): a worker already running a lane leaves its later jobs queued
/// rather than holding them behind it.
pub async fn claim_except(
    crm: &Crm,
    worker: &str,
    lease: chrono::Duration,
    limit: u64,
    busy: &[(Uuid, String)],
) -> Result<Vec<job::Model>> {
    let now = crm.now();
    let until = now + lease;
    let backend = crm.backend();
    let pg = backend == DbBackend::Postgres;
    // Placeholders: `$n` on PostgreSQL, `?` (in order) on SQLite.
    let mut n = 0;
    let mut ph = || {
        n += 1;
        if pg { format!("${n}") } else { "?".to_string() }
    };
    let (p_worker, p_until, p_now) = (ph(), ph(), ph());
    let (p_due_at, p_lease_at) = if pg {
        (p_now.clone(), p_now.clone())
    } else {
        (ph(), ph())
    };
    let plugin = if pg {
        "payload->>'plugin'"
    } else {
        "json_extract(payload, '$.plugin')"
    };
    let mut except = String::new();
    for _ in busy {
        let (t, p) = (ph(), ph());
        except.push_str(&format!(
            " AND NOT (tenant_id = {t} AND {plugin} IS NOT NULL AND {plugin} = {p})"
        ));
    }
    let p_limit = ph();
    let sql = format!(
        "UPDATE jobs SET status = 'running', locked_by = {p_worker}, locked_until = {p_until}, attempts = attempts + 1, updated_at = {p_now} \
         WHERE id IN (SELECT id FROM jobs WHERE ((status = 'queued' AND run_at <= {p_due_at}) OR (status = 'running' AND locked_until < {p_lease_at})){except} \
         ORDER BY run_at LIMIT {p_limit}{}) RETURNING id",
        if pg { " FOR UPDATE SKIP LOCKED" } else { "" }
    );
    let mut values: Vec<sea_orm::Value> = vec![worker.into(), until.into(), now.into()];
    if !pg {
        values.push(now.into());
        values.push(now.into());
    }
    for (tenant, plugin) in busy {
        values.push((*tenant).into());
        values.push(plugin.clone().into());
    }
    values.push((limit as i64).into());
    if backend == DbBackend::Sqlite {
        // A claim is a write even when nothing is due; on SQLite that takes
        // the database's one write lock after every event. Look first (a
        // read, which WAL never blocks).
        let due = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(job::Column::Status.eq(QUEUED))
                            .add(job::Column::RunAt.lte(now)),
                    )
                    .add(
                        sea_orm::Condition::all()
                            .add(job::Column::Status.eq(RUNNING))
                            .add(job::Column::LockedUntil.lt(now)),
                    ),
            )
            .limit(1)
            .into_tuple::<Uuid>()
            .one(&crm.db)
            .await?;
        if due.is_none() {
            return Ok(vec![]);
        }
    }
    let gate = crm.write_gate().await?;
    let rows = crm
        .db
        .query_all_raw(Statement::from_sql_and_values(backend, &sql, values))
        .await?;
    drop(gate);
    let ids: Vec<Uuid> = rows
        .iter()
        .filter_map(|r| r.try_get::<Uuid>("", "id").ok())
        .collect();
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(job::Entity::find()
        .filter(job::Column::Id.is_in(ids))
        .order_by_asc(job::Column::RunAt)
        .all(&crm.db)
        .await?)
}

/// Mark a claimed job done. Only the worker holding the lease can complete it,
/// so a job reclaimed after a lease expiry succeeds once.
pub async fn complete(crm: &Crm, id: Uuid, worker: &str) -> Result<bool> {
    let now = crm.now();
    let res = job::Entity::update_many()
        .col_expr(
            job::Column::Status,
            sea_orm::sea_query::Expr::value(SUCCEEDED),
        )
        .col_expr(
            job::Column::FinishedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .col_expr(job::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(
            job::Column::LockedUntil,
            sea_orm::sea_query::Expr::value(Option::<crate::Timestamp>::None),
        )
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::Status.eq(RUNNING));
    let _gate = crm.write_gate().await?;
    let res = res.exec(&crm.db).await?;
    Ok(res.rows_affected == 1)
}

/// Report a running job's progress: its payload becomes `payload` and its
/// lease is renewed for as long again as it was granted (from now), so a
/// long job (a rescore) is not claimed by another worker while its own is
/// alive. Only the worker holding the lease can; whether it still does.
pub async fn heartbeat(crm: &Crm, j: &job::Model, payload: Value) -> Result<bool> {
    use sea_orm::sea_query::Expr;
    let Some(worker) = j.locked_by.as_deref() else {
        return Ok(false);
    };
    let lease = j
        .locked_until
        .map(|until| until - j.updated_at)
        .filter(|d| *d > chrono::Duration::zero())
        .unwrap_or(chrono::Duration::seconds(60));
    let now = crm.now();
    let q = job::Entity::update_many()
        .col_expr(job::Column::Payload, Expr::value(payload))
        .col_expr(job::Column::LockedUntil, Expr::value(now + lease))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(j.id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::Status.eq(RUNNING));
    let _gate = crm.write_gate().await?;
    Ok(q.exec(&crm.db).await?.rows_affected == 1)
}

/// Renew the lease of a job `worker` is running to `lease` from now, so no
/// worker claims it again while this one is alive; whether it still holds
/// it.
pub async fn renew(crm: &Crm, id: Uuid, worker: &str, lease: chrono::Duration) -> Result<bool> {
    use sea_orm::sea_query::Expr;
    let now = crm.now();
    let q = job::Entity::update_many()
        .col_expr(job::Column::LockedUntil, Expr::value(now + lease))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::Status.eq(RUNNING));
    let _gate = crm.write_gate().await?;
    Ok(q.exec(&crm.db).await?.rows_affected == 1)
}

/// The job enqueued with idempotency key `key`.
pub async fn by_key(crm: &Crm, key: &str) -> Result<Option<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::IdempotencyKey.eq(key))
        .one(&crm.db)
        .await?)
}

/// One job of the caller's tenant.
pub async fn get(crm: &Crm, p: &Principal, id: Uuid) -> Result<job::Model> {
    p.require(Action::Read, "job")?;
    job::Entity::find_by_id(id)
        .filter(job::Column::TenantId.eq(p.tenant_id))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("job", id))
}

/// Jobs of `kind` in `tenant` whose payload names `plugin`: the queued or
/// running one if there is one, and the id of the newest of any status.
pub async fn plugin_jobs(
    crm: &Crm,
    tenant: Uuid,
    kind: &str,
    plugin: &str,
) -> Result<(Option<job::Model>, Option<Uuid>)> {
    let rows = job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant))
        .filter(job::Column::Kind.eq(kind))
        .order_by_desc(job::Column::CreatedAt)
        .order_by_desc(job::Column::Id)
        .all(&crm.db)
        .await?;
    let mut rows = rows
        .into_iter()
        .filter(|j| j.payload.get("plugin").and_then(Value::as_str) == Some(plugin));
    let newest = rows.next();
    let newest_id = newest.as_ref().map(|j| j.id);
    let pending = newest
        .into_iter()
        .chain(rows)
        .find(|j| j.status == QUEUED || j.status == RUNNING);
    Ok((pending, newest_id))
}

/// Exponential backoff: 5 s, 10 s, 20 s, ... capped at one hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let secs = 5i64.saturating_mul(1i64 << attempts.clamp(0, 20).saturating_sub(1));
    chrono::Duration::seconds(secs.min(3600))
}

/// Record a failed attempt: retry later with backoff, or dead-letter it.
pub async fn fail(crm: &Crm, j: &job::Model, worker: &str, error: &str) -> Result<&'static str> {
    let now = crm.now();
    let dead = j.attempts >= j.max_attempts;
    let status = if dead { DEAD } else { QUEUED };
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, sea_orm::sea_query::Expr::value(status))
        .col_expr(
            job::Column::LastError,
            sea_orm::sea_query::Expr::value(error.chars().take(4000).collect::<String>()),
        )
        .col_expr(
            job::Column::RunAt,
            sea_orm::sea_query::Expr::value(if dead {
                j.run_at
            } else {
                now + backoff(j.attempts)
            }),
        )
        .col_expr(
            job::Column::LockedUntil,
            sea_orm::sea_query::Expr::value(Option::<crate::Timestamp>::None),
        )
        .col_expr(job::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(
            job::Column::FinishedAt,
            sea_orm::sea_query::Expr::value(if dead { Some(now) } else { None }),
        )
        .filter(job::Column::Id.eq(j.id))
        .filter(job::Column::LockedBy.eq(worker));
    let gate = crm.write_gate().await?;
    let res = res.exec(&crm.db).await?;
    drop(gate);
    if res.rows_affected == 0 {
        return Ok("lost");
    }
    Ok(status)
}

/// Operator: put a dead (or failed) job back in the queue, due now.
pub async fn retry(crm: &Crm, p: &Principal, id: Uuid) -> Result<job::Model> {
    p.require(Action::Administer, "job")?;
    let j = job::Entity::find_by_id(id)
        .filter(job::Column::TenantId.eq(p.tenant_id))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("job", id))?;
    if j.status != DEAD && j.status != QUEUED {
        return Err(CoreError::Conflict(format!(
            "job {id} is {}; only dead or queued jobs can be retried",
            j.status
        )));
    }
    let now = crm.now();
    let mut a = j.into_active_model();
    a.status = Set(QUEUED.into());
    a.run_at = Set(now);
    a.attempts = Set(0);
    a.finished_at = Set(None);
    a.updated_at = Set(now);
    Ok(a.update(&crm.db).await?)
}

/// Jobs of the caller's tenant, newest first.
pub async fn list(
    crm: &Crm,
    p: &Principal,
    status: Option<&str>,
    kind: Option<&str>,
    limit: u64,
) -> Result<Vec<job::Model>> {
    p.require(Action::Read, "job")?;
    let mut q = job::Entity::find().filter(job::Column::TenantId.eq(p.tenant_id));
    if let Some(s) = status {
        q = q.filter(job::Column::Status.eq(s.to_lowercase()));
    }
    if let Some(k) = kind {
        q = q.filter(job::Column::Kind.eq(k));
    }
    Ok(q.order_by_desc(job::Column::CreatedAt)
        .limit(limit.clamp(1, 500))
        .all(&crm.db)
        .await?)
}

/// Counts per status (for metrics and the bench).
pub async fn counts(crm: &Crm) -> Result<Vec<(String, i64)>> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    Ok(job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(Expr::col(job::Column::Id).count(), "n")
        .group_by(job::Column::Status)
        .into_tuple()
        .all(&crm.db)
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(super::backoff(1).num_seconds(), 5);
        assert_eq!(super::backoff(2).num_seconds(), 10);
        assert_eq!(super::backoff(3).num_seconds(), 20);
        assert_eq!(super::backoff(30).num_seconds(), 3600);
    }
}
