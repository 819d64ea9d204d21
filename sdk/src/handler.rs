//! What the host tells a handler about a call, and the events it delivers.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, time};

/// What the host tells a handler (on-event, on-schedule, action) about the
/// call: the tenant, the plugin's effective configuration, the host's clock
/// and the name of the manifest handler, schedule or action being run.
///
/// ```
/// use crm_plugin_sdk::HandlerContext;
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Deserialize, Default)]
/// #[serde(rename_all = "kebab-case", default)]
/// struct Config {
///     threshold: u8,
/// }
///
/// let ctx = HandlerContext::new("tenant-1", json!({ "threshold": 60 }), "2025-03-01T09:00:00Z", "daily");
/// assert_eq!(ctx.config::<Config>()?.threshold, 60);
/// assert_eq!(ctx.name(), "daily");
/// assert_eq!(ctx.now_plus(std::time::Duration::from_secs(3600))?, "2025-03-01T10:00:00Z");
/// # Ok::<(), crm_plugin_sdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerContext {
    tenant: String,
    config: Value,
    now: String,
    name: String,
}

impl HandlerContext {
    /// A context; the host builds these, tests use [`crate::testing::Harness`].
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({}), "2025-01-01T00:00:00Z", "h");
    /// assert_eq!(ctx.tenant(), "t");
    /// ```
    pub fn new(
        tenant: impl Into<String>,
        config: Value,
        now: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            config,
            now: now.into(),
            name: name.into(),
        }
    }

    /// Id of the tenant (a UUID string).
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::HandlerContext::new("0193...", serde_json::json!({}), "", "h");
    /// assert_eq!(ctx.tenant(), "0193...");
    /// ```
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Name of the manifest handler, schedule or action being run: one
    /// export serves them all, so a plugin with several tells them apart by it.
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({}), "", "issue-coupon");
    /// assert_eq!(ctx.name(), "issue-coupon");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's clock when the call started, RFC 3339. Handlers must not
    /// read their own clock.
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({}), "2025-01-01T00:00:00Z", "h");
    /// assert_eq!(ctx.now(), "2025-01-01T00:00:00Z");
    /// ```
    pub fn now(&self) -> &str {
        &self.now
    }

    /// [`now`](Self::now) as seconds since the Unix epoch.
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({}), "1970-01-02T00:00:00Z", "h");
    /// assert_eq!(ctx.now_unix()?, 86_400);
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// `INVALID_TIMESTAMP` if the host's clock is not RFC 3339.
    pub fn now_unix(&self) -> Result<i64, Error> {
        time::parse_rfc3339(&self.now)
    }

    /// `now` plus `later`, as an RFC 3339 UTC timestamp (a due date).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({}), "2025-01-31T12:00:00+08:00", "h");
    /// assert_eq!(ctx.now_plus(Duration::from_secs(86_400))?, "2025-02-01T04:00:00Z");
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// `INVALID_TIMESTAMP` if the host's clock is not RFC 3339.
    pub fn now_plus(&self, later: Duration) -> Result<String, Error> {
        let secs = i64::try_from(later.as_secs()).unwrap_or(i64::MAX / 2);
        Ok(time::format_rfc3339(self.now_unix()?.saturating_add(secs)))
    }

    /// The configuration as JSON (an object keyed by the manifest's config keys).
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({ "coupon": "x" }), "", "h");
    /// assert_eq!(ctx.config_value()["coupon"], "x");
    /// ```
    pub fn config_value(&self) -> &Value {
        &self.config
    }

    /// The configuration deserialised into `T`, as
    /// [`Context::config`](crate::Context::config).
    ///
    /// ```
    /// #[derive(serde::Deserialize, Default)]
    /// #[serde(rename_all = "kebab-case", default)]
    /// struct Config {
    ///     follow_up_minutes: u32,
    /// }
    ///
    /// let ctx = crm_plugin_sdk::HandlerContext::new("t", serde_json::json!({}), "", "h");
    /// assert_eq!(ctx.config::<Config>()?.follow_up_minutes, 0);
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::invalid_config`] when the configuration does not fit `T`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.config).map_err(|e| Error::invalid_config(e.to_string()))
    }
}

/// A committed domain event (`contact.created`, `deal.stage_changed`,
/// `plugin.<id>.<kind>`), delivered at least once to every handler whose
/// `events` match its kind.
///
/// ```
/// use crm_plugin_sdk::Event;
/// use serde_json::json;
///
/// let e = Event::new("ticket.created", json!({ "contactId": "c1", "priority": "P1" }))
///     .with_record_id("t1");
/// assert_eq!(e.entity, "ticket");
/// assert!(e.matches("ticket.") && e.matches("ticket.created") && !e.matches("ticket"));
/// assert_eq!(e.payload_str("contactId"), Some("c1"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's id: the same on every delivery of it, so a handler can
    /// remember what it already did (in [`host::kv`](crate::host::kv)).
    pub id: String,
    /// `entity.past_tense`: `contact.created`, `ticket.updated`, ...
    pub kind: String,
    /// The entity the event is about: `contact`, `ticket`, ...
    pub entity: String,
    /// Id of the record the event is about, if any.
    pub record_id: Option<String>,
    /// The event's data (for `*.created`, the record's fields, camelCase).
    pub payload: Value,
    /// When the change committed, RFC 3339.
    pub created_at: String,
}

