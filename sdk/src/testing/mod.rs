//! A native harness to unit-test a plugin's rules with plain `cargo test`.
//!
//! The harness drives a [`Plugin`] the way the host does, through the same
//! glue the component exports (records serialised to JSON text and parsed
//! again, one fresh instance per call), but natively, so a test is a normal
//! Rust test and a failure has a normal backtrace.
//!
//! ```
//! use crm_plugin_sdk::{testing::Harness, Context, Error, Plugin, Record, Score};
//! use serde_json::json;
//!
//! struct Fixed;
//! impl Plugin for Fixed {
//!     fn new() -> Self {
//!         Fixed
//!     }
//!     fn score(&self, ctx: &Context, _record: &Record) -> Result<Vec<Score>, Error> {
//!         let value = ctx.config_value()["value"].as_u64().unwrap_or(0);
//!         Ok(vec![Score::from_points("fixed", value as i64)])
//!     }
//! }
//!
//! let harness = Harness::<Fixed>::new().config(json!({ "value": 42 }));
//! assert_eq!(harness.score(json!({}))[0].value, 42);
//! ```
//!
//! With the `testing` feature (enable it on the dev-dependency),
//! [`Harness::from_manifest`] starts from the defaults of the plugin's own
//! `plugin.toml`, so tests exercise the configuration operators get.
//!
//! Handlers (contract 0.2.0) run the same way, with a [`FakeHost`] behind
//! [`crate::host`]: it answers queries from canned responses and records
//! mutations, key-value writes and emitted events for the test to check.
//!
//! ```
//! use crm_plugin_sdk::{host, testing::{FakeHost, Harness}, Error, Event, HandlerContext, Plugin};
//! use serde_json::json;
//!
//! struct Counter;
//! impl Plugin for Counter {
//!     fn new() -> Self {
//!         Counter
//!     }
//!     fn on_event(&self, _ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
//!         let key = format!("count:{}", event.kind);
//!         let n: u32 = host::kv::get(&key)?.and_then(|v| v.parse().ok()).unwrap_or(0);
//!         host::kv::set(&key, &(n + 1).to_string())?;
//!         Ok(())
//!     }
//! }
//!
//! let fake = FakeHost::new();
//! let harness = Harness::<Counter>::new().with_host(&fake);
//! harness.on_event(Event::new("deal.won", json!({})));
//! harness.on_event(Event::new("deal.won", json!({})));
//! assert_eq!(fake.kv("count:deal.won").as_deref(), Some("2"));
//! ```

mod fake_host;

use std::fmt;
use std::marker::PhantomData;

use serde_json::{Map, Value};

pub use self::fake_host::{Emitted, FakeHost, HostCall};
use crate::__private::{action_input, event, handler_context, prepare, run_score, run_validate};
use crate::{Context, Decision, Error, Event, HandlerContext, Plugin, Score, WebhookRequest};

/// Runs a plugin natively with a given tenant, entity and configuration.
///
/// The defaults are a nil tenant id, entity `contact`, an empty
/// configuration (`{}`, so a plugin's own serde defaults apply), the clock at
/// `2025-01-01T00:00:00Z` and a fresh [`FakeHost`].
///
/// ```
/// use crm_plugin_sdk::{testing::Harness, Plugin};
/// use serde_json::json;
///
/// struct Accepting;
/// impl Plugin for Accepting {
///     fn new() -> Self {
///         Accepting
///     }
/// }
///
/// let decisions = Harness::<Accepting>::new()
///     .entity("company")
///     .validate_batch(vec![json!({ "name": "Acme" }), json!({ "name": "Globex" })]);
/// assert!(decisions.iter().all(|d| d.is_accept()));
/// ```
pub struct Harness<P> {
    tenant: String,
    entity: String,
    function: Option<String>,
    config: Map<String, Value>,
    now: String,
    host: FakeHost,
    plugin: PhantomData<fn() -> P>,
}

impl<P> fmt::Debug for Harness<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("tenant", &self.tenant)
            .field("entity", &self.entity)
            .field("function", &self.function)
            .field("config", &self.config)
            .field("now", &self.now)
            .field("host", &self.host)
            .finish()
    }
}

impl<P: Plugin> Default for Harness<P> {
    fn default() -> Self {
        Self {
            tenant: "00000000-0000-0000-0000-000000000000".into(),
            entity: "contact".into(),
            function: None,
            config: Map::new(),
            now: "2025-01-01T00:00:00Z".into(),
            host: FakeHost::new(),
            plugin: PhantomData,
        }
    }
}

