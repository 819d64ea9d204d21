//! Tests of the glue between the bindings and `Plugin`.

use serde_json::json;

use crate::__private::{prepare, run_score};
use crate::bindings::crm::plugin::types as wit;
use crate::models::Contact;
use crate::testing::Harness;
use crate::{Context, Decision, Error, FieldError, Plugin, Record, Score};

/// Scores every record with its `n`, and loses a record when asked to.
struct Counting;

impl Plugin for Counting {
    fn new() -> Self {
        Counting
    }

    fn score_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Vec<Score>>, Error> {
        let drop = ctx.config_value()["drop"].as_bool().unwrap_or(false);
        let keep = if drop {
            records.len().saturating_sub(1)
        } else {
            records.len()
        };
        records[..keep]
            .iter()
            .map(|r| {
                let n = r.get("n").and_then(|v| v.as_i64()).unwrap_or(0);
                Ok(vec![Score::from_points("n", n)])
            })
            .collect()
    }
}

#[test]
fn records_are_parsed_once_each_and_results_stay_parallel() {
    let scores = Harness::<Counting>::new().score_batch(vec![json!({ "n": 1 }), json!({ "n": 2 })]);
    assert_eq!(scores, [vec![Score::new("n", 1)], vec![Score::new("n", 2)]]);
}

#[test]
fn a_batch_that_loses_records_is_bad_output() {
    let err = Harness::<Counting>::new()
        .config(json!({ "drop": true }))
        .try_score_batch(vec![json!({}), json!({})])
        .unwrap_err();
    assert_eq!(err.code, "BAD_OUTPUT");
    assert_eq!(err.message, "returned 1 score lists for 2 records");
}

#[test]
fn invalid_json_fails_the_call_with_the_record_index() {
    let records = vec!["{}".to_owned(), "{ nope".to_owned()];
    let err = prepare("t", "contact", "{}", &records).unwrap_err();
    assert_eq!(err.code, "INVALID_RECORD");
    assert!(
        err.message.starts_with("record 1: record is not JSON"),
        "{}",
        err.message
    );

    let err = prepare("t", "contact", "not json", &[]).unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG");
}

#[test]
fn an_empty_configuration_is_an_empty_object() {
    let (ctx, records) = prepare("t", "contact", "  ", &["{\"n\": 3}".to_owned()]).unwrap();
    assert_eq!(ctx.config_value(), &json!({}));
    let scores = run_score(&Counting, &ctx, &records).unwrap();
    assert_eq!(scores[0][0].value, 3);
}

#[test]
fn decisions_reach_the_host_with_json_patch_values() {
    let d: wit::Decision = Decision::patch("phone", json!("+8613800138000"))
        .with_patch("tags", json!(["a"]))
        .into();
    let wit::Decision::Patch(patches) = d else {
        panic!("expected a patch");
    };
    assert_eq!(patches[0].value, "\"+8613800138000\"");
    assert_eq!(patches[1].value, "[\"a\"]");

    let d: wit::Decision = Decision::reject(FieldError::new("email", "X", "y")).into();
    assert!(matches!(d, wit::Decision::Reject(errors) if errors[0].code == "X"));
}

#[test]
fn rejections_win_and_keep_every_error() {
    let d = Decision::patch("a", json!(1))
        .and(Decision::reject(FieldError::new("b", "B", "b")))
        .and(Decision::patch("c", json!(3)))
        .and(Decision::reject(FieldError::new("d", "D", "d")));
    assert_eq!(d.errors().len(), 2);
    assert!(d.patches().is_empty());
}

#[test]
fn models_accept_partial_and_loosely_typed_records() {
    let c: Contact = Record::new(json!({
        "tags": null,
        "customFields": null,
        "openDealsValue": "1200.50",
        "activityCount": 7.0,
        "company": { "employeeCount": "40" },
        "unknownField": true,
    }))
    .parse()
    .unwrap();
    assert!(c.tags.is_empty());
    assert_eq!(c.open_deals_value, Some(1200.5));
    assert_eq!(c.activity_count, Some(7));
    assert_eq!(c.company.and_then(|co| co.employee_count), Some(40));

    let err = Record::new(json!({ "activityCount": 1.5 }))
        .parse::<Contact>()
        .unwrap_err();
    assert_eq!(err.code, "INVALID_RECORD");
}

#[cfg(feature = "testing")]
mod manifest {
    use super::*;

    const HEAD: &str = r#"
        id = "t"
        version = "0.1.0"
        contract = "0.1.0"
        description = "t"
        [[functions]]
        name = "t"
        kind = "validate"
        entities = ["company", "deal"]
        input = "{ id }"
    "#;

    #[test]
    fn defaults_of_every_type_are_loaded() {
        let manifest = format!(
            r#"{HEAD}
            [config.s]
            type = "string"
            default = "CN"
            [config.i]
            type = "integer"
            default = 16
            [config.n]
            type = "number"
            default = 100000
            [config.b]
            type = "bool"
            default = true
            [config.e]
            type = "enum"
            values = ["tag", "reject"]
            default = "tag"
            [config.l]
            type = "list"
            default = ["a", "b"]
            [config.no-default]
            type = "string"
            "#
        );
        let ctx = Harness::<Counting>::from_manifest(&manifest).context();
        assert_eq!(ctx.entity(), "company");
        assert_eq!(
            ctx.config_value(),
            &json!({ "s": "CN", "i": 16, "n": 100000, "b": true, "e": "tag", "l": ["a", "b"] })
        );
    }

    #[test]
    #[should_panic(expected = "[config.i]: default \"ten\" is not of type integer")]
    fn a_default_of_the_wrong_type_fails_the_test() {
        let manifest = format!("{HEAD}\n[config.i]\ntype = \"integer\"\ndefault = \"ten\"\n");
        Harness::<Counting>::from_manifest(&manifest);
    }

    #[test]
    #[should_panic(expected = "is not one of `values`")]
    fn an_enum_default_outside_its_values_fails_the_test() {
        let manifest =
            format!("{HEAD}\n[config.e]\ntype = \"enum\"\nvalues = [\"a\"]\ndefault = \"b\"\n");
        Harness::<Counting>::from_manifest(&manifest);
    }
}
