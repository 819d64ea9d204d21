//! Lead scoring: scores contacts 0-100 with an A/B/C grade and the reasons
//! behind it, so nobody has to classify leads by hand (DOMAIN §4).
//!
//! Five rules each give up to their configured weight in points: title
//! seniority (English and Chinese keywords), company size, recency of the
//! last activity, number of activities in the last 90 days and the value of
//! open deals. The grade follows the `grade-a` / `grade-b` thresholds.
//!
//! The rules are plain functions ([`score_contact`], [`Rules`]) so they can be
//! benchmarked natively; [`LeadScoring`] adapts them to the plugin contract.

mod config;
mod rules;

use crm_plugin_sdk::{Context, Error, Plugin, Record, Score};

pub use config::{Config, Keyword};
pub use rules::{Rules, SCORE_NAME, Tier, score_contact, title_tier};

/// The plugin: one `lead` score per contact.
pub struct LeadScoring;

impl Plugin for LeadScoring {
    fn new() -> Self {
        LeadScoring
    }

    // The configuration is read once per batch, not once per record.
    fn score_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Vec<Score>>, Error> {
        if ctx.entity() != "contact" {
            return Err(Error::new(
                "UNSUPPORTED_ENTITY",
                format!("lead scoring scores contacts, not {}", ctx.entity()),
            ));
        }
        let rules = Rules::new(ctx.config()?);
        records
            .iter()
            .map(|record| Ok(vec![rules.score(&record.parse()?)]))
            .collect()
    }
}

crm_plugin_sdk::export_plugin!(LeadScoring);

#[cfg(test)]
mod tests {
    use crm_plugin_sdk::testing::Harness;
    use serde_json::json;

    use super::*;

    fn harness() -> Harness<LeadScoring> {
        Harness::from_manifest(include_str!("../plugin.toml"))
    }

    #[test]
    fn manifest_defaults_are_the_config_defaults() {
        let from_manifest: Config = harness().context().config().unwrap();
        assert_eq!(from_manifest, Config::default());
    }

    #[test]
    fn a_hot_senior_lead_gets_grade_a_with_every_reason() {
        let scores = harness().score(json!({
            "id": "c1",
            "title": "VP Sales",
            "company": { "employeeCount": 500 },
            "lastActivityDaysAgo": 3,
            "recentActivityCount": 12,
            "openDealsValue": 200000.0,
        }));
        assert_eq!(scores.len(), 1);
        let score = &scores[0];
        assert_eq!(score.name, "lead");
        // 25 + 20 + 15 + 12 (500 employees: 60%) + 12 (200,000: 60%)
        assert_eq!(score.value, 84);
        assert_eq!(score.grade.as_deref(), Some("A"));
        assert_eq!(
            score.reasons,
            [
                "title 'VP Sales' is senior (+25)",
                "last activity 3 days ago (+20)",
                "12 activities in the last 90 days (+15)",
                "company has 500 employees (+12)",
                "open deals worth 200,000 (+12)",
            ]
        );
    }

    #[test]
    fn a_chinese_director_at_a_mid_size_company_is_grade_b() {
        let scores = harness().score(json!({
            "title": "销售总监",
            "company": { "employeeCount": 300 },
            "lastActivityDaysAgo": 20,
        }));
        // 20 (director: 80% of 25) + 12 + 12
        assert_eq!(scores[0].value, 44);
        assert_eq!(scores[0].grade.as_deref(), Some("B"));
        assert_eq!(
            scores[0].reasons[0],
            "title '销售总监' is director-level (+20)"
        );
    }

    #[test]
    fn an_empty_record_is_grade_c_and_says_why() {
        let scores = harness().score(json!({ "id": "c2" }));
        assert_eq!(scores[0].value, 0);
        assert_eq!(scores[0].grade.as_deref(), Some("C"));
        assert_eq!(scores[0].reasons, ["no scoring rule matched"]);
    }

    #[test]
    fn weights_and_grades_are_configurable() {
        let record = json!({ "title": "CEO", "lastActivityDaysAgo": 1 });
        let default = harness().score(record.clone());
        assert_eq!(
            (default[0].value, default[0].grade.as_deref()),
            (45, Some("B"))
        );

        let tuned = harness()
            .config(json!({ "weight-title": 60, "grade-a": 75 }))
            .score(record);
        assert_eq!((tuned[0].value, tuned[0].grade.as_deref()), (80, Some("A")));
        assert_eq!(tuned[0].reasons[0], "title 'CEO' is senior (+60)");
    }

    #[test]
    fn scores_are_clamped_to_100() {
        let scores = harness()
            .config(json!({ "weight-title": 500 }))
            .score(json!({ "title": "Founder" }));
        assert_eq!(scores[0].value, 100);
    }

    #[test]
    fn old_and_silent_contacts_score_nothing_for_engagement() {
        let scores = harness().score(json!({
            "lastActivityDaysAgo": 400,
            "recentActivityCount": 0,
            "openDealsValue": 0,
        }));
        assert_eq!(scores[0].value, 0);
    }

    #[test]
    fn a_batch_scores_each_record() {
        let scores = harness().score_batch(vec![
            json!({ "title": "CEO" }),
            json!({ "title": "Intern" }),
            json!({ "title": "经理" }),
        ]);
        let values: Vec<u8> = scores.iter().map(|s| s[0].value).collect();
        assert_eq!(values, [25, 0, 13]);
    }

    #[test]
    fn bad_input_fails_the_call_with_a_clear_code() {
        let err = harness()
            .try_score(json!({ "recentActivityCount": "many" }))
            .unwrap_err();
        assert_eq!(err.code, "INVALID_RECORD");

        let err = harness()
            .config(json!({ "grade-a": "high" }))
            .try_score(json!({}))
            .unwrap_err();
        assert_eq!(err.code, "INVALID_CONFIG");

        let err = harness().entity("deal").try_score(json!({})).unwrap_err();
        assert_eq!(err.code, "UNSUPPORTED_ENTITY");
    }
}
