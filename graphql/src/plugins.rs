//! Plugin lifecycle and observability in GraphQL. The wasm work is behind
//! [`PluginAdmin`], implemented by the host's runtime.

use crate::common::{crm, gid, principal};
use crate::error::GqlResult;
use async_graphql::{Context, ErrorExtensions, ID, Json, Object, Result, SimpleObject};
use base64::Engine;
use crm_core::auth::Action;
use uuid::Uuid;

/// An installed plugin as the runtime sees it.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    pub id: String,
    pub version: String,
    pub contract: String,
    pub description: String,
    /// The parsed manifest as JSON.
    pub manifest: serde_json::Value,
    pub hash: String,
}

/// A plugin operation failed: `code` is `BAD_USER_INPUT` for manifest and
/// contract problems, `NOT_FOUND`, or `PLUGIN_FAILED`.
#[derive(Debug, Clone)]
pub struct PluginAdminError {
    pub code: &'static str,
    pub message: String,
    /// Problems with their paths (`plugin.toml: functions[0].kind`).
    pub fields: Vec<(String, String)>,
}

impl PluginAdminError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        PluginAdminError {
            code,
            message: message.into(),
            fields: vec![],
        }
    }
    /// The same error about input field `path`.
    pub fn with_field(mut self, path: &str, message: &str) -> Self {
        self.fields.push((path.to_string(), message.to_string()));
        self
    }
    fn into_gql(self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, ext| {
            ext.set("code", self.code);
            if let Some((p, _)) = self.fields.first() {
                ext.set("field", p.clone());
            }
            let list = self
                .fields
                .iter()
                .map(|(p, m)| {
                    let mut o = async_graphql::indexmap::IndexMap::new();
                    o.insert(
                        async_graphql::Name::new("path"),
                        async_graphql::Value::String(p.clone()),
                    );
                    o.insert(
                        async_graphql::Name::new("message"),
                        async_graphql::Value::String(m.clone()),
                    );
                    async_graphql::Value::Object(o)
                })
                .collect();
            ext.set("fields", async_graphql::Value::List(list));
        })
    }
}

/// Where API clients reach this server (`https://crm.example.com`), as
/// request data: `CRM_PUBLIC_URL`, else the request's `Host` and
/// `X-Forwarded-Proto`.
#[derive(Clone, Debug)]
pub struct PublicOrigin(pub String);

/// A webhook's secret URL.
#[derive(SimpleObject, Clone, Debug)]
pub struct PluginWebhookUrl {
    pub plugin: String,
    pub webhook: String,
    /// The URL to give the sending system: the server's public address
    /// (`CRM_PUBLIC_URL`, else the address this request was sent to) plus
    /// `path`.
    pub url: Option<String>,
    /// Relative to the server: `/hooks/whk_...`.
    pub path: String,
}

/// Result of re-running a scorer over every record.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct RescoreReport {
    pub plugin: String,
    pub records: i64,
    pub scored: i64,
    pub failed_batches: i64,
    pub duration_ms: i64,
}

/// What `checkRecords` asks: a plugin's validate functions over stored
/// records of one entity. As JSON (camelCase), the payload of a
/// `plugin.check` job.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRequest {
    pub plugin: String,
    pub entity: String,
    /// These records only (at most [`CHECK_IDS_MAX`]); `None`: every record
    /// of the entity in the tenant.
    pub ids: Option<Vec<Uuid>>,
    /// Configuration keys to try instead of the tenant's (dry runs only).
    pub config_patch: Option<serde_json::Value>,
    /// Write the changes (as ordinary updates) instead of only reporting them.
    pub apply: bool,
}

/// Most records `checkRecords(ids:)` names.
pub const CHECK_IDS_MAX: usize = 1000;

/// Most findings a check report lists; its counts cover every record.
pub const CHECK_FINDINGS_MAX: usize = 100;

