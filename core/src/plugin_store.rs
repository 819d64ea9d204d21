//! Plugins as data: installed components, per-tenant enablement and grants,
//! run records and stored scores. The wasm side lives in the host; this module
//! is what every `crm serve` process shares through the database.

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::{plugin, plugin_run, score, tenant_plugin};
use crate::error::{CoreError, Result};
use crate::plugin_api::ScoreValue;
use crate::record::Kind;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

/// Status of a plugin in a tenant.
pub const ACTIVE: &str = "active";
pub const SUSPENDED: &str = "suspended";

/// Store (or replace, for upgrades) an installed plugin. The caller has already
/// parsed the manifest and compiled the component.
pub async fn save_plugin(
    crm: &Crm,
    id: &str,
    version: &str,
    contract: &str,
    manifest: Value,
    component: Vec<u8>,
    hash: &str,
) -> Result<plugin::Model> {
    let now = crm.now();
    let existing = plugin::Entity::find_by_id(id.to_string())
        .one(&crm.db)
        .await?;
    let m = plugin::ActiveModel {
        id: Set(id.to_string()),
        version: Set(version.to_string()),
        contract: Set(contract.to_string()),
        manifest: Set(manifest),
        component: Set(component),
        hash: Set(hash.to_string()),
        installed_at: Set(existing.as_ref().map(|e| e.installed_at).unwrap_or(now)),
        updated_at: Set(now),
    };
    Ok(if existing.is_some() {
        m.update(&crm.db).await?
    } else {
        m.insert(&crm.db).await?
    })
}

pub async fn plugins(crm: &Crm) -> Result<Vec<plugin::Model>> {
    Ok(plugin::Entity::find()
        .order_by_asc(plugin::Column::Id)
        .all(&crm.db)
        .await?)
}

/// Installed plugins without their component bytes (cheap listing).
pub async fn plugin_heads(crm: &Crm) -> Result<Vec<(String, String, String)>> {
    Ok(plugin::Entity::find()
        .select_only()
        .column(plugin::Column::Id)
        .column(plugin::Column::Version)
        .column(plugin::Column::Hash)
        .into_tuple::<(String, String, String)>()
        .all(&crm.db)
        .await?)
}

pub async fn plugin(crm: &Crm, id: &str) -> Result<plugin::Model> {
    plugin::Entity::find_by_id(id.to_string())
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("plugin", id))
}

/// The stored manifest (JSON) of an installed plugin, without loading its
/// component.
pub async fn manifest_of(crm: &Crm, plugin_id: &str) -> Result<Option<Value>> {
    Ok(plugin::Entity::find_by_id(plugin_id.to_string())
        .select_only()
        .column(plugin::Column::Manifest)
        .into_tuple::<Value>()
        .one(&crm.db)
        .await?)
}

/// Remove a plugin everywhere: its enablements, scores and webhook URLs (a
/// reinstall does not revive an old URL).
pub async fn delete_plugin(crm: &Crm, id: &str) -> Result<()> {
    let txn = crm.write_txn().await?;
    tenant_plugin::Entity::delete_many()
        .filter(tenant_plugin::Column::PluginId.eq(id))
        .exec(&txn)
        .await?;
    crate::entity::plugin_webhook::Entity::delete_many()
        .filter(crate::entity::plugin_webhook::Column::PluginId.eq(id))
        .exec(&txn)
        .await?;
    score::Entity::delete_many()
        .filter(score::Column::PluginId.eq(id))
        .exec(&txn)
        .await?;
    let res = plugin::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(CoreError::not_found("plugin", id));
    }
    txn.commit().await?;
    Ok(())
}

/// What enabling a plugin grants when the operator names no grants: every
/// capability it asks for except `pii:read` and outbound HTTP
/// (`http:<origin>`), which are only ever granted by name: reading
/// sensitive personal data, and sending data out of the CRM, each need an
/// explicit permission.
///
/// ```
/// let asked = ["read:contact", "pii:read", "kv", "http:https://erp.example.com"].map(String::from);
/// assert_eq!(crm_core::plugin_store::implicit_grants(&asked), ["read:contact", "kv"]);
/// ```
pub fn implicit_grants(requested: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|c| *c != crate::custom_field::PII_READ && !c.starts_with("http:"))
        .cloned()
        .collect()
}

