//! Automation end to end with a controllable clock (no sleeping for an hour):
//! the SLA escalation, workflows run step by step, the sales conversion alert,
//! retries/dead letters, on SQLite and PostgreSQL.

use crm_core::service::ManualClock;
use crm_tests::server::*;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::sync::Arc;

fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc)
}

async fn server(backend: Backend) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let srv = TestServer::start_opts(backend, Some(clock.clone()), false).await;
    (srv, clock)
}

async fn events_of(srv: &TestServer, kind: &str) -> Vec<crm_core::entity::event::Model> {
    crm_core::entity::event::Entity::find()
        .filter(crm_core::entity::event::Column::Kind.eq(kind))
        .filter(crm_core::entity::event::Column::TenantId.eq(srv.tenant))
        .all(&srv.app.crm.db)
        .await
        .expect("events")
}

async fn run(backend: Backend, f: impl AsyncFnOnce(TestServer, Arc<ManualClock>)) {
    let (srv, clock) = server(backend).await;
    f(srv, clock).await;
}

macro_rules! both {
    ($name:ident, $f:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite, $f).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres, $f).await;
            }
        }
    };
}

both!(
    sla_breach_escalates_to_the_supervisor,
    async |srv: TestServer, clock: Arc<ManualClock>| {
        let boss = srv.user("Sue Pervisor", "MANAGER", None).await;
        let agent = srv.user("Ann Agent", "SUPPORT", Some(&boss)).await;
        let d = srv.ok("mutation($a: ID!) { createTicket(input: {subject: \"Site down\", priority: P1, assigneeId: $a}) { id firstResponseDueAt } }", json!({"a": agent})).await;
        let p1 = d["createTicket"]["id"].as_str().expect("id").to_string();
        // A P2 ticket answered in time must not escalate.
        let d = srv.ok("mutation($a: ID!) { createTicket(input: {subject: \"Export broken\", priority: P2, assigneeId: $a}) { id } }", json!({"a": agent})).await;
        let p2 = d["createTicket"]["id"].as_str().expect("id").to_string();
        srv.drain().await;
        assert!(srv.tasks_of(&boss).await.is_empty(), "nothing is due yet");

        clock.advance(chrono::Duration::minutes(20));
        srv.ok("mutation($id: ID!) { updateTicket(id: $id, input: {status: PENDING}) { firstRespondedAt } }", json!({"id": p2})).await;
        srv.drain().await;
        assert!(
            srv.tasks_of(&boss).await.is_empty(),
            "29 minutes in, the P1 is not late yet"
        );

        clock.advance(chrono::Duration::minutes(11)); // 31 minutes after opening
        srv.drain().await;
        let tasks = srv.tasks_of(&boss).await;
        assert_eq!(
            tasks.len(),
            1,
            "one escalation task for the supervisor: {tasks:?}"
        );
        assert!(
            tasks[0]["title"]
                .as_str()
                .unwrap_or("")
                .contains("Site down")
        );
        assert_eq!(tasks[0]["recordId"], json!(p1));
        assert_eq!(events_of(&srv, "ticket.sla_breached").await.len(), 1);

        // Well past the P2's 2 h target: it was answered, so no escalation; and the P1 escalates once.
        clock.advance(chrono::Duration::hours(3));
        srv.drain().await;
        assert_eq!(srv.tasks_of(&boss).await.len(), 1);
        let runs = srv
            .ok(
                "query($r: ID!) { workflowRuns(recordId: $r) { status steps } }",
                json!({"r": p1}),
            )
            .await;
        let runs = runs["workflowRuns"].as_array().cloned().unwrap_or_default();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["status"], "succeeded");
        assert_eq!(
            runs[0]["steps"].as_array().map(Vec::len),
            Some(2),
            "both steps recorded: {runs:?}"
        );
    }
);

