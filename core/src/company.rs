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
        if let Some(d) = &domain {
            if !d.contains('.') || d.contains(' ') {
                c.error(
                    "domain",
                    "INVALID_VALUE",
                    format!("{d:?} is not a domain name"),
                );
            }
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