/// Enable a plugin for the caller's tenant with its configuration and granted capabilities.
pub async fn enable(
    crm: &Crm,
    p: &Principal,
    plugin_id: &str,
    config: Value,
    grants: Value,
) -> Result<tenant_plugin::Model> {
    p.require(Action::Administer, "plugin")?;
    let manifest = manifest_of(crm, plugin_id)
        .await?
        .ok_or_else(|| CoreError::not_found("plugin", plugin_id))?;
    let now = crm.now();
    let existing = tenant_plugin(crm, p.tenant_id, plugin_id).await?;
    let config = seal_secrets(
        crm,
        p.tenant_id,
        plugin_id,
        &manifest,
        config,
        existing.as_ref().map(|e| &e.config),
    )?;
    let m = tenant_plugin::ActiveModel {
        tenant_id: Set(p.tenant_id),
        plugin_id: Set(plugin_id.to_string()),
        enabled: Set(true),
        config: Set(config),
        grants: Set(grants),
        status: Set(ACTIVE.into()),
        status_reason: Set(None),
        consecutive_failures: Set(0),
        updated_at: Set(now),
    };
    let txn = crm.write_txn().await?;
    let saved = if existing.is_some() {
        m.update(&txn).await?
    } else {
        m.insert(&txn).await?
    };
    crate::events::record(
        &txn,
        p,
        now,
        "plugin",
        "enabled",
        None,
        serde_json::json!({"pluginId": plugin_id}),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Keys of type `secret` in `manifest`'s configuration schema (the manifest
/// as stored: JSON).
pub fn secret_keys(manifest: &Value) -> Vec<String> {
    manifest["config"]
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, f)| f["type"] == "secret")
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Seal the secret keys of `config` (tenant overrides about to be stored).
/// A secret given as `********` (what a client reads back) or as any
/// sealed-looking text keeps the value stored before, if any.
fn seal_secrets(
    crm: &Crm,
    tenant: Uuid,
    plugin_id: &str,
    manifest: &Value,
    mut config: Value,
    existing: Option<&Value>,
) -> Result<Value> {
    use crate::secrets::{config_aad, is_sealed};
    let Some(fields) = config.as_object_mut() else {
        return Ok(config);
    };
    for key in secret_keys(manifest) {
        let Some(value) = fields.get(&key).cloned() else {
            continue;
        };
        if value.as_str() == Some(crate::custom_field::MASK) || is_sealed(&value) {
            match existing.and_then(|e| e.get(&key)).filter(|e| is_sealed(e)) {
                Some(stored) => fields.insert(key, stored.clone()),
                None => fields.remove(&key),
            };
            continue;
        }
        let sealed = crm
            .data_key
            .seal(&config_aad(tenant, plugin_id, &key), &value)
            .map_err(|why| {
                CoreError::invalid(
                    format!("config.{key}"),
                    "DATA_KEY_MISSING",
                    format!("{key} is a secret and cannot be stored: {why}"),
                )
            })?;
        fields.insert(key, Value::String(sealed));
    }
    Ok(config)
}

/// `config` as API clients see it: secrets as `********`.
pub fn masked_config(mut config: Value) -> Value {
    if let Some(fields) = config.as_object_mut() {
        for value in fields.values_mut() {
            if crate::secrets::is_sealed(value) {
                *value = Value::String(crate::custom_field::MASK.into());
            }
        }
    }
    config
}

/// `config` as the plugin gets it: secrets opened. One that cannot be
/// opened (the data key changed) is left out, and logged: the plugin sees
/// it missing rather than as ciphertext.
pub fn open_config(crm: &Crm, tenant: Uuid, plugin_id: &str, mut config: Value) -> Value {
    if let Some(fields) = config.as_object_mut() {
        fields.retain(|key, value| {
            if !crate::secrets::is_sealed(value) {
                return true;
            }
            let aad = crate::secrets::config_aad(tenant, plugin_id, key);
            match value.as_str().map(|s| crm.data_key.open(&aad, s)) {
                Some(Ok(plain)) => {
                    *value = plain;
                    true
                }
                Some(Err(e)) => {
                    tracing::error!(plugin = plugin_id, %tenant, key, error = %e, "cannot open a secret of the plugin's configuration");
                    false
                }
                None => false,
            }
        });
    }
    config
}

pub async fn disable(crm: &Crm, p: &Principal, plugin_id: &str) -> Result<tenant_plugin::Model> {
    p.require(Action::Administer, "plugin")?;
    let tp = tenant_plugin(crm, p.tenant_id, plugin_id)
        .await?
        .ok_or_else(|| CoreError::not_found("plugin", plugin_id))?;
    let mut a = tp.into_active_model();
    a.enabled = Set(false);
    a.updated_at = Set(crm.now());
    let txn = crm.write_txn().await?;
    let saved = a.update(&txn).await?;
    crate::events::record(
        &txn,
        p,
        crm.now(),
        "plugin",
        "disabled",
        None,
        serde_json::json!({"pluginId": plugin_id}),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// How a plugin stands in a tenant, given its enablement there:
/// `ACTIVE`, `SUSPENDED` (see its `status_reason`) or `DISABLED` (never
/// enabled, or disabled).
pub fn status_label(t: Option<&tenant_plugin::Model>) -> String {
    match t {
        Some(t) if t.enabled => t.status.to_uppercase(),
        _ => "DISABLED".into(),
    }
}

pub async fn tenant_plugin(
    crm: &Crm,
    tenant: Uuid,
    plugin_id: &str,
) -> Result<Option<tenant_plugin::Model>> {
    Ok(
        tenant_plugin::Entity::find_by_id((tenant, plugin_id.to_string()))
            .one(&crm.db)
            .await?,
    )
}

/// Every (tenant, plugin) enablement, for the runtime's routing table.
pub async fn enablements(crm: &Crm) -> Result<Vec<tenant_plugin::Model>> {
    Ok(tenant_plugin::Entity::find().all(&crm.db).await?)
}

pub async fn enablements_of(crm: &Crm, tenant: Uuid) -> Result<Vec<tenant_plugin::Model>> {
    Ok(tenant_plugin::Entity::find()
        .filter(tenant_plugin::Column::TenantId.eq(tenant))
        .all(&crm.db)
        .await?)
}

/// Count a failure; after `threshold` consecutive failures the plugin is
/// suspended for the tenant with `reason`. Returns true when it was suspended now.
pub async fn note_failure(
    crm: &Crm,
    tenant: Uuid,
    plugin_id: &str,
    reason: &str,
    threshold: i32,
) -> Result<bool> {
    let Some(tp) = tenant_plugin(crm, tenant, plugin_id).await? else {
        return Ok(false);
    };
    let failures = tp.consecutive_failures + 1;
    let suspend = failures >= threshold && tp.status != SUSPENDED;
    let mut a = tp.into_active_model();
    a.consecutive_failures = Set(failures);
    if suspend {
        a.status = Set(SUSPENDED.into());
        a.status_reason = Set(Some(format!(
            "suspended after {failures} consecutive failures; last: {reason}"
        )));
    }
    a.updated_at = Set(crm.now());
    a.update(&crm.db).await?;
    if suspend {
        let p = Principal::system(tenant);
        crate::events::record(
            &crm.db,
            &p,
            crm.now(),
            "plugin",
            "suspended",
            None,
            serde_json::json!({"pluginId": plugin_id, "reason": reason}),
        )
        .await?;
        crm.outbox_nudge.notify_waiters();
    }
    Ok(suspend)
}

/// Reset the failure counter after a success.
pub async fn note_success(crm: &Crm, tenant: Uuid, plugin_id: &str) -> Result<()> {
    tenant_plugin::Entity::update_many()
        .col_expr(tenant_plugin::Column::ConsecutiveFailures, Expr::value(0))
        .filter(tenant_plugin::Column::TenantId.eq(tenant))
        .filter(tenant_plugin::Column::PluginId.eq(plugin_id))
        .filter(tenant_plugin::Column::ConsecutiveFailures.gt(0))
        .exec(&crm.db)
        .await?;
    Ok(())
}

/// One recorded plugin run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub tenant: Uuid,
    pub plugin_id: String,
    pub plugin_version: String,
    pub function: String,
    pub entity: String,
    pub records: usize,
    pub duration_us: i64,
    pub fuel_used: u64,
    pub outcome: &'static str,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub log: Option<String>,
}

/// Write many run records in one statement.
pub async fn record_runs(crm: &Crm, runs: Vec<RunRecord>) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let now = crm.now();
    let models: Vec<plugin_run::ActiveModel> =
        runs.into_iter().map(|r| run_model(r, now)).collect();
    let txn = crm.write_txn().await?;
    for chunk in models.chunks(200) {
        plugin_run::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

fn run_model(r: RunRecord, now: crate::Timestamp) -> plugin_run::ActiveModel {
    plugin_run::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(r.tenant),
        plugin_id: Set(r.plugin_id),
        plugin_version: Set(r.plugin_version),
        function: Set(r.function),
        entity: Set(r.entity),
        records: Set(i32::try_from(r.records).unwrap_or(i32::MAX)),
        duration_us: Set(r.duration_us),
        fuel_used: Set(i64::try_from(r.fuel_used).unwrap_or(i64::MAX)),
        outcome: Set(r.outcome.to_string()),
        error_code: Set(r.error_code),
        error: Set(r.error),
        log: Set(r.log),
        created_at: Set(now),
    }
}

/// Runs of the caller's tenant, newest first.
pub async fn runs(
    crm: &Crm,
    p: &Principal,
    plugin_id: Option<&str>,
    outcome: Option<&str>,
    limit: u64,
) -> Result<Vec<plugin_run::Model>> {
    p.require(Action::Read, "plugin")?;
    let mut q = plugin_run::Entity::find().filter(plugin_run::Column::TenantId.eq(p.tenant_id));
    if let Some(id) = plugin_id {
        q = q.filter(plugin_run::Column::PluginId.eq(id));
    }
    if let Some(o) = outcome {
        q = q.filter(plugin_run::Column::Outcome.eq(o));
    }
    Ok(q.order_by_desc(plugin_run::Column::CreatedAt)
        .order_by_desc(plugin_run::Column::Id)
        .limit(std::cmp::min(limit, 500))
        .all(&crm.db)
        .await?)
}

/// Aggregate stats of a plugin in a tenant over its last 1000 runs: (runs, failures, avg duration µs).
pub async fn stats(crm: &Crm, tenant: Uuid, plugin_id: &str) -> Result<(i64, i64, f64)> {
    let rows: Vec<(String, i64)> = plugin_run::Entity::find()
        .select_only()
        .column(plugin_run::Column::Outcome)
        .column(plugin_run::Column::DurationUs)
        .filter(plugin_run::Column::TenantId.eq(tenant))
        .filter(plugin_run::Column::PluginId.eq(plugin_id))
        .order_by_desc(plugin_run::Column::CreatedAt)
        .limit(1000)
        .into_tuple()
        .all(&crm.db)
        .await?;
    let runs = rows.len() as i64;
    let failures = rows.iter().filter(|r| r.0 != "ok").count() as i64;
    let avg = if runs > 0 {
        rows.iter().map(|r| r.1 as f64).sum::<f64>() / runs as f64
    } else {
        0.0
    };
    Ok((runs, failures, avg))
}

/// The latest failed or rejected run of a plugin in a tenant, as `CODE: message`.
pub async fn last_error(crm: &Crm, tenant: Uuid, plugin_id: &str) -> Result<Option<String>> {
    Ok(plugin_run::Entity::find()
        .filter(plugin_run::Column::TenantId.eq(tenant))
        .filter(plugin_run::Column::PluginId.eq(plugin_id))
        .filter(plugin_run::Column::Outcome.ne("ok"))
        .order_by_desc(plugin_run::Column::CreatedAt)
        .one(&crm.db)
        .await?
        .map(|r| {
            format!(
                "{}: {}",
                r.error_code.unwrap_or_default(),
                r.error.unwrap_or_default()
            )
        }))
}

/// Why scores are stored: it decides what else storing them does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreCause {
    /// A score function's answer for records the same write created:
    /// nothing was stored for them before.
    Created,
    /// A score function's whole answer for records a write changed: names
    /// it gave a record before and not now are deleted.
    Updated,
    /// A rescore's answer: names are cleaned up once, at its end
    /// ([`delete_scores_older_than`]), and a rescore emits no grade changes
    /// (it re-grades in bulk; one `{entity}.rescored` says it ran).
    Rescore,
    /// Set by a plugin handler through `setScore`.
    SetScore,
}

impl ScoreCause {
    /// As grade-change events name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreCause::Created => "created",
            ScoreCause::Updated => "updated",
            ScoreCause::Rescore => "rescore",
            ScoreCause::SetScore => "setScore",
        }
    }
}

