//! Bindings for contract `crm:plugin@0.1.0` (`sdk/wit/since_v0.1.0`).
//!
//! Released contracts never change, so neither does this module: a new
//! contract version gets a new module beside it.

use semver::Version;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use super::{GuestError, GuestOutcome, RawDecision};
use crate::plugin::sandbox::StoreState;
use crm_core::plugin_api::{PluginFieldError, ScoreValue};

wasmtime::component::bindgen!({
    path: "../sdk/wit/since_v0.1.0",
    world: "plugin",
});

pub(crate) const VERSION: Version = Version::new(0, 1, 0);

super::common::every_version!();

/// 0.1.0's context has no function name (`ctx.function` is dropped).
fn context(ctx: &super::CallInput<'_>) -> types::CallContext {
    types::CallContext {
        tenant: ctx.tenant.to_owned(),
        entity: ctx.entity.to_owned(),
        config: ctx.config.to_owned(),
    }
}
