//! The DOMAIN.md scenarios shipped as plugins, end to end with a controllable
//! clock on SQLite and PostgreSQL: customer health (one task per drop below
//! the threshold) and the automotive test-drive follow-up (task within the
//! hour with the customer's interests, coupon on the contact, escalation to
//! the store manager when the hour passes).

use crm_core::Clock;
use crm_core::service::ManualClock;
use crm_tests::server::*;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;

fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T09:02:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc)
}

async fn install_enable(srv: &TestServer, dir: &str, package: &'static str) {
    let toml = crm_tests::wasm::manifest_text(&format!("plugins/{dir}"));
    let b64 = crm_tests::wasm::component_b64(package).await;
    srv.ok(
        "mutation($m: String!, $c: String!) { installPlugin(manifest: $m, component: $c) { id } }",
        json!({"m": toml, "c": b64.as_str()}),
    )
    .await;
    let d = srv
        .ok(
            "mutation($id: String!) { enablePlugin(id: $id) { status grants } }",
            json!({"id": dir}),
        )
        .await;
    assert_eq!(d["enablePlugin"]["status"], "ACTIVE");
}

async fn event_count(srv: &TestServer, kind: &str) -> usize {
    crm_core::entity::event::Entity::find()
        .filter(crm_core::entity::event::Column::Kind.eq(kind))
        .filter(crm_core::entity::event::Column::TenantId.eq(srv.tenant))
        .all(&srv.app.crm.db)
        .await
        .expect("events")
        .len()
}

async fn failed_runs(srv: &TestServer, plugin: &str) -> Value {
    srv.ok("query($p: String) { pluginRuns(plugin: $p, outcome: \"failed\") { entryPoint errorCode error log } }", json!({"p": plugin})).await["pluginRuns"].clone()
}

async fn health(srv: &TestServer, company: &str) -> Option<i64> {
    let d = srv.ok("query($id: ID!) { company(id: $id) { scores(plugin: \"customer-health\") { name value } } }", json!({"id": company})).await;
    d["company"]["scores"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["name"] == "health"))
        .and_then(|x| x["value"].as_i64())
}

