//! A stand-in for the CRM behind the host API, for native tests of handlers.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::host::{self, Backend, HostError};
use crate::http;
use crate::log::Level;

type Answer = Arc<dyn Fn(&Value) -> Result<Value, HostError> + Send + Sync>;
type HttpAnswer = Arc<dyn Fn(&http::Request) -> Result<http::Response, HostError> + Send + Sync>;

/// A fake CRM behind [`crate::host`]: answers queries and mutations from
/// canned responses and records every call, key-value write, emitted event
/// and log line, so handler logic is unit-testable with plain `cargo test`.
///
/// It is a handle: clones share the same state, so a test keeps one and
/// gives another to the [`Harness`](super::Harness) (`.with_host(&fake)`).
/// Answers are picked by substring of the query text; the most recently
/// registered match wins, so a test can change an answer between calls.
/// A query without an answer fails with `HOST_ERROR`; a mutation without one
/// succeeds with `{}`.
///
/// ```
/// use crm_plugin_sdk::{host, testing::FakeHost};
/// use serde_json::json;
///
/// let fake = FakeHost::new();
/// fake.on_query("company(id:", json!({ "company": { "name": "Acme" } }));
/// fake.on_query_with("contact(id:", |vars| json!({ "contact": { "id": vars["id"] } }));
/// fake.on_mutate_error("deleteContact", "FORBIDDEN", "write:contact is not granted");
///
/// fake.run(|| {
///     assert_eq!(host::query("{ company(id: 1) { name } }", json!({}))?["company"]["name"], "Acme");
///     assert_eq!(host::query("{ contact(id: $id) { id } }", json!({ "id": "c9" }))?["contact"]["id"], "c9");
///     assert!(host::mutate("mutation { deleteContact(id: 1) }", json!({})).unwrap_err().is_forbidden());
///     Ok::<(), host::HostError>(())
/// })?;
/// assert_eq!(fake.queries().len(), 2);
/// # Ok::<(), crm_plugin_sdk::host::HostError>(())
/// ```
#[derive(Clone, Default)]
pub struct FakeHost {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    query_answers: Vec<(String, Answer)>,
    mutate_answers: Vec<(String, Answer)>,
    queries: Vec<HostCall>,
    mutations: Vec<HostCall>,
    kv: BTreeMap<String, String>,
    emitted: Vec<Emitted>,
    logs: Vec<String>,
    /// (method, URL prefix, answer).
    http_answers: Vec<(String, String, HttpAnswer)>,
    http_requests: Vec<http::Request>,
}

/// One query or mutation a plugin made.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCall {
    /// The GraphQL document.
    pub text: String,
    /// Its variables.
    pub variables: Value,
}

/// One event a plugin emitted with [`host::emit`](crate::host::emit).
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// The kind the plugin gave (the host publishes `plugin.<id>.<kind>`).
    pub kind: String,
    /// The payload.
    pub payload: Value,
}

impl fmt::Debug for FakeHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("FakeHost")
            .field("queries", &s.queries)
            .field("mutations", &s.mutations)
            .field("kv", &s.kv)
            .field("emitted", &s.emitted)
            .finish_non_exhaustive()
    }
}

impl FakeHost {
    /// A fake with no answers and nothing recorded.
    ///
    /// ```
    /// assert!(crm_plugin_sdk::testing::FakeHost::new().mutations().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer queries whose text contains `needle` with `data` (the `data`
    /// object of the GraphQL response).
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// let fake = FakeHost::new();
    /// fake.on_query("companies(", serde_json::json!({ "companies": { "edges": [] } }));
    /// ```
    pub fn on_query(&self, needle: impl Into<String>, data: Value) -> &Self {
        self.on_query_with(needle, move |_| data.clone())
    }

    /// Answer queries whose text contains `needle` with a function of their
    /// variables.
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// # use serde_json::json;
    /// let fake = FakeHost::new();
    /// fake.on_query_with("company(id:", |vars| json!({ "company": { "id": vars["id"], "name": "Acme" } }));
    /// ```
    pub fn on_query_with(
        &self,
        needle: impl Into<String>,
        answer: impl Fn(&Value) -> Value + Send + Sync + 'static,
    ) -> &Self {
        let answer: Answer = Arc::new(move |vars| Ok(answer(vars)));
        self.lock().query_answers.push((needle.into(), answer));
        self
    }

