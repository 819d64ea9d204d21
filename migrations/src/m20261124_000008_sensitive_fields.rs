//! Sensitive custom fields: their values are masked for callers and plugins
//! without `pii:read`, and every unmasked read is audited; the audit log is
//! read per record (`auditLog(recordId:)`).
use crate::util::index;
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
        .await?;
        m.create_index(index("audit_log", &["tenant_id", "record_id"], false))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_audit_log_tenant_id_record_id")
                .table("audit_log")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("custom_field_defs")
                .drop_column("sensitive")
                .to_owned(),
        )
        .await
    }
}
