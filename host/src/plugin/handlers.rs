//! Handler invocations of contract 0.2.0: `on-event`, `on-schedule` and
//! `action`. Like functions they run on a fresh instance per call under the
//! memory and log limits; unlike functions they are bounded by wall clock
//! (the manifest's `deadline-ms`) rather than fuel, and they reach the CRM
//! through the host API ([`super::host_api`]) within their grants.
//!
//! ```no_run
//! use std::sync::Arc;
//! use crm_host::plugin::{Grants, HandlerContext, HostApi, Manifest, PluginRuntime, RuntimeConfig};
//!
//! # fn demo(host: Arc<dyn HostApi>) -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = PluginRuntime::new(RuntimeConfig::default())?;
//! let manifest = Manifest::parse(&std::fs::read_to_string("plugin.toml")?)?;
//! let plugin = runtime.load(&manifest, &std::fs::read("plugin.wasm")?)?;
//! let ctx = HandlerContext {
//!     tenant: "0190b6e4-0000-7000-8000-000000000000".into(),
//!     config: manifest.effective_config(&serde_json::Value::Null)?,
//!     now: "2025-03-01T09:00:00Z".into(),
//!     name: "echo".into(),
//!     grants: Grants::new(&manifest, &["kv".into()]),
//!     deadline: None,
//! };
//! let call = runtime.action(&plugin, &ctx, &serde_json::json!({"hello": 1}), host);
//! println!("{:?} in {:?}", call.result, call.stats.duration);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::Store;

use super::bindings::{EventInput, GuestOutcome, HandlerInput, Pre, WebhookInput};
use super::capabilities::Grants;
use super::host_api::{HostAccess, HostApi, HostGate};
use super::invoke::{
    Failure, Invocation, Limits, LoadedPlugin, PluginRuntime, RunStats, codes, too_large,
};
use super::manifest::ACTION_DEADLINE_MS;
use super::sandbox::StoreState;

/// What the host tells a handler about the call.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerContext {
    /// Tenant id (a UUID string).
    pub tenant: String,
    /// The effective configuration ([`super::Manifest::effective_config`]).
    pub config: Value,
    /// The host's clock, RFC 3339: handlers must not read their own.
    pub now: String,
    /// The manifest handler, schedule or action being run.
    pub name: String,
    /// What the plugin may do through the host API in this tenant.
    pub grants: Grants,
    /// Overrides the manifest's `deadline-ms`.
    pub deadline: Option<Duration>,
}

/// Which export a handler call uses.
#[derive(Clone, Copy)]
enum Entry {
    Event,
    Schedule,
    Action,
    Webhook,
}

impl Entry {
    fn table(self) -> &'static str {
        match self {
            Entry::Event => "handlers",
            Entry::Schedule => "schedules",
            Entry::Action => "actions",
            Entry::Webhook => "webhooks",
        }
    }

    fn export(self) -> &'static str {
        match self {
            Entry::Event => "on-event",
            Entry::Schedule => "on-schedule",
            Entry::Action => "action",
            Entry::Webhook => "on-webhook",
        }
    }
}

impl PluginRuntime {
    /// Run the `on-event` export for `event` (the JSON of a committed event:
    /// `id`, `kind`, `entity`, `recordId`, `payload`, `createdAt`) as handler
    /// `ctx.name`, which the manifest must declare.
    pub fn on_event(
        &self,
        plugin: &LoadedPlugin,
        ctx: &HandlerContext,
        event: &Value,
        host: Arc<dyn HostApi>,
    ) -> Invocation<()> {
        let event = event_input(event);
        self.run_handler(
            plugin,
            ctx,
            Entry::Event,
            host,
            |pre, store, input| pre.on_event(store, input, &event),
            Ok,
        )
    }

