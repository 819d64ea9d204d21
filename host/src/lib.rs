//! The CRM host: the `crm` binary's library. It wires `crm-core` and
//! `crm-graphql` to the outside world: configuration, the axum HTTP server
//! (GraphQL over HTTP and WebSocket, health, metrics), authentication, the
//! outbox relay, the wasmtime plugin runtime, demo data, CSV import and the CLI.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let app = crm_host::app::App::open(&crm_host::app::Config::default()).await?;
//! let addr = app.spawn().await?;
//! println!("GraphQL on http://{addr}/graphql");
//! # Ok(()) }
//! ```

pub mod app;
pub mod bench;
pub mod demo;
pub mod http;
pub mod import;
pub mod jobs;
pub mod metrics;
pub mod plugin;
pub mod plugin_files;
pub mod plugin_host;
pub mod rate_limit;
pub mod relay;
pub mod scaffold;
