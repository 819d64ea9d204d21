//! Pipelines with ordered, user-defined stages (DOMAIN §5).

use crate::auth::{Action, Principal};
use crate::entity::pipeline::{self, ActiveModel, Column};
use crate::entity::stage;
use crate::error::{CoreError, FieldError, Result};
use crate::json::ts;
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns, events};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub struct Pipeline;

/// A stage as given in input.
#[derive(Debug, Clone)]
pub struct StageInput {
    pub name: String,
    pub probability: f64,
    pub is_won: bool,
    pub is_lost: bool,
}

fn parse_stages(c: &mut Check<'_>) -> Option<Vec<StageInput>> {
    let raw = c.raw("stages")?.clone();
    let Some(items) = raw.as_array() else {
        c.error("stages", "INVALID_VALUE", "expected a list of stages");
        return None;
    };
    let mut out = vec![];
    for (i, s) in items.iter().enumerate() {
        let name = s
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("");
        if name.is_empty() {
            c.errors.push(FieldError::new(
                format!("input.stages.{i}.name"),
                "REQUIRED",
                "a stage needs a name",
            ));
        }
        let probability = s.get("probability").and_then(Value::as_f64).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&probability) {
            c.errors.push(FieldError::new(
                format!("input.stages.{i}.probability"),
                "INVALID_VALUE",
                "probability is between 0 and 1",
            ));
        }
        let is_won = s.get("isWon").and_then(Value::as_bool).unwrap_or(false);
        let is_lost = s.get("isLost").and_then(Value::as_bool).unwrap_or(false);
        if is_won && is_lost {
            c.errors.push(FieldError::new(
                format!("input.stages.{i}"),
                "INVALID_VALUE",
                "a stage cannot be both won and lost",
            ));
        }
        if out.iter().any(|o: &StageInput| o.name == name) {
            c.errors.push(FieldError::new(
                format!("input.stages.{i}.name"),
                "CONFLICT",
                format!("stage {name:?} appears twice"),
            ));
        }
        out.push(StageInput {
            name: name.to_string(),
            probability,
            is_won,
            is_lost,
        });
    }
    Some(out)
}

#[async_trait::async_trait]
impl Kind for Pipeline {
    const NAME: &'static str = "pipeline";
    type Entity = pipeline::Entity;

    fn id(m: &pipeline::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &pipeline::Model) -> Value {
        json!({"id": m.id, "name": m.name, "managerId": m.manager_id, "createdAt": ts(&m.created_at), "updatedAt": ts(&m.updated_at)})
    }

    async fn build(
        _crm: &Crm,
        _p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&pipeline::Model>,
    ) -> ActiveModel {
        let stages = parse_stages(c);
        if existing.is_none() && stages.as_ref().is_none_or(|s| s.is_empty()) {
            c.error("stages", "REQUIRED", "a pipeline needs at least one stage");
        }
        if existing.is_some() && stages.is_some() {
            c.error(
                "stages",
                "INVALID_VALUE",
                "change stages with addStage / updateStage",
            );
        }
        ActiveModel {
            name: Set(c.required_text("name")),
            manager_id: Set(c.reference("managerId", "user")),
            ..Default::default()
        }
    }

    async fn after_save(
        txn: &sea_orm::DatabaseTransaction,
        p: &Principal,
        now: crate::Timestamp,
        saved: &pipeline::Model,
        before: Option<&pipeline::Model>,
        cand: &Map<String, Value>,
    ) -> Result<()> {
        if before.is_some() {
            return Ok(());
        }
        let mut check = Check::new(cand);
        for (i, s) in parse_stages(&mut check)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            insert_stage(txn, p.tenant_id, saved.id, i as i32, &s, now).await?;
        }
        Ok(())
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, { "id" => Id: Id, "name" => Name: Text, "managerId" => ManagerId: Id, "createdAt" => CreatedAt: DateTime })
    }

    fn default_order() -> Vec<crate::query::OrderBy> {
        vec![crate::query::OrderBy {
            field: "name".into(),
            desc: false,
        }]
    }
}

