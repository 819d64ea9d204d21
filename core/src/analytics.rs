//! Sales analytics (DOMAIN §5): funnel with stage conversion, weighted forecast,
//! won value per owner.

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::{deal, deal_stage_history as history, stage};
use crate::error::Result;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use uuid::Uuid;

/// One stage of a funnel.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStage {
    pub stage: stage::Model,
    /// Deals that reached this stage (or a later, non-lost one).
    pub reached: i64,
    /// Deals currently in this stage.
    pub current: i64,
    /// reached(N) / reached(N-1) × 100; `None` for the first stage or when N-1 was never reached.
    pub conversion_rate: Option<f64>,
}

/// Stage conversion rate = deals that reached stage N / deals that reached stage N-1 × 100%.
///
/// `since` restricts the cohort to deals that entered the pipeline at or after it.
pub async fn funnel(
    crm: &Crm,
    p: &Principal,
    pipeline: Uuid,
    since: Option<crate::Timestamp>,
) -> Result<Vec<FunnelStage>> {
    p.require(Action::Read, "deal")?;
    crate::record::get::<crate::pipeline::Pipeline>(crm, p, pipeline).await?;
    let stages = crate::pipeline::stages_of(crm, p.tenant_id, &[pipeline]).await?;
    let mut q = history::Entity::find()
        .filter(history::Column::TenantId.eq(p.tenant_id))
        .filter(history::Column::PipelineId.eq(pipeline));
    if let Some(s) = since {
        // The cohort: deals whose first entry into the pipeline is in the window.
        let first: Vec<Uuid> = history::Entity::find()
            .filter(history::Column::TenantId.eq(p.tenant_id))
            .filter(history::Column::PipelineId.eq(pipeline))
            .filter(history::Column::FromStageId.is_null())
            .filter(history::Column::ChangedAt.gte(s))
            .all(&crm.db)
            .await?
            .into_iter()
            .map(|h| h.deal_id)
            .collect();
        q = q.filter(history::Column::DealId.is_in(first));
    }
    let rows = q.all(&crm.db).await?;
    Ok(compute_funnel(
        &stages,
        &rows,
        &current_counts(crm, p.tenant_id, pipeline).await?,
    ))
}

async fn current_counts(crm: &Crm, tenant: Uuid, pipeline: Uuid) -> Result<HashMap<Uuid, i64>> {
    let deals = deal::Entity::find()
        .filter(deal::Column::TenantId.eq(tenant))
        .filter(deal::Column::PipelineId.eq(pipeline))
        .all(&crm.db)
        .await?;
    let mut m = HashMap::new();
    for d in deals {
        *m.entry(d.stage_id).or_insert(0) += 1;
    }
    Ok(m)
}

/// The pure funnel computation over stage-history rows.
pub fn compute_funnel(
    stages: &[stage::Model],
    rows: &[history::Model],
    current: &HashMap<Uuid, i64>,
) -> Vec<FunnelStage> {
    let pos: HashMap<Uuid, i32> = stages
        .iter()
        .filter(|s| !s.is_lost)
        .map(|s| (s.id, s.position))
        .collect();
    let mut furthest: HashMap<Uuid, i32> = HashMap::new();
    for r in rows {
        if let Some(p) = pos.get(&r.to_stage_id) {
            let e = furthest.entry(r.deal_id).or_insert(*p);
            *e = (*e).max(*p);
        }
    }
    let mut out: Vec<FunnelStage> = vec![];
    let mut prev: Option<i64> = None;
    for s in stages {
        let reached = if s.is_lost {
            rows.iter()
                .filter(|r| r.to_stage_id == s.id)
                .map(|r| r.deal_id)
                .collect::<std::collections::HashSet<_>>()
                .len() as i64
        } else {
            furthest.values().filter(|f| **f >= s.position).count() as i64
        };
        let conversion_rate = if s.is_lost {
            None
        } else {
            let rate = prev
                .filter(|p| *p > 0)
                .map(|p| reached as f64 / p as f64 * 100.0);
            prev = Some(reached);
            rate
        };
        out.push(FunnelStage {
            stage: s.clone(),
            reached,
            current: current.get(&s.id).copied().unwrap_or(0),
            conversion_rate,
        });
    }
    out
}

/// Weighted pipeline value of open deals, per stage.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastLine {
    pub stage: stage::Model,
    pub deals: i64,
    pub amount: f64,
    /// amount × stage probability.
    pub weighted: f64,
}