both!(
    workflows_run_step_by_step_with_delays,
    async |srv: TestServer, clock: Arc<ManualClock>| {
        // Invalid definitions are refused with paths.
        let bad = srv.gql("mutation { createWorkflow(input: {name: \"x\", trigger: {type: \"timer\"}, steps: [{type: \"teleport\"}]}) { id } }", json!({})).await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT");
        let paths = bad["errors"][0]["extensions"]["fields"].to_string();
        assert!(
            paths.contains("input.trigger.entity") && paths.contains("input.steps.0.type"),
            "{paths}"
        );

        let owner = srv.user("Rita Rep", "SALES", None).await;
        let wf = json!({"name": "Big deal watch", "trigger": {"type": "event", "events": ["deal.stage_changed"]},
        "conditions": [{"field": "amount", "op": "gt", "value": 5000000}],
        "steps": [{"type": "addTag", "tag": "big-deal"}, {"type": "createTask", "title": "Senior review: {{name}}", "assignee": "owner", "dueInMinutes": 60},
                  {"type": "delay", "minutes": 60}, {"type": "notify", "kind": "big_deal_idle", "message": "{{name}} still waiting"}]});
        srv.ok(
            "mutation($i: WorkflowInput!) { createWorkflow(input: $i) { id } }",
            json!({"i": wf}),
        )
        .await;
        let pl = srv.ok("mutation { createPipeline(input: {name: \"P\", stages: [{name: \"A\", probability: 0.1}, {name: \"B\", probability: 0.5}]}) { id stages { id } } }", json!({})).await;
        let stages = pl["createPipeline"]["stages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let d = srv.ok("mutation($p: ID!, $o: ID!) { createDeal(input: {name: \"Fleet 200\", pipelineId: $p, amount: 6000000, ownerId: $o}) { id } }", json!({"p": pl["createPipeline"]["id"], "o": owner})).await;
        let deal = d["createDeal"]["id"].as_str().expect("id").to_string();
        let small = srv.ok("mutation($p: ID!) { createDeal(input: {name: \"Small\", pipelineId: $p, amount: 100}) { id } }", json!({"p": pl["createPipeline"]["id"]})).await;
        for id in [
            deal.clone(),
            small["createDeal"]["id"].as_str().unwrap_or("").to_string(),
        ] {
            srv.ok(
                "mutation($d: ID!, $s: ID!) { moveDeal(id: $d, stageId: $s) { id } }",
                json!({"d": id, "s": stages[1]["id"]}),
            )
            .await;
        }
        srv.drain().await;
        let d = srv
            .ok(
                "query($d: ID!) { deal(id: $d) { tags } }",
                json!({"d": deal}),
            )
            .await;
        assert_eq!(d["deal"]["tags"], json!(["big-deal"]));
        assert_eq!(srv.tasks_of(&owner).await.len(), 1);
        let runs = srv
            .ok(
                "query($r: ID!) { workflowRuns(recordId: $r) { status steps } }",
                json!({"r": deal}),
            )
            .await;
        assert_eq!(
            runs["workflowRuns"][0]["status"], "waiting",
            "parked in the delay: {runs}"
        );
        let small_runs = srv
            .ok(
                "query($r: ID!) { workflowRuns(recordId: $r) { id } }",
                json!({"r": small["createDeal"]["id"]}),
            )
            .await;
        assert_eq!(
            small_runs["workflowRuns"],
            json!([]),
            "conditions keep small deals out"
        );
        assert!(events_of(&srv, "workflow.big_deal_idle").await.is_empty());

        clock.advance(chrono::Duration::minutes(61));
        srv.drain().await;
        let runs = srv
            .ok(
                "query($r: ID!) { workflowRuns(recordId: $r) { status steps } }",
                json!({"r": deal}),
            )
            .await;
        assert_eq!(runs["workflowRuns"][0]["status"], "succeeded");
        let steps = runs["workflowRuns"][0]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            steps
                .iter()
                .map(|s| s["type"].as_str().unwrap_or(""))
                .collect::<Vec<_>>(),
            ["addTag", "createTask", "delay", "notify"]
        );
        assert_eq!(events_of(&srv, "workflow.big_deal_idle").await.len(), 1);
    }
);

both!(
    sales_alert_when_conversion_falls_below_history,
    async |srv: TestServer, clock: Arc<ManualClock>| {
        let manager = srv.user("Max Manager", "MANAGER", None).await;
        let pl = srv
        .ok("mutation($m: ID!) { createPipeline(input: {name: \"New business\", managerId: $m, stages: [{name: \"First contact\", probability: 0.1}, {name: \"Quote\", probability: 0.5}, {name: \"Won\", probability: 1, isWon: true}]}) { id stages { id } } }", json!({"m": manager}))
        .await;
        let pid = pl["createPipeline"]["id"].clone();
        let quote = pl["createPipeline"]["stages"][1]["id"].clone();
        let deals = async |n: usize, advance: usize| {
            for i in 0..n {
                let d = srv.ok("mutation($p: ID!, $n: String!) { createDeal(input: {name: $n, pipelineId: $p, amount: 1000}) { id } }", json!({"p": pid, "n": format!("d{i}")})).await;
                if i < advance {
                    srv.ok(
                        "mutation($d: ID!, $s: ID!) { moveDeal(id: $d, stageId: $s) { id } }",
                        json!({"d": d["createDeal"]["id"], "s": quote}),
                    )
                    .await;
                }
            }
        };
        // History: 10 deals, 6 reached Quote (60%).
        deals(10, 6).await;
        clock.advance(chrono::Duration::days(60));
        // Last 30 days: 5 deals, 2 reached Quote (40%).
        deals(5, 2).await;
        srv.drain().await; // the scheduler enqueues today's 07:00 check
        let tasks = srv.tasks_of(&manager).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        let title = tasks[0]["title"].as_str().unwrap_or("");
        assert!(
            title.contains("Quote") && title.contains("40%") && title.contains("53%"),
            "{title}"
        );
        let ev = events_of(&srv, "pipeline.conversion_dropped").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].payload["recentRate"], json!(40.0));
        // Running the scheduler again the same day raises nothing new.
        srv.drain().await;
        assert_eq!(srv.tasks_of(&manager).await.len(), 1);
    }
);

