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
    // Every attempt counts, refused ones too: a loop of bad requests is
    // stopped as surely as a loop of good ones.
    let left = gate.http_requests_left.get();
    if left == 0 {
        return Err(HostError::new(
            host_codes::LIMIT_EXCEEDED,
            "this run has sent as many HTTP requests as one run may (http_requests_per_run in \
             the runtime configuration, CRM_PLUGIN_HTTP_REQUESTS_PER_RUN); continue in a later \
             run, e.g. keep your place in kv and let the next scheduled run resume",
        ));
    }
    gate.http_requests_left.set(left - 1);
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
/// environment (the connection goes to the granted origin itself), and
/// host names resolved by [`GuardedResolver`].
#[derive(Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
}

impl OutboundHttp {
    /// Build the client (user agent `crm-plugin/<version>`). With
    /// `private_networks` false a granted host *name* reaches public
    /// addresses only; see [`GuardedResolver`].
    pub fn new(private_networks: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(std::sync::Arc::new(GuardedResolver { private_networks }))
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
        if let Some(blocked) = cause.downcast_ref::<BlockedAddress>() {
            return HostError::new(host_codes::FORBIDDEN, blocked.to_string());
        }
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    HostError::new(host_codes::UNAVAILABLE, message)
}

/// Resolves the host names of plugins' requests and keeps only addresses a
/// plugin may reach by name.
///
/// The operator grants a plugin an origin by name (`http:https://erp.example.com`),
/// but whoever controls that name's DNS decides where it points, today and
/// later. So a name never reaches a link-local address (`169.254.0.0/16`,
/// where clouds serve instance credentials, and `fe80::/10`), multicast,
/// reserved or unspecified addresses; and, unless the operator allows private
/// networks (`CRM_PLUGIN_HTTP_PRIVATE_NETWORKS=1`, for an ERP on the
/// intranet), no loopback, private (RFC 1918, `fc00::/7`) or shared
/// (`100.64.0.0/10`) address either. A name with some public addresses
/// connects to those. An origin granted as an IP address (`http://10.0.0.7:8080`)
/// is not resolved: the operator named that address.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub private_networks: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let private_networks = self.private_networks;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| match address_class(a.ip()) {
                    None => true,
                    Some(class) if private_networks && class.private_network() => true,
                    Some(class) => {
                        refused.get_or_insert((a.ip(), class));
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some((ip, class))) => Err(Box::new(BlockedAddress {
                    host,
                    ip,
                    class,
                    private_networks,
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// A kind of address that is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    /// RFC 1918 and IPv6 unique local (`fc00::/7`).
    Private,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    Shared,
    /// `169.254.0.0/16`, `fe80::/10`: never reachable by name.
    LinkLocal,
    /// Unspecified, broadcast, multicast, documentation and other reserved
    /// ranges: never reachable by name.
    Reserved,
}

impl AddressClass {
    /// Whether `CRM_PLUGIN_HTTP_PRIVATE_NETWORKS` opens this class to names.
    pub fn private_network(self) -> bool {
        matches!(
            self,
            AddressClass::Loopback | AddressClass::Private | AddressClass::Shared
        )
    }

    fn describe(self) -> &'static str {
        match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::Shared => "a shared (carrier-grade NAT) address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Reserved => "a reserved address",
        }
    }
}

/// The class of `ip`, `None` when it is public.
pub fn address_class(ip: std::net::IpAddr) -> Option<AddressClass> {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            // What std has not stabilised yet: shared (100.64.0.0/10), "this
            // network" (0.0.0.0/8), reserved (240.0.0.0/4), IETF protocol
            // assignments (192.0.0.0/24) and benchmarking (198.18.0.0/15).
            let [a, b, c, _] = v4.octets();
            if v4.is_loopback() {
                Some(AddressClass::Loopback)
            } else if v4.is_private() {
                Some(AddressClass::Private)
            } else if a == 100 && (64..128).contains(&b) {
                Some(AddressClass::Shared)
            } else if v4.is_link_local() {
                Some(AddressClass::LinkLocal)
            } else if v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
            {
                Some(AddressClass::Reserved)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return address_class(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            if v6.is_loopback() {
                Some(AddressClass::Loopback)
            } else if v6.is_unique_local() {
                Some(AddressClass::Private)
            } else if v6.is_unicast_link_local() {
                Some(AddressClass::LinkLocal)
            } else if v6.is_unspecified()
                || v6.is_multicast()
                // Documentation, 2001:db8::/32 (std's is not stable yet).
                || (first == 0x2001 && second == 0x0db8)
            {
                Some(AddressClass::Reserved)
            } else {
                None
            }
        }
    }
}

/// A host name that resolved to addresses a plugin may not reach by name
/// only; the request is refused with `FORBIDDEN`.
#[derive(Debug)]
struct BlockedAddress {
    host: String,
    ip: std::net::IpAddr,
    class: AddressClass,
    private_networks: bool,
}

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let BlockedAddress {
            host, ip, class, ..
        } = self;
        write!(
            f,
            "{host} resolves to {ip}, {}, which a plugin may not reach by host name",
            class.describe()
        )?;
        if class.private_network() && !self.private_networks {
            write!(
                f,
                "; the operator lets granted names reach private networks with \
                 CRM_PLUGIN_HTTP_PRIVATE_NETWORKS=1, or grants the address itself as an origin"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for BlockedAddress {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn class(ip: &str) -> Option<AddressClass> {
        address_class(ip.parse::<IpAddr>().expect("an address"))
    }

    #[test]
    fn addresses_are_classified() {
        use AddressClass::*;
        for (ip, want) in [
            ("93.184.216.34", None),
            ("8.8.8.8", None),
            ("2606:4700::1111", None),
            ("127.0.0.1", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("100.64.0.1", Some(Shared)),
            ("100.128.0.1", None),
            ("169.254.169.254", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("0.0.0.0", Some(Reserved)),
            ("255.255.255.255", Some(Reserved)),
            ("224.0.0.1", Some(Reserved)),
            ("192.0.2.1", Some(Reserved)),
            ("::", Some(Reserved)),
            ("ff02::1", Some(Reserved)),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
        assert!(
            Private.private_network() && Loopback.private_network() && Shared.private_network()
        );
        assert!(!LinkLocal.private_network() && !Reserved.private_network());
    }

    /// A one-shot HTTP server on 127.0.0.1 answering 204; its port.
    async fn answer_once() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        port
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: Url::parse(url).expect("url"),
            headers: vec![],
            body: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn names_reach_private_networks_only_when_the_operator_allows() {
        let port = answer_once().await;
        let send = move |private_networks: bool, url: String| {
            tokio::task::spawn_blocking(move || {
                let handle = tokio::runtime::Handle::current();
                OutboundHttp::new(private_networks).expect("client").send(
                    &handle,
                    get(&url),
                    Duration::from_secs(5),
                    1024,
                )
            })
        };
        // By name: localhost is loopback, refused unless allowed.
        let refused = send(false, format!("http://localhost:{port}/"))
            .await
            .expect("join")
            .expect_err("refused");
        assert_eq!(refused.code, "FORBIDDEN", "{refused:?}");
        assert!(
            refused.message.contains("localhost resolves to")
                && refused.message.contains("a loopback address")
                && refused
                    .message
                    .contains("CRM_PLUGIN_HTTP_PRIVATE_NETWORKS=1"),
            "{refused:?}"
        );
        let allowed = send(true, format!("http://localhost:{port}/"))
            .await
            .expect("join")
            .expect("allowed");
        assert_eq!(allowed.status, 204);
        // An address the operator granted as such is not resolved.
        let literal = send(false, format!("http://127.0.0.1:{port}/"))
            .await
            .expect("join")
            .expect("an IP origin is explicit");
        assert_eq!(literal.status, 204);
    }
}
