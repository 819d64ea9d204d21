//! Bindings for contract `crm:plugin@0.2.0` (`sdk/wit/since_v0.2.0`):
//! the functions of 0.1.0 (whose context now names the function), the
//! handlers, and the host API, which [`crate::plugin::host_api`] serves.
//!
//! Released contracts never change, so neither does what this module does:
//! a new contract version gets a new module beside it (sharing the code of
//! the interfaces it keeps through [`super::common::since_v0_2`]).

use semver::Version;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use super::{EventInput, GuestError, GuestOutcome, HandlerInput, RawDecision};
use crate::plugin::host_api::{self, config, events, graphql, kv};
use crate::plugin::sandbox::StoreState;
use crm_core::plugin_api::{PluginFieldError, ScoreValue};

wasmtime::component::bindgen!({
    path: "../sdk/wit/since_v0.2.0",
    world: "plugin",
});

pub(crate) const VERSION: Version = Version::new(0, 2, 0);

super::common::since_v0_2!();
