//! One implementation of get / list / create / update / delete for every entity.
//!
//! Each entity implements [`Kind`]: how its record looks as GraphQL-shaped JSON
//! (what plugins see and what updates are merged into), how a candidate is
//! validated into a row, and which fields can be filtered and ordered. The
//! write path is the same for all of them:
//!
//! 1. permission check;
//! 2. candidate JSON (for updates: current record + patch);
//! 3. plugin `validate` hooks (may patch or reject);
//! 4. the entity's own validation (field errors with paths);
//! 5. one transaction writing the row, its tags, an audit record, a domain event
//!    and the scores of plugin scorers whose input can be read inside it;
//! 6. after commit, the other scorers (input queries only the GraphQL executor runs).

use crate::auth::{Action, Principal};
use crate::error::{CoreError, FieldError, Result};
use crate::plugin_api::{ValidateOutcome, Written};
use crate::query::{FieldType, Filter, ListArgs, Op, OrderBy, Page};
use crate::{Crm, entity, events, tag};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde_json::{Map, Value};
use std::str::FromStr;
use uuid::Uuid;

pub type ModelOf<K> = <<K as Kind>::Entity as EntityTrait>::Model;
pub type ActiveOf<K> = <<K as Kind>::Entity as EntityTrait>::ActiveModel;
pub type ColumnOf<K> = <<K as Kind>::Entity as EntityTrait>::Column;

/// An entity kind the generic record operations work on.
#[async_trait::async_trait]
pub trait Kind: Sized + Send + Sync + 'static {
    /// Entity name as used in events, permissions and plugin manifests (`contact`).
    const NAME: &'static str;
    /// Records carry tags (`taggings` rows).
    const TAGGABLE: bool = false;
    /// Merged records leave redirects that keep their ids resolvable.
    const MERGEABLE: bool = false;

    type Entity: EntityTrait<Model: Sync + Send>;

    fn id(m: &ModelOf<Self>) -> Uuid;

    /// The record as GraphQL-shaped JSON (camelCase keys), without tags.
    fn to_json(m: &ModelOf<Self>) -> Value;

    /// Validate `c` and build the row to write. `existing` is set for updates;
    /// `id`, `tenant_id` and timestamps are filled in by the caller.
    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&ModelOf<Self>>,
    ) -> ActiveOf<Self>;

    /// Column and type behind a GraphQL field name, for filters and ordering.
    fn column(field: &str) -> Option<(ColumnOf<Self>, FieldType)>;

    fn default_order() -> Vec<OrderBy> {
        vec![OrderBy {
            field: "createdAt".into(),
            desc: true,
        }]
    }

    /// Extra writes in the same transaction once the row is saved (order
    /// lines, stage history, derived events). `before` is set for updates.
    async fn after_save(
        _txn: &sea_orm::DatabaseTransaction,
        _p: &Principal,
        _now: crate::Timestamp,
        _saved: &ModelOf<Self>,
        _before: Option<&ModelOf<Self>>,
        _cand: &Map<String, Value>,
    ) -> Result<()> {
        Ok(())
    }
}

fn col<K: Kind>(name: &str) -> Result<ColumnOf<K>> {
    ColumnOf::<K>::from_str(name)
        .map_err(|_| CoreError::Internal(format!("{} has no column {name}", K::NAME)))
}

/// [`crate::custom_field::conform`] on the custom fields `active` is about
/// to store, in the write's transaction `db`; entities without custom fields
/// pass untouched.
async fn conform_custom_fields<K: Kind, C: ConnectionTrait>(
    crm: &Crm,
    db: &C,
    tenant: Uuid,
    active: &mut ActiveOf<K>,
) -> Result<()>
where
    ActiveOf<K>: ActiveModelTrait,
{
    let Ok(c) = ColumnOf::<K>::from_str("custom_fields") else {
        return Ok(());
    };
    let sea_orm::ActiveValue::Set(sea_orm::Value::Json(Some(values))) = active.get(c) else {
        return Ok(());
    };
    let mut values = *values;
    if crate::custom_field::conform(crm, db, tenant, K::NAME, &mut values).await? {
        active.set(c, values.into());
    }
    Ok(())
}

/// Read one record of the caller's tenant; another tenant's id is `NOT_FOUND`.
/// Ids of merged records resolve to their survivor.
pub async fn get<K: Kind>(crm: &Crm, p: &Principal, id: Uuid) -> Result<ModelOf<K>> {
    p.require(Action::Read, K::NAME)?;
    find::<K, _>(&crm.db, p.tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found(K::NAME, id))
}

