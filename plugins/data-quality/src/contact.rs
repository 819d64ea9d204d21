//! Checks of a contact.

use crm_plugin_sdk::{
    Decision,
    models::Contact,
    normalize::{email, name::tidy_person_name, phone},
};
use serde_json::Value;

use crate::{Config, date::Date, findings::Findings};

/// Check a candidate contact: tidy its names, normalise its e-mail and
/// phone, and flag implausible data. The configuration must have passed
/// [`Config::check`].
///
/// ```
/// use crm_plugin_sdk::models::Contact;
/// use data_quality::{validate_contact, Config};
///
/// let contact = Contact { phone: Some("138 0013 8000".into()), ..Contact::default() };
/// let decision = validate_contact(&Config::default(), &contact);
/// assert_eq!(decision.patched("phone"), Some(&serde_json::json!("+8613800138000")));
/// ```
pub fn validate_contact(cfg: &Config, contact: &Contact) -> Decision {
    let mut found = Findings::default();
    check_name(&mut found, "firstName", contact.first_name.as_deref());
    check_name(&mut found, "lastName", contact.last_name.as_deref());
    if let Some(raw) = present(&contact.email) {
        check_email(cfg, &mut found, raw);
    }
    if let Some(raw) = present(&contact.phone) {
        check_phone(cfg, &mut found, raw, &cfg.default_region);
    }
    if let Some(raw) = present(&contact.birth_date) {
        check_birth_date(cfg, &mut found, contact, raw);
    }
    found.finish(cfg, &contact.tags)
}

/// A string field that holds more than whitespace.
pub(crate) fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|s| !s.trim().is_empty())
}

fn check_name(found: &mut Findings, path: &'static str, name: Option<&str>) {
    let Some(name) = name else { return };
    let tidy = tidy_person_name(name);
    if tidy.is_empty() {
        if !name.is_empty() {
            found.patch(path, Value::Null);
        }
        return;
    }
    if tidy.chars().any(char::is_numeric) {
        found.flag(
            "name-digits",
            path,
            format!("name '{tidy}' contains digits"),
        );
    }
    if tidy != name {
        found.patch(path, Value::from(tidy));
    }
}

fn check_email(cfg: &Config, found: &mut Findings, raw: &str) {
    let mut normalized = match email::normalize(raw) {
        Ok(n) => n,
        Err(e) => {
            let message = format!("'{}': {e}", raw.trim());
            found.invalid(cfg, "email", e.code(), message, "invalid-email");
            return;
        }
    };
    if let Some((local, domain)) = normalized.rsplit_once('@') {
        if is_junk_local(cfg, local) {
            found.flag(
                "junk-email",
                "email",
                format!("'{normalized}' looks like a placeholder"),
            );
        }
        if let Some(likely) = email::suggest_domain(domain) {
            let fixed = format!("{local}@{likely}");
            if cfg.fix_email_typos {
                normalized = fixed;
            } else {
                let message = format!("'{normalized}' looks mistyped: did you mean '{fixed}'?");
                found.flag("email-typo", "email", message);
            }
        }
    }
    if normalized != raw {
        found.patch("email", Value::from(normalized));
    }
}

/// `test`, `test1`, `asdf_2`: a configured placeholder, trailing digits and
/// separators aside. An all-digit local part is a real address (QQ Mail).
fn is_junk_local(cfg: &Config, local: &str) -> bool {
    let stem = local
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches(['.', '_', '-']);
    !stem.is_empty()
        && cfg
            .junk_email_locals
            .iter()
            .any(|junk| junk.eq_ignore_ascii_case(stem))
}

pub(crate) fn check_phone(cfg: &Config, found: &mut Findings, raw: &str, region: &str) {
    match phone::to_e164(raw, region) {
        Ok(e164) if e164 != raw => found.patch("phone", Value::from(e164)),
        Ok(_) => {}
        Err(e) => {
            let message = format!("'{}': {e}", raw.trim());
            found.invalid(cfg, "phone", e.code(), message, "invalid-phone");
        }
    }
}

fn check_birth_date(cfg: &Config, found: &mut Findings, contact: &Contact, raw: &str) {
    let Some(birth) = Date::parse(raw) else {
        let message = format!("'{}' is not a date (YYYY-MM-DD)", raw.trim());
        found.invalid(
            cfg,
            "birthDate",
            "INVALID_DATE",
            message,
            "invalid-birth-date",
        );
        return;
    };
    // Plugins have no clock: "today" is configured or is when the record was written.
    let Some(today) = [
        Some(cfg.as_of_date.as_str()),
        contact.updated_at.as_deref(),
        contact.created_at.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(Date::parse) else {
        return;
    };
    if birth > today {
        found.flag(
            "future-birth-date",
            "birthDate",
            format!("birth date {raw} is in the future"),
        );
        return;
    }
    let age = birth.age_on(today);
    if age > cfg.max_age {
        found.flag(
            "implausible-age",
            "birthDate",
            format!("birth date {raw} makes them {age}"),
        );
    } else if age < cfg.min_age
        && let Some(why) = buying_reason(cfg, contact)
    {
        found.flag("underage", "birthDate", format!("a {age}-year-old {why}"));
    }
}

/// Why a contact counts as a buyer, if they do.
fn buying_reason(cfg: &Config, contact: &Contact) -> Option<String> {
    let stage = contact.lifecycle_stage.as_deref().unwrap_or("");
    let is_customer = cfg.customer_stages.iter().any(|s| same_stage(s, stage));
    if is_customer {
        return Some(format!("is a customer (stage {stage})"));
    }
    contact
        .open_deals_value
        .filter(|v| *v >= cfg.high_deal_value)
        .map(|v| format!("has open deals worth {v}"))
}

/// `AT_RISK`, `at-risk` and `At risk` are the same stage.
fn same_stage(a: &str, b: &str) -> bool {
    let canon = |c: char| match c {
        '-' | ' ' => '_',
        c => c.to_ascii_uppercase(),
    };
    !b.is_empty() && a.chars().map(canon).eq(b.trim().chars().map(canon))
}
