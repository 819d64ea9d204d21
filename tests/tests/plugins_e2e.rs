//! Plugins end to end over GraphQL, on SQLite and PostgreSQL: install and
//! enable the shipped `data-quality` and `lead-scoring` plugins, normalise and
//! reject on write, score after write, disable, upgrade, rescore, filter and
//! order by score, run records, checking stored records, previewing scores under
//! another configuration, and the refusals of bad manifests, wrong
//! contract versions, duplicate installs; uninstall.

use base64::Engine;
use crm_tests::server::{TestServer, error_code};
use crm_tests::wasm::{component_b64, manifest_text};
use serde_json::{Value, json};
use std::sync::Arc;

// ---------------------------------------------------------------- helpers

fn shipped(id: &str) -> String {
    manifest_text(&format!("plugins/{id}"))
}

fn fixture(id: &str) -> String {
    manifest_text(&format!("tests/fixtures/plugins/{id}"))
}

const INSTALL: &str = "mutation($m: String!, $c: String!) { installPlugin(manifest: $m, component: $c) { id version contract status functions { name kind } } }";
const UPGRADE: &str = "mutation($m: String!, $c: String!) { upgradePlugin(manifest: $m, component: $c) { id version contract status } }";
const ENABLE: &str = "mutation($id: String!, $cfg: JSON) { enablePlugin(id: $id, config: $cfg) { id status enabled } }";
const CREATE: &str = "mutation($i: ContactInput!) { createContact(input: $i) { id firstName email phone title score(plugin: \"lead-scoring\") { plugin name value grade reasons } scores { plugin name value grade reasons } } }";
const PLUGINS: &str = "{ plugins { id version contract status statusReason stats { runs failures } lastError functions { name kind } } }";
const RUNS: &str = "query($p: String, $o: String) { pluginRuns(plugin: $p, outcome: $o, first: 500) { plugin pluginVersion entryPoint entity records durationUs fuelUsed outcome errorCode error log } }";

async fn install(srv: &TestServer, toml: &str, package: &'static str) -> Value {
    let c = component_b64(package).await;
    srv.gql(INSTALL, json!({"m": toml, "c": c.as_str()})).await
}

async fn install_ok(srv: &TestServer, toml: &str, package: &'static str) -> Value {
    let r = install(srv, toml, package).await;
    assert!(r.get("errors").is_none(), "install {package}: {r}");
    r["data"]["installPlugin"].clone()
}

async fn enable(srv: &TestServer, id: &str, cfg: Value) -> Value {
    srv.ok(ENABLE, json!({"id": id, "cfg": cfg})).await["enablePlugin"].clone()
}

async fn install_and_enable(srv: &TestServer, id: &'static str, cfg: Value) {
    let p = install_ok(srv, &shipped(id), id).await;
    assert_eq!(p["id"], id);
    assert_eq!(p["contract"], "0.1.0");
    let e = enable(srv, id, cfg).await;
    assert_eq!(e["status"], "ACTIVE", "{e}");
    assert_eq!(e["enabled"], true, "{e}");
}

async fn create(srv: &TestServer, input: Value) -> Value {
    srv.gql(CREATE, json!({"i": input})).await
}

async fn create_ok(srv: &TestServer, input: Value) -> Value {
    let r = create(srv, input).await;
    assert!(r.get("errors").is_none(), "createContact: {r}");
    r["data"]["createContact"].clone()
}

async fn contact_count(srv: &TestServer) -> i64 {
    srv.ok("{ contacts(first: 1) { totalCount } }", json!({}))
        .await["contacts"]["totalCount"]
        .as_i64()
        .expect("totalCount")
}

async fn plugin(srv: &TestServer, id: &str) -> Option<Value> {
    let d = srv.ok(PLUGINS, json!({})).await;
    d["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
}

async fn runs(srv: &TestServer, plugin: &str, outcome: Option<&str>) -> Vec<Value> {
    let d = srv.ok(RUNS, json!({"p": plugin, "o": outcome})).await;
    d["pluginRuns"].as_array().expect("pluginRuns").clone()
}

fn assert_lead_score(s: &Value) {
    assert_eq!(s["plugin"], "lead-scoring", "{s}");
    let v = s["value"].as_i64().unwrap_or(-1);
    assert!((0..=100).contains(&v), "score value out of 0..=100: {s}");
    let g = s["grade"].as_str().unwrap_or("");
    assert!(["A", "B", "C"].contains(&g), "grade must be A/B/C: {s}");
    let reasons = s["reasons"].as_array().expect("reasons");
    assert!(
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|r| r.as_str().is_some_and(|r| !r.is_empty())),
        "reasons: {s}"
    );
}

// ------------------------------------------------------------------ tests

