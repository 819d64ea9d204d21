//! `plugin.toml`: what a plugin is, which functions it implements, what it
//! asks for and how it can be configured.
//!
//! Parsing never stops at the first mistake: the document is read into a
//! generic tree and checked field by field, so a partner fixing a manifest
//! sees every problem at once, each with its path:
//!
//! ```
//! use crm_host::plugin::Manifest;
//!
//! let err = Manifest::parse(r#"
//! id = "Lead Scoring"
//! version = "0.1.0"
//! contract = "0.1.0"
//! description = "Scores contacts."
//! [[functions]]
//! name = "lead"
//! kind = "scor"
//! entities = ["contact"]
//! input = "{ id }"
//! "#).unwrap_err();
//! let text = err.to_string();
//! assert!(text.contains(r#"plugin.toml: id: "Lead Scoring" is not a valid id"#));
//! assert!(text.contains(r#"plugin.toml: functions[0].kind: unknown kind "scor""#));
//! ```
//!
//! Contract 0.2.0 adds effectful entry points beside the functions:
//! `[[handlers]]` (on-event), `[[schedules]]` (on-schedule, cron in UTC) and
//! `[[actions]]` (invoked through `runPluginAction`), and the capabilities
//! they use (`write`, `kv`, `emit`). A manifest declaring any of them with
//! `contract = "0.1.0"` is refused at the key that needs the newer contract:
//!
//! ```
//! use crm_host::plugin::Manifest;
//!
//! let err = Manifest::parse(r#"
//! id = "welcome"
//! version = "0.1.0"
//! contract = "0.1.0"
//! description = "Greets new contacts."
//! [[handlers]]
//! name = "greet"
//! events = ["contact.created"]
//! "#).unwrap_err();
//! assert!(err.to_string().contains(r#"plugin.toml: handlers: requires contract "0.2.0" or later"#));
//! ```
//!
//! The same checks run on the JSON form the registry stores
//! ([`Manifest::to_json`] / [`Manifest::from_json`]), so a manifest read back
//! from the database is exactly as trustworthy as one read from disk.

mod check;
mod config;

use std::collections::BTreeMap;
use std::fmt;

use semver::Version;
use serde::Serialize;

/// A parsed and checked `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    /// `[a-z][a-z0-9-]{1,62}`, unique per installation.
    pub id: String,
    /// The plugin's own version.
    pub version: Version,
    /// The `crm:plugin` contract version the component was built against.
    pub contract: Version,
    pub description: String,
    /// Path of the component, relative to `plugin.toml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Pure functions (validate/score); may be empty when the plugin has
    /// handlers, schedules or actions.
    pub functions: Vec<FunctionDecl>,
    /// `[[handlers]]`: run after a matching event commits (contract 0.2.0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<HandlerDecl>,
    /// `[[schedules]]`: run per tenant on a cron schedule (contract 0.2.0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleDecl>,
    /// `[[actions]]`: run on request through `runPluginAction` (contract 0.2.0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionDecl>,
    /// `[[webhooks]]`: run for requests to the plugin's secret URLs (contract 0.3.0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookDecl>,
    pub capabilities: Capabilities,
    /// Configuration schema: one field per key.
    pub config: BTreeMap<String, ConfigField>,
}

/// One `[[functions]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FunctionDecl {
    /// Unique within the plugin; for score functions, the default score name.
    pub name: String,
    pub kind: FunctionKind,
    /// Entities (`contact`, `deal`, ...) the function runs for.
    pub entities: Vec<String>,
    /// GraphQL selection set over the entity's type, e.g. `{ id email }`.
    pub input: String,
    pub on_failure: FailurePolicy,
    /// Overrides the runtime's default fuel budget per record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_per_record: Option<u64>,
}

/// One `[[handlers]]` entry: the `on-event` export, for the events it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HandlerDecl {
    /// Unique among all entry points; the handler sees it as `ctx.name`.
    pub name: String,
    /// Event kinds (`contact.created`); a trailing `.` matches every kind
    /// with that prefix (`ticket.`).
    pub events: Vec<String>,
    /// Wall-clock deadline of one run ([`HANDLER_DEADLINE_MS`] by default).
    pub deadline_ms: u64,
}