/// [`find`] in transaction `txn`, keeping the record from changing until
/// the transaction ends: `FOR UPDATE` on PostgreSQL; SQLite's writes
/// already take turns. For read-modify-write in one transaction.
pub async fn find_locked<K: Kind, C: ConnectionTrait>(
    txn: &C,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<ModelOf<K>>> {
    find_with::<K, C>(txn, tenant, id, true).await
}

/// Like [`get`] without the permission check, on any connection (used inside transactions).
pub async fn find<K: Kind, C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<ModelOf<K>>> {
    find_with::<K, C>(db, tenant, id, false).await
}

/// Record `id` (or the survivor it was merged into), locked if `lock`.
async fn find_with<K: Kind, C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<ModelOf<K>>> {
    let by_id = |id: Uuid| -> Result<Select<K::Entity>> {
        let q = K::Entity::find()
            .filter(col::<K>("tenant_id")?.eq(tenant))
            .filter(col::<K>("id")?.eq(id));
        Ok(if lock { q.lock_exclusive() } else { q })
    };
    if let Some(m) = by_id(id)?.one(db).await? {
        return Ok(Some(m));
    }
    if K::MERGEABLE
        && let Some(to) = resolve_redirect(db, tenant, K::NAME, id).await?
    {
        return Ok(by_id(to)?.one(db).await?);
    }
    Ok(None)
}

async fn resolve_redirect<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    id: Uuid,
) -> Result<Option<Uuid>> {
    use entity::record_redirect as rr;
    Ok(rr::Entity::find()
        .filter(rr::Column::TenantId.eq(tenant))
        .filter(rr::Column::Entity.eq(entity))
        .filter(rr::Column::FromId.eq(id))
        .one(db)
        .await?
        .map(|r| r.to_id))
}

/// Read many records by id (for DataLoaders); missing ids are simply absent.
pub async fn get_many<K: Kind>(crm: &Crm, tenant: Uuid, ids: &[Uuid]) -> Result<Vec<ModelOf<K>>> {
    get_many_on::<K, _>(&crm.db, tenant, ids).await
}

/// [`get_many`] on connection `db` (a write transaction, say).
pub async fn get_many_on<K: Kind, C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<Vec<ModelOf<K>>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let in_tenant = if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // Unary `+` keeps SQLite's planner from walking a (tenant_id, ...)
        // index over the whole tenant (it guesses an equality is selective);
        // the primary key is the way in. Same rows, 100x faster at 100k.
        Expr::cust_with_values("+tenant_id = ?", [tenant])
    } else {
        col::<K>("tenant_id")?.eq(tenant)
    };
    Ok(K::Entity::find()
        .filter(col::<K>("id")?.is_in(ids.iter().copied()))
        .filter(in_tenant)
        .all(db)
        .await?)
}

/// A filtered, ordered page of the caller's tenant's records.
pub async fn list<K: Kind>(crm: &Crm, p: &Principal, args: &ListArgs) -> Result<Page<ModelOf<K>>> {
    p.require(Action::Read, K::NAME)?;
    list_scoped::<K>(crm, p.tenant_id, args, Condition::all()).await
}

/// [`list`] with an extra condition (e.g. "contacts of this company").
pub async fn list_scoped<K: Kind>(
    crm: &Crm,
    tenant: Uuid,
    args: &ListArgs,
    extra: Condition,
) -> Result<Page<ModelOf<K>>> {
    let mut cond = Condition::all()
        .add(col::<K>("tenant_id")?.eq(tenant))
        .add(extra);
    if let Some(f) = &args.filter {
        cond = cond.add(condition::<K>(f, tenant, "filter")?);
    }
    let mut select = K::Entity::find().filter(cond.clone());
    // An id lookup (`filter: {id: {in: [...]}}`) without explicit ordering is
    // ordered by id alone, so the database probes the primary key instead of
    // walking the tenant's created_at index (bulk input queries depend on it).
    let order = if args.order.is_empty() && args.filter.as_ref().is_some_and(is_id_lookup) {
        vec![]
    } else if args.order.is_empty() {
        K::default_order()
    } else {
        args.order.clone()
    };
    for (i, o) in order.iter().enumerate() {
        if let Some(rest) = o.field.strip_prefix("score:") {
            let (plugin, name) = rest.split_once(':').unwrap_or((rest, ""));
            if plugin.is_empty() {
                return Err(CoreError::invalid(
                    format!("orderBy.{i}.scorePlugin"),
                    "REQUIRED",
                    "ordering by SCORE needs scorePlugin",
                ));
            }
            let name = if name.is_empty() {
                crate::plugin_store::default_score_name(crm, plugin).await?
            } else {
                name.to_string()
            };
            let table = sea_orm::EntityName::table_name(&K::Entity::default());
            let expr = crate::plugin_store::score_order_expr(tenant, K::NAME, table, plugin, &name);
            select = select.order_by(
                expr,
                if o.desc {
                    sea_orm::Order::Desc
                } else {
                    sea_orm::Order::Asc
                },
            );
            continue;
        }
        let (c, _) = K::column(&o.field).ok_or_else(|| {
            CoreError::invalid(
                format!("orderBy.{i}.field"),
                "UNKNOWN_FIELD",
                format!("cannot order by {}", o.field),
            )
        })?;
        select = if o.desc {
            select.order_by_desc(c)
        } else {
            select.order_by_asc(c)
        };
    }
    // A unique tie-breaker keeps pages stable.
    select = select.order_by_asc(col::<K>("id")?);
    let mut items = select
        .offset(args.offset)
        .limit(args.limit + 1)
        .all(&crm.db)
        .await?;
    let has_more = items.len() as u64 > args.limit;
    items.truncate(args.limit as usize);
    let total = if args.count {
        Some(K::Entity::find().filter(cond).count(&crm.db).await?)
    } else {
        None
    };
    Ok(Page {
        items,
        offset: args.offset,
        total,
        has_more,
    })
}

