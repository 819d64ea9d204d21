//! The CRM's GraphQL API (DESIGN §4) over `crm-core`: types, resolvers,
//! DataLoaders, limits. No HTTP and no wasm here: the host serves the schema
//! and supplies the caller's [`crm_core::Principal`] and the plugin admin.
//!
//! ```no_run
//! # async fn demo(crm: crm_core::Crm) {
//! let schema = crm_graphql::build_schema(crm, std::sync::Arc::new(crm_graphql::NoPluginAdmin));
//! let sdl = schema.sdl();
//! # let _ = sdl; }
//! ```

// Resolver signatures are the schema: a list field takes first/after/last/
// before/filter/orderBy, and `fromStage` is a field name, not a conversion.
#![allow(clippy::too_many_arguments, clippy::wrong_self_convention)]

mod analytics;
mod automation;
mod common;
pub mod connection;
mod error;
mod filter;
pub mod input_plan;
mod loaders;
mod plugins;
mod records;
mod schema;
mod subscription;

pub use connection::BulkRead;
pub use error::to_gql_error;
pub use input_plan::InputPlan;
pub use loaders::Loaders;
pub use plugins::{
    CHECK_FINDINGS_MAX, CHECK_IDS_MAX, CheckRequest, FieldChange, GradeCount, GradeMove,
    NoPluginAdmin, PREVIEW_CHANGES_MAX, PluginAdmin, PluginAdminError, PluginInfo, PreviewRequest,
    PublicOrigin, RecordCheckReport, RecordFieldError, RecordFinding, RescoreReport, ScoreChange,
    ScorePreview, ScoreShift, ScoreSnapshot, ScoreSummary, merge_patch,
};
pub use schema::{
    CrmSchema, MAX_COMPLEXITY, MAX_DEPTH, build_internal_schema, build_schema,
    build_schema_with_bus,
};
pub use subscription::EventBus;
