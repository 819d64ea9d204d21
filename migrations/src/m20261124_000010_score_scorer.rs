//! Which score function wrote a score (`scores.scorer`), so that a
//! function's answer for a record replaces its earlier one: a name it no
//! longer gives that record is removed at the next write, not kept forever.
//! NULL marks a score set through `setScore` (a handler's), which no score
//! function replaces. Rows written before this migration are marked `*`
//! (origin unknown): a rescore of their plugin treats them as a function's,
//! as it did before, and a write leaves them alone.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000010_score_scorer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("scores")
                .add_column(string_null("scorer"))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::update()
                .table("scores")
                .value("scorer", "*")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("scores")
                .drop_column("scorer")
                .to_owned(),
        )
        .await
    }
}