/// Turn a [`Filter`] into a SQL condition, with field errors under `path`.
pub fn condition<K: Kind>(f: &Filter, tenant: Uuid, path: &str) -> Result<Condition> {
    Ok(match f {
        Filter::And(fs) => {
            let mut c = Condition::all();
            for (i, f) in fs.iter().enumerate() {
                c = c.add(condition::<K>(f, tenant, &format!("{path}.and.{i}"))?);
            }
            c
        }
        Filter::Or(fs) => {
            let mut c = Condition::any();
            for (i, f) in fs.iter().enumerate() {
                c = c.add(condition::<K>(f, tenant, &format!("{path}.or.{i}"))?);
            }
            c
        }
        Filter::Not(f) => condition::<K>(f, tenant, &format!("{path}.not"))?.not(),
        Filter::Cond { field, op, value } => {
            let fpath = format!("{path}.{field}");
            if field == "tags" && K::TAGGABLE {
                return tag_condition::<K>(tenant, *op, value, &fpath);
            }
            if field == "score" {
                return crate::plugin_store::score_condition::<K>(tenant, value, &fpath);
            }
            let (c, ty) = K::column(field).ok_or_else(|| {
                CoreError::invalid(&fpath, "UNKNOWN_FIELD", format!("cannot filter on {field}"))
            })?;
            Condition::all().add(compare(c, ty, *op, value, &fpath)?)
        }
    })
}

