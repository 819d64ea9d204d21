//! Domain events (the transactional outbox) and the audit log.
//!
//! [`record`] is called inside a command's transaction, so an event exists if
//! and only if its change committed. Events are named `entity.past_tense`
//! (`contact.created`, `deal.stage_changed`).

use crate::auth::{Principal, Role};
use crate::entity::{audit_log, event};
use crate::error::Result;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

/// Write the audit record and the domain event `{entity}.{action}` of one change.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    p: &Principal,
    now: crate::Timestamp,
    entity: &str,
    action: &str,
    record_id: Option<Uuid>,
    payload: Value,
) -> Result<()> {
    // Events leave for subscribers, webhooks and plugin handlers: sensitive
    // custom fields go masked (the audit record keeps the change itself).
    let mut event = payload.clone();
    let has_custom =
        |v: Option<&Value>| v.and_then(Value::as_object).is_some_and(|o| !o.is_empty());
    if has_custom(payload.get("customFields"))
        || has_custom(payload.get("changes").and_then(|c| c.get("customFields")))
    {
        let sensitive = crate::custom_field::sensitive_keys(db, p.tenant_id, entity).await?;
        crate::custom_field::mask_payload(&mut event, &sensitive);
    }
    emit(
        db,
        p,
        now,
        &format!("{entity}.{action}"),
        entity,
        record_id,
        event,
    )
    .await?;
    audit(db, p, now, action, entity, record_id, payload).await
}

/// How the audit log names the kind of `p`: `plugin`, `system` or `api_key`.
pub fn actor_kind(p: &Principal) -> &'static str {
    match p.role {
        Role::Plugin => "plugin",
        _ if p.key_id.is_none() => "system",
        _ => "api_key",
    }
}

/// Write one domain event (for events that are not plain record changes).
pub async fn emit<C: ConnectionTrait>(
    db: &C,
    p: &Principal,
    now: crate::Timestamp,
    kind: &str,
    entity: &str,
    record_id: Option<Uuid>,
    payload: Value,
) -> Result<()> {
    let e = NewEvent {
        kind: kind.to_string(),
        entity: entity.to_string(),
        record_id,
        payload,
    };
    event_model(p.tenant_id, p.user_id.or(p.key_id), now, e)
        .insert(db)
        .await?;
    notify(db).await
}

/// A domain event to write with [`emit_many`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: String,
    pub entity: String,
    pub record_id: Option<Uuid>,
    pub payload: Value,
}

/// Write system events of `tenant` (no actor): one statement per 500, one
/// wake-up on PostgreSQL.
pub async fn emit_many<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    now: crate::Timestamp,
    events: Vec<NewEvent>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let models: Vec<event::ActiveModel> = events
        .into_iter()
        .map(|e| event_model(tenant, None, now, e))
        .collect();
    for chunk in models.chunks(500) {
        event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    notify(db).await
}

fn event_model(
    tenant: Uuid,
    actor: Option<Uuid>,
    now: crate::Timestamp,
    e: NewEvent,
) -> event::ActiveModel {
    event::ActiveModel {
        seq: sea_orm::NotSet,
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        kind: Set(e.kind),
        entity: Set(e.entity),
        record_id: Set(e.record_id),
        actor_id: Set(actor),
        payload: Set(e.payload),
        created_at: Set(now),
        published_at: Set(None),
    }
}

/// On PostgreSQL, wake every process's relay and dispatcher when the
/// events written commit.
async fn notify<C: ConnectionTrait>(db: &C) -> Result<()> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("NOTIFY crm_events").await?;
    }
    Ok(())
}

/// Write one audit record.
pub async fn audit<C: ConnectionTrait>(
    db: &C,
    p: &Principal,
    now: crate::Timestamp,
    action: &str,
    entity: &str,
    record_id: Option<Uuid>,
    changes: Value,
) -> Result<()> {
    audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        actor_id: Set(p.user_id.or(p.key_id)),
        actor_kind: Set(actor_kind(p).to_string()),
        action: Set(action.to_string()),
        entity: Set(entity.to_string()),
        record_id: Set(record_id),
        changes: Set(changes),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Which audit records to list (every given condition must hold).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub record_id: Option<Uuid>,
    pub entity: Option<String>,
    /// `created`, `updated`, `deleted`, `pii_read`, ...
    pub action: Option<String>,
    /// The user or API key that acted.
    pub actor_id: Option<Uuid>,
}

/// A page of the tenant's audit log, newest first (administrators only).
/// Sealed sensitive values in the recorded changes read as the mask: the
/// log tells who changed or read what, and the record itself is where a
/// `pii:read` reader sees a value.
pub async fn audit_page(
    crm: &crate::Crm,
    p: &Principal,
    filter: &AuditFilter,
    offset: u64,
    limit: u64,
    count: bool,
) -> Result<crate::query::Page<audit_log::Model>> {
    use sea_orm::PaginatorTrait;
    p.require(crate::auth::Action::Administer, "audit_log")?;
    let mut q = audit_log::Entity::find().filter(audit_log::Column::TenantId.eq(p.tenant_id));
    if let Some(r) = filter.record_id {
        q = q.filter(audit_log::Column::RecordId.eq(r));
    }
    if let Some(e) = &filter.entity {
        q = q.filter(audit_log::Column::Entity.eq(e.to_lowercase()));
    }
    if let Some(a) = &filter.action {
        q = q.filter(audit_log::Column::Action.eq(a.to_lowercase()));
    }
    if let Some(a) = filter.actor_id {
        q = q.filter(audit_log::Column::ActorId.eq(a));
    }
    let total = if count {
        Some(q.clone().count(&crm.db).await?)
    } else {
        None
    };
    // One row more than the page tells whether another page follows.
    let mut items = q
        .order_by_desc(audit_log::Column::Id)
        .offset(offset)
        .limit(limit + 1)
        .all(&crm.db)
        .await?;
    let has_more = items.len() as u64 > limit;
    items.truncate(limit as usize);
    for i in &mut items {
        mask_sealed(&mut i.changes);
    }
    Ok(crate::query::Page {
        items,
        offset,
        total,
        has_more,
    })
}

/// Replace every sealed value inside `v` by the mask.
fn mask_sealed(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with(crate::secrets::SEALED_PREFIX) => {
            *s = crate::custom_field::MASK.to_owned();
        }
        Value::Array(a) => a.iter_mut().for_each(mask_sealed),
        Value::Object(o) => o.values_mut().for_each(mask_sealed),
        _ => {}
    }
}

/// Events committed after `after_seq`, oldest first (for the relay and resuming subscribers).
pub async fn since<C: ConnectionTrait>(
    db: &C,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::Seq.gt(after_seq))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// The highest event sequence number so far (0 when there is none).
pub async fn last_seq<C: ConnectionTrait>(db: &C) -> Result<i64> {
    Ok(event::Entity::find()
        .order_by_desc(event::Column::Seq)
        .limit(1)
        .one(db)
        .await?
        .map(|e| e.seq)
        .unwrap_or(0))
}
