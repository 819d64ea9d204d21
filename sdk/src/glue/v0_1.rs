//! Contract 0.1.0: `functions`, called by [`export_plugin!`](crate::export_plugin).

use super::{prepare, run_score, run_validate};
use crate::Plugin;
use crate::bindings::v0_1::crm::plugin::types as wit;
use crate::host::Installed;

super::into_wit!();

/// Parse the call's context and records, then run `validate_batch`.
pub fn validate<P: Plugin>(
    ctx: wit::CallContext,
    records: Vec<String>,
) -> Result<Vec<wit::Decision>, wit::PluginError> {
    let _host = install();
    let (ctx, records) = prepare(&ctx.tenant, &ctx.entity, &ctx.config, records);
    Ok(run_validate(&P::new(), &ctx, &records)?
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
    let (ctx, records) = prepare(&ctx.tenant, &ctx.entity, &ctx.config, records);
    Ok(run_score(&P::new(), &ctx, &records)?
        .into_iter()
        .map(|scores| scores.into_iter().map(Into::into).collect())
        .collect())
}

/// Route `log` to this version's import. Only this glue names it, so only a
/// component exported with `export_plugin!` imports `crm:plugin/log@0.1.0`.
#[cfg(target_arch = "wasm32")]
fn install() -> Option<Installed> {
    Some(crate::host::install(std::rc::Rc::new(
        crate::host::v0_1::Imports,
    )))
}

// Natively the imports are stubs: keep whatever the test installed.
#[cfg(not(target_arch = "wasm32"))]
fn install() -> Option<Installed> {
    None
}