    /// Fail queries whose text contains `needle` (e.g. `FORBIDDEN`, `NOT_FOUND`).
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// FakeHost::new().on_query_error("contact(id:", "NOT_FOUND", "no contact c1");
    /// ```
    pub fn on_query_error(
        &self,
        needle: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> &Self {
        let error = HostError::new(code, message);
        let answer: Answer = Arc::new(move |_| Err(error.clone()));
        self.lock().query_answers.push((needle.into(), answer));
        self
    }

    /// Answer mutations whose text contains `needle` with `data`.
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// let fake = FakeHost::new();
    /// fake.on_mutate("createTask", serde_json::json!({ "createTask": { "id": "t1" } }));
    /// ```
    pub fn on_mutate(&self, needle: impl Into<String>, data: Value) -> &Self {
        self.on_mutate_with(needle, move |_| data.clone())
    }

    /// Answer mutations whose text contains `needle` with a function of their
    /// variables.
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// # use serde_json::json;
    /// let fake = FakeHost::new();
    /// fake.on_mutate_with("createTask", |vars| json!({ "createTask": { "title": vars["i"]["title"] } }));
    /// ```
    pub fn on_mutate_with(
        &self,
        needle: impl Into<String>,
        answer: impl Fn(&Value) -> Value + Send + Sync + 'static,
    ) -> &Self {
        let answer: Answer = Arc::new(move |vars| Ok(answer(vars)));
        self.lock().mutate_answers.push((needle.into(), answer));
        self
    }

    /// Fail mutations whose text contains `needle`.
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// FakeHost::new().on_mutate_error("createTask", "FORBIDDEN", "write:task is not granted");
    /// ```
    pub fn on_mutate_error(
        &self,
        needle: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> &Self {
        let error = HostError::new(code, message);
        let answer: Answer = Arc::new(move |_| Err(error.clone()));
        self.lock().mutate_answers.push((needle.into(), answer));
        self
    }

    /// Store `value` under `key`, as if an earlier run had.
    ///
    /// ```
    /// # use crm_plugin_sdk::testing::FakeHost;
    /// let fake = FakeHost::new();
    /// fake.set_kv("health:co1", "72");
    /// assert_eq!(fake.kv("health:co1").as_deref(), Some("72"));
    /// ```
    pub fn set_kv(&self, key: impl Into<String>, value: impl Into<String>) -> &Self {
        self.lock().kv.insert(key.into(), value.into());
        self
    }

    /// The value stored under `key`.
    ///
    /// ```
    /// assert_eq!(crm_plugin_sdk::testing::FakeHost::new().kv("nope"), None);
    /// ```
    pub fn kv(&self, key: &str) -> Option<String> {
        self.lock().kv.get(key).cloned()
    }

    /// Every stored key and value.
    ///
    /// ```
    /// assert!(crm_plugin_sdk::testing::FakeHost::new().kv_entries().is_empty());
    /// ```
    pub fn kv_entries(&self) -> BTreeMap<String, String> {
        self.lock().kv.clone()
    }

    /// The queries made so far, oldest first.
    ///
    /// ```
    /// assert!(crm_plugin_sdk::testing::FakeHost::new().queries().is_empty());
    /// ```
    pub fn queries(&self) -> Vec<HostCall> {
        self.lock().queries.clone()
    }

    /// The mutations made so far, oldest first.
    ///
    /// ```
    /// assert!(crm_plugin_sdk::testing::FakeHost::new().mutations().is_empty());
    /// ```
    pub fn mutations(&self) -> Vec<HostCall> {
        self.lock().mutations.clone()
    }

    /// The mutations whose text contains `needle` (`"createTask"`).
    ///
    /// ```
    /// assert!(crm_plugin_sdk::testing::FakeHost::new().mutations_containing("createTask").is_empty());
    /// ```
    pub fn mutations_containing(&self, needle: &str) -> Vec<HostCall> {
        let state = self.lock();
        state
            .mutations
            .iter()
            .filter(|m| m.text.contains(needle))
            .cloned()
            .collect()
    }

    /// The events emitted so far, oldest first.
    ///
    /// ```
    /// assert!(crm_plugin_sdk::testing::FakeHost::new().emitted().is_empty());
    /// ```
    pub fn emitted(&self) -> Vec<Emitted> {
        self.lock().emitted.clone()
    }

    /// The log lines so far (`"INFO message"`), oldest first.
    ///
    /// ```
    /// let fake = crm_plugin_sdk::testing::FakeHost::new();
    /// fake.run(|| crm_plugin_sdk::log::info("hello"));
    /// assert_eq!(fake.logs(), ["INFO hello"]);
    /// ```
    pub fn logs(&self) -> Vec<String> {
        self.lock().logs.clone()
    }

    /// Forget the recorded queries, mutations, emitted events and log lines
    /// (answers and key-value entries stay).
    ///
    /// ```
    /// let fake = crm_plugin_sdk::testing::FakeHost::new();
    /// fake.run(|| crm_plugin_sdk::log::info("hello"));
    /// fake.clear_calls();
    /// assert!(fake.logs().is_empty());
    /// ```
    pub fn clear_calls(&self) {
        let mut state = self.lock();
        state.queries.clear();
        state.mutations.clear();
        state.emitted.clear();
        state.logs.clear();
        state.http_requests.clear();
    }

    /// Answer outbound HTTP requests with `method` (any case) whose URL
    /// starts with `url_prefix` with `response`. The most recently
    /// registered match wins; a request without one fails with
    /// `UNAVAILABLE`, as an unreachable server would.
    ///
    /// ```
    /// use crm_plugin_sdk::{http, testing::FakeHost};
    ///
    /// let fake = FakeHost::new();
    /// fake.on_http("GET", "https://erp.example.com/stock/", http::Response::new(200).with_body("7"));
    /// let stock = fake.run(|| http::Request::get("https://erp.example.com/stock/A-1").send())?;
    /// assert_eq!(stock.text()?, "7");
    /// let missing = fake.run(|| http::Request::get("https://other.example.com/").send());
    /// assert_eq!(missing.unwrap_err().code, "UNAVAILABLE");
    /// # Ok::<(), crm_plugin_sdk::Error>(())
    /// ```
    pub fn on_http(
        &self,
        method: &str,
        url_prefix: impl Into<String>,
        response: http::Response,
    ) -> &Self {
        self.on_http_with(method, url_prefix, move |_| Ok(response.clone()))
    }

    /// Answer outbound HTTP requests like [`FakeHost::on_http`], computing
    /// the answer (or the host error, e.g. `TIMEOUT`) from the request.
    ///
    /// ```
    /// use crm_plugin_sdk::{http, host::HostError, testing::FakeHost};
    ///
    /// let fake = FakeHost::new();
    /// fake.on_http_with("POST", "https://erp.example.com/", |_| {
    ///     Err(HostError::new("TIMEOUT", "no complete answer within 5000 ms"))
    /// });
    /// let sent = fake.run(|| http::Request::post("https://erp.example.com/orders").send());
    /// assert_eq!(sent.unwrap_err().code, "TIMEOUT");
    /// ```
    pub fn on_http_with(
        &self,
        method: &str,
        url_prefix: impl Into<String>,
        answer: impl Fn(&http::Request) -> Result<http::Response, HostError> + Send + Sync + 'static,
    ) -> &Self {
        self.lock().http_answers.push((
            method.to_ascii_uppercase(),
            url_prefix.into(),
            Arc::new(answer),
        ));
        self
    }

    /// Every outbound HTTP request made so far, in order.
    ///
    /// ```
    /// use crm_plugin_sdk::{http, testing::FakeHost};
    ///
    /// let fake = FakeHost::new();
    /// fake.on_http("DELETE", "https://erp.example.com/", http::Response::new(204));
    /// fake.run(|| http::Request::delete("https://erp.example.com/orders/7").send())?;
    /// assert_eq!(fake.http_requests()[0].url(), "https://erp.example.com/orders/7");
    /// # Ok::<(), crm_plugin_sdk::host::HostError>(())
    /// ```
    pub fn http_requests(&self) -> Vec<http::Request> {
        self.lock().http_requests.clone()
    }

    fn http(&self, request: http::Request) -> Result<http::Response, HostError> {
        let answer = {
            let mut state = self.lock();
            state.http_requests.push(request.clone());
            let method = request.method().to_ascii_uppercase();
            state
                .http_answers
                .iter()
                .rev()
                .find(|(m, prefix, _)| *m == method && request.url().starts_with(prefix.as_str()))
                .map(|(_, _, answer)| Arc::clone(answer))
        };
        // Called without the lock: an answer may use the fake too.
        match answer {
            Some(answer) => answer(&request),
            None => Err(HostError::new(
                "UNAVAILABLE",
                format!(
                    "FakeHost has no answer for {} {} (add one with on_http)",
                    request.method(),
                    request.url()
                ),
            )),
        }
    }

    /// Run `f` with this fake behind [`crate::host`] and [`crate::log`]
    /// (configuration `{}`); the [`Harness`](super::Harness) does this
    /// around every handler it runs.
    ///
    /// ```
    /// let fake = crm_plugin_sdk::testing::FakeHost::new();
    /// fake.run(|| crm_plugin_sdk::host::kv::set("k", "v"))?;
    /// assert_eq!(fake.kv("k").as_deref(), Some("v"));
    /// # Ok::<(), crm_plugin_sdk::host::HostError>(())
    /// ```
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        self.run_with_config("{}".into(), f)
    }

    pub(crate) fn run_with_config<T>(&self, config: String, f: impl FnOnce() -> T) -> T {
        let _installed = host::install(Rc::new(Fake {
            host: self.clone(),
            config,
        }));
        f()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock already failed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call(&self, mutation: bool, text: &str, variables: &str) -> Result<String, HostError> {
        let variables: Value = serde_json::from_str(variables).map_err(|e| {
            HostError::new("BAD_USER_INPUT", format!("variables are not JSON: {e}"))
        })?;
        let answer = {
            let mut state = self.lock();
            let call = HostCall {
                text: text.to_owned(),
                variables: variables.clone(),
            };
            let answers = if mutation {
                state.mutations.push(call);
                &state.mutate_answers
            } else {
                state.queries.push(call);
                &state.query_answers
            };
            answers
                .iter()
                .rev()
                .find(|(needle, _)| text.contains(needle.as_str()))
                .map(|(_, answer)| Arc::clone(answer))
        };
        // Called without the lock: an answer may use the fake too.
        match answer {
            Some(answer) => answer(&variables).map(|data| data.to_string()),
            None if mutation => Ok("{}".into()),
            None => Err(HostError::new(
                "HOST_ERROR",
                format!("FakeHost has no answer for this query (add one with on_query): {text}"),
            )),
        }
    }
}

/// The fake as the harness installs it, with the call's configuration.
struct Fake {
    host: FakeHost,
    config: String,
}

impl Backend for Fake {
    fn log(&self, level: Level, message: &str) {
        eprintln!("[plugin {level:?}] {message}");
        let line = format!("{} {message}", format!("{level:?}").to_uppercase());
        self.host.lock().logs.push(line);
    }

    fn query(&self, query: &str, variables: &str) -> Result<String, HostError> {
        self.host.call(false, query, variables)
    }

    fn mutate(&self, mutation: &str, variables: &str) -> Result<String, HostError> {
        self.host.call(true, mutation, variables)
    }

    fn kv_get(&self, key: &str) -> Result<Option<String>, HostError> {
        Ok(self.host.kv(key))
    }

    fn kv_set(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.host.set_kv(key, value);
        Ok(())
    }

    fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.host.lock().kv.remove(key);
        Ok(())
    }

    fn config(&self) -> Result<String, HostError> {
        Ok(self.config.clone())
    }

    fn http(&self, request: http::Request) -> Result<http::Response, HostError> {
        self.host.http(request)
    }

    fn emit(&self, kind: &str, payload: &str) -> Result<(), HostError> {
        let payload = serde_json::from_str(payload)
            .map_err(|e| HostError::new("BAD_USER_INPUT", format!("payload is not JSON: {e}")))?;
        self.host.lock().emitted.push(Emitted {
            kind: kind.to_owned(),
            payload,
        });
        Ok(())
    }
}
