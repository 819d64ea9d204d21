//! Checking stored records with a plugin's validate functions
//! (`checkRecords`, `crm plugin check`): the data-quality rules of a write,
//! run over what is already in the database, as a dry run or applied.

use std::sync::Arc;
use std::time::Instant;

use crm_core::Principal;
use crm_core::plugin_api::{Decision, PluginFailure};
use crm_graphql::{
    CHECK_FINDINGS_MAX, CheckRequest, FieldChange, PluginAdminError, RecordCheckReport,
    RecordFieldError, RecordFinding,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::trial::{Trial, pluggable};
use super::{
    CallContext, CallOn, FunctionDecl, FunctionKind, Grants, LoadedPlugin, Outcome, PluginHost,
    SCORE_BATCH, admin_err, apply_patch, run_call,
};

/// What one record came to after every validate function of the plugin.
enum Verdict {
    Pass,
    Patch(Vec<(String, Value, Value)>),
    Reject(Vec<RecordFieldError>),
    Failed(String),
}

impl PluginHost {
    /// Run `req.plugin`'s validate functions for `req.entity` over stored
    /// records of `p`'s tenant, in batches, calling `progress(done, total)`
    /// after each; with `req.apply`, write each patch as an update by `p`.
    pub async fn check_records(
        &self,
        p: &Principal,
        req: CheckRequest,
        progress: impl Fn(u64, u64),
    ) -> Result<RecordCheckReport, PluginAdminError> {
        let start = Instant::now();
        p.require(crm_core::auth::Action::Administer, "plugin")
            .map_err(|e| PluginAdminError::new("FORBIDDEN", e.to_string()))?;
        let tenant = p.tenant_id;
        let bad = |m: String| PluginAdminError::new("BAD_USER_INPUT", m);
        let entity = pluggable(&req.entity)?;
        let plugin = self.installed(&req.plugin).await?;
        let functions: Vec<&FunctionDecl> = plugin
            .manifest
            .functions
            .iter()
            .filter(|f| f.kind == FunctionKind::Validate && f.entities.iter().any(|e| e == entity))
            .collect();
        if functions.is_empty() {
            let scores = Self::score_functions(&plugin, entity).next().is_some();
            return Err(bad(format!(
                "plugin {} has no validate function for {entity}{}",
                req.plugin,
                if scores {
                    "; its score functions are tried over stored records with previewScores and re-run with rescore"
                } else {
                    ""
                }
            )));
        }
        if req.apply && req.config_patch.is_some() {
            return Err(PluginAdminError::new(
                "BAD_USER_INPUT",
                "apply writes with the saved configuration: save configPatch with enablePlugin first, or leave apply out to try it",
            )
            .with_field("configPatch", "not with apply"));
        }
        let Trial {
            enabled,
            config,
            grants,
        } = self.trial(tenant, &plugin, req.config_patch).await?;
        if req.apply && !enabled {
            return Err(bad(format!(
                "plugin {} is not enabled for this tenant: enable it first (enablePlugin); a dry run (apply: false) works without",
                req.plugin
            )));
        }
        let ids = self.trial_ids(tenant, entity, req.ids).await?;
        let total = ids.len() as u64;
        let mut report = RecordCheckReport {
            plugin: req.plugin.clone(),
            entity: entity.to_string(),
            apply: req.apply,
            ..Default::default()
        };
        let sensitive = crm_core::custom_field::sensitive_keys(&self.crm.db, tenant, entity)
            .await
            .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        let pii = crm_core::custom_field::reveals(p);
        let mut done = 0u64;
        for chunk in ids.chunks(SCORE_BATCH) {
            let found = crm_core::record::candidates_of(&self.crm, tenant, entity, chunk)
                .await
                .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
            let verdicts = self
                .check_batch(
                    tenant, entity, &plugin, &functions, &config, &grants, &sensitive, &found,
                )
                .await;
            for ((id, _), verdict) in found.iter().zip(verdicts) {
                report.records += 1;
                let mut finding = RecordFinding {
                    id: id.to_string().into(),
                    outcome: String::new(),
                    changes: vec![],
                    errors: vec![],
                    applied: false,
                    message: None,
                };
                match verdict {
                    Verdict::Pass => {
                        report.passed += 1;
                        continue;
                    }
                    Verdict::Reject(errors) => {
                        report.rejected += 1;
                        finding.outcome = "REJECT".into();
                        finding.errors = errors;
                    }
                    Verdict::Failed(message) => {
                        report.failed += 1;
                        finding.outcome = "FAILED".into();
                        finding.message = Some(message);
                    }
                    Verdict::Patch(changes) => {
                        report.patched += 1;
                        finding.outcome = "PATCH".into();
                        if req.apply {
                            let mut patch = Value::Object(Map::new());
                            for (path, _, to) in &changes {
                                apply_patch(&mut patch, path, to.clone());
                            }
                            match crm_core::record::update_of(&self.crm, p, entity, *id, patch)
                                .await
                            {
                                Ok(()) => {
                                    report.applied += 1;
                                    finding.applied = true;
                                }
                                Err(e) => finding.message = Some(e.to_string()),
                            }
                        }
                        finding.changes = changes
                            .into_iter()
                            .map(|(path, from, to)| {
                                // A sensitive value is shown only to a
                                // caller who may read it.
                                let hidden = !pii
                                    && path.strip_prefix("customFields.").is_some_and(|k| {
                                        sensitive
                                            .iter()
                                            .any(|s| s == k.split('.').next().unwrap_or(k))
                                    });
                                let shown = |v: Value| {
                                    if hidden && !v.is_null() {
                                        Value::String(crm_core::custom_field::MASK.into())
                                    } else {
                                        v
                                    }
                                };
                                FieldChange {
                                    path,
                                    from: async_graphql::Json(shown(from)),
                                    to: async_graphql::Json(shown(to)),
                                }
                            })
                            .collect();
                    }
                }
                if report.findings.len() < CHECK_FINDINGS_MAX {
                    report.findings.push(finding);
                }
            }
            done += chunk.len() as u64;
            progress(done, total);
        }
        report.duration_ms = start.elapsed().as_millis() as i64;
        Ok(report)
    }

    /// One batch of stored records through `functions` in order, as a
    /// write would run them: each sees the patches of those before it, and
    /// a rejection ends the record's turn. Each call is a recorded run.
    #[allow(clippy::too_many_arguments)]
    async fn check_batch(
        &self,
        tenant: Uuid,
        entity: &'static str,
        plugin: &Arc<LoadedPlugin>,
        functions: &[&FunctionDecl],
        config: &Value,
        grants: &Grants,
        sensitive: &[String],
        found: &[(Uuid, Map<String, Value>)],
    ) -> Vec<Verdict> {
        let stored: Vec<Value> = found
            .iter()
            .map(|(_, c)| Value::Object(c.clone()))
            .collect();
        let mut current = stored.clone();
        let mut verdicts: Vec<Option<Verdict>> = found.iter().map(|_| None).collect();
        // The tenant's sensitive keys of the entity, read once per check.
        let mut sensitive = Some(sensitive.to_vec());
        for f in functions {
            // The records still in play, as this validator may see them.
            let mut open = vec![];
            let mut docs = vec![];
            for (i, rec) in current.iter().enumerate() {
                if verdicts[i].is_some() {
                    continue;
                }
                match self
                    .visible_candidate(tenant, entity, plugin, grants, rec, &mut sensitive)
                    .await
                {
                    Ok(doc) => {
                        open.push(i);
                        docs.push(doc);
                    }
                    Err(failure) => verdicts[i] = Some(Verdict::Failed(failure.message)),
                }
            }
            if docs.is_empty() {
                break;
            }
            let ctx = CallContext {
                tenant: tenant.to_string(),
                entity: entity.to_string(),
                config: config.clone(),
                fuel_per_record: f.fuel_per_record,
            };
            let (rt, pl, name) = (self.runtime.clone(), plugin.clone(), f.name.clone());
            let run = format!("validate[{}]", f.name);
            let inv = match run_call(CallOn::Pool, move || {
                rt.validate_function(&pl, &name, &ctx, &docs)
            })
            .await
            {
                Ok(inv) => inv,
                Err(e) => {
                    for &i in &open {
                        verdicts[i] = Some(Verdict::Failed(e.clone()));
                    }
                    continue;
                }
            };
            let decisions = match inv.result {
                Ok(d) => {
                    self.record_trial(tenant, plugin, &run, entity, &inv.stats, Outcome::Ok)
                        .await;
                    d
                }
                Err(failure) => {
                    self.record_trial(
                        tenant,
                        plugin,
                        &run,
                        entity,
                        &inv.stats,
                        Outcome::Failed(&failure),
                    )
                    .await;
                    let PluginFailure { code, message, .. } = failure;
                    for &i in &open {
                        verdicts[i] = Some(Verdict::Failed(format!("{code}: {message}")));
                    }
                    continue;
                }
            };
            for (&i, decision) in open.iter().zip(decisions) {
                match decision {
                    Decision::Accept => {}
                    Decision::Patch(patches) => {
                        for (path, value) in patches {
                            apply_patch(&mut current[i], &path, value);
                        }
                    }
                    Decision::Reject(errors) => {
                        verdicts[i] = Some(Verdict::Reject(
                            errors
                                .into_iter()
                                .map(|e| RecordFieldError {
                                    path: e.path,
                                    code: e.code,
                                    message: e.message,
                                })
                                .collect(),
                        ));
                    }
                }
            }
        }
        verdicts
            .into_iter()
            .zip(stored.iter().zip(&current))
            .map(|(verdict, (before, after))| {
                verdict.unwrap_or_else(|| {
                    let mut after = after.clone();
                    if let Some(tags) = after.get_mut("tags") {
                        as_stored_tags(tags);
                    }
                    let changes = changed_paths(before, &after);
                    if changes.is_empty() {
                        Verdict::Pass
                    } else {
                        Verdict::Patch(changes)
                    }
                })
            })
            .collect()
    }
}

/// A list of tag names as the record will store it (and shows it): trimmed,
/// without empty or repeated names, sorted. Tags are a set: a patch listing
/// the stored tags in another order changes nothing.
fn as_stored_tags(tags: &mut Value) {
    let Some(list) = tags.as_array() else {
        return;
    };
    let Some(mut names) = list
        .iter()
        .map(|t| t.as_str().map(|n| n.trim().to_string()))
        .collect::<Option<Vec<String>>>()
    else {
        // Not names: the update will say what is wrong with it.
        return;
    };
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    *tags = names.into();
}

/// The leaf paths whose values differ between `before` and `after` (an
/// object compared key by key, anything else as a whole), as
/// `(path, before, after)`.
fn changed_paths(before: &Value, after: &Value) -> Vec<(String, Value, Value)> {
    fn walk(prefix: &str, b: &Value, a: &Value, out: &mut Vec<(String, Value, Value)>) {
        match (b, a) {
            // customFields and other nested objects: field by field.
            (Value::Object(bo), Value::Object(ao)) => {
                for (k, av) in ao {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    let bv = bo.get(k).unwrap_or(&Value::Null);
                    if bv != av {
                        if bv.is_object() && av.is_object() {
                            walk(&path, bv, av, out);
                        } else {
                            out.push((path, bv.clone(), av.clone()));
                        }
                    }
                }
            }
            _ => {
                if b != a {
                    out.push((prefix.to_string(), b.clone(), a.clone()));
                }
            }
        }
    }
    let mut out = vec![];
    walk("", before, after, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_paths_names_each_changed_leaf_with_both_values() {
        let before = json!({"phone": "138 0013 8000", "email": "a@b.cn", "tags": ["x"],
                            "customFields": {"vin": "abc", "km": 1}});
        let after = json!({"phone": "+8613800138000", "email": "a@b.cn", "tags": ["x", "dq:underage"],
                           "customFields": {"vin": "ABC", "km": 1}, "website": "https://a.cn"});
        let mut changed = changed_paths(&before, &after);
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            changed,
            vec![
                ("customFields.vin".into(), json!("abc"), json!("ABC")),
                (
                    "phone".into(),
                    json!("138 0013 8000"),
                    json!("+8613800138000")
                ),
                ("tags".into(), json!(["x"]), json!(["x", "dq:underage"])),
                ("website".into(), Value::Null, json!("https://a.cn")),
            ]
        );
        assert!(changed_paths(&before, &before).is_empty());
    }

    #[test]
    fn tags_compare_as_the_stored_set() {
        let mut tags = json!([" dq:junk-email", "dq:name-digits", "dq:junk-email", ""]);
        as_stored_tags(&mut tags);
        assert_eq!(tags, json!(["dq:junk-email", "dq:name-digits"]));
        let mut odd = json!(["a", 1]);
        as_stored_tags(&mut odd);
        assert_eq!(odd, json!(["a", 1]), "left for the update to refuse");
    }
}
