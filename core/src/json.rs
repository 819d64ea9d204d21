//! Small helpers for GraphQL-shaped JSON.

use serde_json::Value;

/// An RFC 3339 timestamp as JSON.
pub fn ts(t: &crate::Timestamp) -> Value {
    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn opt_ts(t: &Option<crate::Timestamp>) -> Value {
    t.as_ref().map(ts).unwrap_or(Value::Null)
}

/// A stored lower-case enum value as its GraphQL name (`at_risk` -> `AT_RISK`).
pub fn enum_name(s: &str) -> Value {
    Value::String(s.to_uppercase())
}

/// Map GraphQL field names to (column, type) for [`crate::record::Kind::column`].
#[macro_export]
macro_rules! columns {
    ($field:expr, { $($name:literal => $col:ident : $ty:ident),* $(,)? }) => {
        match $field {
            $($name => Some((Column::$col, $crate::query::FieldType::$ty)),)*
            _ => None,
        }
    };
}
