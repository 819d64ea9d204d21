//! Data quality: cleaning is part of the product (DOMAIN §3).
//!
//! Before a contact or company is written this plugin
//! - normalises what it can and patches the record: phones to E.164 (in
//!   `default-region`, or a company's own country), e-mails trimmed and
//!   lower-cased, person names tidied, company names and web domains tidied;
//! - handles what cannot be parsed (phone, e-mail, domain, birth date) as
//!   `on-invalid` says: reject the write, clear the field, or leave it;
//! - flags implausible data as `flag-mode` says (tags `dq:<flag>`, a
//!   rejection, or nothing): `name-digits`, `junk-email`, `email-typo`,
//!   `future-birth-date`, `implausible-age` and `underage` (a customer, or a
//!   contact with high open deal value, younger than `min-age`).
//!
//! The checks are plain functions ([`validate_contact`], [`validate_company`]);
//! [`DataQuality`] adapts them to the plugin contract.

mod company;
mod config;
mod contact;
mod date;
mod findings;

use crm_plugin_sdk::{Context, Decision, Error, Plugin, Record, log};

pub use company::validate_company;
pub use config::{Config, FlagMode, OnInvalid};
pub use contact::validate_contact;
pub use date::Date;
pub use findings::TAG_PREFIX;

/// The plugin: validates contacts and companies.
pub struct DataQuality;

impl Plugin for DataQuality {
    fn new() -> Self {
        DataQuality
    }

    // The configuration is read and checked once per batch.
    fn validate_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Decision>, Error> {
        let cfg: Config = ctx.config()?;
        cfg.check()?;
        let check: fn(&Config, &Record) -> Result<Decision, Error> = match ctx.entity() {
            "contact" => |cfg, record| Ok(validate_contact(cfg, &record.parse()?)),
            "company" => |cfg, record| Ok(validate_company(cfg, &record.parse()?)),
            other => {
                return Err(Error::new(
                    "UNSUPPORTED_ENTITY",
                    format!("data quality validates contacts and companies, not {other}"),
                ));
            }
        };
        records
            .iter()
            .map(|record| Ok(keep_unseen_tags(check(&cfg, record)?, record)))
            .collect()
    }
}

crm_plugin_sdk::export_plugin!(DataQuality);

