//! Plugin webhooks (contract 0.3.0): systems around the CRM (an ERP, a
//! shop) push to a plugin through a secret URL, `/hooks/<token>`.
//!
//! An operator creates (or rotates) a webhook's URL for their tenant with
//! [`rotate`]; only the token's SHA-256 is stored, so the URL is shown once.
//! A request to it is [`accept`]ed as a durable job (`plugin.webhook`) in
//! one insert and answered at once; the plugin's `on-webhook` handler runs
//! from the queue, with retries, like `on-event`. The delivery id is the
//! same on every retry, for the plugin's idempotency.

use base64::Engine;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::plugin_webhook;
use crate::error::{CoreError, Result};
use crate::jobs::NewJob;
use crate::plugin_store::{ACTIVE, manifest_of, tenant_plugin};

/// The job kind that runs a delivery.
pub const JOB_KIND: &str = "plugin.webhook";
/// Largest body a webhook accepts (the HTTP layer answers 413 above it).
pub const MAX_BODY: usize = 1 << 20;
/// Headers a delivery keeps at most (the rest are dropped).
pub const MAX_HEADERS: usize = 64;

/// A request received on a webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub method: String,
    /// The path after `/hooks/<token>`: "" or "/...".
    pub path: String,
    /// The query string without `?`; "" when none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request on a webhook URL is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No webhook has this token (never created, rotated, or the plugin was
    /// uninstalled or no longer declares it).
    #[error("no webhook has this URL")]
    Unknown,
    /// The plugin is disabled or suspended for the tenant: worth retrying.
    #[error("plugin {0} is not active for this tenant; retry later")]
    Inactive(String),
    /// The URL has taken as many requests as its rate allows for now.
    #[error("too many requests to this webhook URL; retry in {} s", .0.as_secs_f64().ceil())]
    RateLimited(std::time::Duration),
    #[error(transparent)]
    Failed(#[from] CoreError),
}

fn declares(manifest: &Value, webhook: &str) -> bool {
    manifest["webhooks"]
        .as_array()
        .is_some_and(|hooks| hooks.iter().any(|h| h["name"] == webhook))
}

/// Create the secret URL token of `webhook` of `plugin_id` for the caller's
/// tenant, replacing (and so disabling) any earlier one. The token is
/// returned once; only its hash is kept. Audited.
pub async fn rotate(crm: &Crm, p: &Principal, plugin_id: &str, webhook: &str) -> Result<String> {
    p.require(Action::Administer, "plugin")?;
    let manifest = manifest_of(crm, plugin_id)
        .await?
        .ok_or_else(|| CoreError::not_found("plugin", plugin_id))?;
    if !declares(&manifest, webhook) {
        return Err(CoreError::invalid(
            "webhook",
            "NOT_DECLARED",
            format!("plugin {plugin_id} declares no [[webhooks]] entry named {webhook:?}"),
        ));
    }
    let token = crate::tenant::random_token("whk_", 40);
    let now = crm.now();
    let txn = crm.write_txn().await?;
    plugin_webhook::Entity::delete_many()
        .filter(plugin_webhook::Column::TenantId.eq(p.tenant_id))
        .filter(plugin_webhook::Column::PluginId.eq(plugin_id))
        .filter(plugin_webhook::Column::Webhook.eq(webhook))
        .exec(&txn)
        .await?;
    plugin_webhook::ActiveModel {
        tenant_id: Set(p.tenant_id),
        plugin_id: Set(plugin_id.to_string()),
        webhook: Set(webhook.to_string()),
        token_hash: Set(crate::tenant::hash(&token)),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    crate::events::audit(
        &txn,
        p,
        now,
        "webhook.rotated",
        "plugin",
        None,
        json!({"plugin": plugin_id, "webhook": webhook}),
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Queue `delivery` for the webhook whose URL token is `token`; the answer
/// is the delivery id (the job's, and the `id` the plugin sees).
pub async fn accept(
    crm: &Crm,
    token: &str,
    delivery: Delivery,
    admit: impl FnOnce(&str) -> std::result::Result<(), std::time::Duration>,
) -> std::result::Result<Uuid, Refusal> {
    let hook = plugin_webhook::Entity::find()
        .filter(plugin_webhook::Column::TokenHash.eq(crate::tenant::hash(token)))
        .one(&crm.db)
        .await
        .map_err(CoreError::from)?
        .ok_or(Refusal::Unknown)?;
    let declared = manifest_of(crm, &hook.plugin_id)
        .await?
        .is_some_and(|m| declares(&m, &hook.webhook));
    if !declared {
        return Err(Refusal::Unknown);
    }
    match tenant_plugin(crm, hook.tenant_id, &hook.plugin_id).await? {
        Some(tp) if tp.enabled && tp.status == ACTIVE => {}
        _ => return Err(Refusal::Inactive(hook.plugin_id)),
    }
    // By URL (its token's hash): a rotated URL starts afresh.
    admit(&hook.token_hash).map_err(Refusal::RateLimited)?;
    let id = Uuid::now_v7();
    let now = crm.now();
    let headers: Vec<Value> = delivery
        .headers
        .iter()
        .take(MAX_HEADERS)
        .map(|(n, v)| json!([n, v]))
        .collect();
    let request = json!({
        "id": id,
        "method": delivery.method,
        "path": delivery.path,
        "query": delivery.query,
        "headers": headers,
        "bodyBase64": base64::engine::general_purpose::STANDARD.encode(&delivery.body),
        "receivedAt": crate::json::ts(&now),
    });
    let job = NewJob::new(
        Some(hook.tenant_id),
        JOB_KIND,
        json!({"plugin": hook.plugin_id, "webhook": hook.webhook, "request": request}),
        now,
    )
    .key(format!("webhook:{id}"));
    crate::jobs::enqueue(&crm.db, now, job).await?;
    crm.outbox_nudge.notify_waiters();
    Ok(id)
}
