//! Contract 0.3.0: `functions` and `handlers` as in 0.2.0 plus
//! `on-webhook` (the host API adds `http`), called by
//! [`export_plugin_v0_3!`](crate::export_plugin_v0_3).

use super::{action_input, event, handler_context, prepare, run_score, run_validate};
use crate::Plugin;
use crate::bindings::v0_3::crm::plugin::types as wit;
use crate::host::Installed;

super::since_v0_2!(v0_3);

/// Parse the context, then run `on_webhook`.
pub fn on_webhook<P: Plugin>(
    ctx: wit::HandlerContext,
    request: wit::WebhookRequest,
) -> Result<(), wit::PluginError> {
    let _host = install();
    let ctx = handler_context(ctx.tenant, &ctx.config, ctx.now, ctx.name)?;
    let request = crate::WebhookRequest {
        id: request.id,
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
        received_at: request.received_at,
    };
    Ok(P::new().on_webhook(&ctx, &request)?)
}
