//! `crm`: the CRM server and its operator commands.

// mimalloc: glibc malloc spent a large share of a plugin batch lifting the
// guest's answer (and fragments under tokio's many threads).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use crm_host::app::{App, Config};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "crm",
    version,
    about = "An extensible CRM: GraphQL API, WebAssembly plugins."
)]
struct Cli {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://...`.
    #[arg(
        long,
        global = true,
        env = "CRM_DATABASE_URL",
        default_value = "sqlite://crm.db"
    )]
    database: String,
    /// Directory for precompiled plugin artifacts.
    #[arg(
        long,
        global = true,
        env = "CRM_PLUGIN_CACHE",
        default_value = ".crm/cache"
    )]
    plugin_cache: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL (HTTP + WebSocket), /healthz and /metrics.
    Serve {
        #[arg(long, env = "CRM_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Seed the demo tenant with the shipped plugins when the database is empty; print its key.
        #[arg(long)]
        demo: bool,
        /// Where the shipped plugins are (each a directory with plugin.toml).
        #[arg(long, default_value = "plugins")]
        plugins_dir: PathBuf,
    },
    /// Apply database migrations.
    Migrate,
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Seed a realistic demo tenant; prints its admin key as the last line.
    Demo {
        #[arg(long, default_value = "plugins")]
        plugins_dir: PathBuf,
    },
    /// Import contacts or companies from CSV (progress bar, rejected rows reported, resumable).
    Import {
        /// `contacts` or `companies`.
        kind: String,
        file: PathBuf,
        /// API key of the tenant to import into (admin, manager or sales); optional
        /// when the database holds a single tenant.
        #[arg(long, env = "CRM_API_KEY")]
        key: Option<String>,
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// The data key that seals sensitive custom fields.
    DataKey {
        #[command(subcommand)]
        command: DataKeyCommand,
    },
    /// Benchmarks: `crm bench` (API), `crm bench plugins`, `crm bench jobs` (PostgreSQL).
    Bench {
        /// `api` (default), `plugins` or `jobs`.
        #[arg(default_value = "api")]
        what: String,
        #[arg(long, default_value = "plugins")]
        plugins_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum DataKeyCommand {
    /// Re-seal every sensitive value under a new key. Stop the servers first;
    /// an interrupted rotation resumes when run again. A SQLite key file is
    /// replaced at the end; with CRM_DATA_KEY the new key is printed last, to
    /// set in every process before starting them again.
    Rotate {
        /// The new key (64 hex digits); a random one when omitted.
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints its admin API key as the last line.
    Create {
        name: String,
        /// Default region for phone numbers without a country code (ISO 3166, e.g. CN, US, DE).
        #[arg(long, default_value = "US")]
        region: String,
    },
    /// List tenants; the operator tenant (the first created, whose admins
    /// install plugins for every tenant) is marked.
    List,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Install a plugin from a directory holding plugin.toml, or a plugin.toml file.
    Install {
        path: PathBuf,
        /// Replace an installed plugin of the same id.
        #[arg(long)]
        upgrade: bool,
        /// Also enable it for the tenant of this API key (admin), granting what it asks.
        #[arg(long)]
        enable_key: Option<String>,
    },
    /// List installed plugins: id, version, contract, description. With a
    /// key, also each one's status in that key's tenant (ACTIVE, SUSPENDED
    /// with the reason, DISABLED), its runs, failures and last error,
    /// before the description.
    List {
        #[arg(long, env = "CRM_API_KEY")]
        key: Option<String>,
    },
    /// Enable (or resume) a plugin for the tenant of an admin key: its
    /// configuration and grants are kept, a first enablement grants what it
    /// asks for but `pii:read` and `http:<origin>`.
    Enable {
        id: String,
        #[arg(long, env = "CRM_API_KEY")]
        key: String,
    },
    /// Disable a plugin for the tenant of an admin key: it stops running
    /// there at once, in every process; its scores and configuration stay.
    Disable {
        id: String,
        #[arg(long, env = "CRM_API_KEY")]
        key: String,
    },
    /// Uninstall a plugin from the installation (every tenant), with its
    /// enablements, scores, webhook URLs and key-value storage (its run
    /// history stays).
    Uninstall { id: String },
    /// Scaffold a new plugin crate.
    New {
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check a tenant's stored records with a plugin's validate functions:
    /// which pass, which a patch changes (and how) and which are rejected.
    /// A dry run unless --apply, which writes each patch as an ordinary
    /// update (audited, validated, rescored).
    Check {
        /// The plugin's id (`crm plugin list`).
        id: String,
        /// The kind of record: contact, company, deal, ...
        #[arg(long, default_value = "contact")]
        entity: String,
        /// Write the patches.
        #[arg(long)]
        apply: bool,
        /// Configuration keys to try over the tenant's, as JSON (dry run only):
        /// '{"on-invalid": "reject"}'.
        #[arg(long)]
        config_patch: Option<String>,
        /// Findings to print (the counts cover every record).
        #[arg(long, default_value_t = 20)]
        show: usize,
        /// An admin API key of the tenant.
        #[arg(long, env = "CRM_API_KEY")]
        key: String,
    },
    /// Preview what a plugin's score functions would give a tenant's stored
    /// records, beside the scores stored now: per score, the grade
    /// distribution before and after, how grades move, and the records that
    /// change the most. With --config-patch, under configuration keys tried
    /// over the tenant's (grade thresholds, weights). Writes nothing.
    Preview {
        /// The plugin's id (`crm plugin list`).
        id: String,
        /// The kind of record: contact, company, deal, ...
        #[arg(long, default_value = "contact")]
        entity: String,
        /// Configuration keys to try over the tenant's, as JSON:
        /// '{"grade-a": 60}'.
        #[arg(long)]
        config_patch: Option<String>,
        /// Changed records to print (the counts cover every record).
        #[arg(long, default_value_t = 10)]
        show: usize,
        /// An admin API key of the tenant.
        #[arg(long, env = "CRM_API_KEY")]
        key: String,
    },
    /// Re-run a plugin's scorers over every record of a tenant.
    Rescore {
        /// The plugin's id (`crm plugin list`).
        id: String,
        /// An admin API key of the tenant.
        #[arg(long, env = "CRM_API_KEY")]
        key: String,
    },
}

fn config(cli: &Cli, listen: Option<SocketAddr>) -> Config {
    let mut c = Config {
        database_url: cli.database.clone(),
        plugin_cache_dir: cli.plugin_cache.clone(),
        ..Config::default()
    };
    if let Some(l) = listen {
        c.listen = l;
    }
    c
}

/// [`config`] for a command that does its work and exits: no job runner, so
/// it never claims a queued job (a workflow step, a handler) that its exit
/// would cut short and another process would then run a second time.
fn one_shot_config(cli: &Cli) -> Config {
    let mut c = config(cli, None);
    c.jobs.enabled = false;
    c
}

/// Install (or upgrade) every plugin directory under `dir` and enable them for `tenant`.
async fn install_shipped(app: &App, dir: &Path, tenant: uuid::Uuid) -> anyhow::Result<Vec<String>> {
    use crm_graphql::PluginAdmin;
    let mut ids = vec![];
    if !dir.is_dir() {
        eprintln!(
            "note: no plugins directory at {}; starting without shipped plugins",
            dir.display()
        );
        return Ok(ids);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("plugin.toml").is_file())
        .collect();
    dirs.sort();
    let installed: Vec<String> = app
        .plugins
        .list()
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?
        .into_iter()
        .map(|p| p.id)
        .collect();
    for d in dirs {
        let (text, bytes) = crm_host::plugin_files::read_plugin(&d)?;
        let upgrade = text.lines().any(|l| {
            installed
                .iter()
                .any(|i| l.trim() == format!("id = \"{i}\""))
        });
        let info = app
            .plugins
            .install(&text, bytes, upgrade)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", d.display(), e.message))?;
        enable_requested(app, &crm_core::Principal::system(tenant), &info.id).await?;
        ids.push(info.id);
    }
    Ok(ids)
}

/// A plugin's status in `tenant`, as tab-separated columns for
/// `crm plugin list --key`.
async fn tenant_status(app: &App, tenant: uuid::Uuid, id: &str) -> anyhow::Result<String> {
    use crm_core::plugin_store;
    let tp = plugin_store::tenant_plugin(&app.crm, tenant, id).await?;
    let mut status = plugin_store::status_label(tp.as_ref());
    if let Some(r) = tp
        .and_then(|t| t.status_reason)
        .filter(|_| status.eq_ignore_ascii_case(plugin_store::SUSPENDED))
    {
        status = format!("{status} ({r})");
    }
    let (runs, failures, avg_us) = plugin_store::stats(&app.crm, tenant, id).await?;
    let mut out = format!("\t{status}\truns {runs}, failures {failures}, avg {avg_us:.0} us");
    if let Some(e) = plugin_store::last_error(&app.crm, tenant, id).await? {
        out.push_str("\tlast error ");
        out.push_str(&e);
    }
    Ok(out)
}

/// Enable plugin `id` for `p`'s tenant, granting everything its manifest
/// asks for but `pii:read` and `http:<origin>` (granted only by name,
/// through `enablePlugin(grants:)`); a tenant that had it enabled keeps its
/// configuration and the grants it gave. Returns the grants and what was
/// asked for but withheld.
async fn enable_requested(
    app: &App,
    p: &crm_core::Principal,
    id: &str,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    use crm_graphql::PluginAdmin;
    let requested = app
        .plugins
        .requested_capabilities(id)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let existing = crm_core::plugin_store::tenant_plugin(&app.crm, p.tenant_id, id).await?;
    let mut grants = crm_core::plugin_store::implicit_grants(&requested);
    if let Some(kept) = existing.as_ref().and_then(|e| e.grants.as_array()) {
        for g in kept.iter().filter_map(|g| g.as_str()) {
            if requested.iter().any(|r| r == g) && !grants.iter().any(|have| have == g) {
                grants.push(g.to_owned());
            }
        }
    }
    let config = existing
        .map(|e| e.config)
        .unwrap_or_else(|| serde_json::json!({}));
    crm_core::plugin_store::enable(&app.crm, p, id, config, serde_json::json!(grants)).await?;
    app.plugins.invalidate_routes();
    let withheld = requested
        .into_iter()
        .filter(|c| !grants.contains(c))
        .collect();
    Ok((grants, withheld))
}

const DEMO_KEY_FILE: &str = ".crm/demo-key";

const DEMO_TENANT_FILE: &str = ".crm/demo-tenant";

/// `serve --demo` / `crm demo`: seed the demo tenant when the database is
/// empty (its key is kept in .crm/demo-key right away), then make sure every
/// shipped plugin is installed at its current build and enabled for it,
/// scoring existing records with plugins that are new or changed. Safe to
/// re-run after an interrupted start. Returns the key when it is known.
async fn demo_start(
    app: &App,
    plugins_dir: &Path,
    force_seed: bool,
) -> anyhow::Result<Option<String>> {
    use crm_graphql::PluginAdmin;
    let started = std::time::Instant::now();
    let (tenant, key) = if force_seed || crm_host::demo::is_empty(&app.crm).await? {
        eprintln!("seeding the demo tenant (about a minute on first start)...");
        let (tenant, key) = crm_host::demo::seed(&app.crm, true).await?;
        std::fs::create_dir_all(".crm").ok();
        std::fs::write(DEMO_KEY_FILE, &key).ok();
        std::fs::write(DEMO_TENANT_FILE, tenant.to_string()).ok();
        (tenant, Some(key))
    } else {
        let tenant = std::fs::read_to_string(DEMO_TENANT_FILE)
            .ok()
            .and_then(|t| uuid::Uuid::parse_str(t.trim()).ok());
        let key = std::fs::read_to_string(DEMO_KEY_FILE)
            .ok()
            .map(|k| k.trim().to_string());
        match tenant {
            Some(t) => (t, key),
            None => {
                eprintln!(
                    "note: the database already holds data but no demo tenant of this directory; --demo seeds only an empty database (`crm tenant create NAME` prints a key)"
                );
                return Ok(None);
            }
        }
    };
    let before: std::collections::HashMap<String, String> = app
        .plugins
        .list()
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?
        .into_iter()
        .map(|p| (p.id, p.hash))
        .collect();
    let ids = install_shipped(app, plugins_dir, tenant).await?;
    let after = app
        .plugins
        .list()
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    for id in &ids {
        let changed = after
            .iter()
            .find(|p| &p.id == id)
            .map(|p| Some(&p.hash) != before.get(id))
            .unwrap_or(false);
        if !changed {
            continue;
        }
        let r = app
            .plugins
            .rescore_with_progress(tenant, id, |_, _| {})
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        if r.records > 0 {
            eprintln!(
                "  {id}: scored {} of {} records in {} ms",
                r.scored, r.records, r.duration_ms
            );
        }
    }
    if !ids.is_empty() {
        eprintln!("plugins enabled for the demo tenant: {}", ids.join(", "));
    }
    eprintln!("demo ready in {:.1} s", started.elapsed().as_secs_f64());
    Ok(key)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG")
                .unwrap_or_else(|_| "crm=info,crm_host=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve {
            listen,
            demo,
            plugins_dir,
        } => {
            let cfg = config(&cli, Some(*listen));
            let app = App::open(&cfg).await?;
            let demo_key = if *demo {
                demo_start(&app, plugins_dir, false).await?
            } else {
                None
            };
            let listener = tokio::net::TcpListener::bind(cfg.listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {}; is another server running? use --listen",
                        cfg.listen
                    )
                })?;
            eprintln!(
                "CRM serving GraphQL on http://{}/graphql (GraphiQL in a browser), database {}",
                cfg.listen,
                crm_host::app::redact(&cfg.database_url)
            );
            if let Some(k) = demo_key {
                eprintln!("demo tenant admin key (use as `Authorization: Bearer <key>`):");
                println!("{k}");
            }
            app.serve(listener).await
        }
        Command::DataKey {
            command: DataKeyCommand::Rotate { to },
        } => {
            use crm_core::secrets::DataKey;
            let crm = crm_core::Crm::connect(&cli.database).await?;
            let (hex, new) = match to {
                Some(h) => (h.trim().to_string(), DataKey::from_hex(h)),
                None => DataKey::generate().map_err(|m| anyhow::anyhow!(m))?,
            };
            new.check().map_err(|m| anyhow::anyhow!("--to: {m}"))?;
            let done = crm_core::custom_field::reseal_all(&crm, &new, |n| {
                eprint!("\rre-sealing: {n} records scanned");
            })
            .await?;
            eprintln!(
                "\nre-sealed {} values in {} records ({} were under the new key already)",
                done.values, done.records, done.already
            );
            match crm.data_key.key_file() {
                Some(path) => {
                    crm.data_key
                        .replace_file(&hex)
                        .map_err(|m| anyhow::anyhow!(m))?;
                    eprintln!("{} now holds the new key", path.display());
                }
                None => {
                    eprintln!(
                        "set CRM_DATA_KEY to the new key (the last line) in every process, then start them again"
                    );
                    println!("{hex}");
                }
            }
            Ok(())
        }
        Command::Migrate => {
            crm_core::Crm::connect(&cli.database).await?;
            eprintln!(
                "database {} is up to date",
                crm_host::app::redact(&cli.database)
            );
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { name, region },
        } => {
            let crm = crm_core::Crm::connect(&cli.database).await?;
            let (t, key) = crm_core::tenant::create_tenant(&crm, name, region).await?;
            eprintln!("created tenant {} ({}); its admin API key:", t.name, t.id);
            println!("{key}");
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::List,
        } => {
            let crm = crm_core::Crm::connect(&cli.database).await?;
            let operator = crm_core::tenant::operator_tenant(&crm).await?;
            for t in crm_core::tenant::tenants(&crm).await? {
                let mark = if Some(t.id) == operator {
                    "\toperator (installs plugins for every tenant)"
                } else {
                    ""
                };
                println!("{}\t{}\t{}{mark}", t.id, t.name, t.default_region);
            }
            Ok(())
        }
        Command::Demo { plugins_dir } => {
            let app = App::open(&one_shot_config(&cli)).await?;
            let key = demo_start(&app, plugins_dir, true).await?;
            app.plugins.flush_runs().await;
            if let Some(k) = key {
                println!("{k}");
            }
            Ok(())
        }
        Command::Import {
            kind,
            file,
            key,
            batch_size,
        } => {
            // The whole application, not just the database: imported rows
            // go through the tenant's plugins (validators, scorers) as API
            // writes do.
            let app = App::open(&one_shot_config(&cli)).await?;
            let crm = &app.crm;
            let p = match key {
                Some(k) => crm_core::tenant::authenticate(crm, k).await?,
                None => {
                    let tenants = crm_core::tenant::tenants(crm).await?;
                    match tenants.as_slice() {
                        [only] => crm_core::Principal::system(only.id),
                        [] => bail!(
                            "the database has no tenant yet: `crm tenant create NAME` or `crm demo` first"
                        ),
                        many => bail!(
                            "the database holds {} tenants: pass --key KEY (or CRM_API_KEY) of the one to import into",
                            many.len()
                        ),
                    }
                }
            };
            let kind = match kind.as_str() {
                "contacts" | "contact" => crm_host::import::ImportKind::Contacts,
                "companies" | "company" => crm_host::import::ImportKind::Companies,
                other => bail!("cannot import {other:?}: use `contacts` or `companies`"),
            };
            let opts = crm_host::import::ImportOptions {
                batch_size: *batch_size,
                resume_from_line: None,
                progress: true,
            };
            let report = crm_host::import::import(crm, &p, kind, file, opts).await;
            app.plugins.flush_runs().await;
            println!("{}", crm_host::import::render_report(&report?));
            Ok(())
        }
        Command::Plugin { command } => plugin_command(&cli, command).await,
        Command::Bench { what, plugins_dir } => crm_host::bench::run(what, plugins_dir).await,
    }
}

async fn plugin_command(cli: &Cli, command: &PluginCommand) -> anyhow::Result<()> {
    use crm_graphql::PluginAdmin;
    match command {
        PluginCommand::New { name, dir } => {
            let dest = dir.clone().unwrap_or_else(|| PathBuf::from(name));
            let files = crm_host::scaffold::scaffold(name, &dest)?;
            for f in &files {
                eprintln!("  created {}", f.display());
            }
            eprintln!(
                "next: (cd {0} && cargo test && cargo build --target wasm32-wasip2 --release), then from here: crm plugin install {0} --enable-key <admin key>",
                dest.display()
            );
            Ok(())
        }
        PluginCommand::Install {
            path,
            upgrade,
            enable_key,
        } => {
            let app = App::open(&one_shot_config(cli)).await?;
            let files = crm_host::plugin_files::read_plugin_files(path)?;
            let before = crm_core::plugin_store::plugin_heads(&app.crm).await?;
            let info = app
                .plugins
                .install(&files.manifest, files.component, *upgrade)
                .await
                .map_err(|e| {
                    let detail: Vec<String> = e
                        .fields
                        .iter()
                        .map(|(p, m)| format!("  {p}: {m}"))
                        .collect();
                    anyhow::anyhow!(
                        "{}{}{}",
                        e.message,
                        if detail.is_empty() { "" } else { "\n" },
                        detail.join("\n")
                    )
                })?;
            eprintln!(
                "installed {} {} (contract {}, sha256 {}) from {}",
                info.id,
                info.version,
                info.contract,
                &info.hash[..12],
                files.component_path.display()
            );
            if let Some((_, version, _)) = before
                .iter()
                .find(|(id, _, hash)| *id == info.id && *hash == info.hash)
            {
                eprintln!(
                    "warning: this component is byte for byte the one installed before as {} {version}: if you changed the plugin's code, rebuild it (`cargo build --target wasm32-wasip2 --release`) and upgrade again",
                    info.id
                );
            }
            if let Some(k) = enable_key {
                let p = crm_core::tenant::authenticate(&app.crm, k).await?;
                let (grants, withheld) = enable_requested(&app, &p, &info.id).await?;
                eprintln!(
                    "enabled {} for tenant {} with grants {}",
                    info.id,
                    p.tenant_id,
                    grants.join(", ")
                );
                if !withheld.is_empty() {
                    eprintln!(
                        "not granted, as they are only ever granted by name: {}\n  grant them with \
                         enablePlugin(id: \"{}\", grants: [...]) listing every grant the plugin should have",
                        withheld.join(", "),
                        info.id
                    );
                }
            }
            Ok(())
        }
        PluginCommand::List { key } => {
            let app = App::open(&one_shot_config(cli)).await?;
            let tenant = match key {
                Some(k) => Some(crm_core::tenant::authenticate(&app.crm, k).await?.tenant_id),
                None => None,
            };
            let plugins = app
                .plugins
                .list()
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            if plugins.is_empty() {
                eprintln!("no plugin installed: crm plugin install DIR");
            }
            for p in plugins {
                let status = match tenant {
                    Some(t) => tenant_status(&app, t, &p.id).await?,
                    None => String::new(),
                };
                println!(
                    "{}\t{}\tcontract {}{status}\t{}",
                    p.id, p.version, p.contract, p.description
                );
            }
            Ok(())
        }
        PluginCommand::Enable { id, key } => {
            let app = App::open(&one_shot_config(cli)).await?;
            let p = crm_core::tenant::authenticate(&app.crm, key).await?;
            let (grants, withheld) = enable_requested(&app, &p, id).await?;
            println!(
                "enabled {id} for tenant {} with grants {}",
                p.tenant_id,
                grants.join(", ")
            );
            if !withheld.is_empty() {
                eprintln!(
                    "not granted, as they are only ever granted by name: {}",
                    withheld.join(", ")
                );
            }
            Ok(())
        }
        PluginCommand::Disable { id, key } => {
            let app = App::open(&one_shot_config(cli)).await?;
            let p = crm_core::tenant::authenticate(&app.crm, key).await?;
            crm_core::plugin_store::disable(&app.crm, &p, id).await?;
            app.plugins.invalidate_routes();
            println!("disabled {id} for tenant {}", p.tenant_id);
            Ok(())
        }
        PluginCommand::Uninstall { id } => {
            use crm_graphql::PluginAdmin;
            let app = App::open(&one_shot_config(cli)).await?;
            app.plugins
                .uninstall(id)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("uninstalled {id}");
            Ok(())
        }
        PluginCommand::Check {
            id,
            entity,
            apply,
            config_patch,
            show,
            key,
        } => {
            let config_patch = json_arg("--config-patch", config_patch.as_deref())?;
            let app = App::open(&one_shot_config(cli)).await?;
            let p = crm_core::tenant::authenticate(&app.crm, key).await?;
            let bar = records_bar();
            let req = crm_graphql::CheckRequest {
                plugin: id.clone(),
                entity: entity.clone(),
                ids: None,
                config_patch,
                apply: *apply,
            };
            let r = app
                .plugins
                .check_records(&p, req, bar_progress(&bar))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            bar.finish_and_clear();
            app.plugins.flush_runs().await;
            print!("{}", check_summary(&r, *show));
            Ok(())
        }
        PluginCommand::Preview {
            id,
            entity,
            config_patch,
            show,
            key,
        } => {
            let config_patch_text = config_patch.as_deref();
            let config_patch = json_arg("--config-patch", config_patch_text)?;
            let app = App::open(&one_shot_config(cli)).await?;
            let p = crm_core::tenant::authenticate(&app.crm, key).await?;
            let bar = records_bar();
            let req = crm_graphql::PreviewRequest {
                plugin: id.clone(),
                entity: entity.clone(),
                ids: None,
                config_patch,
            };
            let r = app
                .plugins
                .preview_scores(&p, req, bar_progress(&bar))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            bar.finish_and_clear();
            app.plugins.flush_runs().await;
            print!("{}", preview_summary(&r, *show));
            if let Some(patch) = config_patch_text {
                println!(
                    "to keep it: enablePlugin(id: \"{id}\", configPatch: {patch}) in GraphQL, then crm plugin rescore {id}"
                );
            }
            Ok(())
        }
        PluginCommand::Rescore { id, key } => {
            let app = App::open(&one_shot_config(cli)).await?;
            let p = crm_core::tenant::authenticate(&app.crm, key).await?;
            let bar = records_bar();
            let r = app
                .plugins
                .rescore_with_progress(p.tenant_id, id, bar_progress(&bar))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            bar.finish_and_clear();
            // Run records are written off the scoring path: wait for them
            // before the process exits, or `pluginRuns` would miss them.
            app.plugins.flush_runs().await;
            println!(
                "rescored {}: {} of {} records in {} ms ({} failed batches)",
                r.plugin, r.scored, r.records, r.duration_ms, r.failed_batches
            );
            Ok(())
        }
    }
}

/// What `crm plugin check` prints: the counts, then up to `show` findings,
/// one line per change or error.
fn check_summary(r: &crm_graphql::RecordCheckReport, show: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "checked {} {} records with {} in {} ms: {} pass, {} {}, {} rejected, {} failed",
        r.records,
        r.entity,
        r.plugin,
        r.duration_ms,
        r.passed,
        r.patched,
        if r.apply { "patched" } else { "to patch" },
        r.rejected,
        r.failed
    );
    for f in r.findings.iter().take(show) {
        for c in &f.changes {
            let _ = writeln!(
                out,
                "  {}  {}: {} -> {}",
                f.id.as_str(),
                c.path,
                c.from.0,
                c.to.0
            );
        }
        for e in &f.errors {
            let _ = writeln!(
                out,
                "  {}  rejected: {} {}: {}",
                f.id.as_str(),
                e.path,
                e.code,
                e.message
            );
        }
        if let Some(m) = &f.message {
            let what = if f.outcome == "FAILED" {
                "failed"
            } else {
                "not written"
            };
            let _ = writeln!(out, "  {}  {what}: {m}", f.id.as_str());
        }
    }
    let listed = r.findings.len().min(show) as i64;
    let found = r.patched + r.rejected + r.failed;
    if found > listed {
        let _ = writeln!(out, "  ... and {} more", found - listed);
    }
    if r.apply {
        let _ = writeln!(out, "wrote {} of {} patches", r.applied, r.patched);
    } else if r.patched > 0 {
        let _ = writeln!(out, "dry run: nothing written; --apply writes the patches");
    }
    out
}

