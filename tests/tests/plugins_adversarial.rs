//! Hostile plugins in a live server, on SQLite and PostgreSQL: each evil
//! fixture (endless loop, memory bomb, runaway recursion, panic, oversized
//! output) is installed and enabled; its fail-closed validator blocks writes
//! (nothing written); as a fail-open scorer it fails under concurrent
//! ordinary traffic that must all succeed; every failure is recorded with its
//! code; after 5 consecutive failures the plugin is suspended for the tenant
//! (trials, checks and score previews, do not count);
//! and the server stays healthy.

use crm_tests::server::{TestServer, error_code};
use crm_tests::wasm::{component_b64, workspace_root};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fixture(id: &str) -> String {
    let path = workspace_root()
        .join("tests/fixtures/plugins")
        .join(id)
        .join("plugin.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The fixture's manifest without its validate function: a pure scorer.
fn scorer_only(toml: &str) -> String {
    let start = toml
        .find("[[functions]]\nname = \"evil-validate\"")
        .expect("the fixture has a validate function");
    let end = toml[start..]
        .find("on-failure = \"fail-closed\"\n")
        .map(|e| start + e + "on-failure = \"fail-closed\"\n".len())
        .expect("fail-closed validator");
    let out = format!("{}{}", &toml[..start], &toml[end..]);
    out.replacen("version = \"0.1.0\"", "version = \"0.1.1\"", 1)
}

const INSTALL: &str = "mutation($m: String!, $c: String!) { installPlugin(manifest: $m, component: $c) { id status } }";
const UPGRADE: &str = "mutation($m: String!, $c: String!) { upgradePlugin(manifest: $m, component: $c) { id version functions { name kind } } }";
const ENABLE: &str =
    "mutation($id: String!, $cfg: JSON) { enablePlugin(id: $id, config: $cfg) { id status } }";
const CREATE: &str = "mutation($i: ContactInput!) { createContact(input: $i) { id firstName scores { plugin value } } }";
const LIST: &str = "{ contacts(first: 20) { totalCount edges { node { id firstName } } } }";
const PLUGINS: &str =
    "{ plugins { id version status statusReason stats { runs failures } lastError } }";
const RUNS: &str = "query($p: String, $o: String) { pluginRuns(plugin: $p, outcome: $o, first: 500) { pluginVersion entryPoint records durationUs fuelUsed outcome errorCode error } }";

async fn plugin(srv: &TestServer, id: &str) -> Value {
    let d = srv.ok(PLUGINS, json!({})).await;
    d["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {d}"))
}

async fn runs(srv: &TestServer, id: &str, outcome: Option<&str>) -> Vec<Value> {
    srv.ok(RUNS, json!({"p": id, "o": outcome})).await["pluginRuns"]
        .as_array()
        .expect("runs")
        .clone()
}

async fn contact_count(srv: &TestServer) -> i64 {
    srv.ok("{ contacts(first: 1) { totalCount } }", json!({}))
        .await["contacts"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

async fn healthy(srv: &TestServer) {
    let r = srv
        .http
        .get(format!("http://{}/healthz", srv.addr))
        .send()
        .await
        .expect("healthz request");
    assert!(r.status().is_success(), "healthz: {}", r.status());
}

/// The whole scenario for one evil fixture whose every run fails with `code`.
async fn evil_scenario(
    srv: TestServer,
    id: &'static str,
    code: &'static str,
    cfg: Value,
    toml: String,
) {
    let started = Instant::now();
    let comp = component_b64(id).await;
    let r = srv
        .ok(INSTALL, json!({"m": toml, "c": comp.as_str()}))
        .await;
    assert_eq!(r["installPlugin"]["id"], id);
    let e = srv.ok(ENABLE, json!({"id": id, "cfg": cfg})).await;
    assert_eq!(e["enablePlugin"]["status"], "ACTIVE", "{e}");

    // 1. Its validator is fail-closed: the write fails with PLUGIN_FAILED and nothing is written.
    let t = Instant::now();
    let r = srv
        .gql(CREATE, json!({"i": {"firstName": "Blocked"}}))
        .await;
    let blocked_in = t.elapsed();
    assert_eq!(error_code(&r), "PLUGIN_FAILED", "{r}");
    let ext = &r["errors"][0]["extensions"];
    assert_eq!(ext["plugin"], id, "{r}");
    assert_eq!(ext["reason"], code, "{r}");
    assert!(
        blocked_in < Duration::from_secs(10),
        "a hostile validator took {blocked_in:?}"
    );
    assert_eq!(
        contact_count(&srv).await,
        0,
        "a fail-closed failure writes nothing"
    );
    let failed = runs(&srv, id, Some("failed")).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0]["entryPoint"], "validate[evil-validate]",
        "{failed:?}"
    );
    assert_eq!(failed[0]["errorCode"], code, "{failed:?}");
    assert!(
        failed[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed:?}"
    );
    assert_eq!(
        plugin(&srv, id).await["status"],
        "ACTIVE",
        "one failure does not suspend"
    );

    // 2. As a fail-open scorer only (upgrade without the validator).
    let up = srv
        .ok(
            UPGRADE,
            json!({"m": scorer_only(&toml), "c": comp.as_str()}),
        )
        .await;
    assert_eq!(
        up["upgradePlugin"]["functions"],
        json!([{"name": "evil", "kind": "SCORE"}]),
        "{up}"
    );

    // 3. Ordinary traffic, concurrently, while the scorer fails on each create.
    let srv = Arc::new(srv);
    let mut tasks = vec![];
    const CREATES: usize = 16;
    const READS: usize = 8;
    let t = Instant::now();
    for i in 0..CREATES {
        let srv = srv.clone();
        tasks.push(tokio::spawn(async move {
            let r = srv.gql(CREATE, json!({"i": {"firstName": format!("Load{i:02}"), "email": format!("load{i}@example.com")}})).await;
            assert!(r.get("errors").is_none(), "an ordinary create failed under a hostile scorer: {r}");
            let c = &r["data"]["createContact"];
            assert_eq!(c["firstName"], format!("Load{i:02}"));
            assert_eq!(c["scores"], json!([]), "a failed scorer stores nothing: {c}");
        }));
    }
    for _ in 0..READS {
        let srv = srv.clone();
        tasks.push(tokio::spawn(async move {
            let r = srv.gql(LIST, json!({})).await;
            assert!(r.get("errors").is_none(), "an ordinary read failed: {r}");
            assert!(r["data"]["contacts"]["edges"].as_array().unwrap().len() <= 20);
        }));
    }
    for t in futures::future::join_all(tasks).await {
        t.expect("ordinary request task");
    }
    let load_took = t.elapsed();
    assert_eq!(
        contact_count(&srv).await,
        CREATES as i64,
        "every write committed (fail-open)"
    );
    let d = srv.ok(LIST, json!({})).await;
    assert_eq!(d["contacts"]["edges"].as_array().unwrap().len(), CREATES);

    // 4. Every failure is recorded with the right code, and the plugin is suspended.
    let failed = runs(&srv, id, Some("failed")).await;
    let scores: Vec<&Value> = failed
        .iter()
        .filter(|r| r["entryPoint"] == "score[evil]")
        .collect();
    assert!(
        scores.len() >= 4,
        "the scorer's failures are recorded: {failed:?}"
    );
    for r in &scores {
        assert_eq!(r["errorCode"], code, "{r}");
        assert_eq!(r["pluginVersion"], "0.1.1", "{r}");
        assert_eq!(r["records"], 1, "{r}");
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    }
    assert!(runs(&srv, id, Some("ok")).await.is_empty());
    let p = plugin(&srv, id).await;
    assert_eq!(
        p["status"], "SUSPENDED",
        "after 5 consecutive failures: {p}"
    );
    let reason = p["statusReason"].as_str().unwrap_or("");
    assert!(reason.contains(code), "the reason names the error: {p}");
    assert!(
        p["lastError"]
            .as_str()
            .is_some_and(|e| e.contains(code) || !e.is_empty()),
        "{p}"
    );
    assert!(p["stats"]["failures"].as_i64().unwrap() >= 5, "{p}");
    assert_eq!(p["stats"]["failures"], p["stats"]["runs"], "{p}");

    // 5. Suspended: no more calls; writes are fast again, even with the validator back.
    let before = runs(&srv, id, None).await.len();
    let t = Instant::now();
    let r = srv
        .gql(CREATE, json!({"i": {"firstName": "AfterSuspend"}}))
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(
        runs(&srv, id, None).await.len(),
        before,
        "a suspended plugin is not called"
    );
    let r = srv.gql(UPGRADE, json!({"m": toml.replacen("version = \"0.1.0\"", "version = \"0.1.2\"", 1), "c": comp.as_str()})).await;
    assert!(r.get("errors").is_none(), "{r}");
    let r = srv
        .gql(CREATE, json!({"i": {"firstName": "StillSuspended"}}))
        .await;
    assert!(
        r.get("errors").is_none(),
        "a suspended fail-closed validator does not block writes: {r}"
    );
    assert_eq!(runs(&srv, id, None).await.len(), before);
    // Suspension is per tenant: another tenant enabling it is unaffected by ours.
    let other = srv.other_tenant("Other Co").await;
    let r = srv.gql_as(&other, PLUGINS, json!({})).await;
    let op = r["data"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(op["status"], "DISABLED", "{op}");

    // 6. Re-enabling resumes it (and it fails again, recorded).
    let e = srv.ok(ENABLE, json!({"id": id, "cfg": cfg})).await;
    assert_eq!(
        e["enablePlugin"]["status"], "ACTIVE",
        "re-enabling clears the suspension: {e}"
    );

    healthy(&srv).await;
    let r = srv.gql(LIST, json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
    eprintln!(
        "{id}: blocked write {blocked_in:?}, {CREATES}+{READS} concurrent requests {load_took:?}, total {:?}",
        started.elapsed()
    );
}

crm_tests::both_backends!(evil_loop_times_out, |srv: TestServer| async move {
    // With the default fuel budget fuel stops the loop first (FUEL_EXHAUSTED,
    // checked below); a huge budget leaves the wall-clock deadline to stop it.
    let toml = fixture("evil-loop").replace(
        "input = \"{ id }\"\n",
        "input = \"{ id }\"\nfuel-per-record = 1000000000000\n",
    );
    assert_eq!(toml.matches("fuel-per-record").count(), 2);
    evil_scenario(srv, "evil-loop", "TIMEOUT", json!({}), toml).await;
});

crm_tests::both_backends!(
    evil_memory_hits_memory_limit,
    |srv: TestServer| async move {
        evil_scenario(
            srv,
            "evil-memory",
            "MEMORY_LIMIT",
            json!({}),
            fixture("evil-memory"),
        )
        .await;
    }
);

crm_tests::both_backends!(
    evil_recursion_overflows_stack,
    |srv: TestServer| async move {
        evil_scenario(
            srv,
            "evil-recursion",
            "STACK_OVERFLOW",
            json!({}),
            fixture("evil-recursion"),
        )
        .await;
    }
);

crm_tests::both_backends!(evil_panic_traps, |srv: TestServer| async move {
    evil_scenario(srv, "evil-panic", "TRAP", json!({}), fixture("evil-panic")).await;
});

crm_tests::both_backends!(evil_output_too_large, |srv: TestServer| async move {
    evil_scenario(
        srv,
        "evil-output",
        "OUTPUT_TOO_LARGE",
        json!({}),
        fixture("evil-output"),
    )
    .await;
});

crm_tests::both_backends!(
    evil_loop_default_budget_exhausts_fuel,
    |srv: TestServer| async move {
        // With the default fuel budget, fuel (not the 1 s deadline) stops the loop, fast.
        let comp = component_b64("evil-loop").await;
        srv.ok(
            INSTALL,
            json!({"m": fixture("evil-loop"), "c": comp.as_str()}),
        )
        .await;
        srv.ok(ENABLE, json!({"id": "evil-loop", "cfg": {}})).await;
        let t = Instant::now();
        let r = srv
            .gql(CREATE, json!({"i": {"firstName": "Blocked"}}))
            .await;
        assert_eq!(error_code(&r), "PLUGIN_FAILED", "{r}");
        assert_eq!(
            r["errors"][0]["extensions"]["reason"], "FUEL_EXHAUSTED",
            "{r}"
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert_eq!(contact_count(&srv).await, 0);
        let failed = runs(&srv, "evil-loop", Some("failed")).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["errorCode"], "FUEL_EXHAUSTED");
        assert!(
            failed[0]["fuelUsed"].as_i64().unwrap() >= 10_000_000,
            "{failed:?}"
        );
        healthy(&srv).await;
    }
);

crm_tests::both_backends!(
    trials_of_a_failing_plugin_do_not_suspend_it,
    |srv: TestServer| async move {
        // Records stored before the plugin was enabled.
        for name in ["Li", "Wang"] {
            srv.ok(CREATE, json!({"i": {"firstName": name}})).await;
        }
        let comp = component_b64("evil-panic").await;
        srv.ok(
            INSTALL,
            json!({"m": fixture("evil-panic"), "c": comp.as_str()}),
        )
        .await;
        srv.ok(ENABLE, json!({"id": "evil-panic", "cfg": {}})).await;
        // More trials than the failures that suspend a plugin (5): each
        // reports the trap, is a recorded run, and leaves it ACTIVE.
        for _ in 0..3 {
            let p = srv
                .ok(
                    "{ previewScores(plugin: \"evil-panic\", entity: \"contact\") { records failed failure } }",
                    json!({}),
                )
                .await;
            let p = &p["previewScores"];
            assert_eq!(
                (p["records"].clone(), p["failed"].clone()),
                (json!(0), json!(2)),
                "{p}"
            );
            assert!(
                p["failure"].as_str().is_some_and(|f| f.starts_with("TRAP")),
                "{p}"
            );
            let c = srv
                .ok(
                    "mutation { checkRecords(plugin: \"evil-panic\", entity: \"contact\") { records failed findings { outcome message } } }",
                    json!({}),
                )
                .await;
            let c = &c["checkRecords"];
            assert_eq!(c["failed"], 2, "{c}");
            assert_eq!(c["findings"][0]["outcome"], "FAILED", "{c}");
        }
        let failed = runs(&srv, "evil-panic", Some("failed")).await;
        assert_eq!(failed.len(), 6, "{failed:?}");
        assert!(
            failed.iter().all(|r| r["errorCode"] == "TRAP"),
            "{failed:?}"
        );
        let p = plugin(&srv, "evil-panic").await;
        assert_eq!(p["status"], "ACTIVE", "trials do not suspend: {p}");
        assert_eq!(p["statusReason"], Value::Null, "{p}");
        // Its own work still counts: a write its fail-closed validator
        // fails is one failure towards suspension.
        let r = srv.gql(CREATE, json!({"i": {"firstName": "Zhao"}})).await;
        assert_eq!(error_code(&r), "PLUGIN_FAILED", "{r}");
        srv.app.plugins.flush_runs().await;
        let consecutive =
            crm_core::plugin_store::tenant_plugin(&srv.app.crm, srv.tenant, "evil-panic")
                .await
                .expect("read")
                .expect("enabled")
                .consecutive_failures;
        assert_eq!(consecutive, 1, "only the write counted");
        healthy(&srv).await;
    }
);
