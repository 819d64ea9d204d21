//! `http.fetch` (contract 0.3.0): outbound HTTP for handlers, to the
//! origins the tenant granted (`http:<origin>`, see
//! [`crate::plugin::capabilities::Origin`]) and nowhere else.
//!
//! The runtime checks everything it can before a byte leaves the host: the
//! call is made by a handler, the URL is absolute `http(s)` without
//! credentials, its origin is granted, the method and headers are
//! well-formed and not ones the host owns (`Host`, `Content-Length`, ...),
//! the body is within [`RuntimeConfig::http_body_limit`]. The timeout is
//! the plugin's own, capped at what is left of the handler's deadline. The
//! embedder's [`HostApi::http`] then sends it ([`OutboundHttp`] is the
//! standard implementation: no redirects followed, no proxies, bounded
//! body), and every call is written to the run log: method, origin and
//! path (never the query string, which may carry credentials), status,
//! duration and size.
//!
//! [`RuntimeConfig::http_body_limit`]: crate::plugin::RuntimeConfig::http_body_limit
//! [`HostApi::http`]: super::HostApi::http

use std::time::{Duration, Instant};

use reqwest::Url;

use super::{HostError, HostGate, host_codes};
use crate::plugin::sandbox::StoreState;

/// Methods a plugin may send.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Request headers the host sets itself or that would let a request escape
/// its origin or framing; a plugin sending one is refused.
const HOST_OWNED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
];

/// An outbound request as the guest sent it (before any check).
pub(crate) struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// A checked outbound request, as the embedder receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case, one of [`METHODS`].
    pub method: String,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// The answer to an outbound request: any status is an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Serve `http.fetch`: check, send through the embedder, log.
pub(crate) fn fetch(state: &mut StoreState, request: Request) -> Result<HttpResponse, HostError> {
    let mut line = None;
    let result = super::call(state, "http-fetch", |gate| {
        let (checked, timeout) = check(gate, request)?;
        let shown = format!(
            "{} {}{}",
            checked.method,
            checked.url.origin().ascii_serialization(),
            checked.url.path()
        );
        let started = Instant::now();
        let answer = gate.api.http(checked, timeout, gate.http_body_limit);
        let took = started.elapsed().as_millis();
        line = Some(match &answer {
            Ok(r) => format!(
                "{shown} -> {} in {took} ms, {} bytes",
                r.status,
                r.body.len()
            ),
            Err(e) => format!("{shown} -> {} after {took} ms", e.code),
        });
        answer
    });
    if let Some(line) = line {
        state.log.push("http", &line);
    }
    result
}

/// Everything the runtime decides before the request may leave.
fn check(gate: &HostGate, request: Request) -> Result<(HttpRequest, Duration), HostError> {
    let method = request.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(HostError::bad_request(format!(
            "method {:?} is not one of {}",
            request.method,
            METHODS.join(", ")
        )));
    }
    let url = Url::parse(&request.url).map_err(|e| {
        HostError::bad_request(format!(
            "{:?} is not an absolute URL ({e})",
            clip(&request.url)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HostError::bad_request(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HostError::bad_request(
            "the URL carries credentials; send them in a header (e.g. Authorization) instead",
        ));
    }
    if !gate.grants.allows_url(&url) {
        let origin = url.origin().ascii_serialization();
        let plugin = &gate.plugin;
        let message = match gate.grants.asked_origin_for(&url) {
            Some(asked) => format!(
                "plugin {plugin} lacks grant http:{asked} (which covers {origin}); the tenant's \
                 operator grants it by name: enablePlugin(id: \"{plugin}\", grants: [..., \"http:{asked}\"])"
            ),
            None => format!(
                "plugin {plugin} may not send requests to {origin}: no origin in [capabilities] \
                 http of its plugin.toml covers it (add one, e.g. \"{origin}\", and have the \
                 operator grant it)"
            ),
        };
        return Err(HostError::new(host_codes::FORBIDDEN, message));
    }
    for (name, value) in &request.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(HostError::bad_request(format!(
                "{:?} is not a valid header name",
                clip(name)
            )));
        }
        if HOST_OWNED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(HostError::bad_request(format!(
                "header {name:?} is set by the host; leave it out"
            )));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(HostError::bad_request(format!(
                "the value of header {name:?} is not a valid header value"
            )));
        }
    }
    if let Some(body) = &request.body
        && body.len() > gate.http_body_limit
    {
        return Err(HostError::bad_request(format!(
            "the request body is {} bytes, over the limit of {}",
            body.len(),
            gate.http_body_limit
        )));
    }
    let left = gate.deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HostError::new(
            host_codes::TIMEOUT,
            "the handler's deadline has passed",
        ));
    }
    let timeout = request.timeout.map_or(left, |asked| asked.min(left));
    Ok((
        HttpRequest {
            method,
            url,
            headers: request.headers,
            body: request.body,
        },
        timeout,
    ))
}

fn clip(text: &str) -> &str {
    &text[..crate::plugin::sandbox::floor_char_boundary(text, 200)]
}

/// The standard [`super::HostApi::http`]: one connection pool per process,
/// rustls with the Mozilla roots, no redirects followed (a 3xx goes back to
/// the plugin, whose next request is checked again), no proxies from the
/// environment (the connection goes to the granted origin itself).
#[derive(Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
}

impl OutboundHttp {
    /// Build the client (user agent `crm-plugin/<version>`).
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("crm-plugin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(OutboundHttp { client })
    }

    /// Send `request` on `handle`'s runtime and read the whole answer,
    /// within `timeout` and `max_body` bytes. Blocks: call it from the
    /// thread running the guest, never from an async task.
    pub fn send(
        &self,
        handle: &tokio::runtime::Handle,
        request: HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, HostError> {
        let work = async {
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|e| HostError::bad_request(format!("method: {e}")))?;
            let mut builder = self.client.request(method, request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder.send().await.map_err(unavailable)?;
            if let Some(length) = response.content_length()
                && length > max_body as u64
            {
                return Err(too_large(max_body));
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
                if body.len() + chunk.len() > max_body {
                    return Err(too_large(max_body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        };
        handle.block_on(async {
            tokio::time::timeout(timeout, work)
                .await
                .unwrap_or_else(|_| {
                    Err(HostError::new(
                        host_codes::TIMEOUT,
                        format!("no complete answer within {} ms", timeout.as_millis()),
                    ))
                })
        })
    }
}

fn too_large(max_body: usize) -> HostError {
    HostError::new(
        host_codes::LIMIT_EXCEEDED,
        format!("the response body is over the limit of {max_body} bytes"),
    )
}

fn unavailable(e: reqwest::Error) -> HostError {
    // Without the URL: its query may carry credentials. reqwest's Display
    // omits the cause ("error sending request"); the chain says what
    // actually failed (refused, DNS, TLS, ...).
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    HostError::new(host_codes::UNAVAILABLE, message)
}
