//! Database migrations of the CRM: one set that runs unchanged on SQLite and PostgreSQL.
//!
//! Architecture invariant: migrations only use the portable schema builder
//! (no backend-specific SQL), so the same history serves both backends.
//! A released migration is never edited; changes come as new migrations.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_tenants;
mod m20261123_000002_records;
mod m20261123_000003_sales;
mod m20261123_000004_work;
mod m20261123_000005_platform;
mod m20261123_000006_plugins;
mod m20261123_000007_automation;
mod m20261124_000008_sensitive_fields;
mod m20261124_000009_plugin_webhooks;
mod m20261124_000010_score_scorer;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_tenants::Migration),
            Box::new(m20261123_000002_records::Migration),
            Box::new(m20261123_000003_sales::Migration),
            Box::new(m20261123_000004_work::Migration),
            Box::new(m20261123_000005_platform::Migration),
            Box::new(m20261123_000006_plugins::Migration),
            Box::new(m20261123_000007_automation::Migration),
            Box::new(m20261124_000008_sensitive_fields::Migration),
            Box::new(m20261124_000009_plugin_webhooks::Migration),
            Box::new(m20261124_000010_score_scorer::Migration),
        ]
    }
}

pub(crate) mod util {
    use sea_orm_migration::{prelude::*, schema::*};

    /// A table whose rows belong to a tenant: `id` (UUID v7), `tenant_id`, timestamps.
    pub fn tenant_table(name: &'static str) -> TableCreateStatement {
        Table::create()
            .table(name)
            .if_not_exists()
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .foreign_key(
                ForeignKey::create()
                    .from(name, "tenant_id")
                    .to("tenants", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned()
    }

    /// A foreign key from `table.col` to `target.id`.
    pub fn fk(
        table: &'static str,
        col: &'static str,
        target: &'static str,
        on_delete: ForeignKeyAction,
    ) -> ForeignKeyCreateStatement {
        ForeignKey::create()
            .from(table, col)
            .to(target, "id")
            .on_delete(on_delete)
            .to_owned()
    }

    /// A (tenant_id, cols...) index named after the table and columns.
    pub fn index(table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
        let mut idx = Index::create();
        idx.name(format!("ix_{}_{}", table, cols.join("_")))
            .table(table)
            .if_not_exists();
        for c in cols {
            idx.col(*c);
        }
        if unique {
            idx.unique();
        }
        idx.to_owned()
    }

    pub async fn create(
        m: &SchemaManager<'_>,
        table: TableCreateStatement,
        indexes: Vec<IndexCreateStatement>,
    ) -> Result<(), DbErr> {
        m.create_table(table).await?;
        for i in indexes {
            m.create_index(i).await?;
        }
        Ok(())
    }

    pub async fn drop(m: &SchemaManager<'_>, tables: &[&'static str]) -> Result<(), DbErr> {
        for t in tables {
            m.drop_table(Table::drop().table(*t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