impl Event {
    /// An event of `kind` with `payload`, for tests: the entity is the kind's
    /// first segment, the id `evt-1`, and `created_at` empty (the
    /// [`Harness`](crate::testing::Harness) fills in its clock).
    ///
    /// ```
    /// let e = crm_plugin_sdk::Event::new("activity.created", serde_json::json!({ "kind": "CALL" }));
    /// assert_eq!(e.entity, "activity");
    /// assert_eq!(e.record_id, None);
    /// ```
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        let kind = kind.into();
        let entity = kind.split('.').next().unwrap_or_default().to_owned();
        Self {
            id: "evt-1".into(),
            kind,
            entity,
            record_id: None,
            payload,
            created_at: String::new(),
        }
    }

    /// This event with another id.
    ///
    /// ```
    /// assert_eq!(crm_plugin_sdk::Event::new("x.y", serde_json::json!({})).with_id("e7").id, "e7");
    /// ```
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// This event about record `id`.
    ///
    /// ```
    /// let e = crm_plugin_sdk::Event::new("contact.created", serde_json::json!({})).with_record_id("c1");
    /// assert_eq!(e.record_id.as_deref(), Some("c1"));
    /// ```
    pub fn with_record_id(mut self, id: impl Into<String>) -> Self {
        self.record_id = Some(id.into());
        self
    }

    /// Whether the kind matches a manifest `events` pattern: the exact kind,
    /// or, with a trailing `.`, every kind with that prefix.
    ///
    /// ```
    /// let e = crm_plugin_sdk::Event::new("order.created", serde_json::json!({}));
    /// assert!(e.matches("order.") && e.matches("order.created"));
    /// assert!(!e.matches("order.updated") && !e.matches("ord"));
    /// ```
    pub fn matches(&self, pattern: &str) -> bool {
        if pattern.ends_with('.') {
            self.kind.starts_with(pattern)
        } else {
            self.kind == pattern
        }
    }

    /// The payload's string field `key`, if present.
    ///
    /// ```
    /// let e = crm_plugin_sdk::Event::new("order.created", serde_json::json!({ "companyId": "co1", "n": 1 }));
    /// assert_eq!(e.payload_str("companyId"), Some("co1"));
    /// assert_eq!(e.payload_str("n"), None);
    /// ```
    pub fn payload_str(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }

    /// The payload deserialised into `T`.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Activity {
    ///     contact_id: Option<String>,
    /// }
    ///
    /// let e = crm_plugin_sdk::Event::new("activity.created", serde_json::json!({ "contactId": "c1" }));
    /// assert_eq!(e.parse_payload::<Activity>()?.contact_id.as_deref(), Some("c1"));
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// `INVALID_EVENT` when the payload does not fit `T`.
    pub fn parse_payload<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.payload)
            .map_err(|e| Error::new("INVALID_EVENT", format!("{} payload: {e}", self.kind)))
    }
}
