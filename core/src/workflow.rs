//! Declarative workflows per tenant: a trigger, conditions on the record and
//! steps, created and edited through GraphQL and run by the job queue
//! ([`crate::automation`]). Every run is recorded step by step.
//!
//! ```json
//! {"trigger": {"type": "timer", "entity": "ticket", "field": "firstResponseDueAt", "offsetMinutes": 0},
//!  "conditions": [{"field": "firstRespondedAt", "op": "isNull", "value": true}],
//!  "steps": [{"type": "createTask", "title": "SLA breach: {{subject}}", "assignee": "manager_of:assigneeId"},
//!            {"type": "notify", "kind": "ticket.sla_breached"}]}
//! ```
//!
//! Triggers: `event` (`events`: kinds, a trailing `.` matches a prefix),
//! `schedule` (`cron`, UTC), `timer` (`entity`, a date-time `field`,
//! `offsetMinutes`). Conditions name a field of the record, or of the event
//! that triggered the run under `event.` (`event.kind`, `event.payload.to`
//! of a `contact.grade_changed`). Condition ops: eq, neq, in, gt, gte, lt,
//! lte, contains, isNull. Steps: createTask, updateField, addTag, notify,
//! runAction, delay.

use crate::auth::{Action, Principal};
use crate::entity::{workflow, workflow_run};
use crate::error::{CoreError, FieldError, Result};
use crate::{Crm, events};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

const ENTITIES: &[&str] = &[
    "contact", "company", "deal", "activity", "task", "ticket", "order", "product",
];
const OPS: &[&str] = &[
    "eq", "neq", "in", "gt", "gte", "lt", "lte", "contains", "isNull",
];
const STEPS: &[&str] = &[
    "createTask",
    "updateField",
    "addTag",
    "notify",
    "runAction",
    "delay",
];

/// A workflow as written by a client.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    pub enabled: bool,
    pub trigger: Value,
    pub conditions: Value,
    pub steps: Value,
}

/// Check a definition; every problem with its path.
pub fn check(d: &Definition) -> std::result::Result<(), Vec<FieldError>> {
    let mut errs = vec![];
    let mut err =
        |p: &str, c: &str, m: String| errs.push(FieldError::new(format!("input.{p}"), c, m));
    if d.name.trim().is_empty() {
        err("name", "REQUIRED", "a workflow needs a name".into());
    }
    match d.trigger.get("type").and_then(Value::as_str) {
        Some("event") => {
            let ok = d
                .trigger
                .get("events")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
            if !ok {
                err(
                    "trigger.events",
                    "REQUIRED",
                    "an event trigger lists event kinds, e.g. [\"ticket.created\"]".into(),
                );
            }
        }
        Some("schedule") => match d.trigger.get("cron").and_then(Value::as_str) {
            Some(c) if crate::automation::parse_cron(c).is_ok() => {}
            Some(c) => err(
                "trigger.cron",
                "INVALID_VALUE",
                format!("{c:?} is not a 5-field cron expression"),
            ),
            None => err(
                "trigger.cron",
                "REQUIRED",
                "a schedule trigger needs `cron`".into(),
            ),
        },
        Some("timer") => {
            if !d
                .trigger
                .get("entity")
                .and_then(Value::as_str)
                .is_some_and(|e| ENTITIES.contains(&e))
            {
                err(
                    "trigger.entity",
                    "INVALID_VALUE",
                    format!("a timer trigger names an entity: {}", ENTITIES.join(", ")),
                );
            }
            if d.trigger.get("field").and_then(Value::as_str).is_none() {
                err(
                    "trigger.field",
                    "REQUIRED",
                    "a timer trigger names a date-time field, e.g. firstResponseDueAt".into(),
                );
            }
        }
        Some(other) => err(
            "trigger.type",
            "INVALID_VALUE",
            format!("unknown trigger {other:?}: use event, schedule or timer"),
        ),
        None => err(
            "trigger.type",
            "REQUIRED",
            "trigger.type is event, schedule or timer".into(),
        ),
    }
    match d.conditions.as_array() {
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("field").and_then(Value::as_str).is_none() {
                    err(
                        &format!("conditions.{i}.field"),
                        "REQUIRED",
                        "a condition names a field".into(),
                    );
                }
                if !c
                    .get("op")
                    .and_then(Value::as_str)
                    .is_some_and(|o| OPS.contains(&o))
                {
                    err(
                        &format!("conditions.{i}.op"),
                        "INVALID_VALUE",
                        format!("op is one of {}", OPS.join(", ")),
                    );
                }
            }
        }
        None if d.conditions.is_null() => {}
        None => err("conditions", "INVALID_VALUE", "conditions is a list".into()),
    }
    match d.steps.as_array() {
        Some(ss) if !ss.is_empty() => {
            for (i, s) in ss.iter().enumerate() {
                let t = s.get("type").and_then(Value::as_str).unwrap_or("");
                if !STEPS.contains(&t) {
                    err(
                        &format!("steps.{i}.type"),
                        "INVALID_VALUE",
                        format!("step type is one of {}", STEPS.join(", ")),
                    );
                    continue;
                }
                let need = |k: &str| s.get(k).is_none_or(Value::is_null).then(|| k.to_string());
                let missing = match t {
                    "createTask" => need("title"),
                    "updateField" => need("field")
                        .or_else(|| s.get("value").is_none().then(|| "value".to_string())),
                    "addTag" => need("tag"),
                    "notify" => need("kind"),
                    "runAction" => need("plugin").or_else(|| need("action")),
                    "delay" => need("minutes"),
                    _ => None,
                };
                if let Some(k) = missing {
                    err(
                        &format!("steps.{i}.{k}"),
                        "REQUIRED",
                        format!("{t} needs `{k}`"),
                    );
                }
            }
        }
        _ => err(
            "steps",
            "REQUIRED",
            "a workflow needs at least one step".into(),
        ),
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

pub async fn create(crm: &Crm, p: &Principal, d: Definition) -> Result<workflow::Model> {
    p.require(Action::Administer, "workflow")?;
    check(&d).map_err(CoreError::Invalid)?;
    let now = crm.now();
    let m = workflow::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        name: Set(d.name.trim().to_string()),
        enabled: Set(d.enabled),
        trigger: Set(d.trigger),
        conditions: Set(if d.conditions.is_null() {
            json!([])
        } else {
            d.conditions
        }),
        steps: Set(d.steps),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&crm.db)
    .await
    .map_err(|e| CoreError::from_db(e, "workflow"))?;
    events::record(
        &crm.db,
        p,
        now,
        "workflow",
        "created",
        Some(m.id),
        json!({"name": m.name}),
    )
    .await?;
    Ok(m)
}

