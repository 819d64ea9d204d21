//! `crm plugin new` end to end, as sdk/README tells a partner: scaffold a
//! plugin, run its own tests with plain `cargo test`, build it for
//! `wasm32-wasip2`, install and enable it, and watch it score live records.

use base64::Engine;
use crm_tests::server::{Backend, TestServer};
use crm_tests::wasm::{cargo_in, target_dir, workspace_root};
use serde_json::{Value, json};
use std::path::Path;

/// `cargo ARGS` in `dir` with the workspace's target directory (the
/// scaffolded crate's dependencies are compiled once, beside ours).
fn cargo(dir: &Path, args: &[&str]) {
    let out = cargo_in(dir)
        .args(args)
        .output()
        .expect("cargo must be runnable from tests");
    assert!(
        out.status.success(),
        "cargo {args:?} in the scaffolded crate failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn acme_score(srv_reply: &Value) -> Value {
    srv_reply["scores"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["plugin"] == "acme-score"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaffolded_plugin_tests_builds_installs_and_scores_live_records() {
    let root = std::env::temp_dir().join(format!("crm-scaffold-e2e-{}", uuid::Uuid::now_v7()));
    let dest = root.join("acme-score");
    let files = crm_host::scaffold::scaffold("acme-score", &dest).expect("scaffold");
    assert!(files.iter().any(|f| f.ends_with("src/lib.rs")), "{files:?}");
    // Our lock file: the same dependency versions as the workspace, so
    // nothing new is resolved or fetched.
    std::fs::copy(workspace_root().join("Cargo.lock"), dest.join("Cargo.lock"))
        .expect("copy Cargo.lock");

    // Its own tests pass unchanged, natively.
    cargo(&dest, &["test", "--quiet"]);
    // It builds as a component.
    cargo(
        &dest,
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
    );
    let manifest = std::fs::read_to_string(dest.join("plugin.toml")).expect("plugin.toml");
    let wasm = std::fs::read(target_dir().join("wasm32-wasip2/release/acme_score.wasm"))
        .expect("the built component");

    let srv = TestServer::start(Backend::Sqlite).await;
    let installed = srv
        .ok(
            "mutation($m: String!, $c: String!) { installPlugin(manifest: $m, component: $c) { id version contract } }",
            json!({"m": manifest, "c": base64::engine::general_purpose::STANDARD.encode(&wasm)}),
        )
        .await;
    assert_eq!(
        installed["installPlugin"]["id"], "acme-score",
        "{installed}"
    );
    assert_eq!(
        installed["installPlugin"]["contract"], "0.3.0",
        "{installed}"
    );
    let enabled = srv
        .ok(
            "mutation { enablePlugin(id: \"acme-score\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(enabled["enablePlugin"]["status"], "ACTIVE", "{enabled}");

    // A new contact is scored on write: nothing engages it yet.
    let scores = "scores { plugin name value grade reasons }";
    let created = srv
        .ok(
            &format!("mutation {{ createContact(input: {{firstName: \"Ann\", lastName: \"Lee\"}}) {{ id {scores} }} }}"),
            json!({}),
        )
        .await;
    let contact = &created["createContact"];
    let s = acme_score(contact);
    assert_eq!(s["name"], "engagement", "{created}");
    assert_eq!(s["value"], 0, "{created}");
    assert_eq!(s["grade"], "C", "{created}");
    assert_eq!(
        s["reasons"],
        json!(["no recent activity and no open deals"]),
        "{created}"
    );

    // An activity today, then a rescore: the plugin sees the live record.
    srv.ok(
        "mutation($c: ID!) { createActivity(input: {kind: CALL, subject: \"intro\", contactId: $c}) { id } }",
        json!({"c": contact["id"]}),
    )
    .await;
    let rescored = srv
        .ok(
            "mutation { rescore(plugin: \"acme-score\") { scored failedBatches } }",
            json!({}),
        )
        .await;
    assert_eq!(rescored["rescore"]["scored"], 1, "{rescored}");
    let read = srv
        .ok(
            &format!("query($id: ID!) {{ contact(id: $id) {{ {scores} }} }}"),
            json!({"id": contact["id"]}),
        )
        .await;
    let s = acme_score(&read["contact"]);
    assert_eq!(s["value"], 40, "{read}");
    assert_eq!(
        s["reasons"],
        json!(["last activity 0 days ago (+40)"]),
        "{read}"
    );

    let _ = std::fs::remove_dir_all(&root);
}
