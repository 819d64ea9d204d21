//! Durable jobs, workflows with their runs, and plugin key-value storage.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000007_automation"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The durable queue: handler invocations, schedules, timers, workflow steps.
        create(
            m,
            Table::create()
                .table("jobs")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid_null("tenant_id"))
                .col(string("kind"))
                .col(json("payload"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(integer("max_attempts"))
                .col(timestamp_with_time_zone("run_at"))
                .col(string_null("locked_by"))
                .col(timestamp_with_time_zone_null("locked_until"))
                .col(text_null("last_error"))
                .col(string_null("idempotency_key"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .to_owned(),
            vec![
                index("jobs", &["idempotency_key"], true),
                index("jobs", &["status", "run_at"], false),
                index("jobs", &["tenant_id", "status"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("workflows")
                .col(string("name"))
                .col(boolean("enabled"))
                .col(json("trigger"))
                .col(json("conditions"))
                .col(json("steps"))
                .to_owned(),
            vec![index("workflows", &["tenant_id", "name"], true)],
        )
        .await?;
        create(
            m,
            tenant_table("workflow_runs")
                .col(uuid("workflow_id"))
                .col(string_null("entity"))
                .col(uuid_null("record_id"))
                .col(string("status"))
                .col(json("steps"))
                .col(text_null("error"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .foreign_key(&mut fk(
                    "workflow_runs",
                    "workflow_id",
                    "workflows",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
            vec![
                index(
                    "workflow_runs",
                    &["tenant_id", "entity", "record_id"],
                    false,
                ),
                index("workflow_runs", &["workflow_id", "created_at"], false),
            ],
        )
        .await?;
        create(
            m,
            Table::create()
                .table("plugin_kv")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string("plugin_id"))
                .col(string("key"))
                .col(text("value"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("plugin_id").col("key"))
                .to_owned(),
            vec![],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["plugin_kv", "workflow_runs", "workflows", "jobs"]).await
    }
}
