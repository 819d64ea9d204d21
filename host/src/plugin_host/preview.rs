//! Score previews (`previewScores`, `crm plugin preview`): a plugin's score
//! functions over stored records under a configuration to try, compared
//! with the scores stored now. Nothing is written but the runs: grade
//! thresholds and weights are tuned by looking before saving.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crm_core::Principal;
use crm_core::plugin_api::ScoreValue;
use crm_graphql::{
    GradeCount, GradeMove, PREVIEW_CHANGES_MAX, PluginAdminError, PreviewRequest, ScoreChange,
    ScorePreview, ScoreShift, ScoreSnapshot, ScoreSummary,
};
use uuid::Uuid;

use super::trial::{Trial, pluggable};
use super::{CallOn, Outcome, PluginHost, SCORE_BATCH, admin_err};

/// A score as compared: value and grade decide a change; reasons are shown.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    value: u8,
    grade: Option<String>,
    reasons: Vec<String>,
}

impl Seen {
    fn snapshot(self) -> ScoreSnapshot {
        ScoreSnapshot {
            value: i32::from(self.value),
            grade: self.grade,
            reasons: self.reasons,
        }
    }
}

/// A distribution being counted.
#[derive(Default)]
struct Summary {
    records: i64,
    sum: i64,
    grades: BTreeMap<Option<String>, i64>,
}

impl Summary {
    fn add(&mut self, s: &Seen) {
        self.records += 1;
        self.sum += i64::from(s.value);
        *self.grades.entry(s.grade.clone()).or_default() += 1;
    }
    fn finish(self) -> ScoreSummary {
        ScoreSummary {
            records: self.records,
            mean: (self.records > 0).then(|| self.sum as f64 / self.records as f64),
            grades: self
                .grades
                .into_iter()
                .map(|(grade, count)| GradeCount { grade, count })
                .collect(),
        }
    }
}

/// One score name being compared.
#[derive(Default)]
struct Shift {
    stored: Summary,
    preview: Summary,
    changed_value: i64,
    changed_grade: i64,
    moves: BTreeMap<(Option<String>, Option<String>), i64>,
}

/// A record's score that changes, ranked for the report.
struct Change {
    grade_changed: bool,
    distance: u8,
    id: Uuid,
    name: String,
    from: Option<Seen>,
    to: Option<Seen>,
}

/// The comparison, batch by batch.
#[derive(Default)]
pub(super) struct Comparison {
    shifts: BTreeMap<String, Shift>,
    changes: Vec<Change>,
}

impl Comparison {
    /// Compare one record's stored scores with its previewed ones (each by
    /// name).
    fn record(
        &mut self,
        id: Uuid,
        stored: &HashMap<String, Seen>,
        preview: &HashMap<String, Seen>,
    ) {
        let mut names: Vec<&String> = stored.keys().chain(preview.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let (from, to) = (stored.get(name), preview.get(name));
            let shift = self.shifts.entry(name.clone()).or_default();
            if let Some(s) = from {
                shift.stored.add(s);
            }
            if let Some(s) = to {
                shift.preview.add(s);
            }
            let value_changed = from.map(|s| s.value) != to.map(|s| s.value);
            let grade_changed = from.map(|s| &s.grade) != to.map(|s| &s.grade);
            shift.changed_value += i64::from(value_changed);
            if grade_changed {
                shift.changed_grade += 1;
                let key = (
                    from.and_then(|s| s.grade.clone()),
                    to.and_then(|s| s.grade.clone()),
                );
                *shift.moves.entry(key).or_default() += 1;
            }
            if value_changed || grade_changed {
                let value = |s: Option<&Seen>| s.map_or(0, |s| s.value);
                self.changes.push(Change {
                    grade_changed,
                    distance: value(from).abs_diff(value(to)),
                    id,
                    name: name.clone(),
                    from: from.cloned(),
                    to: to.cloned(),
                });
                // Keep memory bounded on large tenants: only the top of
                // the ranking is reported.
                if self.changes.len() >= PREVIEW_CHANGES_MAX * 10 {
                    self.rank();
                }
            }
        }
    }