pub async fn forecast(
    crm: &Crm,
    p: &Principal,
    pipeline: Option<Uuid>,
) -> Result<Vec<ForecastLine>> {
    p.require(Action::Read, "deal")?;
    let mut q = deal::Entity::find().filter(deal::Column::TenantId.eq(p.tenant_id));
    if let Some(pl) = pipeline {
        q = q.filter(deal::Column::PipelineId.eq(pl));
    }
    let deals = q.all(&crm.db).await?;
    let stage_ids: Vec<Uuid> = deals.iter().map(|d| d.stage_id).collect();
    let mut stages = crate::pipeline::stages_by_ids(crm, p.tenant_id, &stage_ids).await?;
    stages.sort_by_key(|s| (s.pipeline_id, s.position));
    Ok(stages
        .into_iter()
        .filter(|s| !s.is_won && !s.is_lost)
        .map(|s| {
            let in_stage: Vec<&deal::Model> = deals.iter().filter(|d| d.stage_id == s.id).collect();
            let amount: f64 = in_stage.iter().map(|d| d.amount).sum();
            ForecastLine {
                deals: in_stage.len() as i64,
                amount,
                weighted: amount * s.probability,
                stage: s,
            }
        })
        .collect())
}

/// Won deals per owner (the rep appraisal sheet).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerWon {
    pub owner_id: Option<Uuid>,
    pub deals: i64,
    pub amount: f64,
}

pub async fn won_by_owner(
    crm: &Crm,
    p: &Principal,
    since: Option<crate::Timestamp>,
    until: Option<crate::Timestamp>,
) -> Result<Vec<OwnerWon>> {
    p.require(Action::Read, "deal")?;
    let won: Vec<Uuid> = stage::Entity::find()
        .filter(stage::Column::TenantId.eq(p.tenant_id))
        .filter(stage::Column::IsWon.eq(true))
        .all(&crm.db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut q = deal::Entity::find()
        .filter(deal::Column::TenantId.eq(p.tenant_id))
        .filter(deal::Column::StageId.is_in(won));
    if let Some(s) = since {
        q = q.filter(deal::Column::ClosedAt.gte(s));
    }
    if let Some(u) = until {
        q = q.filter(deal::Column::ClosedAt.lt(u));
    }
    let deals = q.order_by_asc(deal::Column::OwnerId).all(&crm.db).await?;
    let mut by: HashMap<Option<Uuid>, OwnerWon> = HashMap::new();
    for d in deals {
        let e = by.entry(d.owner_id).or_insert(OwnerWon {
            owner_id: d.owner_id,
            deals: 0,
            amount: 0.0,
        });
        e.deals += 1;
        e.amount += d.amount;
    }
    let mut out: Vec<OwnerWon> = by.into_values().collect();
    out.sort_by(|a, b| b.amount.total_cmp(&a.amount));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pos: i32, won: bool, lost: bool) -> stage::Model {
        let now = chrono::Utc::now();
        stage::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            pipeline_id: Uuid::nil(),
            name: format!("s{pos}"),
            position: pos,
            probability: 0.1,
            is_won: won,
            is_lost: lost,
            created_at: now,
            updated_at: now,
        }
    }

    fn h(deal: Uuid, to: Uuid) -> history::Model {
        let now = chrono::Utc::now();
        history::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            deal_id: deal,
            pipeline_id: Uuid::nil(),
            from_stage_id: None,
            to_stage_id: to,
            changed_by: None,
            changed_at: now,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn conversion_is_reached_n_over_reached_n_minus_1() {
        let s = [
            st(0, false, false),
            st(1, false, false),
            st(2, true, false),
            st(3, false, true),
        ];
        // 10 deals enter; 6 reach stage 1; 3 are won (one skipped stage 1); 2 lost.
        let deals: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
        let mut rows: Vec<history::Model> = deals.iter().map(|d| h(*d, s[0].id)).collect();
        rows.extend(deals[..5].iter().map(|d| h(*d, s[1].id)));
        rows.extend(deals[3..6].iter().map(|d| h(*d, s[2].id)));
        rows.extend(deals[8..10].iter().map(|d| h(*d, s[3].id)));
        let f = compute_funnel(&s, &rows, &HashMap::new());
        assert_eq!(f[0].reached, 10);
        assert_eq!(f[0].conversion_rate, None);
        assert_eq!(
            f[1].reached, 6,
            "a deal that skipped a stage still passed it"
        );
        assert_eq!(f[1].conversion_rate, Some(60.0));
        assert_eq!(f[2].reached, 3);
        assert_eq!(f[2].conversion_rate, Some(50.0));
        assert_eq!(f[3].reached, 2);
        assert_eq!(f[3].conversion_rate, None);
    }
}
