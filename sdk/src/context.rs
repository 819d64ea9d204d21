//! What the host tells a plugin about a call, and the records it passes.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// What the host tells a plugin about the call: the tenant, the entity and
/// the plugin's effective configuration (the tenant's settings merged over
/// the manifest's `[config.*]` defaults).
///
/// ```
/// use crm_plugin_sdk::Context;
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Deserialize)]
/// #[serde(rename_all = "kebab-case")]
/// struct Config {
///     grade_a: u8,
/// }
///
/// let ctx = Context::new("tenant-1", "contact", json!({ "grade-a": 80 }));
/// assert_eq!(ctx.entity(), "contact");
/// assert_eq!(ctx.config::<Config>()?.grade_a, 80);
/// # Ok::<(), crm_plugin_sdk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    tenant: String,
    entity: String,
    config: Settings,
    function: Option<String>,
}

/// The configuration as given: a JSON tree, or the host's JSON text, which
/// typed reads ([`Context::config`]) deserialise directly (no tree: a
/// fresh instance per call makes this the bulk of a small call's work) and
/// whose tree is built only if [`Context::config_value`] asks for it.
#[derive(Debug, Clone)]
enum Settings {
    Value(Value),
    Text(String, OnceLock<Value>),
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.tenant == other.tenant
            && self.entity == other.entity
            && self.function == other.function
            && self.config_value() == other.config_value()
    }
}

impl Context {
    /// A context; the host builds these, tests use [`crate::testing::Harness`].
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::Context::new("t", "company", serde_json::json!({}));
    /// assert_eq!(ctx.tenant(), "t");
    /// ```
    pub fn new(tenant: impl Into<String>, entity: impl Into<String>, config: Value) -> Self {
        Self {
            tenant: tenant.into(),
            entity: entity.into(),
            config: Settings::Value(config),
            function: None,
        }
    }

    /// A context whose configuration is the host's JSON text (checked to be
    /// JSON by the first read: [`Context::config`] fails with
    /// `INVALID_CONFIG`, [`Context::config_value`] gives `null`). Blank text
    /// is an empty object.
    pub(crate) fn from_config_text(tenant: &str, entity: &str, config: &str) -> Self {
        let config = if config.trim().is_empty() {
            Settings::Value(Value::Object(serde_json::Map::new()))
        } else {
            Settings::Text(config.to_owned(), OnceLock::new())
        };
        Self {
            tenant: tenant.to_owned(),
            entity: entity.to_owned(),
            config,
            function: None,
        }
    }

    /// This context naming the manifest function being called.
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::Context::new("t", "contact", serde_json::json!({})).with_function("lead");
    /// assert_eq!(ctx.function(), Some("lead"));
    /// ```
    pub fn with_function(mut self, function: impl Into<String>) -> Self {
        self.function = Some(function.into());
        self
    }

    /// Name of the manifest function being called. Contract 0.2.0 tells it
    /// (`None` under 0.1.0): a plugin with several functions of one kind
    /// tells them apart by it.
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::Context::new("t", "contact", serde_json::json!({}));
    /// assert_eq!(ctx.function(), None);
    /// ```
    pub fn function(&self) -> Option<&str> {
        self.function.as_deref()
    }

    /// Id of the tenant the records belong to (a UUID string).
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::Context::new("0193...", "contact", serde_json::json!({}));
    /// assert_eq!(ctx.tenant(), "0193...");
    /// ```
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The entity the records are of: `contact`, `company`, `deal`, ...
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::Context::new("t", "deal", serde_json::json!({}));
    /// assert_eq!(ctx.entity(), "deal");
    /// ```
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// The configuration as JSON (an object keyed by the manifest's config keys).
    ///
    /// ```
    /// let ctx = crm_plugin_sdk::Context::new("t", "contact", serde_json::json!({ "grade-a": 70 }));
    /// assert_eq!(ctx.config_value()["grade-a"], 70);
    /// ```
    pub fn config_value(&self) -> &Value {
        match &self.config {
            Settings::Value(v) => v,
            Settings::Text(text, tree) => {
                tree.get_or_init(|| serde_json::from_str(text).unwrap_or(Value::Null))
            }
        }
    }