/// What a plugin's validate functions say about stored records, and what
/// applying their changes did.
#[derive(SimpleObject, Clone, Debug, serde::Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecordCheckReport {
    pub plugin: String,
    pub entity: String,
    /// Whether the changes were written (`apply: true`).
    pub apply: bool,
    /// Records checked.
    pub records: i64,
    /// Accepted as they are.
    pub passed: i64,
    /// Changed by a patch (to be changed, in a dry run).
    pub patched: i64,
    /// Rejected with field errors (left as they are).
    pub rejected: i64,
    /// Records the plugin could not check (its call failed; see `findings`).
    pub failed: i64,
    /// Patched records written (`apply: true`); a patch another validator
    /// rejects, or that the record refuses, is not written and its finding
    /// says why.
    pub applied: i64,
    /// The first 100 records patched, rejected or failed, in id order.
    pub findings: Vec<RecordFinding>,
    pub duration_ms: i64,
}

/// One stored record a validate function would change or rejects.
#[derive(SimpleObject, Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordFinding {
    pub id: ID,
    /// `PATCH`, `REJECT` or `FAILED`.
    pub outcome: String,
    /// The fields a patch changes (`PATCH`).
    pub changes: Vec<FieldChange>,
    /// Why the record is rejected (`REJECT`).
    pub errors: Vec<RecordFieldError>,
    /// Whether the patch was written (`apply: true`).
    pub applied: bool,
    /// Why the call failed (`FAILED`) or the patch was not written.
    pub message: Option<String>,
}

/// A field a patch changes, with its stored and its new value.
#[derive(SimpleObject, Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// GraphQL path (`phone`, `customFields.vin`).
    pub path: String,
    pub from: Json<serde_json::Value>,
    pub to: Json<serde_json::Value>,
}

/// A field error a validate function reports.
#[derive(SimpleObject, Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordFieldError {
    pub path: String,
    /// The plugin's machine-readable code (`INVALID_PHONE`).
    pub code: String,
    pub message: String,
}

/// What `previewScores` asks: a plugin's score functions over stored
/// records of one entity, under a configuration to try.
#[derive(Clone, Debug, Default)]
pub struct PreviewRequest {
    pub plugin: String,
    pub entity: String,
    /// These records only (at most [`CHECK_IDS_MAX`]); `None`: every record
    /// of the entity in the tenant.
    pub ids: Option<Vec<Uuid>>,
    /// Configuration keys to try over the tenant's.
    pub config_patch: Option<serde_json::Value>,
}

/// Most records a score preview lists; its counts cover every record.
pub const PREVIEW_CHANGES_MAX: usize = 100;

/// What a plugin's score functions would give the stored records under a
/// configuration, beside what is stored now. Nothing is written.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ScorePreview {
    pub plugin: String,
    pub entity: String,
    /// Records scored.
    pub records: i64,
    /// Records the plugin could not score (a failed call or input query;
    /// `failure` says why). They count in no summary.
    pub failed: i64,
    /// Why the first failed batch failed.
    pub failure: Option<String>,
    /// One entry per score name: the stored and the previewed distribution.
    pub scores: Vec<ScoreShift>,
    /// The records whose score changes the most, at most 100: grade changes
    /// first, then by how far the value moves.
    pub changes: Vec<ScoreChange>,
    pub duration_ms: i64,
}

/// One score name, stored and previewed, over the records previewed.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ScoreShift {
    /// The score's name (`lead`).
    pub name: String,
    /// The scores stored now.
    pub stored: ScoreSummary,
    /// The scores the configuration tried would give.
    pub preview: ScoreSummary,
    /// Records whose value would change (or which would gain or lose the
    /// score).
    pub changed_value: i64,
    /// Records whose grade would change (or which would gain or lose the
    /// score).
    pub changed_grade: i64,
    /// How grades move, most common first: from the stored grade to the
    /// previewed one (`null`: no score, or a score without a grade).
    pub moves: Vec<GradeMove>,
}

/// A distribution of one score's values.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ScoreSummary {
    /// Records having the score.
    pub records: i64,
    /// Their mean value (`null` when none has it).
    pub mean: Option<f64>,
    /// How many have each grade, by grade (`null`: no grade).
    pub grades: Vec<GradeCount>,
}

/// Records with one grade.
#[derive(SimpleObject, Clone, Debug)]
pub struct GradeCount {
    pub grade: Option<String>,
    pub count: i64,
}

/// Records whose grade moves from `from` to `to`.
#[derive(SimpleObject, Clone, Debug)]
pub struct GradeMove {
    pub from: Option<String>,
    pub to: Option<String>,
    pub count: i64,
}

