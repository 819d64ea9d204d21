//! The glue between the generated bindings and [`Plugin`](crate::Plugin):
//! one module per contract version, called by the export macros, and the
//! parsing both share with the test harness.

pub mod v0_1;
pub mod v0_2;
pub mod v0_3;

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

/// The glue of one contract version from 0.2.0 on (`functions` and
/// `handlers` have the same shapes in each), for the bindings module `$v`
/// the caller imported as `wit`; `crate::host::$v::Imports` is installed.
macro_rules! since_v0_2 {
    ($v:ident) => {
        super::into_wit!();

        /// Parse the call's context and records, then run `validate_batch`.
        pub fn validate<P: Plugin>(
            ctx: wit::CallContext,
            records: Vec<String>,
        ) -> Result<Vec<wit::Decision>, wit::PluginError> {
            let _host = install();
            let (c, records) = prepare(&ctx.tenant, &ctx.entity, &ctx.config, records);
            let c = c.with_function(ctx.function);
            Ok(run_validate(&P::new(), &c, &records)?
                .into_iter()
                .map(Into::into)
                .collect())
        }

        /// Parse the call's context and records, then run `score_batch`.
        pub fn score<P: Plugin>(
            ctx: wit::CallContext,
            records: Vec<String>,
        ) -> Result<Vec<Vec<wit::ScoreValue>>, wit::PluginError> {
            let _host = install();
            let (c, records) = prepare(&ctx.tenant, &ctx.entity, &ctx.config, records);
            let c = c.with_function(ctx.function);
            Ok(run_score(&P::new(), &c, &records)?
                .into_iter()
                .map(|scores| scores.into_iter().map(Into::into).collect())
                .collect())
        }

        /// Parse the context and the event, then run `on_event`.
        pub fn on_event<P: Plugin>(
            ctx: wit::HandlerContext,
            e: wit::Event,
        ) -> Result<(), wit::PluginError> {
            let _host = install();
            let ctx = handler_context(ctx.tenant, &ctx.config, ctx.now, ctx.name)?;
            let e = event(
                e.id,
                e.kind,
                e.entity,
                e.record_id,
                &e.payload,
                e.created_at,
            )?;
            Ok(P::new().on_event(&ctx, &e)?)
        }

        /// Parse the context, then run `on_schedule`.
        pub fn on_schedule<P: Plugin>(ctx: wit::HandlerContext) -> Result<(), wit::PluginError> {
            let _host = install();
            let ctx = handler_context(ctx.tenant, &ctx.config, ctx.now, ctx.name)?;
            Ok(P::new().on_schedule(&ctx)?)
        }

        /// Parse the context and the input, then run `action`; its result goes back as JSON text.
        pub fn action<P: Plugin>(
            ctx: wit::HandlerContext,
            input: String,
        ) -> Result<String, wit::PluginError> {
            let _host = install();
            let ctx = handler_context(ctx.tenant, &ctx.config, ctx.now, ctx.name)?;
            let input = action_input(&input)?;
            Ok(P::new().action(&ctx, &input)?.to_string())
        }

        /// Route `log` and the host API to this version's imports. Only this glue
        /// names them, so only a component exported with this version's macro
        /// imports this version's `crm:plugin/host` and `crm:plugin/log`.
        #[cfg(target_arch = "wasm32")]
        fn install() -> Option<Installed> {
            Some(crate::host::install(std::rc::Rc::new(
                crate::host::$v::Imports,
            )))
        }

        // Natively the imports are stubs: keep whatever the test installed.
        #[cfg(not(target_arch = "wasm32"))]
        fn install() -> Option<Installed> {
            None
        }
    };
}
pub(crate) use since_v0_2;
