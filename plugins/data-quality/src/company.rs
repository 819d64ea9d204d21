//! Checks of a company.

use crm_plugin_sdk::{
    Decision,
    models::Company,
    normalize::{email, phone},
};
use serde_json::Value;

use crate::{
    Config,
    contact::{check_phone, present},
    findings::Findings,
};

/// Check a candidate company: collapse whitespace in its name, normalise its
/// web domain and its phone (in the company's own `country` when that is a
/// supported ISO code, else `default-region`). The configuration must have
/// passed [`Config::check`].
///
/// ```
/// use crm_plugin_sdk::models::Company;
/// use data_quality::{validate_company, Config};
/// use serde_json::json;
///
/// let company = Company {
///     domain: Some("https://www.Acme.com/".into()),
///     phone: Some("(415) 555-2671".into()),
///     country: Some("US".into()),
///     ..Company::default()
/// };
/// let decision = validate_company(&Config::default(), &company);
/// assert_eq!(decision.patched("domain"), Some(&json!("acme.com")));
/// assert_eq!(decision.patched("phone"), Some(&json!("+14155552671")));
/// ```
pub fn validate_company(cfg: &Config, company: &Company) -> Decision {
    let mut found = Findings::default();
    if let Some(name) = &company.name {
        let collapsed = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            if !name.is_empty() {
                found.patch("name", Value::Null);
            }
        } else if collapsed != *name {
            found.patch("name", Value::from(collapsed));
        }
    }
    if let Some(raw) = present(&company.domain) {
        check_domain(cfg, &mut found, raw);
    }
    if let Some(raw) = present(&company.phone) {
        let region = company
            .country
            .as_deref()
            .map(str::trim)
            .filter(|c| phone::calling_code(c).is_some())
            .unwrap_or(&cfg.default_region);
        check_phone(cfg, &mut found, raw, region);
    }
    found.finish(cfg, &company.tags)
}

/// `https://www.Acme.com/about` -> `acme.com`.
fn check_domain(cfg: &Config, found: &mut Findings, raw: &str) {
    let trimmed = raw.trim();
    let lower = trimmed.to_lowercase();
    let without_scheme = ["https://", "http://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
        .unwrap_or(&lower);
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    // The e-mail rules already know what a valid domain is.
    match email::normalize(&format!("x@{host}")) {
        Ok(address) => {
            let domain = address.strip_prefix("x@").unwrap_or(&address);
            if domain != raw {
                found.patch("domain", Value::from(domain));
            }
        }
        Err(_) => {
            let message = format!("'{trimmed}' is not a web domain");
            found.invalid(cfg, "domain", "INVALID_DOMAIN", message, "invalid-domain");
        }
    }
}
