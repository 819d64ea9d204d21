//! One bindings module per contract version, and the dispatch between them.
//!
//! Everything above this module works with version-neutral types: a call is
//! a [`CallInput`], its answer a [`GuestOutcome`] of raw decisions or
//! scores, which [`super::invoke`] then checks (sizes, JSON, batch length).

pub(crate) mod v0_1_0;

use crm_core::plugin_api::{PluginFieldError, ScoreValue};
use semver::Version;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::sandbox::StoreState;

/// A component pre-instantiated with the linker of its contract version.
#[derive(Clone)]
pub(crate) enum Pre {
    V0_1_0(v0_1_0::PluginPre<StoreState>),
}

/// One linker per supported contract version: WASI plus that version's imports.
pub(crate) struct Linkers {
    v0_1_0: Linker<StoreState>,
}

impl Linkers {
    pub(crate) fn new(engine: &wasmtime::Engine) -> wasmtime::Result<Self> {
        let mut v0_1_0 = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut v0_1_0)?;
        v0_1_0::add_to_linker(&mut v0_1_0)?;
        Ok(Linkers { v0_1_0 })
    }

    /// Type-check `component`'s imports and exports against `contract` and
    /// resolve them once, so each call only instantiates.
    pub(crate) fn pre(&self, contract: &Version, component: &Component) -> wasmtime::Result<Pre> {
        if *contract == v0_1_0::VERSION {
            Ok(Pre::V0_1_0(v0_1_0::pre(&self.v0_1_0, component)?))
        } else {
            // `contract::detect` only returns supported versions.
            Err(wasmtime::format_err!(
                "no bindings for contract version {contract}"
            ))
        }
    }
}

/// The arguments of a function call, independent of contract version.
pub(crate) struct CallInput<'a> {
    pub tenant: &'a str,
    pub entity: &'a str,
    /// Effective configuration, as JSON text.
    pub config: &'a str,
    /// One JSON document per record.
    pub records: &'a [String],
}

/// The guest's own `plugin-error`.
pub(crate) struct GuestError {
    pub code: String,
    pub message: String,
}

/// What the guest answered (after a successful call).
pub(crate) type GuestOutcome<T> = Result<T, GuestError>;

/// A decision before its patch values are checked to be JSON.
pub(crate) enum RawDecision {
    Accept,
    Patch(Vec<(String, String)>),
    Reject(Vec<PluginFieldError>),
}

impl Pre {
    /// Instantiate in `store` and call `validate`.
    pub(crate) fn validate(
        &self,
        store: &mut Store<StoreState>,
        input: &CallInput<'_>,
    ) -> wasmtime::Result<GuestOutcome<Vec<RawDecision>>> {
        match self {
            Pre::V0_1_0(pre) => v0_1_0::validate(pre, store, input),
        }
    }

    /// Instantiate in `store` and call `score`.
    pub(crate) fn score(
        &self,
        store: &mut Store<StoreState>,
        input: &CallInput<'_>,
    ) -> wasmtime::Result<GuestOutcome<Vec<Vec<ScoreValue>>>> {
        match self {
            Pre::V0_1_0(pre) => v0_1_0::score(pre, store, input),
        }
    }
}
