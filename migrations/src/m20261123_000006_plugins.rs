//! Installed plugins, per-tenant enablement, runs and stored scores.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000006_plugins"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Installed plugins are global (shared by every tenant); enabling is per tenant.
        create(
            m,
            Table::create()
                .table("plugins")
                .if_not_exists()
                .col(string("id").primary_key())
                .col(string("version"))
                .col(string("contract"))
                .col(json("manifest"))
                .col(blob("component"))
                .col(string("hash"))
                .col(timestamp_with_time_zone("installed_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
            vec![],
        )
        .await?;
        create(
            m,
            Table::create()
                .table("tenant_plugins")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string("plugin_id"))
                .col(boolean("enabled"))
                .col(json("config"))
                .col(json("grants"))
                .col(string("status"))
                .col(text_null("status_reason"))
                .col(integer("consecutive_failures"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(Index::create().col("tenant_id").col("plugin_id"))
                .foreign_key(&mut fk(
                    "tenant_plugins",
                    "tenant_id",
                    "tenants",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .from("tenant_plugins", "plugin_id")
                        .to("plugins", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
            vec![],
        )
        .await?;
        create(
            m,
            Table::create()
                .table("plugin_runs")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("plugin_id"))
                .col(string("plugin_version"))
                .col(string("function"))
                .col(string("entity"))
                .col(integer("records"))
                .col(big_integer("duration_us"))
                .col(big_integer("fuel_used"))
                .col(string("outcome"))
                .col(string_null("error_code"))
                .col(text_null("error"))
                .col(text_null("log"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            vec![index(
                "plugin_runs",
                &["tenant_id", "plugin_id", "created_at"],
                false,
            )],
        )
        .await?;
        create(
            m,
            Table::create()
                .table("scores")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string("entity"))
                .col(uuid("record_id"))
                .col(string("plugin_id"))
                .col(string("name"))
                .col(small_integer("value"))
                .col(string_null("grade"))
                .col(json("reasons"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("entity")
                        .col("record_id")
                        .col("plugin_id")
                        .col("name"),
                )
                .to_owned(),
            vec![index(
                "scores",
                &["tenant_id", "plugin_id", "name", "value"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["scores", "plugin_runs", "tenant_plugins", "plugins"]).await
    }
}