both!(
    failing_jobs_back_off_then_dead_letter_and_can_be_retried,
    async |srv: TestServer, clock: Arc<ManualClock>| {
        let crm = &srv.app.crm;
        let mut j = crm_core::jobs::NewJob::new(
            Some(srv.tenant),
            "no.such.kind",
            json!({}),
            clock_now(crm),
        );
        j.max_attempts = 3;
        crm_core::jobs::enqueue(&crm.db, clock_now(crm), j)
            .await
            .expect("enqueue");
        srv.drain().await;
        let jobs = srv
            .ok(
                "{ jobs(kind: \"no.such.kind\") { id status attempts lastError runAt } }",
                json!({}),
            )
            .await;
        assert_eq!(jobs["jobs"][0]["status"], "queued");
        assert_eq!(jobs["jobs"][0]["attempts"], 1);
        assert!(
            jobs["jobs"][0]["lastError"]
                .as_str()
                .unwrap_or("")
                .contains("unknown job kind")
        );
        srv.drain().await;
        assert_eq!(
            srv.ok("{ jobs(kind: \"no.such.kind\") { attempts } }", json!({}))
                .await["jobs"][0]["attempts"],
            1,
            "backoff: not due again yet"
        );
        clock.advance(chrono::Duration::seconds(6));
        srv.drain().await;
        clock.advance(chrono::Duration::seconds(11));
        srv.drain().await;
        let jobs = srv
            .ok("{ jobs(status: \"dead\") { id kind attempts } }", json!({}))
            .await;
        assert_eq!(jobs["jobs"][0]["kind"], "no.such.kind");
        assert_eq!(jobs["jobs"][0]["attempts"], 3);
        let id = jobs["jobs"][0]["id"].clone();
        let sales = srv.key_with_role("SALES").await;
        assert_eq!(
            error_code(
                &srv.gql_as(
                    &sales,
                    "mutation($id: ID!) { retryJob(id: $id) { status } }",
                    json!({"id": id})
                )
                .await
            ),
            "FORBIDDEN"
        );
        let r = srv
            .ok(
                "mutation($id: ID!) { retryJob(id: $id) { status attempts } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(r["retryJob"]["status"], "queued");
    }
);

both!(
    a_heartbeat_renews_the_lease_of_its_own_worker_only,
    async |srv: TestServer, clock: Arc<ManualClock>| {
        use crm_core::jobs;
        let crm = &srv.app.crm;
        let lease = chrono::Duration::seconds(30);
        let j = jobs::NewJob::new(
            Some(srv.tenant),
            "test.long",
            json!({"step": 0}),
            clock_now(crm),
        )
        .key("long");
        jobs::enqueue(&crm.db, clock_now(crm), j)
            .await
            .expect("enqueue");
        let j = jobs::claim(crm, "w1", lease, 10)
            .await
            .expect("claim")
            .into_iter()
            .find(|j| j.kind == "test.long")
            .expect("claimed");
        let row = || async { jobs::by_key(crm, "long").await.expect("read").expect("job") };
        // 20 s into its 30 s lease, progress renews it for 30 s from now.
        clock.advance(chrono::Duration::seconds(20));
        assert!(
            jobs::heartbeat(crm, &j, json!({"step": 1}))
                .await
                .expect("heartbeat")
        );
        let r = row().await;
        assert_eq!(r.payload, json!({"step": 1}));
        assert_eq!(r.locked_until, Some(clock_now(crm) + lease));
        // Not claimable while renewed: 25 s on, the original lease is over but not the renewed one.
        clock.advance(chrono::Duration::seconds(25));
        assert!(
            jobs::claim(crm, "w2", lease, 10)
                .await
                .expect("claim")
                .iter()
                .all(|c| c.kind != "test.long")
        );
        // Silent past its lease, another worker takes it; the first one's
        // heartbeat no longer holds and changes nothing.
        clock.advance(chrono::Duration::seconds(10));
        let taken = jobs::claim(crm, "w2", lease, 10).await.expect("claim");
        assert!(taken.iter().any(|c| c.kind == "test.long"));
        assert!(
            !jobs::heartbeat(crm, &j, json!({"step": 2}))
                .await
                .expect("heartbeat")
        );
        assert_eq!(row().await.payload, json!({"step": 1}));
    }
);

fn clock_now(crm: &crm_core::Crm) -> chrono::DateTime<chrono::Utc> {
    crm.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_enqueue_once() {
    let (srv, _clock) = server(Backend::Sqlite).await;
    let crm = &srv.app.crm;
    for _ in 0..3 {
        let j = crm_core::jobs::NewJob::new(Some(srv.tenant), "test.touch", json!({}), crm.now())
            .key("same-key");
        crm_core::jobs::enqueue(&crm.db, crm.now(), j)
            .await
            .expect("enqueue");
    }
    let n = crm_core::entity::job::Entity::find()
        .filter(crm_core::entity::job::Column::IdempotencyKey.eq("same-key"))
        .count(&crm.db)
        .await
        .expect("count");
    assert_eq!(n, 1);
}

both!(
    workflows_see_sensitive_fields_masked,
    async |srv: TestServer, _clock: Arc<ManualClock>| {
        srv.ok(
            "mutation { defineCustomField(input: {entity: \"contact\", key: \"nationalId\", kind: TEXT, sensitive: true}) { key } }",
            json!({}),
        )
        .await;
        let owner = srv.user("Rita Rep", "SALES", None).await;
        let wf = json!({"name": "Check ID", "trigger": {"type": "event", "events": ["contact.created"]},
            "conditions": [{"field": "customFields.nationalId", "op": "isNull", "value": false}],
            "steps": [{"type": "createTask", "title": "Verify {{firstName}}: {{customFields.nationalId}}", "assignee": "owner", "dueInMinutes": 60}]});
        srv.ok(
            "mutation($i: WorkflowInput!) { createWorkflow(input: $i) { id } }",
            json!({"i": wf}),
        )
        .await;
        srv.ok(
            "mutation($o: ID!) { createContact(input: {firstName: \"Li\", ownerId: $o, customFields: {nationalId: \"110101199003077777\"}}) { id } }",
            json!({"o": owner}),
        )
        .await;
        srv.drain().await;
        let tasks = srv.tasks_of(&owner).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        // A task every rep can read shows the mask, not the value (nor its
        // sealed form).
        assert_eq!(tasks[0]["title"], "Verify Li: ********");
    }
);