impl<P: Plugin> Harness<P> {
    /// A harness with the defaults described on [`Harness`].
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let harness = Harness::<P>::new();
    /// assert_eq!(harness.context().entity(), "contact");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A harness whose configuration is the `[config.*].default` values of a
    /// `plugin.toml`, and whose entity is the first entity of its first
    /// function (and, from contract 0.2.0 on, whose function is that
    /// function's name). Requires the `testing` feature.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let manifest = r#"
    ///     id = "demo"
    ///     version = "0.1.0"
    ///     contract = "0.1.0"
    ///     component = "demo.wasm"
    ///
    ///     [[functions]]
    ///     name = "demo"
    ///     kind = "score"
    ///     entities = ["company"]
    ///     input = "{ name }"
    ///
    ///     [config.grade-a]
    ///     type = "integer"
    ///     default = 70
    /// "#;
    /// let harness = Harness::<P>::from_manifest(manifest);
    /// assert_eq!(harness.context().config_value()["grade-a"], 70);
    /// assert_eq!(harness.context().entity(), "company");
    /// ```
    ///
    /// # Panics
    /// When the manifest is not TOML or a default does not match its `type`:
    /// the test should fail, the manifest is wrong.
    #[cfg(feature = "testing")]
    pub fn from_manifest(manifest: &str) -> Self {
        let table: toml::Table = match manifest.parse() {
            Ok(t) => t,
            Err(e) => panic!("plugin.toml is not valid TOML: {e}"),
        };
        let mut harness = Self::new();
        let first = table.get("functions").and_then(|f| f.get(0));
        if let Some(entity) = first
            .and_then(|f| f.get("entities"))
            .and_then(|e| e.get(0))
            .and_then(|e| e.as_str())
        {
            harness.entity = entity.to_owned();
        }
        // Contract 0.1.0 does not tell a function its name.
        let contract = table.get("contract").and_then(toml::Value::as_str);
        if contract.is_some_and(|c| c != "0.1.0") {
            harness.function = first
                .and_then(|f| f.get("name"))
                .and_then(toml::Value::as_str)
                .map(str::to_owned);
        }
        let config = table.get("config").and_then(toml::Value::as_table);
        for (key, schema) in config.into_iter().flatten() {
            if let Some(default) = schema.get("default") {
                let ty = schema
                    .get("type")
                    .and_then(toml::Value::as_str)
                    .unwrap_or("");
                if let Err(problem) = check_default(ty, schema, default) {
                    panic!("plugin.toml [config.{key}]: {problem}");
                }
                harness.config.insert(key.clone(), toml_to_json(default));
            }
        }
        harness
    }

    /// Merge `overrides` (a JSON object) over the configuration, key by key,
    /// as a tenant's settings are merged over the manifest's defaults.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # use serde_json::json;
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let harness = Harness::<P>::new()
    ///     .config(json!({ "grade-a": 70, "grade-b": 40 }))
    ///     .config(json!({ "grade-a": 90 }));
    /// assert_eq!(harness.context().config_value(), &json!({ "grade-a": 90, "grade-b": 40 }));
    /// ```
    ///
    /// # Panics
    /// When `overrides` is not a JSON object.
    pub fn config(mut self, overrides: Value) -> Self {
        match overrides {
            Value::Object(map) => self.config.extend(map),
            other => panic!("Harness::config takes a JSON object, got {other}"),
        }
        self
    }

