//! Custom field definitions per entity and tenant, and validation of values on write.
//!
//! Values live beside each record in its `custom_fields` JSON column, keyed by
//! the definition's `key`. Types: text, number, date, bool, enum.
//!
//! A definition marked `sensitive` (a national ID, a health detail) holds
//! personal data that not every reader may see (DOMAIN §9): its values are
//! replaced by [`MASK`] for every caller and plugin without the `pii:read`
//! scope (in GraphQL, in plugin input and in domain events), and every read
//! that does show them is written to the audit log ([`audit_reads`]). A write
//! that sends [`MASK`] back for a sensitive field keeps the stored value, so
//! a client can save a record it was shown masked without erasing anything.

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::custom_field_def as def;
use crate::error::{CoreError, FieldError, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Map, Value};
use uuid::Uuid;

pub const KINDS: &[&str] = &["text", "number", "date", "bool", "enum"];
pub const ENTITIES: &[&str] = &["contact", "company", "deal", "activity", "ticket"];

/// A new custom field definition.
#[derive(Debug, Clone)]
pub struct NewDefinition {
    pub entity: String,
    pub key: String,
    pub label: String,
    pub kind: String,
    /// Allowed values for `enum`.
    pub options: Vec<String>,
    pub required: bool,
    /// Masked without `pii:read`; unmasked reads are audited.
    pub sensitive: bool,
}

/// What callers without `pii:read` see instead of a sensitive value.
pub const MASK: &str = "********";

/// The scope that shows sensitive values.
pub const PII_READ: &str = "pii:read";

/// Whether `p` sees sensitive values unmasked.
pub fn reveals(p: &Principal) -> bool {
    p.has_scope(PII_READ)
}

/// Keys of the sensitive custom fields of `entity` in `tenant`, sorted.
pub async fn sensitive_keys<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
) -> Result<Vec<String>> {
    Ok(def::Entity::find()
        .select_only()
        .column(def::Column::Key)
        .filter(def::Column::TenantId.eq(tenant))
        .filter(def::Column::Entity.eq(entity))
        .filter(def::Column::Sensitive.eq(true))
        .order_by_asc(def::Column::Key)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// The keys of `sensitive` that hold a value in `values` (a `customFields`
/// object): what showing `values` would reveal.
pub fn present<'a>(values: &Value, sensitive: &'a [String]) -> Vec<&'a str> {
    let Some(o) = values.as_object() else {
        return vec![];
    };
    sensitive
        .iter()
        .filter(|k| o.get(k.as_str()).is_some_and(|v| !v.is_null()))
        .map(String::as_str)
        .collect()
}

/// Replace the values of `sensitive` keys in `values` (a `customFields`
/// object) by [`MASK`]; `null` stays `null` (there is nothing to hide).
pub fn mask(values: &mut Value, sensitive: &[String]) {
    if let Some(o) = values.as_object_mut() {
        for k in sensitive {
            if let Some(v) = o.get_mut(k.as_str())
                && !v.is_null()
            {
                *v = Value::String(MASK.to_owned());
            }
        }
    }
}

/// Mask the sensitive custom fields of a domain event's payload: the
/// record's `customFields` and both sides of `changes.customFields`.
pub fn mask_payload(payload: &mut Value, sensitive: &[String]) {
    if let Some(cf) = payload.get_mut("customFields") {
        mask(cf, sensitive);
    }
    if let Some(ch) = payload
        .get_mut("changes")
        .and_then(|c| c.get_mut("customFields"))
    {
        for side in ["from", "to"] {
            if let Some(v) = ch.get_mut(side) {
                mask(v, sensitive);
            }
        }
    }
}

/// One read that showed sensitive values: which record, which keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SensitiveRead {
    pub entity: String,
    pub record_id: Uuid,
    pub keys: Vec<String>,
}

