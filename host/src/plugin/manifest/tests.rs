use serde_json::json;

use super::*;

const GOOD: &str = r#"
id = "lead-scoring"
version = "0.1.0"
contract = "0.1.0"
description = "Scores contacts 0-100 with an A/B/C grade and reasons."
component = "../../target/wasm32-wasip2/release/lead_scoring.wasm"

[[functions]]
name = "lead"
kind = "score"
entities = ["contact"]
input = "{ id title company { employeeCount } lastActivityDaysAgo }"
fuel-per-record = 10000000

[[functions]]
name = "clean"
kind = "validate"
entities = ["contact", "company"]
input = """
{ email phone(format: "e164") }
"""

[capabilities]
read = ["contact", "company", "deal", "activity"]
pii-read = false

[config.grade-a]
type = "integer"
default = 80
description = "Minimum score for grade A"

[config.on-invalid]
type = "enum"
values = ["reject", "patch", "ignore"]
default = "patch"

[config.ratio]
type = "number"
default = 1

[config.domains]
type = "list"
default = ["example.com"]
"#;

fn errors_of(text: &str) -> Vec<String> {
    let err = Manifest::parse(text).expect_err("manifest should be refused");
    err.to_string().lines().map(str::to_owned).collect()
}

fn assert_has(lines: &[String], expected: &str) {
    assert!(
        lines.iter().any(|l| l == expected),
        "missing error line {expected:?}\nall errors:\n{}",
        lines.join("\n")
    );
}