    /// Set the entity the records are of (`contact` by default).
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert_eq!(Harness::<P>::new().entity("deal").context().entity(), "deal");
    /// ```
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.entity = entity.into();
        self
    }

    /// Set the tenant id.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert_eq!(Harness::<P>::new().tenant("t1").context().tenant(), "t1");
    /// ```
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Set the name of the function being called, as contract 0.2.0 tells it
    /// (unset by default, as under 0.1.0).
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert_eq!(Harness::<P>::new().function("lead").context().function(), Some("lead"));
    /// ```
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.function = Some(name.into());
        self
    }

    /// Set the host's clock handlers see (RFC 3339).
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let ctx = Harness::<P>::new().now("2025-06-01T08:00:00Z").handler_context("daily");
    /// assert_eq!(ctx.now(), "2025-06-01T08:00:00Z");
    /// ```
    pub fn now(mut self, now: impl Into<String>) -> Self {
        self.now = now.into();
        self
    }

    /// Run handlers against `host` (a handle: the test keeps its clone to
    /// set answers and check what the plugin did).
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::{FakeHost, Harness}, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let fake = FakeHost::new();
    /// let harness = Harness::<P>::new().with_host(&fake);
    /// fake.set_kv("k", "v");
    /// assert_eq!(harness.host().kv("k").as_deref(), Some("v"));
    /// ```
    pub fn with_host(mut self, host: &FakeHost) -> Self {
        self.host = host.clone();
        self
    }

    /// The fake host handlers run against.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().host().mutations().is_empty());
    /// ```
    pub fn host(&self) -> &FakeHost {
        &self.host
    }

    /// The [`Context`] the plugin sees, e.g. to call a rule function directly.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let ctx = Harness::<P>::new().config(serde_json::json!({ "x": 1 })).context();
    /// assert_eq!(ctx.config_value()["x"], 1);
    /// ```
    pub fn context(&self) -> Context {
        let ctx = Context::new(
            self.tenant.clone(),
            self.entity.clone(),
            Value::Object(self.config.clone()),
        );
        match &self.function {
            Some(name) => ctx.with_function(name.clone()),
            None => ctx,
        }
    }

    /// The [`HandlerContext`] a handler named `name` sees.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let ctx = Harness::<P>::new().tenant("t1").handler_context("daily");
    /// assert_eq!((ctx.tenant(), ctx.name()), ("t1", "daily"));
    /// ```
    pub fn handler_context(&self, name: &str) -> HandlerContext {
        HandlerContext::new(
            self.tenant.clone(),
            Value::Object(self.config.clone()),
            self.now.clone(),
            name,
        )
    }

    /// Deliver `event` to [`Plugin::on_event`] (as handler `on-event`; see
    /// [`Harness::on_event_as`] to name it), with the fake host. An event
    /// without `created_at` gets the harness's clock.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Event, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// Harness::<P>::new().on_event(Event::new("contact.created", serde_json::json!({})));
    /// ```
    ///
    /// # Panics
    /// When the handler fails; use [`Harness::try_on_event`] to test failures.
    pub fn on_event(&self, event: Event) {
        self.try_on_event(event)
            .unwrap_or_else(|e| panic!("on_event failed: {e}"));
    }

    /// Deliver `event` to [`Plugin::on_event`], returning the handler's error.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Event, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_on_event(Event::new("x.y", serde_json::json!({}))).is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the handler (or the SDK glue) returned.
    pub fn try_on_event(&self, event: Event) -> Result<(), Error> {
        self.try_on_event_as("on-event", event)
    }

    /// Deliver `event` to [`Plugin::on_event`] as the manifest handler `name`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Event, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// Harness::<P>::new().on_event_as("health-on-ticket", Event::new("ticket.created", serde_json::json!({})));
    /// ```
    ///
    /// # Panics
    /// When the handler fails.
    pub fn on_event_as(&self, name: &str, event: Event) {
        self.try_on_event_as(name, event)
            .unwrap_or_else(|e| panic!("on_event failed: {e}"));
    }

    /// Deliver `event` to [`Plugin::on_event`] as the manifest handler
    /// `name`, returning the handler's error.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Event, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_on_event_as("h", Event::new("x.y", serde_json::json!({}))).is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the handler (or the SDK glue) returned.
    pub fn try_on_event_as(&self, name: &str, e: Event) -> Result<(), Error> {
        let created_at = if e.created_at.is_empty() {
            self.now.clone()
        } else {
            e.created_at
        };
        let payload = e.payload.to_string();
        self.run_handler(name, |ctx| {
            let e = event(e.id, e.kind, e.entity, e.record_id, &payload, created_at)?;
            P::new().on_event(&ctx, &e)
        })
    }

    /// Fire the schedule `name` ([`Plugin::on_schedule`]), with the fake host.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// Harness::<P>::new().on_schedule("daily");
    /// ```
    ///
    /// # Panics
    /// When the handler fails; use [`Harness::try_on_schedule`] to test failures.
    pub fn on_schedule(&self, name: &str) {
        self.try_on_schedule(name)
            .unwrap_or_else(|e| panic!("on_schedule failed: {e}"));
    }

    /// Fire the schedule `name`, returning the handler's error.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_on_schedule("daily").is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the handler (or the SDK glue) returned.
    pub fn try_on_schedule(&self, name: &str) -> Result<(), Error> {
        self.run_handler(name, |ctx| P::new().on_schedule(&ctx))
    }

    /// Invoke the action `name` ([`Plugin::action`]) with `input`, with the
    /// fake host; returns its result.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Error, HandlerContext, Plugin};
    /// # use serde_json::{json, Value};
    /// struct Echo;
    /// impl Plugin for Echo {
    ///     fn new() -> Self {
    ///         Echo
    ///     }
    ///     fn action(&self, _ctx: &HandlerContext, input: &Value) -> Result<Value, Error> {
    ///         Ok(input.clone())
    ///     }
    /// }
    /// assert_eq!(Harness::<Echo>::new().action("echo", json!({ "a": 1 })), json!({ "a": 1 }));
    /// ```
    ///
    /// # Panics
    /// When the action fails; use [`Harness::try_action`] to test failures.
    pub fn action(&self, name: &str, input: Value) -> Value {
        self.try_action(name, input)
            .unwrap_or_else(|e| panic!("action failed: {e}"))
    }

    /// Invoke the action `name`, returning the action's error.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let err = Harness::<P>::new().try_action("nope", serde_json::json!({})).unwrap_err();
    /// assert_eq!(err.code, "UNKNOWN_ACTION");
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the action (or the SDK glue) returned.
    pub fn try_action(&self, name: &str, input: Value) -> Result<Value, Error> {
        let input = input.to_string();
        let output = self.run_handler(name, |ctx| {
            let input = action_input(&input)?;
            Ok(P::new().action(&ctx, &input)?.to_string())
        })?;
        // Through JSON text, as the result reaches the host.
        serde_json::from_str(&output)
            .map_err(|e| Error::new("BAD_OUTPUT", format!("action result is not JSON: {e}")))
    }

    /// Deliver `request` to webhook `name` (contract 0.3.0).
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::{FakeHost, Harness}, Error, HandlerContext, Plugin, WebhookRequest};
    /// struct Hook;
    /// impl Plugin for Hook {
    ///     fn new() -> Self {
    ///         Hook
    ///     }
    ///     fn on_webhook(&self, _ctx: &HandlerContext, r: &WebhookRequest) -> Result<(), Error> {
    ///         crm_plugin_sdk::host::kv::set(&format!("seen:{}", r.id), r.text()?)?;
    ///         Ok(())
    ///     }
    /// }
    /// let fake = FakeHost::new();
    /// Harness::<Hook>::new().with_host(&fake).on_webhook("stock", WebhookRequest::new("POST", "7"));
    /// assert_eq!(fake.kv("seen:delivery-1").as_deref(), Some("7"));
    /// ```
    ///
    /// # Panics
    /// When the handler fails; use [`Harness::try_on_webhook`] to test failures.
    pub fn on_webhook(&self, name: &str, request: WebhookRequest) {
        self.try_on_webhook(name, request)
            .unwrap_or_else(|e| panic!("on_webhook failed: {e}"));
    }

    /// Deliver `request` to webhook `name`, returning the handler's error.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin, WebhookRequest};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let err = Harness::<P>::new().try_on_webhook("nope", WebhookRequest::new("POST", "")).unwrap_err();
    /// assert_eq!(err.code, "UNKNOWN_WEBHOOK");
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the handler returned.
    pub fn try_on_webhook(&self, name: &str, request: WebhookRequest) -> Result<(), Error> {
        self.run_handler(name, |ctx| P::new().on_webhook(&ctx, &request))
    }

    /// Run a handler as the glue does: the context through JSON text, the
    /// fake host installed.
    fn run_handler<T>(
        &self,
        name: &str,
        f: impl FnOnce(HandlerContext) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let config = Value::Object(self.config.clone()).to_string();
        self.host.run_with_config(config.clone(), || {
            let ctx = handler_context(self.tenant.clone(), &config, self.now.clone(), name.into())?;
            f(ctx)
        })
    }

    /// Validate one record.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().validate(serde_json::json!({ "email": "a@b.cn" })).is_accept());
    /// ```
    ///
    /// # Panics
    /// When the plugin fails the call; use [`Harness::try_validate`] to test failures.
    pub fn validate(&self, record: Value) -> Decision {
        self.try_validate(record)
            .unwrap_or_else(|e| panic!("validate failed: {e}"))
    }

    /// Validate one record, returning the plugin's error if the call fails.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_validate(serde_json::json!({})).is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the plugin (or the SDK glue) returned.
    pub fn try_validate(&self, record: Value) -> Result<Decision, Error> {
        let mut decisions = self.try_validate_batch(vec![record])?;
        Ok(decisions.remove(0))
    }

    /// Validate a batch; the result is parallel to `records`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert_eq!(Harness::<P>::new().validate_batch(vec![serde_json::json!({}); 3]).len(), 3);
    /// ```
    ///
    /// # Panics
    /// When the plugin fails the call.
    pub fn validate_batch(&self, records: Vec<Value>) -> Vec<Decision> {
        self.try_validate_batch(records)
            .unwrap_or_else(|e| panic!("validate failed: {e}"))
    }

    /// Validate a batch, returning the plugin's error if the call fails.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_validate_batch(vec![]).is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the plugin (or the SDK glue) returned.
    pub fn try_validate_batch(&self, records: Vec<Value>) -> Result<Vec<Decision>, Error> {
        let (ctx, records) = self.prepare(&records);
        run_validate(&P::new(), &ctx, &records)
    }

    /// Score one record.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().score(serde_json::json!({ "title": "CEO" })).is_empty());
    /// ```
    ///
    /// # Panics
    /// When the plugin fails the call; use [`Harness::try_score`] to test failures.
    pub fn score(&self, record: Value) -> Vec<Score> {
        self.try_score(record)
            .unwrap_or_else(|e| panic!("score failed: {e}"))
    }

    /// Score one record, returning the plugin's error if the call fails.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_score(serde_json::json!({})).is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the plugin (or the SDK glue) returned.
    pub fn try_score(&self, record: Value) -> Result<Vec<Score>, Error> {
        let mut scores = self.try_score_batch(vec![record])?;
        Ok(scores.remove(0))
    }

    /// Score a batch; the result is parallel to `records`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert_eq!(Harness::<P>::new().score_batch(vec![serde_json::json!({}); 2]).len(), 2);
    /// ```
    ///
    /// # Panics
    /// When the plugin fails the call.
    pub fn score_batch(&self, records: Vec<Value>) -> Vec<Vec<Score>> {
        self.try_score_batch(records)
            .unwrap_or_else(|e| panic!("score failed: {e}"))
    }

    /// Score a batch, returning the plugin's error if the call fails.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// assert!(Harness::<P>::new().try_score_batch(vec![]).is_ok());
    /// ```
    ///
    /// # Errors
    /// The [`Error`] the plugin (or the SDK glue) returned.
    pub fn try_score_batch(&self, records: Vec<Value>) -> Result<Vec<Vec<Score>>, Error> {
        let (ctx, records) = self.prepare(&records);
        run_score(&P::new(), &ctx, &records)
    }

    /// Go through JSON text, as the host's records and configuration do.
    fn prepare(&self, records: &[Value]) -> (Context, Vec<crate::Record>) {
        let texts: Vec<String> = records.iter().map(Value::to_string).collect();
        let config = Value::Object(self.config.clone()).to_string();
        let (ctx, records) = prepare(&self.tenant, &self.entity, &config, texts);
        match &self.function {
            Some(name) => (ctx.with_function(name.clone()), records),
            None => (ctx, records),
        }
    }
}

#[cfg(feature = "testing")]
fn check_default(ty: &str, schema: &toml::Value, default: &toml::Value) -> Result<(), String> {
    use toml::Value as T;
    let ok = match (ty, default) {
        ("string", T::String(_)) | ("integer", T::Integer(_)) | ("bool", T::Boolean(_)) => true,
        ("number", T::Integer(_) | T::Float(_)) => true,
        ("list", T::Array(items)) => items.iter().all(T::is_str),
        ("enum", T::String(s)) => {
            let values = schema.get("values").and_then(T::as_array);
            return match values {
                Some(values) if values.iter().any(|v| v.as_str() == Some(s)) => Ok(()),
                Some(_) => Err(format!("default {s:?} is not one of `values`")),
                None => Err("an enum needs `values`".into()),
            };
        }
        ("string" | "integer" | "number" | "bool" | "enum" | "list", _) => false,
        (other, _) => return Err(format!("unknown type {other:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("default {default} is not of type {ty}"))
    }
}

#[cfg(feature = "testing")]
fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
