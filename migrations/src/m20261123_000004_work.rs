//! Activities (the timeline), tasks and tickets.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000004_work"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            tenant_table("activities")
                .col(string("kind"))
                .col(string("subject"))
                .col(text_null("content"))
                .col(string_null("channel"))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(uuid_null("user_id"))
                .col(uuid_null("contact_id"))
                .col(uuid_null("company_id"))
                .col(uuid_null("deal_id"))
                .col(json("custom_fields"))
                .foreign_key(&mut fk(
                    "activities",
                    "user_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "activities",
                    "contact_id",
                    "contacts",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "activities",
                    "company_id",
                    "companies",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "activities",
                    "deal_id",
                    "deals",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
            vec![
                index(
                    "activities",
                    &["tenant_id", "contact_id", "occurred_at"],
                    false,
                ),
                index(
                    "activities",
                    &["tenant_id", "company_id", "occurred_at"],
                    false,
                ),
                index(
                    "activities",
                    &["tenant_id", "deal_id", "occurred_at"],
                    false,
                ),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("tasks")
                .col(string("title"))
                .col(text_null("description"))
                .col(uuid_null("assignee_id"))
                .col(timestamp_with_time_zone_null("due_at"))
                .col(string("status"))
                .col(string_null("record_entity"))
                .col(uuid_null("record_id"))
                .col(timestamp_with_time_zone_null("completed_at"))
                .foreign_key(&mut fk(
                    "tasks",
                    "assignee_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![
                index("tasks", &["tenant_id", "assignee_id", "status"], false),
                index("tasks", &["tenant_id", "record_entity", "record_id"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("tickets")
                .col(string("subject"))
                .col(text_null("description"))
                .col(string("priority"))
                .col(string("status"))
                .col(uuid_null("contact_id"))
                .col(uuid_null("company_id"))
                .col(uuid_null("assignee_id"))
                .col(timestamp_with_time_zone_null("first_response_due_at"))
                .col(timestamp_with_time_zone_null("resolution_due_at"))
                .col(timestamp_with_time_zone_null("first_responded_at"))
                .col(timestamp_with_time_zone_null("resolved_at"))
                .col(small_integer_null("csat"))
                .col(json("custom_fields"))
                .foreign_key(&mut fk(
                    "tickets",
                    "contact_id",
                    "contacts",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "tickets",
                    "company_id",
                    "companies",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "tickets",
                    "assignee_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![
                index("tickets", &["tenant_id", "status", "priority"], false),
                index("tickets", &["tenant_id", "contact_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["tickets", "tasks", "activities"]).await
    }
}
