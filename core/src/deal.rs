//! Deals moving through a pipeline's stages, with a stage-history table (DOMAIN §5).

use crate::auth::Principal;
use crate::entity::deal::{self, ActiveModel, Column};
use crate::entity::deal_stage_history as history;
use crate::error::Result;
use crate::json::{opt_ts, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns, events};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub struct Deal;

#[async_trait::async_trait]
impl Kind for Deal {
    const NAME: &'static str = "deal";
    const TAGGABLE: bool = true;
    type Entity = deal::Entity;

    fn id(m: &deal::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &deal::Model) -> Value {
        json!({
            "id": m.id,
            "name": m.name,
            "pipelineId": m.pipeline_id,
            "stageId": m.stage_id,
            "amount": m.amount,
            "currency": m.currency,
            "ownerId": m.owner_id,
            "companyId": m.company_id,
            "contactId": m.contact_id,
            "expectedCloseDate": m.expected_close_date.map(|d| d.to_string()),
            "stageEnteredAt": ts(&m.stage_entered_at),
            "closedAt": opt_ts(&m.closed_at),
            "customFields": m.custom_fields,
            "createdAt": ts(&m.created_at),
            "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&deal::Model>,
    ) -> ActiveModel {
        let now = crm.now();
        let pipeline_id = c.uuid("pipelineId");
        let stage_id = c.uuid("stageId");
        // Resolve the stage: given, or the first stage of the given pipeline.
        let stage = match (stage_id, pipeline_id) {
            (Some(s), _) => crate::pipeline::stage(crm, p.tenant_id, s)
                .await
                .ok()
                .or_else(|| {
                    c.error("stageId", "NOT_FOUND", format!("no stage with id {s}"));
                    None
                }),
            (None, Some(pl)) => crate::pipeline::stages_of(crm, p.tenant_id, &[pl])
                .await
                .ok()
                .and_then(|v| v.into_iter().next())
                .or_else(|| {
                    c.error(
                        "pipelineId",
                        "NOT_FOUND",
                        format!("no pipeline with id {pl}"),
                    );
                    None
                }),
            (None, None) => {
                c.error("pipelineId", "REQUIRED", "give pipelineId or stageId");
                None
            }
        };
        if let (Some(st), Some(pl)) = (&stage, pipeline_id)
            && st.pipeline_id != pl
        {
            c.error(
                "stageId",
                "INVALID_VALUE",
                "the stage belongs to another pipeline",
            );
        }
        let stage_changed = match (existing, &stage) {
            (Some(e), Some(s)) => e.stage_id != s.id,
            _ => true,
        };
        let closed_at = match (&stage, existing) {
            (Some(s), Some(e)) if (s.is_won || s.is_lost) && !stage_changed => {
                e.closed_at.or(Some(now))
            }
            (Some(s), _) if s.is_won || s.is_lost => Some(now),
            _ => None,
        };
        let mut a = ActiveModel {
            name: Set(c.required_text("name")),
            amount: Set(c.non_negative("amount").unwrap_or(0.0)),
            currency: Set(crate::product::currency(crm, p, c).await),
            owner_id: Set(c.reference("ownerId", "user").or(if existing.is_none() {
                p.user_id
            } else {
                None
            })),
            company_id: Set(c.reference("companyId", "company")),
            contact_id: Set(c.reference("contactId", "contact")),
            expected_close_date: Set(c.date("expectedCloseDate")),
            stage_entered_at: Set(if stage_changed {
                now
            } else {
                existing.map(|e| e.stage_entered_at).unwrap_or(now)
            }),
            closed_at: Set(closed_at),
            custom_fields: Set(c.custom_fields(crm, p.tenant_id, "deal").await),
            ..Default::default()
        };
        if let Some(s) = stage {
            a.pipeline_id = Set(s.pipeline_id);
            a.stage_id = Set(s.id);
        }
        a
    }

    async fn after_save(
        txn: &sea_orm::DatabaseTransaction,
        p: &Principal,
        now: crate::Timestamp,
        saved: &deal::Model,
        before: Option<&deal::Model>,
        _cand: &Map<String, Value>,
    ) -> Result<()> {
        let from = before.map(|b| b.stage_id);
        if from == Some(saved.stage_id) {
            return Ok(());
        }
        history::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(p.tenant_id),
            deal_id: Set(saved.id),
            pipeline_id: Set(saved.pipeline_id),
            from_stage_id: Set(from),
            to_stage_id: Set(saved.stage_id),
            changed_by: Set(p.user_id),
            changed_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        if before.is_some() {
            let payload = json!({"dealId": saved.id, "fromStageId": from, "toStageId": saved.stage_id, "amount": saved.amount});
            events::emit(
                txn,
                p,
                now,
                "deal.stage_changed",
                "deal",
                Some(saved.id),
                payload,
            )
            .await?;
        }
        Ok(())
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "name" => Name: Text,
            "pipelineId" => PipelineId: Id,
            "stageId" => StageId: Id,
            "amount" => Amount: Float,
            "currency" => Currency: Text,
            "ownerId" => OwnerId: Id,
            "companyId" => CompanyId: Id,
            "contactId" => ContactId: Id,
            "expectedCloseDate" => ExpectedCloseDate: Date,
            "stageEnteredAt" => StageEnteredAt: DateTime,
            "closedAt" => ClosedAt: DateTime,
            "createdAt" => CreatedAt: DateTime,
        })
    }
}

/// Move a deal to another stage of its pipeline, recording the history. A
/// stage of another pipeline is refused (`input.stageId`).
pub async fn move_deal(crm: &Crm, p: &Principal, id: Uuid, stage_id: Uuid) -> Result<deal::Model> {
    crate::record::update::<Deal>(crm, p, id, json!({"stageId": stage_id})).await
}

/// The stage history of deals, oldest first.
pub async fn history_of(crm: &Crm, tenant: Uuid, deals: &[Uuid]) -> Result<Vec<history::Model>> {
    Ok(history::Entity::find()
        .filter(history::Column::TenantId.eq(tenant))
        .filter(history::Column::DealId.is_in(deals.iter().copied()))
        .order_by_asc(history::Column::ChangedAt)
        .all(&crm.db)
        .await?)
}
