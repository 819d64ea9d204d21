//! Write CRM plugins in Rust.
//!
//! A plugin is a WebAssembly component plus a `plugin.toml` manifest. This
//! crate is the only dependency a plugin needs: implement [`Plugin`] (every
//! method has a default), register the type with [`export_plugin_v0_3!`]
//! (contract 0.3.0: functions, handlers, the [`host`] API and outbound
//! [`http`]), [`export_plugin_v0_2!`] (contract 0.2.0: the same without
//! `http`) or [`export_plugin!`] (contract 0.1.0: functions only), and build with
//! `cargo build --target wasm32-wasip2 --release`.
//!
//! ```
//! use crm_plugin_sdk::{models::Contact, Context, Error, Plugin, Record, Score};
//!
//! struct TitleScore;
//!
//! impl Plugin for TitleScore {
//!     fn new() -> Self {
//!         TitleScore
//!     }
//!
//!     fn score(&self, _ctx: &Context, record: &Record) -> Result<Vec<Score>, Error> {
//!         let contact: Contact = record.parse()?;
//!         let senior = contact.title.is_some_and(|t| t.contains("VP"));
//!         Ok(vec![Score::new("lead", if senior { 80 } else { 20 })])
//!     }
//! }
//!
//! crm_plugin_sdk::export_plugin!(TitleScore);
//!
//! // Rules are unit-tested natively with the harness:
//! let scores = crm_plugin_sdk::testing::Harness::<TitleScore>::new()
//!     .score(serde_json::json!({ "title": "VP Sales" }));
//! assert_eq!(scores[0].value, 80);
//! ```
//!
//! Handlers react to events, run on schedules or serve actions, and reach the
//! CRM through [`host`]; the harness runs them against a
//! [`testing::FakeHost`]:
//!
//! ```
//! use crm_plugin_sdk::{host, testing::{FakeHost, Harness}, Error, Event, HandlerContext, Plugin};
//! use serde_json::json;
//!
//! struct Welcome;
//!
//! impl Plugin for Welcome {
//!     fn new() -> Self {
//!         Welcome
//!     }
//!
//!     fn on_event(&self, ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
//!         let due = ctx.now_plus(std::time::Duration::from_secs(86_400))?;
//!         host::mutate(
//!             "mutation($i: TaskInput!) { createTask(input: $i) { id } }",
//!             json!({ "i": { "title": "Welcome call", "recordEntity": "CONTACT",
//!                            "recordId": event.record_id, "dueAt": due } }),
//!         )?;
//!         Ok(())
//!     }
//! }
//!
//! crm_plugin_sdk::export_plugin_v0_2!(Welcome);
//!
//! let fake = FakeHost::new();
//! Harness::<Welcome>::new()
//!     .with_host(&fake)
//!     .now("2025-03-01T09:00:00Z")
//!     .on_event(Event::new("contact.created", json!({})).with_record_id("c1"));
//! let task = &fake.mutations_containing("createTask")[0].variables["i"];
//! assert_eq!(task["dueAt"], "2025-03-02T09:00:00Z");
//! ```
//!
//! The contracts are `crm:plugin@0.1.0` (`wit/since_v0.1.0/plugin.wit`),
//! `crm:plugin@0.2.0` (`wit/since_v0.2.0/plugin.wit`) and
//! `crm:plugin@0.3.0` (`wit/since_v0.3.0/plugin.wit`). See the crate README
//! for the manifest format, capabilities, limits and failure policies.

#[doc(hidden)]
#[path = "glue/mod.rs"]
pub mod __private;
pub mod alloc;
pub mod bindings;
mod context;
mod decision;
mod error;
mod handler;
pub mod host;
pub mod http;
pub mod log;
pub mod models;
mod score;
pub mod testing;
#[cfg(test)]
mod tests;
pub mod time;
mod webhook;

pub use context::{Context, Record};
pub use decision::{Decision, FieldError, FieldPatch};
pub use error::Error;
pub use handler::{Event, HandlerContext};
pub use score::Score;
pub use webhook::WebhookRequest;

/// The data-cleaning rules the host uses too (E.164 phones, e-mails, names),
/// so a plugin normalises exactly as the CRM does.
///
/// ```
/// let tidy = crm_plugin_sdk::normalize::name::tidy_person_name("  li   lei ");
/// assert!(!tidy.starts_with(' '));
/// ```
pub use crm_normalize as normalize;

