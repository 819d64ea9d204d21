//! One bindings module per contract version, and the dispatch between them.
//!
//! Everything above this module works with version-neutral types: a call is
//! a [`CallInput`] (functions) or a [`HandlerInput`] (handlers), its answer a
//! [`GuestOutcome`] of raw decisions, scores or JSON text, which
//! [`super::invoke`] then checks (sizes, JSON, batch length).
//!
//! Contract 0.1.0 has functions only; 0.2.0 adds handlers and the host API;
//! 0.3.0 adds outbound HTTP.

mod common;
pub(crate) mod v0_1_0;
pub(crate) mod v0_2_0;
pub(crate) mod v0_3_0;

use crm_core::plugin_api::{PluginFieldError, ScoreValue};
use semver::Version;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::sandbox::StoreState;

/// A component pre-instantiated with the linker of its contract version.
#[derive(Clone)]
pub(crate) enum Pre {
    V0_1_0(v0_1_0::PluginPre<StoreState>),
    V0_2_0(v0_2_0::PluginPre<StoreState>),
    V0_3_0(v0_3_0::PluginPre<StoreState>),
}

/// One linker per supported contract version: WASI plus that version's imports.
pub(crate) struct Linkers {
    v0_1_0: Linker<StoreState>,
    v0_2_0: Linker<StoreState>,
    v0_3_0: Linker<StoreState>,
}

impl Linkers {
    pub(crate) fn new(engine: &wasmtime::Engine) -> wasmtime::Result<Self> {
        let mut v0_1_0 = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut v0_1_0)?;
        v0_1_0::add_to_linker(&mut v0_1_0)?;
        let mut v0_2_0 = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut v0_2_0)?;
        v0_2_0::add_to_linker(&mut v0_2_0)?;
        let mut v0_3_0 = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut v0_3_0)?;
        v0_3_0::add_to_linker(&mut v0_3_0)?;
        Ok(Linkers {
            v0_1_0,
            v0_2_0,
            v0_3_0,
        })
    }

    /// Type-check `component`'s imports and exports against `contract` and
    /// resolve them once, so each call only instantiates.
    pub(crate) fn pre(&self, contract: &Version, component: &Component) -> wasmtime::Result<Pre> {
        if *contract == v0_1_0::VERSION {
            Ok(Pre::V0_1_0(v0_1_0::pre(&self.v0_1_0, component)?))
        } else if *contract == v0_2_0::VERSION {
            Ok(Pre::V0_2_0(v0_2_0::pre(&self.v0_2_0, component)?))
        } else if *contract == v0_3_0::VERSION {
            Ok(Pre::V0_3_0(v0_3_0::pre(&self.v0_3_0, component)?))
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
    /// Name of the manifest function (0.2.0 tells the guest; 0.1.0 cannot).
    pub function: &'a str,
    /// One JSON document per record.
    pub records: &'a [String],
}

/// The context of a handler call (on-event, on-schedule, action).
pub(crate) struct HandlerInput<'a> {
    pub tenant: &'a str,
    /// Effective configuration, as JSON text.
    pub config: &'a str,
    /// The host's clock, RFC 3339.
    pub now: &'a str,
    /// Name of the manifest handler, schedule or action.
    pub name: &'a str,
}

/// A committed event as a handler receives it.
pub(crate) struct EventInput {
    pub id: String,
    pub kind: String,
    pub entity: String,
    pub record_id: Option<String>,
    /// JSON text.
    pub payload: String,
    pub created_at: String,
}

/// A queued webhook delivery as the handler receives it (contract 0.3.0).
pub(crate) struct WebhookInput {
    pub id: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: String,
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
            Pre::V0_2_0(pre) => v0_2_0::validate(pre, store, input),
            Pre::V0_3_0(pre) => v0_3_0::validate(pre, store, input),
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
            Pre::V0_2_0(pre) => v0_2_0::score(pre, store, input),
            Pre::V0_3_0(pre) => v0_3_0::score(pre, store, input),
        }
    }

    /// Whether the contract has handlers (`on-event`, `on-schedule`, `action`).
    pub(crate) fn has_handlers(&self) -> bool {
        match self {
            Pre::V0_1_0(_) => false,
            Pre::V0_2_0(_) | Pre::V0_3_0(_) => true,
        }
    }

    /// Instantiate in `store` and call `on-event`.
    pub(crate) fn on_event(
        &self,
        store: &mut Store<StoreState>,
        input: &HandlerInput<'_>,
        event: &EventInput,
    ) -> wasmtime::Result<GuestOutcome<()>> {
        match self {
            Pre::V0_1_0(_) => Err(no_handlers()),
            Pre::V0_2_0(pre) => v0_2_0::on_event(pre, store, input, event),
            Pre::V0_3_0(pre) => v0_3_0::on_event(pre, store, input, event),
        }
    }

    /// Instantiate in `store` and call `on-schedule`.
    pub(crate) fn on_schedule(
        &self,
        store: &mut Store<StoreState>,
        input: &HandlerInput<'_>,
    ) -> wasmtime::Result<GuestOutcome<()>> {
        match self {
            Pre::V0_1_0(_) => Err(no_handlers()),
            Pre::V0_2_0(pre) => v0_2_0::on_schedule(pre, store, input),
            Pre::V0_3_0(pre) => v0_3_0::on_schedule(pre, store, input),
        }
    }

    /// Whether the contract has webhooks (`on-webhook`, 0.3.0).
    pub(crate) fn has_webhooks(&self) -> bool {
        matches!(self, Pre::V0_3_0(_))
    }

    /// Instantiate in `store` and call `on-webhook`.
    pub(crate) fn on_webhook(
        &self,
        store: &mut Store<StoreState>,
        input: &HandlerInput<'_>,
        request: &WebhookInput,
    ) -> wasmtime::Result<GuestOutcome<()>> {
        match self {
            Pre::V0_3_0(pre) => v0_3_0::on_webhook(pre, store, input, request),
            Pre::V0_1_0(_) | Pre::V0_2_0(_) => Err(wasmtime::format_err!(
                "contracts before 0.3.0 have no webhooks"
            )),
        }
    }

    /// Instantiate in `store` and call `action`; the answer is JSON text.
    pub(crate) fn action(
        &self,
        store: &mut Store<StoreState>,
        input: &HandlerInput<'_>,
        action_input: &str,
    ) -> wasmtime::Result<GuestOutcome<String>> {
        match self {
            Pre::V0_1_0(_) => Err(no_handlers()),
            Pre::V0_2_0(pre) => v0_2_0::action(pre, store, input, action_input),
            Pre::V0_3_0(pre) => v0_3_0::action(pre, store, input, action_input),
        }
    }
}

/// `invoke` checks [`Pre::has_handlers`] first; this is a guard.
fn no_handlers() -> wasmtime::Error {
    wasmtime::format_err!("contract 0.1.0 has no handlers")
}
