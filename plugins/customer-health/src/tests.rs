//! The handlers against a fake CRM.

use crm_plugin_sdk::testing::{FakeHost, Harness};
use serde_json::{Value, json};

use super::*;

fn harness(fake: &FakeHost) -> Harness<CustomerHealth> {
    Harness::from_manifest(include_str!("../plugin.toml"))
        .with_host(fake)
        .now("2025-03-01T05:00:00Z")
}

/// A company whose health is 100 with `recent_days` of silence changed.
fn company(id: &str, last_activity_days_ago: Option<i64>, sla_breaches: i64) -> Value {
    json!({ "company": {
        "id": id,
        "name": format!("Company {id}"),
        "owner": { "id": "u-owner" },
        "lastActivityDaysAgo": last_activity_days_ago,
        "openTicketsCount": 0,
        "slaBreachesCount": sla_breaches,
        "ordersCount": 3,
        "ordersValue": 9000,
    }})
}

/// Health 100.
fn healthy(fake: &FakeHost) {
    fake.on_query("company(id:", company("co1", Some(2), 0));
}

/// Health 45: no activity (0 of 30), 3 SLA breaches (0 of 25).
fn sick(fake: &FakeHost) {
    fake.on_query("company(id:", company("co1", None, 3));
}

fn ticket() -> Event {
    Event::new(
        "ticket.updated",
        json!({ "companyId": "co1", "status": "OPEN" }),
    )
    .with_record_id("t1")
}

fn tasks(fake: &FakeHost) -> Vec<Value> {
    fake.mutations_containing("createTask")
        .into_iter()
        .map(|m| m.variables["i"].clone())
        .collect()
}

#[test]
fn manifest_defaults_are_the_config_defaults() {
    let from_manifest: Config =
        Harness::<CustomerHealth>::from_manifest(include_str!("../plugin.toml"))
            .handler_context("daily")
            .config()
            .unwrap();
    assert_eq!(from_manifest, Config::default());
}

#[test]
fn a_first_drop_creates_one_task_for_the_owner_and_emits() {
    let fake = FakeHost::new();
    sick(&fake);
    harness(&fake).on_event(ticket());

    let tasks = tasks(&fake);
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["title"],
        "Customer health dropped to 45: Company co1"
    );
    assert_eq!(tasks[0]["assigneeId"], "u-owner");
    assert_eq!(tasks[0]["recordEntity"], "COMPANY");
    assert_eq!(tasks[0]["recordId"], "co1");
    assert_eq!(tasks[0]["dueAt"], "2025-03-02T05:00:00Z");
    assert!(
        tasks[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("no activity on record")
    );

    let emitted = fake.emitted();
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0].kind, "health_dropped");
    assert_eq!(emitted[0].payload["health"], 45);
    assert_eq!(emitted[0].payload["previous"], Value::Null);
    assert_eq!(fake.kv("health:co1").as_deref(), Some("45"));
}

#[test]
fn the_score_is_stored_with_grade_and_reasons() {
    let fake = FakeHost::new();
    healthy(&fake);
    harness(&fake).on_event(ticket());

    let scores = fake.mutations_containing("setScore");
    assert_eq!(scores.len(), 1);
    assert!(
        scores[0]
            .text
            .contains("mutation($i: ScoreInput!) { setScore(input: $i) }")
    );
    let input = &scores[0].variables["i"];
    assert_eq!(input["entity"], "company");
    assert_eq!(input["recordId"], "co1");
    assert_eq!(input["name"], "health");
    assert_eq!(input["value"], 100);
    assert_eq!(input["grade"], "healthy");
    assert_eq!(input["reasons"].as_array().unwrap().len(), 4);
    assert!(tasks(&fake).is_empty());
    assert!(fake.emitted().is_empty());
}

