//! The host API for handlers (contract 0.2.0 and later): GraphQL as the
//! plugin's own principal, key-value storage, configuration and custom
//! events. Outbound HTTP (contract 0.3.0) is in [`crate::http`].
//!
//! Every call is checked against the capabilities the tenant granted the
//! plugin (see the crate README); a refused call fails with code
//! `FORBIDDEN`. Only handlers ([`Plugin::on_event`](crate::Plugin::on_event),
//! [`on_schedule`](crate::Plugin::on_schedule), [`action`](crate::Plugin::action))
//! may use it: functions are pure, and the host refuses these calls there.
//! A component exported with [`export_plugin!`](crate::export_plugin) (contract
//! 0.1.0) has no host API: every call fails with `UNSUPPORTED`.
//!
//! In native tests the calls go to the [`FakeHost`](crate::testing::FakeHost)
//! of the [`Harness`](crate::testing::Harness) running the handler.
//!
//! ```
//! use crm_plugin_sdk::{host, testing::FakeHost, Error, Event, HandlerContext, Plugin};
//! use serde_json::json;
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn new() -> Self {
//!         Greeter
//!     }
//!
//!     fn on_event(&self, _ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
//!         let id = event.record_id.clone().unwrap_or_default();
//!         let data = host::query("query($id: ID!) { contact(id: $id) { firstName } }", json!({ "id": id }))?;
//!         if host::kv::get(&format!("greeted:{id}"))?.is_none() {
//!             let name = data["contact"]["firstName"].as_str().unwrap_or("there");
//!             host::emit("greeted", json!({ "contactId": id, "text": format!("Hello {name}") }))?;
//!             host::kv::set(&format!("greeted:{id}"), "1")?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let fake = FakeHost::new();
//! fake.on_query("contact(id:", json!({ "contact": { "firstName": "Li" } }));
//! let harness = crm_plugin_sdk::testing::Harness::<Greeter>::new().with_host(&fake);
//! let created = Event::new("contact.created", json!({})).with_record_id("c1");
//! harness.on_event(created.clone());
//! harness.on_event(created);
//! assert_eq!(fake.emitted().len(), 1);
//! assert_eq!(fake.emitted()[0].payload["text"], "Hello Li");
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use serde_json::Value;

use crate::Error;
use crate::log::Level;

/// Why a host call was refused or failed.
///
/// `code` is `FORBIDDEN` when the plugin lacks the grant, the GraphQL error
/// code (`NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT`, ...) when the query or
/// mutation failed, `UNSUPPORTED` when the component has no host API
/// (contract 0.1.0), otherwise `HOST_ERROR`. It converts into [`Error`], so
/// `?` fails the handler with the same code.
///
/// ```
/// use crm_plugin_sdk::{host::HostError, Error};
///
/// let e = HostError::new("FORBIDDEN", "write:task is not granted");
/// assert!(e.is_forbidden());
/// let err: Error = e.into();
/// assert_eq!(err.code, "FORBIDDEN");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// `FORBIDDEN`, a GraphQL error code, `UNSUPPORTED` or `HOST_ERROR`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl HostError {
    /// A host error.
    ///
    /// ```
    /// let e = crm_plugin_sdk::host::HostError::new("NOT_FOUND", "no such contact");
    /// assert_eq!(e.to_string(), "NOT_FOUND: no such contact");
    /// ```
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether the plugin lacks the capability for the call.
    ///
    /// ```
    /// assert!(!crm_plugin_sdk::host::HostError::new("NOT_FOUND", "x").is_forbidden());
    /// ```
    pub fn is_forbidden(&self) -> bool {
        self.code == "FORBIDDEN"
    }

    fn host(message: impl Into<String>) -> Self {
        Self::new("HOST_ERROR", message)
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for HostError {}

impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Error::new(e.code, e.message)
    }
}

/// Run a GraphQL query as the plugin's principal and return its `data`
/// object. Needs `read:<entity>` for every entity it reads.
///
/// ```
/// use crm_plugin_sdk::{host, testing::FakeHost};
/// use serde_json::json;
///
/// let fake = FakeHost::new();
/// fake.on_query("company(id:", json!({ "company": { "name": "Acme" } }));
/// let data = fake.run(|| host::query("query($id: ID!) { company(id: $id) { name } }", json!({ "id": "co1" })))?;
/// assert_eq!(data["company"]["name"], "Acme");
/// assert_eq!(fake.queries()[0].variables["id"], "co1");
/// # Ok::<(), crm_plugin_sdk::host::HostError>(())
/// ```
///
/// # Errors
/// A [`HostError`]: `FORBIDDEN`, the GraphQL error code, or `HOST_ERROR`.
pub fn query(query: &str, variables: Value) -> Result<Value, HostError> {
    let text = with_backend(|b| b.query(query, &variables.to_string()))?;
    parse_json(&text)
}