/// A JSON argument, when given.
fn json_arg(name: &str, text: Option<&str>) -> anyhow::Result<Option<serde_json::Value>> {
    text.map(serde_json::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{name} is not JSON: {e}"))
}

/// What `crm plugin preview` prints: per score, the counts, the grade
/// distribution stored and previewed, the moves; then up to `show` records.
fn preview_summary(r: &crm_graphql::ScorePreview, show: usize) -> String {
    use std::fmt::Write;
    let grade = |g: &Option<String>| g.clone().unwrap_or_else(|| "-".into());
    let grades = |s: &crm_graphql::ScoreSummary| {
        let list: Vec<String> = s
            .grades
            .iter()
            .map(|g| format!("{} {}", grade(&g.grade), g.count))
            .collect();
        let mean = s.mean.map_or("-".into(), |m| format!("{m:.1}"));
        format!("{} records, mean {mean}: {}", s.records, list.join(", "))
    };
    let score = |s: &Option<crm_graphql::ScoreSnapshot>| match s {
        None => "none".to_string(),
        Some(s) => match &s.grade {
            Some(g) => format!("{} {g}", s.value),
            None => s.value.to_string(),
        },
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "previewed {} {} records with {} in {} ms ({} failed); nothing written",
        r.records, r.entity, r.plugin, r.duration_ms, r.failed
    );
    if let Some(f) = &r.failure {
        let _ = writeln!(out, "  first failure: {f}");
    }
    for s in &r.scores {
        let _ = writeln!(
            out,
            "score {}: {} values and {} grades change",
            s.name, s.changed_value, s.changed_grade
        );
        let _ = writeln!(out, "  stored:  {}", grades(&s.stored));
        let _ = writeln!(out, "  preview: {}", grades(&s.preview));
        if !s.moves.is_empty() {
            let moves: Vec<String> = s
                .moves
                .iter()
                .map(|m| format!("{} -> {}: {}", grade(&m.from), grade(&m.to), m.count))
                .collect();
            let _ = writeln!(out, "  moves:   {}", moves.join(", "));
        }
    }
    for c in r.changes.iter().take(show) {
        let reasons =
            c.to.as_ref()
                .map(|t| t.reasons.join("; "))
                .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {}: {} -> {}  {reasons}",
            c.id.as_str(),
            c.name,
            score(&c.from),
            score(&c.to)
        );
    }
    if r.changes.len() > show {
        let _ = writeln!(
            out,
            "  ... {} more of the {} records listed (--show {} prints them)",
            r.changes.len() - show,
            r.changes.len(),
            r.changes.len()
        );
    }
    out
}

/// `progress(done, total)` moving `bar`.
fn bar_progress(bar: &indicatif::ProgressBar) -> impl Fn(u64, u64) + '_ {
    |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}

/// The progress bar of a command going over a tenant's records.
fn records_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
