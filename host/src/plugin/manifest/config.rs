//! Configuration values: checked against the schema, merged over defaults.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ConfigField, ConfigType, ManifestError, ManifestIssue, type_name};

const TENANT_ORIGIN: &str = "tenant config";

/// Problems with `value` as a value of `field`, reported at `path`.
pub(super) fn check_value(field: &ConfigField, value: &Value, path: &str) -> Vec<ManifestIssue> {
    let issue = |path: &str, message: String| ManifestIssue {
        path: path.to_owned(),
        message,
    };
    let expected = |what: &str| {
        vec![issue(
            path,
            format!("expected {what}, found {}", type_name(value)),
        )]
    };
    match field.ty {
        ConfigType::String | ConfigType::Secret if value.is_string() => Vec::new(),
        ConfigType::String | ConfigType::Secret => expected("string"),
        ConfigType::Integer if value.is_i64() || value.is_u64() => Vec::new(),
        ConfigType::Integer => expected("integer"),
        ConfigType::Number if value.is_number() => Vec::new(),
        ConfigType::Number => expected("number"),
        ConfigType::Bool if value.is_boolean() => Vec::new(),
        ConfigType::Bool => expected("bool"),
        ConfigType::Enum => match value.as_str() {
            Some(s) if field.values.iter().any(|v| v == s) => Vec::new(),
            Some(s) => vec![issue(
                path,
                format!("{s:?} is not one of {}", quoted_list(&field.values)),
            )],
            None => expected("string"),
        },
        ConfigType::List => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter(|(_, item)| !item.is_string())
                .map(|(i, item)| {
                    issue(
                        &format!("{path}[{i}]"),
                        format!("expected string, found {}", type_name(item)),
                    )
                })
                .collect(),
            _ => expected("an array of strings"),
        },
    }
}

fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Defaults overlaid with the tenant's values; see
/// [`super::Manifest::effective_config`].
pub(super) fn effective(
    schema: &BTreeMap<String, ConfigField>,
    tenant: &Value,
) -> Result<Value, ManifestError> {
    let empty = Map::new();
    let tenant = match tenant {
        Value::Null => &empty,
        Value::Object(map) => map,
        other => {
            return Err(ManifestError {
                origin: TENANT_ORIGIN.to_owned(),
                errors: vec![ManifestIssue {
                    path: "config".to_owned(),
                    message: format!("expected a table, found {}", type_name(other)),
                }],
            });
        }
    };

    let mut issues = Vec::new();
    let mut merged: Map<String, Value> = schema
        .iter()
        .filter_map(|(key, field)| Some((key.clone(), field.default.clone()?)))
        .collect();
    for (key, value) in tenant {
        let path = format!("config.{key}");
        let Some(field) = schema.get(key) else {
            let known = schema.keys().map(String::as_str).collect::<Vec<_>>();
            let known = if known.is_empty() {
                "this plugin has no settings".to_owned()
            } else {
                format!("expected one of: {}", known.join(", "))
            };
            issues.push(ManifestIssue {
                path,
                message: format!("unknown key ({known})"),
            });
            continue;
        };
        if value.is_null() {
            // `null` means "back to the default".
            continue;
        }
        let problems = check_value(field, value, &path);
        if problems.is_empty() {
            merged.insert(key.clone(), value.clone());
        } else {
            issues.extend(problems);
        }
    }
    if issues.is_empty() {
        Ok(Value::Object(merged))
    } else {
        Err(ManifestError {
            origin: TENANT_ORIGIN.to_owned(),
            errors: issues,
        })
    }
}
