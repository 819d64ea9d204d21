//! `crm bench` and `crm bench plugins`: performance figures, printed, never
//! asserted. Each run uses a fresh SQLite database in a temporary directory.
//!
//! Build with `--release` for representative figures; a dev build runs our
//! own code unoptimised (dependencies are optimised in every profile).

use crate::app::{App, Config};
use crm_core::Principal;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Env {
    app: App,
    addr: std::net::SocketAddr,
    tenant: uuid::Uuid,
    key: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn env() -> anyhow::Result<Env> {
    let dir = std::env::temp_dir().join(format!("crm-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let cfg = Config {
        database_url: format!("sqlite://{}", dir.join("bench.db").display()),
        plugin_cache_dir: dir.join("cache"),
        ..Config::default()
    };
    let app = App::open(&cfg).await?;
    let addr = app.clone().spawn().await?;
    let (t, key) = crm_core::tenant::create_tenant(&app.crm, "Bench", "CN").await?;
    Ok(Env {
        app,
        addr,
        tenant: t.id,
        key,
        _dir: TempDir(dir),
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn seed(e: &Env, companies: usize, contacts: usize) -> anyhow::Result<()> {
    let p = Principal::system(e.tenant);
    let mut ids = vec![];
    for i in 0..companies {
        let c = crm_core::record::create::<crm_core::company::Company>(
            &e.app.crm,
            &p,
            json!({"name": format!("Company {i}"), "employeeCount": (i * 37) % 5000}),
        )
        .await?;
        ids.push(c.id);
    }
    for i in 0..contacts {
        crm_core::record::create::<crm_core::contact::Contact>(
            &e.app.crm,
            &p,
            json!({"firstName": format!("First{i}"), "lastName": format!("Last{i}"), "email": format!("c{i}@example.com"), "title": if i % 3 == 0 { "VP Sales" } else { "Engineer" }, "companyId": ids[i % ids.len()]}),
        )
        .await?;
    }
    Ok(())
}

/// `i` in base 26 with letters: 0 -> "a", 27 -> "bb".
fn letters(mut i: usize) -> String {
    let mut out = vec![];
    loop {
        out.push(b'a' + (i % 26) as u8);
        i /= 26;
        if i == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

async fn timed_creates(e: &Env, n: usize, tag: &str) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::new();
    let url = format!("http://{}/graphql", e.addr);
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        // A clean record (letters only: data-quality flags digits in a
        // name, and tagging a flagged record is more work than a create).
        let body = json!({"query": "mutation($i: ContactInput!) { createContact(input: $i) { id } }", "variables": {"i": {"firstName": "Bench", "lastName": format!("{tag}{}", letters(i)), "phone": "138 0013 8000", "title": "Director"}}});
        let t = Instant::now();
        let r: serde_json::Value = http
            .post(&url)
            .bearer_auth(&e.key)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        times.push(t.elapsed());
        if r.get("errors").is_some() {
            anyhow::bail!("createContact failed during the benchmark: {r}");
        }
    }
    times.sort();
    Ok(times)
}

/// contacts page rps at 16 clients; single-contact creates per second.
async fn api() -> anyhow::Result<()> {
    let e = env().await?;
    eprintln!("seeding 300 companies and 2,000 contacts...");
    seed(&e, 300, 2000).await?;
    let url = format!("http://{}/graphql", e.addr);
    let query = json!({"query": "{ contacts(first: 50) { edges { node { id firstName lastName email company { name } owner { name } } } } }"});
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tasks = vec![];
    for _ in 0..16 {
        let (url, key, q, done) = (url.clone(), e.key.clone(), query.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while Instant::now() < deadline {
                if let Ok(r) = http.post(&url).bearer_auth(&key).json(&q).send().await
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await?;
    }
    let rps = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let creates = timed_creates(&e, 300, "api").await?;
    let total: Duration = creates.iter().sum();
    println!(
        "bench api (SQLite, {} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "  contacts page (first: 50, with company and owner), 16 concurrent clients: {rps:.0} requests/s"
    );
    println!(
        "  createContact, one at a time over HTTP: {:.0} creates/s (p50 {:?}, p99 {:?})",
        creates.len() as f64 / total.as_secs_f64(),
        pct(&creates, 0.5),
        pct(&creates, 0.99)
    );
    Ok(())
}

/// Enable installed plugin `id` for `tenant` (default configuration, every
/// capability it asks for) or disable it; this process sees it at once.
async fn set_enabled(app: &App, tenant: uuid::Uuid, id: &str, on: bool) -> anyhow::Result<()> {
    use crm_graphql::PluginAdmin;
    let system = Principal::system(tenant);
    if on {
        let grants = app
            .plugins
            .requested_capabilities(id)
            .await
            .map_err(|x| anyhow::anyhow!(x.message))?;
        crm_core::plugin_store::enable(&app.crm, &system, id, json!({}), json!(grants)).await?;
    } else {
        crm_core::plugin_store::disable(&app.crm, &system, id).await?;
    }
    app.plugins.invalidate_routes();
    Ok(())
}

/// Creates per block of the createContact comparison (four blocks a side).
const CREATES_PER_BLOCK: usize = 75;

/// Rounds of the wasm-vs-native batch comparison: 7 unless
/// `CRM_BENCH_ROUNDS` says otherwise (more rounds for profiling).
fn batch_rounds() -> usize {
    std::env::var("CRM_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(7)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn contact_docs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let title = ["VP Sales", "Engineer", "Director of IT", "总经理", "Intern"][i % 5];
            json!({"id": uuid::Uuid::now_v7(), "title": title,
                   "company": {"employeeCount": (i * 97) % 20000}, "lastActivityDaysAgo": (i % 200) as i64,
                   "recentActivityCount": (i % 12) as i64, "openDealsValue": ((i * 1931) % 900_000) as f64})
            .to_string()
        })
        .collect()
}

/// Whether part `name` of a benchmark runs: all of them unless
/// `CRM_BENCH_ONLY` names some (comma-separated), for profiling one part.
fn part(name: &str) -> bool {
    std::env::var("CRM_BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == name))
}

async fn plugins(plugins_dir: &Path) -> anyhow::Result<()> {
    use crm_graphql::PluginAdmin;
    let e = env().await?;
    let root = plugins_dir.parent().unwrap_or(Path::new("."));
    let rt = e.app.plugins.runtime().clone();
    println!(
        "bench plugins (SQLite, {} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    // 1. fresh instance + trivial call.
    if part("instance") {
        let echo_toml = root.join("tests/fixtures/plugins/echo-score/plugin.toml");
        let (text, bytes) = crate::plugin_files::read_plugin(&echo_toml)?;
        let manifest = crate::plugin::Manifest::parse(&text).map_err(|x| anyhow::anyhow!("{x}"))?;
        let echo_loaded = rt
            .load(&manifest, &bytes)
            .map_err(|x| anyhow::anyhow!("{x}"))?;
        let iterations = std::env::var("CRM_BENCH_ITERATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2000);
        let mut times = crate::plugin::bench_instance_call(&rt, &echo_loaded, iterations)
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        times.sort();
        println!(
            "  fresh instance + trivial call: median {:?}, p99 {:?} (target <= 20 us)",
            pct(&times, 0.5),
            pct(&times, 0.99)
        );
    }
    // 2. lead-scoring in wasm vs native.
    let (ls_text, ls_bytes) = crate::plugin_files::read_plugin(&plugins_dir.join("lead-scoring"))?;
    let ls_manifest =
        crate::plugin::Manifest::parse(&ls_text).map_err(|x| anyhow::anyhow!("{x}"))?;
    if part("batch") {
        let ls = rt
            .load(&ls_manifest, &ls_bytes)
            .map_err(|x| anyhow::anyhow!("{x}"))?;
        let docs = contact_docs(20_000);
        let ctx = crate::plugin::CallContext {
            tenant: e.tenant.to_string(),
            entity: "contact".into(),
            config: ls_manifest
                .effective_config(&json!({}))
                .map_err(|x| anyhow::anyhow!("{x}"))?,
            fuel_per_record: None,
        };
        // Paired rounds, wasm then native, and the median of each: on a
        // shared machine one round can run at half speed, and pairing keeps
        // a slow spell from favouring either side.
        let rules = lead_scoring::Rules::new(lead_scoring::Config::default());
        let (mut wasm, mut native, mut ratios) = (vec![], vec![], vec![]);
        let rounds = batch_rounds();
        for _ in 0..rounds {
            let t = Instant::now();
            for chunk in docs.chunks(500) {
                rt.score(&ls, &ctx, chunk)
                    .result
                    .map_err(|f| anyhow::anyhow!("{f}"))?;
            }
            let w = docs.len() as f64 / t.elapsed().as_secs_f64();
            // The same rules natively: each record parsed from its JSON
            // text and scored, as the plugin does.
            let t = Instant::now();
            let mut sink = 0u64;
            for d in &docs {
                let c: crm_plugin_sdk::models::Contact = serde_json::from_str(d)?;
                sink += u64::from(rules.score(&c).value);
            }
            let n = docs.len() as f64 / t.elapsed().as_secs_f64();
            std::hint::black_box(sink);
            wasm.push(w);
            native.push(n);
            ratios.push(w / n);
        }
        println!(
            "  lead-scoring batch: wasm {:.0} records/s, native {:.0} records/s, ratio {:.2}x (medians of {rounds} paired rounds of {} records; target >= 0.5x)",
            median(&mut wasm),
            median(&mut native),
            median(&mut ratios),
            docs.len()
        );
        // The contract's own cost per record: the echo plugin (one fixed
        // score, no parsing) over empty records, in the same batches. What
        // lead-scoring costs above it is its guest code.
        let echo_toml = root.join("tests/fixtures/plugins/echo-score/plugin.toml");
        let (text, bytes) = crate::plugin_files::read_plugin(&echo_toml)?;
        let manifest = crate::plugin::Manifest::parse(&text).map_err(|x| anyhow::anyhow!("{x}"))?;
        let echo = rt
            .load(&manifest, &bytes)
            .map_err(|x| anyhow::anyhow!("{x}"))?;
        let empty = vec!["{}".to_owned(); docs.len()];
        let mut floor = vec![];
        for _ in 0..rounds {
            let t = Instant::now();
            for chunk in empty.chunks(500) {
                rt.score(&echo, &ctx, chunk)
                    .result
                    .map_err(|f| anyhow::anyhow!("{f}"))?;
            }
            floor.push(t.elapsed().as_secs_f64() * 1e9 / empty.len() as f64);
        }
        let per = |rate: f64| 1e9 / rate;
        println!(
            "    per record: wasm {:.0} ns, native {:.0} ns; contract floor (echo-score, empty records, same batches) {:.0} ns",
            per(median(&mut wasm)),
            per(median(&mut native)),
            median(&mut floor)
        );
    }
    // 3. createContact with and without plugins.
    let with_plugins = |e: &Env| {
        let (app, tenant, dir) = (e.app.clone(), e.tenant, plugins_dir.to_path_buf());
        async move {
            for id in ["lead-scoring", "data-quality"] {
                let (t, b) = crate::plugin_files::read_plugin(&dir.join(id))?;
                let info = app
                    .plugins
                    .install(&t, b, false)
                    .await
                    .map_err(|x| anyhow::anyhow!(x.message))?;
                set_enabled(&app, tenant, &info.id, true).await?;
            }
            anyhow::Ok(())
        }
    };
    if part("create") {
        seed(&e, 50, 200).await?;
        with_plugins(&e).await?;
        // Blocks with the plugins off and on in the order ABBABAAB, so
        // neither side gets the later (larger, warmer) database; each block
        // starts with an untimed create that loads the routes.
        let (mut without, mut with) = (vec![], vec![]);
        for on in [false, true, true, false, true, false, false, true] {
            for id in ["lead-scoring", "data-quality"] {
                set_enabled(&e.app, e.tenant, id, on).await?;
            }
            let tag = if on { "On" } else { "Off" };
            timed_creates(&e, 1, &format!("{tag}Warm")).await?;
            let times = timed_creates(&e, CREATES_PER_BLOCK, tag).await?;
            if on {
                with.extend(times)
            } else {
                without.extend(times)
            }
        }
        without.sort();
        with.sort();
        println!(
            "  createContact p50/p99: without plugins {:?}/{:?}, with lead-scoring + data-quality {:?}/{:?}, p50 ratio {:.2}x ({} creates each, in alternating blocks; target <= 1.3x)",
            pct(&without, 0.5),
            pct(&without, 0.99),
            pct(&with, 0.5),
            pct(&with, 0.99),
            pct(&with, 0.5).as_secs_f64() / pct(&without, 0.5).as_secs_f64().max(1e-9),
            with.len()
        );
        plugin_call_times(&e).await?;
    } else {
        with_plugins(&e).await?;
    }
    // 4. bulk rescore of 100k contacts.
    if part("rescore") {
        eprintln!("inserting 100,000 contacts for the rescore benchmark...");
        bulk_contacts(&e, 100_000).await?;
        let t = Instant::now();
        let r = e
            .app
            .plugins
            .rescore_with_progress(e.tenant, "lead-scoring", |_, _| {})
            .await
            .map_err(|x| anyhow::anyhow!(x.message))?;
        let rescore = t.elapsed();
        println!(
            "  rescore {} contacts: {:.2} s, {:.0} records/s, {} scored, {} failed batches (target < 2 s)",
            r.records,
            rescore.as_secs_f64(),
            r.records as f64 / rescore.as_secs_f64(),
            r.scored,
            r.failed_batches
        );
    }
    Ok(())
}

/// Where the time of a create with plugins goes: the median wall time of
/// each plugin function's calls (instantiation included), from the runs the
/// host recorded.
async fn plugin_call_times(e: &Env) -> anyhow::Result<()> {
    use crm_core::entity::plugin_run;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    e.app.plugins.flush_runs().await;
    let runs: Vec<(String, String, i64, i64)> = plugin_run::Entity::find()
        .select_only()
        .column(plugin_run::Column::PluginId)
        .column(plugin_run::Column::Function)
        .column(plugin_run::Column::DurationUs)
        .column(plugin_run::Column::FuelUsed)
        .filter(plugin_run::Column::TenantId.eq(e.tenant))
        .filter(plugin_run::Column::Records.eq(1))
        .into_tuple()
        .all(&e.app.crm.db)
        .await?;
    let mut by_fn: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> = Default::default();
    for (plugin, function, us, fuel) in runs {
        let (t, f) = by_fn.entry(format!("{plugin} {function}")).or_default();
        t.push(us as f64);
        f.push(fuel as f64);
    }
    for (name, (mut t, mut f)) in by_fn {
        println!(
            "    {name}: median {:.0} us per call, {:.0} fuel ({} calls)",
            median(&mut t),
            median(&mut f),
            t.len()
        );
    }
    Ok(())
}

async fn bulk_contacts(e: &Env, n: usize) -> anyhow::Result<()> {
    use crm_core::entity::contact;
    use sea_orm::{EntityTrait, Set};
    let now = chrono::Utc::now();
    let mut batch = vec![];
    for i in 0..n {
        batch.push(contact::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(e.tenant),
            first_name: Set(format!("Bulk{i}")),
            last_name: Set("Contact".into()),
            email: Set(Some(format!("bulk{i}@example.com"))),
            phone: Set(None),
            title: Set(Some(
                ["VP Sales", "Engineer", "Director", "Manager"][i % 4].into(),
            )),
            company_id: Set(None),
            owner_id: Set(None),
            lifecycle_stage: Set("prospect".into()),
            birth_date: Set(None),
            custom_fields: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
        });
        if batch.len() == 1000 {
            contact::Entity::insert_many(std::mem::take(&mut batch))
                .exec(&e.app.crm.db)
                .await?;
        }
    }
    if !batch.is_empty() {
        contact::Entity::insert_many(batch)
            .exec(&e.app.crm.db)
            .await?;
    }
    Ok(())
}

pub async fn run(what: &str, plugins_dir: &Path) -> anyhow::Result<()> {
    match what {
        "api" => api().await,
        "plugins" => plugins(plugins_dir).await,
        "jobs" => jobs().await,
        other => anyhow::bail!(
            "unknown benchmark {other:?}: use `crm bench`, `crm bench plugins` or `crm bench jobs`"
        ),
    }
}

/// A child `crm serve` process (this binary), killed on drop.
struct Child(std::process::Child, std::net::SocketAddr);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve_child(url: &str, dir: &Path) -> anyhow::Result<Child> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .current_dir(dir)
        .args(["serve", "--listen", &addr.to_string()])
        .env("CRM_DATABASE_URL", url)
        .env("CRM_PLUGIN_CACHE", dir.join("cache"))
        .env("CRM_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let c = Child(child, addr);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "crm serve did not start on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(c)
}

/// Event -> handler latency and job throughput with 1 and 2 processes on
/// PostgreSQL (`CRM_BENCH_POSTGRES`, default the local server; a fresh database per run).
async fn jobs() -> anyhow::Result<()> {
    use crm_core::entity::{event, job, workflow_run};
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let admin = std::env::var("CRM_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("crm_bench_{}", uuid::Uuid::now_v7().simple());
    sea_orm::Database::connect(&admin)
        .await
        .map_err(|e| {
            anyhow::anyhow!("PostgreSQL at {admin} is unreachable ({e}); set CRM_BENCH_POSTGRES")
        })?
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let url = format!(
        "{}/{name}",
        admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
    );
    let crm = crm_core::Crm::connect(&url).await?;
    let (tenant, key) = crm_core::tenant::create_tenant(&crm, "Bench", "US").await?;
    let p = Principal::system(tenant.id);
    let dir =
        std::env::temp_dir().join(format!("crm-bench-jobs-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = TempDir(dir.clone());
    let flow = crm_core::workflow::Definition {
        name: "bench: react to new contacts".into(),
        enabled: true,
        trigger: json!({"type": "event", "events": ["contact.created"]}),
        conditions: json!([]),
        steps: json!([{"type": "notify", "kind": "bench_seen"}]),
    };
    crm_core::workflow::create(&crm, &p, flow).await?;
    println!(
        "bench jobs (PostgreSQL, {} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for processes in [1usize, 2] {
        let mut children = vec![];
        for _ in 0..processes {
            children.push(serve_child(&url, &dir).await?);
        }
        // Throughput: 2,000 small jobs, each writing one audit row.
        let n = 2000u64;
        let now = chrono::Utc::now();
        let tag = format!("b{processes}-");
        let t = Instant::now();
        for i in 0..n {
            let j = crm_core::jobs::NewJob::new(Some(tenant.id), "test.touch", json!({}), now)
                .key(format!("{tag}{i}"));
            crm_core::jobs::enqueue(&crm.db, now, j).await?;
        }
        let enqueued = t.elapsed();
        loop {
            let done = job::Entity::find()
                .filter(job::Column::IdempotencyKey.starts_with(tag.as_str()))
                .filter(job::Column::Status.eq("succeeded"))
                .count(&crm.db)
                .await?;
            if done >= n {
                break;
            }
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(300),
                "jobs did not finish in 5 minutes ({done}/{n})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let jps = n as f64 / t.elapsed().as_secs_f64();
        // Latency: contact.created committed -> event workflow started, over 200 events.
        let http = reqwest::Client::new();
        let endpoint = format!("http://{}/graphql", children[0].1);
        let mut ids = vec![];
        for i in 0..200 {
            let body = json!({"query": "mutation($n: String!) { createContact(input: {firstName: \"Lat\", lastName: $n}) { id } }", "variables": {"n": format!("{processes}-{i}")}});
            let r: serde_json::Value = http
                .post(&endpoint)
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            if let Some(id) = r["data"]["createContact"]["id"].as_str() {
                ids.push(uuid::Uuid::parse_str(id)?);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut lat = vec![];
        while Instant::now() < deadline {
            lat.clear();
            for id in &ids {
                let ev = event::Entity::find()
                    .filter(event::Column::RecordId.eq(*id))
                    .filter(event::Column::Kind.eq("contact.created"))
                    .one(&crm.db)
                    .await?;
                let run = workflow_run::Entity::find()
                    .filter(workflow_run::Column::RecordId.eq(*id))
                    .one(&crm.db)
                    .await?;
                if let (Some(e), Some(r)) = (ev, run) {
                    lat.push((r.created_at - e.created_at).to_std().unwrap_or_default());
                }
            }
            if lat.len() == ids.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        lat.sort();
        println!(
            "  {processes} process(es): {jps:.0} jobs/s (2,000 jobs; enqueueing took {:.2} s); event -> handler latency p50 {:?}, p99 {:?} over {} events",
            enqueued.as_secs_f64(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.len()
        );
        drop(children);
    }
    drop(crm);
    if let Ok(db) = sea_orm::Database::connect(&admin).await {
        let _ = db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
    Ok(())
}