/// Whose scores a write stores, and why.
#[derive(Debug, Clone, Copy)]
pub struct ScoreWrite<'a> {
    pub tenant: Uuid,
    pub entity: &'a str,
    pub plugin_id: &'a str,
    /// The score function answering; `None` for a score set through
    /// `setScore`, which no function's answer replaces.
    pub scorer: Option<&'a str>,
    pub cause: ScoreCause,
}

/// Store scores of many records in one transaction: each (record, plugin,
/// name) is upserted, so concurrent writers of the same score never collide
/// and other score names of the plugin are left alone (unless the cause is
/// [`ScoreCause::Updated`]). A score whose grade changes (or that gets its
/// first grade) emits `{entity}.grade_changed` in the same transaction,
/// except in a rescore.
pub async fn store_scores(
    crm: &Crm,
    w: ScoreWrite<'_>,
    rows: &[(Uuid, Vec<ScoreValue>)],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let txn = crm.write_txn().await?;
    store_scores_on(&txn, crm.now(), w, rows).await?;
    txn.commit().await?;
    Ok(())
}

/// Delete the scores `plugin_id`'s score functions gave `entity` records of
/// `tenant` that were last written before `before`: after a rescore that
/// scored every record without a failed batch, they are names the plugin no
/// longer gives (a renamed or dropped score) or scores of records that are
/// gone. Scores set through `setScore` stay. Returns how many were deleted.
pub async fn delete_scores_older_than(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    plugin_id: &str,
    before: crate::Timestamp,
) -> Result<u64> {
    let txn = crm.write_txn().await?;
    let res = score::Entity::delete_many()
        .filter(score::Column::TenantId.eq(tenant))
        .filter(score::Column::Entity.eq(entity))
        .filter(score::Column::PluginId.eq(plugin_id))
        .filter(score::Column::Scorer.is_not_null())
        .filter(score::Column::UpdatedAt.lt(before))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected)
}

