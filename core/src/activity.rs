//! Activities: calls, e-mails, meetings, visits and notes; together they form
//! the timeline of a contact, company or deal (DOMAIN §2: who, with whom, when, channel, content).

use crate::auth::Principal;
use crate::entity::activity::{self, ActiveModel, Column};
use crate::json::{enum_name, ts};
use crate::query::FieldType;
use crate::record::{Check, Kind};
use crate::{Crm, columns};
use sea_orm::Set;
use serde_json::{Value, json};
use uuid::Uuid;

pub const KINDS: &[&str] = &["call", "email", "meeting", "visit", "note", "test_drive"];

pub struct Activity;

#[async_trait::async_trait]
impl Kind for Activity {
    const NAME: &'static str = "activity";
    type Entity = activity::Entity;

    fn id(m: &activity::Model) -> Uuid {
        m.id
    }

    fn to_json(m: &activity::Model) -> Value {
        json!({
            "id": m.id,
            "kind": enum_name(&m.kind),
            "subject": m.subject,
            "content": m.content,
            "channel": m.channel,
            "occurredAt": ts(&m.occurred_at),
            "userId": m.user_id,
            "contactId": m.contact_id,
            "companyId": m.company_id,
            "dealId": m.deal_id,
            "customFields": m.custom_fields,
            "createdAt": ts(&m.created_at),
            "updatedAt": ts(&m.updated_at),
        })
    }

    async fn build(
        crm: &Crm,
        p: &Principal,
        c: &mut Check<'_>,
        existing: Option<&activity::Model>,
    ) -> ActiveModel {
        let kind = c.enumeration("kind", KINDS, "note");
        if c.raw("kind").is_none() && existing.is_none() {
            c.error(
                "kind",
                "REQUIRED",
                "kind is required (CALL, EMAIL, MEETING, VISIT, NOTE, TEST_DRIVE)",
            );
        }
        let contact = c.reference("contactId", "contact");
        let company = c.reference("companyId", "company");
        let deal = c.reference("dealId", "deal");
        if contact.is_none() && company.is_none() && deal.is_none() && c.errors.is_empty() {
            c.error(
                "contactId",
                "REQUIRED",
                "an activity belongs to a contact, company or deal",
            );
        }
        let subject = c.text("subject").unwrap_or_else(|| kind.replace('_', " "));
        ActiveModel {
            kind: Set(kind),
            subject: Set(subject),
            content: Set(c.text("content")),
            channel: Set(c.text("channel")),
            occurred_at: Set(c.datetime("occurredAt").unwrap_or_else(|| crm.now())),
            user_id: Set(c.reference("userId", "user").or(p.user_id)),
            contact_id: Set(contact),
            company_id: Set(company),
            deal_id: Set(deal),
            custom_fields: Set(c.custom_fields(crm, p.tenant_id, "activity").await),
            ..Default::default()
        }
    }

    fn column(field: &str) -> Option<(Column, FieldType)> {
        columns!(field, {
            "id" => Id: Id,
            "kind" => Kind: Enum,
            "subject" => Subject: Text,
            "content" => Content: Text,
            "channel" => Channel: Text,
            "occurredAt" => OccurredAt: DateTime,
            "userId" => UserId: Id,
            "contactId" => ContactId: Id,
            "companyId" => CompanyId: Id,
            "dealId" => DealId: Id,
            "createdAt" => CreatedAt: DateTime,
        })
    }

    fn default_order() -> Vec<crate::query::OrderBy> {
        vec![crate::query::OrderBy {
            field: "occurredAt".into(),
            desc: true,
        }]
    }
}