#[test]
fn a_second_low_reading_creates_no_task() {
    let fake = FakeHost::new();
    sick(&fake);
    let h = harness(&fake);
    h.on_event(ticket());
    h.on_event(ticket().with_id("evt-2"));
    assert_eq!(tasks(&fake).len(), 1);
    assert_eq!(fake.emitted().len(), 1);
    assert_eq!(fake.mutations_containing("setScore").len(), 2);
}

#[test]
fn recovery_then_a_new_drop_creates_another_task() {
    let fake = FakeHost::new();
    let h = harness(&fake);
    sick(&fake);
    h.on_event(ticket());
    healthy(&fake);
    h.on_event(ticket());
    assert_eq!(fake.kv("health:co1").as_deref(), Some("100"));
    assert_eq!(tasks(&fake).len(), 1);
    sick(&fake);
    h.on_event(ticket());
    assert_eq!(tasks(&fake).len(), 2);
    assert_eq!(fake.emitted()[1].payload["previous"], 100);
}

#[test]
fn the_threshold_is_configurable_and_exactly_at_it_is_not_a_drop() {
    let at = FakeHost::new();
    sick(&at); // 45
    harness(&at)
        .config(json!({ "threshold": 45 }))
        .on_event(ticket());
    assert!(tasks(&at).is_empty());

    let below = FakeHost::new();
    sick(&below);
    harness(&below)
        .config(json!({ "threshold": 46 }))
        .on_event(ticket());
    assert_eq!(tasks(&below).len(), 1);
}

#[test]
fn a_contact_event_finds_the_company_through_the_contact() {
    let fake = FakeHost::new();
    fake.on_query(
        "contact(id:",
        json!({ "contact": { "id": "c1", "company": { "id": "co1" } } }),
    );
    sick(&fake);
    harness(&fake).on_event(Event::new(
        "activity.created",
        json!({ "contactId": "c1", "kind": "CALL" }),
    ));
    assert_eq!(fake.queries()[0].variables["id"], "c1");
    assert_eq!(fake.queries()[1].variables["id"], "co1");
    assert_eq!(tasks(&fake).len(), 1);
}

#[test]
fn events_without_a_company_or_about_a_deleted_one_are_ignored() {
    let fake = FakeHost::new();
    fake.on_query(
        "contact(id:",
        json!({ "contact": { "id": "c1", "company": null } }),
    );
    let h = harness(&fake);
    h.on_event(Event::new("ticket.created", json!({ "contactId": "c1" })));
    h.on_event(Event::new(
        "ticket.created",
        json!({ "subject": "no link" }),
    ));
    fake.on_query_error("company(id:", "NOT_FOUND", "company co9 not found");
    h.on_event(Event::new("order.created", json!({ "companyId": "co9" })));
    assert!(fake.mutations().is_empty());
}

#[test]
fn host_failures_fail_the_run_with_their_code() {
    let fake = FakeHost::new();
    sick(&fake);
    fake.on_mutate_error("createTask", "FORBIDDEN", "write:task is not granted");
    let err = harness(&fake).try_on_event(ticket()).unwrap_err();
    assert_eq!(err.code, "FORBIDDEN");
    // Nothing remembered: the retry alerts again.
    assert_eq!(fake.kv("health:co1"), None);
}

#[test]
fn the_daily_schedule_pages_through_every_company() {
    let fake = FakeHost::new();
    fake.on_query_with("companies(", page_of_two);
    fake.on_query_with("company(id:", |vars| {
        let id = vars["id"].as_str().unwrap_or_default();
        // co2 is neglected, the others are fine.
        if id == "co2" {
            company(id, None, 3)
        } else {
            company(id, Some(1), 0)
        }
    });
    fake.set_kv("health:co3", "30"); // already low and alerted: stays quiet on recovery

    harness(&fake).on_schedule("daily");

    assert_eq!(pages_read(&fake), [Value::Null, json!("p2")]);
    assert_eq!(fake.mutations_containing("setScore").len(), 3);
    let tasks = tasks(&fake);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["recordId"], "co2");
    assert_eq!(fake.kv("health:co3").as_deref(), Some("100"));
}