    /// Run the `on-webhook` export as webhook `ctx.name` for a queued
    /// delivery: the JSON [`crm_core::webhook::accept`] stored (`id`,
    /// `method`, `path`, `query`, `headers` as `[name, value]` pairs,
    /// `bodyBase64`, `receivedAt`).
    pub fn on_webhook(
        &self,
        plugin: &LoadedPlugin,
        ctx: &HandlerContext,
        request: &Value,
        host: Arc<dyn HostApi>,
    ) -> Invocation<()> {
        let request = match webhook_input(request) {
            Ok(r) => r,
            Err(message) => {
                return Invocation {
                    result: Err(
                        Failure::new(codes::BAD_OUTPUT, message).into_plugin_failure(plugin.id())
                    ),
                    stats: RunStats::default(),
                };
            }
        };
        self.run_handler(
            plugin,
            ctx,
            Entry::Webhook,
            host,
            |pre, store, input| pre.on_webhook(store, input, &request),
            Ok,
        )
    }

    /// Run the `on-schedule` export as schedule `ctx.name`.
    pub fn on_schedule(
        &self,
        plugin: &LoadedPlugin,
        ctx: &HandlerContext,
        host: Arc<dyn HostApi>,
    ) -> Invocation<()> {
        self.run_handler(
            plugin,
            ctx,
            Entry::Schedule,
            host,
            |pre, store, input| pre.on_schedule(store, input),
            Ok,
        )
    }

    /// Run the `action` export as action `ctx.name` with `input`; the
    /// result is the JSON the plugin answered.
    pub fn action(
        &self,
        plugin: &LoadedPlugin,
        ctx: &HandlerContext,
        input: &Value,
        host: Arc<dyn HostApi>,
    ) -> Invocation<Value> {
        let input = input.to_string();
        let limit = self.config().output_limit;
        self.run_handler(
            plugin,
            ctx,
            Entry::Action,
            host,
            |pre, store, handler| pre.action(store, handler, &input),
            |out: String| {
                if out.len() > limit {
                    return Err(too_large(out.len(), limit));
                }
                serde_json::from_str(&out).map_err(|e| {
                    Failure::new(
                        codes::BAD_OUTPUT,
                        format!("the action's result is not valid JSON ({e})"),
                    )
                })
            },
        )
    }

