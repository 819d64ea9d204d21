//! Pipelines, stages and deals in GraphQL.

use super::{Score, list, scores_of, tags_of, user_of};
use crate::common::{crm, gid, loaders, principal, to_json, uuid};
use crate::connection::PageArgs;
use crate::error::GqlResult;
use crate::filter::{
    DateFilter, DateTimeFilter, FloatFilter, IdFilter, ScoreFilter, StringFilter, TagFilter,
};
use crate::{connection_types, entity_filter, order_input};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use crm_core::deal::Deal as DealKind;
use crm_core::entity::{deal, deal_stage_history, pipeline, stage};
use crm_core::pipeline::{Pipeline as PipelineKind, StageInput as CoreStageInput};
use crm_core::record;
use serde::Serialize;

pub struct Pipeline(pub pipeline::Model);

#[Object]
impl Pipeline {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The sales manager alerted about this pipeline.
    async fn manager(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.manager_id).await
    }
    /// Stages in order.
    async fn stages(&self, ctx: &Context<'_>) -> Result<Vec<Stage>> {
        Ok(loaders(ctx)?
            .pipeline_stages
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Stage)
            .collect())
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

pub struct Stage(pub stage::Model);

#[Object]
impl Stage {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// 0-based order within the pipeline.
    async fn position(&self) -> i32 {
        self.0.position
    }
    /// Win probability 0..1 used by the weighted forecast.
    async fn probability(&self) -> f64 {
        self.0.probability
    }
    async fn is_won(&self) -> bool {
        self.0.is_won
    }
    async fn is_lost(&self) -> bool {
        self.0.is_lost
    }
    async fn pipeline(&self, ctx: &Context<'_>) -> Result<Option<Pipeline>> {
        Ok(loaders(ctx)?
            .pipelines
            .load_one(self.0.pipeline_id)
            .await?
            .map(Pipeline))
    }
}

pub struct Deal(pub deal::Model);

#[Object]
impl Deal {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn amount(&self) -> f64 {
        self.0.amount
    }
    /// ISO 4217.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn expected_close_date(&self) -> Option<chrono::NaiveDate> {
        self.0.expected_close_date
    }
    async fn stage_entered_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.stage_entered_at
    }
    async fn closed_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.closed_at
    }
    /// Custom field values; sensitive ones read `********` without the
    /// `pii:read` scope, and reading them with it is audited.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        super::visible_custom_fields(ctx, "deal", self.0.id, &self.0.custom_fields).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
    async fn pipeline(&self, ctx: &Context<'_>) -> Result<Option<Pipeline>> {
        Ok(loaders(ctx)?
            .pipelines
            .load_one(self.0.pipeline_id)
            .await?
            .map(Pipeline))
    }
    async fn stage(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        Ok(loaders(ctx)?
            .stages
            .load_one(self.0.stage_id)
            .await?
            .map(Stage))
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.owner_id).await
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
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        tags_of(ctx, "deal", self.0.id).await
    }
    async fn scores(&self, ctx: &Context<'_>, plugin: Option<String>) -> Result<Vec<Score>> {
        scores_of(ctx, "deal", self.0.id, plugin).await
    }
    /// Every stage change, oldest first.
    async fn stage_history(&self, ctx: &Context<'_>) -> Result<Vec<StageChange>> {
        let p = principal(ctx)?;
        Ok(
            crm_core::deal::history_of(crm(ctx), p.tenant_id, &[self.0.id])
                .await
                .gql()?
                .into_iter()
                .map(StageChange)
                .collect(),
        )
    }
}

pub struct StageChange(pub deal_stage_history::Model);

#[Object]
impl StageChange {
    async fn from_stage(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        match self.0.from_stage_id {
            Some(id) => Ok(loaders(ctx)?.stages.load_one(id).await?.map(Stage)),
            None => Ok(None),
        }
    }
    async fn to_stage(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        Ok(loaders(ctx)?
            .stages
            .load_one(self.0.to_stage_id)
            .await?
            .map(Stage))
    }
    async fn changed_by(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.changed_by).await
    }
    async fn changed_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.changed_at
    }
}

connection_types!(DealConnection, DealEdge, Deal);
connection_types!(PipelineConnection, PipelineEdge, Pipeline);

entity_filter!(DealFilter {
    id: IdFilter => "id",
    name: StringFilter => "name",
    pipeline_id: IdFilter => "pipelineId",
    stage_id: IdFilter => "stageId",
    amount: FloatFilter => "amount",
    currency: StringFilter => "currency",
    owner_id: IdFilter => "ownerId",
    company_id: IdFilter => "companyId",
    contact_id: IdFilter => "contactId",
    expected_close_date: DateFilter => "expectedCloseDate",
    stage_entered_at: DateTimeFilter => "stageEnteredAt",
    closed_at: DateTimeFilter => "closedAt",
    created_at: DateTimeFilter => "createdAt",
    tags: TagFilter => "tags",
    score: ScoreFilter => "score",
});

