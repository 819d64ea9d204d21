//! Handlers of contract 0.2.0, end to end: the `handler-probe` fixture is
//! installed and enabled over GraphQL with grants; a committed event goes
//! through the job queue to its on-event handler, which reads, writes, stores
//! and emits through the host API as the plugin's own principal; a schedule
//! fires; actions run through `runPluginAction`; a write without its grant is
//! refused and recorded with the run; 0.1.0 plugins keep working beside it;
//! a manifest declaring handlers under contract 0.1.0 is refused with its
//! path; a plugin whose handlers run to their deadline holds one lane of the
//! server's own runner while a workflow runs beside it, its jobs one after
//! the other. Then the runtime alone, with a fake host: function names, no host
//! API in functions, grants checked before the host, deadlines, and the
//! cost of a handler call.

use base64::Engine;
use crm_core::entity::{audit_log, event, task};
use crm_host::plugin::{
    Grants, HandlerContext, HostApi, HostError, HttpRequest, HttpResponse, LoadedPlugin, Manifest,
    PluginRuntime, RuntimeConfig, codes,
};
use crm_tests::server::{TestServer, error_code};
use crm_tests::wasm::{build_component, workspace_root};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

const PROBE: &str = "handler-probe";
const HTTP_PROBE: &str = "http-probe";
/// The longest a queued handler may take to show its effect (the queue is
/// driven by the test and by the server's own runner).
const WAIT: Duration = Duration::from_secs(10);

