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

use std::fmt;
use std::marker::PhantomData;

use serde_json::{Map, Value};

use crate::__private::{prepare, run_score, run_validate};
use crate::{Context, Decision, Error, Plugin, Score};

/// Runs a plugin natively with a given tenant, entity and configuration.
///
/// The defaults are a nil tenant id, entity `contact` and an empty
/// configuration (`{}`), so a plugin's own serde defaults apply.
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
    config: Map<String, Value>,
    plugin: PhantomData<fn() -> P>,
}

impl<P> fmt::Debug for Harness<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("tenant", &self.tenant)
            .field("entity", &self.entity)
            .field("config", &self.config)
            .finish()
    }
}

impl<P: Plugin> Default for Harness<P> {
    fn default() -> Self {
        Self {
            tenant: "00000000-0000-0000-0000-000000000000".into(),
            entity: "contact".into(),
            config: Map::new(),
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
    /// function. Requires the `testing` feature.
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
        if let Some(entity) = table
            .get("functions")
            .and_then(|f| f.get(0))
            .and_then(|f| f.get("entities"))
            .and_then(|e| e.get(0))
            .and_then(|e| e.as_str())
        {
            harness.entity = entity.to_owned();
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

    /// The [`Context`] the plugin sees, e.g. to call a rule function directly.
    ///
    /// ```
    /// # use crm_plugin_sdk::{testing::Harness, Plugin};
    /// # struct P; impl Plugin for P { fn new() -> Self { P } }
    /// let ctx = Harness::<P>::new().config(serde_json::json!({ "x": 1 })).context();
    /// assert_eq!(ctx.config_value()["x"], 1);
    /// ```
    pub fn context(&self) -> Context {
        Context::new(
            self.tenant.clone(),
            self.entity.clone(),
            Value::Object(self.config.clone()),
        )
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
        let (ctx, records) = self.prepare(&records)?;
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
        let (ctx, records) = self.prepare(&records)?;
        run_score(&P::new(), &ctx, &records)
    }

    /// Go through JSON text, as the host's records and configuration do.
    fn prepare(&self, records: &[Value]) -> Result<(Context, Vec<crate::Record>), Error> {
        let texts: Vec<String> = records.iter().map(Value::to_string).collect();
        let config = Value::Object(self.config.clone()).to_string();
        prepare(&self.tenant, &self.entity, &config, &texts)
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
