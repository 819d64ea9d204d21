//! Pipelines, stages, deals and their stage history; products and orders.
use crate::util::*;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000003_sales"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            tenant_table("pipelines")
                .col(string("name"))
                .col(uuid_null("manager_id"))
                .foreign_key(&mut fk(
                    "pipelines",
                    "manager_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![index("pipelines", &["tenant_id", "name"], true)],
        )
        .await?;
        create(
            m,
            tenant_table("stages")
                .col(uuid("pipeline_id"))
                .col(string("name"))
                .col(integer("position"))
                .col(double("probability"))
                .col(boolean("is_won"))
                .col(boolean("is_lost"))
                .foreign_key(&mut fk(
                    "stages",
                    "pipeline_id",
                    "pipelines",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
            vec![index("stages", &["pipeline_id", "position"], false)],
        )
        .await?;
        create(
            m,
            tenant_table("deals")
                .col(string("name"))
                .col(uuid("pipeline_id"))
                .col(uuid("stage_id"))
                .col(double("amount"))
                .col(string("currency"))
                .col(uuid_null("owner_id"))
                .col(uuid_null("company_id"))
                .col(uuid_null("contact_id"))
                .col(date_null("expected_close_date"))
                .col(timestamp_with_time_zone("stage_entered_at"))
                .col(timestamp_with_time_zone_null("closed_at"))
                .col(json("custom_fields"))
                .foreign_key(&mut fk(
                    "deals",
                    "pipeline_id",
                    "pipelines",
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "deals",
                    "stage_id",
                    "stages",
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "deals",
                    "owner_id",
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "deals",
                    "company_id",
                    "companies",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "deals",
                    "contact_id",
                    "contacts",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![
                index("deals", &["tenant_id", "stage_id"], false),
                index("deals", &["tenant_id", "contact_id"], false),
                index("deals", &["tenant_id", "company_id"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("deal_stage_history")
                .col(uuid("deal_id"))
                .col(uuid("pipeline_id"))
                .col(uuid_null("from_stage_id"))
                .col(uuid("to_stage_id"))
                .col(uuid_null("changed_by"))
                .col(timestamp_with_time_zone("changed_at"))
                .foreign_key(&mut fk(
                    "deal_stage_history",
                    "deal_id",
                    "deals",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
            vec![
                index("deal_stage_history", &["deal_id", "changed_at"], false),
                index(
                    "deal_stage_history",
                    &["tenant_id", "pipeline_id", "changed_at"],
                    false,
                ),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("products")
                .col(string("sku"))
                .col(string("name"))
                .col(double("price"))
                .col(string("currency"))
                .col(boolean("active"))
                .to_owned(),
            vec![index("products", &["tenant_id", "sku"], true)],
        )
        .await?;
        create(
            m,
            tenant_table("orders")
                .col(string("number"))
                .col(uuid_null("company_id"))
                .col(uuid_null("contact_id"))
                .col(string("status"))
                .col(string("currency"))
                .col(double("total"))
                .col(timestamp_with_time_zone("ordered_at"))
                .foreign_key(&mut fk(
                    "orders",
                    "company_id",
                    "companies",
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "orders",
                    "contact_id",
                    "contacts",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![
                index("orders", &["tenant_id", "number"], true),
                index("orders", &["tenant_id", "company_id"], false),
            ],
        )
        .await?;
        create(
            m,
            tenant_table("order_lines")
                .col(uuid("order_id"))
                .col(uuid_null("product_id"))
                .col(string("description"))
                .col(double("quantity"))
                .col(double("unit_price"))
                .col(double("line_total"))
                .foreign_key(&mut fk(
                    "order_lines",
                    "order_id",
                    "orders",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "order_lines",
                    "product_id",
                    "products",
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
            vec![index("order_lines", &["order_id"], false)],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(
            m,
            &[
                "order_lines",
                "orders",
                "products",
                "deal_stage_history",
                "deals",
                "stages",
                "pipelines",
            ],
        )
        .await
    }
}
