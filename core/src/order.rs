//! Orders with lines (transactional customer data, DOMAIN §2).

use crate::auth::Principal;
use crate::entity::order::{self, ActiveModel, Column};
use crate::entity::order_line as line;
use crate::error::{FieldError, Result};
use crate::json::{enum_name, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub const STATUSES: &[&str] = &["draft", "confirmed", "paid", "fulfilled", "cancelled"];

/// A validated order line.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub product_id: Option<Uuid>,
    pub description: String,
    pub quantity: f64,
    pub unit_price: f64,
}

fn parse_lines(c: &mut Check<'_>) -> Option<Vec<LineInput>> {
    let raw = c.raw("lines")?.clone();
    let Some(items) = raw.as_array() else {
        c.error("lines", "INVALID_VALUE", "expected a list of lines");
        return None;
    };
    let mut out = vec![];
    for (i, l) in items.iter().enumerate() {
        let path = |f: &str| format!("input.lines.{i}.{f}");
        let product_id = match l.get("productId").and_then(Value::as_str) {
            Some(s) => match Uuid::parse_str(s) {
                Ok(u) => Some(u),
                Err(_) => {
                    c.errors.push(FieldError::new(
                        path("productId"),
                        "INVALID_ID",
                        "not an id",
                    ));
                    None
                }
            },
            None => None,
        };
        let description = l
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string();
        if description.is_empty() && product_id.is_none() {
            c.errors.push(FieldError::new(
                path("description"),
                "REQUIRED",
                "a line needs a product or a description",
            ));
        }
        let quantity = l.get("quantity").and_then(Value::as_f64).unwrap_or(1.0);
        if quantity <= 0.0 {
            c.errors.push(FieldError::new(
                path("quantity"),
                "INVALID_VALUE",
                "quantity must be positive",
            ));
        }
        let unit_price = l.get("unitPrice").and_then(Value::as_f64).unwrap_or(0.0);
        if unit_price < 0.0 {
            c.errors.push(FieldError::new(
                path("unitPrice"),
                "INVALID_VALUE",
                "must not be negative",
            ));
        }
        out.push(LineInput {
            product_id,
            description,
            quantity,
            unit_price,
        });
    }
    Some(out)
}

pub struct Order;

#[async_trait::async_trait]
impl Kind for Order {
    const NAME: &'static str = "order";
    type Entity = order::Entity;

    fn id(m: &order::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &order::Model) -> Value {
        json!({
            "id": m.id, "number": m.number, "companyId": m.company_id, "contactId": m.contact_id,
            "status": enum_name(&m.status), "currency": m.currency, "total": m.total,
            "orderedAt": ts(&m.ordered_at), "createdAt": ts(&m.created_at), "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&order::Model>,
    ) -> ActiveModel {
        let lines = parse_lines(c);
        if let Some(ls) = &lines {
            for (i, l) in ls.iter().enumerate() {
                if let Some(pid) = l.product_id
                    && !crate::record::exists(crm, p.tenant_id, "product", pid)
                        .await
                        .unwrap_or(false)
                {
                    c.errors.push(FieldError::new(
                        format!("input.lines.{i}.productId"),
                        "NOT_FOUND",
                        format!("no product with id {pid}"),
                    ));
                }
            }
        }
        let total = match &lines {
            Some(ls) => ls.iter().map(|l| l.quantity * l.unit_price).sum(),
            None => existing.map(|e| e.total).unwrap_or(0.0),
        };
        let number = c.text("number").unwrap_or_else(|| {
            format!(
                "SO-{}",
                &Uuid::now_v7().simple().to_string()[20..].to_uppercase()
            )
        });
        let company = c.reference("companyId", "company");
        let contact = c.reference("contactId", "contact");
        if company.is_none() && contact.is_none() {
            c.error(
                "companyId",
                "REQUIRED",
                "an order belongs to a company or a contact",
            );
        }
        ActiveModel {
            number: Set(number),
            company_id: Set(company),
            contact_id: Set(contact),
            status: Set(c.enumeration("status", STATUSES, "draft")),
            currency: Set(crate::product::currency(crm, p, c).await),
            total: Set(total),
            ordered_at: Set(c.datetime("orderedAt").unwrap_or_else(|| crm.now())),
            ..Default::default()
        }
    }

    async fn after_save(
        txn: &sea_orm::DatabaseTransaction,
        p: &Principal,
        now: crate::Timestamp,
        saved: &order::Model,
        _before: Option<&order::Model>,
        cand: &Map<String, Value>,
    ) -> Result<()> {
        let mut check = Check::new(cand);
        let Some(lines) = parse_lines(&mut check) else {
            return Ok(());
        };
        line::Entity::delete_many()
            .filter(line::Column::OrderId.eq(saved.id))
            .exec(txn)
            .await?;
        for l in lines {
            line::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(p.tenant_id),
                order_id: Set(saved.id),
                product_id: Set(l.product_id),
                description: Set(l.description),
                quantity: Set(l.quantity),
                unit_price: Set(l.unit_price),
                line_total: Set(l.quantity * l.unit_price),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
        }
        Ok(())
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "number" => Number: Text,
            "companyId" => CompanyId: Id,
            "contactId" => ContactId: Id,
            "status" => Status: Enum,
            "currency" => Currency: Text,
            "total" => Total: Float,
            "orderedAt" => OrderedAt: DateTime,
            "createdAt" => CreatedAt: DateTime,
        })
    }
}

/// Lines of the given orders.
pub async fn lines_of(crm: &Crm, tenant: Uuid, orders: &[Uuid]) -> Result<Vec<line::Model>> {
    Ok(line::Entity::find()
        .filter(line::Column::TenantId.eq(tenant))
        .filter(line::Column::OrderId.is_in(orders.iter().copied()))
        .order_by_asc(line::Column::CreatedAt)
        .all(&crm.db)
        .await?)
}