/// One record's score, stored and previewed.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScoreChange {
    pub id: ID,
    pub name: String,
    /// The stored score (`null`: none).
    pub from: Option<ScoreSnapshot>,
    /// The previewed score (`null`: the plugin would not give it).
    pub to: Option<ScoreSnapshot>,
}

/// A score value with its grade and reasons.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct ScoreSnapshot {
    pub value: i32,
    pub grade: Option<String>,
    pub reasons: Vec<String>,
}

/// What the host's plugin runtime offers the API.
#[async_trait::async_trait]
pub trait PluginAdmin: Send + Sync {
    /// Install a plugin (or upgrade it when `upgrade`): parse the manifest,
    /// compile the component, check its contract version, store both.
    async fn install(
        &self,
        manifest_toml: &str,
        component: Vec<u8>,
        upgrade: bool,
    ) -> Result<PluginInfo, PluginAdminError>;
    async fn uninstall(&self, id: &str) -> Result<(), PluginAdminError>;
    async fn list(&self) -> Result<Vec<PluginInfo>, PluginAdminError>;
    /// The effective configuration for a tenant (defaults + overrides), validated.
    async fn effective_config(
        &self,
        id: &str,
        overrides: &serde_json::Value,
    ) -> Result<serde_json::Value, PluginAdminError>;
    /// Capabilities a plugin asks for (`read:contact`, `pii:read`, ...).
    async fn requested_capabilities(&self, id: &str) -> Result<Vec<String>, PluginAdminError>;
    async fn rescore(&self, tenant: Uuid, id: &str) -> Result<RescoreReport, PluginAdminError>;
    /// Run a plugin's validate functions over stored records as `p`
    /// (see `checkRecords`).
    async fn check_records(
        &self,
        p: &crm_core::auth::Principal,
        req: CheckRequest,
    ) -> Result<RecordCheckReport, PluginAdminError>;
    /// Run a plugin's score functions over stored records as `p` and
    /// compare with the stored scores (see `previewScores`).
    async fn preview_scores(
        &self,
        p: &crm_core::auth::Principal,
        req: PreviewRequest,
    ) -> Result<ScorePreview, PluginAdminError>;
    /// Enablements changed in this process: forget cached routing.
    fn changed(&self) {}
    /// Wait until runs recorded so far are written (before reading runs or stats).
    async fn flush(&self) {}
}

/// A host without a plugin runtime.
pub struct NoPluginAdmin;

#[async_trait::async_trait]
impl PluginAdmin for NoPluginAdmin {
    async fn install(&self, _: &str, _: Vec<u8>, _: bool) -> Result<PluginInfo, PluginAdminError> {
        Err(PluginAdminError::new(
            "PLUGIN_FAILED",
            "this server has no plugin runtime",
        ))
    }
    async fn uninstall(&self, _: &str) -> Result<(), PluginAdminError> {
        Err(PluginAdminError::new(
            "PLUGIN_FAILED",
            "this server has no plugin runtime",
        ))
    }
    async fn list(&self) -> Result<Vec<PluginInfo>, PluginAdminError> {
        Ok(vec![])
    }
    async fn effective_config(
        &self,
        _: &str,
        c: &serde_json::Value,
    ) -> Result<serde_json::Value, PluginAdminError> {
        Ok(c.clone())
    }
    async fn requested_capabilities(&self, _: &str) -> Result<Vec<String>, PluginAdminError> {
        Ok(vec![])
    }
    async fn rescore(&self, _: Uuid, _: &str) -> Result<RescoreReport, PluginAdminError> {
        Err(PluginAdminError::new(
            "PLUGIN_FAILED",
            "this server has no plugin runtime",
        ))
    }
    async fn check_records(
        &self,
        _: &crm_core::auth::Principal,
        _: CheckRequest,
    ) -> Result<RecordCheckReport, PluginAdminError> {
        Err(PluginAdminError::new(
            "PLUGIN_FAILED",
            "this server has no plugin runtime",
        ))
    }
    async fn preview_scores(
        &self,
        _: &crm_core::auth::Principal,
        _: PreviewRequest,
    ) -> Result<ScorePreview, PluginAdminError> {
        Err(PluginAdminError::new(
            "PLUGIN_FAILED",
            "this server has no plugin runtime",
        ))
    }
}

