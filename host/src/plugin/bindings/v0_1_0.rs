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

use crm::plugin::log::Level;
use crm::plugin::types;

pub(crate) const VERSION: Version = Version::new(0, 1, 0);

/// Add this version's imports (`log`) to a linker that already has WASI.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

pub(crate) fn pre(
    linker: &Linker<StoreState>,
    component: &Component,
) -> wasmtime::Result<PluginPre<StoreState>> {
    PluginPre::new(linker.instantiate_pre(component)?)
}

impl crm::plugin::types::Host for StoreState {}

impl crm::plugin::log::Host for StoreState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.log.push(level, &message);
    }
}

/// 0.1.0's context has no function name (`ctx.function` is dropped).
fn context(ctx: &super::CallInput<'_>) -> types::CallContext {
    types::CallContext {
        tenant: ctx.tenant.to_owned(),
        entity: ctx.entity.to_owned(),
        config: ctx.config.to_owned(),
    }
}

fn guest_error(e: types::PluginError) -> GuestError {
    GuestError {
        code: e.code,
        message: e.message,
    }
}

pub(crate) fn validate(
    pre: &PluginPre<StoreState>,
    store: &mut Store<StoreState>,
    input: &super::CallInput<'_>,
) -> wasmtime::Result<GuestOutcome<Vec<RawDecision>>> {
    let plugin = pre.instantiate(&mut *store)?;
    let out =
        plugin
            .crm_plugin_functions()
            .call_validate(&mut *store, &context(input), input.records)?;
    Ok(out.map_err(guest_error).map(|decisions| {
        decisions
            .into_iter()
            .map(|d| match d {
                types::Decision::Accept => RawDecision::Accept,
                types::Decision::Patch(patches) => {
                    RawDecision::Patch(patches.into_iter().map(|p| (p.path, p.value)).collect())
                }
                types::Decision::Reject(errors) => RawDecision::Reject(
                    errors
                        .into_iter()
                        .map(|e| PluginFieldError {
                            path: e.path,
                            code: e.code,
                            message: e.message,
                        })
                        .collect(),
                ),
            })
            .collect()
    }))
}

pub(crate) fn score(
    pre: &PluginPre<StoreState>,
    store: &mut Store<StoreState>,
    input: &super::CallInput<'_>,
) -> wasmtime::Result<GuestOutcome<Vec<Vec<ScoreValue>>>> {
    let plugin = pre.instantiate(&mut *store)?;
    let out =
        plugin
            .crm_plugin_functions()
            .call_score(&mut *store, &context(input), input.records)?;
    Ok(out.map_err(guest_error).map(|records| {
        records
            .into_iter()
            .map(|scores| {
                scores
                    .into_iter()
                    .map(|s| ScoreValue {
                        name: s.name,
                        value: s.value,
                        grade: s.grade,
                        reasons: s.reasons,
                    })
                    .collect()
            })
            .collect()
    }))
}
