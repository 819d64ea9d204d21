//! What a plugin may do in a tenant: the capabilities its manifest asks for,
//! intersected with what the tenant's operator granted. Decided here, once;
//! the host API modules ask [`Grants::allows`] and nothing else.
//!
//! Capabilities are strings: `read:<entity>`, `write:<entity>`, `pii:read`,
//! `kv`, `emit`, and `http:<origin>` for outbound HTTP (contract 0.3.0) to
//! an [`Origin`] such as `https://erp.example.com`, `https://*.example.com`
//! or `http://127.0.0.1:*`. An operator's grant of `*` means "everything it
//! asks for".
//!
//! ```
//! use crm_host::plugin::{Grants, Manifest};
//!
//! let manifest = Manifest::parse(r#"
//! id = "welcome"
//! version = "0.1.0"
//! contract = "0.2.0"
//! description = "Greets new contacts."
//! [[handlers]]
//! name = "greet"
//! events = ["contact.created"]
//! [capabilities]
//! read = ["contact"]
//! write = ["task"]
//! kv = true
//! "#)?;
//! assert_eq!(Grants::requested(&manifest), ["read:contact", "write:task", "kv"]);
//!
//! // Granted more than it asked for (write:deal) and less (no kv): it gets the intersection.
//! let grants = Grants::new(&manifest, &["read:contact".into(), "write:task".into(), "write:deal".into()]);
//! assert!(grants.allows("write:task"));
//! assert!(!grants.allows("write:deal"));
//! assert!(!grants.allows("kv"));
//! # Ok::<(), crm_host::plugin::ManifestError>(())
//! ```

use super::manifest::Manifest;

/// Grant of key-value storage.
pub const KV: &str = "kv";
/// Grant of emitting `plugin.<id>.<kind>` events.
pub const EMIT: &str = "emit";
/// Grant of reading sensitive personal fields unmasked.
pub const PII_READ: &str = "pii:read";
/// Prefix of the grants of outbound HTTP: `http:<origin>`.
pub const HTTP_PREFIX: &str = "http:";

/// The effective capabilities of a plugin in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    granted: Vec<String>,
    /// The origins the manifest asks for (granted or not), to say which
    /// grant a refused request needs.
    asked_http: Vec<String>,
}

impl Grants {
    /// What `manifest` asks for, in a stable order: `read:<e>` for every
    /// readable entity (capabilities and function entities), `write:<e>`,
    /// `pii:read`, `kv`, `emit`, then `http:<origin>` per origin.
    pub fn requested(manifest: &Manifest) -> Vec<String> {
        let caps = &manifest.capabilities;
        let mut out: Vec<String> = Vec::new();
        let mut add = |c: String| {
            if !out.contains(&c) {
                out.push(c);
            }
        };
        for e in &caps.read {
            add(format!("read:{e}"));
        }
        for e in manifest.functions.iter().flat_map(|f| &f.entities) {
            add(format!("read:{e}"));
        }
        for e in &caps.write {
            add(format!("write:{e}"));
        }
        if caps.pii_read {
            add(PII_READ.to_owned());
        }
        if caps.kv {
            add(KV.to_owned());
        }
        if caps.emit {
            add(EMIT.to_owned());
        }
        for origin in &caps.http {
            add(format!("{HTTP_PREFIX}{origin}"));
        }
        out
    }

    /// The intersection of what `manifest` asks for and what was `granted`.
    pub fn new(manifest: &Manifest, granted: &[String]) -> Self {
        let everything = granted.iter().any(|g| g == "*");
        Grants {
            granted: Self::requested(manifest)
                .into_iter()
                .filter(|c| everything || granted.contains(c))
                .collect(),
            asked_http: manifest.capabilities.http.clone(),
        }
    }

    /// Whether capability `capability` (`write:contact`, `kv`, ...) is granted.
    pub fn allows(&self, capability: &str) -> bool {
        self.granted.iter().any(|g| g == capability)
    }