/// One `[[schedules]]` entry: the `on-schedule` export, per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScheduleDecl {
    pub name: String,
    /// Five-field cron expression, UTC.
    pub cron: String,
    /// Wall-clock deadline of one run ([`SCHEDULE_DEADLINE_MS`] by default).
    pub deadline_ms: u64,
}

/// One `[[actions]]` entry: the `action` export, invoked on request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionDecl {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One `[[webhooks]]` entry: the `on-webhook` export, for requests to the
/// webhook's URL (`/hooks/<token>`, created per tenant by an operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WebhookDecl {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Wall-clock deadline of one delivery's run ([`HANDLER_DEADLINE_MS`] by default).
    pub deadline_ms: u64,
}

/// Deadline of a handler run unless its `deadline-ms` says otherwise.
pub const HANDLER_DEADLINE_MS: u64 = 5_000;
/// Deadline of a schedule run unless its `deadline-ms` says otherwise.
pub const SCHEDULE_DEADLINE_MS: u64 = 30_000;
/// Deadline of an action run (actions answer a waiting GraphQL client).
pub const ACTION_DEADLINE_MS: u64 = 5_000;
/// The longest `deadline-ms` accepted: a run must end within the job
/// queue's default lease, or another worker would start it again.
pub const MAX_DEADLINE_MS: u64 = 60_000;

/// The first contract version with handlers, schedules, actions and the host API.
pub const HANDLERS_SINCE: Version = Version::new(0, 2, 0);
/// The first contract with outbound HTTP (`[capabilities] http`) and webhooks.
pub const HTTP_SINCE: Version = Version::new(0, 3, 0);

/// Which entry point of the `functions` interface a declaration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionKind {
    /// Before a write: accept, patch or reject.
    Validate,
    /// After a write: compute scores.
    Score,
}

/// What the caller does when the function fails (trap, timeout, budget, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// Carry on as if the plugin were not installed (default for `score`).
    FailOpen,
    /// Refuse the write (default for `validate`).
    FailClosed,
}

impl FunctionKind {
    /// The policy used when the manifest does not name one.
    pub fn default_failure_policy(self) -> FailurePolicy {
        match self {
            FunctionKind::Validate => FailurePolicy::FailClosed,
            FunctionKind::Score => FailurePolicy::FailOpen,
        }
    }
}

/// What the plugin asks to be granted. The operator grants per tenant; the
/// plugin gets the intersection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Capabilities {
    /// Entities whose records the plugin may read.
    pub read: Vec<String>,
    /// Whether it may see sensitive personal fields unmasked.
    pub pii_read: bool,
    /// Entities handlers may create, update or delete through `mutate` (0.2.0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
    /// Whether handlers may use key-value storage (0.2.0).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kv: bool,
    /// Whether handlers may emit `plugin.<id>.<kind>` events (0.2.0).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub emit: bool,
    /// Origins handlers may send HTTP requests to (0.3.0), each in the one
    /// spelling of [`crate::plugin::capabilities::Origin`]'s `Display`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
}

/// One key of the configuration schema (`[config.<key>]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigField {
    #[serde(rename = "type")]
    pub ty: ConfigType,
    /// Already checked against `ty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The allowed values of an `enum` field (empty for other types).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The type of a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigType {
    String,
    Integer,
    /// Integer or float.
    Number,
    Bool,
    /// A string from the field's `values`.
    Enum,
    /// A list of strings.
    List,
    /// A credential (an API token, a password): a string sealed at rest
    /// with the data key, shown as `********` to API clients, given to the
    /// plugin in clear. No default.
    Secret,
}

impl ConfigType {
    pub(crate) const NAMES: &'static str =
        r#""string", "integer", "number", "bool", "enum", "list" or "secret""#;

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "string" => ConfigType::String,
            "integer" => ConfigType::Integer,
            "number" => ConfigType::Number,
            "bool" => ConfigType::Bool,
            "enum" => ConfigType::Enum,
            "list" => ConfigType::List,
            "secret" => ConfigType::Secret,
            _ => return None,
        })
    }
}

