//! Real `crm serve` processes sharing one database: a job whose worker is
//! killed mid-run completes exactly once after its lease expires; two
//! processes share the queue with each job succeeding once; a subscriber on
//! one process sees events committed through another (PostgreSQL).

use crm_core::entity::{audit_log, job};
use crm_tests::process::{CrmProcess, fresh_database};
use crm_tests::server::Backend;
use futures::{SinkExt, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::time::{Duration, Instant};

async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Queue a `test.touch` job (sleeps `sleep_ms`, then audits a touch) due at `now`.
async fn enqueue_touch(
    crm: &crm_core::Crm,
    tenant: uuid::Uuid,
    key: &str,
    sleep_ms: u64,
    now: chrono::DateTime<chrono::Utc>,
) {
    let j = crm_core::jobs::NewJob::new(
        Some(tenant),
        "test.touch",
        json!({"sleepMs": sleep_ms}),
        now,
    )
    .key(key);
    crm_core::jobs::enqueue(&crm.db, now, j)
        .await
        .expect("enqueue");
}

async fn touches(crm: &crm_core::Crm, job_id: uuid::Uuid) -> u64 {
    audit_log::Entity::find()
        .filter(audit_log::Column::Entity.eq("job"))
        .filter(audit_log::Column::RecordId.eq(job_id))
        .count(&crm.db)
        .await
        .expect("count")
}

async fn killed_worker(backend: Backend) {
    let (url, _dir) = fresh_database(backend).await;
    let crm = crm_core::Crm::connect(&url).await.expect("connect");
    let (tenant, _) = crm_core::tenant::create_tenant(&crm, "Kill", "US")
        .await
        .expect("tenant");
    let mut a = CrmProcess::start(&url, 2).await;
    enqueue_touch(&crm, tenant.id, "slow-one", 4000, chrono::Utc::now()).await;
    let find = async || {
        job::Entity::find()
            .filter(job::Column::IdempotencyKey.eq("slow-one"))
            .one(&crm.db)
            .await
            .expect("find")
            .expect("job")
    };
    wait_for("process A to claim the job", 20, async || {
        find().await.status == "running"
    })
    .await;
    let claimed_by = find().await.locked_by;
    a.kill(); // mid-job: A sleeps inside it
    let b = CrmProcess::start(&url, 2).await;
    wait_for(
        "the job to complete after A's lease expired",
        30,
        async || find().await.status == "succeeded",
    )
    .await;
    let done = find().await;
    assert_eq!(
        done.attempts, 2,
        "one attempt died with A, one succeeded on B"
    );
    assert_ne!(done.locked_by, claimed_by, "B completed it");
    assert_eq!(
        touches(&crm, done.id).await,
        1,
        "its effect happened exactly once"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_job_completes_once_after_restart_sqlite() {
    killed_worker(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_job_completes_once_after_restart_postgres() {
    killed_worker(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_queue_each_job_succeeds_once() {
    let (url, _dir) = fresh_database(Backend::Postgres).await;
    let crm = crm_core::Crm::connect(&url).await.expect("connect");
    let (tenant, _) = crm_core::tenant::create_tenant(&crm, "Share", "US")
        .await
        .expect("tenant");
    let a = CrmProcess::start(&url, 30).await;
    let b = CrmProcess::start(&url, 30).await;
    let now = chrono::Utc::now();
    for i in 0..200 {
        enqueue_touch(&crm, tenant.id, &format!("share-{i}"), 5, now).await;
    }
    let ours = || job::Entity::find().filter(job::Column::IdempotencyKey.starts_with("share-"));
    wait_for("all 200 jobs to succeed", 60, async || {
        ours()
            .filter(job::Column::Status.eq("succeeded"))
            .count(&crm.db)
            .await
            .unwrap_or(0)
            == 200
    })
    .await;
    let jobs = ours().all(&crm.db).await.expect("jobs");
    for j in &jobs {
        assert_eq!(
            touches(&crm, j.id).await,
            1,
            "job {} ran its effect once",
            j.id
        );
        assert_eq!(j.attempts, 1, "job {} was claimed once", j.id);
    }
    let workers: std::collections::HashSet<_> =
        jobs.iter().filter_map(|j| j.locked_by.clone()).collect();
    assert!(workers.len() >= 2, "both processes took work: {workers:?}");
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_on_one_process_sees_events_committed_by_another() {
    let (url, _dir) = fresh_database(Backend::Postgres).await;
    let crm = crm_core::Crm::connect(&url).await.expect("connect");
    let (_, key) = crm_core::tenant::create_tenant(&crm, "Fanout", "US")
        .await
        .expect("tenant");
    let a = CrmProcess::start(&url, 30).await;
    let b = CrmProcess::start(&url, 30).await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/graphql", b.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connect");
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}})
            .to_string(),
    ))
    .await
    .expect("init");
    loop {
        let m = ws.next().await.expect("ack").expect("ws");
        if m.to_text().unwrap_or("").contains("connection_ack") {
            break;
        }
    }
    ws.send(Message::text(json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events(kinds: [\"contact.\"]) { kind payload } }"}}).to_string())).await.expect("subscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/graphql", a.addr))
        .bearer_auth(&key)
        .json(&json!({"query": "mutation { createContact(input: {firstName: \"Cross\", lastName: \"Process\"}) { id } }"}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(r.get("errors").is_none(), "{r}");
    let msg = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let m = ws.next().await.expect("message").expect("ws");
            let t = m.to_text().unwrap_or("").to_string();
            if t.contains("\"next\"") {
                return t;
            }
        }
    })
    .await
    .expect("the event arrived on process B");
    assert!(
        msg.contains("contact.created") && msg.contains("Cross"),
        "{msg}"
    );
    eprintln!("cross-process event latency: {:?}", started.elapsed());
}