/// The `crm:plugin` contract version [`export_plugin!`] builds components
/// against; write it as `contract` in `plugin.toml`.
///
/// ```
/// assert_eq!(crm_plugin_sdk::CONTRACT_VERSION, "0.1.0");
/// ```
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The `crm:plugin` contract version [`export_plugin_v0_2!`] builds
/// components against; write it as `contract` in `plugin.toml`.
///
/// ```
/// assert_eq!(crm_plugin_sdk::CONTRACT_VERSION_V0_2, "0.2.0");
/// ```
pub const CONTRACT_VERSION_V0_2: &str = "0.2.0";

/// The `crm:plugin` contract version [`export_plugin_v0_3!`] builds
/// components against; write it as `contract` in `plugin.toml`.
///
/// ```
/// assert_eq!(crm_plugin_sdk::CONTRACT_VERSION_V0_3, "0.3.0");
/// ```
pub const CONTRACT_VERSION_V0_3: &str = "0.3.0";

/// A plugin: pure functions the host calls before a write (`validate`) and
/// after one (`score`), and effectful handlers it runs from its job queue
/// (`on_event`, `on_schedule`, `action`; contract 0.2.0).
///
/// Implement the per-record methods; the batch methods loop over them.
/// Override a batch method to do per-call work once (read the configuration,
/// build a lookup table). The host creates a fresh instance for every call, so
/// nothing survives from one call to the next: handlers keep what must last
/// in [`host::kv`].
///
/// ```
/// use crm_plugin_sdk::{Context, Decision, Error, FieldError, Plugin, Record};
///
/// struct NoGmail;
///
/// impl Plugin for NoGmail {
///     fn new() -> Self {
///         NoGmail
///     }
///
///     fn validate(&self, _ctx: &Context, record: &Record) -> Result<Decision, Error> {
///         match record.get("email").and_then(|v| v.as_str()) {
///             Some(e) if e.ends_with("@gmail.com") => Ok(Decision::reject(FieldError::new(
///                 "email",
///                 "PERSONAL_EMAIL",
///                 "use a work address",
///             ))),
///             _ => Ok(Decision::Accept),
///         }
///     }
/// }
///
/// let harness = crm_plugin_sdk::testing::Harness::<NoGmail>::new();
/// assert!(harness.validate(serde_json::json!({ "email": "x@gmail.com" })).is_reject());
/// ```
pub trait Plugin {
    /// A new instance, created for every call.
    ///
    /// ```
    /// # use crm_plugin_sdk::Plugin;
    /// struct Noop;
    /// impl Plugin for Noop {
    ///     fn new() -> Self {
    ///         Noop
    ///     }
    /// }
    /// ```
    fn new() -> Self
    where
        Self: Sized;

    /// Accept, patch or reject one candidate record (the record as it is
    /// about to be written, in the GraphQL shape; `id` is present on update).
    /// Defaults to accepting.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Decision, Error, Plugin, Record};
    /// struct Upper;
    /// impl Plugin for Upper {
    ///     fn new() -> Self {
    ///         Upper
    ///     }
    ///     fn validate(&self, _ctx: &Context, record: &Record) -> Result<Decision, Error> {
    ///         Ok(match record.get("country").and_then(|v| v.as_str()) {
    ///             Some(c) if c != c.to_uppercase() => {
    ///                 Decision::patch("country", c.to_uppercase().into())
    ///             }
    ///             _ => Decision::Accept,
    ///         })
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call (see [`Error`]).
    fn validate(&self, _ctx: &Context, _record: &Record) -> Result<Decision, Error> {
        Ok(Decision::Accept)
    }

    /// The scores of one record (the JSON result of the function's input
    /// query). Defaults to no scores.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Error, Plugin, Record, Score};
    /// struct Constant;
    /// impl Plugin for Constant {
    ///     fn new() -> Self {
    ///         Constant
    ///     }
    ///     fn score(&self, _ctx: &Context, _record: &Record) -> Result<Vec<Score>, Error> {
    ///         Ok(vec![Score::new("constant", 50).with_reason("always 50")])
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call (see [`Error`]).
    fn score(&self, _ctx: &Context, _record: &Record) -> Result<Vec<Score>, Error> {
        Ok(Vec::new())
    }

