//! Merging duplicate contacts or companies (DOMAIN §3).
//!
//! The survivor keeps every activity, deal, ticket, order, task, tag and
//! custom value of the merged records; empty fields of the survivor are filled
//! from the merged ones; merged ids keep resolving to the survivor through
//! `record_redirects`. One transaction.

use crate::auth::{Action, Principal};
use crate::entity::{activity, company, contact, deal, order, record_redirect, task, ticket};
use crate::error::{CoreError, Result};
use crate::record::{self, Kind};
use crate::{Crm, events, tag};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, ModelTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn check_ids(survivor: Uuid, merged: &[Uuid]) -> Result<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = merged.iter().copied().filter(|m| *m != survivor).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(CoreError::invalid(
            "mergedIds",
            "REQUIRED",
            "name at least one record other than the survivor",
        ));
    }
    Ok(ids)
}

fn merge_custom(survivor: &Value, merged: &Value) -> Value {
    let mut out = survivor.as_object().cloned().unwrap_or_default();
    if let Some(m) = merged.as_object() {
        for (k, v) in m {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(out)
}

async fn redirect(
    txn: &sea_orm::DatabaseTransaction,
    tenant: Uuid,
    entity: &str,
    from: Uuid,
    to: Uuid,
    now: crate::Timestamp,
) -> Result<()> {
    // Earlier merges into `from` now point at `to` as well.
    record_redirect::Entity::update_many()
        .col_expr(record_redirect::Column::ToId, Expr::value(to))
        .filter(record_redirect::Column::TenantId.eq(tenant))
        .filter(record_redirect::Column::Entity.eq(entity))
        .filter(record_redirect::Column::ToId.eq(from))
        .exec(txn)
        .await?;
    record_redirect::ActiveModel {
        tenant_id: Set(tenant),
        entity: Set(entity.to_string()),
        from_id: Set(from),
        to_id: Set(to),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}

async fn move_tags_and_tasks(
    txn: &sea_orm::DatabaseTransaction,
    tenant: Uuid,
    entity: &str,
    from: Uuid,
    to: Uuid,
) -> Result<()> {
    let tags = tag::tags_of(txn, tenant, entity, &[from])
        .await?
        .remove(&from)
        .unwrap_or_default();
    tag::add_tags(txn, tenant, entity, to, &tags).await?;
    tag::clear(txn, tenant, entity, from).await?;
    task::Entity::update_many()
        .col_expr(task::Column::RecordId, Expr::value(to))
        .filter(task::Column::TenantId.eq(tenant))
        .filter(task::Column::RecordEntity.eq(entity))
        .filter(task::Column::RecordId.eq(from))
        .exec(txn)
        .await?;
    crate::plugin_store::delete_scores(txn, tenant, entity, from).await
}

/// Merge `merged` contacts into `survivor`.
pub async fn merge_contacts(
    crm: &Crm,
    p: &Principal,
    survivor: Uuid,
    merged: &[Uuid],
) -> Result<contact::Model> {
    p.require(Action::Update, "contact")?;
    p.require(Action::Delete, "contact")?;
    let ids = check_ids(survivor, merged)?;
    let now = crm.now();
    let txn = crm.write_txn().await?;
    // Locked, so an update racing the merge is not overwritten by it.
    let mut s = record::find_locked::<crate::contact::Contact, _>(&*txn, p.tenant_id, survivor)
        .await?
        .ok_or_else(|| CoreError::not_found("contact", survivor))?;
    for id in &ids {
        let m = contact::Entity::find()
            .filter(contact::Column::TenantId.eq(p.tenant_id))
            .filter(contact::Column::Id.eq(*id))
            .one(&txn)
            .await?
            .ok_or_else(|| {
                CoreError::invalid("mergedIds", "NOT_FOUND", format!("no contact with id {id}"))
            })?;
        s.email = s.email.or(m.email.clone());
        s.phone = s.phone.or(m.phone.clone());
        s.title = s.title.or(m.title.clone());
        s.company_id = s.company_id.or(m.company_id);
        s.owner_id = s.owner_id.or(m.owner_id);
        s.birth_date = s.birth_date.or(m.birth_date);
        if s.first_name.is_empty() {
            s.first_name = m.first_name.clone();
        }
        s.custom_fields = merge_custom(&s.custom_fields, &m.custom_fields);
        activity::Entity::update_many()
            .col_expr(activity::Column::ContactId, Expr::value(s.id))
            .filter(activity::Column::ContactId.eq(*id))
            .exec(&txn)
            .await?;
        deal::Entity::update_many()
            .col_expr(deal::Column::ContactId, Expr::value(s.id))
            .filter(deal::Column::ContactId.eq(*id))
            .exec(&txn)
            .await?;
        ticket::Entity::update_many()
            .col_expr(ticket::Column::ContactId, Expr::value(s.id))
            .filter(ticket::Column::ContactId.eq(*id))
            .exec(&txn)
            .await?;
        order::Entity::update_many()
            .col_expr(order::Column::ContactId, Expr::value(s.id))
            .filter(order::Column::ContactId.eq(*id))
            .exec(&txn)
            .await?;
        move_tags_and_tasks(&txn, p.tenant_id, "contact", *id, s.id).await?;
        m.delete(&txn).await?;
        redirect(&txn, p.tenant_id, "contact", *id, s.id, now).await?;
    }
    let mut a = s.clone().into_active_model().reset_all();
    a.updated_at = Set(now);
    let s = a.update(&txn).await?;
    let payload = json!({"survivorId": s.id, "mergedIds": ids, "record": crate::contact::Contact::to_json(&s)});
    events::record(&txn, p, now, "contact", "merged", Some(s.id), payload).await?;
    txn.commit().await?;
    crm.outbox_nudge.notify_waiters();
    crm.hooks()
        .after_write(p.tenant_id, "contact", &[s.id])
        .await;
    Ok(s)
}

/// Merge `merged` companies into `survivor`.
pub async fn merge_companies(
    crm: &Crm,
    p: &Principal,
    survivor: Uuid,
    merged: &[Uuid],
) -> Result<company::Model> {
    p.require(Action::Update, "company")?;
    p.require(Action::Delete, "company")?;
    let ids = check_ids(survivor, merged)?;
    let now = crm.now();
    let txn = crm.write_txn().await?;
    // Locked, so an update racing the merge is not overwritten by it.
    let mut s = record::find_locked::<crate::company::Company, _>(&*txn, p.tenant_id, survivor)
        .await?
        .ok_or_else(|| CoreError::not_found("company", survivor))?;
    for id in &ids {
        let m = company::Entity::find()
            .filter(company::Column::TenantId.eq(p.tenant_id))
            .filter(company::Column::Id.eq(*id))
            .one(&txn)
            .await?
            .ok_or_else(|| {
                CoreError::invalid("mergedIds", "NOT_FOUND", format!("no company with id {id}"))
            })?;
        s.domain = s.domain.or(m.domain.clone());
        s.industry = s.industry.or(m.industry.clone());
        s.employee_count = s.employee_count.or(m.employee_count);
        s.annual_revenue = s.annual_revenue.or(m.annual_revenue);
        s.phone = s.phone.or(m.phone.clone());
        s.country = s.country.or(m.country.clone());
        s.city = s.city.or(m.city.clone());
        s.owner_id = s.owner_id.or(m.owner_id);
        s.custom_fields = merge_custom(&s.custom_fields, &m.custom_fields);
        contact::Entity::update_many()
            .col_expr(contact::Column::CompanyId, Expr::value(s.id))
            .filter(contact::Column::CompanyId.eq(*id))
            .exec(&txn)
            .await?;
        activity::Entity::update_many()
            .col_expr(activity::Column::CompanyId, Expr::value(s.id))
            .filter(activity::Column::CompanyId.eq(*id))
            .exec(&txn)
            .await?;
        deal::Entity::update_many()
            .col_expr(deal::Column::CompanyId, Expr::value(s.id))
            .filter(deal::Column::CompanyId.eq(*id))
            .exec(&txn)
            .await?;
        ticket::Entity::update_many()
            .col_expr(ticket::Column::CompanyId, Expr::value(s.id))
            .filter(ticket::Column::CompanyId.eq(*id))
            .exec(&txn)
            .await?;
        order::Entity::update_many()
            .col_expr(order::Column::CompanyId, Expr::value(s.id))
            .filter(order::Column::CompanyId.eq(*id))
            .exec(&txn)
            .await?;
        move_tags_and_tasks(&txn, p.tenant_id, "company", *id, s.id).await?;
        m.delete(&txn).await?;
        redirect(&txn, p.tenant_id, "company", *id, s.id, now).await?;
    }
    let mut a = s.clone().into_active_model().reset_all();
    a.updated_at = Set(now);
    let s = a.update(&txn).await?;
    let payload = json!({"survivorId": s.id, "mergedIds": ids, "record": crate::company::Company::to_json(&s)});
    events::record(&txn, p, now, "company", "merged", Some(s.id), payload).await?;
    txn.commit().await?;
    crm.outbox_nudge.notify_waiters();
    crm.hooks()
        .after_write(p.tenant_id, "company", &[s.id])
        .await;
    Ok(s)
}