fn admin<'a>(ctx: &'a Context<'_>) -> &'a std::sync::Arc<dyn PluginAdmin> {
    ctx.data_unchecked::<std::sync::Arc<dyn PluginAdmin>>()
}

/// A plugin with its state in the caller's tenant.
pub struct Plugin {
    info: PluginInfo,
}

#[derive(SimpleObject)]
pub struct PluginStats {
    /// Runs among the last 1000.
    pub runs: i64,
    pub failures: i64,
    pub avg_duration_us: f64,
}

#[derive(SimpleObject)]
pub struct PluginFunction {
    pub name: String,
    /// VALIDATE or SCORE.
    pub kind: String,
    pub entities: Vec<String>,
    pub input: String,
    pub on_failure: String,
}

#[Object]
impl Plugin {
    async fn id(&self) -> &str {
        &self.info.id
    }
    async fn version(&self) -> &str {
        &self.info.version
    }
    /// The crm:plugin contract version the component was built against.
    async fn contract(&self) -> &str {
        &self.info.contract
    }
    async fn description(&self) -> &str {
        &self.info.description
    }
    /// SHA-256 of the component.
    async fn hash(&self) -> &str {
        &self.info.hash
    }
    async fn manifest(&self) -> Json<serde_json::Value> {
        Json(self.info.manifest.clone())
    }
    async fn functions(&self) -> Vec<PluginFunction> {
        let fs = self
            .info
            .manifest
            .get("functions")
            .and_then(|f| f.as_array())
            .cloned()
            .unwrap_or_default();
        let s = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
        };
        fs.iter()
            .map(|f| PluginFunction {
                name: s(f, "name"),
                kind: s(f, "kind").to_uppercase(),
                entities: f
                    .get("entities")
                    .and_then(|e| e.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                input: s(f, "input"),
                on_failure: s(f, "on-failure").to_uppercase().replace('-', "_"),
            })
            .collect()
    }
    /// Capabilities the plugin asks for.
    async fn capabilities(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        admin(ctx)
            .requested_capabilities(&self.info.id)
            .await
            .map_err(PluginAdminError::into_gql)
    }
    /// Whether it is enabled in the caller's tenant.
    async fn enabled(&self, ctx: &Context<'_>) -> Result<bool> {
        let p = principal(ctx)?;
        Ok(
            crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &self.info.id)
                .await
                .gql()?
                .is_some_and(|t| t.enabled),
        )
    }
    /// ACTIVE, SUSPENDED, or DISABLED in the caller's tenant.
    async fn status(&self, ctx: &Context<'_>) -> Result<String> {
        let p = principal(ctx)?;
        let t = crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &self.info.id)
            .await
            .gql()?;
        Ok(crm_core::plugin_store::status_label(t.as_ref()))
    }
    /// Why it was suspended, if it was.
    async fn status_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let p = principal(ctx)?;
        Ok(
            crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &self.info.id)
                .await
                .gql()?
                .and_then(|t| t.status_reason),
        )
    }
    /// The tenant's configuration overrides; secrets (`type = "secret"`)
    /// read `********` (sending that back keeps the stored value).
    async fn config(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        let p = principal(ctx)?;
        Ok(Json(
            crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &self.info.id)
                .await
                .gql()?
                .map(|t| crm_core::plugin_store::masked_config(t.config))
                .unwrap_or(serde_json::json!({})),
        ))
    }
    /// Capabilities granted in this tenant.
    async fn grants(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let p = principal(ctx)?;
        let g = crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &self.info.id)
            .await
            .gql()?
            .map(|t| t.grants);
        Ok(g.and_then(|g| {
            g.as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default())
    }
    async fn stats(&self, ctx: &Context<'_>) -> Result<PluginStats> {
        let p = principal(ctx)?;
        let (runs, failures, avg) =
            crm_core::plugin_store::stats(crm(ctx), p.tenant_id, &self.info.id)
                .await
                .gql()?;
        Ok(PluginStats {
            runs,
            failures,
            avg_duration_us: avg,
        })
    }
    async fn last_error(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let p = principal(ctx)?;
        crm_core::plugin_store::last_error(crm(ctx), p.tenant_id, &self.info.id)
            .await
            .gql()
    }
}