async fn insert_stage<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    pipeline: Uuid,
    position: i32,
    s: &StageInput,
    now: crate::Timestamp,
) -> Result<stage::Model> {
    Ok(stage::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        pipeline_id: Set(pipeline),
        name: Set(s.name.clone()),
        position: Set(position),
        probability: Set(s.probability),
        is_won: Set(s.is_won),
        is_lost: Set(s.is_lost),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Stages of the given pipelines, ordered by position.
pub async fn stages_of(crm: &Crm, tenant: Uuid, pipelines: &[Uuid]) -> Result<Vec<stage::Model>> {
    Ok(stage::Entity::find()
        .filter(stage::Column::TenantId.eq(tenant))
        .filter(stage::Column::PipelineId.is_in(pipelines.iter().copied()))
        .order_by_asc(stage::Column::Position)
        .all(&crm.db)
        .await?)
}

pub async fn stages_by_ids(crm: &Crm, tenant: Uuid, ids: &[Uuid]) -> Result<Vec<stage::Model>> {
    Ok(stage::Entity::find()
        .filter(stage::Column::TenantId.eq(tenant))
        .filter(stage::Column::Id.is_in(ids.iter().copied()))
        .all(&crm.db)
        .await?)
}

pub async fn stage(crm: &Crm, tenant: Uuid, id: Uuid) -> Result<stage::Model> {
    stage::Entity::find()
        .filter(stage::Column::TenantId.eq(tenant))
        .filter(stage::Column::Id.eq(id))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("stage", id))
}

/// Add a stage at `position` (default: last), shifting later stages.
pub async fn add_stage(
    crm: &Crm,
    p: &Principal,
    pipeline_id: Uuid,
    s: StageInput,
    position: Option<i32>,
) -> Result<stage::Model> {
    p.require(Action::Update, "pipeline")?;
    crate::record::get::<Pipeline>(crm, p, pipeline_id).await?;
    validate_stage(&s)?;
    let existing = stages_of(crm, p.tenant_id, &[pipeline_id]).await?;
    if existing.iter().any(|e| e.name == s.name) {
        return Err(CoreError::invalid(
            "input.name",
            "CONFLICT",
            format!("stage {:?} already exists", s.name),
        ));
    }
    let pos = position
        .unwrap_or(existing.len() as i32)
        .clamp(0, existing.len() as i32);
    let now = crm.now();
    let txn = crm.write_txn().await?;
    for e in existing.iter().filter(|e| e.position >= pos) {
        let mut a: stage::ActiveModel = e.clone().into();
        a.position = Set(e.position + 1);
        a.update(&txn).await?;
    }
    let st = insert_stage(&txn, p.tenant_id, pipeline_id, pos, &s, now).await?;
    events::record(
        &txn,
        p,
        now,
        "stage",
        "created",
        Some(st.id),
        json!({"pipelineId": pipeline_id, "name": st.name, "position": pos}),
    )
    .await?;
    txn.commit().await?;
    Ok(st)
}

/// Rename a stage or change its probability / won / lost flags.
pub async fn update_stage(
    crm: &Crm,
    p: &Principal,
    id: Uuid,
    s: StageInput,
) -> Result<stage::Model> {
    p.require(Action::Update, "pipeline")?;
    validate_stage(&s)?;
    let st = stage(crm, p.tenant_id, id).await?;
    let txn = crm.write_txn().await?;
    let mut a: stage::ActiveModel = st.into();
    a.name = Set(s.name.clone());
    a.probability = Set(s.probability);
    a.is_won = Set(s.is_won);
    a.is_lost = Set(s.is_lost);
    a.updated_at = Set(crm.now());
    let st = a
        .update(&txn)
        .await
        .map_err(|e| CoreError::from_db(e, "stage"))?;
    events::record(
        &txn,
        p,
        crm.now(),
        "stage",
        "updated",
        Some(id),
        json!({"name": st.name, "probability": st.probability}),
    )
    .await?;
    txn.commit().await?;
    Ok(st)
}

fn validate_stage(s: &StageInput) -> Result<()> {
    let mut errs = vec![];
    if s.name.trim().is_empty() {
        errs.push(FieldError::new(
            "input.name",
            "REQUIRED",
            "a stage needs a name",
        ));
    }
    if !(0.0..=1.0).contains(&s.probability) {
        errs.push(FieldError::new(
            "input.probability",
            "INVALID_VALUE",
            "probability is between 0 and 1",
        ));
    }
    if s.is_won && s.is_lost {
        errs.push(FieldError::new(
            "input.isWon",
            "INVALID_VALUE",
            "a stage cannot be both won and lost",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Invalid(errs))
    }
}
