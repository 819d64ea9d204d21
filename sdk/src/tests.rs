//! Tests of the glue between the bindings and `Plugin`.

use serde_json::json;

use crate::__private::{prepare, run_score};
use crate::bindings::v0_1::crm::plugin::types as wit;
use crate::models::Contact;
use crate::testing::Harness;
use crate::{Context, Decision, Error, Event, FieldError, HandlerContext, Plugin, Record, Score};

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
fn invalid_json_fails_the_read_with_the_record_index() {
    // The host's text is not checked up front (each record is parsed once,
    // by the read that needs it); that read names the record.
    let records = vec!["{}".to_owned(), "{ nope".to_owned()];
    let (ctx, records) = prepare("t", "contact", "not json", records);
    assert!(records[0].parse::<Contact>().is_ok());
    let err = records[1].parse::<Contact>().unwrap_err();
    assert_eq!(err.code, "INVALID_RECORD");
    assert!(err.message.starts_with("record 1: "), "{}", err.message);
    assert_eq!(records[1].json(), &serde_json::Value::Null);

    let err = ctx.config::<serde_json::Value>().unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG");
    assert_eq!(ctx.config_value(), &serde_json::Value::Null);
}

#[test]
fn typed_configuration_reads_the_text_and_the_tree_alike() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    struct Cfg {
        grade_a: u8,
        titles: Vec<String>,
    }
    let text = r#"{"grade-a": 70, "titles": ["CEO", "总经理"]}"#;
    let (ctx, _) = prepare("t", "contact", text, vec![]);
    let direct: Cfg = ctx.config().unwrap();
    // After the tree is built, typed reads use it; same answer.
    assert_eq!(ctx.config_value()["grade-a"], 70);
    assert_eq!(ctx.config::<Cfg>().unwrap(), direct);
    assert_eq!(direct.titles, ["CEO", "总经理"]);
    let tree = Context::new("t", "contact", serde_json::from_str(text).unwrap());
    assert_eq!(tree, ctx);
    assert_eq!(tree.config::<Cfg>().unwrap(), direct);
    let err = ctx.config::<Vec<u8>>().unwrap_err();
    assert_eq!(err.code, "INVALID_CONFIG");
}