    fn run_handler<R, T>(
        &self,
        plugin: &LoadedPlugin,
        ctx: &HandlerContext,
        entry: Entry,
        host: Arc<dyn HostApi>,
        call: impl FnOnce(
            &Pre,
            &mut Store<StoreState>,
            &HandlerInput<'_>,
        ) -> wasmtime::Result<GuestOutcome<R>>,
        check: impl FnOnce(R) -> Result<T, Failure>,
    ) -> Invocation<T> {
        let started = Instant::now();
        let id = plugin.id();
        let records = usize::from(matches!(entry, Entry::Event | Entry::Webhook));
        let refuse = |f: Failure| Invocation {
            result: Err(f.into_plugin_failure(id)),
            stats: RunStats {
                duration: started.elapsed(),
                records,
                ..RunStats::default()
            },
        };
        if !plugin.compiled.pre.has_handlers() {
            return refuse(Failure::new(
                codes::UNSUPPORTED,
                format!(
                    "the component was built against contract crm:plugin@{}, which has no {}; \
                     rebuild it with crm_plugin_sdk::export_plugin_v0_2! and contract = \"0.2.0\"",
                    plugin.contract,
                    entry.table()
                ),
            ));
        }
        if matches!(entry, Entry::Webhook) && !plugin.compiled.pre.has_webhooks() {
            return refuse(Failure::new(
                codes::UNSUPPORTED,
                format!(
                    "the component was built against contract crm:plugin@{}, which has no \
                     webhooks; rebuild it with crm_plugin_sdk::export_plugin_v0_3! and contract = \"0.3.0\"",
                    plugin.contract
                ),
            ));
        }
        let manifest = &plugin.manifest;
        let declared = match entry {
            Entry::Event => manifest.handler(&ctx.name).map(|h| h.deadline_ms),
            Entry::Schedule => manifest.schedule(&ctx.name).map(|s| s.deadline_ms),
            Entry::Action => manifest.action(&ctx.name).map(|_| ACTION_DEADLINE_MS),
            Entry::Webhook => manifest.webhook(&ctx.name).map(|w| w.deadline_ms),
        };
        let Some(deadline_ms) = declared else {
            return refuse(Failure::new(
                codes::NOT_DECLARED,
                format!(
                    "plugin.toml declares no [[{}]] entry named {:?}",
                    entry.table(),
                    ctx.name
                ),
            ));
        };

        let cfg = self.config();
        let limits = Limits {
            deadline: ctx.deadline.unwrap_or(Duration::from_millis(deadline_ms)),
            deadline_hint: if ctx.deadline.is_some() {
                ""
            } else {
                " (deadline-ms in plugin.toml)"
            },
            fuel: cfg.handler_fuel,
            fuel_hint: " (handler_fuel of the runtime configuration)".to_owned(),
        };
        let config = ctx.config.to_string();
        let input = HandlerInput {
            tenant: &ctx.tenant,
            config: &config,
            now: &ctx.now,
            name: &ctx.name,
        };
        let access = HostAccess::Handler(HostGate {
            plugin: id.to_owned(),
            grants: ctx.grants.clone(),
            api: host,
            deadline: started + limits.deadline,
            http_body_limit: cfg.http_body_limit,
            http_requests_left: std::cell::Cell::new(cfg.http_requests_per_run),
        });
        let ran = self.call_guest(plugin, &limits, access, |pre, store| {
            call(pre, store, &input)
        });
        let mut log = ran.log;
        if ran.result.is_err() {
            // Name the entry point in the log too: the run record's error
            // says what failed, the log says where.
            log.push(format!("[host] {} {:?} failed", entry.export(), ctx.name));
        }
        Invocation {
            result: ran
                .result
                .and_then(check)
                .map_err(|f| f.into_plugin_failure(id)),
            stats: RunStats {
                duration: started.elapsed(),
                fuel_used: ran.fuel_used,
                log,
                records,
            },
        }
    }
}

/// The guest's view of an event, from the host's JSON of it. Missing
/// fields are empty: the host builds this JSON, not a plugin.
fn event_input(event: &Value) -> EventInput {
    let text = |key: &str| match event.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let record_id = Some(text("recordId")).filter(|s| !s.is_empty());
    EventInput {
        id: text("id"),
        kind: text("kind"),
        entity: text("entity"),
        record_id,
        payload: event.get("payload").unwrap_or(&Value::Null).to_string(),
        created_at: text("createdAt"),
    }
}

/// The guest's view of a queued delivery, from the JSON the host stored.
fn webhook_input(request: &Value) -> Result<WebhookInput, String> {
    use base64::Engine;
    let text = |key: &str| request[key].as_str().unwrap_or_default().to_owned();
    let headers = request["headers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| {
                    Some((
                        pair.get(0)?.as_str()?.to_owned(),
                        pair.get(1)?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let body = base64::engine::general_purpose::STANDARD
        .decode(request["bodyBase64"].as_str().unwrap_or_default())
        .map_err(|e| format!("the queued webhook request's body is not base64: {e}"))?;
    Ok(WebhookInput {
        id: text("id"),
        method: text("method"),
        path: text("path"),
        query: text("query"),
        headers,
        body,
        received_at: text("receivedAt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_the_guest_as_sent() {
        let e = event_input(&serde_json::json!({
            "id": "e1", "kind": "contact.created", "entity": "contact",
            "recordId": "c1", "payload": {"a": 1}, "createdAt": "2025-01-01T00:00:00.000Z", "seq": 7
        }));
        assert_eq!(e.kind, "contact.created");
        assert_eq!(e.record_id.as_deref(), Some("c1"));
        assert_eq!(e.payload, r#"{"a":1}"#);
        let e = event_input(&serde_json::json!({"kind": "plugin.x.tick", "recordId": null}));
        assert_eq!(e.record_id, None);
        assert_eq!(e.payload, "null");
        assert_eq!(e.id, "");
    }
}