fn compare<C: ColumnTrait>(c: C, ty: FieldType, op: Op, value: &Value, path: &str) -> Result<Expr> {
    let one = |v: &Value| to_db_value(ty, v, path);
    Ok(match op {
        Op::Eq => c.eq(one(value)?),
        Op::Neq => c.ne(one(value)?),
        Op::Gt => c.gt(one(value)?),
        Op::Gte => c.gte(one(value)?),
        Op::Lt => c.lt(one(value)?),
        Op::Lte => c.lte(one(value)?),
        Op::In => {
            let items = value
                .as_array()
                .ok_or_else(|| CoreError::invalid(path, "INVALID_VALUE", "`in` takes a list"))?;
            c.is_in(items.iter().map(one).collect::<Result<Vec<_>>>()?)
        }
        Op::Contains | Op::StartsWith => {
            let s = value
                .as_str()
                .ok_or_else(|| CoreError::invalid(path, "INVALID_VALUE", "expected a string"))?
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = if op == Op::Contains {
                format!("%{s}%")
            } else {
                format!("{s}%")
            };
            Expr::expr(Func::lower(Expr::col(c)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\'))
        }
        Op::IsNull => {
            if value.as_bool().unwrap_or(true) {
                c.is_null()
            } else {
                c.is_not_null()
            }
        }
    })
}

/// Convert a filter's JSON value to the column's database value.
pub fn to_db_value(ty: FieldType, v: &Value, path: &str) -> Result<sea_orm::Value> {
    let bad = |what: &str| CoreError::invalid(path, "INVALID_VALUE", format!("expected {what}"));
    Ok(match ty {
        FieldType::Text => v
            .as_str()
            .ok_or_else(|| bad("a string"))?
            .to_string()
            .into(),
        FieldType::Enum => v
            .as_str()
            .ok_or_else(|| bad("an enum value"))?
            .to_lowercase()
            .into(),
        FieldType::Id => Uuid::parse_str(v.as_str().ok_or_else(|| bad("an id"))?)
            .map_err(|_| bad("an id"))?
            .into(),
        FieldType::Int => v.as_i64().ok_or_else(|| bad("an integer"))?.into(),
        FieldType::Float => v.as_f64().ok_or_else(|| bad("a number"))?.into(),
        FieldType::Bool => v.as_bool().ok_or_else(|| bad("a boolean"))?.into(),
        FieldType::DateTime => {
            chrono::DateTime::parse_from_rfc3339(v.as_str().ok_or_else(|| bad("a date-time"))?)
                .map_err(|_| bad("an RFC 3339 date-time"))?
                .with_timezone(&chrono::Utc)
                .into()
        }
        FieldType::Date => chrono::NaiveDate::from_str(v.as_str().ok_or_else(|| bad("a date"))?)
            .map_err(|_| bad("a YYYY-MM-DD date"))?
            .into(),
    })
}

fn tag_condition<K: Kind>(tenant: Uuid, op: Op, value: &Value, path: &str) -> Result<Condition> {
    let names: Vec<String> = match (op, value) {
        (Op::Eq | Op::Contains, Value::String(s)) => vec![s.clone()],
        (Op::In, Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => {
            return Err(CoreError::invalid(
                path,
                "INVALID_VALUE",
                "tags support `eq`, `contains` or `in` with tag names",
            ));
        }
    };
    let sub = Query::select()
        .column(("taggings", "record_id"))
        .from("taggings")
        .inner_join(
            "tags",
            Expr::col(("tags", "id")).equals(("taggings", "tag_id")),
        )
        .and_where(Expr::col(("taggings", "tenant_id")).eq(tenant))
        .and_where(Expr::col(("taggings", "entity")).eq(K::NAME))
        .and_where(Expr::col(("tags", "name")).is_in(names))
        .to_owned();
    Ok(Condition::all().add(col::<K>("id")?.in_subquery(sub)))
}

/// Create a record from GraphQL-shaped JSON input.
pub async fn create<K: Kind>(crm: &Crm, p: &Principal, input: Value) -> Result<ModelOf<K>>
where
    ModelOf<K>: IntoActiveModel<ActiveOf<K>>,
    ActiveOf<K>: ActiveModelBehavior + Send,
{
    p.require(Action::Create, K::NAME)?;
    let mut cand = into_object(input)?;
    // One time for the whole write (created_at, updated_at and what `build`
    // derives from it, such as a ticket's due times), however long plugins
    // take. Plugins have no clock: the candidate carries it (to the
    // millisecond, so it is the same instant once parsed back).
    let now = chrono::SubsecRound::trunc_subsecs(crm.now(), 3);
    cand.insert("updatedAt".into(), crate::json::ts(&now));
    run_validate_hooks(crm, p, K::NAME, &mut cand).await?;
    let mut check = Check::new(&cand);
    let mut active = K::build(crm, p, &mut check, None).await;
    let tags = if K::TAGGABLE {
        check.tags("tags")
    } else {
        None
    };
    check.finish(crm, p.tenant_id).await?;
    let id = Uuid::now_v7();
    active.set(col::<K>("id")?, id.into());
    active.set(col::<K>("tenant_id")?, p.tenant_id.into());
    active.set(col::<K>("created_at")?, now.into());
    active.set(col::<K>("updated_at")?, now.into());
    let txn = crm.write_txn().await?;
    conform_custom_fields::<K, _>(crm, &*txn, p.tenant_id, &mut active).await?;
    let model = active
        .insert(&txn)
        .await
        .map_err(|e| CoreError::from_db(e, K::NAME))?;
    K::after_save(&txn, p, now, &model, None, &cand).await?;
    let tags = match tags {
        Some(t) => tag::tag_new(&txn, p.tenant_id, K::NAME, id, &t).await?,
        None => vec![],
    };
    let mut payload = K::to_json(&model);
    if K::TAGGABLE {
        payload["tags"] = tags.into();
    }
    events::record(&txn, p, now, K::NAME, "created", Some(id), payload).await?;
    let scored = crm
        .hooks()
        .score_in_txn(&txn, p.tenant_id, K::NAME, &[id], Written::Created)
        .await;
    txn.commit().await?;
    crm.outbox_nudge.notify_waiters();
    crm.hooks()
        .after_commit(p.tenant_id, K::NAME, &[id], &scored)
        .await;
    Ok(model)
}

/// How many times an update starts over when the record changed under it.
const UPDATE_ATTEMPTS: usize = 5;

/// Apply a partial update (GraphQL-shaped JSON; `null` clears a field).
///
/// The update is validated (plugins included) against the record as read
/// before its transaction; inside it the record is read again (`FOR UPDATE`
/// on PostgreSQL; SQLite writes take turns) and, when another write changed
/// it meanwhile, the update starts over from the new state, so concurrent
/// updates of different fields both land. After [`UPDATE_ATTEMPTS`] such
/// races it fails with `CONFLICT`.
pub async fn update<K: Kind>(crm: &Crm, p: &Principal, id: Uuid, patch: Value) -> Result<ModelOf<K>>
where
    ModelOf<K>: IntoActiveModel<ActiveOf<K>> + PartialEq,
    ActiveOf<K>: ActiveModelBehavior + Send,
{
    p.require(Action::Update, K::NAME)?;
    let patch = into_object(patch)?;
    for _ in 0..UPDATE_ATTEMPTS {
        if let Some(model) = update_once::<K>(crm, p, id, &patch).await? {
            return Ok(model);
        }
    }
    Err(CoreError::Conflict(format!(
        "{} {id} kept changing while this update was applied ({UPDATE_ATTEMPTS} attempts); retry it",
        K::NAME
    )))
}

/// One attempt of [`update`]: `None` when the record changed after it was
/// read (nothing written).
async fn update_once<K: Kind>(
    crm: &Crm,
    p: &Principal,
    id: Uuid,
    patch: &Map<String, Value>,
) -> Result<Option<ModelOf<K>>>
where
    ModelOf<K>: IntoActiveModel<ActiveOf<K>> + PartialEq,
    ActiveOf<K>: ActiveModelBehavior + Send,
{
    let existing = find::<K, _>(&crm.db, p.tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found(K::NAME, id))?;
    let id = K::id(&existing);
    let before = candidate_of::<K>(crm, p.tenant_id, &existing).await?;
    let mut cand = before.clone();
    // A sensitive field sent back as it was shown masked keeps its value.
    let masked_back = patch
        .get("customFields")
        .and_then(Value::as_object)
        .is_some_and(|o| o.values().any(|v| v == crate::custom_field::MASK));
    let has_stored = cand
        .get("customFields")
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty());
    let defs = if has_stored || masked_back {
        crate::custom_field::definitions(crm, p.tenant_id, Some(K::NAME)).await?
    } else {
        vec![]
    };
    let sensitive: Vec<&str> = defs
        .iter()
        .filter(|d| d.sensitive)
        .map(|d| d.key.as_str())
        .collect();
    // Validators and validation work on plain values; `before` keeps the
    // stored (sealed) ones for the change record. A stored value no
    // definition describes (written before deleting a field cleared its
    // values) is dropped by this write, unseen, rather than fail it.
    if let Some(cf) = cand.get_mut("customFields") {
        if let Some(o) = cf.as_object_mut() {
            o.retain(|k, _| defs.iter().any(|d| d.key == *k));
        }
        crate::custom_field::open_sealed(crm, p.tenant_id, K::NAME, cf, &sensitive)?;
    }
    for (k, v) in patch {
        if k == "customFields"
            && let (Some(Value::Object(cur)), Value::Object(new)) =
                (cand.get_mut("customFields"), v)
        {
            for (ck, cv) in new {
                if cv == crate::custom_field::MASK && sensitive.contains(&ck.as_str()) {
                    continue;
                }
                if cv.is_null() {
                    cur.remove(ck);
                } else {
                    cur.insert(ck.clone(), cv.clone());
                }
            }
            continue;
        }
        cand.insert(k.clone(), v.clone());
    }
    cand.insert("updatedAt".into(), crate::json::ts(&crm.now()));
    run_validate_hooks(crm, p, K::NAME, &mut cand).await?;
    let mut check = Check::new(&cand);
    check.stored_custom = before.get("customFields").cloned();
    let mut active = K::build(crm, p, &mut check, Some(&existing)).await;
    let tags = if K::TAGGABLE {
        check.tags("tags")
    } else {
        None
    };
    check.finish(crm, p.tenant_id).await?;
    let now = crm.now();
    let created_at = cand_created_at(&before);
    active.set(col::<K>("id")?, id.into());
    active.set(col::<K>("tenant_id")?, p.tenant_id.into());
    if let Some(c) = created_at {
        active.set(col::<K>("created_at")?, c.into());
    }
    active.set(col::<K>("updated_at")?, now.into());
    let txn = crm.write_txn().await?;
    // Definitions before the record: deleting a custom field locks its
    // definition and then the records holding values, so taking the locks
    // in that order cannot deadlock with it on PostgreSQL.
    conform_custom_fields::<K, _>(crm, &*txn, p.tenant_id, &mut active).await?;
    let current = find_locked::<K, _>(&*txn, p.tenant_id, id).await?;
    if current.as_ref() != Some(&existing) {
        txn.rollback().await?;
        return Ok(None);
    }
    let model = active
        .update(&txn)
        .await
        .map_err(|e| CoreError::from_db(e, K::NAME))?;
    K::after_save(&txn, p, now, &model, Some(&existing), &cand).await?;
    let mut after = K::to_json(&model);
    if K::TAGGABLE {
        let t = match tags {
            Some(t) => tag::set_tags(&txn, p.tenant_id, K::NAME, id, &t).await?,
            None => tag::tags_of(&txn, p.tenant_id, K::NAME, &[id])
                .await?
                .remove(&id)
                .unwrap_or_default(),
        };
        after["tags"] = t.into();
    }
    let changes = diff(&Value::Object(before), &after);
    if !changes.as_object().is_some_and(Map::is_empty) {
        let mut payload = after.clone();
        payload["changes"] = changes;
        events::record(&txn, p, now, K::NAME, "updated", Some(id), payload).await?;
    }
    let scored = crm
        .hooks()
        .score_in_txn(&txn, p.tenant_id, K::NAME, &[id], Written::Updated)
        .await;
    txn.commit().await?;
    crm.outbox_nudge.notify_waiters();
    crm.hooks()
        .after_commit(p.tenant_id, K::NAME, &[id], &scored)
        .await;
    Ok(Some(model))
}

fn cand_created_at(c: &Map<String, Value>) -> Option<crate::Timestamp> {
    c.get("createdAt")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Delete a record (its tags and scores go with it).
pub async fn delete<K: Kind>(crm: &Crm, p: &Principal, id: Uuid) -> Result<Uuid>
where
    ModelOf<K>: IntoActiveModel<ActiveOf<K>>,
    ActiveOf<K>: ActiveModelBehavior + Send,
{
    p.require(Action::Delete, K::NAME)?;
    let txn = crm.write_txn().await?;
    let existing = find::<K, _>(&txn, p.tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found(K::NAME, id))?;
    let id = K::id(&existing);
    let payload = K::to_json(&existing);
    existing
        .delete(&txn)
        .await
        .map_err(|e| match CoreError::from_db(e, K::NAME) {
            CoreError::Db(e) if e.to_string().to_lowercase().contains("foreign key") => {
                CoreError::Conflict(format!(
                    "{} {id} is still referenced by other records",
                    K::NAME
                ))
            }
            e => e,
        })?;
    tag::clear(&txn, p.tenant_id, K::NAME, id).await?;
    crate::plugin_store::delete_scores(&txn, p.tenant_id, K::NAME, id).await?;
    events::record(&txn, p, crm.now(), K::NAME, "deleted", Some(id), payload).await?;
    txn.commit().await?;
    crm.outbox_nudge.notify_waiters();
    Ok(id)
}

/// The record as the JSON candidate plugins and updates see (with tags).
pub async fn candidate_of<K: Kind>(
    crm: &Crm,
    tenant: Uuid,
    m: &ModelOf<K>,
) -> Result<Map<String, Value>> {
    let mut v = K::to_json(m);
    if K::TAGGABLE {
        let id = K::id(m);
        v["tags"] = tag::tags_of(&crm.db, tenant, K::NAME, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default()
            .into();
    }
    into_object(v)
}

/// Stored records of `K` as an update's validators see them before any
/// change: their JSON with tags and plain custom values (sensitive ones
/// opened, values no definition describes left out), in id order; ids not
/// found are absent. One statement for the records and one for their tags,
/// however many ids.
pub async fn candidates<K: Kind>(
    crm: &Crm,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Map<String, Value>)>> {
    let mut models = get_many::<K>(crm, tenant, ids).await?;
    models.sort_by_key(|m| K::id(m));
    let found: Vec<Uuid> = models.iter().map(|m| K::id(m)).collect();
    let mut tags = if K::TAGGABLE {
        tag::tags_of(&crm.db, tenant, K::NAME, &found).await?
    } else {
        Default::default()
    };
    let defs = crate::custom_field::definitions(crm, tenant, Some(K::NAME)).await?;
    let sensitive: Vec<&str> = defs
        .iter()
        .filter(|d| d.sensitive)
        .map(|d| d.key.as_str())
        .collect();
    let mut out = Vec::with_capacity(models.len());
    for m in &models {
        let id = K::id(m);
        let mut cand = into_object(K::to_json(m))?;
        if K::TAGGABLE {
            cand.insert("tags".into(), tags.remove(&id).unwrap_or_default().into());
        }
        if let Some(cf) = cand.get_mut("customFields") {
            if let Some(o) = cf.as_object_mut() {
                o.retain(|k, _| defs.iter().any(|d| d.key == *k));
            }
            crate::custom_field::open_sealed(crm, tenant, K::NAME, cf, &sensitive)?;
        }
        out.push((id, cand));
    }
    Ok(out)
}

/// [`candidates`] of the record kind named `entity` (`"contact"`, ...).
pub async fn candidates_of(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Map<String, Value>)>> {
    crate::with_kind!(entity, K => candidates::<K>(crm, tenant, ids).await, _ => Err(CoreError::invalid(
        "entity",
        "INVALID_VALUE",
        format!("{entity} is not a record kind"),
    )))
}

/// Apply `patch` to record `id` of the kind named `entity`: [`update`].
pub async fn update_of(
    crm: &Crm,
    p: &Principal,
    entity: &str,
    id: Uuid,
    patch: Value,
) -> Result<()> {
    crate::with_kind!(entity, K => update::<K>(crm, p, id, patch).await.map(|_| ()), _ => Err(CoreError::invalid(
        "entity",
        "INVALID_VALUE",
        format!("{entity} is not a record kind"),
    )))
}

fn into_object(v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(CoreError::invalid(
            "input",
            "INVALID_VALUE",
            "expected an input object",
        )),
    }
}

/// Run the tenant's validate plugins over the candidate; patches land in `cand`.
pub async fn run_validate_hooks(
    crm: &Crm,
    p: &Principal,
    entity: &'static str,
    cand: &mut Map<String, Value>,
) -> Result<()> {
    let mut v = Value::Object(std::mem::take(cand));
    let outcome = crm.hooks().validate(p.tenant_id, entity, &mut v).await;
    *cand = into_object(v)?;
    match outcome {
        ValidateOutcome::Accepted => Ok(()),
        ValidateOutcome::Rejected(r) => Err(CoreError::PluginRejected(r)),
        ValidateOutcome::Failed(f) => Err(CoreError::PluginFailed(f)),
    }
}

/// Top-level keys whose values differ, as `{key: {from, to}}`.
pub fn diff(before: &Value, after: &Value) -> Value {
    let mut out = Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, av) in a {
            if k == "updatedAt" {
                continue;
            }
            let bv = b.get(k).unwrap_or(&Value::Null);
            if bv != av {
                out.insert(k.clone(), serde_json::json!({"from": bv, "to": av}));
            }
        }
    }
    Value::Object(out)
}

/// Reads typed fields out of a candidate, collecting every problem with its path.
pub struct Check<'a> {
    obj: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
    refs: Vec<(String, &'static str, Uuid)>,
    /// The record's stored custom fields (an update): sealed values of
    /// unchanged sensitive fields are kept as they are.
    pub stored_custom: Option<Value>,
}

impl<'a> Check<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Check {
            obj,
            errors: vec![],
            refs: vec![],
            stored_custom: None,
        }
    }

    fn path(key: &str) -> String {
        format!("input.{key}")
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn error(&mut self, key: &str, code: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(Self::path(key), code, message));
    }

    /// Optional text, trimmed; empty means absent.
    pub fn text(&mut self, key: &str) -> Option<String> {
        match self.raw(key) {
            None => None,
            Some(Value::String(s)) => {
                let t = s.trim();
                if t.chars().count() > 10_000 {
                    self.error(key, "TOO_LONG", "at most 10000 characters");
                    return None;
                }
                (!t.is_empty()).then(|| t.to_string())
            }
            Some(_) => {
                self.error(key, "INVALID_VALUE", "expected a string");
                None
            }
        }
    }

    /// Required, non-empty text.
    pub fn required_text(&mut self, key: &str) -> String {
        match self.text(key) {
            Some(s) => s,
            None => {
                if !self.errors.iter().any(|e| e.path == Self::path(key)) {
                    self.error(key, "REQUIRED", format!("{key} is required"));
                }
                String::new()
            }
        }
    }

    pub fn f64(&mut self, key: &str) -> Option<f64> {
        match self.raw(key) {
            None => None,
            Some(v) => match v.as_f64().filter(|f| f.is_finite()) {
                Some(f) => Some(f),
                None => {
                    self.error(key, "INVALID_VALUE", "expected a number");
                    None
                }
            },
        }
    }

    pub fn non_negative(&mut self, key: &str) -> Option<f64> {
        let v = self.f64(key)?;
        if v < 0.0 {
            self.error(key, "INVALID_VALUE", "must not be negative");
        }
        Some(v)
    }

    pub fn i64(&mut self, key: &str) -> Option<i64> {
        match self.raw(key) {
            None => None,
            Some(v) => match v.as_i64() {
                Some(i) => Some(i),
                None => {
                    self.error(key, "INVALID_VALUE", "expected an integer");
                    None
                }
            },
        }
    }

    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.raw(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(key, "INVALID_VALUE", "expected a boolean");
                default
            }
        }
    }

    pub fn uuid(&mut self, key: &str) -> Option<Uuid> {
        let s = self.text(key)?;
        match Uuid::parse_str(&s) {
            Ok(u) => Some(u),
            Err(_) => {
                self.error(key, "INVALID_ID", format!("{s:?} is not an id"));
                None
            }
        }
    }

    /// An id that must name a record of `entity` in the caller's tenant (checked in [`Check::finish`]).
    pub fn reference(&mut self, key: &str, entity: &'static str) -> Option<Uuid> {
        let id = self.uuid(key)?;
        self.refs.push((Self::path(key), entity, id));
        Some(id)
    }

    pub fn datetime(&mut self, key: &str) -> Option<crate::Timestamp> {
        let s = self.text(key)?;
        match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(d) => Some(d.with_timezone(&chrono::Utc)),
            Err(_) => {
                self.error(key, "INVALID_VALUE", "expected an RFC 3339 date-time");
                None
            }
        }
    }

    pub fn date(&mut self, key: &str) -> Option<chrono::NaiveDate> {
        let s = self.text(key)?;
        match chrono::NaiveDate::from_str(&s) {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(key, "INVALID_VALUE", "expected a YYYY-MM-DD date");
                None
            }
        }
    }

    /// An enum value given as its GraphQL name (`AT_RISK`), stored lower-case (`at_risk`).
    pub fn enumeration(&mut self, key: &str, allowed: &[&str], default: &str) -> String {
        match self.text(key) {
            None => default.to_string(),
            Some(s) => {
                let v = s.to_lowercase();
                if allowed.contains(&v.as_str()) {
                    v
                } else {
                    let names: Vec<String> = allowed.iter().map(|a| a.to_uppercase()).collect();
                    self.error(
                        key,
                        "INVALID_VALUE",
                        format!("{s:?} is not one of {}", names.join(", ")),
                    );
                    default.to_string()
                }
            }
        }
    }

    /// A lower-cased, validated e-mail address.
    pub fn email(&mut self, key: &str) -> Option<String> {
        let s = self.text(key)?;
        match crm_normalize::email::normalize(&s) {
            Ok(e) => Some(e),
            Err(e) => {
                self.error(key, "INVALID_EMAIL", format!("{s:?}: {e}"));
                None
            }
        }
    }

    /// A phone number normalised to E.164 with the tenant's default region.
    pub fn phone(&mut self, key: &str, region: &str) -> Option<String> {
        let s = self.text(key)?;
        match crm_normalize::phone::to_e164(&s, region) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(key, "INVALID_PHONE", format!("{s:?}: {e}"));
                None
            }
        }
    }

    /// Tag names (`tags: [String]`), trimmed and de-duplicated; `None` when not given.
    pub fn tags(&mut self, key: &str) -> Option<Vec<String>> {
        let v = self.obj.get(key)?;
        if v.is_null() {
            return Some(vec![]);
        }
        let Some(items) = v.as_array() else {
            self.error(key, "INVALID_VALUE", "expected a list of tag names");
            return None;
        };
        let mut out: Vec<String> = vec![];
        for (i, t) in items.iter().enumerate() {
            match t.as_str().map(str::trim) {
                Some(s) if !s.is_empty() && s.chars().count() <= 64 => {
                    if !out.iter().any(|o| o == s) {
                        out.push(s.to_string());
                    }
                }
                _ => self.errors.push(FieldError::new(
                    format!("input.{key}.{i}"),
                    "INVALID_VALUE",
                    "a tag is a non-empty string of at most 64 characters",
                )),
            }
        }
        Some(out)
    }

    /// Custom field values, validated against the tenant's definitions for `entity`.
    pub async fn custom_fields(&mut self, crm: &Crm, tenant: Uuid, entity: &str) -> Value {
        let given = self
            .raw("customFields")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let stored = self.stored_custom.take();
        match crate::custom_field::validate(crm, tenant, entity, &given, stored.as_ref()).await {
            Ok(v) => v,
            Err(errs) => {
                self.errors.extend(errs);
                Value::Object(Map::new())
            }
        }
    }

    /// Fail with every collected problem, after checking referenced records exist in the tenant.
    pub async fn finish(mut self, crm: &Crm, tenant: Uuid) -> Result<()> {
        for (path, entity, id) in std::mem::take(&mut self.refs) {
            if !exists(crm, tenant, entity, id).await? {
                self.errors.push(FieldError::new(
                    path,
                    "NOT_FOUND",
                    format!("no {entity} with id {id}"),
                ));
            }
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Invalid(self.errors))
        }
    }
}

