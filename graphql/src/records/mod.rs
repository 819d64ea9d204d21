//! Object types, inputs, queries and mutations of every record kind.
//!
//! One module per concept (`contact`, `company`, `sales`, `work`, `commerce`,
//! `admin`), all built on the generic list/get/create/update/delete of
//! [`crm_core::record`].

pub mod admin;
pub mod commerce;
pub mod company;
pub mod contact;
pub mod sales;
pub mod work;

use crate::common::{crm, principal};
use crate::connection::{PageArgs, list_args};
use crate::error::GqlResult;
use async_graphql::{Context, Result};
use crm_core::query::{Filter, OrderBy, Page};
use crm_core::record::{self, Kind, ModelOf};

/// The `customFields` of record `id` of `entity` as the caller may see them:
/// sensitive values masked without `pii:read`; with it, opened (they are
/// stored sealed) and audited (one `pii_read` record per record shown). Records without custom values cost
/// nothing; the sensitive keys are read once per request.
pub async fn visible_custom_fields(
    ctx: &Context<'_>,
    entity: &'static str,
    id: uuid::Uuid,
    values: &serde_json::Value,
) -> Result<async_graphql::Json<serde_json::Value>> {
    use crate::loaders::{Ent, Loaders};
    use crm_core::custom_field as cf;
    if values.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(async_graphql::Json(values.clone()));
    }
    let loaders = ctx.data::<Loaders>()?;
    let sensitive = loaders
        .sensitive
        .load_one(Ent(entity))
        .await?
        .unwrap_or_default();
    let shown = cf::present(values, &sensitive);
    if shown.is_empty() {
        return Ok(async_graphql::Json(values.clone()));
    }
    let p = principal(ctx)?;
    if cf::reveals(p) {
        let mut opened = values.clone();
        cf::open_sealed(crm(ctx), p.tenant_id, entity, &mut opened, &sensitive).gql()?;
        loaders
            .sensitive_reads
            .load_one((Ent(entity), id, shown.join(",")))
            .await?;
        return Ok(async_graphql::Json(opened));
    }
    let mut masked = values.clone();
    cf::mask(&mut masked, &sensitive);
    Ok(async_graphql::Json(masked))
}

/// Read a page of `K` for a connection field, counting only when `totalCount` is selected.
pub async fn list<K: Kind>(
    ctx: &Context<'_>,
    pa: PageArgs,
    filter: Option<Filter>,
    order: Vec<OrderBy>,
) -> Result<Page<ModelOf<K>>> {
    list_in::<K>(ctx, pa, filter, order, sea_orm::Condition::all()).await
}

/// [`list`] restricted by an extra condition (a record's timeline, a company's contacts).
pub async fn list_in<K: Kind>(
    ctx: &Context<'_>,
    pa: PageArgs,
    filter: Option<Filter>,
    order: Vec<OrderBy>,
    extra: sea_orm::Condition,
) -> Result<Page<ModelOf<K>>> {
    let p = principal(ctx)?;
    p.require(crm_core::auth::Action::Read, K::NAME).gql()?;
    let crm = crm(ctx);
    let count = ctx.look_ahead().field("totalCount").exists();
    let total = if pa.needs_total() {
        let probe = crm_core::query::ListArgs {
            filter: filter.clone(),
            order: vec![],
            offset: 0,
            limit: 0,
            count: true,
        };
        record::list_scoped::<K>(crm, p.tenant_id, &probe, extra.clone())
            .await
            .gql()?
            .total
    } else {
        None
    };
    let bulk = ctx.data_opt::<crate::connection::BulkRead>().is_some();
    let args = list_args(&pa, filter, order, count, total, bulk)?;
    record::list_scoped::<K>(crm, p.tenant_id, &args, extra)
        .await
        .gql()
}

/// A plugin score of a record.
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct Score {
    pub plugin: String,
    pub name: String,
    /// 0..=100.
    pub value: i32,
    pub grade: Option<String>,
    pub reasons: Vec<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<crm_core::entity::score::Model> for Score {
    fn from(s: crm_core::entity::score::Model) -> Self {
        Score {
            plugin: s.plugin_id,
            name: s.name,
            value: i32::from(s.value),
            grade: s.grade,
            reasons: s
                .reasons
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            updated_at: s.updated_at,
        }
    }
}

/// Scores of a record, optionally one plugin's.
pub async fn scores_of(
    ctx: &Context<'_>,
    entity: &'static str,
    id: uuid::Uuid,
    plugin: Option<String>,
) -> Result<Vec<Score>> {
    let l = crate::common::loaders(ctx)?;
    let all = l
        .scores
        .load_one((crate::loaders::Ent(entity), id))
        .await?
        .unwrap_or_default();
    Ok(all
        .into_iter()
        .filter(|s| plugin.as_ref().is_none_or(|p| &s.plugin_id == p))
        .map(Score::from)
        .collect())
}

pub async fn tags_of(
    ctx: &Context<'_>,
    entity: &'static str,
    id: uuid::Uuid,
) -> Result<Vec<String>> {
    Ok(crate::common::loaders(ctx)?
        .tags
        .load_one((crate::loaders::Ent(entity), id))
        .await?
        .unwrap_or_default())
}

pub async fn user_of(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> Result<Option<admin::User>> {
    match id {
        Some(id) => Ok(crate::common::loaders(ctx)?
            .users
            .load_one(id)
            .await?
            .map(admin::User)),
        None => Ok(None),
    }
}

/// The record id after a delete.
#[derive(async_graphql::SimpleObject)]
pub struct Deleted {
    pub id: async_graphql::ID,
}
