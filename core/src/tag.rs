//! Tags: per-tenant names attached to records through `taggings`.

use crate::entity::{tag, tagging};
use crate::error::Result;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;
use uuid::Uuid;

/// Replace the tags of a record with `names` (creating missing tags); returns them.
pub async fn set_tags<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    record: Uuid,
    names: &[String],
) -> Result<Vec<String>> {
    clear(db, tenant, entity, record).await?;
    tag_new(db, tenant, entity, record, names).await
}

/// Tag a record that has no tags yet (one just created): [`set_tags`]
/// without clearing first, so nothing is written for an empty list.
pub async fn tag_new<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    record: Uuid,
    names: &[String],
) -> Result<Vec<String>> {
    attach(db, tenant, entity, record, names).await?;
    Ok(names.to_vec())
}

/// Attach tags `names` (created when missing) to a record without them.
async fn attach<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    record: Uuid,
    names: &[String],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut taggings = Vec::with_capacity(names.len());
    for name in names {
        taggings.push(tagging::ActiveModel {
            tenant_id: Set(tenant),
            tag_id: Set(ensure(db, tenant, name).await?),
            entity: Set(entity.to_string()),
            record_id: Set(record),
        });
    }
    tagging::Entity::insert_many(taggings)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Add tags to a record, keeping the ones it has.
pub async fn add_tags<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    record: Uuid,
    names: &[String],
) -> Result<()> {
    let have = tags_of(db, tenant, entity, &[record])
        .await?
        .remove(&record)
        .unwrap_or_default();
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !have.contains(n))
        .cloned()
        .collect();
    attach(db, tenant, entity, record, &missing).await
}

async fn ensure<C: ConnectionTrait>(db: &C, tenant: Uuid, name: &str) -> Result<Uuid> {
    if let Some(t) = tag::Entity::find()
        .filter(tag::Column::TenantId.eq(tenant))
        .filter(tag::Column::Name.eq(name))
        .one(db)
        .await?
    {
        return Ok(t.id);
    }
    let now = chrono::Utc::now();
    let t = tag::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        name: Set(name.to_string()),
        color: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(t.id)
}

/// Remove every tag of a record.
pub async fn clear<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    record: Uuid,
) -> Result<()> {
    tagging::Entity::delete_many()
        .filter(tagging::Column::TenantId.eq(tenant))
        .filter(tagging::Column::Entity.eq(entity))
        .filter(tagging::Column::RecordId.eq(record))
        .exec(db)
        .await?;
    Ok(())
}

/// Tag names per record, sorted, for many records in one query.
pub async fn tags_of<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    entity: &str,
    records: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>> {
    let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
    if records.is_empty() {
        return Ok(out);
    }
    let links = tagging::Entity::find()
        .filter(tagging::Column::TenantId.eq(tenant))
        .filter(tagging::Column::Entity.eq(entity))
        .filter(tagging::Column::RecordId.is_in(records.iter().copied()))
        .all(db)
        .await?;
    let tag_ids: Vec<Uuid> = links.iter().map(|l| l.tag_id).collect();
    let names: HashMap<Uuid, String> = tag::Entity::find()
        .filter(tag::Column::Id.is_in(tag_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    for l in links {
        if let Some(n) = names.get(&l.tag_id) {
            out.entry(l.record_id).or_default().push(n.clone());
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

/// All tags of a tenant with how many records carry each.
pub async fn all<C: ConnectionTrait>(db: &C, tenant: Uuid) -> Result<Vec<tag::Model>> {
    Ok(tag::Entity::find()
        .filter(tag::Column::TenantId.eq(tenant))
        .all(db)
        .await?)
}