fn manifest_text(dir: &str) -> String {
    let path = workspace_root().join(dir).join("plugin.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn fixture_manifest(id: &str) -> String {
    manifest_text(&format!("tests/fixtures/plugins/{id}"))
}

/// Components by package name.
type Components = HashMap<&'static str, Arc<Vec<u8>>>;

/// A fixture's component bytes, built once per process.
fn component(package: &'static str) -> Arc<Vec<u8>> {
    static CACHE: Mutex<Option<Components>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(c) = cache.get(package) {
        return c.clone();
    }
    let path = build_component(package);
    let bytes = Arc::new(
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    );
    cache.insert(package, bytes.clone());
    bytes
}

async fn component_b64(package: &'static str) -> String {
    let bytes = tokio::task::spawn_blocking(move || component(package))
        .await
        .expect("build task");
    base64::engine::general_purpose::STANDARD.encode(bytes.as_slice())
}

const INSTALL: &str = "mutation($m: String!, $c: String!) { installPlugin(manifest: $m, component: $c) { id version contract status } }";
const ENABLE: &str = "mutation($id: String!, $g: [String!]) { enablePlugin(id: $id, grants: $g) { id status enabled grants } }";
const RUNS: &str = "query($p: String) { pluginRuns(plugin: $p, first: 500) { entryPoint entity records durationUs fuelUsed outcome errorCode error log } }";
const ACTION: &str = "mutation($p: String!, $a: String!, $i: JSON) { runPluginAction(plugin: $p, action: $a, input: $i) { plugin action output } }";

async fn install(srv: &TestServer, toml: &str, package: &'static str) -> Value {
    srv.gql(
        INSTALL,
        json!({"m": toml, "c": component_b64(package).await}),
    )
    .await
}

async fn install_and_enable(
    srv: &TestServer,
    package: &'static str,
    grants: Option<Vec<&str>>,
) -> Value {
    let r = install(srv, &fixture_manifest(package), package).await;
    assert!(r.get("errors").is_none(), "install {package}: {r}");
    let e = srv.ok(ENABLE, json!({"id": package, "g": grants})).await["enablePlugin"].clone();
    assert_eq!(e["status"], "ACTIVE", "{e}");
    e
}

async fn runs(srv: &TestServer, entry_point: &str) -> Vec<Value> {
    let d = srv.ok(RUNS, json!({"p": PROBE})).await;
    d["pluginRuns"]
        .as_array()
        .expect("pluginRuns")
        .iter()
        .filter(|r| r["entryPoint"] == entry_point)
        .cloned()
        .collect()
}

async fn action(srv: &TestServer, name: &str, input: Value) -> Value {
    srv.gql(ACTION, json!({"p": PROBE, "a": name, "i": input}))
        .await
}

/// One pass of the queue: dispatch committed events, run due jobs.
async fn drive(srv: &TestServer) {
    let crm = &srv.app.crm;
    crm_core::automation::dispatch_once(crm, 100)
        .await
        .expect("dispatch");
    crm_core::automation::work_once(crm, "test", chrono::Duration::seconds(30), 50)
        .await
        .expect("work");
}

/// Drive the queue until `$check` (an `Option`) is `Some`, at most [`WAIT`].
macro_rules! eventually {
    ($srv:expr, $what:expr, $check:expr) => {{
        let started = Instant::now();
        loop {
            drive($srv).await;
            if let Some(found) = $check {
                break found;
            }
            assert!(
                started.elapsed() < WAIT,
                "{} did not happen within {WAIT:?}",
                $what
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

async fn events_of(srv: &TestServer, kind: &str) -> Vec<event::Model> {
    event::Entity::find()
        .filter(event::Column::TenantId.eq(srv.tenant))
        .filter(event::Column::Kind.eq(kind))
        .all(&srv.app.crm.db)
        .await
        .expect("events")
}

async fn tasks_of(srv: &TestServer, record: uuid::Uuid) -> Vec<task::Model> {
    task::Entity::find()
        .filter(task::Column::TenantId.eq(srv.tenant))
        .filter(task::Column::RecordId.eq(record))
        .all(&srv.app.crm.db)
        .await
        .expect("tasks")
}

async fn create_contact(srv: &TestServer, first_name: &str) -> uuid::Uuid {
    let d = srv
        .ok(
            "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
            json!({"i": {"firstName": first_name}}),
        )
        .await;
    uuid::Uuid::parse_str(d["createContact"]["id"].as_str().expect("id")).expect("uuid")
}

// ------------------------------------------------------------------ end to end

crm_tests::both_backends!(
    handlers_run_from_the_queue_as_the_plugin,
    |srv: TestServer| async move {
        // Granted more than it asks for (write:contact): it gets the intersection.
        let e = install_and_enable(
            &srv,
            PROBE,
            Some(vec![
                "read:contact",
                "read:task",
                "write:task",
                "kv",
                "emit",
                "write:contact",
            ]),
        )
        .await;
        assert_eq!(e["enabled"], true, "{e}");
        let listed = srv.ok("{ plugins { id capabilities } }", json!({})).await;
        let probe = listed["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == PROBE)
            .cloned()
            .expect("listed");
        assert_eq!(
            probe["capabilities"],
            json!([
                "read:contact",
                "read:task",
                "read:deal",
                "write:task",
                "kv",
                "emit"
            ]),
            "what it asks for, write and kv and emit included"
        );

        // A committed contact.created reaches on-contact through the queue.
        let contact = create_contact(&srv, "Ada").await;
        let task = eventually!(
            &srv,
            "the probe's task",
            tasks_of(&srv, contact).await.into_iter().next()
        );
        assert_eq!(task.title, "probe");
        assert_eq!(task.record_entity.as_deref(), Some("contact"));
        // Written by the plugin's own principal.
        let audit = audit_log::Entity::find()
            .filter(audit_log::Column::RecordId.eq(task.id))
            .all(&srv.app.crm.db)
            .await
            .expect("audit");
        assert!(
            audit
                .iter()
                .any(|a| a.actor_kind == "plugin" && a.entity == "task"),
            "{audit:?}"
        );

        let probed = eventually!(
            &srv,
            "the probed event",
            events_of(&srv, "plugin.handler-probe.probed")
                .await
                .into_iter()
                .next()
        );
        assert_eq!(probed.entity, "plugin");
        assert_eq!(probed.payload["contactId"], contact.to_string());
        assert_eq!(probed.payload["taskId"], task.id.to_string());
        assert_eq!(
            probed.payload["firstName"], "Ada",
            "the query ran with read:contact"
        );
        assert_eq!(probed.payload["handler"], "on-contact");

        let on_event = runs(&srv, "on-event[on-contact]").await;
        assert_eq!(
            on_event.len(),
            1,
            "one run per (event, handler): {on_event:?}"
        );
        let run = &on_event[0];
        assert_eq!(run["outcome"], "ok", "{run}");
        assert_eq!(run["entity"], "contact");
        assert!(run["durationUs"].as_i64().unwrap_or(0) > 0, "{run}");
        eprintln!(
            "on-event[on-contact] (query + createTask + kv + emit): {} µs",
            run["durationUs"]
        );

        // Actions answer through runPluginAction; kv persisted across runs.
        let r = action(&srv, "echo", json!({"hello": "world", "n": 1})).await;
        assert!(r.get("errors").is_none(), "{r}");
        let out = &r["data"]["runPluginAction"]["output"];
        assert_eq!(out["hello"], "world", "{r}");
        assert_eq!(out["n"], 1, "{r}");
        assert_eq!(out["kvCount"], 1, "{r}");
        assert_eq!(out["config"], json!({}), "{r}");

        // A write it was not granted is refused, and the refusal is recorded with the run.
        let r = action(&srv, "forbidden-write", json!({"contactId": contact})).await;
        assert!(r.get("errors").is_none(), "{r}");
        let out = &r["data"]["runPluginAction"]["output"];
        assert_eq!(out["code"], "FORBIDDEN", "{r}");
        assert_eq!(
            out["message"], "plugin handler-probe lacks grant write:contact",
            "{r}"
        );
        let name = srv
            .ok(
                "query($id: ID!) { contact(id: $id) { firstName } }",
                json!({"id": contact}),
            )
            .await;
        assert_eq!(name["contact"]["firstName"], "Ada");
        let refused = runs(&srv, "action[forbidden-write]").await;
        assert_eq!(refused.len(), 1, "{refused:?}");
        let log = refused[0]["log"].as_str().unwrap_or("");
        assert!(
            log.contains(
                "[host] mutate refused: FORBIDDEN: plugin handler-probe lacks grant write:contact"
            ),
            "the run log records the refusal: {log}"
        );

        // Misuse of the host API gets precise codes.
        let r = action(&srv, "misuse", json!(null)).await;
        let out = &r["data"]["runPluginAction"]["output"];
        assert_eq!(
            out,
            &json!({"queryWithMutation": "BAD_REQUEST", "mutateWithQuery": "BAD_REQUEST", "badVariables": "BAD_REQUEST", "badKind": "BAD_REQUEST", "readOk": "OK"}),
            "{r}"
        );

        // Undeclared actions fail without a run, naming what exists.
        let r = action(&srv, "nope", json!({})).await;
        assert_eq!(error_code(&r), "PLUGIN_FAILED", "{r}");
        assert_eq!(
            r["errors"][0]["extensions"]["reason"], "UNKNOWN_ACTION",
            "{r}"
        );
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("echo"),
            "{r}"
        );

        // The schedule fires from the scheduler.
        crm_core::automation::schedule_once(&srv.app.crm)
            .await
            .expect("schedule");
        let tick = eventually!(
            &srv,
            "the tick event",
            events_of(&srv, "plugin.handler-probe.tick")
                .await
                .into_iter()
                .next()
        );
        assert_eq!(tick.payload["schedule"], "tick");
        assert!(!runs(&srv, "on-schedule[tick]").await.is_empty());

        // A second contact: one more task, and the count in kv moves on.
        let second = create_contact(&srv, "Grace").await;
        eventually!(
            &srv,
            "the second task",
            tasks_of(&srv, second).await.into_iter().next()
        );
        let r = action(&srv, "echo", json!({})).await;
        assert_eq!(r["data"]["runPluginAction"]["output"]["kvCount"], 2, "{r}");
        // Each (event, handler) ran once: one task per contact, whoever drove the queue.
        drive(&srv).await;
        assert_eq!(tasks_of(&srv, contact).await.len(), 1);
        assert_eq!(runs(&srv, "on-event[on-contact]").await.len(), 2);
    }
);

crm_tests::both_backends!(
    older_plugins_keep_working_and_old_contracts_cannot_declare_handlers,
    |srv: TestServer| async move {
        // A 0.1.0 plugin beside a 0.2.0 one: it still loads and scores.
        let echo = install(&srv, &fixture_manifest("echo-score"), "echo-score").await;
        assert!(echo.get("errors").is_none(), "{echo}");
        assert_eq!(echo["data"]["installPlugin"]["contract"], "0.1.0");
        srv.ok(ENABLE, json!({"id": "echo-score"})).await;
        install_and_enable(&srv, PROBE, None).await;
        let d = srv
        .ok("mutation { createContact(input: {firstName: \"Old\"}) { id scores { plugin name value reasons } } }", json!({}))
        .await;
        assert_eq!(
            d["createContact"]["scores"],
            json!([{"plugin": "echo-score", "name": "echo", "value": 42, "reasons": ["echo"]}])
        );
        // A 0.1.0 plugin has no actions.
        let r = srv
            .gql(ACTION, json!({"p": "echo-score", "a": "echo", "i": {}}))
            .await;
        assert_eq!(error_code(&r), "PLUGIN_FAILED", "{r}");
        // Without explicit grants the plugin gets everything it asked for.
        let contact = uuid::Uuid::parse_str(d["createContact"]["id"].as_str().unwrap()).unwrap();
        eventually!(
            &srv,
            "the probe's task",
            tasks_of(&srv, contact).await.into_iter().next()
        );

        // Declaring handlers (and what only 0.2.0 can use) under contract 0.1.0 is refused, each at its path.
        let old = fixture_manifest(PROBE).replace("contract = \"0.2.0\"", "contract = \"0.1.0\"");
        let r = install(
            &srv,
            &old.replace("id = \"handler-probe\"", "id = \"handler-probe-old\""),
            PROBE,
        )
        .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let paths: Vec<&str> = r["errors"][0]["extensions"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["path"].as_str())
            .collect();
        for path in [
            "handlers",
            "schedules",
            "actions",
            "capabilities.write",
            "capabilities.kv",
            "capabilities.emit",
        ] {
            assert!(
                paths.contains(&format!("plugin.toml: {path}").as_str()),
                "no error at {path}: {r}"
            );
        }
        let message = r["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains(r#"plugin.toml: handlers: requires contract "0.2.0" or later, but contract = "0.1.0""#), "{message}");
    }
);

// ------------------------------------------------------------ outbound HTTP

/// What the fake ERP received: method, path and query, headers, body.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    uri: String,
    headers: axum::http::HeaderMap,
    body: String,
}

/// A stand-in for a partner's ERP on 127.0.0.1: `/orders` answers 201 with
/// JSON, `/slow` takes 3 s, `/big` sends 5 MiB, `/moved` redirects to
/// `/orders`. Every request is recorded.
async fn fake_erp() -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::response::IntoResponse;
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let record = record.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            record.lock().unwrap().push(Received {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            match parts.uri.path() {
                "/orders" => (
                    axum::http::StatusCode::CREATED,
                    [("content-type", "application/json")],
                    r#"{"id":"SO-1"}"#,
                )
                    .into_response(),
                "/slow" => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late".into_response()
                }
                "/big" => vec![b'x'; 5 << 20].into_response(),
                "/moved" => {
                    (axum::http::StatusCode::FOUND, [("location", "/orders")], "").into_response()
                }
                _ => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

/// The server's `/metrics` text.
async fn metrics_of(srv: &TestServer) -> String {
    reqwest::get(format!("http://{}/metrics", srv.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

async fn fetch(srv: &TestServer, input: Value) -> Value {
    let r = srv
        .gql(ACTION, json!({"p": HTTP_PROBE, "a": "fetch", "i": input}))
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    r["data"]["runPluginAction"]["output"].clone()
}

crm_tests::both_backends!(
    handlers_send_http_to_granted_origins_only,
    |srv: TestServer| async move {
        let (erp, seen) = fake_erp().await;
        let r = install(&srv, &fixture_manifest(HTTP_PROBE), HTTP_PROBE).await;
        assert!(r.get("errors").is_none(), "install: {r}");
        assert_eq!(r["data"]["installPlugin"]["contract"], "0.3.0", "{r}");

        // Enabled without naming grants: outbound HTTP is never implied.
        let e = srv
            .ok(
                "mutation($id: String!, $c: JSON) { enablePlugin(id: $id, config: $c) { status grants capabilities } }",
                json!({"id": HTTP_PROBE, "c": {"url": format!("{erp}/orders")}}),
            )
            .await["enablePlugin"]
            .clone();
        assert_eq!(
            e["capabilities"],
            json!([
                "read:contact",
                "read:deal",
                "kv",
                "emit",
                "http:http://127.0.0.1:*",
                "http:https://erp.example.com"
            ]),
            "{e}"
        );
        assert_eq!(
            e["grants"],
            json!(["read:contact", "read:deal", "kv", "emit"]),
            "{e}"
        );
        let refused = fetch(
            &srv,
            json!({"method": "GET", "url": format!("{erp}/orders")}),
        )
        .await;
        assert_eq!(refused["error"]["code"], "FORBIDDEN", "{refused}");
        assert!(seen.lock().unwrap().is_empty(), "nothing left the CRM");

        // Granted by name, with a secret in the configuration: sealed at
        // rest, masked to API clients, in clear for the plugin.
        const ENABLE_WITH: &str = "mutation($id: String!, $c: JSON, $g: [String!]) { enablePlugin(id: $id, config: $c, grants: $g) { status config } }";
        let grants = json!(["read:contact", "http:http://127.0.0.1:*"]);
        let enabled = srv
            .ok(
                ENABLE_WITH,
                json!({"id": HTTP_PROBE, "c": {"url": format!("{erp}/orders"), "erp-token": "s3cr3t-token"}, "g": grants}),
            )
            .await;
        assert_eq!(
            enabled["enablePlugin"]["config"]["erp-token"], "********",
            "{enabled}"
        );
        let stored = || async {
            crm_core::plugin_store::tenant_plugin(&srv.app.crm, srv.tenant, HTTP_PROBE)
                .await
                .expect("enablement")
                .expect("enabled")
                .config["erp-token"]
                .clone()
        };
        let sealed = stored().await;
        assert!(crm_core::secrets::is_sealed(&sealed), "{sealed}");
        // Writing back what was read keeps the secret.
        srv.ok(
            ENABLE_WITH,
            json!({"id": HTTP_PROBE, "c": {"url": format!("{erp}/orders"), "erp-token": "********"}, "g": grants}),
        )
        .await;
        assert_eq!(stored().await, sealed);
        // Enabling again (resuming) without config or grants keeps both:
        // the by-name http grant and the secret survive.
        let resumed = srv
            .ok(
                "mutation($id: String!) { enablePlugin(id: $id) { grants config } }",
                json!({"id": HTTP_PROBE}),
            )
            .await["enablePlugin"]
            .clone();
        assert_eq!(resumed["grants"], grants, "{resumed}");
        assert_eq!(
            resumed["config"]["url"],
            format!("{erp}/orders"),
            "{resumed}"
        );
        assert_eq!(stored().await, sealed);
        let created = fetch(
            &srv,
            json!({"method": "POST", "url": format!("{erp}/orders?token=s3cret"),
                   "headers": {"content-type": "application/json", "x-api-key": "k1"},
                   "body": "{\"sku\":\"A-1\"}"}),
        )
        .await;
        assert_eq!(created["status"], 201, "{created}");
        assert_eq!(created["body"], r#"{"id":"SO-1"}"#);
        assert!(
            created["headers"]
                .as_array()
                .is_some_and(|h| h.contains(&json!(["content-type", "application/json"]))),
            "{created}"
        );
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "{seen:?}");
            assert_eq!(seen[0].method, "POST");
            assert_eq!(seen[0].uri, "/orders?token=s3cret");
            assert_eq!(seen[0].headers["x-api-key"], "k1");
            assert_eq!(seen[0].body, r#"{"sku":"A-1"}"#);
        }
        // Not granted (asked for, though): refused, nothing sent.
        let erp_denied = fetch(
            &srv,
            json!({"method": "GET", "url": "https://erp.example.com/x"}),
        )
        .await;
        assert_eq!(erp_denied["error"]["code"], "FORBIDDEN", "{erp_denied}");

        // A redirect is an answer, not followed.
        let moved = fetch(
            &srv,
            json!({"method": "GET", "url": format!("{erp}/moved")}),
        )
        .await;
        assert_eq!(moved["status"], 302, "{moved}");
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "the Location was not fetched"
        );

        // Too slow, too big, nobody there: each a host error the plugin sees.
        let slow = fetch(
            &srv,
            json!({"method": "GET", "url": format!("{erp}/slow"), "timeoutMs": 300}),
        )
        .await;
        assert_eq!(slow["error"]["code"], "TIMEOUT", "{slow}");
        let big = fetch(&srv, json!({"method": "GET", "url": format!("{erp}/big")})).await;
        assert_eq!(big["error"]["code"], "LIMIT_EXCEEDED", "{big}");
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let down = fetch(
            &srv,
            json!({"method": "GET", "url": format!("http://127.0.0.1:{closed}/")}),
        )
        .await;
        assert_eq!(down["error"]["code"], "UNAVAILABLE", "{down}");

        // Every request sent is counted for /metrics, by status class or error.
        let metrics = metrics_of(&srv).await;
        for line in [
            r#"crm_plugin_http_requests_total{plugin="http-probe",outcome="2xx"} 1"#,
            r#"crm_plugin_http_requests_total{plugin="http-probe",outcome="3xx"} 1"#,
            r#"crm_plugin_http_requests_total{plugin="http-probe",outcome="TIMEOUT"} 1"#,
            r#"crm_plugin_http_requests_total{plugin="http-probe",outcome="LIMIT_EXCEEDED"} 1"#,
            r#"crm_plugin_http_requests_total{plugin="http-probe",outcome="UNAVAILABLE"} 1"#,
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
        }

        // Every call is in the run's log, without its query string.
        let runs = srv.ok(RUNS, json!({"p": HTTP_PROBE})).await["pluginRuns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let logs: Vec<&str> = runs
            .iter()
            .filter_map(|r| r["log"].as_str())
            .flat_map(str::lines)
            .collect();
        assert!(
            logs.iter()
                .any(|l| l.starts_with(&format!("[http] POST {erp}/orders -> 201 in "))),
            "{logs:?}"
        );
        assert!(
            logs.iter().any(|l| l.contains("/slow -> TIMEOUT after")),
            "{logs:?}"
        );
        assert!(
            logs.iter()
                .any(|l| l.contains("http-fetch refused: FORBIDDEN")),
            "{logs:?}"
        );
        assert!(!logs.iter().any(|l| l.contains("s3cret")), "{logs:?}");

        // A committed event reaches the ERP through the queue, once per
        // event, with the event id as its idempotency key.
        let contact = create_contact(&srv, "Grace").await;
        let forwarded = eventually!(&srv, "the forwarded event", {
            let seen = seen.lock().unwrap();
            seen.iter()
                .find(|r| r.body.contains(&contact.to_string()))
                .cloned()
        });
        let event = events_of(&srv, "contact.created")
            .await
            .into_iter()
            .find(|e| e.record_id == Some(contact))
            .expect("the event");
        assert_eq!(
            forwarded.headers["idempotency-key"],
            event.id.to_string().as_str()
        );
        let body: Value = serde_json::from_str(&forwarded.body).expect("JSON");
        assert_eq!(body["kind"], "contact.created");
        assert_eq!(forwarded.headers["content-type"], "application/json");
        assert_eq!(forwarded.headers["authorization"], "Bearer s3cr3t-token");
    }
);

const WEBHOOK_URL: &str = "mutation($p: String!, $w: String!) { createPluginWebhookUrl(plugin: $p, webhook: $w) { plugin webhook url path } }";

/// Send a request to a webhook path of the test server; status and JSON body.
async fn hook(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let base = srv.url().trim_end_matches("/graphql").to_owned();
    let r = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-erp-signature", "sig-1")
        .body(body)
        .send()
        .await
        .expect("webhook request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

crm_tests::both_backends!(
    webhooks_queue_deliveries_for_the_plugin,
    |srv: TestServer| async move {
        install_and_enable(&srv, HTTP_PROBE, Some(vec!["read:contact", "kv", "emit"])).await;
        let undeclared = srv
            .gql(WEBHOOK_URL, json!({"p": HTTP_PROBE, "w": "nope"}))
            .await;
        assert_eq!(error_code(&undeclared), "BAD_USER_INPUT", "{undeclared}");
        let created = srv
            .ok(WEBHOOK_URL, json!({"p": HTTP_PROBE, "w": "erp-events"}))
            .await["createPluginWebhookUrl"]
            .clone();
        let path = created["path"].as_str().expect("path").to_owned();
        assert!(path.starts_with("/hooks/whk_"), "{created}");
        let base = srv.url().trim_end_matches("/graphql").to_owned();
        assert_eq!(
            created["url"],
            format!("{base}{path}"),
            "the address the request came to"
        );

        // Accepted at once, delivered from the queue with what was sent.
        let body = br#"{"sku":"A-1","stock":7}"#.to_vec();
        let (status, answer, _) = hook(
            &srv,
            reqwest::Method::POST,
            &format!("{path}/stock?source=erp"),
            body.clone(),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["id"].as_str().expect("delivery id").to_owned();
        let key = format!("webhook:{id}");
        let stored = eventually!(&srv, "the delivery", {
            crm_core::plugin_store::kv_get(&srv.app.crm, srv.tenant, HTTP_PROBE, &key)
                .await
                .expect("kv")
        });
        let stored: Value = serde_json::from_str(&stored).expect("JSON");
        assert_eq!(stored["id"], id.as_str());
        assert_eq!(stored["method"], "POST");
        assert_eq!(stored["path"], "/stock");
        assert_eq!(stored["query"], "source=erp");
        assert_eq!(stored["contentType"], "application/json");
        assert_eq!(stored["body"], r#"{"sku":"A-1","stock":7}"#);
        let emitted = events_of(&srv, "plugin.http-probe.webhook_received").await;
        assert_eq!(emitted.len(), 1);

        // Refused before anything is queued.
        let (status, _, allow) = hook(&srv, reqwest::Method::GET, &path, vec![]).await;
        assert_eq!(status, 405);
        assert_eq!(allow["allow"], "POST, PUT, PATCH, DELETE");
        let (status, answer, _) = hook(
            &srv,
            reqwest::Method::POST,
            "/hooks/whk_not-a-real-token",
            vec![],
        )
        .await;
        assert_eq!(status, 404, "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_FOUND");
        let (status, answer, _) = hook(
            &srv,
            reqwest::Method::POST,
            &path,
            vec![b'x'; crm_core::webhook::MAX_BODY + 1],
        )
        .await;
        assert_eq!(status, 413, "{answer}");

        // A failing run is recorded and the delivery stays queued for a retry.
        let (status, answer, _) = hook(
            &srv,
            reqwest::Method::POST,
            &format!("{path}?fail=1"),
            body.clone(),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        let failed = eventually!(&srv, "the failed run", {
            let d = srv.ok(RUNS, json!({"p": HTTP_PROBE})).await;
            d["pluginRuns"].as_array().and_then(|runs| {
                runs.iter()
                    .find(|r| r["entryPoint"] == "on-webhook[erp-events]" && r["outcome"] != "ok")
                    .cloned()
            })
        });
        assert!(
            failed["error"]
                .as_str()
                .unwrap_or_default()
                .contains("ERP_REJECTED"),
            "{failed}"
        );
        // The job is put back (after the run record, which is written apart).
        let job = eventually!(&srv, "the failed delivery's job back in the queue", {
            crm_core::entity::job::Entity::find()
                .filter(crm_core::entity::job::Column::Kind.eq(crm_core::webhook::JOB_KIND))
                .filter(crm_core::entity::job::Column::LastError.is_not_null())
                .filter(crm_core::entity::job::Column::Status.eq(crm_core::jobs::QUEUED))
                .one(&srv.app.crm.db)
                .await
                .expect("jobs")
        });
        assert!(
            job.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("ERP_REJECTED"),
            "{job:?}"
        );
        assert!(job.attempts >= 1, "{job:?}");

        // Rotating the URL retires the old one.
        let rotated = srv
            .ok(WEBHOOK_URL, json!({"p": HTTP_PROBE, "w": "erp-events"}))
            .await["createPluginWebhookUrl"]["path"]
            .as_str()
            .expect("path")
            .to_owned();
        assert_ne!(rotated, path);
        let (status, _, _) = hook(&srv, reqwest::Method::POST, &path, body.clone()).await;
        assert_eq!(status, 404);
        let (status, _, _) = hook(&srv, reqwest::Method::PUT, &rotated, body.clone()).await;
        assert_eq!(status, 202);
        let audit = audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(srv.tenant))
            .filter(audit_log::Column::Action.eq("webhook.rotated"))
            .all(&srv.app.crm.db)
            .await
            .expect("audit");
        assert_eq!(audit.len(), 2, "{audit:?}");

        // A URL takes its rate of requests, here 2 a minute and 2 at once
        // (the bucket shrinks to the new size), then says when to retry.
        srv.app.webhook_limits.set_per_minute(2);
        for _ in 0..2 {
            let (status, _, _) = hook(&srv, reqwest::Method::POST, &rotated, body.clone()).await;
            assert_eq!(status, 202);
        }
        let (status, answer, headers) =
            hook(&srv, reqwest::Method::POST, &rotated, body.clone()).await;
        assert_eq!(status, 429, "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        let retry: u64 = headers["retry-after"]
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=30).contains(&retry), "{retry}");
        srv.app.webhook_limits.set_per_minute(600);

        // A disabled plugin's URL asks the sender to come back later.
        srv.ok(
            "mutation($id: String!) { disablePlugin(id: $id) { status } }",
            json!({"id": HTTP_PROBE}),
        )
        .await;
        let (status, answer, headers) = hook(&srv, reqwest::Method::POST, &rotated, body).await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(headers["retry-after"], "60");

        // Uninstalling forgets the URL: a reinstall does not revive it.
        srv.ok(
            "mutation($id: String!) { uninstallPlugin(id: $id) }",
            json!({"id": HTTP_PROBE}),
        )
        .await;
        install_and_enable(&srv, HTTP_PROBE, Some(vec!["read:contact", "kv", "emit"])).await;
        let (status, _, _) = hook(&srv, reqwest::Method::POST, &rotated, vec![]).await;
        assert_eq!(status, 404);

        let metrics = metrics_of(&srv).await;
        for line in [
            r#"crm_webhook_requests_total{outcome="accepted"} 5"#,
            r#"crm_webhook_requests_total{outcome="refused"} 7"#,
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
        }
    }
);

// ------------------------------------------------------------------ the runtime alone

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime starts"))
}

fn load(package: &'static str) -> Arc<LoadedPlugin> {
    load_in(runtime(), package)
}

fn load_in(rt: &PluginRuntime, package: &'static str) -> Arc<LoadedPlugin> {
    let manifest = Manifest::parse(&fixture_manifest(package)).unwrap_or_else(|e| panic!("{e}"));
    rt.load(&manifest, &component(package))
        .unwrap_or_else(|e| panic!("{package} loads: {e}"))
}

/// A host that keeps kv and events in memory, answers GraphQL with `{}`
/// and outbound HTTP with 200 "ok", recording each request and the timeout
/// it was given.
#[derive(Default)]
struct FakeHost {
    kv: Mutex<HashMap<String, String>>,
    calls: Mutex<Vec<String>>,
    http: Mutex<Vec<(HttpRequest, Duration)>>,
}

impl FakeHost {
    fn called(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }
}

impl HostApi for FakeHost {
    fn query(&self, query: &str, _: &Value) -> Result<Value, HostError> {
        self.called(format!("query {query}"));
        Ok(json!({"contact": {"id": "c1", "firstName": "Fake"}}))
    }
    fn mutate(&self, mutation: &str, _: &Value) -> Result<Value, HostError> {
        self.called(format!("mutate {mutation}"));
        if mutation.contains("updateContact") {
            return Err(HostError::new(
                "FORBIDDEN",
                "forbidden: role plugin may not update contact",
            ));
        }
        Ok(json!({"createTask": {"id": "t1"}}))
    }
    fn kv_get(&self, key: &str) -> Result<Option<String>, HostError> {
        self.called(format!("kv-get {key}"));
        Ok(self.kv.lock().unwrap().get(key).cloned())
    }
    fn kv_set(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.called(format!("kv-set {key}"));
        self.kv.lock().unwrap().insert(key.into(), value.into());
        Ok(())
    }
    fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.lock().unwrap().remove(key);
        Ok(())
    }
    fn config(&self) -> Value {
        json!({"from": "host"})
    }
    fn emit(&self, kind: &str, _: &Value) -> Result<(), HostError> {
        self.called(format!("emit {kind}"));
        Ok(())
    }
    fn http(
        &self,
        request: HttpRequest,
        timeout: Duration,
        _max_body: usize,
    ) -> Result<HttpResponse, HostError> {
        self.http.lock().unwrap().push((request, timeout));
        Ok(HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"ok".to_vec(),
        })
    }
}

fn handler_ctx(plugin: &LoadedPlugin, name: &str, grants: &[&str]) -> HandlerContext {
    let granted: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
    HandlerContext {
        tenant: "0190b6e4-7c1a-7000-8000-000000000001".into(),
        config: json!({}),
        now: "2025-03-01T09:00:00.000Z".into(),
        name: name.into(),
        grants: Grants::new(&plugin.manifest, &granted),
        deadline: None,
    }
}

const ALL: &[&str] = &["*"];

#[test]
fn functions_know_their_name_and_get_no_host_api() {
    let probe = load(PROBE);
    let ctx = crm_host::plugin::CallContext {
        tenant: "t".into(),
        entity: "deal".into(),
        config: json!({}),
        fuel_per_record: None,
    };
    let call = runtime().score(&probe, &ctx, &["{}".to_owned()]);
    let scores = call.result.expect("scores");
    assert_eq!(
        scores[0][0].name, "probe-score",
        "0.2.0 functions are told their manifest name"
    );
    assert_eq!(
        scores[0][0].reasons,
        ["FORBIDDEN: host calls are not allowed in functions (validate/score); use a handler"]
    );
    assert!(
        call.stats
            .log
            .iter()
            .any(|l| l.starts_with("[host] kv-get refused: FORBIDDEN")),
        "{:?}",
        call.stats.log
    );
    let named = runtime().score_function(&probe, "other-name", &ctx, &["{}".to_owned()]);
    assert_eq!(named.result.expect("scores")[0][0].name, "other-name");
}

#[test]
fn handlers_reach_the_host_within_their_grants() {
    let probe = load(PROBE);
    let host = Arc::new(FakeHost::default());
    let event = json!({"id": "e1", "kind": "contact.created", "entity": "contact", "recordId": "c1", "payload": {}, "createdAt": "2025-03-01T09:00:00.000Z"});
    let call = runtime().on_event(
        &probe,
        &handler_ctx(&probe, "on-contact", ALL),
        &event,
        host.clone(),
    );
    call.result.expect("on-event succeeds");
    let calls = host.calls.lock().unwrap().clone();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("mutate") && c.contains("createTask")),
        "{calls:?}"
    );
    assert!(calls.contains(&"emit probed".to_owned()), "{calls:?}");
    assert_eq!(
        host.kv.lock().unwrap().get("seen:c1").map(String::as_str),
        Some("1")
    );
    // Replayed (at least once): the handler's kv marker makes it a no-op.
    let again = runtime().on_event(
        &probe,
        &handler_ctx(&probe, "on-contact", ALL),
        &event,
        host.clone(),
    );
    again.result.expect("replay succeeds");
    assert_eq!(
        host.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.contains("createTask"))
            .count(),
        1
    );

    // Without `kv`, the host is never asked: the runtime refuses first.
    let bare = Arc::new(FakeHost::default());
    let call = runtime().action(
        &probe,
        &handler_ctx(&probe, "echo", &["read:contact"]),
        &json!({}),
        bare.clone(),
    );
    let failure = call.result.expect_err("echo needs kv");
    assert_eq!(failure.code, codes::PLUGIN_ERROR);
    assert!(
        failure
            .message
            .contains("FORBIDDEN: kv-get count: plugin handler-probe lacks grant kv"),
        "{failure}"
    );
    assert!(bare.calls.lock().unwrap().is_empty());
    assert!(
        call.stats.log.iter().any(|l| l.contains("kv-get refused")),
        "{:?}",
        call.stats.log
    );

    // The GraphQL layer's refusal is named as the missing grant.
    let call = runtime().action(
        &probe,
        &handler_ctx(&probe, "forbidden-write", ALL),
        &json!({"contactId": "c1"}),
        host.clone(),
    );
    assert_eq!(
        call.result.expect("answers"),
        json!({"code": "FORBIDDEN", "message": "plugin handler-probe lacks grant write:contact"})
    );
    // config comes from the host.
    let call = runtime().action(&probe, &handler_ctx(&probe, "echo", ALL), &json!(5), host);
    assert_eq!(
        call.result.expect("echo")["config"],
        json!({"from": "host"})
    );
}

#[test]
fn entry_points_must_exist_and_handlers_stop_at_their_deadline() {
    let probe = load(PROBE);
    let host: Arc<dyn HostApi> = Arc::new(FakeHost::default());
    let failure = runtime()
        .action(
            &probe,
            &handler_ctx(&probe, "undeclared", ALL),
            &json!({}),
            host.clone(),
        )
        .result
        .expect_err("undeclared");
    assert_eq!(failure.code, codes::NOT_DECLARED, "{failure}");
    let failure = runtime()
        .on_schedule(&probe, &handler_ctx(&probe, "echo", ALL), host.clone())
        .result
        .expect_err("echo is an action, not a schedule");
    assert_eq!(failure.code, codes::NOT_DECLARED, "{failure}");

    let echo = load("echo-score");
    let failure = runtime()
        .action(
            &echo,
            &handler_ctx(&echo, "echo", ALL),
            &json!({}),
            host.clone(),
        )
        .result
        .expect_err("0.1.0 has no actions");
    assert_eq!(failure.code, codes::UNSUPPORTED, "{failure}");
    assert!(failure.message.contains("crm:plugin@0.1.0"), "{failure}");

    let mut ctx = handler_ctx(&probe, "spin", ALL);
    ctx.deadline = Some(Duration::from_millis(200));
    let started = Instant::now();
    let call = runtime().action(&probe, &ctx, &json!({}), host.clone());
    let failure = call.result.expect_err("spins");
    assert_eq!(failure.code, codes::TIMEOUT, "{failure}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        call.stats.fuel_used > 0,
        "handlers use fuel without running out of it"
    );
    // The runtime serves the next call.
    runtime()
        .action(&probe, &handler_ctx(&probe, "echo", ALL), &json!({}), host)
        .result
        .expect("echo");
}

/// `fetch` action of the http-probe fixture with `input`, through `host`.
fn probe_fetch(
    host: &Arc<FakeHost>,
    grants: &[&str],
    deadline: Option<Duration>,
    input: Value,
) -> Value {
    let probe = load(HTTP_PROBE);
    let mut ctx = handler_ctx(&probe, "fetch", grants);
    ctx.deadline = deadline;
    let call = runtime().action(&probe, &ctx, &input, host.clone());
    call.result.expect("the fetch action answers")
}

#[test]
fn outbound_http_is_checked_before_it_reaches_the_host() {
    let host = Arc::new(FakeHost::default());
    let granted = &["http:http://127.0.0.1:*"];
    let fetch = |grants: &[&str], input: Value| probe_fetch(&host, grants, None, input);

    // Granted origin: reaches the host, as sent.
    let ok = fetch(
        granted,
        json!({"method": "post", "url": "http://127.0.0.1:8080/orders?x=1",
               "headers": {"Authorization": "Bearer t"}, "body": "{}"}),
    );
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["body"], "ok");
    {
        let seen = host.http.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (request, _) = &seen[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.url.as_str(), "http://127.0.0.1:8080/orders?x=1");
        assert_eq!(
            request.headers,
            [("Authorization".to_owned(), "Bearer t".to_owned())]
        );
        assert_eq!(request.body.as_deref(), Some(&b"{}"[..]));
    }

    // Everything else is refused by the runtime: the host is never asked.
    for (grants, input, code, says) in [
        (
            &[][..],
            json!({"method": "GET", "url": "http://127.0.0.1:8080/"}),
            "FORBIDDEN",
            "lacks grant http:http://127.0.0.1:* (which covers http://127.0.0.1:8080); the tenant's operator grants it by name",
        ),
        (
            granted,
            json!({"method": "GET", "url": "https://erp.example.com/"}),
            "FORBIDDEN",
            "lacks grant http:https://erp.example.com",
        ),
        (
            granted,
            json!({"method": "GET", "url": "http://localhost:8080/"}),
            "FORBIDDEN",
            "may not send requests to http://localhost:8080: no origin in [capabilities] http",
        ),
        (
            granted,
            json!({"method": "GET", "url": "http://user:pw@127.0.0.1:8080/"}),
            "BAD_REQUEST",
            "carries credentials",
        ),
        (
            granted,
            json!({"method": "GET", "url": "/relative"}),
            "BAD_REQUEST",
            "not an absolute URL",
        ),
        (
            granted,
            json!({"method": "TRACE", "url": "http://127.0.0.1:8080/"}),
            "BAD_REQUEST",
            "is not one of GET",
        ),
        (
            granted,
            json!({"method": "GET", "url": "http://127.0.0.1:8080/", "headers": {"Host": "erp.example.com"}}),
            "BAD_REQUEST",
            "set by the host",
        ),
        (
            granted,
            json!({"method": "GET", "url": "http://127.0.0.1:8080/", "headers": {"x-a": "line\nbreak"}}),
            "BAD_REQUEST",
            "not a valid header value",
        ),
    ] {
        let answer = fetch(grants, input.clone());
        assert_eq!(answer["error"]["code"], code, "{input}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{input}: {message}");
    }
    assert_eq!(
        host.http.lock().unwrap().len(),
        1,
        "nothing refused reached the host"
    );

    // A body over the limit is refused too.
    let big = "x".repeat(RuntimeConfig::default().http_body_limit + 1);
    let answer = fetch(
        granted,
        json!({"method": "POST", "url": "http://127.0.0.1:8080/", "body": big}),
    );
    assert_eq!(
        answer["error"]["code"], "BAD_REQUEST",
        "{}",
        answer["error"]
    );
    assert_eq!(host.http.lock().unwrap().len(), 1);

    // The host never waits past the handler's deadline, whatever is asked.
    let capped = probe_fetch(
        &host,
        granted,
        Some(Duration::from_millis(800)),
        json!({"method": "GET", "url": "http://127.0.0.1:8080/", "timeoutMs": 60000}),
    );
    assert_eq!(capped["status"], 200, "{capped}");
    let shorter = probe_fetch(
        &host,
        granted,
        None,
        json!({"method": "GET", "url": "http://127.0.0.1:8080/", "timeoutMs": 250}),
    );
    assert_eq!(shorter["status"], 200, "{shorter}");
    let seen = host.http.lock().unwrap();
    assert!(seen[1].1 <= Duration::from_millis(800), "{:?}", seen[1].1);
    assert!(seen[1].1 > Duration::from_millis(100), "{:?}", seen[1].1);
    assert_eq!(seen[2].1, Duration::from_millis(250));
}

#[test]
fn a_run_sends_at_most_its_share_of_requests() {
    let rt = PluginRuntime::new(RuntimeConfig {
        http_requests_per_run: 3,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let probe = load_in(&rt, HTTP_PROBE);
    let host = Arc::new(FakeHost::default());
    let ctx = handler_ctx(&probe, "fetch", &["http:http://127.0.0.1:*"]);
    let looping = json!({"method": "GET", "url": "http://127.0.0.1:8080/", "repeat": 10});
    let answer = rt
        .action(&probe, &ctx, &looping, host.clone())
        .result
        .expect("the action answers");
    assert_eq!(answer["attempt"], 4, "{answer}");
    assert_eq!(answer["error"]["code"], "LIMIT_EXCEEDED", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("CRM_PLUGIN_HTTP_REQUESTS_PER_RUN"),
        "{message}"
    );
    assert_eq!(host.http.lock().unwrap().len(), 3, "three reached the host");
    // The allowance is per run: the next run starts afresh.
    let next = rt
        .action(
            &probe,
            &ctx,
            &json!({"method": "GET", "url": "http://127.0.0.1:8080/", "repeat": 3}),
            host.clone(),
        )
        .result
        .expect("the action answers");
    assert_eq!(next["status"], 200, "{next}");
    assert_eq!(next["attempt"], 3, "{next}");
    assert_eq!(host.http.lock().unwrap().len(), 6);
}

#[test]
fn functions_get_no_outbound_http_and_older_contracts_refuse_it() {
    let probe = load(HTTP_PROBE);
    let ctx = crm_host::plugin::CallContext {
        tenant: "t".into(),
        entity: "deal".into(),
        config: json!({}),
        fuel_per_record: None,
    };
    let call = runtime().score(&probe, &ctx, &["{}".to_owned()]);
    let scores = call.result.expect("scores");
    assert_eq!(
        scores[0][0].reasons,
        ["FORBIDDEN: host calls are not allowed in functions (validate/score); use a handler"]
    );
    assert!(
        call.stats
            .log
            .iter()
            .any(|l| l.starts_with("[host] http-fetch refused: FORBIDDEN")),
        "{:?}",
        call.stats.log
    );

    // A manifest asking for http under contract 0.2.0 is refused at the key.
    let old =
        fixture_manifest(HTTP_PROBE).replace(r#"contract = "0.3.0""#, r#"contract = "0.2.0""#);
    let err = Manifest::parse(&old).expect_err("http needs 0.3.0");
    let issue = err
        .errors
        .iter()
        .find(|i| i.path == "capabilities.http")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        issue
            .message
            .contains(r#"requires contract "0.3.0" or later"#),
        "{issue:?}"
    );
    let bad =
        fixture_manifest(HTTP_PROBE).replace("https://erp.example.com", "erp.example.com/api");
    let err = Manifest::parse(&bad).expect_err("not an origin");
    assert!(
        err.errors.iter().any(|i| i.path == "capabilities.http[1]"
            && i.message.contains("write scheme://host[:port]")),
        "{err}"
    );
}

#[test]
fn handler_call_cost() {
    let probe = load(PROBE);
    let host: Arc<dyn HostApi> = Arc::new(FakeHost::default());
    let ctx = handler_ctx(&probe, "echo", ALL);
    let mut times: Vec<Duration> = (0..60)
        .map(|_| {
            let started = Instant::now();
            runtime()
                .action(&probe, &ctx, &json!({"a": 1}), host.clone())
                .result
                .expect("echo");
            started.elapsed()
        })
        .skip(10)
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    eprintln!(
        "action[echo] with a fake host (instance + call + kv-get + config): median {median:?}, p90 {p90:?}"
    );
    assert!(
        median < Duration::from_millis(50),
        "a handler call should cost about a millisecond: {median:?}"
    );
}

crm_tests::both_backends!(
    a_slow_plugin_does_not_hold_up_other_jobs,
    |srv: TestServer| async move {
        use crm_core::entity::job;
        // The server's own runner works the queue here. The probe's
        // handler gets one second, and spins for a contact named "Spin".
        let toml = fixture_manifest(PROBE).replace("deadline-ms = 5000", "deadline-ms = 1000");
        let r = install(&srv, &toml, PROBE).await;
        assert!(r.get("errors").is_none(), "{r}");
        srv.ok(ENABLE, json!({"id": PROBE, "g": null})).await;
        let wf = json!({"name": "Tag new companies", "trigger": {"type": "event", "events": ["company.created"]},
            "steps": [{"type": "addTag", "tag": "welcomed"}]});
        srv.ok(
            "mutation($i: WorkflowInput!) { createWorkflow(input: $i) { id } }",
            json!({"i": wf}),
        )
        .await;
        // A backlog of slow jobs in one lane: 20 seconds of handler runs.
        for _ in 0..20 {
            srv.ok(
                "mutation { createContact(input: {firstName: \"Spin\"}) { id } }",
                json!({}),
            )
            .await;
        }
        let company = srv
            .ok(
                "mutation { createCompany(input: {name: \"Acme\"}) { id } }",
                json!({}),
            )
            .await["createCompany"]["id"]
            .clone();
        // The workflow runs beside the slow lane, not after it.
        let started = Instant::now();
        loop {
            let c = srv
                .ok(
                    "query($id: ID!) { company(id: $id) { tags } }",
                    json!({"id": company}),
                )
                .await;
            if c["company"]["tags"] == json!(["welcomed"]) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the workflow never ran: {c}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let waiting = job::Entity::find()
            .filter(job::Column::TenantId.eq(srv.tenant))
            .filter(job::Column::Kind.eq("plugin.event"))
            .filter(job::Column::LastError.is_null())
            .filter(job::Column::Status.is_in(["queued", "running"]))
            .all(&srv.app.crm.db)
            .await
            .expect("jobs");
        assert!(
            waiting.len() >= 10,
            "the workflow waited for the slow lane: only {} of its 20 jobs had not run yet",
            waiting.len()
        );
        // The slow lane itself keeps going, one job after the other.
        let started = Instant::now();
        loop {
            let failed = job::Entity::find()
                .filter(job::Column::TenantId.eq(srv.tenant))
                .filter(job::Column::Kind.eq("plugin.event"))
                .filter(job::Column::LastError.is_not_null())
                .all(&srv.app.crm.db)
                .await
                .expect("jobs");
            if failed.len() >= 3 {
                assert!(
                    failed.iter().all(|j| j
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("TIMEOUT"))),
                    "{failed:?}"
                );
                // One after the other: a handler never races itself.
                let mut ends: Vec<_> = failed.iter().map(|j| j.updated_at).collect();
                ends.sort();
                assert!(
                    ends.windows(2)
                        .all(|w| w[1] - w[0] >= chrono::Duration::milliseconds(900)),
                    "the lane's jobs overlapped: {ends:?}"
                );
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the slow lane stalled"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
);