    /// Validate a batch; the result is parallel to `records`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Decision, Error, FieldError, Plugin, Record};
    /// struct Required;
    /// impl Plugin for Required {
    ///     fn new() -> Self {
    ///         Required
    ///     }
    ///     fn validate_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Decision>, Error> {
    ///         // Read the configuration once per call, not once per record.
    ///         let field = ctx.config_value()["field"].as_str().unwrap_or("email");
    ///         Ok(records
    ///             .iter()
    ///             .map(|r| match r.get(field) {
    ///                 Some(v) if !v.is_null() => Decision::Accept,
    ///                 _ => Decision::reject(FieldError::new(field, "REQUIRED", "is required")),
    ///             })
    ///             .collect())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call.
    fn validate_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Decision>, Error> {
        records.iter().map(|r| self.validate(ctx, r)).collect()
    }

    /// Score a batch; the result is parallel to `records`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Error, Plugin, Record, Score};
    /// struct Batched;
    /// impl Plugin for Batched {
    ///     fn new() -> Self {
    ///         Batched
    ///     }
    ///     fn score_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Vec<Score>>, Error> {
    ///         let base = ctx.config_value()["base"].as_u64().unwrap_or(10); // once per call
    ///         Ok(records.iter().map(|_| vec![Score::from_points("base", base as i64)]).collect())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call.
    fn score_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Vec<Score>>, Error> {
        records.iter().map(|r| self.score(ctx, r)).collect()
    }

    /// A committed event the plugin subscribed to (a manifest
    /// `[[handlers]]` entry whose `events` match `event.kind`; `ctx.name()`
    /// is the handler's name). Runs after the commit, at least once: make it
    /// idempotent (remember `event.id` in [`host::kv`]). Defaults to doing
    /// nothing. Contract 0.2.0.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Error, Event, HandlerContext, Plugin};
    /// struct Audit;
    /// impl Plugin for Audit {
    ///     fn new() -> Self {
    ///         Audit
    ///     }
    ///     fn on_event(&self, _ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
    ///         crm_plugin_sdk::log::info(&format!("{} on {:?}", event.kind, event.record_id));
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the run; the host retries it with backoff.
    fn on_event(&self, _ctx: &HandlerContext, _event: &Event) -> Result<(), Error> {
        Ok(())
    }

    /// A manifest `[[schedules]]` entry fired for a tenant (`ctx.name()` is
    /// the schedule's name, `ctx.now()` the time it fired). Defaults to doing
    /// nothing. Contract 0.2.0.
    ///
    /// ```
    /// # use crm_plugin_sdk::{host, Error, HandlerContext, Plugin};
    /// struct Nightly;
    /// impl Plugin for Nightly {
    ///     fn new() -> Self {
    ///         Nightly
    ///     }
    ///     fn on_schedule(&self, ctx: &HandlerContext) -> Result<(), Error> {
    ///         host::kv::set("last-run", ctx.now())?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the run; the host retries it with backoff.
    fn on_schedule(&self, _ctx: &HandlerContext) -> Result<(), Error> {
        Ok(())
    }

    /// A manifest `[[actions]]` entry invoked through `runPluginAction`
    /// (`ctx.name()` is the action's name); returns the action's JSON result.
    /// Defaults to failing with `UNKNOWN_ACTION`. Contract 0.2.0.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Error, HandlerContext, Plugin};
    /// # use serde_json::{json, Value};
    /// struct Echo;
    /// impl Plugin for Echo {
    ///     fn new() -> Self {
    ///         Echo
    ///     }
    ///     fn action(&self, ctx: &HandlerContext, input: &Value) -> Result<Value, Error> {
    ///         match ctx.name() {
    ///             "echo" => Ok(json!({ "echo": input })),
    ///             other => Err(Error::new("UNKNOWN_ACTION", format!("unknown action {other:?}"))),
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the action; the caller gets it as `PLUGIN_FAILED`.
    fn action(
        &self,
        ctx: &HandlerContext,
        _input: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        Err(Error::new(
            "UNKNOWN_ACTION",
            format!("unknown action {:?}", ctx.name()),
        ))
    }

