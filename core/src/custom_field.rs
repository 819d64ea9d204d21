//! Custom field definitions per entity and tenant, and validation of values on write.
//!
//! Values live beside each record in its `custom_fields` JSON column, keyed by
//! the definition's `key`. Types: text, number, date, bool, enum.

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::custom_field_def as def;
use crate::error::{CoreError, FieldError, Result};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Map, Value};
use uuid::Uuid;

pub const KINDS: &[&str] = &["text", "number", "date", "bool", "enum"];
pub const ENTITIES: &[&str] = &["contact", "company", "deal", "activity", "ticket"];

/// A new custom field definition.
#[derive(Debug, Clone)]
pub struct NewDefinition {
    pub entity: String,
    pub key: String,
    pub label: String,
    pub kind: String,
    /// Allowed values for `enum`.
    pub options: Vec<String>,
    pub required: bool,
}

/// Define a custom field (admins only).
pub async fn define(crm: &Crm, p: &Principal, d: NewDefinition) -> Result<def::Model> {
    p.require(Action::Administer, "custom_field")?;
    let mut errs = vec![];
    let entity = d.entity.to_lowercase();
    if !ENTITIES.contains(&entity.as_str()) {
        errs.push(FieldError::new(
            "input.entity",
            "INVALID_VALUE",
            format!("custom fields exist on {}", ENTITIES.join(", ")),
        ));
    }
    let key_ok = !d.key.is_empty()
        && d.key.len() <= 64
        && d.key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && d.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok {
        errs.push(FieldError::new(
            "input.key",
            "INVALID_VALUE",
            "a key starts with a lower-case letter and holds letters, digits and _ (at most 64)",
        ));
    }
    let kind = d.kind.to_lowercase();
    if !KINDS.contains(&kind.as_str()) {
        errs.push(FieldError::new(
            "input.kind",
            "INVALID_VALUE",
            format!("kind is one of {}", KINDS.join(", ")),
        ));
    }
    if kind == "enum" && d.options.is_empty() {
        errs.push(FieldError::new(
            "input.options",
            "REQUIRED",
            "an enum field needs at least one option",
        ));
    }
    if !errs.is_empty() {
        return Err(CoreError::Invalid(errs));
    }
    let now = crm.now();
    def::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        entity: Set(entity),
        key: Set(d.key.clone()),
        label: Set(if d.label.trim().is_empty() {
            d.key.clone()
        } else {
            d.label.trim().to_string()
        }),
        kind: Set(kind),
        options: Set(Value::from(d.options)),
        required: Set(d.required),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&crm.db)
    .await
    .map_err(|e| CoreError::from_db(e, &format!("custom field {}", d.key)))
}

/// Definitions of a tenant, optionally for one entity.
pub async fn definitions(crm: &Crm, tenant: Uuid, entity: Option<&str>) -> Result<Vec<def::Model>> {
    let mut q = def::Entity::find().filter(def::Column::TenantId.eq(tenant));
    if let Some(e) = entity {
        q = q.filter(def::Column::Entity.eq(e.to_lowercase()));
    }
    Ok(q.order_by_asc(def::Column::Entity)
        .order_by_asc(def::Column::Key)
        .all(&crm.db)
        .await?)
}

/// Remove a definition (values already stored stay in records until next write).
pub async fn remove(crm: &Crm, p: &Principal, id: Uuid) -> Result<Uuid> {
    p.require(Action::Administer, "custom_field")?;
    let res = def::Entity::delete_many()
        .filter(def::Column::TenantId.eq(p.tenant_id))
        .filter(def::Column::Id.eq(id))
        .exec(&crm.db)
        .await?;
    if res.rows_affected == 0 {
        return Err(CoreError::not_found("customFieldDefinition", id));
    }
    Ok(id)
}

/// Validate a `customFields` object against the definitions: unknown keys,
/// wrong types and missing required values are field errors under `input.customFields.<key>`.
pub async fn validate(
    crm: &Crm,
    tenant: Uuid,
    entity: &str,
    given: &Value,
) -> std::result::Result<Value, Vec<FieldError>> {
    let defs = definitions(crm, tenant, Some(entity)).await.map_err(|e| {
        vec![FieldError::new(
            "input.customFields",
            "INTERNAL",
            e.to_string(),
        )]
    })?;
    check_values(&defs, given)
}

/// The pure part of [`validate`].
pub fn check_values(
    defs: &[def::Model],
    given: &Value,
) -> std::result::Result<Value, Vec<FieldError>> {
    let mut errs = vec![];
    let empty = Map::new();
    let obj = match given {
        Value::Object(o) => o,
        Value::Null => &empty,
        _ => {
            return Err(vec![FieldError::new(
                "input.customFields",
                "INVALID_VALUE",
                "expected an object",
            )]);
        }
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let path = format!("input.customFields.{k}");
        let Some(d) = defs.iter().find(|d| &d.key == k) else {
            errs.push(FieldError::new(
                path,
                "UNKNOWN_FIELD",
                format!("no custom field {k:?} is defined; define it with defineCustomField"),
            ));
            continue;
        };
        if v.is_null() {
            continue;
        }
        let ok = match d.kind.as_str() {
            "text" => v.is_string(),
            "number" => v.is_number(),
            "bool" => v.is_boolean(),
            "date" => v
                .as_str()
                .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
            "enum" => v.as_str().is_some_and(|s| {
                d.options
                    .as_array()
                    .is_some_and(|o| o.iter().any(|x| x.as_str() == Some(s)))
            }),
            _ => false,
        };
        if ok {
            out.insert(k.clone(), v.clone());
        } else {
            let expected = match d.kind.as_str() {
                "enum" => format!("one of {}", d.options),
                "date" => "a YYYY-MM-DD date".to_string(),
                k => format!("a {k}"),
            };
            errs.push(FieldError::new(
                path,
                "INVALID_VALUE",
                format!("{k} expects {expected}"),
            ));
        }
    }
    for d in defs.iter().filter(|d| d.required) {
        if !out.contains_key(&d.key)
            && !errs
                .iter()
                .any(|e| e.path.ends_with(&format!(".{}", d.key)))
        {
            errs.push(FieldError::new(
                format!("input.customFields.{}", d.key),
                "REQUIRED",
                format!("{} is required", d.label),
            ));
        }
    }
    if errs.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(key: &str, kind: &str, options: Value, required: bool) -> def::Model {
        let now = chrono::Utc::now();
        def::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            entity: "contact".into(),
            key: key.into(),
            label: key.into(),
            kind: kind.into(),
            options,
            required,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn values_are_checked_against_their_types() {
        let defs = vec![
            d("vin", "text", json!([]), true),
            d("budget", "number", json!([]), false),
            d("tier", "enum", json!(["gold", "silver"]), false),
            d("since", "date", json!([]), false),
        ];
        let ok = check_values(
            &defs,
            &json!({"vin": "X1", "budget": 5, "tier": "gold", "since": "2024-01-31"}),
        );
        assert!(ok.is_ok());
        let errs = check_values(
            &defs,
            &json!({"budget": "lots", "tier": "bronze", "since": "31/01/2024", "color": "red"}),
        )
        .unwrap_err();
        let paths: Vec<_> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        assert!(paths.contains(&("input.customFields.budget", "INVALID_VALUE")));
        assert!(paths.contains(&("input.customFields.tier", "INVALID_VALUE")));
        assert!(paths.contains(&("input.customFields.since", "INVALID_VALUE")));
        assert!(paths.contains(&("input.customFields.color", "UNKNOWN_FIELD")));
        assert!(paths.contains(&("input.customFields.vin", "REQUIRED")));
    }
}