    /// Whether a granted `http:<origin>` covers `url` (its scheme, host and
    /// port; path and query do not matter).
    pub fn allows_url(&self, url: &reqwest::Url) -> bool {
        self.granted
            .iter()
            .filter_map(|g| g.strip_prefix(HTTP_PREFIX))
            .filter_map(|o| Origin::parse(o).ok())
            .any(|o| o.matches(url))
    }

    /// The first origin the manifest asks for that covers `url`, granted or
    /// not: the grant an operator would give (`http:<origin>`).
    pub fn asked_origin_for(&self, url: &reqwest::Url) -> Option<&str> {
        self.asked_http
            .iter()
            .find(|o| Origin::parse(o).is_ok_and(|o| o.matches(url)))
            .map(String::as_str)
    }

    /// The granted capabilities, as principal scopes.
    pub fn scopes(&self) -> &[String] {
        &self.granted
    }
}

/// An origin a plugin may send HTTP requests to: `scheme://host[:port]`.
///
/// - The scheme is `https` or `http`.
/// - The host is a DNS name or an IP address (IPv6 in brackets); a leading
///   `*.` matches any subdomain (not the domain itself).
/// - The port is a number or `*` (any); without one, the scheme's default.
/// - No user, path, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    /// Lower-case; for a wildcard, the suffix after `*.`.
    host: String,
    wildcard: bool,
    /// `None`: any port.
    port: Option<u16>,
}