async fn customer_health(backend: Backend) {
    let clock = Arc::new(ManualClock::new(t0()));
    let srv = TestServer::start_opts(backend, Some(clock.clone()), false).await;
    install_enable(&srv, "customer-health", "customer-health").await;
    let owner = srv.user("Olga Owner", "SALES", None).await;
    let c = srv
        .ok(
            "mutation($o: ID!) { createCompany(input: {name: \"Globex\", ownerId: $o}) { id } }",
            json!({"o": owner}),
        )
        .await;
    let company = c["createCompany"]["id"].as_str().expect("id").to_string();
    let contact = srv.ok("mutation($c: ID!) { createContact(input: {firstName: \"Hank\", lastName: \"Scorpio\", companyId: $c}) { id } }", json!({"c": company})).await["createContact"]["id"].clone();
    // A healthy account: recent engagement and regular orders.
    let healthy = async || {
        srv.ok("mutation($c: ID!) { createActivity(input: {kind: MEETING, contactId: $c, subject: \"QBR\"}) { id } }", json!({"c": contact})).await;
        for i in 0..3 {
            srv.ok("mutation($c: ID!, $n: String!) { createOrder(input: {companyId: $c, number: $n, status: PAID, lines: [{description: \"Licences\", quantity: 10, unitPrice: 5000}]}) { id } }", json!({"c": company, "n": format!("SO-{}-{i}", clock.now().timestamp())})).await;
        }
        srv.drain().await;
    };
    healthy().await;
    let h = health(&srv, &company).await;
    assert!(
        h.is_some_and(|v| v >= 60),
        "healthy account scores >= 60: {h:?}; failures: {}",
        failed_runs(&srv, "customer-health").await
    );
    assert!(
        srv.tasks_of(&owner).await.is_empty(),
        "no task while healthy"
    );

    // 100 days of silence: the daily run finds the drop and tells the owner once.
    clock.advance(chrono::Duration::days(100));
    srv.drain().await;
    let h = health(&srv, &company).await;
    assert!(
        h.is_some_and(|v| v < 60),
        "silent account drops below 60: {h:?}"
    );
    assert_eq!(srv.tasks_of(&owner).await.len(), 1, "one task per drop");
    assert_eq!(
        event_count(&srv, "plugin.customer-health.health_dropped").await,
        1
    );
    // Another low reading (a new ticket, another day) adds no task.
    srv.ok("mutation($c: ID!) { createTicket(input: {subject: \"Invoices wrong\", priority: P2, companyId: $c}) { id } }", json!({"c": company})).await;
    clock.advance(chrono::Duration::days(1));
    srv.drain().await;
    assert_eq!(
        srv.tasks_of(&owner).await.len(),
        1,
        "still one task while it stays low"
    );
    // Recovery re-arms it; the next drop is a new task.
    healthy().await;
    assert!(health(&srv, &company).await.is_some_and(|v| v >= 60));
    clock.advance(chrono::Duration::days(100));
    srv.drain().await;
    let t = srv.tasks_of(&owner).await;
    assert_eq!(t.len(), 2, "a second drop, a second task: {t:#?}\nruns: {}", srv.ok("{ pluginRuns(plugin: \"customer-health\", first: 100) { entryPoint outcome createdAt log } }", json!({})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_health_one_task_per_drop_sqlite() {
    customer_health(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_health_one_task_per_drop_postgres() {
    customer_health(Backend::Postgres).await;
}

async fn automotive(backend: Backend) {
    let clock = Arc::new(ManualClock::new(t0()));
    let srv = TestServer::start_opts(backend, Some(clock.clone()), false).await;
    install_enable(&srv, "automotive", "automotive").await;
    let store_manager = srv.user("Stan Store", "MANAGER", None).await;
    let rep = srv.user("Rosa Rep", "SALES", Some(&store_manager)).await;
    let c = srv.ok("mutation($o: ID!) { createContact(input: {firstName: \"Wei\", lastName: \"Zhang\", ownerId: $o}) { id } }", json!({"o": rep})).await;
    let contact = c["createContact"]["id"].as_str().expect("id").to_string();
    srv.ok(
        "mutation($c: ID!) { createActivity(input: {kind: TEST_DRIVE, contactId: $c, channel: \"app\", subject: \"Test drive booking\", content: \"asks about winter range\"}) { id } }",
        json!({"c": contact}),
    )
    .await;
    // A plain call is not a booking.
    srv.ok("mutation($c: ID!) { createActivity(input: {kind: CALL, contactId: $c, subject: \"Hello\"}) { id } }", json!({"c": contact})).await;
    srv.drain().await;
    let tasks = srv.tasks_of(&rep).await;
    assert_eq!(
        tasks.len(),
        1,
        "one follow-up for the assigned rep: {tasks:?}; failures: {}",
        failed_runs(&srv, "automotive").await
    );
    let due = chrono::DateTime::parse_from_rfc3339(tasks[0]["dueAt"].as_str().expect("dueAt"))
        .expect("date");
    assert!(
        due.with_timezone(&chrono::Utc) <= clock.now() + chrono::Duration::minutes(60),
        "due within the hour"
    );
    assert!(
        tasks[0]["description"]
            .as_str()
            .unwrap_or("")
            .contains("winter range"),
        "carries the interests: {tasks:?}"
    );
    let tags = srv
        .ok(
            "query($id: ID!) { contact(id: $id) { tags } }",
            json!({"id": contact}),
        )
        .await["contact"]["tags"]
        .to_string();
    assert!(
        tags.contains("coupon:"),
        "the coupon is recorded on the contact: {tags}"
    );
    assert_eq!(
        event_count(&srv, "plugin.automotive.coupon_issued").await,
        1
    );
    srv.drain().await;
    assert_eq!(srv.tasks_of(&rep).await.len(), 1, "handled once");

    // Within the hour nothing escalates; past it, the store manager is told once.
    clock.advance(chrono::Duration::minutes(30));
    srv.drain().await;
    assert!(srv.tasks_of(&store_manager).await.is_empty());
    clock.advance(chrono::Duration::minutes(35));
    srv.drain().await;
    let esc = srv.tasks_of(&store_manager).await;
    assert_eq!(
        esc.len(),
        1,
        "escalated to the store manager: {esc:?}; failures: {}",
        failed_runs(&srv, "automotive").await
    );
    assert_eq!(
        event_count(&srv, "plugin.automotive.test_drive_escalated").await,
        1
    );
    clock.advance(chrono::Duration::minutes(10));
    srv.drain().await;
    assert_eq!(
        srv.tasks_of(&store_manager).await.len(),
        1,
        "escalated once"
    );

    // The action is callable on its own.
    let r = srv.ok("mutation($c: ID!) { runPluginAction(plugin: \"automotive\", action: \"issue-coupon\", input: {contactId: $c}) { output } }", json!({"c": contact})).await;
    assert!(r["runPluginAction"]["output"]["coupon"].is_string(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automotive_test_drive_follow_up_sqlite() {
    automotive(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automotive_test_drive_follow_up_postgres() {
    automotive(Backend::Postgres).await;
}
