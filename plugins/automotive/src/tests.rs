//! The handlers against a fake CRM.

use crm_plugin_sdk::testing::{FakeHost, Harness};
use serde_json::{Value, json};

use super::*;

fn harness(fake: &FakeHost) -> Harness<Automotive> {
    Harness::from_manifest(include_str!("../plugin.toml"))
        .with_host(fake)
        .now("2025-03-01T09:00:00Z")
}

fn contact(fake: &FakeHost, tags: Value) {
    fake.on_query(
        "contact(id:",
        json!({ "contact": {
            "id": "c1", "firstName": "Lei", "lastName": "Li",
            "owner": { "id": "u-rep", "manager": { "id": "u-manager" } },
            "tags": tags,
        }}),
    );
}

fn booking(activity: &str) -> Event {
    Event::new(
        "activity.created",
        json!({
            "id": activity, "kind": "TEST_DRIVE", "contactId": "c1",
            "subject": "Test drive booked online", "content": "asks about winter range",
        }),
    )
    .with_id(format!("evt-{activity}"))
    .with_record_id(activity)
}

fn created(fake: &FakeHost) -> Vec<Value> {
    fake.mutations_containing("createTask")
        .into_iter()
        .map(|m| m.variables["i"].clone())
        .collect()
}

#[test]
fn manifest_defaults_are_the_config_defaults() {
    let from_manifest: Config =
        Harness::<Automotive>::from_manifest(include_str!("../plugin.toml"))
            .handler_context("test-drive-booked")
            .config()
            .unwrap();
    assert_eq!(from_manifest, Config::default());
}

#[test]
fn a_booking_creates_a_follow_up_and_a_coupon_once() {
    let fake = FakeHost::new();
    contact(&fake, json!(["vip"]));
    fake.on_mutate("createTask", json!({ "createTask": { "id": "task-1" } }));
    let h = harness(&fake);
    h.on_event(booking("a1"));

    let tasks = created(&fake);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "Test drive follow-up: Lei Li");
    assert_eq!(
        tasks[0]["description"],
        "Customer interests: asks about winter range"
    );
    assert_eq!(tasks[0]["assigneeId"], "u-rep");
    assert_eq!(tasks[0]["recordEntity"], "CONTACT");
    assert_eq!(tasks[0]["recordId"], "c1");
    assert_eq!(tasks[0]["dueAt"], "2025-03-01T10:00:00Z");

    let updates = fake.mutations_containing("updateContact");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].variables["id"], "c1");
    assert_eq!(
        updates[0].variables["i"]["tags"],
        json!(["vip", "coupon:50-charging-credit"])
    );
    assert_eq!(fake.emitted().len(), 1);
    assert_eq!(fake.emitted()[0].kind, "coupon_issued");
    assert_eq!(fake.emitted()[0].payload["coupon"], "50 charging credit");
    assert_eq!(fake.kv("booking:a1").as_deref(), Some("done"));

    // At-least-once delivery: the replay changes nothing.
    h.on_event(booking("a1"));
    assert_eq!(fake.mutations().len(), 2);
    assert_eq!(fake.emitted().len(), 1);
}

#[test]
fn a_replay_after_a_failed_coupon_only_issues_the_coupon() {
    let fake = FakeHost::new();
    contact(&fake, json!([]));
    fake.on_mutate("createTask", json!({ "createTask": { "id": "task-1" } }));
    fake.on_mutate_error("updateContact", "FORBIDDEN", "write:contact is not granted");
    let h = harness(&fake);
    assert_eq!(h.try_on_event(booking("a1")).unwrap_err().code, "FORBIDDEN");
    assert_eq!(fake.kv("booking:a1").as_deref(), Some("task:task-1"));

    fake.on_mutate("updateContact", json!({ "updateContact": { "id": "c1" } }));
    h.on_event(booking("a1"));
    assert_eq!(created(&fake).len(), 1);
    assert_eq!(fake.mutations_containing("updateContact").len(), 2);
    assert_eq!(fake.kv("booking:a1").as_deref(), Some("done"));
}

#[test]
fn a_contact_who_has_the_coupon_keeps_their_tags() {
    let fake = FakeHost::new();
    contact(&fake, json!(["coupon:50-charging-credit"]));
    harness(&fake).on_event(booking("a2"));
    assert_eq!(created(&fake).len(), 1);
    assert!(fake.mutations_containing("updateContact").is_empty());
    assert!(fake.emitted().is_empty());
}