    /// Grade changes first, then the largest moves, then by record.
    fn rank(&mut self) {
        self.changes.sort_by(|a, b| {
            b.grade_changed
                .cmp(&a.grade_changed)
                .then(b.distance.cmp(&a.distance))
                .then(a.id.cmp(&b.id))
                .then(a.name.cmp(&b.name))
        });
        self.changes.truncate(PREVIEW_CHANGES_MAX);
    }

    pub(super) fn finish(mut self, preview: &mut ScorePreview) {
        self.rank();
        preview.scores = self
            .shifts
            .into_iter()
            .map(|(name, s)| {
                let mut moves: Vec<GradeMove> = s
                    .moves
                    .into_iter()
                    .map(|((from, to), count)| GradeMove { from, to, count })
                    .collect();
                // Stable: equal counts stay in grade order.
                moves.sort_by_key(|m| std::cmp::Reverse(m.count));
                ScoreShift {
                    name,
                    stored: s.stored.finish(),
                    preview: s.preview.finish(),
                    changed_value: s.changed_value,
                    changed_grade: s.changed_grade,
                    moves,
                }
            })
            .collect();
        preview.changes = self
            .changes
            .into_iter()
            .map(|c| ScoreChange {
                id: c.id.to_string().into(),
                name: c.name,
                from: c.from.map(Seen::snapshot),
                to: c.to.map(Seen::snapshot),
            })
            .collect();
    }
}

