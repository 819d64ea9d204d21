//! The CRM's domain: sea-orm entities, one service module per concept,
//! domain events (transactional outbox), audit and permissions.
//!
//! Architecture invariant: `core` knows no HTTP, no GraphQL and no wasm.
//! Every command runs in one transaction that writes the change, its audit
//! record and its domain events; plugins are reached only through
//! [`plugin_api::PluginHooks`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), crm_core::CoreError> {
//! let crm = crm_core::Crm::connect("sqlite://crm.db?mode=rwc").await?;
//! let (tenant, admin_key) = crm_core::tenant::create_tenant(&crm, "Acme", "CN").await?;
//! # let _ = (tenant, admin_key); Ok(()) }
//! ```

pub mod activity;
pub mod analytics;
pub mod auth;
pub mod automation;
pub mod company;
pub mod contact;
pub mod custom_field;
pub mod deal;
pub mod duplicates;
pub mod entity;
pub mod error;
pub mod events;
pub mod jobs;
pub mod json;
pub mod merge;
pub mod order;
pub mod pipeline;
pub mod plugin_api;
pub mod plugin_store;
pub mod product;
pub mod query;
pub mod record;
pub mod secrets;
pub mod service;
pub mod tag;
pub mod task;
pub mod tenant;
pub mod ticket;
pub mod webhook;
pub mod workflow;

pub use auth::{Principal, Role};
pub use error::{CoreError, FieldError};
pub use service::{Clock, Crm, WriteTxn};
pub use uuid::Uuid;

/// Time type used everywhere: UTC instants.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
