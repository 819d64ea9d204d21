//! Outbound HTTP for handlers (contract 0.3.0): call an ERP, a shop, a
//! shipping carrier, from [`Plugin::on_event`](crate::Plugin::on_event),
//! [`on_schedule`](crate::Plugin::on_schedule) or
//! [`action`](crate::Plugin::action).
//!
//! Only origins the manifest asks for and the tenant's operator grants are
//! reachable:
//!
//! ```toml
//! contract = "0.3.0"
//! [capabilities]
//! http = ["https://erp.example.com", "https://*.myshop.example"]
//! ```
//!
//! Anything else fails with `FORBIDDEN` before a byte leaves the CRM. The
//! host does not follow redirects (a 3xx is an answer like any other), caps
//! each request at what is left of the handler's deadline, and bounds the
//! request and response bodies (4 MiB by default). Any status is a
//! [`Response`]; only a request that got no complete answer is an error:
//! `TIMEOUT`, `UNAVAILABLE` (connection, DNS, TLS), `LIMIT_EXCEEDED`,
//! `BAD_REQUEST`, `FORBIDDEN`.
//!
//! In native tests the requests go to the [`FakeHost`](crate::testing::FakeHost)
//! (`on_http`), which records them.
//!
//! ```
//! use crm_plugin_sdk::{http, testing::FakeHost};
//! use serde_json::json;
//!
//! let fake = FakeHost::new();
//! fake.on_http("POST", "https://erp.example.com/orders", http::Response::new(201).with_json(&json!({"id": "SO-1"})));
//! let answer = fake.run(|| {
//!     http::Request::post("https://erp.example.com/orders")
//!         .bearer("secret")
//!         .json(&json!({"sku": "A-1", "qty": 2}))
//!         .send()
//! })?;
//! assert_eq!(answer.status, 201);
//! assert_eq!(answer.json()?["id"], "SO-1");
//! let sent = &fake.http_requests()[0];
//! assert_eq!(sent.header_value("authorization"), Some("Bearer secret"));
//! assert_eq!(sent.json_body()?["qty"], 2);
//! # Ok::<(), crm_plugin_sdk::Error>(())
//! ```

use serde_json::Value;

use crate::Error;
use crate::host::HostError;

/// An outbound request, built with [`Request::get`], [`Request::post`], ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) timeout_ms: Option<u32>,
}

impl Request {
    /// A request with any method (`GET`, `HEAD`, `POST`, `PUT`, `PATCH`,
    /// `DELETE`, `OPTIONS`).
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }

    /// Add a header (names are case-insensitive; `Host`, `Content-Length`
    /// and hop-by-hop headers are the host's and refused).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    /// A raw body (set `Content-Type` with [`Request::header`]).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Give up after `ms` milliseconds (never later than the handler's
    /// deadline, whatever is asked).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Send it: [`fetch`].
    ///
    /// # Errors
    /// See [`fetch`].
    pub fn send(self) -> Result<Response, HostError> {
        fetch(self)
    }

    /// The method, as given.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every header, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The last value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body, if any.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The body parsed as JSON; for tests.
    ///
    /// # Errors
    /// `INVALID_INPUT` when there is no body or it is not JSON.
    pub fn json_body(&self) -> Result<Value, Error> {
        serde_json::from_slice(self.body.as_deref().unwrap_or_default()).map_err(|e| {
            Error::new(
                "INVALID_INPUT",
                format!("the request body is not JSON: {e}"),
            )
        })
    }

    /// The timeout asked for, if any.
    pub fn timeout(&self) -> Option<u32> {
        self.timeout_ms
    }
}

/// The answer to a [`Request`]: any status, 4xx and 5xx included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with `status` (for tests: [`FakeHost::on_http`](crate::testing::FakeHost::on_http)).
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// With a JSON body and `content-type: application/json`.
    pub fn with_json(self, body: &Value) -> Self {
        self.with_header("content-type", "application/json")
            .with_body(body.to_string())
    }

    /// With a raw body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// With a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The last value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    /// `INVALID_INPUT` when it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::new("INVALID_INPUT", format!("the response is not UTF-8: {e}")))
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// `INVALID_INPUT` when it is not JSON (the message names the status).
    pub fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                "INVALID_INPUT",
                format!("the response (status {}) is not JSON: {e}", self.status),
            )
        })
    }

    /// `Ok(self)` for a 2xx status, otherwise an error with code
    /// `HTTP_<status>` and the start of the body, for `?` in handlers that
    /// treat any other status as a failure (so the job is retried).
    ///
    /// # Errors
    /// `HTTP_<status>` for a non-2xx status.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.is_success() {
            return Ok(self);
        }
        let text = String::from_utf8_lossy(&self.body);
        let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
        Err(Error::new(
            format!("HTTP_{}", self.status),
            format!("the server answered {}: {}", self.status, &text[..end]),
        ))
    }
}

/// The last value of header `name` (case-insensitive) in `headers`.
pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Send `request` to a granted origin and wait for the whole answer.
///
/// # Errors
/// A [`HostError`]: `FORBIDDEN` (origin not granted, or called from a
/// function), `BAD_REQUEST`, `TIMEOUT`, `LIMIT_EXCEEDED`, `UNAVAILABLE`, or
/// `UNSUPPORTED` in a component not exported with
/// [`export_plugin_v0_3!`](crate::export_plugin_v0_3).
pub fn fetch(request: Request) -> Result<Response, HostError> {
    match crate::host::current() {
        Some(backend) => backend.http(request),
        None => Err(HostError::new(
            "UNSUPPORTED",
            "no host: run handlers through `testing::Harness` (or `FakeHost::run`) in native tests",
        )),
    }
}
