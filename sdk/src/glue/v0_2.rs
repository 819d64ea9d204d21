//! Contract 0.2.0: `functions` and `handlers`, called by
//! [`export_plugin_v0_2!`](crate::export_plugin_v0_2).

use super::{action_input, event, handler_context, prepare, run_score, run_validate};
use crate::Plugin;
use crate::bindings::v0_2::crm::plugin::types as wit;
use crate::host::Installed;

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
/// names them, so only a component exported with `export_plugin_v0_2!`
/// imports `crm:plugin/host@0.2.0` and `crm:plugin/log@0.2.0`.
#[cfg(target_arch = "wasm32")]
fn install() -> Option<Installed> {
    Some(crate::host::install(std::rc::Rc::new(
        crate::host::v0_2::Imports,
    )))
}

// Natively the imports are stubs: keep whatever the test installed.
#[cfg(not(target_arch = "wasm32"))]
fn install() -> Option<Installed> {
    None
}