#[test]
fn other_activities_are_ignored() {
    let fake = FakeHost::new();
    let h = harness(&fake);
    h.on_event(Event::new(
        "activity.created",
        json!({ "kind": "CALL", "contactId": "c1" }),
    ));
    h.on_event(Event::new(
        "activity.created",
        json!({ "kind": "TEST_DRIVE", "companyId": "co1" }),
    ));
    h.on_event(Event::new(
        "activity.updated",
        json!({ "kind": "TEST_DRIVE", "contactId": "c1" }),
    ));
    assert!(fake.queries().is_empty());
    assert!(fake.mutations().is_empty());
    assert!(fake.kv_entries().is_empty());
}

#[test]
fn follow_up_time_and_coupon_are_configurable() {
    let fake = FakeHost::new();
    contact(&fake, json!(null));
    harness(&fake)
        .config(json!({ "follow-up-minutes": 30, "coupon": "Free Winter Tyres" }))
        .on_event(booking("a3"));
    assert_eq!(created(&fake)[0]["dueAt"], "2025-03-01T09:30:00Z");
    let update = &fake.mutations_containing("updateContact")[0];
    assert_eq!(
        update.variables["i"]["tags"],
        json!(["coupon:free-winter-tyres"])
    );
}

fn overdue(fake: &FakeHost) {
    fake.on_query(
        "tasks(",
        json!({ "tasks": {
            "edges": [
                { "node": { "id": "t1", "title": "Test drive follow-up: Lei Li", "dueAt": "2025-03-01T08:00:00Z",
                            "assignee": { "id": "u-rep", "manager": { "id": "u-manager" } }, "recordId": "c1" } },
                { "node": { "id": "t2", "title": "Test drive follow-up: Mei Han", "dueAt": "2025-03-01T08:30:00Z",
                            "assignee": { "id": "u-rep2", "manager": null }, "recordId": "c2" } },
            ],
            "pageInfo": { "hasNextPage": false, "endCursor": "x" },
        }}),
    );
}

#[test]
fn an_overdue_follow_up_escalates_to_the_managers_once() {
    let fake = FakeHost::new();
    overdue(&fake);
    fake.on_mutate("createTask", json!({ "createTask": { "id": "esc-1" } }));
    let h = harness(&fake);
    h.on_schedule("escalate-overdue");

    let query = &fake.queries()[0];
    assert_eq!(query.variables["now"], "2025-03-01T09:00:00Z");
    assert!(query.text.contains("startsWith: \"Test drive follow-up\""));
    assert!(query.text.contains("status: { in: [OPEN, IN_PROGRESS] }"));
    assert!(query.text.contains("dueAt: { lt: $now }"));

    // t2's rep has no manager and no store manager is configured: skipped.
    let tasks = created(&fake);
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["title"],
        "Escalation: test drive not followed up within the hour"
    );
    assert_eq!(tasks[0]["assigneeId"], "u-manager");
    assert_eq!(tasks[0]["recordId"], "c1");
    assert_eq!(fake.emitted()[0].kind, "test_drive_escalated");
    assert_eq!(fake.emitted()[0].payload["taskId"], "t1");
    assert_eq!(fake.kv("escalated:t1").as_deref(), Some("esc-1"));
    assert_eq!(fake.kv("escalated:t2"), None);

    h.on_schedule("escalate-overdue");
    assert_eq!(created(&fake).len(), 1);
    assert_eq!(fake.emitted().len(), 1);
}

#[test]
fn a_configured_store_manager_receives_every_escalation() {
    let fake = FakeHost::new();
    overdue(&fake);
    harness(&fake)
        .config(json!({ "store-manager-id": "u-store" }))
        .on_schedule("escalate-overdue");
    let tasks = created(&fake);
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t["assigneeId"] == "u-store"));
}

#[test]
fn the_issue_coupon_action_issues_the_coupon_alone() {
    let fake = FakeHost::new();
    contact(&fake, json!(["vip"]));
    let h = harness(&fake);
    let out = h.action("issue-coupon", json!({ "contactId": "c1" }));
    assert_eq!(
        out,
        json!({ "coupon": "50 charging credit", "tag": "coupon:50-charging-credit", "issued": true })
    );
    assert!(created(&fake).is_empty());
    assert_eq!(fake.emitted()[0].payload["activityId"], Value::Null);

    let err = h.try_action("issue-coupon", json!({})).unwrap_err();
    assert_eq!(err.code, "BAD_USER_INPUT");
    let err = h.try_action("refund", json!({})).unwrap_err();
    assert_eq!(err.code, "UNKNOWN_ACTION");
}
