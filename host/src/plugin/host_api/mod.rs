//! The host API of contracts 0.2.0 and 0.3.0, one module per host
//! capability (the Spin factors model): [`graphql`] (`query`, `mutate`),
//! [`kv`] (`kv-get`, `kv-set`, `kv-delete`), [`events`] (`emit`),
//! [`config`], and [`http`] (`fetch`, 0.3.0). Each module
//! owns its permission check, asking [`Grants`] whether the capability was
//! granted; what a call then does is up to the embedder's [`HostApi`].
//!
//! Only handlers get the host API. A function (validate/score) that calls a
//! host import is refused with `FORBIDDEN`, and every refusal — missing
//! grant or not allowed in functions — is written to the run's log, so it
//! is recorded with the run.
//!
//! Architecture invariant: the runtime never reaches the database or the
//! GraphQL schema itself; it calls [`HostApi`], which the host implements
//! with the plugin's own principal.

pub(crate) mod config;
pub(crate) mod events;
pub(crate) mod graphql;
pub(crate) mod http;
pub(crate) mod kv;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::capabilities::Grants;
use super::sandbox::StoreState;

/// Codes of [`HostError::code`] chosen by the host (GraphQL failures keep
/// the GraphQL error's `extensions.code`).
pub mod host_codes {
    /// The plugin lacks the grant, or the call is not allowed where it was made.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// The arguments are malformed (not JSON, a mutation sent to `query`, a too long key...).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// Anything else that went wrong on the host's side.
    pub const HOST_ERROR: &str = "HOST_ERROR";
    /// An outbound HTTP call did not finish in time (its own timeout or the
    /// handler's deadline).
    pub const TIMEOUT: &str = "TIMEOUT";
    /// An outbound HTTP response body was larger than the host accepts, or
    /// the run has sent as many requests as one run may.
    pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
    /// An outbound HTTP call failed to connect or broke off (DNS, TCP, TLS,
    /// protocol); worth retrying later.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
}

/// Why a host call was refused or failed; the guest receives it as its
/// `host-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HostError {
    /// `FORBIDDEN`, a GraphQL error code (`NOT_FOUND`, `BAD_USER_INPUT`, ...),
    /// `BAD_REQUEST` or `HOST_ERROR`.
    pub code: String,
    pub message: String,
}

impl HostError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        HostError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `plugin <id> lacks grant <capability>`.
    pub fn lacks_grant(plugin: &str, capability: &str) -> Self {
        HostError::new(
            host_codes::FORBIDDEN,
            format!("plugin {plugin} lacks grant {capability}"),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        HostError::new(host_codes::BAD_REQUEST, message)
    }

    pub fn is_forbidden(&self) -> bool {
        self.code == host_codes::FORBIDDEN
    }
}

/// What the embedder does for a handler's host calls, bound to one tenant
/// and one plugin. The runtime has already checked the grants it owns
/// (`kv`, `emit`) and the shape of the call; GraphQL calls run as the
/// plugin's principal, whose read/write scopes the GraphQL layer enforces.
///
/// Methods block: the runtime calls them from the thread running the guest
/// (never an async worker), so an implementation may `block_on` a future.
pub trait HostApi: Send + Sync {
    /// Run a GraphQL query; `Ok` is its `data`.
    fn query(&self, query: &str, variables: &Value) -> Result<Value, HostError>;
    /// Run a GraphQL mutation; `Ok` is its `data`.
    fn mutate(&self, mutation: &str, variables: &Value) -> Result<Value, HostError>;
    fn kv_get(&self, key: &str) -> Result<Option<String>, HostError>;
    fn kv_set(&self, key: &str, value: &str) -> Result<(), HostError>;
    fn kv_delete(&self, key: &str) -> Result<(), HostError>;
    /// The plugin's effective configuration for the tenant.
    fn config(&self) -> Value;
    /// Emit the event `plugin.<plugin id>.<kind>`.
    fn emit(&self, kind: &str, payload: &Value) -> Result<(), HostError>;
    /// Send an outbound HTTP request whose origin the runtime has already
    /// checked against the grants, giving up after `timeout` and refusing a
    /// response body over `max_body` bytes. [`http::OutboundHttp`] is the
    /// standard implementation.
    fn http(
        &self,
        request: http::HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> Result<http::HttpResponse, HostError>;
}

/// What one call's host imports may reach.
pub(crate) enum HostAccess {
    /// A function: host calls are refused; `config` answers with the call's
    /// own configuration (it is in the call context anyway).
    Function { config: String },
    /// A handler of `plugin` with its effective `grants`.
    Handler(HostGate),
}

/// A handler's way to the host: who it is, what it was granted, and the
/// embedder's implementation.
pub(crate) struct HostGate {
    pub(crate) plugin: String,
    pub(crate) grants: Grants,
    pub(crate) api: Arc<dyn HostApi>,
    /// When the handler's wall-clock deadline passes: no host call waits
    /// beyond it.
    pub(crate) deadline: Instant,
    /// [`super::RuntimeConfig::http_body_limit`].
    pub(crate) http_body_limit: usize,
    /// Outbound requests this run may still send
    /// ([`super::RuntimeConfig::http_requests_per_run`]).
    pub(crate) http_requests_left: std::cell::Cell<u32>,
}

impl HostGate {
    /// `Ok` when `capability` is granted, else the `FORBIDDEN` error.
    pub(crate) fn require(&self, capability: &str) -> Result<(), HostError> {
        if self.grants.allows(capability) {
            Ok(())
        } else {
            Err(HostError::lacks_grant(&self.plugin, capability))
        }
    }
}

/// Longest message of a host error written to the run log.
const LOGGED_MESSAGE: usize = 512;

/// Run host call `what` through the store's gate, writing every refusal
/// and failure to the run log.
pub(crate) fn call<T>(
    state: &mut StoreState,
    what: &str,
    f: impl FnOnce(&HostGate) -> Result<T, HostError>,
) -> Result<T, HostError> {
    let result = match &state.host {
        HostAccess::Function { .. } => Err(HostError::new(
            host_codes::FORBIDDEN,
            "host calls are not allowed in functions (validate/score); use a handler",
        )),
        HostAccess::Handler(gate) => f(gate),
    };
    if let Err(e) = &result {
        let verdict = if e.is_forbidden() {
            "refused"
        } else {
            "failed"
        };
        let message = &e.message[..super::sandbox::floor_char_boundary(&e.message, LOGGED_MESSAGE)];
        state
            .log
            .push("host", &format!("{what} {verdict}: {}: {message}", e.code));
    }
    result
}

/// Parse JSON text sent by the guest; empty text is `null`.
pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value, HostError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| HostError::bad_request(format!("{what} is not valid JSON: {e}")))
}

impl fmt::Debug for HostGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostGate")
            .field("plugin", &self.plugin)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}