/// A patch replaces the whole `tags` list. A new record (no `id`) without
/// `tags` has none, but an existing one whose candidate lacks them does:
/// writing the flags would drop its tags, so they are skipped.
fn keep_unseen_tags(decision: Decision, record: &Record) -> Decision {
    // Only a patch needs the record's tree (built on first use).
    match decision {
        Decision::Patch(mut patches)
            if record.get("id").is_some() && record.get("tags").is_none() =>
        {
            let before = patches.len();
            patches.retain(|p| p.path != "tags");
            if patches.len() != before {
                log::warn("the candidate carries no `tags`: data-quality flags not written");
            }
            if patches.is_empty() {
                Decision::Accept
            } else {
                Decision::Patch(patches)
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crm_plugin_sdk::testing::Harness;
    use serde_json::json;

    use super::*;

    fn contacts() -> Harness<DataQuality> {
        Harness::from_manifest(include_str!("../plugin.toml"))
    }

    fn companies() -> Harness<DataQuality> {
        contacts().entity("company")
    }

    #[test]
    fn manifest_defaults_are_the_config_defaults() {
        let from_manifest: Config = contacts().context().config().unwrap();
        assert_eq!(from_manifest, Config::default());
        assert_eq!(contacts().context().entity(), "contact");
    }

    #[test]
    fn a_chinese_mobile_number_becomes_e164() {
        let d = contacts().validate(json!({ "phone": "138 0013 8000", "tags": [] }));
        assert_eq!(d, Decision::patch("phone", json!("+8613800138000")));
    }

    #[test]
    fn clean_records_are_accepted() {
        let d = contacts().validate(json!({
            "firstName": "Lei",
            "lastName": "Li",
            "email": "li.lei@acme.cn",
            "phone": "+8613800138000",
            "birthDate": "1990-05-01",
            "updatedAt": "2026-11-23T08:00:00Z",
            "tags": ["vip"],
        }));
        assert_eq!(d, Decision::Accept);
    }

    #[test]
    fn emails_and_names_are_normalised() {
        let d = contacts().validate(json!({
            "firstName": "  JOHN ",
            "lastName": "o'neil",
            "email": "  John.ONeil@Example.COM ",
            "tags": [],
        }));
        assert_eq!(d.patched("firstName"), Some(&json!("John")));
        assert_eq!(d.patched("lastName"), Some(&json!("O'Neil")));
        assert_eq!(d.patched("email"), Some(&json!("john.oneil@example.com")));
        assert_eq!(d.patched("tags"), None);
    }

    #[test]
    fn unparseable_values_follow_on_invalid() {
        let record = json!({ "phone": "12", "email": "li.lei.acme.cn", "tags": [] });

        let rejected = contacts().validate(record.clone());
        assert_eq!(
            rejected.error("phone").map(|e| e.code.as_str()),
            Some("INVALID_PHONE")
        );
        assert_eq!(
            rejected.error("email").map(|e| e.code.as_str()),
            Some("INVALID_EMAIL")
        );

        let patched = contacts()
            .config(json!({ "on-invalid": "patch" }))
            .validate(record.clone());
        assert_eq!(patched.patched("phone"), Some(&json!(null)));
        assert_eq!(patched.patched("email"), Some(&json!(null)));
        assert_eq!(
            patched.patched("tags"),
            Some(&json!(["dq:invalid-email", "dq:invalid-phone"]))
        );

        let ignored = contacts()
            .config(json!({ "on-invalid": "ignore" }))
            .validate(record);
        assert_eq!(ignored, Decision::Accept);
    }

    #[test]
    fn placeholders_and_typos_are_tagged() {
        let d = contacts().validate(json!({
            "firstName": "Test3",
            "email": "asdf1@gmial.com",
            "tags": ["vip"],
        }));
        assert_eq!(
            d.patched("tags"),
            Some(&json!([
                "vip",
                "dq:name-digits",
                "dq:junk-email",
                "dq:email-typo"
            ]))
        );
        assert_eq!(d.patched("email"), None);

        let fixed = contacts()
            .config(json!({ "fix-email-typos": true }))
            .validate(json!({ "email": "li@gmial.com", "tags": [] }));
        assert_eq!(fixed, Decision::patch("email", json!("li@gmail.com")));

        // QQ Mail addresses are all digits: not a placeholder.
        let qq = contacts().validate(json!({ "email": "12345678@qq.com", "tags": [] }));
        assert_eq!(qq, Decision::Accept);
    }

    #[test]
    fn a_fifteen_year_old_customer_is_implausible() {
        let teen = json!({
            "birthDate": "2011-03-01",
            "lifecycleStage": "ACTIVE",
            "updatedAt": "2026-11-23T08:00:00Z",
            "tags": [],
        });
        let d = contacts().validate(teen.clone());
        assert_eq!(d, Decision::patch("tags", json!(["dq:underage"])));

        let d = contacts()
            .config(json!({ "flag-mode": "reject" }))
            .validate(teen.clone());
        let error = d.error("birthDate").unwrap();
        assert_eq!(error.code, "UNDERAGE");
        assert_eq!(error.message, "a 15-year-old is a customer (stage ACTIVE)");

        let d = contacts().config(json!({ "min-age": 14 })).validate(teen);
        assert_eq!(d, Decision::Accept);
    }

    #[test]
    fn a_young_prospect_is_flagged_only_when_buying_big() {
        let prospect = |value: f64| {
            json!({
                "birthDate": "2012-01-01",
                "lifecycleStage": "PROSPECT",
                "openDealsValue": value,
                "createdAt": "2026-01-10T00:00:00Z",
                "tags": [],
            })
        };
        assert_eq!(contacts().validate(prospect(500.0)), Decision::Accept);
        assert_eq!(
            contacts().validate(prospect(5_000_000.0)).patched("tags"),
            Some(&json!(["dq:underage"]))
        );
    }

    #[test]
    fn birth_dates_are_checked_against_the_record_date() {
        let d = contacts().validate(json!({
            "birthDate": "2030-01-01",
            "updatedAt": "2026-11-23T08:00:00Z",
            "tags": [],
        }));
        assert_eq!(d.patched("tags"), Some(&json!(["dq:future-birth-date"])));

        let d = contacts()
            .config(json!({ "as-of-date": "2026-11-23" }))
            .validate(json!({ "birthDate": "1890-01-01", "tags": [] }));
        assert_eq!(d.patched("tags"), Some(&json!(["dq:implausible-age"])));

        // Without any date to compare with, the checks are skipped.
        let d = contacts().validate(json!({ "birthDate": "2030-01-01", "tags": [] }));
        assert_eq!(d, Decision::Accept);

        let d = contacts().validate(json!({ "birthDate": "2001-02-30", "tags": [] }));
        assert_eq!(
            d.error("birthDate").map(|e| e.code.as_str()),
            Some("INVALID_DATE")
        );
    }

    #[test]
    fn stale_flags_are_removed_and_unseen_tags_are_left_alone() {
        let d = contacts().validate(json!({
            "email": "li.lei@acme.cn",
            "tags": ["vip", "dq:junk-email"],
        }));
        assert_eq!(d, Decision::patch("tags", json!(["vip"])));

        // An existing record without `tags` in the candidate: normalise, but
        // do not overwrite the tags it has.
        let d = contacts().validate(json!({ "id": "c1", "email": "TEST@acme.cn" }));
        assert_eq!(d, Decision::patch("email", json!("test@acme.cn")));

        // A new record without `tags` has none: flags are written.
        let d = contacts().validate(json!({ "email": "TEST@acme.cn" }));
        assert_eq!(d.patched("tags"), Some(&json!(["dq:junk-email"])));
    }

    #[test]
    fn companies_get_their_domain_name_and_phone_tidied() {
        let d = companies().validate(json!({
            "name": "  Acme   Electronics ",
            "domain": "HTTPS://www.Acme-Electronics.com/contact",
            "phone": "020 7946 0958",
            "country": "GB",
            "tags": [],
        }));
        assert_eq!(d.patched("name"), Some(&json!("Acme Electronics")));
        assert_eq!(d.patched("domain"), Some(&json!("acme-electronics.com")));
        assert_eq!(d.patched("phone"), Some(&json!("+442079460958")));

        let d = companies().validate(json!({ "domain": "not a domain", "tags": [] }));
        assert_eq!(
            d.error("domain").map(|e| e.code.as_str()),
            Some("INVALID_DOMAIN")
        );
    }

    #[test]
    fn batches_are_parallel_to_their_records() {
        let decisions = contacts().validate_batch(vec![
            json!({ "phone": "13800138000", "tags": [] }),
            json!({ "phone": "+8613800138000", "tags": [] }),
            json!({ "phone": "x", "tags": [] }),
        ]);
        assert_eq!(decisions.len(), 3);
        assert!(!decisions[0].patches().is_empty());
        assert!(decisions[1].is_accept());
        assert!(decisions[2].is_reject());
    }

    #[test]
    fn bad_configuration_fails_the_call() {
        for config in [
            json!({ "default-region": "XX" }),
            json!({ "on-invalid": "explode" }),
            json!({ "as-of-date": "yesterday" }),
        ] {
            let err = contacts()
                .config(config)
                .try_validate(json!({}))
                .unwrap_err();
            assert_eq!(err.code, "INVALID_CONFIG");
        }
        let err = contacts()
            .entity("deal")
            .try_validate(json!({}))
            .unwrap_err();
        assert_eq!(err.code, "UNSUPPORTED_ENTITY");
    }
}