/// Write one `pii_read` audit record per read, in one statement of its own
/// transaction. The record's `changes` names the fields shown (never their
/// values).
pub async fn audit_reads(crm: &Crm, p: &Principal, reads: &[SensitiveRead]) -> Result<()> {
    if reads.is_empty() {
        return Ok(());
    }
    let txn = crm.write_txn().await?;
    audit_reads_on(&*txn, p, crm.now(), reads).await?;
    txn.commit().await?;
    Ok(())
}

/// [`audit_reads`] on connection `db` (a write's transaction, say) at `now`.
pub async fn audit_reads_on<C: ConnectionTrait>(
    db: &C,
    p: &Principal,
    now: crate::Timestamp,
    reads: &[SensitiveRead],
) -> Result<()> {
    use crate::entity::audit_log;
    if reads.is_empty() {
        return Ok(());
    }
    let rows = reads.iter().map(|r| audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        actor_id: Set(p.user_id.or(p.key_id)),
        actor_kind: Set(crate::events::actor_kind(p).to_string()),
        action: Set("pii_read".to_string()),
        entity: Set(r.entity.clone()),
        record_id: Set(Some(r.record_id)),
        changes: Set(serde_json::json!({
            "fields": r.keys,
            "plugin": p.plugin,
        })),
        created_at: Set(now),
        updated_at: Set(now),
    });
    audit_log::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Define a custom field (admins only). Values records already hold under