/// A command that does its work and exits (`crm plugin list`, `install`,
/// `rescore`, `demo`) runs no job runner: a job it claimed would be cut short
/// by its exit and run again elsewhere after the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_commands_leave_queued_jobs_alone() {
    let (url, dir) = fresh_database(Backend::Sqlite).await;
    let dir = dir.expect("a SQLite database lives in a directory");
    let crm = crm_core::Crm::connect(&url).await.expect("connect");
    let (tenant, _) = crm_core::tenant::create_tenant(&crm, "Cli", "US")
        .await
        .expect("tenant");
    enqueue_touch(&crm, tenant.id, "due-now", 2000, chrono::Utc::now()).await;
    for _ in 0..3 {
        let out = std::process::Command::new(crm_tests::process::crm_binary())
            .current_dir(&dir.0)
            .args(["plugin", "list"])
            .env("CRM_DATABASE_URL", &url)
            .env("CRM_PLUGIN_CACHE", dir.0.join("cache"))
            .env("CRM_LOG", "info")
            .output()
            .expect("crm plugin list runs");
        assert!(out.status.success(), "{out:?}");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(!log.contains("job runner started"), "{log}");
    }
    let job = job::Entity::find()
        .filter(job::Column::IdempotencyKey.eq("due-now"))
        .one(&crm.db)
        .await
        .expect("find")
        .expect("job");
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 0));
}

/// `crm data-key rotate` on a SQLite database: every sensitive value is
/// re-sealed under a new key, which replaces the key file; the old key no
/// longer opens them, the new one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_key_rotation_reseals_every_value() {
    use crm_core::secrets::DataKey;
    let (url, dir) = fresh_database(Backend::Sqlite).await;
    let dir = dir.expect("a SQLite database lives in a directory");
    let crm = crm_core::Crm::connect(&url).await.expect("connect");
    let (tenant, _) = crm_core::tenant::create_tenant(&crm, "Keys", "CN")
        .await
        .expect("tenant");
    let p = crm_core::Principal::system(tenant.id);
    crm_core::custom_field::define(
        &crm,
        &p,
        crm_core::custom_field::NewDefinition {
            entity: "contact".into(),
            key: "nationalId".into(),
            label: String::new(),
            kind: "text".into(),
            options: vec![],
            required: false,
            sensitive: true,
        },
    )
    .await
    .expect("define");
    let mut ids = vec![];
    for (name, number) in [("Li", "110101199003077777"), ("Wang", "310101198502021234")] {
        let c = crm_core::record::create::<crm_core::contact::Contact>(
            &crm,
            &p,
            json!({"firstName": name, "customFields": {"nationalId": number}}),
        )
        .await
        .expect("create");
        ids.push((c.id, number));
    }
    let key_file = dir.0.join("crm.db.key");
    let old = std::fs::read_to_string(&key_file).expect("key file made on first write");

    let out = std::process::Command::new(crm_tests::process::crm_binary())
        .current_dir(&dir.0)
        .args(["data-key", "rotate"])
        .env("CRM_DATABASE_URL", &url)
        .env_remove("CRM_DATA_KEY")
        .output()
        .expect("crm data-key rotate runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("re-sealed 2 values in 2 records"), "{log}");
    let new = std::fs::read_to_string(&key_file).expect("key file");
    assert_ne!(old.trim(), new.trim());

    let with = |hex: &str| crm.clone().with_data_key(DataKey::from_hex(hex));
    for (id, number) in ids {
        let row = crm_core::entity::contact::Entity::find_by_id(id)
            .one(&crm.db)
            .await
            .expect("read")
            .expect("row");
        let mut values = row.custom_fields.clone();
        crm_core::custom_field::open_sealed(
            &with(&new),
            tenant.id,
            "contact",
            &mut values,
            &["nationalId"],
        )
        .expect("the new key opens it");
        assert_eq!(values["nationalId"], number);
        let mut values = row.custom_fields.clone();
        assert!(
            crm_core::custom_field::open_sealed(
                &with(&old),
                tenant.id,
                "contact",
                &mut values,
                &["nationalId"]
            )
            .is_err()
        );
    }
}

