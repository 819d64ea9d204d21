//! The application: configuration, the wired-up services, and its HTTP server.

use crate::metrics::Metrics;
use crate::relay;
use crm_core::Crm;
use crm_graphql::{CrmSchema, EventBus, PluginAdmin};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything configurable, from defaults < `CRM_*` environment < command-line flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` (created if missing) or `postgres://...`. Env: `CRM_DATABASE_URL`.
    pub database_url: String,
    /// Address to listen on. Env: `CRM_LISTEN`.
    pub listen: SocketAddr,
    /// Where precompiled plugin artifacts are cached (default `.crm/cache` beside the working directory).
    /// Env: `CRM_PLUGIN_CACHE`.
    pub plugin_cache_dir: PathBuf,
    /// Consecutive failures after which a plugin is suspended for a tenant.
    pub suspend_after: i32,
    /// The job runner (dispatcher, scheduler, workers) of this process.
    pub jobs: crate::jobs::RunnerConfig,
    /// Most outbound HTTP requests one plugin handler run may send.
    /// Env: `CRM_PLUGIN_HTTP_REQUESTS_PER_RUN` (1000).
    pub plugin_http_requests_per_run: u32,
    /// Whether a host name granted to a plugin may reach loopback, private
    /// and shared addresses (an ERP on the intranet); link-local and
    /// reserved ones stay out of reach. Env: `CRM_PLUGIN_HTTP_PRIVATE_NETWORKS=1`.
    pub plugin_http_private_networks: bool,
    /// Requests a minute one plugin webhook URL accepts (and at once); 0 is
    /// no limit. Env: `CRM_WEBHOOK_RATE_PER_MINUTE` (600).
    pub webhook_rate_per_minute: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://crm.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            plugin_cache_dir: PathBuf::from(".crm/cache"),
            suspend_after: 5,
            jobs: crate::jobs::RunnerConfig {
                enabled: std::env::var("CRM_JOBS").map(|v| v != "0").unwrap_or(true),
                lease: std::env::var("CRM_JOB_LEASE_SECS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .map(std::time::Duration::from_secs)
                    .unwrap_or(std::time::Duration::from_secs(60)),
                ..Default::default()
            },
            plugin_http_requests_per_run: std::env::var("CRM_PLUGIN_HTTP_REQUESTS_PER_RUN")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(crate::plugin::RuntimeConfig::default().http_requests_per_run),
            plugin_http_private_networks: std::env::var("CRM_PLUGIN_HTTP_PRIVATE_NETWORKS")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            webhook_rate_per_minute: std::env::var("CRM_WEBHOOK_RATE_PER_MINUTE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(600),
        }
    }
}

/// A running CRM: domain services, GraphQL schema, event bus, plugin runtime.
#[derive(Clone)]
pub struct App {
    pub crm: Crm,
    pub schema: CrmSchema,
    pub bus: EventBus,
    pub metrics: Arc<Metrics>,
    pub plugins: Arc<crate::plugin_host::PluginHost>,
    /// Request rates of plugin webhook URLs (this process's share).
    pub webhook_limits: Arc<crate::rate_limit::WebhookLimits>,
}

impl App {
    /// Connect, migrate, start the plugin runtime and the outbox relay.
    pub async fn open(cfg: &Config) -> anyhow::Result<App> {
        let crm = Crm::connect(&cfg.database_url).await.map_err(|e| {
            anyhow::anyhow!("cannot open database {}: {e}", redact(&cfg.database_url))
        })?;
        Self::with_crm(crm, cfg).await
    }

    /// Build the app over an existing [`Crm`] (tests use this with a manual clock).
    pub async fn with_crm(crm: Crm, cfg: &Config) -> anyhow::Result<App> {
        let plugins = crate::plugin_host::PluginHost::new(crm.clone(), cfg)?;
        crm.set_hooks(plugins.clone());
        let bus = EventBus::default();
        let admin: Arc<dyn PluginAdmin> = plugins.clone();
        let schema = crm_graphql::build_schema_with_bus(crm.clone(), admin, bus.clone());
        let admin2: Arc<dyn PluginAdmin> = plugins.clone();
        let bulk = crm_graphql::build_internal_schema(crm.clone(), admin2, bus.clone());
        plugins.set_schemas(schema.clone(), bulk);
        let metrics = Arc::new(Metrics::default());
        relay::spawn(crm.clone(), bus.clone(), metrics.clone()).await?;
        crate::jobs::spawn(crm.clone(), cfg.jobs.clone());
        Ok(App {
            crm,
            schema,
            bus,
            metrics,
            plugins,
            webhook_limits: Arc::new(crate::rate_limit::WebhookLimits::new(
                cfg.webhook_rate_per_minute,
            )),
        })
    }

    /// Serve HTTP on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        let router = crate::http::router(self);
        axum::serve(listener, router).await?;
        Ok(())
    }

    /// Serve on an ephemeral port in the background; returns the address.
    pub async fn spawn(self) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = self.serve(listener).await {
                tracing::error!(error = %e, "server stopped");
            }
        });
        Ok(addr)
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