/// [`store_scores`] on connection `db` (the write's own transaction).
pub async fn store_scores_on<C: sea_orm::ConnectionTrait>(
    db: &C,
    now: crate::Timestamp,
    w: ScoreWrite<'_>,
    rows: &[(Uuid, Vec<ScoreValue>)],
) -> Result<()> {
    use sea_orm::sea_query::OnConflict;
    if rows.is_empty() {
        return Ok(());
    }
    // One row per (record, name): with duplicates in a batch the last one wins.
    let mut latest: std::collections::HashMap<(Uuid, &str), &ScoreValue> =
        std::collections::HashMap::new();
    for (id, scores) in rows {
        for s in scores {
            latest.insert((*id, s.name.as_str()), s);
        }
    }
    let changes = match w.cause {
        ScoreCause::Rescore => vec![],
        ScoreCause::Created => grade_changes(w, &latest, &Default::default()),
        ScoreCause::Updated | ScoreCause::SetScore => {
            let before = stored_grades(db, w, &latest).await?;
            grade_changes(w, &latest, &before)
        }
    };
    if w.cause == ScoreCause::Updated
        && let Some(scorer) = w.scorer
    {
        delete_unanswered_on(db, w, scorer, rows).await?;
    }
    let models: Vec<score::ActiveModel> = latest
        .into_iter()
        .map(|((id, name), s)| score::ActiveModel {
            tenant_id: Set(w.tenant),
            entity: Set(w.entity.to_string()),
            record_id: Set(id),
            plugin_id: Set(w.plugin_id.to_string()),
            name: Set(name.to_string()),
            value: Set(i16::from(std::cmp::min(s.value, 100))),
            grade: Set(s.grade.clone()),
            reasons: Set(serde_json::json!(s.reasons)),
            updated_at: Set(now),
            scorer: Set(w.scorer.map(str::to_string)),
        })
        .collect();
    for chunk in models.chunks(500) {
        score::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    score::Column::TenantId,
                    score::Column::Entity,
                    score::Column::RecordId,
                    score::Column::PluginId,
                    score::Column::Name,
                ])
                .update_columns([
                    score::Column::Value,
                    score::Column::Grade,
                    score::Column::Reasons,
                    score::Column::UpdatedAt,
                    score::Column::Scorer,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    crate::events::emit_many(db, w.tenant, now, changes).await?;
    Ok(())
}

/// The value and grade stored for each (record, name) of `latest` by
/// `w.plugin_id`: one statement per 500 records.
async fn stored_grades<C: sea_orm::ConnectionTrait>(
    db: &C,
    w: ScoreWrite<'_>,
    latest: &std::collections::HashMap<(Uuid, &str), &ScoreValue>,
) -> Result<std::collections::HashMap<(Uuid, String), (i16, Option<String>)>> {
    let mut ids: Vec<Uuid> = latest.keys().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut names: Vec<&str> = latest.keys().map(|(_, n)| *n).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(Uuid, String, i16, Option<String>)> = score::Entity::find()
            .select_only()
            .column(score::Column::RecordId)
            .column(score::Column::Name)
            .column(score::Column::Value)
            .column(score::Column::Grade)
            .filter(score::Column::TenantId.eq(w.tenant))
            .filter(score::Column::Entity.eq(w.entity))
            .filter(score::Column::RecordId.is_in(chunk.iter().copied()))
            .filter(score::Column::PluginId.eq(w.plugin_id))
            .filter(score::Column::Name.is_in(names.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        for (id, name, value, grade) in rows {
            out.insert((id, name), (value, grade));
        }
    }
    Ok(out)
}

/// The `{entity}.grade_changed` events of storing `latest` over `before`:
/// one per score whose grade differs from the stored one (no stored score:
/// no grade), in record and name order.
fn grade_changes(
    w: ScoreWrite<'_>,
    latest: &std::collections::HashMap<(Uuid, &str), &ScoreValue>,
    before: &std::collections::HashMap<(Uuid, String), (i16, Option<String>)>,
) -> Vec<crate::events::NewEvent> {
    let mut keys: Vec<&(Uuid, &str)> = latest.keys().collect();
    keys.sort_unstable();
    keys.into_iter()
        .filter_map(|key @ (id, name)| {
            let s = latest.get(key)?;
            let (was_value, was_grade) = match before.get(&(*id, name.to_string())) {
                Some((v, g)) => (Some(*v), g.clone()),
                None => (None, None),
            };
            if was_grade == s.grade {
                return None;
            }
            Some(crate::events::NewEvent {
                kind: format!("{}.grade_changed", w.entity),
                entity: w.entity.to_string(),
                record_id: Some(*id),
                payload: serde_json::json!({
                    "plugin": w.plugin_id,
                    "name": name,
                    "from": was_grade,
                    "to": s.grade,
                    "previousValue": was_value,
                    "value": std::cmp::min(s.value, 100),
                    "cause": w.cause.as_str(),
                }),
            })
        })
        .collect()
}

/// Delete the scores `scorer` gave the records of `rows` under names it did
/// not give them now: one statement per distinct set of names (usually one
/// for the whole batch).
async fn delete_unanswered_on<C: sea_orm::ConnectionTrait>(
    db: &C,
    w: ScoreWrite<'_>,
    scorer: &str,
    rows: &[(Uuid, Vec<ScoreValue>)],
) -> Result<()> {
    let mut by_names: std::collections::BTreeMap<Vec<&str>, Vec<Uuid>> = Default::default();
    for (id, scores) in rows {
        let mut names: Vec<&str> = scores.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        by_names.entry(names).or_default().push(*id);
    }
    for (names, ids) in by_names {
        for ids in ids.chunks(500) {
            let mut q = score::Entity::delete_many()
                .filter(score::Column::TenantId.eq(w.tenant))
                .filter(score::Column::Entity.eq(w.entity))
                .filter(score::Column::PluginId.eq(w.plugin_id))
                .filter(score::Column::Scorer.eq(scorer))
                .filter(score::Column::RecordId.is_in(ids.iter().copied()));
            if !names.is_empty() {
                q = q.filter(score::Column::Name.is_not_in(names.iter().copied()));
            }
            q.exec(db).await?;
        }
    }
    Ok(())
}

/// The scores `plugin_id`'s score functions stored for `records` (not
/// those set through `setScore`).
pub async fn function_scores_of(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    plugin_id: &str,
    records: &[Uuid],
) -> Result<Vec<score::Model>> {
    Ok(score::Entity::find()
        .filter(score::Column::TenantId.eq(tenant))
        .filter(score::Column::Entity.eq(entity))
        .filter(score::Column::RecordId.is_in(records.iter().copied()))
        .filter(score::Column::PluginId.eq(plugin_id))
        .filter(score::Column::Scorer.is_not_null())
        .all(&crm.db)
        .await?)
}

/// Scores of records, for DataLoaders.
pub async fn scores_of(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    records: &[Uuid],
) -> Result<Vec<score::Model>> {
    Ok(score::Entity::find()
        .filter(score::Column::TenantId.eq(tenant))
        .filter(score::Column::Entity.eq(entity))
        .filter(score::Column::RecordId.is_in(records.iter().copied()))
        .order_by_asc(score::Column::PluginId)
        .order_by_asc(score::Column::Name)
        .all(&crm.db)
        .await?)
}

pub async fn delete_scores<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    record: Uuid,
) -> Result<()> {
    score::Entity::delete_many()
        .filter(score::Column::TenantId.eq(tenant))
        .filter(score::Column::Entity.eq(entity))
        .filter(score::Column::RecordId.eq(record))
        .exec(db)
        .await?;
    Ok(())
}

/// `filter: {score: {plugin, name, value: {gte: 70}, grade: "A"}}`: records having such a score.
pub fn score_condition<K: Kind>(tenant: Uuid, value: &Value, path: &str) -> Result<Condition> {
    let mut sub = Query::select();
    sub.column(("scores", "record_id"))
        .from("scores")
        .and_where(Expr::col(("scores", "tenant_id")).eq(tenant))
        .and_where(Expr::col(("scores", "entity")).eq(K::NAME));
    if let Some(pl) = value.get("plugin").and_then(Value::as_str) {
        sub.and_where(Expr::col(("scores", "plugin_id")).eq(pl));
    }
    if let Some(n) = value.get("name").and_then(Value::as_str) {
        sub.and_where(Expr::col(("scores", "name")).eq(n));
    }
    if let Some(g) = value.get("grade").and_then(Value::as_str) {
        sub.and_where(Expr::col(("scores", "grade")).eq(g));
    }
    if let Some(v) = value.get("value").and_then(Value::as_object) {
        for (op, x) in v {
            let n = x.as_i64().ok_or_else(|| {
                CoreError::invalid(
                    format!("{path}.value.{op}"),
                    "INVALID_VALUE",
                    "expected an integer",
                )
            })?;
            let c = Expr::col(("scores", "value"));
            sub.and_where(match op.as_str() {
                "eq" => c.eq(n),
                "neq" => c.ne(n),
                "gt" => c.gt(n),
                "gte" => c.gte(n),
                "lt" => c.lt(n),
                "lte" => c.lte(n),
                other => {
                    return Err(CoreError::invalid(
                        format!("{path}.value.{other}"),
                        "INVALID_VALUE",
                        "score values support eq, neq, gt, gte, lt, lte",
                    ));
                }
            });
        }
    }
    let id_col = <<K::Entity as EntityTrait>::Column as std::str::FromStr>::from_str("id")
        .map_err(|_| CoreError::Internal("entity without id".into()))?;
    Ok(Condition::all().add(id_col.in_subquery(sub.to_owned())))
}

/// Ordering expression for `orderBy: {field: SCORE, scorePlugin, scoreName}`: the
/// record's score value (records without one sort as 0... via COALESCE).
pub fn score_order_expr(
    tenant: Uuid,
    entity: &str,
    table: &'static str,
    plugin_id: &str,
    name: &str,
) -> Expr {
    let sub = Query::select()
        .expr(Expr::col(("scores", "value")))
        .from("scores")
        .and_where(Expr::col(("scores", "tenant_id")).eq(tenant))
        .and_where(Expr::col(("scores", "entity")).eq(entity))
        .and_where(Expr::col(("scores", "plugin_id")).eq(plugin_id))
        .and_where(Expr::col(("scores", "name")).eq(name))
        .and_where(Expr::col(("scores", "record_id")).equals((table, "id")))
        .limit(1)
        .to_owned();
    Expr::SubQuery(None, Box::new(sub.into()))
}

/// The first score function's name of a plugin (what `SCORE` ordering uses by default).
pub async fn default_score_name(crm: &Crm, plugin_id: &str) -> Result<String> {
    let manifest = manifest_of(crm, plugin_id)
        .await?
        .ok_or_else(|| CoreError::not_found("plugin", plugin_id))?;
    Ok(manifest
        .get("functions")
        .and_then(Value::as_array)
        .and_then(|fs| {
            fs.iter()
                .find(|f| f.get("kind").and_then(Value::as_str) == Some("score"))
        })
        .and_then(|f| f.get("name").and_then(Value::as_str))
        .unwrap_or(plugin_id)
        .to_string())
}

/// Installed plugins without component bytes: (id, version, contract, manifest, hash).
pub async fn plugin_infos(crm: &Crm) -> Result<Vec<(String, String, String, Value, String)>> {
    Ok(plugin::Entity::find()
        .select_only()
        .column(plugin::Column::Id)
        .column(plugin::Column::Version)
        .column(plugin::Column::Contract)
        .column(plugin::Column::Manifest)
        .column(plugin::Column::Hash)
        .order_by_asc(plugin::Column::Id)
        .into_tuple()
        .all(&crm.db)
        .await?)
}

// ------------------------------------------------------- plugin key-value

/// The value stored under `key` by `plugin_id` in `tenant`.
pub async fn kv_get(crm: &Crm, tenant: Uuid, plugin_id: &str, key: &str) -> Result<Option<String>> {
    use crate::entity::plugin_kv;
    Ok(
        plugin_kv::Entity::find_by_id((tenant, plugin_id.to_string(), key.to_string()))
            .one(&crm.db)
            .await?
            .map(|m| m.value),
    )
}

/// Store `value` under `key` for `plugin_id` in `tenant` (insert or replace).
pub async fn kv_set(
    crm: &Crm,
    tenant: Uuid,
    plugin_id: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    use crate::entity::plugin_kv;
    use sea_orm::sea_query::OnConflict;
    let row = plugin_kv::ActiveModel {
        tenant_id: Set(tenant),
        plugin_id: Set(plugin_id.to_string()),
        key: Set(key.to_string()),
        value: Set(value.to_string()),
        updated_at: Set(crm.now()),
    };
    plugin_kv::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                plugin_kv::Column::TenantId,
                plugin_kv::Column::PluginId,
                plugin_kv::Column::Key,
            ])
            .update_columns([plugin_kv::Column::Value, plugin_kv::Column::UpdatedAt])
            .to_owned(),
        )
        .exec_without_returning(&crm.db)
        .await?;
    Ok(())
}

