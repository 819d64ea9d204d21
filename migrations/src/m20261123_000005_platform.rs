//! Domain events (the transactional outbox) and the audit log.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000005_platform"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // `seq` gives a total order per database for subscribers that resume.
        create(
            m,
            Table::create()
                .table("events")
                .if_not_exists()
                .col(big_pk_auto("seq"))
                .col(uuid_uniq("id"))
                .col(uuid("tenant_id"))
                .col(string("kind"))
                .col(string("entity"))
                .col(uuid_null("record_id"))
                .col(uuid_null("actor_id"))
                .col(json("payload"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("published_at"))
                .foreign_key(&mut fk(
                    "events",
                    "tenant_id",
                    "tenants",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
            vec![
                index("events", &["tenant_id", "seq"], false),
                index("events", &["published_at"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("audit_log")
                .col(uuid_null("actor_id"))
                .col(string("actor_kind"))
                .col(string("action"))
                .col(string("entity"))
                .col(uuid_null("record_id"))
                .col(json("changes"))
                .to_owned(),
            vec![index(
                "audit_log",
                &["tenant_id", "entity", "record_id"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["audit_log", "events"]).await
    }
}