/// The answer to a `companies(` query over two pages: co1, co2, then (after
/// cursor `p2`) co3.
fn page_of_two(vars: &Value) -> Value {
    match vars["c"].as_str() {
        None => json!({ "companies": {
            "edges": [{ "node": { "id": "co1" } }, { "node": { "id": "co2" } }],
            "pageInfo": { "hasNextPage": true, "endCursor": "p2" },
        }}),
        Some(_) => json!({ "companies": {
            "edges": [{ "node": { "id": "co3" } }],
            "pageInfo": { "hasNextPage": false, "endCursor": "p3" },
        }}),
    }
}

/// Two pages of companies ([`page_of_two`]); every company healthy.
fn two_pages(fake: &FakeHost) {
    fake.on_query_with("companies(", page_of_two);
    fake.on_query_with("company(id:", |vars| {
        company(vars["id"].as_str().unwrap_or_default(), Some(1), 0)
    });
}

fn pages_read(fake: &FakeHost) -> Vec<Value> {
    fake.queries()
        .into_iter()
        .filter(|q| q.text.contains("companies("))
        .map(|q| q.variables["c"].clone())
        .collect()
}

#[test]
fn the_daily_schedule_keeps_its_place_page_by_page() {
    let fake = FakeHost::new();
    two_pages(&fake);
    // What a run cut short before the second page would leave behind.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (probe, seen_in) = (fake.clone(), seen.clone());
    fake.on_query_with("companies(", move |vars| {
        if vars["c"] == "p2" {
            *seen_in.lock().unwrap() = probe.kv(crate::RESUME_KEY);
        }
        page_of_two(vars)
    });
    harness(&fake).on_schedule("daily");
    assert_eq!(seen.lock().unwrap().as_deref(), Some("2025-03-01|p2"));
    // A finished run leaves no place behind.
    assert_eq!(fake.kv(crate::RESUME_KEY), None);
}

#[test]
fn a_retried_daily_run_resumes_where_it_stopped_the_same_day_only() {
    let fake = FakeHost::new();
    two_pages(&fake);
    fake.set_kv(crate::RESUME_KEY, "2025-03-01|p2");
    harness(&fake).on_schedule("daily");
    assert_eq!(pages_read(&fake), [json!("p2")]);
    assert_eq!(fake.mutations_containing("setScore").len(), 1);
    assert_eq!(fake.kv(crate::RESUME_KEY), None);
    assert!(
        fake.logs()
            .iter()
            .any(|l| l.contains("assessed 1 companies (resumed)")),
        "{:?}",
        fake.logs()
    );

    // A place left by an earlier day's run is not today's: start over.
    let fake = FakeHost::new();
    two_pages(&fake);
    fake.set_kv(crate::RESUME_KEY, "2025-02-28|p2");
    harness(&fake).on_schedule("daily");
    assert_eq!(pages_read(&fake), [Value::Null, json!("p2")]);
    assert_eq!(fake.mutations_containing("setScore").len(), 3);
}

#[test]
fn the_daily_schedule_carries_on_past_a_failing_company() {
    let fake = FakeHost::new();
    fake.on_query(
        "companies(",
        json!({ "companies": {
            "edges": [{ "node": { "id": "co1" } }, { "node": { "id": "co2" } }],
            "pageInfo": { "hasNextPage": false, "endCursor": null },
        }}),
    );
    fake.on_query_with("company(id:", |vars| {
        company(vars["id"].as_str().unwrap_or_default(), Some(1), 0)
    });
    fake.on_mutate_error("setScore", "HOST_ERROR", "database is busy");
    let err = harness(&fake).try_on_schedule("daily").unwrap_err();
    assert_eq!(err.code, "HOST_ERROR");
    assert_eq!(
        err.message,
        "2 of 2 companies failed; last: database is busy"
    );
}