crm_tests::both_backends!(
    normalises_and_scores_on_create,
    |srv: TestServer| async move {
        install_and_enable(&srv, "data-quality", json!({})).await;
        install_and_enable(&srv, "lead-scoring", json!({})).await;

        let listed = srv.ok(PLUGINS, json!({})).await;
        let ids: Vec<&str> = listed["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["id"].as_str())
            .collect();
        assert!(
            ids.contains(&"data-quality") && ids.contains(&"lead-scoring"),
            "{listed}"
        );
        let dq = plugin(&srv, "data-quality").await.unwrap();
        assert_eq!(dq["status"], "ACTIVE");
        assert!(
            dq["functions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["kind"] == "VALIDATE"),
            "{dq}"
        );
        let ls = plugin(&srv, "lead-scoring").await.unwrap();
        assert_eq!(ls["functions"], json!([{"name": "lead", "kind": "SCORE"}]));

        let c = create_ok(&srv, json!({"firstName": "Li", "lastName": "Wei", "phone": "138 0013 8000", "email": "li.wei@example.cn", "title": "CEO"})).await;
        assert_eq!(c["phone"], "+8613800138000", "{c}");
        assert_eq!(c["email"], "li.wei@example.cn", "{c}");
        assert_lead_score(&c["score"]);
        assert!(
            c["score"]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().unwrap().contains("CEO")),
            "the CEO title should be a reason: {c}"
        );
        assert_eq!(c["scores"].as_array().unwrap().len(), 1, "{c}");

        // The stored value is what a later read returns.
        let id = c["id"].as_str().unwrap();
        let again = srv
        .ok("query($id: ID!) { contact(id: $id) { phone score(plugin: \"lead-scoring\") { plugin name value grade reasons } } }", json!({"id": id}))
        .await;
        assert_eq!(again["contact"]["phone"], "+8613800138000");
        assert_eq!(again["contact"]["score"], c["score"]);

        // Both plugins recorded their runs, with fuel.
        let ls_runs = runs(&srv, "lead-scoring", None).await;
        assert_eq!(ls_runs.len(), 1, "{ls_runs:?}");
        let r = &ls_runs[0];
        assert_eq!(r["entryPoint"], "score[lead]");
        assert_eq!(r["entity"], "contact");
        assert_eq!(r["outcome"], "ok");
        assert_eq!(r["records"], 1);
        assert!(r["fuelUsed"].as_i64().unwrap() > 0, "{r}");
        assert!(r["durationUs"].as_i64().unwrap() > 0, "{r}");
        assert!(r["errorCode"].is_null(), "{r}");
        let dq_runs = runs(&srv, "data-quality", None).await;
        assert_eq!(
            dq_runs.len(),
            1,
            "only the contact function runs for a contact: {dq_runs:?}"
        );
        assert_eq!(dq_runs[0]["entryPoint"], "validate[contact]");
        assert_eq!(dq_runs[0]["outcome"], "ok");
        assert!(dq_runs[0]["fuelUsed"].as_i64().unwrap() > 0);
        let ls = plugin(&srv, "lead-scoring").await.unwrap();
        assert_eq!(ls["stats"], json!({"runs": 1, "failures": 0}));
        assert!(ls["lastError"].is_null());
    }
);

crm_tests::both_backends!(
    invalid_input_is_rejected_and_nothing_written,
    |srv: TestServer| async move {
        // data-quality's default `on-invalid` is "reject": the plugin refuses the write.
        assert!(shipped("data-quality").contains("default = \"reject\""));
        install_and_enable(&srv, "data-quality", json!({})).await;
        install_and_enable(&srv, "lead-scoring", json!({})).await;

        let r = create(&srv, json!({"firstName": "Bad", "email": "not-an-email"})).await;
        assert_eq!(error_code(&r), "PLUGIN_REJECTED", "{r}");
        let ext = &r["errors"][0]["extensions"];
        assert_eq!(ext["plugin"], "data-quality", "{r}");
        assert_eq!(ext["field"], "input.email", "{r}");
        assert!(
            r["data"].is_null() || r["data"]["createContact"].is_null(),
            "{r}"
        );

        let r = create(&srv, json!({"firstName": "Bad", "phone": "12"})).await;
        assert_eq!(error_code(&r), "PLUGIN_REJECTED", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "input.phone", "{r}");

        let r = create(
            &srv,
            json!({"firstName": "Bad", "email": "nope@", "phone": "xyz"}),
        )
        .await;
        assert_eq!(error_code(&r), "PLUGIN_REJECTED", "{r}");
        let paths: Vec<&str> = r["errors"][0]["extensions"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["path"].as_str())
            .collect();
        assert!(
            paths.contains(&"input.email") && paths.contains(&"input.phone"),
            "every problem is reported: {r}"
        );

        assert_eq!(
            contact_count(&srv).await,
            0,
            "a rejected write writes nothing"
        );
        assert!(
            runs(&srv, "lead-scoring", None).await.is_empty(),
            "nothing written, nothing scored"
        );
        let rejected = runs(&srv, "data-quality", Some("rejected")).await;
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        // A rejection is not a plugin failure: no suspension after many of them.
        for _ in 0..3 {
            let r = create(&srv, json!({"firstName": "Bad", "email": "still bad"})).await;
            assert_eq!(error_code(&r), "PLUGIN_REJECTED", "{r}");
        }
        assert_eq!(
            plugin(&srv, "data-quality").await.unwrap()["status"],
            "ACTIVE"
        );

        // With `on-invalid = ignore` the value reaches core, whose own check refuses it.
        enable(&srv, "data-quality", json!({"on-invalid": "ignore"})).await;
        let r = create(&srv, json!({"firstName": "Bad", "email": "not-an-email"})).await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "input.email", "{r}");
        assert_eq!(contact_count(&srv).await, 0);

        // With `on-invalid = patch` the field is cleared and the write succeeds.
        enable(&srv, "data-quality", json!({"on-invalid": "patch"})).await;
        let c = create_ok(
            &srv,
            json!({"firstName": "Patched", "email": "not-an-email"}),
        )
        .await;
        assert!(c["email"].is_null(), "{c}");
        assert_eq!(contact_count(&srv).await, 1);

        // A bad config is refused at enable time with its path.
        let r = srv
            .gql(
                ENABLE,
                json!({"id": "data-quality", "cfg": {"on-invalid": "explode"}}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    }
);

crm_tests::both_backends!(disable_stops_scoring, |srv: TestServer| async move {
    install_and_enable(&srv, "lead-scoring", json!({})).await;
    let c1 = create_ok(&srv, json!({"firstName": "Before", "title": "VP Sales"})).await;
    assert_lead_score(&c1["score"]);

    let d = srv
        .ok(
            "mutation { disablePlugin(id: \"lead-scoring\") { id status } }",
            json!({}),
        )
        .await;
    assert_eq!(d["disablePlugin"]["status"], "DISABLED", "{d}");
    let c2 = create_ok(&srv, json!({"firstName": "After", "title": "VP Sales"})).await;
    assert!(
        c2["score"].is_null(),
        "a disabled plugin must not score: {c2}"
    );
    assert_eq!(c2["scores"], json!([]));
    assert_eq!(runs(&srv, "lead-scoring", None).await.len(), 1);
    // Rescore refuses a disabled plugin.
    let r = srv
        .gql(
            "mutation { rescore(plugin: \"lead-scoring\") { records scored } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");

    // Re-enabling scores new writes again.
    enable(&srv, "lead-scoring", json!({})).await;
    let c3 = create_ok(&srv, json!({"firstName": "Again", "title": "VP Sales"})).await;
    assert_lead_score(&c3["score"]);
    // Another tenant never sees the plugin enabled nor its runs.
    let other = srv.other_tenant("Other Co").await;
    let r = srv.gql_as(&other, PLUGINS, json!({})).await;
    let lp = r["data"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "lead-scoring")
        .cloned()
        .expect("installed plugins are server-wide");
    assert_eq!(lp["status"], "DISABLED", "{lp}");
    let r = srv.gql_as(&other, RUNS, json!({"p": "lead-scoring"})).await;
    assert_eq!(r["data"]["pluginRuns"], json!([]), "{r}");
    // Installing, upgrading and uninstalling change a plugin for every
    // tenant: another tenant's admin may not, and nothing changes.
    let comp = component_b64("lead-scoring").await;
    let upgraded =
        shipped("lead-scoring").replacen("version = \"0.1.0\"", "version = \"9.0.0\"", 1);
    for (q, vars) in [
        (UPGRADE, json!({"m": upgraded, "c": comp.as_str()})),
        (
            INSTALL,
            json!({"m": upgraded.replacen("id = \"lead-scoring\"", "id = \"lead-copy\"", 1), "c": comp.as_str()}),
        ),
        (
            "mutation { uninstallPlugin(id: \"lead-scoring\") }",
            json!({}),
        ),
    ] {
        let r = srv.gql_as(&other, q, vars).await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
        let msg = r["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("operator tenant"), "{msg}");
    }
    let lp = plugin(&srv, "lead-scoring").await.expect("still installed");
    assert_eq!(lp["version"], "0.1.0", "{lp}");
    assert!(plugin(&srv, "lead-copy").await.is_none());
});

crm_tests::both_backends!(
    config_patch_changes_only_the_keys_it_names,
    |srv: TestServer| async move {
        const PATCH: &str =
            "mutation($p: JSON) { enablePlugin(id: \"lead-scoring\", configPatch: $p) { config } }";
        install_and_enable(
            &srv,
            "lead-scoring",
            json!({"weight-title": 90, "grade-a": 95}),
        )
        .await;
        let c = create_ok(&srv, json!({"firstName": "A", "title": "CEO"})).await;
        assert_eq!(
            (c["score"]["value"].clone(), c["score"]["grade"].clone()),
            (json!(90), json!("B")),
            "{c}"
        );

        // Back to the default A threshold (70); the title weight stays 90.
        let r = srv.ok(PATCH, json!({"p": {"grade-a": null}})).await;
        assert_eq!(
            r["enablePlugin"]["config"],
            json!({"weight-title": 90}),
            "{r}"
        );
        let c = create_ok(&srv, json!({"firstName": "B", "title": "CEO"})).await;
        assert_eq!(
            (c["score"]["value"].clone(), c["score"]["grade"].clone()),
            (json!(90), json!("A")),
            "{c}"
        );

        // A patch is checked against the schema like a whole configuration.
        let r = srv.gql(PATCH, json!({"p": {"grade-a": "high"}})).await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let r = srv
            .gql(
                "mutation($c: JSON, $p: JSON) { enablePlugin(id: \"lead-scoring\", config: $c, configPatch: $p) { id } }",
                json!({"c": {}, "p": {"grade-a": 60}}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let r = srv.gql(PATCH, json!({"p": [1]})).await;
        assert!(r.get("errors").is_some(), "{r}");
        let p = plugin(&srv, "lead-scoring").await.expect("installed");
        assert_eq!(p["status"], "ACTIVE", "{p}");
    }
);

crm_tests::both_backends!(upgrade_takes_effect, |srv: TestServer| async move {
    install_and_enable(&srv, "lead-scoring", json!({})).await;
    let c = create_ok(&srv, json!({"firstName": "Old", "title": "CEO"})).await;
    assert_eq!(c["score"]["value"], 25, "default title weight: {c}");

    let old = shipped("lead-scoring");
    let weight = "default = 25\ndescription = \"Points for a senior title";
    assert!(old.contains(weight));
    let new = old
        .replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
        .replacen(
            weight,
            "default = 90\ndescription = \"Points for a senior title",
            1,
        );
    let comp = component_b64("lead-scoring").await;
    let up = srv.ok(UPGRADE, json!({"m": new, "c": comp.as_str()})).await;
    assert_eq!(up["upgradePlugin"]["version"], "0.2.0", "{up}");
    assert_eq!(
        plugin(&srv, "lead-scoring").await.unwrap()["version"],
        "0.2.0"
    );
    // The tenant's enablement survives the upgrade.
    assert_eq!(
        plugin(&srv, "lead-scoring").await.unwrap()["status"],
        "ACTIVE"
    );

    let c = create_ok(&srv, json!({"firstName": "New", "title": "CEO"})).await;
    assert_eq!(c["score"]["value"], 90, "the upgraded defaults apply: {c}");
    assert_eq!(c["score"]["grade"], "A", "{c}");
    let rs = runs(&srv, "lead-scoring", None).await;
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0]["pluginVersion"], "0.2.0", "newest first: {rs:?}");
    assert_eq!(rs[1]["pluginVersion"], "0.1.0", "{rs:?}");

    // Upgrading something not installed is NOT_FOUND; installing over it is CONFLICT.
    let echo = component_b64("echo-score").await;
    let r = srv
        .gql(
            UPGRADE,
            json!({"m": fixture("echo-score"), "c": echo.as_str()}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    let r = install(&srv, &new, "lead-scoring").await;
    assert_eq!(error_code(&r), "CONFLICT", "{r}");
});

crm_tests::both_backends!(
    rescore_filter_and_order_by_score,
    |srv: TestServer| async move {
        const N: usize = 120;
        let titles = ["CEO", "Sales Director", "Account Manager", "Intern"];
        // Contacts written before the plugin is enabled have no score.
        let srv = Arc::new(srv);
        let mut tasks = vec![];
        for chunk in (0..N).collect::<Vec<_>>().chunks(N / 6) {
            let srv = srv.clone();
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                for i in chunk {
                    create_ok(
                        &srv,
                        json!({"firstName": format!("C{i:03}"), "title": titles[i % 4]}),
                    )
                    .await;
                }
            }));
        }
        for t in futures::future::join_all(tasks).await {
            t.expect("create task");
        }
        assert_eq!(contact_count(&srv).await, N as i64);

        let r = srv
            .gql(
                "mutation { rescore(plugin: \"lead-scoring\") { records scored } }",
                json!({}),
            )
            .await;
        assert_eq!(
            error_code(&r),
            "BAD_USER_INPUT",
            "not installed or enabled: {r}"
        );

        install_ok(&srv, &shipped("lead-scoring"), "lead-scoring").await;
        // Title weight 90: CEO 90 (A), director 72 (A), manager 45 (B), intern 0 (C).
        enable(&srv, "lead-scoring", json!({"weight-title": 90})).await;
        let scored_q =
            "{ contacts(first: 1, filter: {score: {plugin: \"lead-scoring\"}}) { totalCount } }";
        assert_eq!(
            srv.ok(scored_q, json!({})).await["contacts"]["totalCount"],
            0
        );

        // A score the plugin no longer gives (as after an upgrade that renamed
        // it): the rescore, which scores every record, removes it.
        let first = srv
            .ok(
                "{ contacts(first: 1) { edges { node { id } } } }",
                json!({}),
            )
            .await;
        let first: uuid::Uuid = first["contacts"]["edges"][0]["node"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a contact id");
        let renamed = crm_core::plugin_api::ScoreValue {
            name: "lead-before-upgrade".into(),
            value: 7,
            grade: None,
            reasons: vec![],
        };
        // As the function's own (scorer "lead"), not a score set through setScore.
        let stale = |scorer: Option<&'static str>| crm_core::plugin_store::ScoreWrite {
            tenant: srv.tenant,
            entity: "contact",
            plugin_id: "lead-scoring",
            scorer,
            cause: if scorer.is_some() {
                crm_core::plugin_store::ScoreCause::Rescore
            } else {
                crm_core::plugin_store::ScoreCause::SetScore
            },
        };
        crm_core::plugin_store::store_scores(
            &srv.app.crm,
            stale(Some("lead")),
            &[(first, vec![renamed.clone()])],
        )
        .await
        .expect("store a stale score");
        let names_q =
            "query($id: ID!) { contact(id: $id) { scores(plugin: \"lead-scoring\") { name } } }";
        let names = |d: &Value| -> Vec<String> {
            d["contact"]["scores"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let before = srv.ok(names_q, json!({"id": first})).await;
        assert_eq!(names(&before), ["lead-before-upgrade"], "{before}");

        let rep = srv.ok("mutation { rescore(plugin: \"lead-scoring\") { plugin records scored failedBatches durationMs } }", json!({})).await;
        let rep = &rep["rescore"];
        assert_eq!(rep["plugin"], "lead-scoring");
        assert_eq!(rep["records"], N as i64, "{rep}");
        assert_eq!(rep["scored"], rep["records"], "{rep}");
        assert_eq!(rep["failedBatches"], 0, "{rep}");
        assert!(rep["durationMs"].as_i64().unwrap() >= 0);
        assert_eq!(
            srv.ok(scored_q, json!({})).await["contacts"]["totalCount"],
            N as i64
        );
        let after = srv.ok(names_q, json!({"id": first})).await;
        assert_eq!(names(&after), ["lead"], "{after}");

        let runs_ = runs(&srv, "lead-scoring", Some("ok")).await;
        assert_eq!(runs_.len(), 1, "one batch: {runs_:?}");
        assert_eq!(runs_[0]["records"], N as i64);
        assert!(runs_[0]["fuelUsed"].as_i64().unwrap() > 0);

        // Filter by value and grade.
        let q = "query($f: ContactFilter) { contacts(first: 100, filter: $f) { totalCount edges { node { title score(plugin: \"lead-scoring\") { value grade } } } } }";
        let d = srv
            .ok(
                q,
                json!({"f": {"score": {"plugin": "lead-scoring", "value": {"gte": 50}}}}),
            )
            .await;
        assert_eq!(d["contacts"]["totalCount"], (N / 2) as i64, "{d}");
        for e in d["contacts"]["edges"].as_array().unwrap() {
            assert!(e["node"]["score"]["value"].as_i64().unwrap() >= 50, "{e}");
        }
        let d = srv
            .ok(
                q,
                json!({"f": {"score": {"plugin": "lead-scoring", "grade": "B"}}}),
            )
            .await;
        assert_eq!(d["contacts"]["totalCount"], (N / 4) as i64, "{d}");
        for e in d["contacts"]["edges"].as_array().unwrap() {
            assert_eq!(e["node"]["title"], "Account Manager", "{e}");
            assert_eq!(e["node"]["score"]["value"], 45, "{e}");
        }
        let d = srv.ok(q, json!({"f": {"score": {"plugin": "lead-scoring", "value": {"lt": 1}}, "title": {"eq": "Intern"}}})).await;
        assert_eq!(d["contacts"]["totalCount"], (N / 4) as i64, "{d}");

        // Order by score, both directions.
        let oq = "query($d: SortDirection!) { contacts(first: 50, orderBy: [{field: SCORE, scorePlugin: \"lead-scoring\", direction: $d}]) { edges { node { score(plugin: \"lead-scoring\") { value } } } } }";
        let values = |d: &Value| -> Vec<i64> {
            d["contacts"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["score"]["value"].as_i64().unwrap())
                .collect()
        };
        let desc = values(&srv.ok(oq, json!({"d": "DESC"})).await);
        assert_eq!(desc.len(), 50);
        assert!(desc.windows(2).all(|w| w[0] >= w[1]), "{desc:?}");
        assert_eq!(desc[0], 90);
        assert_eq!(desc[29], 90);
        assert_eq!(desc[30], 72);
        let asc = values(&srv.ok(oq, json!({"d": "ASC"})).await);
        assert!(asc.windows(2).all(|w| w[0] <= w[1]), "{asc:?}");
        assert_eq!(asc[0], 0);
        assert_eq!(asc[30], 45);

        // Filter and order together.
        let d = srv
        .ok(
            "{ contacts(first: 100, filter: {score: {plugin: \"lead-scoring\", value: {gte: 40}}}, orderBy: [{field: SCORE, scorePlugin: \"lead-scoring\", direction: ASC}]) { totalCount edges { node { score(plugin: \"lead-scoring\") { value } } } } }",
            json!({}),
        )
        .await;
        assert_eq!(d["contacts"]["totalCount"], 90);
        let v = values(&d);
        assert_eq!(v.len(), 90);
        assert_eq!((v[0], v[29], v[30], v[89]), (45, 45, 72, 90), "{v:?}");

        // A write replaces the function's answer for its record: a name the
        // function gave it before and not now goes at once, without a
        // rescore. A score the plugin set through setScore (no function)
        // stays, through the write and through a rescore.
        let set = crm_core::plugin_api::ScoreValue {
            name: "manual".into(),
            ..renamed.clone()
        };
        crm_core::plugin_store::store_scores(&srv.app.crm, stale(None), &[(first, vec![set])])
            .await
            .expect("store a set score");
        crm_core::plugin_store::store_scores(
            &srv.app.crm,
            stale(Some("lead")),
            &[(first, vec![renamed])],
        )
        .await
        .expect("store a stale score");
        let now = srv.ok(names_q, json!({"id": first})).await;
        assert_eq!(
            names(&now),
            ["lead", "lead-before-upgrade", "manual"],
            "{now}"
        );
        let updated = srv
            .ok(
                "mutation($id: ID!) { updateContact(id: $id, input: {title: \"CEO\"}) { id } }",
                json!({"id": first}),
            )
            .await;
        assert_eq!(updated["updateContact"]["id"], first.to_string());
        let now = srv.ok(names_q, json!({"id": first})).await;
        assert_eq!(names(&now), ["lead", "manual"], "{now}");
        let score_q = "query($id: ID!) { contact(id: $id) { score(plugin: \"lead-scoring\", name: \"lead\") { value } } }";
        let v = srv.ok(score_q, json!({"id": first})).await;
        assert_eq!(v["contact"]["score"]["value"], 90, "a CEO: {v}");
        srv.ok(
            "mutation { rescore(plugin: \"lead-scoring\") { records } }",
            json!({}),
        )
        .await;
        let now = srv.ok(names_q, json!({"id": first})).await;
        assert_eq!(names(&now), ["lead", "manual"], "{now}");
    }
);

/// `startRescore` queues the rescore as a job and answers at once; the job
/// (run here by draining the queue: no background runner) records its
/// progress and report in its payload.
async fn start_rescore_runs_in_the_background(srv: TestServer) {
    const START: &str =
        "mutation($p: String!) { startRescore(plugin: $p) { id kind status payload } }";
    let r = srv.gql(START, json!({"p": "lead-scoring"})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "not enabled: {r}");

    install_and_enable(&srv, "lead-scoring", json!({})).await;
    for i in 0..25 {
        create_ok(&srv, json!({"firstName": format!("R{i}"), "title": "CEO"})).await;
    }
    let started = srv.ok(START, json!({"p": "lead-scoring"})).await;
    let job = &started["startRescore"];
    assert_eq!(job["kind"], "plugin.rescore", "{job}");
    assert_eq!(job["status"], "queued", "{job}");
    let id = job["id"].as_str().expect("job id").to_owned();
    // Asked again while it is pending: the same job, not a second rescore.
    let again = srv.ok(START, json!({"p": "lead-scoring"})).await;
    assert_eq!(again["startRescore"]["id"], id.as_str(), "{again}");

    assert!(srv.drain().await >= 1);
    let q = "query($id: ID!) { job(id: $id) { status lastError payload } }";
    let done = srv.ok(q, json!({"id": id})).await;
    let done = &done["job"];
    assert_eq!(done["status"], "succeeded", "{done}");
    let payload = &done["payload"];
    assert_eq!(payload["plugin"], "lead-scoring", "{payload}");
    assert_eq!(payload["progress"]["done"], 25, "{payload}");
    assert_eq!(payload["progress"]["total"], 25, "{payload}");
    assert_eq!(payload["report"]["records"], 25, "{payload}");
    assert_eq!(payload["report"]["scored"], 25, "{payload}");
    assert_eq!(payload["report"]["failedBatches"], 0, "{payload}");
    srv.app.plugins.flush_runs().await;
    let batches: Vec<Value> = runs(&srv, "lead-scoring", Some("ok"))
        .await
        .into_iter()
        .filter(|r| r["records"] == 25)
        .collect();
    assert_eq!(batches.len(), 1, "one batch of 25: {batches:?}");

    // Another tenant cannot see the job.
    let other = srv.other_tenant("Other Co").await;
    let r = srv
        .gql_as(
            &other,
            "query($id: ID!) { job(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");

    // Once it is done a new request queues a new rescore; two racing
    // requests queue one.
    let (a, b) = futures::join!(
        srv.ok(START, json!({"p": "lead-scoring"})),
        srv.ok(START, json!({"p": "lead-scoring"}))
    );
    let (a, b) = (&a["startRescore"], &b["startRescore"]);
    assert_eq!(a["id"], b["id"], "{a} {b}");
    assert_ne!(a["id"], id.as_str());
    assert_eq!(a["status"], "queued", "{a}");
}

crm_tests::both_backends!(no_runner start_rescore_runs_in_the_background, super::start_rescore_runs_in_the_background);

crm_tests::both_backends!(
    bad_manifest_lists_every_problem,
    |srv: TestServer| async move {
        let r = install(&srv, &fixture("evil-manifest"), "evil-manifest").await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let fields = r["errors"][0]["extensions"]["fields"]
            .as_array()
            .expect("fields")
            .clone();
        let paths: Vec<String> = fields
            .iter()
            .filter_map(|f| f["path"].as_str().map(str::to_string))
            .collect();
        let mut distinct = paths.clone();
        distinct.sort();
        distinct.dedup();
        assert!(
            distinct.len() >= 5,
            "every mistake must be reported, got {paths:?}: {r}"
        );
        assert!(
            paths.iter().all(|p| p.starts_with("plugin.toml: ")),
            "{paths:?}"
        );
        for needle in ["id", "functions[1].kind", "config.threshold", "config.mode"] {
            assert!(
                paths.iter().any(|p| p.contains(needle)),
                "no problem at {needle}: {paths:?}"
            );
        }
        assert!(
            paths.iter().any(|p| p.contains("on-failure")),
            "on-failure: {paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.contains("entities")),
            "unknown entity: {paths:?}"
        );
        assert_eq!(r["errors"][0]["extensions"]["field"], json!(paths[0]));
        assert!(plugin(&srv, "Evil_Manifest!").await.is_none());
        assert!(
            srv.ok(PLUGINS, json!({})).await["plugins"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // Not TOML at all, and not base64 / not a component.
        let r = install(&srv, "id = [", "echo-score").await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let r = srv
            .gql(
                INSTALL,
                json!({"m": fixture("echo-score"), "c": "!!not base64!!"}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let junk = base64::engine::general_purpose::STANDARD.encode(b"\0asm junk");
        let r = srv
            .gql(INSTALL, json!({"m": fixture("echo-score"), "c": junk}))
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert!(plugin(&srv, "echo-score").await.is_none());
    }
);

crm_tests::both_backends!(wrong_contract_is_refused, |srv: TestServer| async move {
    let r = install(&srv, &fixture("evil-contract"), "evil-contract").await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    let msg = r["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("9.0.0") && msg.contains("0.1.0"),
        "the message must name both contract versions: {msg}"
    );
    assert!(plugin(&srv, "evil-contract").await.is_none());

    // Declaring the component's real contract is refused too: this host doesn't support it.
    let r = install(
        &srv,
        &fixture("evil-contract").replace("contract = \"0.1.0\"", "contract = \"9.0.0\""),
        "evil-contract",
    )
    .await;
    assert!(!error_code(&r).is_empty(), "{r}");
    let msg = r["errors"][0]["message"].as_str().unwrap_or("");
    assert!(msg.contains("9.0.0"), "{msg}");
    assert!(plugin(&srv, "evil-contract").await.is_none());

    // A component whose manifest claims another version than it was built for.
    let r = install(
        &srv,
        &fixture("echo-score").replace("contract = \"0.1.0\"", "contract = \"0.2.0\""),
        "echo-score",
    )
    .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("0.1.0"),
        "{r}"
    );
});

crm_tests::both_backends!(
    duplicate_install_conflicts_and_uninstall_removes,
    |srv: TestServer| async move {
        let p = install_ok(&srv, &fixture("echo-score"), "echo-score").await;
        assert_eq!(p["version"], "0.1.0");
        let r = install(&srv, &fixture("echo-score"), "echo-score").await;
        assert_eq!(error_code(&r), "CONFLICT", "{r}");
        assert_eq!(
            srv.ok(PLUGINS, json!({})).await["plugins"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // Non-admins may not manage plugins.
        let sales = srv.key_with_role("SALES").await;
        let c = component_b64("echo-score").await;
        let r = srv
            .gql_as(
                &sales,
                "mutation($id: String!) { uninstallPlugin(id: $id) }",
                json!({"id": "echo-score"}),
            )
            .await;
        assert!(r.get("errors").is_some(), "{r}");
        let r = srv
            .gql_as(
                &sales,
                UPGRADE,
                json!({"m": fixture("echo-score"), "c": c.as_str()}),
            )
            .await;
        assert!(r.get("errors").is_some(), "{r}");

        enable(&srv, "echo-score", json!({})).await;
        let c = srv.ok("mutation { createContact(input: {firstName: \"E\"}) { id scores { plugin value reasons } } }", json!({})).await;
        assert_eq!(
            c["createContact"]["scores"],
            json!([{"plugin": "echo-score", "value": 42, "reasons": ["echo"]}])
        );

        let u = srv
            .ok(
                "mutation { uninstallPlugin(id: \"echo-score\") }",
                json!({}),
            )
            .await;
        assert_eq!(u["uninstallPlugin"], "echo-score");
        assert!(plugin(&srv, "echo-score").await.is_none());
        // Its scores go with it: nothing can refresh them any more.
        let e = srv
            .ok(
                "query($id: ID!) { contact(id: $id) { scores { plugin } } }",
                json!({"id": c["createContact"]["id"]}),
            )
            .await;
        assert_eq!(e["contact"]["scores"], json!([]), "{e}");
        assert!(
            srv.ok(PLUGINS, json!({})).await["plugins"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let r = srv
            .gql(
                "mutation { uninstallPlugin(id: \"echo-score\") }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
        // Writes go on without it; nothing runs.
        let before = runs(&srv, "echo-score", None).await.len();
        let c = create_ok(&srv, json!({"firstName": "After"})).await;
        assert_eq!(c["scores"], json!([]));
        assert_eq!(runs(&srv, "echo-score", None).await.len(), before);
        // It can be installed again.
        install_ok(&srv, &fixture("echo-score"), "echo-score").await;
    }
);

crm_tests::both_backends!(
    plugins_see_sensitive_values_only_with_pii_read,
    |srv: TestServer| async move {
        use crm_core::entity::audit_log;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        const ID_NUMBER: &str = "110101199003077777";
        const ENABLE_WITH: &str = "mutation($g: [String!]) { enablePlugin(id: \"pii-probe\", grants: $g) { status grants } }";
        const CREATE_SEEN: &str = "mutation($i: ContactInput!) { createContact(input: $i) { id title scores { name reasons } } }";
        srv.ok(
            "mutation { defineCustomField(input: {entity: \"contact\", key: \"nationalId\", kind: TEXT, sensitive: true}) { key } }",
            json!({}),
        )
        .await;
        install_ok(&srv, &fixture("pii-probe"), "pii-probe").await;
        let input = json!({"firstName": "Li", "customFields": {"nationalId": ID_NUMBER}});

        // Enabled without naming grants: everything it asked for but
        // `pii:read`, which is granted by name only.
        let e = srv.ok(ENABLE_WITH, json!({"g": null})).await;
        assert_eq!(e["enablePlugin"]["grants"], json!(["read:contact"]));
        let c = srv.ok(CREATE_SEEN, json!({"i": input})).await["createContact"].clone();
        // The validator saw the candidate masked (its patch is the title) ...
        assert_eq!(c["title"], r#"{"nationalId":"********"}"#, "{c}");
        // ... and so did the scorer, reading the stored record.
        assert_eq!(
            c["scores"][0]["reasons"],
            json!([r#"{"nationalId":"********"}"#]),
            "{c}"
        );
        let plugin_reads = || async {
            audit_log::Entity::find()
                .filter(audit_log::Column::TenantId.eq(srv.tenant))
                .filter(audit_log::Column::Action.eq("pii_read"))
                .filter(audit_log::Column::ActorKind.eq("plugin"))
                .all(&srv.app.crm.db)
                .await
                .expect("audit log")
        };
        assert!(plugin_reads().await.is_empty());

        // Granted `pii:read`: it sees the value, and its read is audited.
        srv.ok(ENABLE_WITH, json!({"g": ["read:contact", "pii:read"]}))
            .await;
        let c = srv.ok(CREATE_SEEN, json!({"i": input})).await["createContact"].clone();
        let shown = format!(r#"{{"nationalId":"{ID_NUMBER}"}}"#);
        assert_eq!(c["title"], shown.as_str(), "{c}");
        assert_eq!(c["scores"][0]["reasons"], json!([shown]), "{c}");
        let reads = plugin_reads().await;
        assert!(!reads.is_empty());
        assert!(
            reads.iter().all(|r| r.record_id.map(|i| i.to_string())
                == c["id"].as_str().map(str::to_string)
                && r.changes["plugin"] == "pii-probe"
                && r.changes["fields"] == json!(["nationalId"])),
            "{reads:?}"
        );
    }
);

const CHECK: &str = "mutation($p: String!, $e: String!, $ids: [ID!], $cp: JSON, $apply: Boolean! = false) { checkRecords(plugin: $p, entity: $e, ids: $ids, configPatch: $cp, apply: $apply) { plugin entity apply records passed patched rejected failed applied findings { id outcome applied message changes { path from to } errors { path code message } } } }";

async fn tags_of(srv: &TestServer, id: &Value) -> Value {
    srv.ok(
        "query($id: ID!) { contact(id: $id) { tags } }",
        json!({"id": id}),
    )
    .await["contact"]["tags"]
        .clone()
}

crm_tests::both_backends!(
    check_records_cleans_what_was_stored_before,
    |srv: TestServer| async move {
        // Written before data-quality ran: a placeholder e-mail goes in
        // untagged.
        install_ok(&srv, &shipped("data-quality"), "data-quality").await;
        let clean = create_ok(
            &srv,
            json!({"firstName": "Li", "lastName": "Lei", "email": "li.lei@acme.cn"}),
        )
        .await;
        // Two flags: the plugin lists its tags in its own order, the record
        // keeps them sorted, and a check compares them as a set.
        let junk = create_ok(&srv, json!({"firstName": "Wang2", "email": "test@acme.cn"})).await;
        assert_eq!(tags_of(&srv, &junk["id"]).await, json!([]));

        // A dry run of a plugin not yet enabled: its defaults, nothing written.
        let dry = srv
            .ok(CHECK, json!({"p": "data-quality", "e": "contact"}))
            .await["checkRecords"]
            .clone();
        assert_eq!(
            (
                &dry["records"],
                &dry["passed"],
                &dry["patched"],
                &dry["rejected"],
                &dry["failed"],
                &dry["applied"]
            ),
            (
                &json!(2),
                &json!(1),
                &json!(1),
                &json!(0),
                &json!(0),
                &json!(0)
            ),
            "{dry}"
        );
        let f = &dry["findings"][0];
        assert_eq!(f["id"], junk["id"], "{dry}");
        assert_eq!(f["outcome"], "PATCH");
        assert_eq!(f["applied"], false);
        assert_eq!(
            f["changes"],
            json!([{"path": "tags", "from": [], "to": ["dq:junk-email", "dq:name-digits"]}]),
            "{dry}"
        );
        assert_eq!(
            tags_of(&srv, &junk["id"]).await,
            json!([]),
            "a dry run writes nothing"
        );
        assert!(
            !runs(&srv, "data-quality", Some("ok")).await.is_empty(),
            "the check's calls are recorded runs"
        );

        // A configuration tried before saving it: reject instead of tag.
        let tried = srv
            .ok(
                CHECK,
                json!({"p": "data-quality", "e": "contact", "cp": {"flag-mode": "reject"}}),
            )
            .await["checkRecords"]
            .clone();
        assert_eq!(
            (&tried["rejected"], &tried["patched"]),
            (&json!(1), &json!(0)),
            "{tried}"
        );
        let codes: Vec<(&Value, &Value)> = tried["findings"][0]["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| (&e["path"], &e["code"]))
            .collect();
        assert_eq!(
            codes,
            [
                (&json!("firstName"), &json!("NAME_DIGITS")),
                (&json!("email"), &json!("JUNK_EMAIL"))
            ],
            "{tried}"
        );

        // Only these records.
        let one = srv
            .ok(
                CHECK,
                json!({"p": "data-quality", "e": "contact", "ids": [clean["id"]]}),
            )
            .await["checkRecords"]
            .clone();
        assert_eq!(
            (&one["records"], &one["passed"]),
            (&json!(1), &json!(1)),
            "{one}"
        );

        // Refusals: applying a plugin not enabled, or with a configuration
        // not saved; an entity it does not validate; a caller not admin.
        let r = srv
            .gql(
                CHECK,
                json!({"p": "data-quality", "e": "contact", "apply": true}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        enable(&srv, "data-quality", json!({})).await;
        let r = srv
            .gql(
                CHECK,
                json!({"p": "data-quality", "e": "contact", "apply": true, "cp": {"flag-mode": "reject"}}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "configPatch", "{r}");
        let r = srv
            .gql(CHECK, json!({"p": "data-quality", "e": "task"}))
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let r = srv
            .gql(CHECK, json!({"p": "no-such-plugin", "e": "contact"}))
            .await;
        assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
        let sales = srv.key_with_role("SALES").await;
        let r = srv
            .gql_as(
                &sales,
                CHECK,
                json!({"p": "data-quality", "e": "contact", "apply": true}),
            )
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
        assert_eq!(tags_of(&srv, &junk["id"]).await, json!([]));

        // Applied: the patch is an ordinary update of the record.
        let applied = srv
            .ok(
                CHECK,
                json!({"p": "data-quality", "e": "contact", "apply": true}),
            )
            .await["checkRecords"]
            .clone();
        assert_eq!(
            (&applied["patched"], &applied["applied"]),
            (&json!(1), &json!(1)),
            "{applied}"
        );
        assert_eq!(applied["findings"][0]["applied"], true, "{applied}");
        assert_eq!(
            tags_of(&srv, &junk["id"]).await,
            json!(["dq:junk-email", "dq:name-digits"])
        );
        let audit = srv
            .ok(
                "query($id: ID!) { auditLog(recordId: $id, action: \"updated\") { totalCount edges { node { actorKind } } } }",
                json!({"id": junk["id"]}),
            )
            .await;
        assert_eq!(
            audit["auditLog"]["totalCount"], 1,
            "the update is audited: {audit}"
        );

        // Clean now: nothing left to change.
        let again = srv
            .ok(CHECK, json!({"p": "data-quality", "e": "contact"}))
            .await["checkRecords"]
            .clone();
        assert_eq!(
            (&again["passed"], &again["patched"]),
            (&json!(2), &json!(0)),
            "{again}"
        );
        assert_eq!(again["findings"], json!([]));
    }
);

/// `startCheckRecords` checks its arguments at once, queues the check as a
/// job acting as the calling key, and the job (run here by draining the
/// queue) records its progress and report; a key revoked before the job
/// runs stops it.
async fn start_check_records_runs_in_the_background(srv: TestServer) {
    const START: &str = "mutation($p: String!, $e: String!, $cp: JSON, $apply: Boolean! = false) { startCheckRecords(plugin: $p, entity: $e, configPatch: $cp, apply: $apply) { id kind status payload } }";
    const JOB: &str = "query($id: ID!) { job(id: $id) { status lastError payload } }";
    install_ok(&srv, &shipped("data-quality"), "data-quality").await;
    let junk = create_ok(&srv, json!({"firstName": "Zhao", "email": "test@acme.cn"})).await;
    for i in 0..5 {
        create_ok(
            &srv,
            json!({"firstName": format!("Clean{}", ["A", "B", "C", "D", "E"][i]), "email": format!("c{i}@acme.cn")}),
        )
        .await;
    }
    // Argument errors come at once, not from the job.
    let r = srv
        .gql(
            START,
            json!({"p": "data-quality", "e": "contact", "apply": true}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "not enabled: {r}");
    let r = srv
        .gql(START, json!({"p": "lead-scoring", "e": "contact"}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");

    enable(&srv, "data-quality", json!({})).await;
    let admin = srv.key_with_role("ADMIN").await;
    let started = srv
        .gql_as(
            &admin,
            START,
            json!({"p": "data-quality", "e": "contact", "apply": true}),
        )
        .await;
    let job = &started["data"]["startCheckRecords"];
    assert_eq!(job["kind"], "plugin.check", "{started}");
    assert_eq!(job["status"], "queued", "{job}");
    let id = job["id"].as_str().expect("job id").to_owned();
    assert_eq!(
        tags_of(&srv, &junk["id"]).await,
        json!([]),
        "queued, not run"
    );

    assert!(srv.drain().await >= 1);
    let done = srv.ok(JOB, json!({"id": id})).await["job"].clone();
    assert_eq!(done["status"], "succeeded", "{done}");
    let payload = &done["payload"];
    assert_eq!(
        payload["progress"],
        json!({"done": 6, "total": 6}),
        "{payload}"
    );
    let report = &payload["report"];
    assert_eq!(
        (
            &report["records"],
            &report["passed"],
            &report["patched"],
            &report["applied"]
        ),
        (&json!(6), &json!(5), &json!(1), &json!(1)),
        "{report}"
    );
    assert_eq!(report["findings"][0]["id"], junk["id"], "{report}");
    assert_eq!(
        report["findings"][0]["changes"][0]["path"], "tags",
        "{report}"
    );
    assert_eq!(tags_of(&srv, &junk["id"]).await, json!(["dq:junk-email"]));

    // A key revoked between queueing and running: the job does not act.
    srv.ok(
        "mutation { disablePlugin(id: \"data-quality\") { id } }",
        json!({}),
    )
    .await;
    let other = create_ok(&srv, json!({"firstName": "Qian", "email": "asdf@acme.cn"})).await;
    enable(&srv, "data-quality", json!({})).await;
    let started = srv
        .gql_as(
            &admin,
            START,
            json!({"p": "data-quality", "e": "contact", "apply": true}),
        )
        .await;
    let id = started["data"]["startCheckRecords"]["id"]
        .as_str()
        .expect("job id")
        .to_owned();
    let keys = srv.ok("{ apiKeys { id role revokedAt } }", json!({})).await;
    let newest_admin = keys["apiKeys"]
        .as_array()
        .expect("apiKeys")
        .iter()
        .filter(|k| k["role"] == "ADMIN")
        .filter_map(|k| k["id"].as_str())
        .max()
        .expect("an admin key")
        .to_owned();
    srv.ok(
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }",
        json!({"id": newest_admin}),
    )
    .await;
    srv.drain().await;
    let failed = srv.ok(JOB, json!({"id": id})).await["job"].clone();
    assert_ne!(failed["status"], "succeeded", "{failed}");
    assert!(
        failed["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("revoked")),
        "{failed}"
    );
    assert_eq!(tags_of(&srv, &other["id"]).await, json!([]));
}

crm_tests::both_backends!(no_runner start_check_records_runs_in_the_background, super::start_check_records_runs_in_the_background);

const PREVIEW: &str = "query($p: String!, $e: String! = \"contact\", $ids: [ID!], $cp: JSON) { previewScores(plugin: $p, entity: $e, ids: $ids, configPatch: $cp) { plugin entity records failed failure scores { name changedValue changedGrade stored { records mean grades { grade count } } preview { records mean grades { grade count } } moves { from to count } } changes { id name from { value grade reasons } to { value grade reasons } } } }";

/// Each contact's `lead-scoring` score as (id, value, grade).
async fn lead_scores(srv: &TestServer) -> Vec<(String, i64, String)> {
    let d = srv
        .ok(
            "{ contacts(first: 100) { edges { node { id score(plugin: \"lead-scoring\") { value grade } } } } }",
            json!({}),
        )
        .await;
    let mut out: Vec<(String, i64, String)> = d["contacts"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["id"].as_str().unwrap_or_default().to_string(),
                n["score"]["value"].as_i64().unwrap_or(-1),
                n["score"]["grade"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A summary's grades as (grade, count).
fn grade_counts(summary: &Value) -> Vec<(String, i64)> {
    summary["grades"]
        .as_array()
        .expect("grades")
        .iter()
        .map(|g| {
            (
                g["grade"].as_str().unwrap_or("-").to_string(),
                g["count"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

crm_tests::both_backends!(
    preview_scores_shows_what_a_configuration_would_change,
    |srv: TestServer| async move {
        install_and_enable(&srv, "lead-scoring", json!({})).await;
        for (first, title) in [
            ("Wang", "CEO"),
            ("Li", "Director of Sales"),
            ("Zhao", "Sales Manager"),
            ("Chen", "Engineer"),
            ("Sun", "VP Marketing"),
        ] {
            create_ok(&srv, json!({"firstName": first, "title": title})).await;
        }
        let before = lead_scores(&srv).await;
        assert_eq!(before.len(), 5);

        // The saved configuration previews as what is stored.
        let runs_before = runs(&srv, "lead-scoring", None).await.len();
        let same = srv.ok(PREVIEW, json!({"p": "lead-scoring"})).await["previewScores"].clone();
        // Its call is a recorded run.
        let recorded = runs(&srv, "lead-scoring", None).await;
        assert_eq!(recorded.len(), runs_before + 1);
        assert_eq!(
            (
                recorded[0]["entryPoint"].clone(),
                recorded[0]["records"].clone(),
                recorded[0]["outcome"].clone()
            ),
            (json!("score[lead]"), json!(5), json!("ok")),
            "{recorded:?}"
        );
        assert_eq!(
            (same["records"].clone(), same["failed"].clone()),
            (json!(5), json!(0)),
            "{same}"
        );
        let lead = &same["scores"][0];
        assert_eq!(lead["name"], "lead", "{same}");
        assert_eq!(
            (lead["changedValue"].clone(), lead["changedGrade"].clone()),
            (json!(0), json!(0)),
            "{same}"
        );
        assert_eq!(lead["stored"], lead["preview"], "{same}");
        assert_eq!(lead["moves"], json!([]));
        assert_eq!(same["changes"], json!([]));

        // Higher title weight and lower thresholds: tried, not saved.
        let patch = json!({"weight-title": 60, "grade-a": 45, "grade-b": 20});
        let p = srv
            .ok(PREVIEW, json!({"p": "lead-scoring", "cp": patch}))
            .await["previewScores"]
            .clone();
        assert_eq!(p["records"], 5, "{p}");
        let lead = p["scores"][0].clone();
        assert_eq!(lead_scores(&srv).await, before, "a preview writes nothing");
        let stored_grades = grade_counts(&lead["stored"]);
        assert_eq!(stored_grades.iter().map(|g| g.1).sum::<i64>(), 5);

        // What the preview says is what saving the configuration and
        // rescoring then stores.
        enable(&srv, "lead-scoring", patch.clone()).await;
        srv.ok(
            "mutation { rescore(plugin: \"lead-scoring\") { scored } }",
            json!({}),
        )
        .await;
        let after = lead_scores(&srv).await;
        let mut counts = std::collections::BTreeMap::<String, i64>::new();
        for (_, _, g) in &after {
            *counts.entry(g.clone()).or_default() += 1;
        }
        assert_eq!(
            grade_counts(&lead["preview"]),
            counts.into_iter().collect::<Vec<_>>(),
            "{p}"
        );
        let mean = after.iter().map(|a| a.1).sum::<i64>() as f64 / 5.0;
        assert_eq!(lead["preview"]["mean"].as_f64(), Some(mean), "{p}");
        let moved: Vec<_> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.2 != a.2)
            .collect();
        assert!(
            moved.len() >= 2,
            "the patch must move grades: {before:?} {after:?}"
        );
        assert_eq!(lead["changedGrade"], moved.len() as i64, "{p}");
        let changed = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.1 != a.1)
            .count();
        assert_eq!(lead["changedValue"], changed as i64, "{p}");
        let moves_total: i64 = lead["moves"]
            .as_array()
            .expect("moves")
            .iter()
            .map(|m| m["count"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(moves_total, moved.len() as i64, "{p}");
        // Each listed change is the record's score before and after.
        let changes = p["changes"].as_array().expect("changes");
        let listed = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.1 != a.1 || b.2 != a.2)
            .count();
        assert_eq!(changes.len(), listed, "{p}");
        for c in changes {
            let id = c["id"].as_str().unwrap_or_default();
            let b = before.iter().find(|b| b.0 == id).expect("before");
            let a = after.iter().find(|a| a.0 == id).expect("after");
            assert_eq!(
                (c["from"]["value"].as_i64(), c["from"]["grade"].as_str()),
                (Some(b.1), Some(b.2.as_str())),
                "{c}"
            );
            assert_eq!(
                (c["to"]["value"].as_i64(), c["to"]["grade"].as_str()),
                (Some(a.1), Some(a.2.as_str())),
                "{c}"
            );
            assert!(
                !c["to"]["reasons"].as_array().expect("reasons").is_empty(),
                "{c}"
            );
        }
        // Grade changes come first.
        let first_same_grade = changes
            .iter()
            .position(|c| c["from"]["grade"] == c["to"]["grade"])
            .unwrap_or(changes.len());
        assert!(
            changes[first_same_grade..]
                .iter()
                .all(|c| c["from"]["grade"] == c["to"]["grade"]),
            "{p}"
        );

        // Only some records.
        let one = &after[0].0;
        let p = srv
            .ok(
                PREVIEW,
                json!({"p": "lead-scoring", "ids": [one], "cp": {"grade-a": 1}}),
            )
            .await["previewScores"]
            .clone();
        assert_eq!(p["records"], 1, "{p}");
        assert_eq!(p["scores"][0]["preview"]["records"], 1, "{p}");

        // A plugin not enabled is tried with its defaults: every record
        // would gain its score.
        install_ok(&srv, &fixture("echo-score"), "echo-score").await;
        let p = srv.ok(PREVIEW, json!({"p": "echo-score"})).await["previewScores"].clone();
        let echo = &p["scores"][0];
        assert_eq!(echo["stored"]["records"], 0, "{p}");
        assert_eq!(echo["preview"]["records"], 5, "{p}");
        assert_eq!(echo["changedValue"], 5, "{p}");
        assert!(
            p["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .all(|c| c["from"].is_null() && c["to"]["value"] == 42),
            "{p}"
        );

        // Refusals.
        install_ok(&srv, &shipped("data-quality"), "data-quality").await;
        let r = srv.gql(PREVIEW, json!({"p": "data-quality"})).await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "entity", "{r}");
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("checkRecords"),
            "{r}"
        );
        let r = srv
            .gql(PREVIEW, json!({"p": "lead-scoring", "e": "invoice"}))
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "entity", "{r}");
        let r = srv
            .gql(
                PREVIEW,
                json!({"p": "lead-scoring", "cp": {"grade-a": "high"}}),
            )
            .await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "configPatch", "{r}");
        let r = srv.gql(PREVIEW, json!({"p": "no-such-plugin"})).await;
        assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
        let many: Vec<String> = (0..1001)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let r = srv
            .gql(PREVIEW, json!({"p": "lead-scoring", "ids": many}))
            .await;
        assert_eq!(error_code(&r), "LIMIT_EXCEEDED", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "ids", "{r}");
        let sales = srv.key_with_role("SALES").await;
        let r = srv
            .gql_as(&sales, PREVIEW, json!({"p": "lead-scoring"}))
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
    }
);

/// The `contact.grade_changed` events of the tenant, oldest first, as
/// (record, from, to, cause).
async fn grade_events(srv: &TestServer) -> Vec<(String, Value, Value, String)> {
    use crm_core::entity::event;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    event::Entity::find()
        .filter(event::Column::TenantId.eq(srv.tenant))
        .filter(event::Column::Kind.eq("contact.grade_changed"))
        .order_by_asc(event::Column::Seq)
        .all(&srv.app.crm.db)
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            assert_eq!(e.entity, "contact");
            assert_eq!(e.payload["plugin"], "lead-scoring", "{}", e.payload);
            assert_eq!(e.payload["name"], "lead", "{}", e.payload);
            (
                e.record_id.map(|i| i.to_string()).unwrap_or_default(),
                e.payload["from"].clone(),
                e.payload["to"].clone(),
                e.payload["cause"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

crm_tests::both_backends!(
    no_runner grade_changes_are_events_workflows_act_on,
    |srv: TestServer| async move {
        // Lower thresholds so a title decides the grade: senior A, manager B.
        install_and_enable(&srv, "lead-scoring", json!({"grade-a": 25, "grade-b": 10})).await;
        let rep = srv.user("Rita Rep", "SALES", None).await;
        let wf = json!({"name": "Hot lead", "trigger": {"type": "event", "events": ["contact.grade_changed"]},
            "conditions": [{"field": "event.payload.to", "op": "eq", "value": "A"}],
            "steps": [{"type": "createTask", "title": "Call {{firstName}}: now an A lead", "assignee": "owner"}]});
        srv.ok(
            "mutation($i: WorkflowInput!) { createWorkflow(input: $i) { id } }",
            json!({"i": wf}),
        )
        .await;

        // Created and scored: its first grade is a change from none.
        let c = create_ok(
            &srv,
            json!({"firstName": "Zhao", "title": "Sales Manager", "ownerId": rep}),
        )
        .await;
        let id = c["id"].as_str().expect("id").to_string();
        assert_eq!(c["score"]["grade"], "B", "{c}");
        assert_eq!(
            grade_events(&srv).await,
            [(id.clone(), Value::Null, json!("B"), "created".to_string())]
        );
        // A write that keeps the grade emits nothing.
        srv.ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {lastName: \"Lei\"}) { id } }",
            json!({"id": id}),
        )
        .await;
        assert_eq!(grade_events(&srv).await.len(), 1);
        srv.drain().await;
        assert!(srv.tasks_of(&rep).await.is_empty(), "B is not A");

        // Promoted: B -> A, and the workflow acts on it once.
        srv.ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {title: \"CEO\"}) { id } }",
            json!({"id": id}),
        )
        .await;
        let events = grade_events(&srv).await;
        assert_eq!(
            events[1..],
            [(id.clone(), json!("B"), json!("A"), "updated".to_string())]
        );
        srv.drain().await;
        let tasks = srv.tasks_of(&rep).await;
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0]["title"], "Call Zhao: now an A lead");
        assert_eq!(tasks[0]["recordId"], id.as_str());

        // A rescore re-grades in bulk: no event per record, one for the run.
        enable(&srv, "lead-scoring", json!({"grade-a": 90, "grade-b": 10})).await;
        srv.ok(
            "mutation { rescore(plugin: \"lead-scoring\") { scored } }",
            json!({}),
        )
        .await;
        let c = srv
            .ok("query($id: ID!) { contact(id: $id) { score(plugin: \"lead-scoring\") { grade } } }", json!({"id": id}))
            .await;
        assert_eq!(c["contact"]["score"]["grade"], "B", "{c}");
        assert_eq!(grade_events(&srv).await.len(), 2);
        {
            use crm_core::entity::event;
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            let rescored = event::Entity::find()
                .filter(event::Column::TenantId.eq(srv.tenant))
                .filter(event::Column::Kind.eq("contact.rescored"))
                .all(&srv.app.crm.db)
                .await
                .expect("events");
            assert_eq!(rescored.len(), 1, "{rescored:?}");
            assert_eq!(
                rescored[0].payload,
                json!({"plugin": "lead-scoring", "records": 1, "failedBatches": 0})
            );
            assert_eq!((rescored[0].entity.as_str(), rescored[0].record_id), ("contact", None));
        }

        // A handler's setScore is a change like any other.
        crm_core::plugin_store::store_scores(
            &srv.app.crm,
            crm_core::plugin_store::ScoreWrite {
                tenant: srv.tenant,
                entity: "contact",
                plugin_id: "lead-scoring",
                scorer: None,
                cause: crm_core::plugin_store::ScoreCause::SetScore,
            },
            &[(
                id.parse().expect("uuid"),
                vec![crm_core::plugin_api::ScoreValue {
                    name: "lead".into(),
                    value: 95,
                    grade: Some("A".into()),
                    reasons: vec!["set by hand".into()],
                }],
            )],
        )
        .await
        .expect("setScore");
        assert_eq!(
            grade_events(&srv).await[2..],
            [(id.clone(), json!("B"), json!("A"), "setScore".to_string())]
        );
        srv.drain().await;
        assert_eq!(srv.tasks_of(&rep).await.len(), 2, "the workflow acts again");
    }
);