/// Whether a record of `entity` with `id` exists in `tenant`.
pub async fn exists(crm: &Crm, tenant: Uuid, entity: &str, id: Uuid) -> Result<bool> {
    use crate::entity as e;
    macro_rules! has {
        ($m:ident) => {
            e::$m::Entity::find()
                .filter(e::$m::Column::TenantId.eq(tenant))
                .filter(e::$m::Column::Id.eq(id))
                .count(&crm.db)
                .await?
                > 0
        };
    }
    Ok(match entity {
        "contact" => has!(contact),
        "company" => has!(company),
        "user" => has!(user),
        "deal" => has!(deal),
        "pipeline" => has!(pipeline),
        "stage" => has!(stage),
        "product" => has!(product),
        "order" => has!(order),
        "ticket" => has!(ticket),
        "task" => has!(task),
        "activity" => has!(activity),
        _ => false,
    })
}

/// Every record id of `entity` in a tenant, oldest first (for bulk rescoring).
pub async fn all_ids(crm: &Crm, tenant: Uuid, entity: &str) -> Result<Vec<Uuid>> {
    use crate::entity as e;
    macro_rules! ids {
        ($m:ident) => {
            e::$m::Entity::find()
                .select_only()
                .column(e::$m::Column::Id)
                .filter(e::$m::Column::TenantId.eq(tenant))
                .order_by_asc(e::$m::Column::Id)
                .into_tuple::<Uuid>()
                .all(&crm.db)
                .await?
        };
    }
    Ok(match entity {
        "contact" => ids!(contact),
        "company" => ids!(company),
        "deal" => ids!(deal),
        "activity" => ids!(activity),
        "task" => ids!(task),
        "ticket" => ids!(ticket),
        "product" => ids!(product),
        "order" => ids!(order),
        _ => vec![],
    })
}

