//! Sales analytics queries (DOMAIN §5).

use crate::common::{crm, gid, principal, uuid};
use crate::error::GqlResult;
use crate::records::admin::User;
use crate::records::sales::Stage;
use async_graphql::{Context, ID, Object, Result, SimpleObject};

#[derive(SimpleObject)]
pub struct FunnelStage {
    pub stage: Stage,
    /// Deals that reached this stage (passing through it counts).
    pub reached: i64,
    /// Deals in this stage now.
    pub current: i64,
    /// reached(N) / reached(N-1) × 100; null for the first stage and lost stages.
    pub conversion_rate: Option<f64>,
}

#[derive(SimpleObject)]
pub struct ForecastLine {
    pub stage: Stage,
    pub deals: i64,
    pub amount: f64,
    /// amount × stage probability.
    pub weighted: f64,
}

#[derive(SimpleObject)]
pub struct Forecast {
    pub lines: Vec<ForecastLine>,
    pub total_amount: f64,
    pub weighted_total: f64,
}

pub struct OwnerWon {
    owner_id: Option<uuid::Uuid>,
    deals: i64,
    amount: f64,
}

#[Object]
impl OwnerWon {
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        crate::records::user_of(ctx, self.owner_id).await
    }
    async fn owner_id(&self) -> Option<ID> {
        self.owner_id.map(gid)
    }
    async fn deals(&self) -> i64 {
        self.deals
    }
    async fn amount(&self) -> f64 {
        self.amount
    }
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// The pipeline funnel with each stage's conversion rate; `since` limits the
    /// cohort to deals that entered the pipeline at or after it.
    async fn pipeline_funnel(
        &self,
        ctx: &Context<'_>,
        pipeline_id: ID,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<FunnelStage>> {
        let f = crm_core::analytics::funnel(
            crm(ctx),
            principal(ctx)?,
            uuid(&pipeline_id, "pipelineId")?,
            since,
        )
        .await
        .gql()?;
        Ok(f.into_iter()
            .map(|s| FunnelStage {
                stage: Stage(s.stage),
                reached: s.reached,
                current: s.current,
                conversion_rate: s.conversion_rate,
            })
            .collect())
    }

    /// Weighted pipeline value of open deals (amount × stage probability).
    async fn forecast(&self, ctx: &Context<'_>, pipeline_id: Option<ID>) -> Result<Forecast> {
        let pl = pipeline_id
            .as_ref()
            .map(|p| uuid(p, "pipelineId"))
            .transpose()?;
        let lines = crm_core::analytics::forecast(crm(ctx), principal(ctx)?, pl)
            .await
            .gql()?;
        let total_amount = lines.iter().map(|l| l.amount).sum();
        let weighted_total = lines.iter().map(|l| l.weighted).sum();
        Ok(Forecast {
            lines: lines
                .into_iter()
                .map(|l| ForecastLine {
                    stage: Stage(l.stage),
                    deals: l.deals,
                    amount: l.amount,
                    weighted: l.weighted,
                })
                .collect(),
            total_amount,
            weighted_total,
        })
    }

    /// Won deals and their value per owner, closed in [since, until).
    async fn won_value_by_owner(
        &self,
        ctx: &Context<'_>,
        since: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<OwnerWon>> {
        let rows = crm_core::analytics::won_by_owner(crm(ctx), principal(ctx)?, since, until)
            .await
            .gql()?;
        Ok(rows
            .into_iter()
            .map(|r| OwnerWon {
                owner_id: r.owner_id,
                deals: r.deals,
                amount: r.amount,
            })
            .collect())
    }
}