    /// A manifest `[[webhooks]]` entry received a request (`ctx.name()` is
    /// the webhook's name), delivered from the job queue after the sender
    /// was answered. Defaults to failing with `UNKNOWN_WEBHOOK`. Contract
    /// 0.3.0.
    ///
    /// ```
    /// # use crm_plugin_sdk::{host, Error, HandlerContext, Plugin, WebhookRequest};
    /// struct StockSync;
    /// impl Plugin for StockSync {
    ///     fn new() -> Self {
    ///         StockSync
    ///     }
    ///     fn on_webhook(&self, _ctx: &HandlerContext, request: &WebhookRequest) -> Result<(), Error> {
    ///         let change = request.json()?;
    ///         host::emit("stock_changed", change)?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the delivery's run; the CRM retries it with
    /// backoff (the same `request.id` each time), then dead-letters it.
    fn on_webhook(&self, ctx: &HandlerContext, _request: &WebhookRequest) -> Result<(), Error> {
        Err(Error::new(
            "UNKNOWN_WEBHOOK",
            format!("unknown webhook {:?}", ctx.name()),
        ))
    }
}

/// Export a [`Plugin`] implementation as a component of contract 0.1.0:
/// `crm:plugin/functions@0.1.0` (`validate`, `score`). Handlers are not
/// exported and [`host`] calls fail with `UNSUPPORTED`; use
/// [`export_plugin_v0_2!`] for those.
///
/// Use it once, at the root of the plugin crate (`crate-type = ["cdylib", "rlib"]`).
/// Natively (in `cargo test`) it only type-checks; the exports exist in the
/// `wasm32` build.
///
/// ```
/// use crm_plugin_sdk::Plugin;
///
/// struct Hello;
///
/// impl Plugin for Hello {
///     fn new() -> Self {
///         Hello
///     }
/// }
///
/// crm_plugin_sdk::export_plugin!(Hello);
/// ```
// rustfmt cannot parse `with_types_in` and would misplace that line.
#[rustfmt::skip]
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::v0_1::exports::crm::plugin::functions as __wit;

            // Only constructed by the wasm exports.
            #[allow(dead_code)]
            struct __CrmPluginExport;

            impl __wit::Guest for __CrmPluginExport {
                fn validate(
                    ctx: __wit::CallContext,
                    records: ::std::vec::Vec<__wit::Json>,
                ) -> ::core::result::Result<::std::vec::Vec<__wit::Decision>, __wit::PluginError>
                {
                    $crate::__private::v0_1::validate::<$plugin>(ctx, records)
                }

                fn score(
                    ctx: __wit::CallContext,
                    records: ::std::vec::Vec<__wit::Json>,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<::std::vec::Vec<__wit::ScoreValue>>,
                    __wit::PluginError,
                > {
                    $crate::__private::v0_1::score::<$plugin>(ctx, records)
                }
            }

            #[cfg(target_arch = "wasm32")]
            $crate::bindings::v0_1::export!(__CrmPluginExport with_types_in $crate::bindings::v0_1);
        };
    };
}

/// Export a [`Plugin`] implementation as a component of contract 0.2.0:
/// `crm:plugin/functions@0.2.0` (`validate`, `score`) and
/// `crm:plugin/handlers@0.2.0` (`on-event`, `on-schedule`, `action`), with
/// the [`host`] API. Write `contract = "0.2.0"` in `plugin.toml`.
///
/// Use it once, at the root of the plugin crate (`crate-type = ["cdylib", "rlib"]`).
/// Natively (in `cargo test`) it only type-checks; the exports exist in the
/// `wasm32` build.
///
/// ```
/// use crm_plugin_sdk::{Error, Event, HandlerContext, Plugin};
///
/// struct Listener;
///
/// impl Plugin for Listener {
///     fn new() -> Self {
///         Listener
///     }
///
///     fn on_event(&self, _ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
///         crm_plugin_sdk::log::info(&event.kind);
///         Ok(())
///     }
/// }
///
/// crm_plugin_sdk::export_plugin_v0_2!(Listener);
/// ```
#[macro_export]
macro_rules! export_plugin_v0_2 {
    ($plugin:ty) => {
        $crate::__export_since_v0_2!($plugin, v0_2, {});
    };
}

