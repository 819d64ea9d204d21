//! Service tickets with priority-based SLAs (DOMAIN §6).
//!
//! Due times come from the tenant's SLA policy (`settings.sla`), defaulting to
//! the material's example: P1 first response in 30 minutes, P2 in 2 hours.

use crate::auth::Principal;
use crate::entity::ticket::{self, ActiveModel, Column};
use crate::json::{enum_name, opt_ts, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

pub const PRIORITIES: &[&str] = &["p1", "p2", "p3", "p4"];
pub const STATUSES: &[&str] = &["open", "pending", "resolved", "closed"];

/// (first response, resolution) in minutes per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlaTarget {
    pub response_minutes: i64,
    pub resolution_minutes: i64,
}

/// The default policy; each value is overridable per tenant in `settings.sla.p1` etc.
pub fn default_sla(priority: &str) -> SlaTarget {
    let (r, s) = match priority {
        "p1" => (30, 4 * 60),
        "p2" => (2 * 60, 24 * 60),
        "p3" => (8 * 60, 3 * 24 * 60),
        _ => (24 * 60, 7 * 24 * 60),
    };
    SlaTarget {
        response_minutes: r,
        resolution_minutes: s,
    }
}

/// The tenant's SLA target for `priority`.
pub fn sla_for(settings: &Value, priority: &str) -> SlaTarget {
    settings
        .get("sla")
        .and_then(|s| s.get(priority))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_else(|| default_sla(priority))
}

pub struct Ticket;

#[async_trait::async_trait]
impl Kind for Ticket {
    const NAME: &'static str = "ticket";
    type Entity = ticket::Entity;

    fn id(m: &ticket::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &ticket::Model) -> Value {
        json!({
            "id": m.id,
            "subject": m.subject,
            "description": m.description,
            "priority": enum_name(&m.priority),
            "status": enum_name(&m.status),
            "contactId": m.contact_id,
            "companyId": m.company_id,
            "assigneeId": m.assignee_id,
            "firstResponseDueAt": opt_ts(&m.first_response_due_at),
            "resolutionDueAt": opt_ts(&m.resolution_due_at),
            "firstRespondedAt": opt_ts(&m.first_responded_at),
            "resolvedAt": opt_ts(&m.resolved_at),
            "csat": m.csat,
            "customFields": m.custom_fields,
            "createdAt": ts(&m.created_at),
            "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&ticket::Model>,
    ) -> ActiveModel {
        // The write's time, as the write path put it in the candidate.
        let now = c.datetime("updatedAt").unwrap_or_else(|| crm.now());
        let priority = c.enumeration("priority", PRIORITIES, "p3");
        let status = c.enumeration("status", STATUSES, "open");
        let settings = crate::tenant::get_tenant(crm, p.tenant_id)
            .await
            .map(|t| t.settings)
            .unwrap_or(Value::Null);
        let opened = existing.map(|e| e.created_at).unwrap_or(now);
        let sla = sla_for(&settings, &priority);
        // Due times follow the priority unless the client set them explicitly.
        let priority_changed = existing.is_some_and(|e| e.priority != priority);
        let response_due = match c.datetime("firstResponseDueAt") {
            Some(t) if !priority_changed => t,
            _ => opened + chrono::Duration::minutes(sla.response_minutes),
        };
        let resolution_due = match c.datetime("resolutionDueAt") {
            Some(t) if !priority_changed => t,
            _ => opened + chrono::Duration::minutes(sla.resolution_minutes),
        };
        let mut responded = c.datetime("firstRespondedAt");
        if responded.is_none() && status != "open" {
            responded = Some(now);
        }
        let resolved = match (status.as_str(), existing.and_then(|e| e.resolved_at)) {
            ("resolved" | "closed", Some(t)) => Some(t),
            ("resolved" | "closed", None) => Some(now),
            _ => None,
        };
        let csat = c.i64("csat");
        if csat.is_some_and(|v| !(1..=5).contains(&v)) {
            c.error(
                "csat",
                "INVALID_VALUE",
                "CSAT is 1 (very dissatisfied) to 5 (very satisfied)",
            );
        }
        ActiveModel {
            subject: Set(c.required_text("subject")),
            description: Set(c.text("description")),
            priority: Set(priority),
            status: Set(status),
            contact_id: Set(c.reference("contactId", "contact")),
            company_id: Set(c.reference("companyId", "company")),
            assignee_id: Set(c.reference("assigneeId", "user")),
            first_response_due_at: Set(Some(response_due)),
            resolution_due_at: Set(Some(resolution_due)),
            first_responded_at: Set(responded),
            resolved_at: Set(resolved),
            csat: Set(csat.and_then(|v| i16::try_from(v).ok())),
            custom_fields: Set(c.custom_fields(crm, p.tenant_id, "ticket").await),
            ..Default::default()
        }
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "subject" => Subject: Text,
            "priority" => Priority: Enum,
            "status" => Status: Enum,
            "contactId" => ContactId: Id,
            "companyId" => CompanyId: Id,
            "assigneeId" => AssigneeId: Id,
            "firstResponseDueAt" => FirstResponseDueAt: DateTime,
            "resolutionDueAt" => ResolutionDueAt: DateTime,
            "firstRespondedAt" => FirstRespondedAt: DateTime,
            "resolvedAt" => ResolvedAt: DateTime,
            "csat" => Csat: Int,
            "createdAt" => CreatedAt: DateTime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_matches_the_domain_brief() {
        assert_eq!(default_sla("p1").response_minutes, 30);
        assert_eq!(default_sla("p2").response_minutes, 120);
    }

    #[test]
    fn tenant_policy_overrides_defaults() {
        let s = json!({"sla": {"p1": {"response_minutes": 15, "resolution_minutes": 60}}});
        assert_eq!(sla_for(&s, "p1").response_minutes, 15);
        assert_eq!(sla_for(&s, "p2"), default_sla("p2"));
    }
}
