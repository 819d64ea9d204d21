//! Webhooks (contract 0.3.0): requests other systems send to a plugin's
//! secret URL, delivered to [`Plugin::on_webhook`](crate::Plugin::on_webhook).

use serde_json::Value;

use crate::Error;

/// A request received on one of the plugin's webhook URLs
/// (`/hooks/<token>[/<path>]`). The sender was answered `202` when it was
/// queued; the plugin runs from the job queue, and a failed run is retried
/// with the same `id`.
///
/// ```
/// use crm_plugin_sdk::WebhookRequest;
///
/// let request = WebhookRequest::new("POST", br#"{"sku": "A-1", "stock": 7}"#.to_vec())
///     .with_path("/stock")
///     .with_query("source=erp")
///     .with_header("X-Erp-Event", "stock.changed");
/// assert_eq!(request.header("x-erp-event"), Some("stock.changed"));
/// assert_eq!(request.query_param("source").as_deref(), Some("erp"));
/// assert_eq!(request.json()?["stock"], 7);
/// # Ok::<(), crm_plugin_sdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The delivery's id: the same on every retry, for idempotency.
    pub id: String,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// What followed the webhook's URL: `""` or `"/..."`.
    pub path: String,
    /// The query string without `?`; `""` when there was none.
    pub query: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body (verify a sender's signature over these bytes).
    pub body: Vec<u8>,
    /// When the CRM received it (RFC 3339).
    pub received_at: String,
}

impl WebhookRequest {
    /// A request with `method` and `body` (for tests; the rest empty, the
    /// id `delivery-1`).
    pub fn new(method: &str, body: impl Into<Vec<u8>>) -> Self {
        WebhookRequest {
            id: "delivery-1".into(),
            method: method.to_owned(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: body.into(),
            received_at: "1970-01-01T00:00:00Z".into(),
        }
    }

    /// With a JSON body and `content-type: application/json` (for tests).
    pub fn json_body(value: &Value) -> Self {
        Self::new("POST", value.to_string()).with_header("content-type", "application/json")
    }

    /// With the delivery id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// With the path after the webhook's URL.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// With a query string (without `?`).
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// With a header (its name is stored in lower case, as the host sends it).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The last value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::find_header(&self.headers, name)
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    /// `INVALID_INPUT` when it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|e| {
            Error::new(
                "INVALID_INPUT",
                format!("the webhook body is not UTF-8: {e}"),
            )
        })
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// `INVALID_INPUT` when it is not JSON.
    pub fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                "INVALID_INPUT",
                format!("the webhook body is not JSON: {e}"),
            )
        })
    }
    /// Whether `signature` is the HMAC-SHA256 of the raw body under
    /// `secret`, as most senders sign (GitHub's `X-Hub-Signature-256:
    /// sha256=<hex>`, Shopify's `X-Shopify-Hmac-Sha256: <base64>`, ...).
    /// `signature` may be hex or base64, with or without a `sha256=`
    /// prefix; the comparison takes the same time whatever the signature.
    ///
    /// ```
    /// use crm_plugin_sdk::WebhookRequest;
    ///
    /// let request = WebhookRequest::new("POST", r#"{"paid":true}"#)
    ///     .with_header("x-erp-signature", "sha256=fefda767798cff72687f2f441f7823a4bdf1d1103efdc00b271dd94df4c2f68a");
    /// let sent = request.header("x-erp-signature").unwrap_or_default();
    /// assert!(request.verify_hmac_sha256(b"erp-secret", sent));
    /// assert!(!request.verify_hmac_sha256(b"another-secret", sent));
    /// ```
    pub fn verify_hmac_sha256(&self, secret: &[u8], signature: &str) -> bool {
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let text = signature.trim();
        let text = text.strip_prefix("sha256=").unwrap_or(text);
        let tag = decode_hex(text)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok());
        let (Some(tag), Ok(mut mac)) = (tag, Hmac::<sha2::Sha256>::new_from_slice(secret)) else {
            return false;
        };
        mac.update(&self.body);
        tag.len() == 32 && mac.verify_slice(&tag).is_ok()
    }
}

/// Bytes of a hex string of even length, if it is one.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Decode `application/x-www-form-urlencoded` text.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match text.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                    Some(Ok(b)) => {
                        out.push(b);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_signatures_verify_in_hex_and_base64() {
        // RFC 4231, test case 2.
        let request = WebhookRequest::new("POST", "what do ya want for nothing?");
        let hex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(request.verify_hmac_sha256(b"Jefe", hex));
        assert!(request.verify_hmac_sha256(b"Jefe", &format!("sha256={hex}")));
        assert!(request.verify_hmac_sha256(b"Jefe", &hex.to_uppercase()));
        assert!(
            request.verify_hmac_sha256(b"Jefe", "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=")
        );
        assert!(!request.verify_hmac_sha256(b"jefe", hex));
        assert!(!request.verify_hmac_sha256(b"Jefe", &hex[..62]));
        assert!(!request.verify_hmac_sha256(b"Jefe", "not a signature"));
        assert!(!request.verify_hmac_sha256(b"Jefe", ""));
        let tampered = WebhookRequest::new("POST", "what do ya want for nothing!");
        assert!(!tampered.verify_hmac_sha256(b"Jefe", hex));
    }

    #[test]
    fn query_params_are_decoded() {
        let r =
            WebhookRequest::new("POST", "").with_query("a=1&name=Li+Wei&x=%E4%B8%AD&bad=%zz&flag");
        assert_eq!(r.query_param("a").as_deref(), Some("1"));
        assert_eq!(r.query_param("name").as_deref(), Some("Li Wei"));
        assert_eq!(r.query_param("x").as_deref(), Some("中"));
        assert_eq!(r.query_param("bad").as_deref(), Some("%zz"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("missing"), None);
    }
}