/// Run a GraphQL mutation as the plugin's principal and return its `data`
/// object. Needs `write:<entity>` for every entity it creates or updates.
///
/// ```
/// use crm_plugin_sdk::{host, testing::FakeHost};
/// use serde_json::json;
///
/// let fake = FakeHost::new();
/// fake.run(|| host::mutate(
///     "mutation($i: TaskInput!) { createTask(input: $i) { id } }",
///     json!({ "i": { "title": "Call back" } }),
/// ))?;
/// assert_eq!(fake.mutations_containing("createTask")[0].variables["i"]["title"], "Call back");
/// # Ok::<(), crm_plugin_sdk::host::HostError>(())
/// ```
///
/// # Errors
/// A [`HostError`]: `FORBIDDEN`, the GraphQL error code, or `HOST_ERROR`.
pub fn mutate(mutation: &str, variables: Value) -> Result<Value, HostError> {
    let text = with_backend(|b| b.mutate(mutation, &variables.to_string()))?;
    parse_json(&text)
}

/// The plugin's effective configuration for this tenant (the same as
/// [`HandlerContext::config_value`](crate::HandlerContext::config_value)).
///
/// ```
/// use crm_plugin_sdk::{host, testing::FakeHost};
///
/// let config = FakeHost::new().run(host::config)?;
/// assert_eq!(config, serde_json::json!({}));
/// # Ok::<(), crm_plugin_sdk::host::HostError>(())
/// ```
///
/// # Errors
/// `UNSUPPORTED` without a host API, `HOST_ERROR` if the host's answer is not JSON.
pub fn config() -> Result<Value, HostError> {
    let text = with_backend(|b| b.config())?;
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    parse_json(&text)
}

/// Emit the custom domain event `plugin.<plugin-id>.<kind>` with a JSON
/// payload; other plugins and webhooks can subscribe to it. Needs `emit`.
///
/// ```
/// use crm_plugin_sdk::{host, testing::FakeHost};
///
/// let fake = FakeHost::new();
/// fake.run(|| host::emit("health_dropped", serde_json::json!({ "value": 42 })))?;
/// assert_eq!(fake.emitted()[0].kind, "health_dropped");
/// # Ok::<(), crm_plugin_sdk::host::HostError>(())
/// ```
///
/// # Errors
/// `FORBIDDEN` without the `emit` grant, otherwise `HOST_ERROR`.
pub fn emit(kind: &str, payload: Value) -> Result<(), HostError> {
    with_backend(|b| b.emit(kind, &payload.to_string()))
}

/// Key-value storage private to this plugin and tenant, which outlives the
/// call: remember what a handler already did (handlers are at-least-once).
/// Needs `kv`.
///
/// ```
/// use crm_plugin_sdk::{host::kv, testing::FakeHost};
///
/// let fake = FakeHost::new();
/// fake.run(|| {
///     assert_eq!(kv::get("seen:e1")?, None);
///     kv::set("seen:e1", "1")?;
///     assert_eq!(kv::get("seen:e1")?.as_deref(), Some("1"));
///     kv::delete("seen:e1")
/// })?;
/// assert!(fake.kv_entries().is_empty());
/// # Ok::<(), crm_plugin_sdk::host::HostError>(())
/// ```
pub mod kv {
    use super::{HostError, with_backend};

    /// The value stored under `key`, if any.
    ///
    /// ```
    /// # use crm_plugin_sdk::{host::kv, testing::FakeHost};
    /// let fake = FakeHost::new();
    /// fake.set_kv("k", "v");
    /// assert_eq!(fake.run(|| kv::get("k"))?.as_deref(), Some("v"));
    /// # Ok::<(), crm_plugin_sdk::host::HostError>(())
    /// ```
    ///
    /// # Errors
    /// `FORBIDDEN` without the `kv` grant, otherwise `HOST_ERROR`.
    pub fn get(key: &str) -> Result<Option<String>, HostError> {
        with_backend(|b| b.kv_get(key))
    }