/// Remove `key` of `plugin_id` in `tenant`; returns whether it existed.
pub async fn kv_delete(crm: &Crm, tenant: Uuid, plugin_id: &str, key: &str) -> Result<bool> {
    use crate::entity::plugin_kv;
    let res = plugin_kv::Entity::delete_by_id((tenant, plugin_id.to_string(), key.to_string()))
        .exec(&crm.db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Remove every key of `plugin_id` in every tenant (after an uninstall).
pub async fn kv_delete_plugin(crm: &Crm, plugin_id: &str) -> Result<u64> {
    use crate::entity::plugin_kv;
    let res = plugin_kv::Entity::delete_many()
        .filter(plugin_kv::Column::PluginId.eq(plugin_id))
        .exec(&crm.db)
        .await?;
    Ok(res.rows_affected)
}

/// How many keys `plugin_id` stores in `tenant`.
pub async fn kv_count(crm: &Crm, tenant: Uuid, plugin_id: &str) -> Result<u64> {
    use crate::entity::plugin_kv;
    use sea_orm::PaginatorTrait;
    Ok(plugin_kv::Entity::find()
        .filter(plugin_kv::Column::TenantId.eq(tenant))
        .filter(plugin_kv::Column::PluginId.eq(plugin_id))
        .count(&crm.db)
        .await?)
}
