//! Plugin runtime (wasmtime component model).
//!
//! Plugins are WebAssembly components built against the `crm:plugin` WIT
//! contract (`sdk/wit/`) plus a `plugin.toml` manifest. This subsystem
//! compiles them once, checks the contract version they were built for, and
//! runs every call on a fresh instance under fuel, deadline, memory, output
//! and log limits, with no ambient authority (no files, environment,
//! network or inherited stdio).
//!
//! Modules, one concept each:
//! - [`manifest`]: parse and check `plugin.toml`; effective configuration.
//! - [`contract`]: which contract version a component was built for.
//! - `bindings`: one module per contract version (`bindings::v0_1_0`,
//!   `bindings::v0_2_0`, `bindings::v0_3_0`) and the dispatch between them.
//! - `engine`: the `wasmtime::Engine`, [`RuntimeConfig`], the epoch ticker.
//! - `cache`: compiled components, in memory and on disk.
//! - `sandbox`: what a call's store holds (empty WASI, limiter, run log,
//!   host access).
//! - `capabilities`: [`Grants`], what a plugin may do in a tenant (asked ∩ granted).
//! - `host_api`: the host API of contracts 0.2.0 and 0.3.0, one module per
//!   capability (`graphql`, `kv`, `events`, `config`, `http`), each owning
//!   its check; the embedder implements [`HostApi`] ([`OutboundHttp`] is
//!   the standard way to send what `http` allowed).
//! - `invoke`: [`PluginRuntime`]: load, validate, score; failure codes.
//! - `handlers`: [`PluginRuntime::on_event`], [`PluginRuntime::on_schedule`],
//!   [`PluginRuntime::action`] (contracts 0.2.0 and 0.3.0).
//! - `bench`: the per-call micro-benchmark.
//!
//! Architecture invariant: nothing a plugin does can panic or stop the
//! host; every trap, timeout or overrun becomes a
//! [`PluginFailure`](crm_core::plugin_api::PluginFailure) with a code from
//! [`codes`].
//!
//! ```no_run
//! use crm_host::plugin::{CallContext, Manifest, PluginRuntime, RuntimeConfig};
//!
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = PluginRuntime::new(RuntimeConfig::default())?;
//! let manifest = Manifest::parse(&std::fs::read_to_string("plugin.toml")?)?;
//! let plugin = runtime.load(&manifest, &std::fs::read("plugin.wasm")?)?;
//! let ctx = CallContext {
//!     tenant: "0190b6e4-0000-7000-8000-000000000000".into(),
//!     entity: "contact".into(),
//!     config: manifest.effective_config(&serde_json::Value::Null)?,
//!     fuel_per_record: None,
//! };
//! let call = runtime.score(&plugin, &ctx, &[r#"{"id": "1"}"#.to_owned()]);
//! println!("{:?} in {:?}", call.result, call.stats.duration);
//! # Ok(()) }
//! ```

mod bench;
mod bindings;
mod cache;
mod capabilities;
pub mod contract;
mod engine;
mod error;
mod handlers;
mod host_api;
mod invoke;
pub mod manifest;
mod sandbox;

pub use bench::bench_instance_call;
pub use cache::{CacheStats, LoadSource};
pub use capabilities::Grants;
pub use capabilities::Origin;
pub use contract::{ContractError, SUPPORTED};
pub use engine::{EPOCH_TICK, RuntimeConfig};
pub use error::RuntimeError;
pub use handlers::HandlerContext;
pub use host_api::http::{HttpRequest, HttpResponse, METHODS as HTTP_METHODS, OutboundHttp};
pub use host_api::{HostApi, HostError, host_codes};
pub use invoke::{CallContext, Invocation, LoadedPlugin, PluginRuntime, RunStats, codes};
pub use manifest::{
    ActionDecl, Capabilities, ConfigField, ConfigType, FailurePolicy, FunctionDecl, FunctionKind,
    HandlerDecl, Manifest, ManifestError, ManifestIssue, ScheduleDecl, WebhookDecl,
};
/// Versions of contracts and plugins.
pub use semver::Version;