    /// Store `value` under `key`, replacing any previous value.
    ///
    /// ```
    /// # use crm_plugin_sdk::{host::kv, testing::FakeHost};
    /// let fake = FakeHost::new();
    /// fake.run(|| kv::set("k", "v"))?;
    /// assert_eq!(fake.kv("k").as_deref(), Some("v"));
    /// # Ok::<(), crm_plugin_sdk::host::HostError>(())
    /// ```
    ///
    /// # Errors
    /// `FORBIDDEN` without the `kv` grant, otherwise `HOST_ERROR` (a value
    /// over the host's size limit, for one).
    pub fn set(key: &str, value: &str) -> Result<(), HostError> {
        with_backend(|b| b.kv_set(key, value))
    }

    /// Remove `key`; removing a missing key is not an error.
    ///
    /// ```
    /// # use crm_plugin_sdk::{host::kv, testing::FakeHost};
    /// let fake = FakeHost::new();
    /// fake.run(|| kv::delete("never-set"))?;
    /// # Ok::<(), crm_plugin_sdk::host::HostError>(())
    /// ```
    ///
    /// # Errors
    /// `FORBIDDEN` without the `kv` grant, otherwise `HOST_ERROR`.
    pub fn delete(key: &str) -> Result<(), HostError> {
        with_backend(|b| b.kv_delete(key))
    }
}

fn parse_json(text: &str) -> Result<Value, HostError> {
    serde_json::from_str(text)
        .map_err(|e| HostError::host(format!("the host answered with invalid JSON: {e}")))
}

/// Where host calls and log lines go: the contract's imports in a
/// component, a [`FakeHost`](crate::testing::FakeHost) in native tests.
/// JSON crosses it as text, as it crosses the component boundary.
pub(crate) trait Backend {
    fn log(&self, level: Level, message: &str);
    fn query(&self, query: &str, variables: &str) -> Result<String, HostError>;
    fn mutate(&self, mutation: &str, variables: &str) -> Result<String, HostError>;
    fn kv_get(&self, key: &str) -> Result<Option<String>, HostError>;
    fn kv_set(&self, key: &str, value: &str) -> Result<(), HostError>;
    fn kv_delete(&self, key: &str) -> Result<(), HostError>;
    fn config(&self) -> Result<String, HostError>;
    fn emit(&self, kind: &str, payload: &str) -> Result<(), HostError>;
    /// Outbound HTTP: only contract 0.3.0 and the fake host have it.
    fn http(&self, _request: crate::http::Request) -> Result<crate::http::Response, HostError> {
        Err(HostError::new(
            "UNSUPPORTED",
            "outbound HTTP needs contract 0.3.0: export the plugin with `export_plugin_v0_3!` \
             and set contract = \"0.3.0\" in plugin.toml",
        ))
    }
}

thread_local! {
    // A component is single-threaded and gets a fresh instance per call;
    // natively each test thread has its own backend.
    static BACKEND: RefCell<Option<Rc<dyn Backend>>> = const { RefCell::new(None) };
}

/// Route host calls and logs to `backend` until the guard is dropped.
pub(crate) fn install(backend: Rc<dyn Backend>) -> Installed {
    let previous = BACKEND.with(|b| b.borrow_mut().replace(backend));
    Installed { previous }
}

/// Restores the previous backend when dropped.
pub(crate) struct Installed {
    previous: Option<Rc<dyn Backend>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        BACKEND.with(|b| *b.borrow_mut() = previous);
    }
}

/// The installed backend, if any (cloned out so that a backend may log
/// while it handles a call).
pub(crate) fn current() -> Option<Rc<dyn Backend>> {
    BACKEND.with(|b| b.borrow().clone())
}

fn with_backend<T>(f: impl FnOnce(&dyn Backend) -> Result<T, HostError>) -> Result<T, HostError> {
    match current() {
        Some(backend) => f(&*backend),
        None => Err(HostError::new(
            "UNSUPPORTED",
            if cfg!(target_arch = "wasm32") {
                "the host API needs contract 0.2.0: export the plugin with `export_plugin_v0_2!`"
            } else {
                "no host: run handlers through `testing::Harness` (or `FakeHost::run`) in native tests"
            },
        )),
    }
}

