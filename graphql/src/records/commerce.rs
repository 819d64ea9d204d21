//! Products and orders in GraphQL.

use super::list;
use crate::common::{OrderStatus, crm, gid, loaders, principal, to_json, uuid};
use crate::connection::PageArgs;
use crate::error::GqlResult;
use crate::filter::{BoolFilter, DateTimeFilter, FloatFilter, IdFilter, StringFilter};
use crate::{connection_types, entity_filter, enum_filter, order_input};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use crm_core::entity::{order, order_line, product};
use crm_core::order::Order as OrderK;
use crm_core::product::Product as ProductK;
use crm_core::record;
use serde::Serialize;

pub struct Product(pub product::Model);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn price(&self) -> f64 {
        self.0.price
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn active(&self) -> bool {
        self.0.active
    }
}

pub struct Order(pub order::Model);

#[Object]
impl Order {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn status(&self) -> OrderStatus {
        OrderStatus::from_db(&self.0.status)
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Sum of the lines.
    async fn total(&self) -> f64 {
        self.0.total
    }
    async fn ordered_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.ordered_at
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<super::company::Company>> {
        match self.0.company_id {
            Some(id) => Ok(loaders(ctx)?
                .companies
                .load_one(id)
                .await?
                .map(super::company::Company)),
            None => Ok(None),
        }
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<super::contact::Contact>> {
        match self.0.contact_id {
            Some(id) => Ok(loaders(ctx)?
                .contacts
                .load_one(id)
                .await?
                .map(super::contact::Contact)),
            None => Ok(None),
        }
    }
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<OrderLine>> {
        let p = principal(ctx)?;
        Ok(
            crm_core::order::lines_of(crm(ctx), p.tenant_id, &[self.0.id])
                .await
                .gql()?
                .into_iter()
                .map(OrderLine)
                .collect(),
        )
    }
}

pub struct OrderLine(pub order_line::Model);

#[Object]
impl OrderLine {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        match self.0.product_id {
            Some(id) => Ok(loaders(ctx)?.products.load_one(id).await?.map(Product)),
            None => Ok(None),
        }
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn quantity(&self) -> f64 {
        self.0.quantity
    }
    async fn unit_price(&self) -> f64 {
        self.0.unit_price
    }
    async fn line_total(&self) -> f64 {
        self.0.line_total
    }
}

connection_types!(ProductConnection, ProductEdge, Product);
connection_types!(OrderConnection, OrderEdge, Order);
enum_filter!(OrderStatusFilter, OrderStatus);

entity_filter!(ProductFilter { id: IdFilter => "id", sku: StringFilter => "sku", name: StringFilter => "name", price: FloatFilter => "price", active: BoolFilter => "active" });
order_input!(ProductOrderBy, ProductOrderField { Sku => "sku", Name => "name", Price => "price", CreatedAt => "createdAt" });
entity_filter!(OrderFilter {
    id: IdFilter => "id",
    number: StringFilter => "number",
    company_id: IdFilter => "companyId",
    contact_id: IdFilter => "contactId",
    status: OrderStatusFilter => "status",
    total: FloatFilter => "total",
    ordered_at: DateTimeFilter => "orderedAt",
});
order_input!(OrderOrderBy, OrderOrderField { Number => "number", Total => "total", OrderedAt => "orderedAt", CreatedAt => "createdAt" });

#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProductInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub sku: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub name: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub price: MaybeUndefined<f64>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub currency: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub active: MaybeUndefined<bool>,
}

#[derive(InputObject, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineInput {
    pub product_id: Option<ID>,
    pub description: Option<String>,
    #[graphql(default = 1.0)]
    pub quantity: f64,
    #[graphql(default)]
    pub unit_price: f64,
}

/// An order: `companyId` or `contactId` is required; `lines` replace the order's lines.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OrderInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub number: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub company_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub contact_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub status: MaybeUndefined<OrderStatus>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub currency: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub ordered_at: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub lines: MaybeUndefined<Vec<OrderLineInput>>,
}

#[derive(Default)]
pub struct CommerceQuery;

#[Object]
impl CommerceQuery {
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Product> {
        Ok(Product(
            record::get::<ProductK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ProductFilter>,
        order_by: Option<Vec<ProductOrderBy>>,
    ) -> Result<ProductConnection> {
        let page = list::<ProductK>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            ProductOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(ProductConnection::from_page(page, Product))
    }
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Order> {
        Ok(Order(
            record::get::<OrderK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<OrderFilter>,
        order_by: Option<Vec<OrderOrderBy>>,
    ) -> Result<OrderConnection> {
        let page = list::<OrderK>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            OrderOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(OrderConnection::from_page(page, Order))
    }
}

#[derive(Default)]
pub struct CommerceMutation;

#[Object]
impl CommerceMutation {
    async fn create_product(&self, ctx: &Context<'_>, input: ProductInput) -> Result<Product> {
        Ok(Product(
            record::create::<ProductK>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ProductInput,
    ) -> Result<Product> {
        Ok(Product(
            record::update::<ProductK>(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                to_json(&input),
            )
            .await
            .gql()?,
        ))
    }
    async fn delete_product(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<ProductK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }
    async fn create_order(&self, ctx: &Context<'_>, input: OrderInput) -> Result<Order> {
        Ok(Order(
            record::create::<OrderK>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn update_order(&self, ctx: &Context<'_>, id: ID, input: OrderInput) -> Result<Order> {
        Ok(Order(
            record::update::<OrderK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn delete_order(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<OrderK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }
}