order_input!(DealOrderBy, DealOrderField {
    Name => "name",
    Amount => "amount",
    ExpectedCloseDate => "expectedCloseDate",
    StageEnteredAt => "stageEnteredAt",
    CreatedAt => "createdAt",
});

entity_filter!(PipelineFilter { id: IdFilter => "id", name: StringFilter => "name" });

/// A stage when creating a pipeline or changing one.
#[derive(InputObject, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct StageInput {
    pub name: String,
    /// 0..1.
    #[graphql(default)]
    pub probability: f64,
    #[graphql(default)]
    pub is_won: bool,
    #[graphql(default)]
    pub is_lost: bool,
}

impl StageInput {
    fn to_core(&self) -> CoreStageInput {
        CoreStageInput {
            name: self.name.trim().to_string(),
            probability: self.probability,
            is_won: self.is_won,
            is_lost: self.is_lost,
        }
    }
}

#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PipelineInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub name: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub manager_id: MaybeUndefined<ID>,
    /// Ordered stages (create only; later use addStage / updateStage).
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub stages: MaybeUndefined<Vec<StageInput>>,
}

/// Fields of a deal: `name` and `pipelineId` or `stageId` are required on create.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DealInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub name: MaybeUndefined<String>,
    /// The deal starts in the pipeline's first stage unless `stageId` is given.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub pipeline_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub stage_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub amount: MaybeUndefined<f64>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub currency: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub owner_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub company_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub contact_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub expected_close_date: MaybeUndefined<chrono::NaiveDate>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub tags: MaybeUndefined<Vec<String>>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub custom_fields: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct SalesQuery;

#[Object]
impl SalesQuery {
    async fn pipeline(&self, ctx: &Context<'_>, id: ID) -> Result<Pipeline> {
        Ok(Pipeline(
            record::get::<PipelineKind>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn pipelines(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<PipelineFilter>,
    ) -> Result<PipelineConnection> {
        let page = list::<PipelineKind>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            filter.map(|f| f.to_filter()),
            vec![],
        )
        .await?;
        Ok(PipelineConnection::from_page(page, Pipeline))
    }

    async fn deal(&self, ctx: &Context<'_>, id: ID) -> Result<Deal> {
        Ok(Deal(
            record::get::<DealKind>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<DealFilter>,
        order_by: Option<Vec<DealOrderBy>>,
    ) -> Result<DealConnection> {
        let page = list::<DealKind>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            DealOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(DealConnection::from_page(page, Deal))
    }
}

#[derive(Default)]
pub struct SalesMutation;

#[Object]
impl SalesMutation {
    async fn create_pipeline(&self, ctx: &Context<'_>, input: PipelineInput) -> Result<Pipeline> {
        Ok(Pipeline(
            record::create::<PipelineKind>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }

    async fn update_pipeline(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: PipelineInput,
    ) -> Result<Pipeline> {
        Ok(Pipeline(
            record::update::<PipelineKind>(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                to_json(&input),
            )
            .await
            .gql()?,
        ))
    }

    /// Delete a pipeline that holds no deals.
    async fn delete_pipeline(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<PipelineKind>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }

    /// Add a stage at `position` (default: last).
    async fn add_stage(
        &self,
        ctx: &Context<'_>,
        pipeline_id: ID,
        input: StageInput,
        position: Option<i32>,
    ) -> Result<Stage> {
        let p = principal(ctx)?;
        Ok(Stage(
            crm_core::pipeline::add_stage(
                crm(ctx),
                p,
                uuid(&pipeline_id, "pipelineId")?,
                input.to_core(),
                position,
            )
            .await
            .gql()?,
        ))
    }

    async fn update_stage(&self, ctx: &Context<'_>, id: ID, input: StageInput) -> Result<Stage> {
        Ok(Stage(
            crm_core::pipeline::update_stage(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                input.to_core(),
            )
            .await
            .gql()?,
        ))
    }

    async fn create_deal(&self, ctx: &Context<'_>, input: DealInput) -> Result<Deal> {
        Ok(Deal(
            record::create::<DealKind>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }

    async fn update_deal(&self, ctx: &Context<'_>, id: ID, input: DealInput) -> Result<Deal> {
        Ok(Deal(
            record::update::<DealKind>(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                to_json(&input),
            )
            .await
            .gql()?,
        ))
    }

    async fn delete_deal(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<DealKind>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }

    /// Move a deal to a stage, recording the stage history and a `deal.stage_changed` event.
    async fn move_deal(&self, ctx: &Context<'_>, id: ID, stage_id: ID) -> Result<Deal> {
        Ok(Deal(
            crm_core::deal::move_deal(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                uuid(&stage_id, "stageId")?,
            )
            .await
            .gql()?,
        ))
    }
}