/// One recorded plugin invocation.
pub struct PluginRun(crm_core::entity::plugin_run::Model);

#[Object]
impl PluginRun {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn plugin(&self) -> &str {
        &self.0.plugin_id
    }
    async fn plugin_version(&self) -> &str {
        &self.0.plugin_version
    }
    /// validate or score (function name in brackets).
    async fn entry_point(&self) -> &str {
        &self.0.function
    }
    async fn entity(&self) -> &str {
        &self.0.entity
    }
    async fn records(&self) -> i32 {
        self.0.records
    }
    async fn duration_us(&self) -> i64 {
        self.0.duration_us
    }
    async fn fuel_used(&self) -> i64 {
        self.0.fuel_used
    }
    /// ok, rejected or failed.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    /// TIMEOUT, FUEL_EXHAUSTED, MEMORY_LIMIT, STACK_OVERFLOW, TRAP, OUTPUT_TOO_LARGE, BAD_OUTPUT, PLUGIN_ERROR.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// What the plugin logged (bounded).
    async fn log(&self) -> Option<&str> {
        self.0.log.as_deref()
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct PluginQuery;

#[Object]
impl PluginQuery {
    /// Installed plugins with their state in the caller's tenant.
    async fn plugins(&self, ctx: &Context<'_>) -> Result<Vec<Plugin>> {
        principal(ctx)?;
        admin(ctx).flush().await;
        Ok(admin(ctx)
            .list()
            .await
            .map_err(PluginAdminError::into_gql)?
            .into_iter()
            .map(|info| Plugin { info })
            .collect())
    }

    /// Recent plugin runs of the caller's tenant, newest first.
    async fn plugin_runs(
        &self,
        ctx: &Context<'_>,
        plugin: Option<String>,
        outcome: Option<String>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<PluginRun>> {
        admin(ctx).flush().await;
        let p = principal(ctx)?;
        let rows = crm_core::plugin_store::runs(
            crm(ctx),
            p,
            plugin.as_deref(),
            outcome.as_deref(),
            first.clamp(1, 500) as u64,
        )
        .await
        .gql()?;
        Ok(rows.into_iter().map(PluginRun).collect())
    }

    /// What a plugin's score functions would give the caller's tenant's
    /// stored records of `entity` (or only `ids`, at most 1000) beside the
    /// scores stored now: per score name, the stored and the previewed
    /// grade distribution and mean, how many values and grades change, how
    /// grades move (`C -> A: 12`), and the records that change the most.
    /// `configPatch` tries configuration keys over the tenant's (as
    /// `enablePlugin` would merge them; thresholds, weights) without saving
    /// them; a plugin not enabled is tried with its defaults and the grants
    /// enabling would give. Nothing is written but the plugin's runs.
    /// Tune with this, then save with `enablePlugin(config:)` and
    /// `startRescore`.
    async fn preview_scores(
        &self,
        ctx: &Context<'_>,
        plugin: String,
        entity: String,
        ids: Option<Vec<ID>>,
        config_patch: Option<Json<serde_json::Value>>,
    ) -> Result<ScorePreview> {
        require_admin(ctx)?;
        let p = principal(ctx)?;
        let ids = record_ids(ids, "preview")?;
        admin(ctx)
            .preview_scores(
                p,
                PreviewRequest {
                    plugin,
                    entity,
                    ids,
                    config_patch: config_patch.map(|j| j.0),
                },
            )
            .await
            .map_err(PluginAdminError::into_gql)
    }
}

/// The `ids` argument of a check or preview: at most [`CHECK_IDS_MAX`].
fn record_ids(ids: Option<Vec<ID>>, what: &str) -> Result<Option<Vec<Uuid>>> {
    match ids {
        None => Ok(None),
        Some(ids) if ids.len() > CHECK_IDS_MAX => Err(crate::error::to_gql_error(
            crm_core::CoreError::LimitExceeded(format!(
                "ids: at most {CHECK_IDS_MAX}; leave ids out to {what} every record"
            )),
        )
        .extend_with(|_, ext| ext.set("field", "ids"))),
        Some(ids) => Ok(Some(
            ids.iter()
                .map(|i| crate::common::uuid(i, "ids"))
                .collect::<Result<Vec<Uuid>>>()?,
        )),
    }
}

#[derive(Default)]
pub struct PluginMutation;

/// `overrides` with `patch` applied: each key `patch` names is set, or
/// removed when `null` (JSON merge patch, one level: configuration keys are
/// flat).
pub fn merge_patch(
    overrides: serde_json::Value,
    patch: serde_json::Value,
) -> std::result::Result<serde_json::Value, String> {
    let serde_json::Value::Object(patch) = patch else {
        return Err("configPatch is an object of configuration keys".into());
    };
    let mut merged = match overrides {
        serde_json::Value::Object(o) => o,
        _ => serde_json::Map::new(),
    };
    for (k, v) in patch {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    Ok(serde_json::Value::Object(merged))
}

fn require_admin(ctx: &Context<'_>) -> Result<()> {
    principal(ctx)?.require(Action::Administer, "plugin").gql()
}

/// Installing, upgrading and uninstalling change a plugin for every tenant:
/// admins of the operator tenant only.
async fn require_operator(ctx: &Context<'_>, what: &str) -> Result<()> {
    crm_core::tenant::require_operator(crm(ctx), principal(ctx)?, what)
        .await
        .gql()
}

fn decode_component(b64: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| {
            crate::error::to_gql_error(crm_core::CoreError::invalid(
                "component",
                "INVALID_VALUE",
                format!("component must be base64: {e}"),
            ))
        })
}

#[Object]
impl PluginMutation {
    /// Install a plugin: `manifest` is the plugin.toml text, `component` the
    /// wasm component, base64-encoded. It is installed for the whole
    /// installation (each tenant then enables it): admins of the operator
    /// tenant (the tenant created first) only.
    async fn install_plugin(
        &self,
        ctx: &Context<'_>,
        manifest: String,
        component: String,
    ) -> Result<Plugin> {
        require_operator(ctx, "installing a plugin").await?;
        let info = admin(ctx)
            .install(&manifest, decode_component(&component)?, false)
            .await
            .map_err(PluginAdminError::into_gql)?;
        Ok(Plugin { info })
    }

    /// Replace an installed plugin by a new version; calls in flight finish
    /// on the old one. Admins of the operator tenant only.
    async fn upgrade_plugin(
        &self,
        ctx: &Context<'_>,
        manifest: String,
        component: String,
    ) -> Result<Plugin> {
        require_operator(ctx, "upgrading a plugin").await?;
        let info = admin(ctx)
            .install(&manifest, decode_component(&component)?, true)
            .await
            .map_err(PluginAdminError::into_gql)?;
        Ok(Plugin { info })
    }

    /// Uninstall a plugin from every tenant, with its enablements, scores,
    /// webhook URLs and key-value storage (its run history stays). Admins
    /// of the operator tenant only.
    async fn uninstall_plugin(&self, ctx: &Context<'_>, id: String) -> Result<String> {
        require_operator(ctx, "uninstalling a plugin").await?;
        admin(ctx)
            .uninstall(&id)
            .await
            .map_err(PluginAdminError::into_gql)?;
        Ok(id)
    }

    /// Enable a plugin for the caller's tenant (or resume it) with
    /// configuration overrides and granted capabilities. Either one left
    /// out keeps what the tenant had; for a first enablement the defaults
    /// are no overrides and everything the plugin asks for but `pii:read`
    /// and `http:<origin>`, which are granted only by name. `config`
    /// replaces every override; `configPatch` changes only the keys it
    /// names (`null` removes an override: the key is back to its default).
    /// A secret sent as `********` keeps its stored value.
    async fn enable_plugin(
        &self,
        ctx: &Context<'_>,
        id: String,
        config: Option<Json<serde_json::Value>>,
        config_patch: Option<Json<serde_json::Value>>,
        grants: Option<Vec<String>>,
    ) -> Result<Plugin> {
        require_admin(ctx)?;
        let p = principal(ctx)?;
        let existing = crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &id)
            .await
            .gql()?;
        let kept = || {
            existing
                .as_ref()
                .map(|e| e.config.clone())
                .unwrap_or(serde_json::json!({}))
        };
        let config = match (config, config_patch) {
            (Some(_), Some(_)) => {
                return Err(crate::error::to_gql_error(crm_core::CoreError::invalid(
                    "configPatch",
                    "BAD_USER_INPUT",
                    "give config (replaces every override) or configPatch (changes the keys it names), not both",
                )));
            }
            (Some(c), None) => c.0,
            (None, Some(patch)) => merge_patch(kept(), patch.0).map_err(|m| {
                crate::error::to_gql_error(crm_core::CoreError::invalid(
                    "configPatch",
                    "INVALID_VALUE",
                    m,
                ))
            })?,
            (None, None) => kept(),
        };
        let kept_grants = existing.as_ref().map(|e| {
            e.grants
                .as_array()
                .map(|g| {
                    g.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });
        let grants = grants.or(kept_grants);
        admin(ctx)
            .effective_config(&id, &config)
            .await
            .map_err(PluginAdminError::into_gql)?;
        let requested = admin(ctx)
            .requested_capabilities(&id)
            .await
            .map_err(PluginAdminError::into_gql)?;
        let grants = grants.unwrap_or_else(|| crm_core::plugin_store::implicit_grants(&requested));
        crm_core::plugin_store::enable(crm(ctx), p, &id, config, serde_json::json!(grants))
            .await
            .gql()?;
        admin(ctx).changed();
        let info = admin(ctx)
            .list()
            .await
            .map_err(PluginAdminError::into_gql)?
            .into_iter()
            .find(|i| i.id == id);
        info.map(|info| Plugin { info })
            .ok_or_else(|| crate::error::to_gql_error(crm_core::CoreError::not_found("plugin", id)))
    }

    /// Create the secret URL of a webhook the plugin declares
    /// (`[[webhooks]]`, contract 0.3.0) for the caller's tenant, replacing
    /// any earlier one (which stops working at once). The URL is shown only
    /// here: give it to the sending system as your server's address plus
    /// `path`. Requests to it are answered `202` and run the plugin's
    /// `on-webhook` handler from the job queue.
    async fn create_plugin_webhook_url(
        &self,
        ctx: &Context<'_>,
        plugin: String,
        webhook: String,
    ) -> Result<PluginWebhookUrl> {
        require_admin(ctx)?;
        let token = crm_core::webhook::rotate(crm(ctx), principal(ctx)?, &plugin, &webhook)
            .await
            .gql()?;
        let path = format!("/hooks/{token}");
        Ok(PluginWebhookUrl {
            url: ctx
                .data_opt::<PublicOrigin>()
                .map(|origin| format!("{}{path}", origin.0)),
            path,
            plugin,
            webhook,
        })
    }

    async fn disable_plugin(&self, ctx: &Context<'_>, id: String) -> Result<Plugin> {
        require_admin(ctx)?;
        crm_core::plugin_store::disable(crm(ctx), principal(ctx)?, &id)
            .await
            .gql()?;
        admin(ctx).changed();
        let info = admin(ctx)
            .list()
            .await
            .map_err(PluginAdminError::into_gql)?
            .into_iter()
            .find(|i| i.id == id);
        info.map(|info| Plugin { info })
            .ok_or_else(|| crate::error::to_gql_error(crm_core::CoreError::not_found("plugin", id)))
    }

    /// Rescore in the background: queue a rescore of the plugin over every
    /// record of the caller's tenant and return its job at once. Poll
    /// `job(id:)`: its `payload.progress` counts `done` of `total` records
    /// (updated every two seconds), `payload.report` holds the
    /// `rescore` report when `status` is `succeeded`. While one is queued or
    /// running, asking again returns that job instead of starting another.
    async fn start_rescore(
        &self,
        ctx: &Context<'_>,
        plugin: String,
    ) -> Result<crate::automation::Job> {
        require_admin(ctx)?;
        let p = principal(ctx)?;
        let enabled = crm_core::plugin_store::tenant_plugin(crm(ctx), p.tenant_id, &plugin)
            .await
            .gql()?
            .is_some_and(|t| t.enabled);
        if !enabled {
            return Err(crate::error::to_gql_error(crm_core::CoreError::invalid(
                "plugin",
                "BAD_USER_INPUT",
                format!(
                    "plugin {plugin} is not enabled for this tenant; enable it first (enablePlugin)"
                ),
            )));
        }
        let j = crm_core::automation::queue_rescore(crm(ctx), p.tenant_id, &plugin)
            .await
            .gql()?;
        Ok(crate::automation::Job(j))
    }

    /// Re-run a plugin's scorers over every record of the caller's tenant,
    /// in batches, and answer when done (`startRescore` for large tenants).
    async fn rescore(&self, ctx: &Context<'_>, plugin: String) -> Result<RescoreReport> {
        require_admin(ctx)?;
        let p = principal(ctx)?;
        admin(ctx)
            .rescore(p.tenant_id, &plugin)
            .await
            .map_err(PluginAdminError::into_gql)
    }
    /// `checkRecords` over every stored record of `entity` in the
    /// background: the arguments are checked at once (the errors are
    /// `checkRecords`'), then the job is queued and returned. Poll
    /// `job(id:)`: `payload.progress` counts `done` of `total` records
    /// (every two seconds), `payload.report` is the report once `status` is
    /// `succeeded`. The job acts as the calling API key as it stands when it
    /// runs (revoked by then, it fails).
    async fn start_check_records(
        &self,
        ctx: &Context<'_>,
        plugin: String,
        entity: String,
        config_patch: Option<Json<serde_json::Value>>,
        #[graphql(default = false)] apply: bool,
    ) -> Result<crate::automation::Job> {
        require_admin(ctx)?;
        let p = principal(ctx)?;
        let req = CheckRequest {
            plugin,
            entity,
            ids: None,
            config_patch: config_patch.map(|j| j.0),
            apply,
        };
        // The same checks as a check of no records: nothing runs.
        admin(ctx)
            .check_records(
                p,
                CheckRequest {
                    ids: Some(vec![]),
                    ..req.clone()
                },
            )
            .await
            .map_err(PluginAdminError::into_gql)?;
        let request = serde_json::to_value(&req)?;
        let j = crm_core::automation::queue_check(crm(ctx), p, request)
            .await
            .gql()?;
        Ok(crate::automation::Job(j))
    }

    /// Run a plugin's validate functions over the caller's tenant's stored
    /// records of `entity` (or only `ids`, at most 1000): which pass, which
    /// a patch changes (field by field, stored and new value) and which are
    /// rejected, with the plugin's field errors. Records written before the
    /// plugin was enabled, or under another configuration, are cleaned this
    /// way. A dry run by default: nothing is written. `configPatch` tries
    /// configuration keys over the tenant's (as `enablePlugin` would merge
    /// them) without saving them; a plugin not enabled is tried with its
    /// defaults and the grants enabling would give. `apply: true` writes
    /// each patch as an ordinary update of the record (its own transaction,
    /// audited, validated by every active validator and rescored), using
    /// the saved configuration of an enabled plugin.
    async fn check_records(
        &self,
        ctx: &Context<'_>,
        plugin: String,
        entity: String,
        ids: Option<Vec<ID>>,
        config_patch: Option<Json<serde_json::Value>>,
        #[graphql(default = false)] apply: bool,
    ) -> Result<RecordCheckReport> {
        require_admin(ctx)?;
        let p = principal(ctx)?;
        let ids = record_ids(ids, "check")?;
        admin(ctx)
            .check_records(
                p,
                CheckRequest {
                    plugin,
                    entity,
                    ids,
                    config_patch: config_patch.map(|j| j.0),
                    apply,
                },
            )
            .await
            .map_err(PluginAdminError::into_gql)
    }
}

#[cfg(test)]
mod merge_patch_tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn sets_the_keys_it_names_removes_nulls_and_keeps_the_rest() {
        let kept = json!({"grade-a": 80, "weight-title": 30, "api-token": "sealed:abc"});
        let merged = merge_patch(
            kept,
            json!({"grade-a": 75, "weight-title": null, "grade-b": 40}),
        );
        assert_eq!(
            merged,
            Ok(json!({"grade-a": 75, "grade-b": 40, "api-token": "sealed:abc"}))
        );
        assert_eq!(
            merge_patch(json!(null), json!({"x": 1})),
            Ok(json!({"x": 1}))
        );
        assert!(merge_patch(json!({}), json!([1])).is_err());
    }
}