/// `crm plugin rescore` and `crm import` are processes that run plugins and
/// exit: every call they made is in `pluginRuns` when they have exited (run
/// records are written off the scoring path, so the commands wait for
/// them), and imported rows are validated and scored like API writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_rescore_and_import_run_plugins_and_record_their_runs() {
    use crm_core::entity::plugin_run;
    let component = crm_tests::wasm::build_component("echo-score");
    assert!(component.exists());
    let (url, dir) = fresh_database(Backend::Sqlite).await;
    let dir = dir.expect("a SQLite database lives in a directory");
    let crm = crm_core::Crm::connect(&url).await.expect("connect");
    let (tenant, key) = crm_core::tenant::create_tenant(&crm, "Cli", "US")
        .await
        .expect("tenant");
    let p = crm_core::Principal::system(tenant.id);
    for i in 0..600 {
        crm_core::record::create::<crm_core::contact::Contact>(
            &crm,
            &p,
            json!({"firstName": format!("C{i}")}),
        )
        .await
        .expect("create");
    }
    let fixture = crm_tests::wasm::workspace_root().join("tests/fixtures/plugins/echo-score");
    let crm_cli = |args: &[&str]| {
        let out = std::process::Command::new(crm_tests::process::crm_binary())
            .current_dir(&dir.0)
            .args(args)
            .env("CRM_DATABASE_URL", &url)
            .env("CRM_PLUGIN_CACHE", dir.0.join("cache"))
            .output()
            .expect("crm runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    crm_cli(&[
        "plugin",
        "install",
        fixture.to_str().expect("utf-8 path"),
        "--enable-key",
        &key,
    ]);
    let out = crm_cli(&["plugin", "rescore", "--key", &key, "echo-score"]);
    assert!(out.contains("600 of 600 records"), "{out}");
    let runs = plugin_run::Entity::find()
        .filter(plugin_run::Column::PluginId.eq("echo-score"))
        .filter(plugin_run::Column::Function.eq("score[echo]"))
        .all(&crm.db)
        .await
        .expect("runs");
    assert_eq!(runs.iter().map(|r| r.records).sum::<i32>(), 600, "{runs:?}");
    assert!(runs.iter().all(|r| r.outcome == "ok"), "{runs:?}");

    // Operators see and switch a plugin's state in a tenant from the CLI.
    let line = |out: &str| -> String {
        out.lines()
            .find(|l| l.starts_with("echo-score\t"))
            .unwrap_or_default()
            .to_owned()
    };
    let listed = line(&crm_cli(&["plugin", "list", "--key", &key]));
    assert!(
        listed.contains(&format!("\tACTIVE\truns {}, failures 0", runs.len())),
        "{listed}"
    );
    assert!(!line(&crm_cli(&["plugin", "list"])).contains("ACTIVE"));
    crm_cli(&["plugin", "disable", "echo-score", "--key", &key]);
    let listed = line(&crm_cli(&["plugin", "list", "--key", &key]));
    assert!(listed.contains("\tDISABLED\t"), "{listed}");
    let out = crm_cli(&["plugin", "enable", "echo-score", "--key", &key]);
    assert!(out.contains("enabled echo-score"), "{out}");
    let listed = line(&crm_cli(&["plugin", "list", "--key", &key]));
    assert!(listed.contains("\tACTIVE\t"), "{listed}");

    // `crm import` writes through the tenant's plugins as the API does:
    // imported contacts are validated and scored, and the runs recorded.
    let csv = dir.0.join("people.csv");
    std::fs::write(
        &csv,
        "first_name,last_name,title\nMei,Chen,VP Sales\nBo,Li,Engineer\n",
    )
    .expect("csv");
    let out = crm_cli(&[
        "import",
        "contacts",
        csv.to_str().expect("utf-8 path"),
        "--key",
        &key,
    ]);
    assert!(out.contains('2'), "{out}");
    let imported = crm_core::entity::contact::Entity::find()
        .filter(crm_core::entity::contact::Column::TenantId.eq(tenant.id))
        .filter(crm_core::entity::contact::Column::FirstName.is_in(["Mei", "Bo"]))
        .all(&crm.db)
        .await
        .expect("contacts");
    assert_eq!(imported.len(), 2);
    for c in imported {
        let score = crm_core::entity::score::Entity::find()
            .filter(crm_core::entity::score::Column::RecordId.eq(c.id))
            .filter(crm_core::entity::score::Column::PluginId.eq("echo-score"))
            .one(&crm.db)
            .await
            .expect("score");
        assert_eq!(
            score.map(|s| s.value),
            Some(42),
            "{} was not scored",
            c.first_name
        );
    }
    let validated = plugin_run::Entity::find()
        .filter(plugin_run::Column::PluginId.eq("echo-score"))
        .filter(plugin_run::Column::Function.eq("validate[accept]"))
        .all(&crm.db)
        .await
        .expect("runs");
    assert_eq!(
        validated.iter().map(|r| r.records).sum::<i32>(),
        2,
        "{validated:?}"
    );

    crm_cli(&["plugin", "uninstall", "echo-score"]);
    assert_eq!(line(&crm_cli(&["plugin", "list", "--key", &key])), "");
}