/// Run `$body` with `$K` bound to the [`Kind`] named `$entity` (`"contact"`,
/// ...); `$other` handles names that are not record kinds.
#[macro_export]
macro_rules! with_kind {
    ($entity:expr, $K:ident => $body:expr, _ => $other:expr) => {
        match $entity {
            "contact" => {
                type $K = $crate::contact::Contact;
                $body
            }
            "company" => {
                type $K = $crate::company::Company;
                $body
            }
            "deal" => {
                type $K = $crate::deal::Deal;
                $body
            }
            "activity" => {
                type $K = $crate::activity::Activity;
                $body
            }
            "task" => {
                type $K = $crate::task::Task;
                $body
            }
            "ticket" => {
                type $K = $crate::ticket::Ticket;
                $body
            }
            "order" => {
                type $K = $crate::order::Order;
                $body
            }
            "product" => {
                type $K = $crate::product::Product;
                $body
            }
            _ => $other,
        }
    };
}

/// Whether a filter selects records by a list of ids and nothing else.
fn is_id_lookup(f: &Filter) -> bool {
    match f {
        Filter::Cond {
            field,
            op: Op::In | Op::Eq,
            ..
        } => field == "id",
        Filter::And(fs) => fs.len() == 1 && is_id_lookup(&fs[0]),
        _ => false,
    }
}
