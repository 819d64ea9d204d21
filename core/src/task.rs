//! Tasks: work assigned to a user, due at a time, optionally linked to a record.

use crate::auth::Principal;
use crate::entity::task::{self, ActiveModel, Column};
use crate::json::{enum_name, opt_ts, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

pub const STATUSES: &[&str] = &["open", "in_progress", "done", "cancelled"];
pub const LINKABLE: &[&str] = &["contact", "company", "deal", "ticket", "order"];

pub struct Task;

#[async_trait::async_trait]
impl Kind for Task {
    const NAME: &'static str = "task";
    type Entity = task::Entity;

    fn id(m: &task::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &task::Model) -> Value {
        json!({
            "id": m.id,
            "title": m.title,
            "description": m.description,
            "assigneeId": m.assignee_id,
            "dueAt": opt_ts(&m.due_at),
            "status": enum_name(&m.status),
            "recordEntity": m.record_entity.as_deref().map(enum_name),
            "recordId": m.record_id,
            "completedAt": opt_ts(&m.completed_at),
            "createdAt": ts(&m.created_at),
            "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&task::Model>,
    ) -> ActiveModel {
        let status = c.enumeration("status", STATUSES, "open");
        let record_entity = c.text("recordEntity").map(|s| s.to_lowercase());
        let record_id = match &record_entity {
            Some(e) if LINKABLE.contains(&e.as_str()) => {
                let e: &'static str = LINKABLE
                    .iter()
                    .find(|l| **l == e.as_str())
                    .copied()
                    .unwrap_or("contact");
                c.reference("recordId", e)
            }
            Some(e) => {
                c.error(
                    "recordEntity",
                    "INVALID_VALUE",
                    format!("tasks link to {}, not {e}", LINKABLE.join(", ")),
                );
                None
            }
            None => {
                if c.raw("recordId").is_some() {
                    c.error(
                        "recordEntity",
                        "REQUIRED",
                        "recordEntity is required with recordId",
                    );
                }
                None
            }
        };
        let completed_at = match (status.as_str(), existing.and_then(|e| e.completed_at)) {
            ("done", Some(t)) => Some(t),
            ("done", None) => Some(crm.now()),
            _ => None,
        };
        ActiveModel {
            title: Set(c.required_text("title")),
            description: Set(c.text("description")),
            assignee_id: Set(c.reference("assigneeId", "user").or(if existing.is_none() {
                p.user_id
            } else {
                None
            })),
            due_at: Set(c.datetime("dueAt")),
            status: Set(status),
            record_entity: Set(record_entity),
            record_id: Set(record_id),
            completed_at: Set(completed_at),
            ..Default::default()
        }
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "title" => Title: Text,
            "assigneeId" => AssigneeId: Id,
            "dueAt" => DueAt: DateTime,
            "status" => Status: Enum,
            "recordEntity" => RecordEntity: Enum,
            "recordId" => RecordId: Id,
            "completedAt" => CompletedAt: DateTime,
            "createdAt" => CreatedAt: DateTime,
        })
    }
}
