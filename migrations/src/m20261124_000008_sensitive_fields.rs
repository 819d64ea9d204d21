//! Sensitive custom fields: their values are masked for callers and plugins
//! without `pii:read`, and every unmasked read is audited.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000008_sensitive_fields"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("custom_field_defs")
                .add_column(boolean("sensitive").default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("custom_field_defs")
                .drop_column("sensitive")
                .to_owned(),
        )
        .await
    }
}
