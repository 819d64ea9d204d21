//! Contacts: people the business deals with (DOMAIN §2, §4).

use crate::auth::Principal;
use crate::entity::contact::{self, ActiveModel, Column};
use crate::json::{enum_name, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

/// Lifecycle stages of DOMAIN §4, in order.
pub const LIFECYCLE: &[&str] = &[
    "prospect", "acquired", "active", "at_risk", "churned", "won_back",
];

pub struct Contact;

#[async_trait::async_trait]
impl Kind for Contact {
    const NAME: &'static str = "contact";
    const TAGGABLE: bool = true;
    const MERGEABLE: bool = true;
    type Entity = contact::Entity;

    fn id(m: &contact::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &contact::Model) -> Value {
        json!({
            "id": m.id,
            "firstName": m.first_name,
            "lastName": m.last_name,
            "email": m.email,
            "phone": m.phone,
            "title": m.title,
            "companyId": m.company_id,
            "ownerId": m.owner_id,
            "lifecycleStage": enum_name(&m.lifecycle_stage),
            "birthDate": m.birth_date.map(|d| d.to_string()),
            "customFields": m.custom_fields,
            "createdAt": ts(&m.created_at),
            "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        _existing: Option<&contact::Model>,
    ) -> ActiveModel {
        let region = crate::tenant::get_tenant(crm, p.tenant_id)
            .await
            .map(|t| t.default_region)
            .unwrap_or_else(|_| "US".into());
        let first = c.text("firstName").unwrap_or_default();
        let last = c.text("lastName").unwrap_or_default();
        let email = c.email("email");
        let phone = c.phone("phone", &region);
        if first.is_empty() && last.is_empty() {
            c.error(
                "lastName",
                "REQUIRED",
                "a contact needs a first or last name",
            );
        }
        let birth = c.date("birthDate");
        if let Some(b) = birth
            && b > crm.now().date_naive()
        {
            c.error("birthDate", "INVALID_VALUE", "birth date is in the future");
        }
        ActiveModel {
            first_name: Set(first),
            last_name: Set(last),
            email: Set(email),
            phone: Set(phone),
            title: Set(c.text("title")),
            company_id: Set(c.reference("companyId", "company")),
            owner_id: Set(c.reference("ownerId", "user")),
            lifecycle_stage: Set(c.enumeration("lifecycleStage", LIFECYCLE, "prospect")),
            birth_date: Set(birth),
            custom_fields: Set(c.custom_fields(crm, p.tenant_id, "contact").await),
            ..Default::default()
        }
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "firstName" => FirstName: Text,
            "lastName" => LastName: Text,
            "email" => Email: Text,
            "phone" => Phone: Text,
            "title" => Title: Text,
            "companyId" => CompanyId: Id,
            "ownerId" => OwnerId: Id,
            "lifecycleStage" => LifecycleStage: Enum,
            "birthDate" => BirthDate: Date,
            "createdAt" => CreatedAt: DateTime,
            "updatedAt" => UpdatedAt: DateTime,
        })
    }
}

/// Engagement figures of a contact: activity counts and recency, open deals.
#[derive(Debug, Clone, Default)]
pub struct EngagementFigures {
    pub activity_count: i64,
    /// Activities in the last N days, per requested N.
    pub recent: std::collections::HashMap<i64, i64>,
    pub last_activity_at: Option<crate::Timestamp>,
    pub open_deals_value: f64,
    pub open_deals_count: i64,
}

/// Engagement of many contacts in a few aggregate queries.
pub async fn engagement(
    crm: &Crm,
    tenant: Uuid,
    ids: &[Uuid],
    windows: Vec<i64>,
) -> crate::error::Result<std::collections::HashMap<Uuid, EngagementFigures>> {
    engagement_on(&crm.db, crm.now(), tenant, ids, windows).await
}

/// [`engagement`] on connection `db` (a write transaction, say) as of `now`.
pub async fn engagement_on<C: sea_orm::ConnectionTrait>(
    db: &C,
    now: crate::Timestamp,
    tenant: Uuid,
    ids: &[Uuid],
    windows: Vec<i64>,
) -> crate::error::Result<std::collections::HashMap<Uuid, EngagementFigures>> {
    use crate::entity::{activity, deal, stage};
    use sea_orm::sea_query::{Expr, ExprTrait, Query, UnionType};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
    let mut out: std::collections::HashMap<Uuid, EngagementFigures> =
        std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut windows = windows;
    windows.sort();
    windows.dedup();
    // One statement (one round trip: on SQLite each costs a hop to the
    // driver's thread and back), two grouped parts:
    // - `a`: the contacts' activities: count, last, and a conditional count
    //   per recency window `w{i}` (`COUNT` skips the NULL of a CASE without
    //   ELSE);
    // - `d`: their open deals (stage neither won nor lost): count and sum.
    // Columns a part does not have are typed NULLs (PostgreSQL types a
    // UNION's columns by its first part).
    let mut activities = activity::Entity::find()
        .select_only()
        .column(activity::Column::ContactId)
        .column_as(Expr::val("a"), "part")
        .column_as(Expr::col(activity::Column::Id).count(), "n")
        .column_as(Expr::col(activity::Column::OccurredAt).max(), "last")
        .column_as(Expr::cust("CAST(NULL AS DOUBLE PRECISION)"), "amount")
        .filter(activity::Column::TenantId.eq(tenant))
        .filter(activity::Column::ContactId.is_in(ids.iter().copied()))
        .group_by(activity::Column::ContactId);
    for (i, days) in windows.iter().enumerate() {
        let since = now - chrono::Duration::days(*days);
        let recent = Expr::case(
            Expr::col((activity::Entity, activity::Column::OccurredAt)).gte(since),
            1,
        );
        activities = activities.column_as(Expr::expr(recent).count(), format!("w{i}"));
    }
    let closed = Query::select()
        .column(stage::Column::Id)
        .from(stage::Entity)
        .and_where(Expr::col((stage::Entity, stage::Column::TenantId)).eq(tenant))
        .and_where(
            Expr::col((stage::Entity, stage::Column::IsWon))
                .eq(true)
                .or(Expr::col((stage::Entity, stage::Column::IsLost)).eq(true)),
        )
        .to_owned();
    let mut deals = deal::Entity::find()
        .select_only()
        .column(deal::Column::ContactId)
        .column_as(Expr::val("d"), "part")
        .column_as(Expr::col(deal::Column::Id).count(), "n")
        .column_as(Expr::cust("NULL"), "last")
        .column_as(Expr::col(deal::Column::Amount).sum(), "amount")
        .filter(deal::Column::TenantId.eq(tenant))
        .filter(deal::Column::ContactId.is_in(ids.iter().copied()))
        .filter(Expr::col((deal::Entity, deal::Column::StageId)).not_in_subquery(closed))
        .group_by(deal::Column::ContactId);
    for i in 0..windows.len() {
        deals = deals.column_as(Expr::cust("NULL"), format!("w{i}"));
    }
    let stmt = activities
        .into_query()
        .union(UnionType::All, deals.into_query())
        .to_owned();
    let stmt = db.get_database_backend().build(&stmt);
    for row in db.query_all_raw(stmt).await? {
        let Some(id) = row.try_get::<Option<Uuid>>("", "contact_id")? else {
            continue;
        };
        let part: String = row.try_get("", "part")?;
        let n: i64 = row.try_get("", "n")?;
        let e = out.entry(id).or_default();
        if part == "d" {
            e.open_deals_count = n;
            e.open_deals_value = row.try_get::<Option<f64>>("", "amount")?.unwrap_or(0.0);
            continue;
        }
        e.activity_count = n;
        e.last_activity_at = row.try_get("", "last")?;
        for (i, days) in windows.iter().enumerate() {
            e.recent.insert(*days, row.try_get("", &format!("w{i}"))?);
        }
    }
    Ok(out)
}