/// `Backend::log` through a version's `log` import module `$wit_log` (the
/// same WIT in every version).
#[cfg(target_arch = "wasm32")]
macro_rules! log_to_import {
    ($wit_log:ident) => {
        fn log(&self, level: Level, message: &str) {
            let level = match level {
                Level::Trace => $wit_log::Level::Trace,
                Level::Debug => $wit_log::Level::Debug,
                Level::Info => $wit_log::Level::Info,
                Level::Warn => $wit_log::Level::Warn,
                Level::Error => $wit_log::Level::Error,
            };
            $wit_log::log(level, message);
        }
    };
}

/// The `Backend` of one contract version's imports (0.2.0 and later share
/// the `log` and `host` interfaces); `$extra` adds what the version adds.
#[cfg(target_arch = "wasm32")]
macro_rules! imports_since_v0_2 {
    ($v:ident, $macro:literal { $($extra:tt)* }) => {
        use super::{Backend, HostError};
        use crate::bindings::$v::crm::plugin::{host as wit, log as wit_log, types};
        use crate::log::Level;

        #[doc = concat!("The contract's imports; only linked into components exported with `", $macro, "`, which installs it.")]
        pub(crate) struct Imports;

        fn err(e: types::HostError) -> HostError {
            HostError::new(e.code, e.message)
        }

        impl Backend for Imports {
            log_to_import!(wit_log);

            fn query(&self, query: &str, variables: &str) -> Result<String, HostError> {
                wit::query(query, variables).map_err(err)
            }

            fn mutate(&self, mutation: &str, variables: &str) -> Result<String, HostError> {
                wit::mutate(mutation, variables).map_err(err)
            }

            fn kv_get(&self, key: &str) -> Result<Option<String>, HostError> {
                wit::kv_get(key).map_err(err)
            }

            fn kv_set(&self, key: &str, value: &str) -> Result<(), HostError> {
                wit::kv_set(key, value).map_err(err)
            }

            fn kv_delete(&self, key: &str) -> Result<(), HostError> {
                wit::kv_delete(key).map_err(err)
            }

            fn config(&self) -> Result<String, HostError> {
                Ok(wit::config())
            }

            fn emit(&self, kind: &str, payload: &str) -> Result<(), HostError> {
                wit::emit(kind, payload).map_err(err)
            }

            $($extra)*
        }
    };
}

/// The host API of contract 0.2.0, through the component's imports.
#[cfg(target_arch = "wasm32")]
pub(crate) mod v0_2 {
    imports_since_v0_2!(v0_2, "export_plugin_v0_2!" {});
}

/// The host API of contract 0.3.0 (0.2.0's plus `http`), through the
/// component's imports.
#[cfg(target_arch = "wasm32")]
pub(crate) mod v0_3 {
    imports_since_v0_2!(v0_3, "export_plugin_v0_3!" {
        fn http(
            &self,
            request: crate::http::Request,
        ) -> Result<crate::http::Response, HostError> {
            use crate::bindings::v0_3::crm::plugin::http as wit_http;
            let answer = wit_http::fetch(&wit_http::Request {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
                timeout_ms: request.timeout_ms,
            })
            .map_err(err)?;
            Ok(crate::http::Response {
                status: answer.status,
                headers: answer.headers,
                body: answer.body,
            })
        }
    });
}

/// Contract 0.1.0 has only `log`: the rest is unsupported.
#[cfg(target_arch = "wasm32")]
pub(crate) mod v0_1 {
    use super::{Backend, HostError};
    use crate::bindings::v0_1::crm::plugin::log as wit_log;
    use crate::log::Level;

    /// The 0.1.0 `log` import; installed by `export_plugin!`.
    pub(crate) struct Imports;

    fn unsupported<T>() -> Result<T, HostError> {
        Err(HostError::new(
            "UNSUPPORTED",
            "the host API needs contract 0.2.0: export the plugin with `export_plugin_v0_2!`",
        ))
    }

    impl Backend for Imports {
        log_to_import!(wit_log);

        fn query(&self, _: &str, _: &str) -> Result<String, HostError> {
            unsupported()
        }

        fn mutate(&self, _: &str, _: &str) -> Result<String, HostError> {
            unsupported()
        }

        fn kv_get(&self, _: &str) -> Result<Option<String>, HostError> {
            unsupported()
        }

        fn kv_set(&self, _: &str, _: &str) -> Result<(), HostError> {
            unsupported()
        }

        fn kv_delete(&self, _: &str) -> Result<(), HostError> {
            unsupported()
        }

        fn config(&self) -> Result<String, HostError> {
            unsupported()
        }

        fn emit(&self, _: &str, _: &str) -> Result<(), HostError> {
            unsupported()
        }
    }
}