/// Export a [`Plugin`] implementation as a component of contract 0.3.0:
/// everything of [`export_plugin_v0_2!`] plus outbound HTTP for handlers
/// ([`http`]) and webhooks ([`Plugin::on_webhook`]). Write
/// `contract = "0.3.0"` in `plugin.toml`, list the origins handlers call
/// under `[capabilities] http` and the webhooks under `[[webhooks]]`.
///
/// Use it once, at the root of the plugin crate (`crate-type = ["cdylib", "rlib"]`).
/// Natively (in `cargo test`) it only type-checks; the exports exist in the
/// `wasm32` build.
///
/// ```
/// use crm_plugin_sdk::{http, Error, Event, HandlerContext, Plugin};
///
/// struct ErpSync;
///
/// impl Plugin for ErpSync {
///     fn new() -> Self {
///         ErpSync
///     }
///
///     fn on_event(&self, ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
///         let base = ctx.config_value()["erpUrl"].as_str().unwrap_or("https://erp.example.com");
///         http::Request::post(format!("{base}/orders"))
///             .header("idempotency-key", &event.id)
///             .json(&event.payload)
///             .send()?
///             .error_for_status()?;
///         Ok(())
///     }
/// }
///
/// crm_plugin_sdk::export_plugin_v0_3!(ErpSync);
/// ```
#[macro_export]
macro_rules! export_plugin_v0_3 {
    ($plugin:ty) => {
        $crate::__export_since_v0_2!($plugin, v0_3, {
            fn on_webhook(
                ctx: __hds::HandlerContext,
                request: __hds::WebhookRequest,
            ) -> ::core::result::Result<(), __hds::PluginError> {
                $crate::__private::v0_3::on_webhook::<$plugin>(ctx, request)
            }
        });
    };
}

/// The exports of contract 0.2.0 and later (`functions`, `handlers`), whose
/// shapes are the same in each, for bindings module `$v`; `$extra` adds the
/// handler exports a version adds.
// rustfmt cannot parse `with_types_in` and would misplace that line.
#[doc(hidden)]
#[rustfmt::skip]
#[macro_export]
macro_rules! __export_since_v0_2 {
    ($plugin:ty, $v:ident, { $($extra:tt)* }) => {
        const _: () = {
            use $crate::bindings::$v::exports::crm::plugin::functions as __fns;
            use $crate::bindings::$v::exports::crm::plugin::handlers as __hds;

            // Only constructed by the wasm exports.
            #[allow(dead_code)]
            struct __CrmPluginExport;

            impl __fns::Guest for __CrmPluginExport {
                fn validate(
                    ctx: __fns::CallContext,
                    records: ::std::vec::Vec<__fns::Json>,
                ) -> ::core::result::Result<::std::vec::Vec<__fns::Decision>, __fns::PluginError>
                {
                    $crate::__private::$v::validate::<$plugin>(ctx, records)
                }

                fn score(
                    ctx: __fns::CallContext,
                    records: ::std::vec::Vec<__fns::Json>,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<::std::vec::Vec<__fns::ScoreValue>>,
                    __fns::PluginError,
                > {
                    $crate::__private::$v::score::<$plugin>(ctx, records)
                }
            }

            impl __hds::Guest for __CrmPluginExport {
                fn on_event(
                    ctx: __hds::HandlerContext,
                    event: __hds::Event,
                ) -> ::core::result::Result<(), __hds::PluginError> {
                    $crate::__private::$v::on_event::<$plugin>(ctx, event)
                }

                fn on_schedule(
                    ctx: __hds::HandlerContext,
                ) -> ::core::result::Result<(), __hds::PluginError> {
                    $crate::__private::$v::on_schedule::<$plugin>(ctx)
                }

                fn action(
                    ctx: __hds::HandlerContext,
                    input: __hds::Json,
                ) -> ::core::result::Result<__hds::Json, __hds::PluginError> {
                    $crate::__private::$v::action::<$plugin>(ctx, input)
                }

                $($extra)*
            }

            #[cfg(target_arch = "wasm32")]
            $crate::bindings::$v::export!(__CrmPluginExport with_types_in $crate::bindings::$v);
        };
    };
}
