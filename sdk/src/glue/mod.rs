//! The glue between the generated bindings and [`Plugin`](crate::Plugin):
//! one module per contract version, called by the export macros, and the
//! parsing both share with the test harness.

pub mod v0_1;
pub mod v0_2;

use serde_json::Value;

use crate::{Context, Decision, Error, Event, HandlerContext, Plugin, Record, Score};

pub(crate) fn prepare(
    tenant: &str,
    entity: &str,
    config: &str,
    records: Vec<String>,
) -> (Context, Vec<Record>) {
    let records = records
        .into_iter()
        .enumerate()
        .map(|(i, json)| Record::from_host(json, Some(i)))
        .collect();
    (Context::from_config_text(tenant, entity, config), records)
}

fn parse_config(config: &str) -> Result<Value, Error> {
    if config.trim().is_empty() {
        Ok(Value::Object(serde_json::Map::new()))
    } else {
        serde_json::from_str(config)
            .map_err(|e| Error::invalid_config(format!("configuration is not JSON: {e}")))
    }
}

pub(crate) fn run_validate<P: Plugin>(
    plugin: &P,
    ctx: &Context,
    records: &[Record],
) -> Result<Vec<Decision>, Error> {
    let decisions = plugin.validate_batch(ctx, records)?;
    parallel(decisions, records.len(), "decisions")
}

pub(crate) fn run_score<P: Plugin>(
    plugin: &P,
    ctx: &Context,
    records: &[Record],
) -> Result<Vec<Vec<Score>>, Error> {
    let scores = plugin.score_batch(ctx, records)?;
    parallel(scores, records.len(), "score lists")
}

/// A batch override that loses or invents records is a plugin bug: say so
/// here rather than let the host pair results with the wrong records.
fn parallel<T>(results: Vec<T>, expected: usize, what: &str) -> Result<Vec<T>, Error> {
    if results.len() == expected {
        Ok(results)
    } else {
        Err(Error::new(
            "BAD_OUTPUT",
            format!("returned {} {what} for {expected} records", results.len()),
        ))
    }
}

/// A handler's context, as the host sends it (configuration as JSON text).
pub(crate) fn handler_context(
    tenant: String,
    config: &str,
    now: String,
    name: String,
) -> Result<HandlerContext, Error> {
    Ok(HandlerContext::new(
        tenant,
        parse_config(config)?,
        now,
        name,
    ))
}

/// An event, as the host sends it (payload as JSON text).
pub(crate) fn event(
    id: String,
    kind: String,
    entity: String,
    record_id: Option<String>,
    payload: &str,
    created_at: String,
) -> Result<Event, Error> {
    let payload = if payload.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(payload).map_err(|e| {
            Error::new(
                "INVALID_EVENT",
                format!("payload of {kind} {id} is not JSON: {e}"),
            )
        })?
    };
    Ok(Event {
        id,
        kind,
        entity,
        record_id,
        payload,
        created_at,
    })
}

/// An action's input, as the host sends it (JSON text; empty is `null`).
pub(crate) fn action_input(input: &str) -> Result<Value, Error> {
    if input.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(input)
        .map_err(|e| Error::new("INVALID_INPUT", format!("action input is not JSON: {e}")))
}

/// The conversions into one version's WIT types (the same shapes in every
/// version), for the module the caller imported as `wit`.
macro_rules! into_wit {
    () => {
        impl From<$crate::Error> for wit::PluginError {
            fn from(e: $crate::Error) -> Self {
                Self {
                    code: e.code,
                    message: e.message,
                }
            }
        }

        impl From<$crate::Decision> for wit::Decision {
            fn from(d: $crate::Decision) -> Self {
                match d {
                    $crate::Decision::Accept => Self::Accept,
                    $crate::Decision::Patch(patches) => Self::Patch(
                        patches
                            .into_iter()
                            .map(|p| wit::FieldPatch {
                                path: p.path,
                                value: p.value.to_string(),
                            })
                            .collect(),
                    ),
                    $crate::Decision::Reject(errors) => Self::Reject(
                        errors
                            .into_iter()
                            .map(|e| wit::FieldError {
                                path: e.path,
                                code: e.code,
                                message: e.message,
                            })
                            .collect(),
                    ),
                }
            }
        }

        impl From<$crate::Score> for wit::ScoreValue {
            fn from(s: $crate::Score) -> Self {
                Self {
                    name: s.name,
                    value: s.value,
                    grade: s.grade,
                    reasons: s.reasons,
                }
            }
        }
    };
}
pub(crate) use into_wit;