    /// The configuration deserialised into `T`, typically a struct with
    /// `#[serde(rename_all = "kebab-case", default)]` so keys follow the
    /// manifest and missing keys take the struct's defaults.
    ///
    /// This deserialises on every call (straight from the host's JSON text,
    /// without building a tree): in a plugin that reads its configuration
    /// per record, override the `*_batch` methods of [`crate::Plugin`] to
    /// read it once per batch.
    ///
    /// ```
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize, Default)]
    /// #[serde(rename_all = "kebab-case", default)]
    /// struct Config {
    ///     default_region: String,
    ///     min_age: u32,
    /// }
    ///
    /// let ctx = crm_plugin_sdk::Context::new("t", "contact", serde_json::json!({ "min-age": 18 }));
    /// let cfg: Config = ctx.config()?;
    /// assert_eq!(cfg.min_age, 18);
    /// assert_eq!(cfg.default_region, "");
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::invalid_config`] when the configuration does not fit `T`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match &self.config {
            Settings::Value(v) => T::deserialize(v),
            Settings::Text(_, tree) if tree.get().is_some() => T::deserialize(self.config_value()),
            Settings::Text(text, _) => serde_json::from_str(text),
        }
        .map_err(|e| Error::invalid_config(e.to_string()))
    }
}

/// One record: the JSON result of the function's input query (for validate,
/// the candidate record in the same shape). The text the host sent is kept:
/// [`Record::parse`] deserialises it straight into a typed model (one pass,
/// no intermediate tree, and the only pass: the host's text is not checked
/// beforehand), and the JSON tree of [`Record::json`] / [`Record::get`] is
/// built the first time it is asked for.
///
/// ```
/// use crm_plugin_sdk::{models::Contact, Record};
///
/// let record = Record::from_json(r#"{ "title": "CTO", "company": { "employeeCount": 40 } }"#)?;
/// let contact: Contact = record.parse()?;
/// assert_eq!(contact.title.as_deref(), Some("CTO"));
/// assert_eq!(record.get("company.employeeCount"), Some(&serde_json::json!(40)));
/// # Ok::<(), crm_plugin_sdk::Error>(())
/// ```
#[derive(Clone)]
pub struct Record {
    /// The JSON text, when the record came as text.
    text: Option<String>,
    /// The parsed tree: given, or built from `text` on first use.
    value: OnceLock<Value>,
    /// Position in the host's batch, named by parse errors.
    index: Option<usize>,
}

impl Record {
    /// Parse a record from its JSON text (checked to be JSON now; the tree
    /// is built only when [`Record::json`] or [`Record::get`] needs it).
    ///
    /// ```
    /// let record = crm_plugin_sdk::Record::from_json(r#"{ "id": "c1" }"#)?;
    /// assert_eq!(record.json()["id"], "c1");
    /// assert!(crm_plugin_sdk::Record::from_json("{ nope").is_err());
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::invalid_record`] when `json` is not JSON.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        // Validates without building anything.
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .map_err(|e| Error::invalid_record(format!("record is not JSON: {e}")))?;
        Ok(Self::from_host(json.to_owned(), None))
    }

    /// Record `index` of a host batch, unchecked: the host serialises every
    /// record from a JSON tree, so checking it here would parse each record
    /// twice. A malformed one still fails [`Record::parse`] (naming the
    /// record) and reads as `null` through [`Record::json`].
    pub(crate) fn from_host(json: String, index: Option<usize>) -> Self {
        Self {
            text: Some(json),
            value: OnceLock::new(),
            index,
        }
    }

    /// Wrap an already parsed JSON value.
    ///
    /// ```
    /// let record = crm_plugin_sdk::Record::new(serde_json::json!({ "name": "Acme" }));
    /// assert_eq!(record.get("name"), Some(&serde_json::json!("Acme")));
    /// ```
    pub fn new(value: Value) -> Self {
        Self {
            text: None,
            value: OnceLock::from(value),
            index: None,
        }
    }

    /// The record as JSON.
    ///
    /// ```
    /// let record = crm_plugin_sdk::Record::new(serde_json::json!({ "tags": ["vip"] }));
    /// assert!(record.json()["tags"].is_array());
    /// ```
    pub fn json(&self) -> &Value {
        self.value.get_or_init(|| {
            // `text` is JSON unless the host broke the contract.
            self.text
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null)
        })
    }

    /// The record deserialised into a typed model such as
    /// [`Contact`](crate::models::Contact), or any `serde` type of your own.
    ///
    /// ```
    /// use crm_plugin_sdk::{models::Company, Record};
    ///
    /// let record = Record::new(serde_json::json!({ "name": "Acme", "employeeCount": 250 }));
    /// let company: Company = record.parse()?;
    /// assert_eq!(company.employee_count, Some(250));
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::invalid_record`] when a field has an unexpected type.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let parsed = match (self.value.get(), &self.text) {
            (None, Some(text)) => serde_json::from_str(text),
            _ => T::deserialize(self.json()),
        };
        parsed.map_err(|e| {
            Error::invalid_record(match self.index {
                Some(i) => format!("record {i}: {e}"),
                None => e.to_string(),
            })
        })
    }

    /// The value at a dotted GraphQL path (`company.employeeCount`), if present.
    ///
    /// ```
    /// let record = crm_plugin_sdk::Record::new(serde_json::json!({ "owner": { "name": "Li" } }));
    /// assert_eq!(record.get("owner.name"), Some(&serde_json::json!("Li")));
    /// assert_eq!(record.get("owner.email"), None);
    /// ```
    pub fn get(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(self.json(), |v, key| v.get(key))
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("value", self.json())
            .finish()
    }
}

impl From<Value> for Record {
    fn from(value: Value) -> Self {
        Self::new(value)
    }
}
