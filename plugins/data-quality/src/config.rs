//! The plugin's configuration: one field per `[config.*]` key of `plugin.toml`.

use crm_plugin_sdk::{Error, normalize::phone};
use serde::Deserialize;

use crate::date::Date;

/// Settings of the data-quality checks. Missing keys take the defaults
/// below, which are the manifest's defaults (a test keeps the two equal).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Region of phone numbers written without a country code.
    pub default_region: String,
    /// What to do with a value that cannot be parsed.
    pub on_invalid: OnInvalid,
    /// What to do with implausible data.
    pub flag_mode: FlagMode,
    /// Replace a mistyped well-known e-mail domain instead of flagging it.
    pub fix_email_typos: bool,
    /// Placeholder e-mail local parts (trailing digits ignored).
    pub junk_email_locals: Vec<String>,
    /// Customers younger than this are flagged `underage`.
    pub min_age: i64,
    /// Contacts older than this are flagged `implausible-age`.
    pub max_age: i64,
    /// Lifecycle stages of (former) paying customers.
    pub customer_stages: Vec<String>,
    /// Open deal value from which a contact counts as buying big.
    pub high_deal_value: f64,
    /// The date ages are computed on (`YYYY-MM-DD`); empty: the record's
    /// `updatedAt`, else its `createdAt`.
    pub as_of_date: String,
}

/// What to do with a phone, e-mail, domain or birth date that cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnInvalid {
    /// Refuse the write with a field error.
    Reject,
    /// Write the field as null and flag `invalid-<field>`.
    Patch,
    /// Write it as it is.
    Ignore,
}

/// What to do with implausible data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagMode {
    /// Add `dq:<flag>` tags to the record, removing stale `dq:` tags.
    Tag,
    /// Refuse the write with a field error per flag.
    Reject,
    /// Do nothing.
    Ignore,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_region: "CN".into(),
            on_invalid: OnInvalid::Reject,
            flag_mode: FlagMode::Tag,
            fix_email_typos: false,
            junk_email_locals: [
                "test", "testing", "asdf", "asdfgh", "qwerty", "abc", "abcd", "aaa", "xxx", "foo",
                "fake", "dummy", "sample", "example", "none", "null", "noemail", "nomail",
                "no-email",
            ]
            .map(String::from)
            .to_vec(),
            min_age: 16,
            max_age: 120,
            customer_stages: ["ACQUIRED", "ACTIVE", "AT_RISK", "CHURNED", "WON_BACK"]
                .map(String::from)
                .to_vec(),
            high_deal_value: 100_000.0,
            as_of_date: String::new(),
        }
    }
}

impl Config {
    /// Check what serde cannot: the region is known and the date is a date.
    ///
    /// ```
    /// use data_quality::Config;
    ///
    /// assert!(Config::default().check().is_ok());
    /// let bad = Config { default_region: "XX".into(), ..Config::default() };
    /// assert_eq!(bad.check().unwrap_err().code, "INVALID_CONFIG");
    /// ```
    ///
    /// # Errors
    /// [`Error::invalid_config`] naming the key.
    pub fn check(&self) -> Result<(), Error> {
        if phone::calling_code(&self.default_region).is_none() {
            return Err(Error::invalid_config(format!(
                "default-region {:?} is not a supported ISO 3166 alpha-2 code",
                self.default_region
            )));
        }
        if !self.as_of_date.is_empty() && Date::parse(&self.as_of_date).is_none() {
            return Err(Error::invalid_config(format!(
                "as-of-date {:?} is not a YYYY-MM-DD date",
                self.as_of_date
            )));
        }
        Ok(())
    }
}