#[test]
fn an_empty_configuration_is_an_empty_object() {
    let (ctx, records) = prepare("t", "contact", "  ", vec!["{\"n\": 3}".to_owned()]);
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

/// Records what its handlers saw, in key-value storage.
struct Recorder;

impl Plugin for Recorder {
    fn new() -> Self {
        Recorder
    }

    fn score(&self, ctx: &Context, _record: &Record) -> Result<Vec<Score>, Error> {
        Ok(vec![Score::new(ctx.function().unwrap_or("none"), 1)])
    }

    fn on_event(&self, ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
        crate::host::kv::set("handler", ctx.name())?;
        crate::host::kv::set(
            "event",
            &format!("{} {} {}", event.id, event.kind, event.payload),
        )?;
        Ok(())
    }

    fn on_schedule(&self, ctx: &HandlerContext) -> Result<(), Error> {
        let config = crate::host::config()?;
        crate::host::kv::set(
            "schedule",
            &format!("{} {} {config}", ctx.name(), ctx.now()),
        )?;
        Ok(())
    }
}

mod v0_2 {
    use super::*;
    use crate::__private::v0_2 as glue;
    use crate::bindings::v0_2::crm::plugin::types as wit;
    use crate::host::{self, HostError};
    use crate::testing::FakeHost;

    fn ctx(name: &str, config: &str) -> wit::HandlerContext {
        wit::HandlerContext {
            tenant: "t".into(),
            config: config.into(),
            now: "2025-01-01T00:00:00Z".into(),
            name: name.into(),
        }
    }

    fn event(payload: &str) -> wit::Event {
        wit::Event {
            id: "e1".into(),
            kind: "ticket.created".into(),
            entity: "ticket".into(),
            record_id: Some("t1".into()),
            payload: payload.into(),
            created_at: "2025-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_glue_parses_events_and_contexts() {
        let fake = FakeHost::new();
        fake.run(|| glue::on_event::<Recorder>(ctx("on-ticket", ""), event(r#"{"a":1}"#)))
            .unwrap();
        assert_eq!(fake.kv("handler").as_deref(), Some("on-ticket"));
        assert_eq!(
            fake.kv("event").as_deref(),
            Some(r#"e1 ticket.created {"a":1}"#)
        );

        let err = fake
            .run(|| glue::on_event::<Recorder>(ctx("h", ""), event("{ nope")))
            .unwrap_err();
        assert_eq!(err.code, "INVALID_EVENT");
        let err = fake
            .run(|| glue::on_schedule::<Recorder>(ctx("daily", "[oops")))
            .unwrap_err();
        assert_eq!(err.code, "INVALID_CONFIG");
    }

    #[test]
    fn actions_default_to_unknown_and_round_trip_json() {
        let err = glue::action::<Recorder>(ctx("issue", ""), "{}".into()).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("UNKNOWN_ACTION", "unknown action \"issue\"")
        );
        let err = glue::action::<Recorder>(ctx("issue", ""), "{".into()).unwrap_err();
        assert_eq!(err.code, "INVALID_INPUT");
    }

    #[test]
    fn functions_learn_their_name() {
        let call = wit::CallContext {
            tenant: "t".into(),
            entity: "contact".into(),
            config: "{}".into(),
            function: "lead".into(),
        };
        let scores = glue::score::<Recorder>(call, vec!["{}".into()]).unwrap();
        assert_eq!(scores[0][0].name, "lead");
    }

    #[test]
    fn the_harness_passes_clock_config_and_name() {
        let fake = FakeHost::new();
        Harness::<Recorder>::new()
            .with_host(&fake)
            .config(json!({ "k": 1 }))
            .now("2025-06-01T05:00:00Z")
            .on_schedule("daily");
        assert_eq!(
            fake.kv("schedule").as_deref(),
            Some(r#"daily 2025-06-01T05:00:00Z {"k":1}"#)
        );
    }

    #[test]
    fn without_a_host_calls_are_unsupported() {
        let err = host::kv::get("k").unwrap_err();
        assert_eq!(err.code, "UNSUPPORTED");
        let err: Error = host::query("{ x }", json!({})).unwrap_err().into();
        assert_eq!(err.code, "UNSUPPORTED");
    }

    #[test]
    fn the_latest_matching_answer_wins_and_calls_are_recorded() {
        let fake = FakeHost::new();
        fake.on_query("company", json!({ "n": 1 }));
        fake.on_query("company(id:", json!({ "n": 2 }));
        let data = fake.run(|| host::query("{ company(id: 1) { id } }", json!({ "v": true })));
        assert_eq!(data, Ok(json!({ "n": 2 })));
        let data = fake.run(|| host::query("{ company { name } }", json!({})));
        assert_eq!(data, Ok(json!({ "n": 1 })));
        assert_eq!(fake.queries()[0].variables, json!({ "v": true }));

        let err = fake
            .run(|| host::query("{ deals { id } }", json!({})))
            .unwrap_err();
        assert_eq!(err.code, "HOST_ERROR");
        assert_eq!(
            fake.run(|| host::mutate("mutation { x }", json!({}))),
            Ok(json!({}))
        );

        fake.on_mutate_error("x", "FORBIDDEN", "no");
        let err = fake
            .run(|| host::mutate("mutation { x }", json!({})))
            .unwrap_err();
        assert_eq!(err, HostError::new("FORBIDDEN", "no"));
        assert_eq!(fake.mutations().len(), 2);

        fake.clear_calls();
        assert!(fake.queries().is_empty() && fake.mutations().is_empty());
    }

    #[test]
    fn the_previous_backend_is_restored() {
        let outer = FakeHost::new();
        let inner = FakeHost::new();
        outer.run(|| {
            inner.run(|| crate::log::info("inner"));
            crate::log::info("outer");
        });
        assert_eq!(inner.logs(), ["INFO inner"]);
        assert_eq!(outer.logs(), ["INFO outer"]);
        assert_eq!(host::config().unwrap_err().code, "UNSUPPORTED");
    }
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