/// its key are sealed or opened to match, in the same transaction
/// (`convert_stored`).
pub async fn define(crm: &Crm, p: &Principal, d: NewDefinition) -> Result<def::Model> {
    p.require(Action::Administer, "custom_field")?;
    let mut errs = vec![];
    let entity = d.entity.to_lowercase();
    if !ENTITIES.contains(&entity.as_str()) {
        errs.push(FieldError::new(
            "input.entity",
            "INVALID_VALUE",
            format!("custom fields exist on {}", ENTITIES.join(", ")),
        ));
    }
    let key_ok = !d.key.is_empty()
        && d.key.len() <= 64
        && d.key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && d.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok {
        errs.push(FieldError::new(
            "input.key",
            "INVALID_VALUE",
            "a key starts with a lower-case letter and holds letters, digits and _ (at most 64)",
        ));
    }
    let kind = d.kind.to_lowercase();
    if !KINDS.contains(&kind.as_str()) {
        errs.push(FieldError::new(
            "input.kind",
            "INVALID_VALUE",
            format!("kind is one of {}", KINDS.join(", ")),
        ));
    }
    if kind == "enum" && d.options.is_empty() {
        errs.push(FieldError::new(
            "input.options",
            "REQUIRED",
            "an enum field needs at least one option",
        ));
    }
    if !errs.is_empty() {
        return Err(CoreError::Invalid(errs));
    }
    let now = crm.now();
    // The definition and what it means for values records already hold
    // under its key, in one transaction.
    let txn = crm.write_txn().await?;
    let model = def::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        entity: Set(entity),
        key: Set(d.key.clone()),
        label: Set(if d.label.trim().is_empty() {
            d.key.clone()
        } else {
            d.label.trim().to_string()
        }),
        kind: Set(kind),
        options: Set(Value::from(d.options)),
        required: Set(d.required),
        sensitive: Set(d.sensitive),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&*txn)
    .await
    .map_err(|e| CoreError::from_db(e, &format!("custom field {}", d.key)))?;
    convert_stored(
        crm,
        &*txn,
        p.tenant_id,
        &model.entity,
        &model.key,
        model.sensitive,
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Bring the values records of `entity` in `tenant` already hold under
/// `key` in line with a new definition: sealed when it is sensitive (so no
/// plain value stays at rest), opened when it is not. Such values predate
/// the definition: written before [`remove`] cleared a deleted field's
/// values, or by a write racing the definition.
/// Returns how many values changed form.
///
/// # Errors
/// A field error on `input.sensitive` when a value cannot be sealed (no data
/// key) or opened (sealed under another key); the caller's transaction then
/// writes nothing.
async fn convert_stored<C: ConnectionTrait>(
    crm: &Crm,
    db: &C,
    tenant: Uuid,
    entity: &str,
    key: &str,
    sensitive: bool,
) -> Result<u64> {
    use crate::secrets::{field_aad, is_sealed};
    let aad = field_aad(tenant, entity, key);
    let refuse = |why: String| {
        CoreError::Invalid(vec![FieldError::new(
            "input.sensitive",
            if sensitive {
                "DATA_KEY_MISSING"
            } else {
                "SEALED_VALUES"
            },
            why,
        )])
    };
    // The record's custom fields with `key` converted, when that changes them.
    let convert = |id: Uuid, values: &Value| -> Result<Option<Value>> {
        let Some(v) = values.get(key).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let new = match (sensitive, is_sealed(v)) {
            (true, false) => Value::String(crm.data_key.seal(&aad, v).map_err(|m| {
                refuse(format!(
                    "records already hold {key} values, which a sensitive field stores encrypted: {m}"
                ))
            })?),
            (false, true) => crm.data_key.open(&aad, v.as_str().unwrap_or_default()).map_err(|err| {
                refuse(format!(
                    "{entity} {id} holds a sealed {key} value from an earlier sensitive definition that does not open ({err}); \
                     restore the data key that sealed it, or define {key} as sensitive again"
                ))
            })?,
            _ => return Ok(None),
        };
        let mut out = values.clone();
        if let Some(o) = out.as_object_mut() {
            o.insert(key.to_owned(), new);
        }
        Ok(Some(out))
    };
    rewrite_stored(db, tenant, entity, convert).await
}

/// Rewrite the `custom_fields` of every record of `entity` in `tenant` that
/// `f` (given the record's id and custom fields) returns a new value for,
/// on `db` (the caller's transaction), in pages. Returns how many changed.
async fn rewrite_stored<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    mut f: impl FnMut(Uuid, &Value) -> Result<Option<Value>>,
) -> Result<u64> {
    let mut changed = 0u64;
    let mut after = None;
    loop {
        let rows = custom_fields_page(db, entity, Some(tenant), after, 1000).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = Some(last.id);
        for r in &rows {
            if let Some(v) = f(r.id, &r.values)? {
                store_custom_fields(db, entity, r.id, v).await?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// One record's stored custom fields.
struct StoredFields {
    id: Uuid,
    tenant: Uuid,
    values: Value,
}

/// Up to `limit` records of `entity` (of `tenant`, or of every tenant) with
/// ids after `after`, in id order: their stored custom fields.
async fn custom_fields_page<C: ConnectionTrait>(
    db: &C,
    entity: &str,
    tenant: Option<Uuid>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<StoredFields>> {
    use crate::entity as e;
    macro_rules! page {
        ($m:ident) => {{
            let mut q = e::$m::Entity::find()
                .select_only()
                .column(e::$m::Column::Id)
                .column(e::$m::Column::TenantId)
                .column(e::$m::Column::CustomFields)
                .order_by_asc(e::$m::Column::Id)
                .limit(limit);
            if let Some(t) = tenant {
                q = q.filter(e::$m::Column::TenantId.eq(t));
            }
            if let Some(a) = after {
                q = q.filter(e::$m::Column::Id.gt(a));
            }
            q.into_tuple::<(Uuid, Uuid, Value)>().all(db).await?
        }};
    }
    let rows = match entity {
        "contact" => page!(contact),
        "company" => page!(company),
        "deal" => page!(deal),
        "activity" => page!(activity),
        "ticket" => page!(ticket),
        _ => vec![],
    };
    Ok(rows
        .into_iter()
        .map(|(id, tenant, values)| StoredFields { id, tenant, values })
        .collect())
}

/// Replace the stored custom fields of record `id` of `entity`.
async fn store_custom_fields<C: ConnectionTrait>(
    db: &C,
    entity: &str,
    id: Uuid,
    values: Value,
) -> Result<()> {
    use crate::entity as e;
    use sea_orm::sea_query::Expr;
    macro_rules! store {
        ($m:ident) => {
            e::$m::Entity::update_many()
                .col_expr(e::$m::Column::CustomFields, Expr::value(values))
                .filter(e::$m::Column::Id.eq(id))
                .exec(db)
                .await?
        };
    }
    match entity {
        "contact" => store!(contact),
        "company" => store!(company),
        "deal" => store!(deal),
        "activity" => store!(activity),
        "ticket" => store!(ticket),
        _ => return Ok(()),
    };
    Ok(())
}

/// Definitions of a tenant, optionally for one entity.
pub async fn definitions(crm: &Crm, tenant: Uuid, entity: Option<&str>) -> Result<Vec<def::Model>> {
    let mut q = def::Entity::find().filter(def::Column::TenantId.eq(tenant));
    if let Some(e) = entity {
        q = q.filter(def::Column::Entity.eq(e.to_lowercase()));
    }
    Ok(q.order_by_asc(def::Column::Entity)
        .order_by_asc(def::Column::Key)
        .all(&crm.db)
        .await?)
}

/// Remove a definition and, in the same transaction, the values records
/// hold under its key (deleting a field deletes its data, sealed values of
/// a sensitive one included), so no record keeps a value no definition
/// describes.
pub async fn remove(crm: &Crm, p: &Principal, id: Uuid) -> Result<Uuid> {
    p.require(Action::Administer, "custom_field")?;
    let txn = crm.write_txn().await?;
    let Some(d) = def::Entity::find()
        .filter(def::Column::TenantId.eq(p.tenant_id))
        .filter(def::Column::Id.eq(id))
        .one(&*txn)
        .await?
    else {
        return Err(CoreError::not_found("customFieldDefinition", id));
    };
    def::Entity::delete_by_id(d.id).exec(&*txn).await?;
    let records = rewrite_stored(&*txn, p.tenant_id, &d.entity, |_, values| {
        Ok(values.get(&d.key).is_some().then(|| {
            let mut out = values.clone();
            if let Some(o) = out.as_object_mut() {
                o.remove(&d.key);
            }
            out
        }))
    })
    .await?;
    // The values are gone: the audit log says which field, how many records
    // and who (never the values).
    crate::events::audit(
        &*txn,
        p,
        crm.now(),
        "delete",
        "custom_field",
        Some(d.id),
        serde_json::json!({
            "entity": d.entity,
            "key": d.key,
            "sensitive": d.sensitive,
            "recordsCleared": records,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// Validate a `customFields` object against the definitions: unknown keys,
/// wrong types and missing required values are field errors under
/// `input.customFields.<key>`. The values of sensitive fields come back
/// sealed for storage ([`crate::secrets`]); a value equal to what `stored`
/// (the record's stored custom fields) holds keeps its sealed form, so an
/// unchanged value is not a change.
pub async fn validate(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    given: &Value,
    stored: Option<&Value>,
) -> std::result::Result<Value, Vec<FieldError>> {
    let defs = definitions(crm, tenant, Some(entity)).await.map_err(|e| {
        vec![FieldError::new(
            "input.customFields",
            "INTERNAL",
            e.to_string(),
        )]
    })?;
    let mut out = check_values(&defs, given)?;
    let mut errs = vec![];
    for d in defs.iter().filter(|d| d.sensitive) {
        // A given value is plain (the API never shows a sealed form): one
        // that merely looks sealed is sealed like any other text.
        let Some(v) = out.get_mut(&d.key) else {
            continue;
        };
        let aad = crate::secrets::field_aad(tenant, entity, &d.key);
        let kept = stored
            .and_then(|s| s.get(&d.key))
            .and_then(Value::as_str)
            .filter(|old| old.starts_with(crate::secrets::SEALED_PREFIX))
            .filter(|old| crm.data_key.open(&aad, old).is_ok_and(|o| o == *v));
        if let Some(old) = kept {
            *v = Value::String(old.to_owned());
            continue;
        }
        match crm.data_key.seal(&aad, v) {
            Ok(sealed) => *v = Value::String(sealed),
            Err(m) => errs.push(key_missing(&d.key, &m)),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// The error of a sensitive value of field `key` that cannot be sealed
/// (`why`: no data key).
fn key_missing(key: &str, why: &str) -> FieldError {
    FieldError::new(
        format!("input.customFields.{key}"),
        "DATA_KEY_MISSING",
        format!("{key} is sensitive and cannot be stored: {why}"),
    )
}

/// Bring `values` (the `customFields` object a write is about to store for
/// a record of `entity` in `tenant`) in line with the definitions as they
/// are in the write's transaction `db`: a value whose field no longer
/// exists is dropped, a plain value of a sensitive field is sealed, a
/// sealed value of a field that is no longer sensitive is opened. A write
/// validates its values before its transaction begins, so a field made
/// sensitive or deleted meanwhile would otherwise leave a plain or orphaned
/// value at rest. On PostgreSQL the definitions are read `FOR SHARE`, so
/// deleting one waits for the write to commit (and then clears its value);
/// SQLite writes take turns. Returns whether `values` changed.
///
/// # Errors
/// `DATA_KEY_MISSING` on `input.customFields.<key>` when a value must be
/// sealed and there is no data key.
pub async fn conform<C: ConnectionTrait>(
    crm: &Crm,
    db: &C,
    tenant: Uuid,
    entity: &str,
    values: &mut Value,
) -> Result<bool> {
    use crate::secrets::{field_aad, is_sealed};
    let Some(o) = values.as_object_mut().filter(|o| !o.is_empty()) else {
        return Ok(false);
    };
    let defs: Vec<(String, bool)> = def::Entity::find()
        .select_only()
        .column(def::Column::Key)
        .column(def::Column::Sensitive)
        .filter(def::Column::TenantId.eq(tenant))
        .filter(def::Column::Entity.eq(entity))
        .lock_shared()
        .into_tuple()
        .all(db)
        .await?;
    let sensitive = |k: &str| defs.iter().find(|(d, _)| d == k).map(|(_, s)| *s);
    let before = o.len();
    o.retain(|k, _| sensitive(k).is_some());
    let mut changed = o.len() != before;
    for (k, v) in o.iter_mut() {
        if v.is_null() {
            continue;
        }
        let aad = field_aad(tenant, entity, k);
        match (sensitive(k) == Some(true), is_sealed(v)) {
            (true, false) => {
                let sealed = crm
                    .data_key
                    .seal(&aad, v)
                    .map_err(|m| CoreError::Invalid(vec![key_missing(k, &m)]))?;
                *v = Value::String(sealed);
                changed = true;
            }
            (false, true) => {
                // A value that does not open is plain text that only looks
                // sealed: it stays as it was given.
                if let Ok(opened) = crm.data_key.open(&aad, v.as_str().unwrap_or_default()) {
                    *v = opened;
                    changed = true;
                }
            }
            _ => {}
        }
    }
    Ok(changed)
}

/// Open the sealed values of the `sensitive` fields in `values` (a
/// `customFields` object of `entity` in `tenant`) in place. Other fields are
/// left as they are: their values are plain text at rest, even text that
/// happens to look sealed.
///
/// # Errors
/// [`CoreError::Internal`] when one does not open (no key, another key).
pub fn open_sealed<S: AsRef<str>>(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    values: &mut Value,
    sensitive: &[S],
) -> Result<()> {
    open_sealed_with(&crm.data_key, tenant, entity, values, sensitive)
}

/// [`open_sealed`] with data key `key`.
pub fn open_sealed_with<S: AsRef<str>>(
    key: &crate::secrets::DataKey,
    tenant: Uuid,
    entity: &str,
    values: &mut Value,
    sensitive: &[S],
) -> Result<()> {
    if let Some(o) = values.as_object_mut() {
        for (k, v) in o.iter_mut() {
            if !sensitive.iter().any(|s| s.as_ref() == k) {
                continue;
            }
            if let Some(sealed) = v
                .as_str()
                .filter(|s| s.starts_with(crate::secrets::SEALED_PREFIX))
            {
                *v = key.open(&crate::secrets::field_aad(tenant, entity, k), sealed)?;
            }
        }
    }
    Ok(())
}

/// What [`reseal_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Records whose custom fields were rewritten.
    pub records: u64,
    /// Sealed values re-sealed under the new key.
    pub values: u64,
    /// Sealed values found already under the new key (a resumed rotation).
    pub already: u64,
}

/// Re-seal every sealed custom field value of every tenant under `new` (a
/// data key rotation), one transaction per batch of records. Values that
/// open under `new` already are left as they are, so an interrupted
/// rotation is resumed by running it again. Run it with writers stopped: a
/// value a running process seals with the old key meanwhile is not covered.
/// `progress` gets the records scanned so far after each batch.
///
/// # Errors
/// A value that opens under neither key (another key entirely) stops the
/// rotation before its batch is written, naming the record.
pub async fn reseal_all(
    crm: &Crm,
    new: &crate::secrets::DataKey,
    mut progress: impl FnMut(u64),
) -> Result<Resealed> {
    use crate::secrets::{SEALED_PREFIX, field_aad};
    let mut done = Resealed::default();
    let mut scanned = 0u64;
    // The custom fields of `values` (of `entity` in `tenant`) under `new`:
    // `Some` when something changed.
    let mut reseal =
        |tenant: Uuid, entity: &str, id: Uuid, values: &Value| -> Result<Option<Value>> {
            let Some(o) = values.as_object() else {
                return Ok(None);
            };
            let mut out = o.clone();
            let mut changed = false;
            for (k, v) in out.iter_mut() {
                let Some(sealed) = v.as_str().filter(|s| s.starts_with(SEALED_PREFIX)) else {
                    continue;
                };
                let aad = field_aad(tenant, entity, k);
                if new.open(&aad, sealed).is_ok() {
                    done.already += 1;
                    continue;
                }
                let plain = crm.data_key.open(&aad, sealed).map_err(|err| {
                    CoreError::Internal(format!("{entity} {id}, field {k}: {err}"))
                })?;
                *v = Value::String(new.seal(&aad, &plain).map_err(|m| {
                    CoreError::Internal(format!("cannot seal with the new key: {m}"))
                })?);
                done.values += 1;
                changed = true;
            }
            Ok(changed.then_some(Value::Object(out)))
        };
    for entity in ENTITIES {
        let mut after = None;
        loop {
            let rows = custom_fields_page(&crm.db, entity, None, after, 500).await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = Some(last.id);
            scanned += rows.len() as u64;
            let mut updates = vec![];
            for r in &rows {
                if let Some(v) = reseal(r.tenant, entity, r.id, &r.values)? {
                    updates.push((r.id, v));
                }
            }
            if !updates.is_empty() {
                let txn = crm.write_txn().await?;
                for (id, v) in updates {
                    store_custom_fields(&*txn, entity, id, v).await?;
                    done.records += 1;
                }
                txn.commit().await?;
            }
            progress(scanned);
        }
    }
    Ok(done)
}

/// The pure part of [`validate`].
pub fn check_values(
    defs: &[def::Model],
    given: &Value,
) -> std::result::Result<Value, Vec<FieldError>> {
    let mut errs = vec![];
    let empty = Map::new();
    let obj = match given {
        Value::Object(o) => o,
        Value::Null => &empty,
        _ => {
            return Err(vec![FieldError::new(
                "input.customFields",
                "INVALID_VALUE",
                "expected an object",
            )]);
        }
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let path = format!("input.customFields.{k}");
        let Some(d) = defs.iter().find(|d| &d.key == k) else {
            errs.push(FieldError::new(
                path,
                "UNKNOWN_FIELD",
                format!("no custom field {k:?} is defined; define it with defineCustomField"),
            ));
            continue;
        };
        if v.is_null() {
            continue;
        }
        let ok = match d.kind.as_str() {
            "text" => v.is_string(),
            "number" => v.is_number(),
            "bool" => v.is_boolean(),
            "date" => v
                .as_str()
                .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
            "enum" => v.as_str().is_some_and(|s| {
                d.options
                    .as_array()
                    .is_some_and(|o| o.iter().any(|x| x.as_str() == Some(s)))
            }),
            _ => false,
        };
        if ok {
            out.insert(k.clone(), v.clone());
        } else {
            let expected = match d.kind.as_str() {
                "enum" => format!("one of {}", d.options),
                "date" => "a YYYY-MM-DD date".to_string(),
                k => format!("a {k}"),
            };
            errs.push(FieldError::new(
                path,
                "INVALID_VALUE",
                format!("{k} expects {expected}"),
            ));
        }
    }
    for d in defs.iter().filter(|d| d.required) {
        if !out.contains_key(&d.key)
            && !errs
                .iter()
                .any(|e| e.path.ends_with(&format!(".{}", d.key)))
        {
            errs.push(FieldError::new(
                format!("input.customFields.{}", d.key),
                "REQUIRED",
                format!("{} is required", d.label),
            ));
        }
    }
    if errs.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(key: &str, kind: &str, options: Value, required: bool) -> def::Model {
        let now = chrono::Utc::now();
        def::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            entity: "contact".into(),
            key: key.into(),
            label: key.into(),
            kind: kind.into(),
            options,
            required,
            sensitive: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn sensitive_values_are_masked_where_they_leave() {
        let keys = vec!["nationalId".to_string(), "salary".to_string()];
        let mut values = json!({"nationalId": "110101199003077777", "salary": 5000, "vin": "LSV1"});
        assert_eq!(present(&values, &keys), ["nationalId", "salary"]);
        mask(&mut values, &keys);
        assert_eq!(
            values,
            json!({"nationalId": MASK, "salary": MASK, "vin": "LSV1"})
        );
        // Nothing to hide: absent and null values are not "present".
        let mut cleared = json!({"nationalId": null});
        assert!(present(&cleared, &keys).is_empty());
        mask(&mut cleared, &keys);
        assert_eq!(cleared, json!({"nationalId": null}));

        let mut event = json!({
            "id": "c1",
            "customFields": {"nationalId": "A", "vin": "V"},
            "changes": {"customFields": {"from": {"nationalId": "B"}, "to": {"nationalId": "A"}}},
        });
        mask_payload(&mut event, &keys);
        assert_eq!(
            event["customFields"],
            json!({"nationalId": MASK, "vin": "V"})
        );
        assert_eq!(event["changes"]["customFields"]["from"]["nationalId"], MASK);
        assert_eq!(event["changes"]["customFields"]["to"]["nationalId"], MASK);
    }

    #[test]
    fn values_are_checked_against_their_types() {
        let defs = vec![
            d("vin", "text", json!([]), true),
            d("budget", "number", json!([]), false),
            d("tier", "enum", json!(["gold", "silver"]), false),
            d("since", "date", json!([]), false),
        ];
        let ok = check_values(
            &defs,
            &json!({"vin": "X1", "budget": 5, "tier": "gold", "since": "2024-01-31"}),
        );
        assert!(ok.is_ok());
        let errs = check_values(
            &defs,
            &json!({"budget": "lots", "tier": "bronze", "since": "31/01/2024", "color": "red"}),
        )
        .unwrap_err();
        let paths: Vec<_> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        assert!(paths.contains(&("input.customFields.budget", "INVALID_VALUE")));
        assert!(paths.contains(&("input.customFields.tier", "INVALID_VALUE")));
        assert!(paths.contains(&("input.customFields.since", "INVALID_VALUE")));
        assert!(paths.contains(&("input.customFields.color", "UNKNOWN_FIELD")));
        assert!(paths.contains(&("input.customFields.vin", "REQUIRED")));
    }
}
