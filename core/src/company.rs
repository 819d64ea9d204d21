//! Companies (accounts): one record per customer organisation, branches as attributes (DOMAIN §2).

use crate::auth::Principal;
use crate::entity::company::{self, ActiveModel, Column};
use crate::json::{enum_name, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Company;

#[async_trait::async_trait]
impl Kind for Company {
    const NAME: &'static str = "company";
    const TAGGABLE: bool = true;
    const MERGEABLE: bool = true;
    type Entity = company::Entity;

    fn id(m: &company::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &company::Model) -> Value {
        json!({
            "id": m.id,
            "name": m.name,
            "domain": m.domain,
            "industry": m.industry,
            "employeeCount": m.employee_count,
            "annualRevenue": m.annual_revenue,
            "phone": m.phone,
            "country": m.country,
            "city": m.city,
            "lifecycleStage": enum_name(&m.lifecycle_stage),
            "ownerId": m.owner_id,
            "customFields": m.custom_fields,
            "createdAt": ts(&m.created_at),
            "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        _existing: Option<&company::Model>,
    ) -> ActiveModel {
        let region = crate::tenant::get_tenant(crm, p.tenant_id)
            .await
            .map(|t| t.default_region)
            .unwrap_or_else(|_| "US".into());
        let domain = c.text("domain").map(|d| {
            d.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_start_matches("www.")
                .trim_end_matches('/')
                .to_lowercase()
        });
        if let Some(d) = &domain
            && (!d.contains('.') || d.contains(' '))
        {
            c.error(
                "domain",
                "INVALID_VALUE",
                format!("{d:?} is not a domain name"),
            );
        }
        let employees = c.i64("employeeCount");
        if employees.is_some_and(|e| e < 0) {
            c.error("employeeCount", "INVALID_VALUE", "must not be negative");
        }
        ActiveModel {
            name: Set(c.required_text("name")),
            domain: Set(domain),
            industry: Set(c.text("industry")),
            employee_count: Set(employees),
            annual_revenue: Set(c.non_negative("annualRevenue")),
            phone: Set(c.phone("phone", &region)),
            country: Set(c.text("country").map(|s| s.to_uppercase())),
            city: Set(c.text("city")),
            lifecycle_stage: Set(c.enumeration(
                "lifecycleStage",
                crate::contact::LIFECYCLE,
                "prospect",
            )),
            owner_id: Set(c.reference("ownerId", "user")),
            custom_fields: Set(c.custom_fields(crm, p.tenant_id, "company").await),
            ..Default::default()
        }
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "name" => Name: Text,
            "domain" => Domain: Text,
            "industry" => Industry: Text,
            "employeeCount" => EmployeeCount: Int,
            "annualRevenue" => AnnualRevenue: Float,
            "country" => Country: Text,
            "city" => City: Text,
            "lifecycleStage" => LifecycleStage: Enum,
            "ownerId" => OwnerId: Id,
            "createdAt" => CreatedAt: DateTime,
            "updatedAt" => UpdatedAt: DateTime,
        })
    }
}

/// What customer-health rules look at for a company (DOMAIN §6).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthFacts {
    /// Latest activity with the company or any of its contacts.
    pub last_activity_at: Option<crate::Timestamp>,
    pub open_tickets: i64,
    /// Tickets of the last N days whose first response was late (or is overdue).
    pub sla_breaches: i64,
    pub orders: i64,
    pub orders_value: f64,
}

/// Health facts of one company over the last `days` days.
pub async fn health_facts(
    crm: &Crm,
    tenant: Uuid,
    id: Uuid,
    days: i64,
) -> crate::error::Result<HealthFacts> {
    use crate::entity::{activity, contact, order, ticket};
    use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let now = crm.now();
    let since = now - chrono::Duration::days(days);
    let contacts: Vec<Uuid> = contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .filter(contact::Column::TenantId.eq(tenant))
        .filter(contact::Column::CompanyId.eq(id))
        .into_tuple()
        .all(&crm.db)
        .await?;
    let last = activity::Entity::find()
        .filter(activity::Column::TenantId.eq(tenant))
        .filter(
            Condition::any()
                .add(activity::Column::CompanyId.eq(id))
                .add(activity::Column::ContactId.is_in(contacts.clone())),
        )
        .order_by_desc(activity::Column::OccurredAt)
        .one(&crm.db)
        .await?
        .map(|a| a.occurred_at);
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::TenantId.eq(tenant))
        .filter(
            Condition::any()
                .add(ticket::Column::CompanyId.eq(id))
                .add(ticket::Column::ContactId.is_in(contacts)),
        )
        .all(&crm.db)
        .await?;
    let open_tickets = tickets
        .iter()
        .filter(|t| t.status == "open" || t.status == "pending")
        .count() as i64;
    let sla_breaches = tickets
        .iter()
        .filter(|t| t.created_at >= since)
        .filter(|t| match (t.first_response_due_at, t.first_responded_at) {
            (Some(due), Some(at)) => at > due,
            (Some(due), None) => now > due,
            _ => false,
        })
        .count() as i64;
    let orders = order::Entity::find()
        .filter(order::Column::TenantId.eq(tenant))
        .filter(order::Column::CompanyId.eq(id))
        .filter(order::Column::OrderedAt.gte(since))
        .filter(order::Column::Status.ne("cancelled"))
        .all(&crm.db)
        .await?;
    Ok(HealthFacts {
        last_activity_at: last,
        open_tickets,
        sla_breaches,
        orders: orders.len() as i64,
        orders_value: orders.iter().map(|o| o.total).sum(),
    })
}