impl PluginHost {
    /// Run `req.plugin`'s score functions for `req.entity` over stored
    /// records of `p`'s tenant, in batches, and compare their answers with
    /// the stored scores; `progress(done, total)` after each batch.
    pub async fn preview_scores(
        &self,
        p: &Principal,
        req: PreviewRequest,
        progress: impl Fn(u64, u64),
    ) -> Result<ScorePreview, PluginAdminError> {
        let start = Instant::now();
        p.require(crm_core::auth::Action::Administer, "plugin")
            .map_err(|e| PluginAdminError::new("FORBIDDEN", e.to_string()))?;
        let tenant = p.tenant_id;
        let entity = pluggable(&req.entity)?;
        let plugin = self.installed(&req.plugin).await?;
        let functions: Vec<_> = Self::score_functions(&plugin, entity).collect();
        if functions.is_empty() {
            let scored: Vec<&str> = crm_core::plugin_api::PLUGGABLE_ENTITIES
                .iter()
                .copied()
                .filter(|e| Self::score_functions(&plugin, e).next().is_some())
                .collect();
            let validates = plugin
                .manifest
                .functions
                .iter()
                .any(|f| f.kind == super::FunctionKind::Validate);
            let hint = if !scored.is_empty() {
                format!("; it scores: {}", scored.join(", "))
            } else if validates {
                "; its validate functions are tried over stored records with checkRecords".into()
            } else {
                "; scores its handlers set (setScore) are not previewed: they run on events and schedules".into()
            };
            return Err(PluginAdminError::new(
                "BAD_USER_INPUT",
                format!(
                    "plugin {} has no score function for {entity}{hint}",
                    req.plugin
                ),
            )
            .with_field("entity", "no score function for it"));
        }
        let Trial { config, grants, .. } = self.trial(tenant, &plugin, req.config_patch).await?;
        let ids = self.trial_ids(tenant, entity, req.ids).await?;
        let total = ids.len() as u64;
        let mut report = ScorePreview {
            plugin: req.plugin.clone(),
            entity: entity.to_string(),
            ..Default::default()
        };
        let mut comparison = Comparison::default();
        let mut done = 0u64;
        for chunk in ids.chunks(SCORE_BATCH) {
            // Each function's answers, by record; a record counts when
            // every function answered for it.
            let mut previewed: HashMap<Uuid, HashMap<String, Seen>> = HashMap::new();
            let mut answered: HashMap<Uuid, usize> = HashMap::new();
            let mut failure = None;
            for f in &functions {
                let records = match self
                    .function_input(tenant, entity, &plugin, f, &grants, chunk)
                    .await
                {
                    Ok(r) => r,
                    Err(fail) => {
                        let n = chunk.len();
                        self.record_input_failure(tenant, &plugin, f, entity, n, &fail, false)
                            .await;
                        failure = Some(format!("{}: {}", fail.code, fail.message));
                        break;
                    }
                };
                if records.is_empty() {
                    continue;
                }
                let (found, docs): (Vec<Uuid>, Vec<String>) = records.into_iter().unzip();
                let Some(inv) = self
                    .call_batch(
                        tenant,
                        entity,
                        &plugin,
                        f,
                        config.clone(),
                        docs,
                        CallOn::Pool,
                    )
                    .await
                else {
                    failure = Some("the plugin call task failed (see the server log)".into());
                    break;
                };
                let run = format!("score[{}]", f.name);
                let scores = match inv.result {
                    Ok(scores) => {
                        self.record_trial(tenant, &plugin, &run, entity, &inv.stats, Outcome::Ok)
                            .await;
                        scores
                    }
                    Err(fail) => {
                        self.record_trial(
                            tenant,
                            &plugin,
                            &run,
                            entity,
                            &inv.stats,
                            Outcome::Failed(&fail),
                        )
                        .await;
                        failure = Some(format!("{}: {}", fail.code, fail.message));
                        break;
                    }
                };
                for (id, values) in found.into_iter().zip(scores) {
                    *answered.entry(id).or_default() += 1;
                    let mine = previewed.entry(id).or_default();
                    for ScoreValue {
                        name,
                        value,
                        grade,
                        reasons,
                    } in values
                    {
                        let name = if name.is_empty() {
                            f.name.clone()
                        } else {
                            name
                        };
                        // Stored values are clamped to 100: so are these.
                        let value = value.min(100);
                        mine.insert(
                            name,
                            Seen {
                                value,
                                grade,
                                reasons,
                            },
                        );
                    }
                }
            }
            if let Some(why) = failure {
                report.failed += chunk.len() as i64;
                report.failure.get_or_insert(why);
            } else {
                let stored = self
                    .stored_scores(tenant, entity, plugin.id(), chunk)
                    .await?;
                for id in chunk {
                    if answered.get(id) != Some(&functions.len()) {
                        // Gone since the ids were read.
                        continue;
                    }
                    report.records += 1;
                    let none = HashMap::new();
                    comparison.record(
                        *id,
                        stored.get(id).unwrap_or(&none),
                        previewed.get(id).unwrap_or(&none),
                    );
                }
            }
            done += chunk.len() as u64;
            progress(done, total);
        }
        comparison.finish(&mut report);
        report.duration_ms = start.elapsed().as_millis() as i64;
        Ok(report)
    }