#[test]
fn good_manifest() {
    let m = Manifest::parse(GOOD).expect("good manifest parses");
    assert_eq!(m.id, "lead-scoring");
    assert_eq!(m.version, Version::new(0, 1, 0));
    assert_eq!(m.contract, Version::new(0, 1, 0));
    assert_eq!(
        m.component.as_deref(),
        Some("../../target/wasm32-wasip2/release/lead_scoring.wasm")
    );
    assert_eq!(m.functions.len(), 2);
    let lead = m.function("lead").expect("lead declared");
    assert_eq!(lead.kind, FunctionKind::Score);
    assert_eq!(lead.on_failure, FailurePolicy::FailOpen);
    assert_eq!(lead.fuel_per_record, Some(10_000_000));
    assert_eq!(lead.entities, vec!["contact"]);
    let clean = m.function("clean").expect("clean declared");
    assert_eq!(clean.on_failure, FailurePolicy::FailClosed);
    assert_eq!(clean.input, r#"{ email phone(format: "e164") }"#);
    assert_eq!(m.capabilities.read.len(), 4);
    assert!(!m.capabilities.pii_read);
    assert_eq!(m.config["grade-a"].ty, ConfigType::Integer);
    assert_eq!(m.config["grade-a"].default, Some(json!(80)));
    assert_eq!(
        m.config["on-invalid"].values,
        vec!["reject", "patch", "ignore"]
    );
}

#[test]
fn minimal_manifest_gets_defaults() {
    let m = Manifest::parse(
        r#"
        id = "ab"
        version = "1.2.3-beta.1"
        contract = "0.1.0"
        description = ""
        [[functions]]
        name = "x"
        kind = "score"
        entities = ["deal"]
        input = "{ id }"
        "#,
    )
    .expect("minimal manifest parses");
    assert_eq!(m.component, None);
    assert_eq!(m.capabilities, Capabilities::default());
    assert!(m.config.is_empty());
}

#[test]
fn every_mistake_is_reported_with_its_path() {
    let lines = errors_of(
        r#"
        id = "Lead Scoring"
        version = "one"
        contract = "0.1.0"
        homepage = "https://example.com"

        [[functions]]
        name = "lead"
        kind = "scor"
        entities = ["contact"]
        input = "{ id }"

        [[functions]]
        name = "lead"
        kind = "validate"
        entities = ["contactz", 3]
        input = "id }"
        on-failure = "explode"
        fuel-per-record = -1
        colour = "red"

        [capabilities]
        read = ["contact"]
        pii-read = "no"
        write = ["contact"]

        [config.grade-a]
        type = "integer"
        default = "80"

        [config.mode]
        type = "enum"
        values = ["a", "b"]
        default = "c"

        [config.tags]
        type = "list"
        default = ["x", 1]

        [config.weird]
        type = "date"
        "#,
    );
    for expected in [
        r#"plugin.toml: homepage: unknown key (expected one of: id, version, contract, description, component, functions, handlers, schedules, actions, webhooks, capabilities, config)"#,
        r#"plugin.toml: id: "Lead Scoring" is not a valid id ([a-z][a-z0-9-]{1,62})"#,
        r#"plugin.toml: description: missing required key"#,
        r#"plugin.toml: functions[0].kind: unknown kind "scor" (expected "validate" or "score")"#,
        r#"plugin.toml: functions[1].name: duplicate function name "lead" (also functions[0])"#,
        r#"plugin.toml: functions[1].colour: unknown key (expected one of: name, kind, entities, input, on-failure, fuel-per-record)"#,
        r#"plugin.toml: functions[1].entities[0]: unknown entity "contactz" (expected one of: contact, company, deal, activity, task, ticket, product, order)"#,
        r#"plugin.toml: functions[1].entities[1]: expected string, found integer"#,
        r#"plugin.toml: functions[1].input: must be a GraphQL selection set starting with '{'"#,
        r#"plugin.toml: functions[1].on-failure: unknown policy "explode" (expected "fail-open" or "fail-closed")"#,
        r#"plugin.toml: functions[1].fuel-per-record: expected a positive integer, found -1"#,
        r#"plugin.toml: capabilities.write: requires contract "0.2.0" or later, but contract = "0.1.0"; set contract = "0.2.0" and export the plugin with crm_plugin_sdk::export_plugin_v0_2!"#,
        r#"plugin.toml: capabilities.pii-read: expected bool, found string"#,
        r#"plugin.toml: config.grade-a.default: expected integer, found string"#,
        r#"plugin.toml: config.mode.default: "c" is not one of "a", "b""#,
        r#"plugin.toml: config.tags.default[1]: expected string, found integer"#,
        r#"plugin.toml: config.weird.type: unknown type "date" (expected "string", "integer", "number", "bool", "enum", "list" or "secret")"#,
    ] {
        assert_has(&lines, expected);
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(r#"plugin.toml: version: "one" is not a semantic version"#)),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 18, "{lines:#?}");
}

#[test]
fn missing_keys_and_wrong_shapes() {
    let lines = errors_of("functions = []\ncapabilities = 3\n");
    for expected in [
        "plugin.toml: id: missing required key",
        "plugin.toml: version: missing required key",
        "plugin.toml: contract: missing required key",
        "plugin.toml: description: missing required key",
        "plugin.toml: functions: at least one [[functions]] entry is required",
        "plugin.toml: capabilities: expected a table, found integer",
    ] {
        assert_has(&lines, expected);
    }

    let lines = errors_of(
        r#"
        id = "ok-id"
        version = "0.1.0"
        contract = "0.1.0"
        description = "d"
        released = 1979-05-27
        [[functions]]
        kind = "score"
        entities = []
        input = "{ a { b }"
        "#,
    );
    for expected in [
        "plugin.toml: released: unknown key (expected one of: id, version, contract, description, component, functions, handlers, schedules, actions, webhooks, capabilities, config)",
        "plugin.toml: functions[0].name: missing required key",
        "plugin.toml: functions[0].entities: at least one entity is required",
        "plugin.toml: functions[0].input: unbalanced braces: 1 '{' not closed",
    ] {
        assert_has(&lines, expected);
    }
}

#[test]
fn datetimes_are_named() {
    let lines = errors_of(
        r#"
        id = "ok-id"
        version = "0.1.0"
        contract = "0.1.0"
        description = 1979-05-27
        [[functions]]
        name = "a"
        kind = "score"
        entities = ["deal"]
        input = "{ id } extra"
        "#,
    );
    assert_has(
        &lines,
        "plugin.toml: description: expected string, found datetime",
    );
    assert_has(
        &lines,
        "plugin.toml: functions[0].input: unexpected text after the closing '}' at offset 5",
    );
}

#[test]
fn syntax_errors_point_at_the_line() {
    let err = Manifest::parse("id = \"x\"\nversion = \n").expect_err("bad TOML");
    assert_eq!(err.errors.len(), 1);
    assert!(err.errors[0].path.starts_with("line 2"), "{err}");
    assert!(err.to_string().starts_with("plugin.toml: line 2"), "{err}");
}

#[test]
fn json_round_trip() {
    let m = Manifest::parse(GOOD).expect("good manifest parses");
    let json = m.to_json();
    assert_eq!(json["functions"][0]["on-failure"], "fail-open");
    assert_eq!(json["functions"][0]["kind"], "score");
    assert_eq!(json["capabilities"]["pii-read"], false);
    assert_eq!(json["config"]["grade-a"]["type"], "integer");
    let back = Manifest::from_json(&json.to_string()).expect("stored form reads back");
    assert_eq!(back, m);

    let err = Manifest::from_json(r#"{"id": "x"}"#).expect_err("incomplete");
    assert!(
        err.to_string()
            .contains("manifest.json: id: \"x\" is not a valid id"),
        "{err}"
    );
}

#[test]
fn effective_config_overlays_defaults() {
    let m = Manifest::parse(GOOD).expect("good manifest parses");
    let defaults = m
        .effective_config(&serde_json::Value::Null)
        .expect("defaults");
    assert_eq!(
        defaults,
        json!({"grade-a": 80, "on-invalid": "patch", "ratio": 1, "domains": ["example.com"]})
    );
    let cfg = m
        .effective_config(&json!({"grade-a": 90, "ratio": 0.5, "on-invalid": null}))
        .expect("valid tenant config");
    assert_eq!(cfg["grade-a"], 90);
    assert_eq!(cfg["ratio"], 0.5);
    assert_eq!(cfg["on-invalid"], "patch");

    let err = m
        .effective_config(
            &json!({"grade-a": "high", "colour": "red", "on-invalid": "explode", "domains": [1]}),
        )
        .expect_err("bad tenant config");
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    for expected in [
        "tenant config: config.grade-a: expected integer, found string",
        "tenant config: config.colour: unknown key (expected one of: domains, grade-a, on-invalid, ratio)",
        r#"tenant config: config.on-invalid: "explode" is not one of "reject", "patch", "ignore""#,
        "tenant config: config.domains[0]: expected string, found integer",
    ] {
        assert_has(&lines, expected);
    }
    let err = m.effective_config(&json!([1])).expect_err("not a table");
    assert_eq!(err.errors[0].path, "config");
}

const HANDLERS: &str = r#"
id = "customer-health"
version = "0.1.0"
contract = "0.2.0"
description = "Health per company."

[[handlers]]
name = "health-on-change"
events = ["ticket.", "order.created"]
deadline-ms = 2000

[[schedules]]
name = "daily"
cron = "0 5 * * *"

[[actions]]
name = "recompute"
description = "Recompute one company."

[capabilities]
read = ["company", "user"]
write = ["task"]
kv = true
emit = true
"#;

#[test]
fn handlers_schedules_and_actions() {
    let m = Manifest::parse(HANDLERS).expect("a 0.2.0 manifest without functions parses");
    assert!(m.functions.is_empty());
    let h = m.handler("health-on-change").expect("handler");
    assert_eq!(h.events, ["ticket.", "order.created"]);
    assert_eq!(h.deadline_ms, 2000);
    let s = m.schedule("daily").expect("schedule");
    assert_eq!(s.cron, "0 5 * * *");
    assert_eq!(s.deadline_ms, SCHEDULE_DEADLINE_MS);
    assert_eq!(
        m.action("recompute").and_then(|a| a.description.as_deref()),
        Some("Recompute one company.")
    );
    assert_eq!(m.capabilities.read, ["company", "user"]);
    assert_eq!(m.capabilities.write, ["task"]);
    assert!(m.capabilities.kv && m.capabilities.emit);
    let names =
        |kind: &str| -> Vec<String> { m.handlers_for(kind).map(|h| h.name.clone()).collect() };
    assert_eq!(names("ticket.sla_breached"), ["health-on-change"]);
    assert_eq!(names("order.created"), ["health-on-change"]);
    assert!(names("order.updated").is_empty());
    assert!(names("tickets.x").is_empty());

    let json = m.to_json();
    assert_eq!(json["handlers"][0]["deadline-ms"], 2000);
    assert_eq!(json["capabilities"]["kv"], true);
    assert_eq!(json["functions"], json!([]));
    let back = Manifest::from_json(&json.to_string()).expect("stored form reads back");
    assert_eq!(back, m);

    // A 0.1.0 manifest's stored form has none of the new keys.
    let old = Manifest::parse(GOOD)
        .expect("good manifest parses")
        .to_json();
    for key in ["handlers", "schedules", "actions"] {
        assert!(old.get(key).is_none(), "{old}");
    }
    for key in ["write", "kv", "emit"] {
        assert!(old["capabilities"].get(key).is_none(), "{old}");
    }
}

#[test]
fn old_contracts_cannot_declare_handlers() {
    let lines = errors_of(&HANDLERS.replace(r#"contract = "0.2.0""#, r#"contract = "0.1.0""#));
    let needs = r#"requires contract "0.2.0" or later, but contract = "0.1.0"; set contract = "0.2.0" and export the plugin with crm_plugin_sdk::export_plugin_v0_2!"#;
    for path in [
        "handlers",
        "schedules",
        "actions",
        "capabilities.write",
        "capabilities.kv",
        "capabilities.emit",
    ] {
        assert_has(&lines, &format!("plugin.toml: {path}: {needs}"));
    }
    assert_eq!(lines.len(), 6, "{lines:#?}");

    // Nothing to run at all.
    let lines = errors_of(
        r#"
        id = "empty"
        version = "0.1.0"
        contract = "0.2.0"
        description = ""
        [capabilities]
        kv = false
        "#,
    );
    assert_eq!(
        lines,
        [
            "plugin.toml: functions: at least one entry point is required: [[functions]], [[handlers]], [[schedules]], [[actions]] or [[webhooks]]"
        ]
    );
}

#[test]
fn handler_mistakes_are_reported_with_their_paths() {
    let lines = errors_of(
        r#"
        id = "probe"
        version = "0.1.0"
        contract = "0.2.0"
        description = ""

        [[functions]]
        name = "same"
        kind = "score"
        entities = ["contact"]
        input = "{ id }"

        [[handlers]]
        name = "same"
        events = ["Contact.Created", "deal.", "deal.", "*", 3]
        deadline-ms = 0
        retries = 3

        [[handlers]]
        name = "no-events"
        events = []
        deadline-ms = 600000

        [[schedules]]
        name = "Nightly"
        cron = "0 5 * *"

        [[schedules]]
        name = "same"
        cron = "61 * * * *"
        deadline-ms = "soon"

        [[actions]]
        description = 3

        [capabilities]
        read = ["contact", "users"]
        write = ["spaceship"]
        kv = "yes"
        "#,
    );
    for expected in [
        r#"plugin.toml: handlers[0].name: duplicate handler name "same" (also functions[0])"#,
        r#"plugin.toml: handlers[0].events[0]: "Contact.Created" is not an event kind: expected dot-separated lower-case words ("contact.created"), or a prefix ending in '.' ("ticket.")"#,
        r#"plugin.toml: handlers[0].events[2]: event "deal." is listed twice"#,
        r#"plugin.toml: handlers[0].events[3]: "*" is not an event kind: expected dot-separated lower-case words ("contact.created"), or a prefix ending in '.' ("ticket.")"#,
        "plugin.toml: handlers[0].events[4]: expected string, found integer",
        "plugin.toml: handlers[0].deadline-ms: expected a positive integer (milliseconds), found 0",
        "plugin.toml: handlers[0].retries: unknown key (expected one of: name, events, deadline-ms)",
        "plugin.toml: handlers[1].events: at least one event kind is required",
        "plugin.toml: handlers[1].deadline-ms: 600000 is over the limit of 60000 ms (a run must end within the job queue's lease)",
        r#"plugin.toml: schedules[0].name: "Nightly" is not a valid schedule name ([a-z][a-z0-9-]{0,62})"#,
        r#"plugin.toml: schedules[1].name: duplicate schedule name "same" (also functions[0])"#,
        "plugin.toml: schedules[1].deadline-ms: expected a positive integer (milliseconds), found string",
        "plugin.toml: actions[0].name: missing required key",
        "plugin.toml: actions[0].description: expected string, found integer",
        r#"plugin.toml: capabilities.read[1]: unknown entity "users" (expected one of: contact, company, deal, activity, task, ticket, product, order, user, pipeline, tag)"#,
        r#"plugin.toml: capabilities.write[0]: unknown entity "spaceship" (expected one of: contact, company, deal, activity, task, ticket, product, order, user, pipeline, tag)"#,
        "plugin.toml: capabilities.kv: expected bool, found string",
    ] {
        assert_has(&lines, expected);
    }
    assert!(
        lines.iter().any(|l| l.starts_with(
            r#"plugin.toml: schedules[0].cron: "0 5 * *" is not a valid cron expression"#
        )),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            r#"plugin.toml: schedules[1].cron: "61 * * * *" is not a valid cron expression"#
        )),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 19, "{lines:#?}");
}

#[test]
fn secrets_have_no_default() {
    let base = "id = \"secrets\"\nversion = \"0.1.0\"\ncontract = \"0.3.0\"\ndescription = \"\"\n\
                [[actions]]\nname = \"a\"\n";
    let ok = Manifest::parse(&format!("{base}[config.token]\ntype = \"secret\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.config["token"].ty, ConfigType::Secret);
    assert_eq!(
        ok.effective_config(&json!({"token": "t"}))
            .map(|c| c["token"].clone()),
        Ok(json!("t"))
    );
    assert!(ok.effective_config(&json!({"token": 7})).is_err());
    let lines = errors_of(&format!(
        "{base}[config.token]\ntype = \"secret\"\ndefault = \"hunter2\"\n"
    ));
    assert_eq!(
        lines,
        [
            "plugin.toml: config.token.default: a secret has no default: the tenant's operator sets it with enablePlugin(config:)"
        ]
    );
}

#[test]
fn webhooks_need_contract_0_3_and_are_checked() {
    let text = |contract: &str, webhook: &str| {
        format!(
            "id = \"hooks\"\nversion = \"0.1.0\"\ncontract = \"{contract}\"\ndescription = \"\"\n\
             [[actions]]\nname = \"sync\"\n[[webhooks]]\n{webhook}\n"
        )
    };
    let ok = Manifest::parse(&text(
        "0.3.0",
        "name = \"erp-events\"\ndescription = \"From the ERP\"",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let hook = ok.webhook("erp-events").expect("declared");
    assert_eq!(hook.deadline_ms, HANDLER_DEADLINE_MS);
    assert_eq!(hook.description.as_deref(), Some("From the ERP"));

    let old = errors_of(&text("0.2.0", "name = \"erp-events\""));
    assert_eq!(
        old,
        [
            "plugin.toml: webhooks: requires contract \"0.3.0\" or later, but contract = \"0.2.0\"; \
             set contract = \"0.3.0\" and export the plugin with crm_plugin_sdk::export_plugin_v0_3!"
        ]
    );
    let bad = errors_of(&text(
        "0.3.0",
        "name = \"sync\"\ndeadline-ms = 0\nsecret = \"x\"",
    ));
    assert!(
        bad.iter()
            .any(|l| l.starts_with("plugin.toml: webhooks[0].secret: unknown key")),
        "{bad:#?}"
    );
    assert!(
        bad.iter()
            .any(|l| l.starts_with("plugin.toml: webhooks[0].deadline-ms:")),
        "{bad:#?}"
    );
    assert!(
        bad.iter().any(|l| l
            == "plugin.toml: webhooks[0].name: duplicate webhook name \"sync\" (also actions[0])"),
        "{bad:#?}"
    );
}
