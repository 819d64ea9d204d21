//! What record checks and score previews share: a plugin run over a
//! tenant's stored records under a configuration to try, whether or not the
//! plugin is enabled there.

use crm_core::plugin_store;
use crm_graphql::PluginAdminError;
use serde_json::Value;
use uuid::Uuid;

use super::{Grants, LoadedPlugin, PluginHost, admin_err, granted};

/// `entity` as one of the entities plugins run for.
pub(super) fn pluggable(entity: &str) -> Result<&'static str, PluginAdminError> {
    crm_core::plugin_api::PLUGGABLE_ENTITIES
        .iter()
        .copied()
        .find(|e| *e == entity)
        .ok_or_else(|| {
            PluginAdminError::new(
                "BAD_USER_INPUT",
                format!(
                    "entity {entity:?} is not one plugins run for; use one of: {}",
                    crm_core::plugin_api::PLUGGABLE_ENTITIES.join(", ")
                ),
            )
            .with_field("entity", "not an entity plugins run for")
        })
}

/// How a plugin runs in a trial.
pub(super) struct Trial {
    /// Whether the plugin is enabled for the tenant.
    pub enabled: bool,
    /// Its effective configuration: defaults, the tenant's keys (if it is
    /// enabled there), the keys tried.
    pub config: Value,
    /// The tenant's grants, or what enabling it now would give.
    pub grants: Grants,
}

impl PluginHost {
    /// The configuration and grants `plugin` runs with for `tenant`, with
    /// `patch` (configuration keys, as `enablePlugin` merges them) over the
    /// tenant's. A secret sent back masked keeps its value.
    pub(super) async fn trial(
        &self,
        tenant: Uuid,
        plugin: &LoadedPlugin,
        patch: Option<Value>,
    ) -> Result<Trial, PluginAdminError> {
        let tp = plugin_store::tenant_plugin(&self.crm, tenant, plugin.id())
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?
            .filter(|t| t.enabled);
        let (overrides, grants) = match &tp {
            Some(tp) => (
                plugin_store::open_config(&self.crm, tenant, plugin.id(), tp.config.clone()),
                Grants::new(&plugin.manifest, &granted(&tp.grants)),
            ),
            None => (
                serde_json::json!({}),
                Grants::new(
                    &plugin.manifest,
                    &plugin_store::implicit_grants(&Grants::requested(&plugin.manifest)),
                ),
            ),
        };
        let overrides = match patch {
            None => overrides,
            Some(patch) => {
                let patch = match patch {
                    Value::Object(mut o) => {
                        o.retain(|_, v| v != crm_core::custom_field::MASK);
                        Value::Object(o)
                    }
                    other => other,
                };
                crm_graphql::merge_patch(overrides, patch).map_err(|m| {
                    PluginAdminError::new("BAD_USER_INPUT", m.clone()).with_field("configPatch", &m)
                })?
            }
        };
        let config = plugin.manifest.effective_config(&overrides).map_err(|e| {
            PluginAdminError::new("BAD_USER_INPUT", format!("configPatch: {e}"))
                .with_field("configPatch", &e.to_string())
        })?;
        Ok(Trial {
            enabled: tp.is_some(),
            config,
            grants,
        })
    }

    /// The records a trial goes over: `ids` (sorted, each once), or every
    /// `entity` record of `tenant`.
    pub(super) async fn trial_ids(
        &self,
        tenant: Uuid,
        entity: &'static str,
        ids: Option<Vec<Uuid>>,
    ) -> Result<Vec<Uuid>, PluginAdminError> {
        match ids {
            Some(mut ids) => {
                ids.sort();
                ids.dedup();
                Ok(ids)
            }
            None => crm_core::record::all_ids(&self.crm, tenant, entity)
                .await
                .map_err(|e| admin_err("PLUGIN_FAILED", e)),
        }
    }
}
