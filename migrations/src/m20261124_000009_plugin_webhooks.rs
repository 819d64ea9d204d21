//! Plugin webhooks (contract 0.3.0): one secret URL token per (tenant,
//! plugin, webhook), stored as its SHA-256 so a database dump reveals no
//! usable URL.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000009_plugin_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            Table::create()
                .table("plugin_webhooks")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string("plugin_id"))
                .col(string("webhook"))
                .col(string("token_hash"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(
                    Index::create()
                        .col("tenant_id")
                        .col("plugin_id")
                        .col("webhook"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from("plugin_webhooks", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
            vec![index("plugin_webhooks", &["token_hash"], true)],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["plugin_webhooks"]).await
    }
}
