//! Tenants, users and API keys.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_tenants"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(string("name"))
                .col(string("default_region"))
                .col(string("currency"))
                .col(json("settings"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        create(
            m,
            tenant_table("users")
                .col(string("name"))
                .col(string("email"))
                .col(string("role"))
                .col(uuid_null("manager_id"))
                .col(boolean("active"))
                .to_owned(),
            vec![index("users", &["tenant_id", "email"], true)],
        )
        .await?;
        create(
            m,
            tenant_table("api_keys")
                .col(uuid_null("user_id"))
                .col(string("name"))
                .col(string("prefix"))
                .col(string("key_hash"))
                .col(string("role"))
                .col(json("scopes"))
                .col(string_null("plugin_id"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk(
                    "api_keys",
                    "user_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![index("api_keys", &["key_hash"], true)],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["api_keys", "users", "tenants"]).await
    }
}