/// One problem found in a manifest or a tenant's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestIssue {
    /// Dotted path of the offending key (`functions[0].kind`), or a line and
    /// column for a syntax error; empty for the document as a whole.
    pub path: String,
    pub message: String,
}

/// Every problem found, in document order. Displays one line per problem:
/// `plugin.toml: functions[0].kind: unknown kind "scor" (expected ...)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// What was being read: `plugin.toml`, `manifest.json` or `tenant config`.
    pub origin: String,
    pub errors: Vec<ManifestIssue>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if issue.path.is_empty() {
                write!(f, "{}: {}", self.origin, issue.message)?;
            } else {
                write!(f, "{}: {}: {}", self.origin, issue.path, issue.message)?;
            }
        }
        Ok(())
    }
}

impl ManifestError {
    fn single(origin: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError {
            origin: origin.to_owned(),
            errors: vec![ManifestIssue {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

const TOML_ORIGIN: &str = "plugin.toml";
const JSON_ORIGIN: &str = "manifest.json";

impl Manifest {
    /// Parse and check the text of a `plugin.toml`.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or_default();
            ManifestError::single(TOML_ORIGIN, at, e.message().trim())
        })?;
        check::manifest(&toml_to_json(toml::Value::Table(table)), TOML_ORIGIN)
    }

    /// The JSON form stored by the registry (keys as in `plugin.toml`).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain strings, numbers and JSON values cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Read back the form written by [`Manifest::to_json`], with the same
    /// checks as [`Manifest::parse`].
    pub fn from_json(text: &str) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            ManifestError::single(
                JSON_ORIGIN,
                format!("line {}, column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        check::manifest(&value, JSON_ORIGIN)
    }

    /// The declaration of function `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionDecl> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The declaration of handler `name`.
    pub fn handler(&self, name: &str) -> Option<&HandlerDecl> {
        self.handlers.iter().find(|h| h.name == name)
    }

    /// The declaration of schedule `name`.
    pub fn schedule(&self, name: &str) -> Option<&ScheduleDecl> {
        self.schedules.iter().find(|s| s.name == name)
    }

    /// The declaration of action `name`.
    pub fn action(&self, name: &str) -> Option<&ActionDecl> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// The `[[webhooks]]` entry named `name`.
    pub fn webhook(&self, name: &str) -> Option<&WebhookDecl> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    /// Handlers subscribed to event `kind` (exact, or a prefix ending in `.`).
    pub fn handlers_for<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a HandlerDecl> {
        self.handlers.iter().filter(move |h| {
            h.events
                .iter()
                .any(|p| crm_core::automation::kind_matches(p, kind))
        })
    }

    /// The configuration a call sees: the schema's defaults overlaid with
    /// the tenant's values (`null` or `{}` for none). A tenant value of
    /// `null` resets that key to its default. Unknown keys and values of the
    /// wrong type are refused, each with its path `config.<key>`.
    pub fn effective_config(
        &self,
        tenant_config: &serde_json::Value,
    ) -> Result<serde_json::Value, ManifestError> {
        config::effective(&self.config, tenant_config)
    }
}

fn line_and_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// TOML datetimes become the same marker object `toml`'s serde support
/// uses, so the checker can name them instead of mistaking them for strings.
const DATETIME_MARKER: &str = "$__toml_private_datetime";

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::Object(serde_json::Map::from_iter([(
            DATETIME_MARKER.to_owned(),
            J::String(d.to_string()),
        )])),
        toml::Value::Array(items) => J::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => J::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

/// The TOML name of a value's type, for "expected X, found Y" messages.
pub(crate) fn type_name(value: &serde_json::Value) -> &'static str {
    use serde_json::Value as J;
    match value {
        J::Null => "null",
        J::Bool(_) => "bool",
        J::Number(n) if n.is_f64() => "float",
        J::Number(_) => "integer",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(o) if o.len() == 1 && o.contains_key(DATETIME_MARKER) => "datetime",
        J::Object(_) => "table",
    }
}

#[cfg(test)]
mod tests;
