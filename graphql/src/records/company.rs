//! Companies in GraphQL.

use super::{Score, list, list_in, scores_of, tags_of, user_of};
use crate::common::{LifecycleStage, crm, gid, principal, to_json, uuid};
use crate::connection::PageArgs;
use crate::error::GqlResult;
use crate::filter::{
    DateTimeFilter, FloatFilter, IdFilter, IntFilter, ScoreFilter, StringFilter, TagFilter,
};
use crate::records::contact::{ContactConnection, LifecycleStageFilter};
use crate::{connection_types, entity_filter, order_input};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use crm_core::company::Company as K;
use crm_core::entity::company::Model;
use crm_core::record;
use sea_orm::ColumnTrait;
use serde::Serialize;

pub struct Company(pub Model);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn domain(&self) -> Option<&str> {
        self.0.domain.as_deref()
    }
    async fn industry(&self) -> Option<&str> {
        self.0.industry.as_deref()
    }
    async fn employee_count(&self) -> Option<i64> {
        self.0.employee_count
    }
    async fn annual_revenue(&self) -> Option<f64> {
        self.0.annual_revenue
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// ISO 3166 alpha-2.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    async fn lifecycle_stage(&self) -> LifecycleStage {
        LifecycleStage::from_db(&self.0.lifecycle_stage)
    }
    /// Custom field values; sensitive ones read `********` without the
    /// `pii:read` scope, and reading them with it is audited.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        super::visible_custom_fields(ctx, "company", self.0.id, &self.0.custom_fields).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.owner_id).await
    }
    /// Whole days since the latest activity with the company or its contacts.
    async fn last_activity_days_ago(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        let f = health(ctx, self.0.id, 90).await?;
        Ok(f.last_activity_at
            .map(|t| (crm(ctx).now() - t).num_days().max(0)))
    }
    /// Tickets still open or pending.
    async fn open_tickets_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(health(ctx, self.0.id, 90).await?.open_tickets)
    }
    /// Tickets of the last `days` days whose first response was late or is overdue.
    async fn sla_breaches_count(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 90)] days: i64,
    ) -> Result<i64> {
        Ok(health(ctx, self.0.id, days).await?.sla_breaches)
    }
    /// Orders (not cancelled) of the last `days` days.
    async fn orders_count(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 90)] days: i64,
    ) -> Result<i64> {
        Ok(health(ctx, self.0.id, days).await?.orders)
    }
    async fn orders_value(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 90)] days: i64,
    ) -> Result<f64> {
        Ok(health(ctx, self.0.id, days).await?.orders_value)
    }
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        tags_of(ctx, "company", self.0.id).await
    }
    async fn scores(&self, ctx: &Context<'_>, plugin: Option<String>) -> Result<Vec<Score>> {
        scores_of(ctx, "company", self.0.id, plugin).await
    }
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ContactConnection> {
        let extra = sea_orm::Condition::all()
            .add(crm_core::entity::contact::Column::CompanyId.eq(self.0.id));
        let page = list_in::<crm_core::contact::Contact>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            None,
            vec![],
            extra,
        )
        .await?;
        Ok(ContactConnection::from_page(page, super::contact::Contact))
    }
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::sales::DealConnection> {
        let extra =
            sea_orm::Condition::all().add(crm_core::entity::deal::Column::CompanyId.eq(self.0.id));
        let page = list_in::<crm_core::deal::Deal>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            None,
            vec![],
            extra,
        )
        .await?;
        Ok(super::sales::DealConnection::from_page(
            page,
            super::sales::Deal,
        ))
    }
    /// Activities with the company, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::work::ActivityConnection> {
        let extra = sea_orm::Condition::all()
            .add(crm_core::entity::activity::Column::CompanyId.eq(self.0.id));
        let page = list_in::<crm_core::activity::Activity>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            None,
            vec![],
            extra,
        )
        .await?;
        Ok(super::work::ActivityConnection::from_page(
            page,
            super::work::Activity,
        ))
    }
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::commerce::OrderConnection> {
        let extra =
            sea_orm::Condition::all().add(crm_core::entity::order::Column::CompanyId.eq(self.0.id));
        let page = list_in::<crm_core::order::Order>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            None,
            vec![],
            extra,
        )
        .await?;
        Ok(super::commerce::OrderConnection::from_page(
            page,
            super::commerce::Order,
        ))
    }
}

connection_types!(CompanyConnection, CompanyEdge, Company);

entity_filter!(CompanyFilter {
    id: IdFilter => "id",
    name: StringFilter => "name",
    domain: StringFilter => "domain",
    industry: StringFilter => "industry",
    employee_count: IntFilter => "employeeCount",
    annual_revenue: FloatFilter => "annualRevenue",
    country: StringFilter => "country",
    city: StringFilter => "city",
    lifecycle_stage: LifecycleStageFilter => "lifecycleStage",
    owner_id: IdFilter => "ownerId",
    created_at: DateTimeFilter => "createdAt",
    tags: TagFilter => "tags",
    score: ScoreFilter => "score",
});

order_input!(CompanyOrderBy, CompanyOrderField {
    Name => "name",
    EmployeeCount => "employeeCount",
    AnnualRevenue => "annualRevenue",
    CreatedAt => "createdAt",
});

/// Fields of a company (`name` required on create).
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CompanyInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub name: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub domain: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub industry: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub employee_count: MaybeUndefined<i64>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub annual_revenue: MaybeUndefined<f64>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub phone: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub country: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub city: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub lifecycle_stage: MaybeUndefined<LifecycleStage>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub owner_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub tags: MaybeUndefined<Vec<String>>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub custom_fields: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct CompanyQuery;

#[Object]
impl CompanyQuery {
    async fn company(&self, ctx: &Context<'_>, id: ID) -> Result<Company> {
        Ok(Company(
            record::get::<K>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CompanyFilter>,
        order_by: Option<Vec<CompanyOrderBy>>,
    ) -> Result<CompanyConnection> {
        let page = list::<K>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            CompanyOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(CompanyConnection::from_page(page, Company))
    }
}

#[derive(Default)]
pub struct CompanyMutation;

#[Object]
impl CompanyMutation {
    async fn create_company(&self, ctx: &Context<'_>, input: CompanyInput) -> Result<Company> {
        Ok(Company(
            record::create::<K>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }

    async fn update_company(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CompanyInput,
    ) -> Result<Company> {
        Ok(Company(
            record::update::<K>(crm(ctx), principal(ctx)?, uuid(&id, "id")?, to_json(&input))
                .await
                .gql()?,
        ))
    }

    async fn delete_company(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<K>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }

    /// Merge companies into `survivorId` (contacts, deals, activities, tickets,
    /// orders, tasks, tags and custom values move to it).
    async fn merge_companies(
        &self,
        ctx: &Context<'_>,
        survivor_id: ID,
        merged_ids: Vec<ID>,
    ) -> Result<Company> {
        let merged = merged_ids
            .iter()
            .map(|i| uuid(i, "mergedIds"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Company(
            crm_core::merge::merge_companies(
                crm(ctx),
                principal(ctx)?,
                uuid(&survivor_id, "survivorId")?,
                &merged,
            )
            .await
            .gql()?,
        ))
    }
}

async fn health(
    ctx: &Context<'_>,
    id: uuid::Uuid,
    days: i64,
) -> Result<crm_core::company::HealthFacts> {
    let p = principal(ctx)?;
    crm_core::company::health_facts(crm(ctx), p.tenant_id, id, days)
        .await
        .gql()
}