impl Origin {
    /// Parse an origin, saying what is wrong with it otherwise.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "{text:?} is not an origin: write scheme://host[:port], e.g. \"https://erp.example.com\""
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(format!("{text:?}: the scheme must be https or http")),
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{text:?}: an origin has no user, path, query or fragment (scheme://host[:port])"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 address without a port has colons but ends in `]`.
            Some((host, port)) if !port.ends_with(']') => (host, Some(port)),
            _ => (rest, None),
        };
        let port = match port {
            None => Some(default_port),
            Some("*") => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("{text:?}: the port must be 1-65535 or *")),
            },
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, host),
        };
        let host = host.to_ascii_lowercase();
        let valid_name = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        let valid_ipv6 = !wildcard
            && host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        if !(valid_name || valid_ipv6) {
            return Err(format!(
                "{text:?}: {host:?} is not a host name or IP address (a wildcard is only a leading `*.`)"
            ));
        }
        if wildcard && !host.contains('.') {
            return Err(format!(
                "{text:?}: a wildcard must keep at least two labels (`*.example.com`, not `*.com`)"
            ));
        }
        Ok(Origin {
            scheme,
            host,
            wildcard,
            port,
        })
    }

    /// Whether `url` is on this origin.
    pub fn matches(&self, url: &reqwest::Url) -> bool {
        if url.scheme() != self.scheme {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == self.host
        };
        host_ok
            && match self.port {
                None => true,
                Some(p) => url.port_or_known_default() == Some(p),
            }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let star = if self.wildcard { "*." } else { "" };
        write!(f, "{}://{star}{}", self.scheme, self.host)?;
        let default = if self.scheme == "https" { 443 } else { 80 };
        match self.port {
            None => write!(f, ":*"),
            Some(p) if p == default => Ok(()),
            Some(p) => write!(f, ":{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(contract: &str, caps: &str) -> Manifest {
        let text = format!(
            "id = \"probe\"\nversion = \"0.1.0\"\ncontract = \"{contract}\"\ndescription = \"\"\n\
             [[functions]]\nname = \"s\"\nkind = \"score\"\nentities = [\"deal\"]\ninput = \"{{ id }}\"\n\
             [capabilities]\n{caps}\n"
        );
        Manifest::parse(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn requested_covers_every_capability_once() {
        let m = manifest(
            "0.2.0",
            "read = [\"contact\", \"deal\"]\nwrite = [\"task\"]\npii-read = true\nkv = true\nemit = true",
        );
        assert_eq!(
            Grants::requested(&m),
            [
                "read:contact",
                "read:deal",
                "write:task",
                "pii:read",
                "kv",
                "emit"
            ]
        );
    }

    #[test]
    fn grants_are_the_intersection() {
        let m = manifest("0.2.0", "read = [\"contact\"]\nkv = true");
        let g = Grants::new(&m, &["read:contact".into(), "emit".into()]);
        assert!(g.allows("read:contact"));
        assert!(!g.allows("emit"), "granted but not asked for");
        assert!(!g.allows("kv"), "asked for but not granted");
        assert!(
            !g.allows("read:deal"),
            "function entities are asked for, not granted"
        );
        let all = Grants::new(&m, &["*".into()]);
        assert_eq!(all.scopes(), ["read:contact", "read:deal", "kv"]);
        assert!(!all.allows("*"));
    }

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn origins_parse_to_one_spelling_or_say_what_is_wrong() {
        for (text, canonical) in [
            ("https://ERP.example.com", "https://erp.example.com"),
            ("https://erp.example.com:443", "https://erp.example.com"),
            (
                "https://erp.example.com:8443",
                "https://erp.example.com:8443",
            ),
            ("http://127.0.0.1:*", "http://127.0.0.1:*"),
            ("https://*.example.com", "https://*.example.com"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]", "http://[::1]"),
        ] {
            let origin = Origin::parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(origin.to_string(), canonical);
        }
        for (text, says) in [
            ("erp.example.com", "write scheme://host[:port]"),
            ("ftp://erp.example.com", "https or http"),
            ("https://erp.example.com/api", "no user, path"),
            ("https://user@erp.example.com", "no user, path"),
            ("https://erp.example.com:0", "1-65535"),
            ("https://erp.example.com:http", "1-65535"),
            ("https://*.com", "at least two labels"),
            ("https://erp.*.com", "not a host name"),
            ("https://", "not a host name"),
            ("https://exa mple.com", "not a host name"),
        ] {
            let err = Origin::parse(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn origins_match_scheme_host_and_port_only() {
        let erp = Origin::parse("https://erp.example.com").unwrap_or_else(|e| panic!("{e}"));
        assert!(erp.matches(&url("https://erp.example.com/orders?id=1")));
        assert!(erp.matches(&url("https://ERP.example.com:443/")));
        assert!(!erp.matches(&url("http://erp.example.com/")), "scheme");
        assert!(!erp.matches(&url("https://erp.example.com:8443/")), "port");
        assert!(!erp.matches(&url("https://erp.example.com.evil.net/")));
        assert!(!erp.matches(&url("https://evilerp.example.com/")));

        let any = Origin::parse("https://*.example.com").unwrap_or_else(|e| panic!("{e}"));
        assert!(any.matches(&url("https://eu.erp.example.com/")));
        assert!(
            !any.matches(&url("https://example.com/")),
            "not the domain itself"
        );
        assert!(!any.matches(&url("https://badexample.com/")));

        let local = Origin::parse("http://127.0.0.1:*").unwrap_or_else(|e| panic!("{e}"));
        assert!(local.matches(&url("http://127.0.0.1:39211/hook")));
        assert!(!local.matches(&url("http://127.0.0.2:39211/hook")));
    }

    #[test]
    fn http_grants_are_per_origin() {
        let m = manifest(
            "0.3.0",
            "http = [\"https://erp.example.com\", \"http://127.0.0.1:*\"]",
        );
        assert_eq!(
            Grants::requested(&m),
            [
                "read:deal",
                "http:https://erp.example.com",
                "http:http://127.0.0.1:*"
            ]
        );
        let g = Grants::new(&m, &["http:https://erp.example.com".into()]);
        assert!(g.allows_url(&url("https://erp.example.com/v1/orders")));
        assert_eq!(
            g.asked_origin_for(&url("http://127.0.0.1:8080/")),
            Some("http://127.0.0.1:*"),
            "the grant to give names the manifest's origin, not the URL's"
        );
        assert_eq!(g.asked_origin_for(&url("https://other.example.com/")), None);
        assert!(
            !g.allows_url(&url("http://127.0.0.1:8080/")),
            "asked for, not granted"
        );
        let all = Grants::new(&m, &["*".into()]);
        assert!(all.allows_url(&url("http://127.0.0.1:8080/")));
        assert!(!all.allows_url(&url("https://other.example.com/")));
    }
}
