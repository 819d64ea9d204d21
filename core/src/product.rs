//! Products a tenant sells.

use crate::auth::Principal;
use crate::entity::product::{self, ActiveModel, Column};
use crate::json::ts;
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Product;

#[async_trait::async_trait]
impl Kind for Product {
    const NAME: &'static str = "product";
    type Entity = product::Entity;

    fn id(m: &product::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &product::Model) -> Value {
        json!({
            "id": m.id, "sku": m.sku, "name": m.name, "price": m.price,
            "currency": m.currency, "active": m.active,
            "createdAt": ts(&m.created_at), "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        _existing: Option<&product::Model>,
    ) -> ActiveModel {
        ActiveModel {
            sku: Set(c.required_text("sku")),
            name: Set(c.required_text("name")),
            price: Set(c.non_negative("price").unwrap_or(0.0)),
            currency: Set(currency(crm, p, c).await),
            active: Set(c.bool("active", true)),
            ..Default::default()
        }
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "sku" => Sku: Text,
            "name" => Name: Text,
            "price" => Price: Float,
            "currency" => Currency: Text,
            "active" => Active: Bool,
            "createdAt" => CreatedAt: DateTime,
        })
    }
}

/// The candidate's `currency` (ISO 4217), defaulting to the tenant's.
pub async fn currency(crm: &Crm, p: &Principal, c: &mut Check<'_>) -> String {
    match c.text("currency") {
        Some(s) => {
            let s = s.to_uppercase();
            if s.len() != 3 || !s.chars().all(|ch| ch.is_ascii_uppercase()) {
                c.error(
                    "currency",
                    "INVALID_VALUE",
                    "an ISO 4217 code such as USD or CNY",
                );
            }
            s
        }
        None => crate::tenant::get_tenant(crm, p.tenant_id)
            .await
            .map(|t| t.currency)
            .unwrap_or_else(|_| "USD".into()),
    }
}