    /// The scores `plugin_id`'s score functions stored for `ids`, by record
    /// and name (scores set through `setScore` are not theirs).
    async fn stored_scores(
        &self,
        tenant: Uuid,
        entity: &str,
        plugin_id: &str,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, HashMap<String, Seen>>, PluginAdminError> {
        let rows =
            crm_core::plugin_store::function_scores_of(&self.crm, tenant, entity, plugin_id, ids)
                .await
                .map_err(|e| admin_err("PLUGIN_FAILED", e))?;
        let mut out: HashMap<Uuid, HashMap<String, Seen>> = HashMap::new();
        for r in rows {
            let reasons = serde_json::from_value(r.reasons).unwrap_or_default();
            out.entry(r.record_id).or_default().insert(
                r.name,
                Seen {
                    value: u8::try_from(r.value.clamp(0, 100)).unwrap_or(0),
                    grade: r.grade,
                    reasons,
                },
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(value: u8, grade: &str) -> Seen {
        Seen {
            value,
            grade: Some(grade.into()),
            reasons: vec![],
        }
    }

    fn scores(list: &[(&str, Seen)]) -> HashMap<String, Seen> {
        list.iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect()
    }

    #[test]
    fn a_comparison_counts_values_grades_and_moves_and_ranks_changes() {
        let mut c = Comparison::default();
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        // Unchanged.
        c.record(
            ids[0],
            &scores(&[("lead", seen(80, "A"))]),
            &scores(&[("lead", seen(80, "A"))]),
        );
        // Value moves 5, grade stays.
        c.record(
            ids[1],
            &scores(&[("lead", seen(50, "B"))]),
            &scores(&[("lead", seen(55, "B"))]),
        );
        // C -> A, twice; one moves further.
        c.record(
            ids[2],
            &scores(&[("lead", seen(30, "C"))]),
            &scores(&[("lead", seen(72, "A"))]),
        );
        c.record(
            ids[3],
            &scores(&[("lead", seen(35, "C"))]),
            &scores(&[("lead", seen(70, "A"))]),
        );
        // Not scored before: gains the score.
        c.record(ids[4], &HashMap::new(), &scores(&[("lead", seen(10, "C"))]));
        let mut p = ScorePreview::default();
        c.finish(&mut p);
        assert_eq!(p.scores.len(), 1);
        let s = &p.scores[0];
        assert_eq!(s.name, "lead");
        assert_eq!((s.stored.records, s.preview.records), (4, 5));
        assert_eq!(s.stored.mean, Some((80 + 50 + 30 + 35) as f64 / 4.0));
        assert_eq!(s.preview.mean, Some((80 + 55 + 72 + 70 + 10) as f64 / 5.0));
        assert_eq!((s.changed_value, s.changed_grade), (4, 3));
        let moves: Vec<(Option<&str>, Option<&str>, i64)> = s
            .moves
            .iter()
            .map(|m| (m.from.as_deref(), m.to.as_deref(), m.count))
            .collect();
        assert_eq!(moves, [(Some("C"), Some("A"), 2), (None, Some("C"), 1)]);
        let grades = |g: &[GradeCount]| {
            g.iter()
                .map(|g| (g.grade.clone().unwrap_or_default(), g.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            grades(&s.preview.grades),
            [("A".into(), 3), ("B".into(), 1), ("C".into(), 1)]
        );
        // Grade changes first (largest move first), then value changes.
        let order: Vec<String> = p.changes.iter().map(|c| c.id.to_string()).collect();
        let want: Vec<String> = [2, 3, 4, 1].iter().map(|&i| ids[i].to_string()).collect();
        assert_eq!(order, want);
        assert_eq!(p.changes[2].from, None);
    }

    #[test]
    fn a_lost_score_and_the_ranking_stays_bounded() {
        let mut c = Comparison::default();
        let gone = Uuid::now_v7();
        c.record(gone, &scores(&[("old", seen(60, "B"))]), &HashMap::new());
        for i in 0..(PREVIEW_CHANGES_MAX * 25) {
            c.record(
                Uuid::now_v7(),
                &scores(&[("lead", seen(10, "C"))]),
                &scores(&[("lead", seen(10 + (i % 50) as u8, "C"))]),
            );
        }
        assert!(c.changes.len() < PREVIEW_CHANGES_MAX * 10);
        let mut p = ScorePreview::default();
        c.finish(&mut p);
        assert_eq!(p.changes.len(), PREVIEW_CHANGES_MAX);
        // The lost score is a grade change: it ranks first.
        assert_eq!(p.changes[0].id.as_str(), gone.to_string());
        assert!(p.changes[0].to.is_none());
        // Then the largest moves: 50 records went to 59, the next 49 to 58.
        let values: Vec<i32> = p.changes[1..]
            .iter()
            .filter_map(|c| c.to.as_ref().map(|t| t.value))
            .collect();
        assert_eq!(values.len(), PREVIEW_CHANGES_MAX - 1);
        assert!(values[..50].iter().all(|&v| v == 59), "{values:?}");
        assert!(values[50..].iter().all(|&v| v == 58), "{values:?}");
        let old = p.scores.iter().find(|s| s.name == "old").expect("old");
        assert_eq!(old.preview.records, 0);
        assert_eq!(old.preview.mean, None);
    }
}
