//! Bindings for contract `crm:plugin@0.3.0` (`sdk/wit/since_v0.3.0`):
//! everything of 0.2.0 plus outbound HTTP for handlers (`http.fetch`),
//! which [`crate::plugin::host_api::http`] serves, and webhooks
//! (`handlers.on-webhook`).
//!
//! Released contracts never change, so neither does what this module does.

use semver::Version;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use super::{EventInput, GuestError, GuestOutcome, HandlerInput, RawDecision, WebhookInput};
use crate::plugin::host_api::{self, config, events, graphql, http, kv};
use crate::plugin::sandbox::StoreState;
use crm_core::plugin_api::{PluginFieldError, ScoreValue};

wasmtime::component::bindgen!({
    path: "../sdk/wit/since_v0.3.0",
    world: "plugin",
});

pub(crate) const VERSION: Version = Version::new(0, 3, 0);

super::common::since_v0_2!();

impl crm::plugin::http::Host for StoreState {
    fn fetch(
        &mut self,
        request: crm::plugin::http::Request,
    ) -> Result<crm::plugin::http::Response, types::HostError> {
        let request = http::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request
                .timeout_ms
                .map(|ms| std::time::Duration::from_millis(u64::from(ms))),
        };
        http::fetch(self, request)
            .map(|r| crm::plugin::http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(wit_error)
    }
}

pub(crate) fn on_webhook(
    pre: &PluginPre<StoreState>,
    store: &mut Store<StoreState>,
    input: &HandlerInput<'_>,
    request: &WebhookInput,
) -> wasmtime::Result<GuestOutcome<()>> {
    let plugin = pre.instantiate(&mut *store)?;
    let request = types::WebhookRequest {
        id: request.id.clone(),
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
        received_at: request.received_at.clone(),
    };
    let out = plugin.crm_plugin_handlers().call_on_webhook(
        &mut *store,
        &handler_context(input),
        &request,
    )?;
    Ok(out.map_err(guest_error))
}
