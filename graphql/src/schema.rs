//! Assembling the schema with its limits.

use crate::analytics::AnalyticsQuery;
use crate::automation::{AutomationMutation, AutomationQuery};
use crate::plugins::{PluginAdmin, PluginMutation, PluginQuery};
use crate::records::admin::{AdminMutation, AdminQuery};
use crate::records::commerce::{CommerceMutation, CommerceQuery};
use crate::records::company::{CompanyMutation, CompanyQuery};
use crate::records::contact::{ContactMutation, ContactQuery};
use crate::records::sales::{SalesMutation, SalesQuery};
use crate::records::work::{WorkMutation, WorkQuery};
use crate::subscription::{EventBus, Subscription};
use async_graphql::{MergedObject, Schema};
use std::sync::Arc;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 12;
/// Most complex query accepted: one point per field, and a connection field
/// costs its page size times its selection. A 100-row page of 20 fields
/// (2,000) passes; 500 aliased one-row lists (3,500) or a few aliased 100-row
/// pages do not.
pub const MAX_COMPLEXITY: usize = 3_000;

#[derive(MergedObject, Default)]
pub struct Query(
    ContactQuery,
    CompanyQuery,
    SalesQuery,
    WorkQuery,
    CommerceQuery,
    AdminQuery,
    AnalyticsQuery,
    PluginQuery,
    AutomationQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    ContactMutation,
    CompanyMutation,
    SalesMutation,
    WorkMutation,
    CommerceMutation,
    AdminMutation,
    PluginMutation,
    AutomationMutation,
);

pub type CrmSchema = Schema<Query, Mutation, Subscription>;

/// Build the schema. The host adds per request the caller's
/// [`crm_core::Principal`] and a fresh [`crate::Loaders`].
pub fn build_schema(crm: crm_core::Crm, plugins: Arc<dyn PluginAdmin>) -> CrmSchema {
    build_schema_with_bus(crm, plugins, EventBus::default())
}

pub fn build_schema_with_bus(
    crm: crm_core::Crm,
    plugins: Arc<dyn PluginAdmin>,
    bus: EventBus,
) -> CrmSchema {
    builder(crm, plugins, bus)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

fn builder(
    crm: crm_core::Crm,
    plugins: Arc<dyn PluginAdmin>,
    bus: EventBus,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(crm)
        .data(plugins)
        .data(bus)
}

/// The same schema without depth and complexity limits, for the host's own
/// bulk reads (plugin input queries over batches of records). Never serve it.
pub fn build_internal_schema(
    crm: crm_core::Crm,
    plugins: Arc<dyn PluginAdmin>,
    bus: EventBus,
) -> CrmSchema {
    builder(crm, plugins, bus).finish()
}
