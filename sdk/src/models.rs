//! Typed views of the records plugins receive.
//!
//! Each model mirrors the GraphQL type of the same name, with camelCase field
//! names. Every field is optional or defaults to empty, so a record produced
//! by a partial input query (`{ title company { employeeCount } }`)
//! deserialises: fields the query did not select are simply `None`. Money
//! and counts are accepted as JSON numbers or numeric strings.
//!
//! ```
//! use crm_plugin_sdk::{models::Contact, Record};
//!
//! let record = Record::new(serde_json::json!({
//!     "title": "总经理",
//!     "company": { "employeeCount": 320 },
//!     "openDealsValue": "250000.00",
//! }));
//! let contact: Contact = record.parse()?;
//! assert_eq!(contact.company.and_then(|c| c.employee_count), Some(320));
//! assert_eq!(contact.open_deals_value, Some(250_000.0));
//! assert!(contact.tags.is_empty());
//! # Ok::<(), crm_plugin_sdk::Error>(())
//! ```

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A person the business deals with.
///
/// ```
/// let c: crm_plugin_sdk::models::Contact =
///     serde_json::from_str(r#"{ "firstName": "Li", "lifecycleStage": "ACTIVE", "tags": null }"#)?;
/// assert_eq!(c.first_name.as_deref(), Some("Li"));
/// assert!(c.tags.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    pub id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// First and last name, as displayed.
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// `PROSPECT`, `ACQUIRED`, `ACTIVE`, `AT_RISK`, `CHURNED` or `WON_BACK`
    /// (candidates of a write may spell them in lower case).
    pub lifecycle_stage: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub custom_fields: Map<String, Value>,
    pub company: Option<Company>,
    pub owner: Option<User>,
    /// All activities logged with this contact.
    #[serde(deserialize_with = "lenient_i64")]
    pub activity_count: Option<i64>,
    /// Activities in the window the input query asked for
    /// (`recentActivityCount(days: 90)`).
    #[serde(deserialize_with = "lenient_i64")]
    pub recent_activity_count: Option<i64>,
    /// RFC 3339 timestamp of the latest activity.
    pub last_activity_at: Option<String>,
    /// Days since the latest activity; `None` when there is none.
    #[serde(deserialize_with = "lenient_i64")]
    pub last_activity_days_ago: Option<i64>,
    /// Sum of the amounts of the contact's open deals.
    #[serde(deserialize_with = "lenient_f64")]
    pub open_deals_value: Option<f64>,
    #[serde(deserialize_with = "lenient_i64")]
    pub open_deals_count: Option<i64>,
    /// RFC 3339 timestamp.
    pub created_at: Option<String>,
    /// RFC 3339 timestamp.
    pub updated_at: Option<String>,
}

/// An organisation (account).
///
/// ```
/// let c: crm_plugin_sdk::models::Company =
///     serde_json::from_str(r#"{ "name": "Acme", "annualRevenue": 1.5e6 }"#)?;
/// assert_eq!(c.annual_revenue, Some(1_500_000.0));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Company {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub industry: Option<String>,
    #[serde(deserialize_with = "lenient_i64")]
    pub employee_count: Option<i64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub annual_revenue: Option<f64>,
    pub phone: Option<String>,
    /// Country, ideally an ISO 3166 alpha-2 code (`CN`).
    pub country: Option<String>,
    pub city: Option<String>,
    /// As for [`Contact::lifecycle_stage`].
    pub lifecycle_stage: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub custom_fields: Map<String, Value>,
    /// RFC 3339 timestamp.
    pub created_at: Option<String>,
    /// RFC 3339 timestamp.
    pub updated_at: Option<String>,
}

/// A sales opportunity moving through a pipeline.
///
/// ```
/// let d: crm_plugin_sdk::models::Deal = serde_json::from_str(
///     r#"{ "amount": 5000000, "stage": { "name": "Quote", "probability": 0.6 } }"#,
/// )?;
/// assert_eq!(d.stage.and_then(|s| s.probability), Some(0.6));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Deal {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_f64")]
    pub amount: Option<f64>,
    /// ISO 4217 code (`CNY`).
    pub currency: Option<String>,
    pub stage: Option<Stage>,
    pub company: Option<Company>,
    pub contact: Option<Contact>,
    /// `YYYY-MM-DD`.
    pub expected_close_date: Option<String>,
    /// RFC 3339 timestamp.
    pub created_at: Option<String>,
    /// RFC 3339 timestamp.
    pub updated_at: Option<String>,
}

/// A stage of a pipeline.
///
/// ```
/// let s: crm_plugin_sdk::models::Stage = serde_json::from_str(r#"{ "isWon": true }"#)?;
/// assert_eq!(s.is_won, Some(true));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Stage {
    pub id: Option<String>,
    pub name: Option<String>,
    /// 0.0..=1.0.
    #[serde(deserialize_with = "lenient_f64")]
    pub probability: Option<f64>,
    pub is_won: Option<bool>,
    pub is_lost: Option<bool>,
}

/// A user of the CRM (e.g. a record's owner).
///
/// ```
/// let u: crm_plugin_sdk::models::User = serde_json::from_str(r#"{ "name": "Wang Fang" }"#)?;
/// assert_eq!(u.name.as_deref(), Some("Wang Fang"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// `null` (as GraphQL returns for an empty list or object) reads as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A number, or a numeric string as a `Decimal` scalar is often serialised.
///
/// Read by a visitor straight off the input: no buffering of the value and
/// no error built for a variant that does not match (an untagged enum does
/// both, which made parsing several times slower, most of all in wasm).
enum Numeric {
    Int(i64),
    Float(f64),
}

struct NumericVisitor;

impl<'de> serde::de::Visitor<'de> for NumericVisitor {
    type Value = Option<Numeric>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, a numeric string or null")
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Numeric::Int(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(match i64::try_from(v) {
            Ok(i) => Numeric::Int(i),
            Err(_) => Numeric::Float(v as f64),
        }))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Numeric::Float(v)))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Some(Numeric::Int(i)));
        }
        match t.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(Numeric::Float(f))),
            _ => Err(E::custom(format!("'{s}' is not a number"))),
        }
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NumericVisitor)
    }
}

fn numeric<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Numeric>, D::Error> {
    d.deserialize_any(NumericVisitor)
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    // Money and counts are far below 2^53: the conversion is exact.
    Ok(numeric(d)?.map(|n| match n {
        Numeric::Int(i) => i as f64,
        Numeric::Float(f) => f,
    }))
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match numeric(d)? {
        None => Ok(None),
        Some(Numeric::Int(i)) => Ok(Some(i)),
        Some(Numeric::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Some(Numeric::Float(f)) => Err(serde::de::Error::custom(format!("{f} is not an integer"))),
    }
}
