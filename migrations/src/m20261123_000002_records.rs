//! Companies, contacts, tags, custom field definitions and merge redirects.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000002_records"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            tenant_table("companies")
                .col(string("name"))
                .col(string_null("domain"))
                .col(string_null("industry"))
                .col(big_integer_null("employee_count"))
                .col(double_null("annual_revenue"))
                .col(string_null("phone"))
                .col(string_null("country"))
                .col(string_null("city"))
                .col(string("lifecycle_stage"))
                .col(uuid_null("owner_id"))
                .col(json("custom_fields"))
                .foreign_key(&mut fk(
                    "companies",
                    "owner_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![
                index("companies", &["tenant_id", "name"], false),
                index("companies", &["tenant_id", "domain"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("contacts")
                .col(string("first_name"))
                .col(string("last_name"))
                .col(string_null("email"))
                .col(string_null("phone"))
                .col(string_null("title"))
                .col(uuid_null("company_id"))
                .col(uuid_null("owner_id"))
                .col(string("lifecycle_stage"))
                .col(date_null("birth_date"))
                .col(json("custom_fields"))
                .foreign_key(&mut fk(
                    "contacts",
                    "company_id",
                    "companies",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "contacts",
                    "owner_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![
                index("contacts", &["tenant_id", "email"], false),
                index("contacts", &["tenant_id", "phone"], false),
                index("contacts", &["tenant_id", "last_name"], false),
                index("contacts", &["tenant_id", "company_id"], false),
                index("contacts", &["tenant_id", "created_at"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("tags")
                .col(string("name"))
                .col(string_null("color"))
                .to_owned(),
            vec![index("tags", &["tenant_id", "name"], true)],
        )
        .await?;
        // Which record carries which tag; `entity` is the record's kind (`contact`, ...).
        create(
            m,
            Table::create()
                .table("taggings")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(uuid("tag_id"))
                .col(string("entity"))
                .col(uuid("record_id"))
                .primary_key(Index::create().col("tag_id").col("entity").col("record_id"))
                .foreign_key(&mut fk(
                    "taggings",
                    "tag_id",
                    "tags",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
            vec![index(
                "taggings",
                &["tenant_id", "entity", "record_id"],
                false,
            )],
        )
        .await?;
        create(
            m,
            tenant_table("custom_field_defs")
                .col(string("entity"))
                .col(string("key"))
                .col(string("label"))
                .col(string("kind"))
                .col(json("options"))
                .col(boolean("required"))
                .to_owned(),
            vec![index(
                "custom_field_defs",
                &["tenant_id", "entity", "key"],
                true,
            )],
        )
        .await?;
        // A merged record's id keeps resolving to its survivor.
        create(
            m,
            Table::create()
                .table("record_redirects")
                .if_not_exists()
                .col(uuid("tenant_id"))
                .col(string("entity"))
                .col(uuid("from_id"))
                .col(uuid("to_id"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("entity").col("from_id"))
                .to_owned(),
            vec![],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(
            m,
            &[
                "record_redirects",
                "custom_field_defs",
                "taggings",
                "tags",
                "contacts",
                "companies",
            ],
        )
        .await
    }
}
