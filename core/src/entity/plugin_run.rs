//! Table `plugin_runs`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "plugin_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub plugin_id: String,
    pub plugin_version: String,
    pub function: String,
    pub entity: String,
    pub records: i32,
    pub duration_us: i64,
    pub fuel_used: i64,
    pub outcome: String,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub log: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