pub async fn update(crm: &Crm, p: &Principal, id: Uuid, d: Definition) -> Result<workflow::Model> {
    p.require(Action::Administer, "workflow")?;
    check(&d).map_err(CoreError::Invalid)?;
    let w = get(crm, p.tenant_id, id).await?;
    let mut a = w.into_active_model();
    a.name = Set(d.name.trim().to_string());
    a.enabled = Set(d.enabled);
    a.trigger = Set(d.trigger);
    a.conditions = Set(if d.conditions.is_null() {
        json!([])
    } else {
        d.conditions
    });
    a.steps = Set(d.steps);
    a.updated_at = Set(crm.now());
    let m = a
        .update(&crm.db)
        .await
        .map_err(|e| CoreError::from_db(e, "workflow"))?;
    events::record(
        &crm.db,
        p,
        crm.now(),
        "workflow",
        "updated",
        Some(m.id),
        json!({"name": m.name}),
    )
    .await?;
    Ok(m)
}

pub async fn delete(crm: &Crm, p: &Principal, id: Uuid) -> Result<Uuid> {
    p.require(Action::Administer, "workflow")?;
    let w = get(crm, p.tenant_id, id).await?;
    workflow::Entity::delete_by_id(w.id).exec(&crm.db).await?;
    Ok(id)
}

pub async fn get(crm: &Crm, tenant: Uuid, id: Uuid) -> Result<workflow::Model> {
    workflow::Entity::find_by_id(id)
        .filter(workflow::Column::TenantId.eq(tenant))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("workflow", id))
}

pub async fn list(crm: &Crm, tenant: Uuid) -> Result<Vec<workflow::Model>> {
    Ok(workflow::Entity::find()
        .filter(workflow::Column::TenantId.eq(tenant))
        .order_by_asc(workflow::Column::Name)
        .all(&crm.db)
        .await?)
}

/// Runs, newest first, optionally of one record or one workflow.
pub async fn runs(
    crm: &Crm,
    p: &Principal,
    record: Option<Uuid>,
    workflow_id: Option<Uuid>,
    limit: u64,
) -> Result<Vec<workflow_run::Model>> {
    p.require(Action::Read, "workflow")?;
    let mut q = workflow_run::Entity::find().filter(workflow_run::Column::TenantId.eq(p.tenant_id));
    if let Some(r) = record {
        q = q.filter(workflow_run::Column::RecordId.eq(r));
    }
    if let Some(w) = workflow_id {
        q = q.filter(workflow_run::Column::WorkflowId.eq(w));
    }
    Ok(q.order_by_desc(workflow_run::Column::CreatedAt)
        .limit(limit.clamp(1, 500))
        .all(&crm.db)
        .await?)
}

/// The workflow every tenant starts with (DOMAIN §6): a ticket whose first
/// response is overdue escalates to the assignee's supervisor with a task and
/// a `ticket.sla_breached` event. Editable and disable-able like any other.
pub fn sla_escalation() -> Definition {
    Definition {
        name: "SLA: escalate unanswered tickets".into(),
        enabled: true,
        trigger: json!({"type": "timer", "entity": "ticket", "field": "firstResponseDueAt", "offsetMinutes": 0}),
        conditions: json!([
            {"field": "firstRespondedAt", "op": "isNull", "value": true},
            {"field": "status", "op": "in", "value": ["OPEN", "PENDING"]}
        ]),
        steps: json!([
            {"type": "createTask", "title": "SLA breach: {{priority}} ticket \"{{subject}}\" has no first response", "assignee": "manager_of:assigneeId", "dueInMinutes": 30},
            {"type": "notify", "kind": "ticket.sla_breached", "message": "First response overdue for {{priority}} ticket {{subject}}"}
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sla_workflow_is_valid() {
        assert!(check(&sla_escalation()).is_ok());
    }

    #[test]
    fn mistakes_are_reported_with_paths() {
        let d = Definition {
            name: "".into(),
            enabled: true,
            trigger: json!({"type": "timer", "entity": "spaceship"}),
            conditions: json!([{"field": "x", "op": "like"}]),
            steps: json!([{"type": "createTask"}, {"type": "teleport"}]),
        };
        let errs = check(&d).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "input.name",
            "input.trigger.entity",
            "input.trigger.field",
            "input.conditions.0.op",
            "input.steps.0.title",
            "input.steps.1.type",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }
}
