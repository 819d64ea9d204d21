//! Prometheus text metrics (`/metrics`): request counts and latencies, events relayed.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub graphql_errors: AtomicU64,
    pub unauthenticated: AtomicU64,
    pub request_micros_total: AtomicU64,
    pub events_relayed: AtomicU64,
    pub ws_connections: AtomicU64,
    /// Webhook requests queued for a plugin (`202`).
    pub webhooks_accepted: AtomicU64,
    /// Webhook requests answered 404, 405, 413, 503 or 500.
    pub webhooks_refused: AtomicU64,
}

impl Metrics {
    /// Everything in Prometheus text: this process's counters, the plugin
    /// calls `plugin_runs` (plugin, ok, failed) and outbound HTTP requests
    /// `plugin_http` (plugin, outcome, count).
    pub fn render(
        &self,
        plugin_runs: &[(String, u64, u64)],
        plugin_http: &[(String, String, u64)],
    ) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        s.push_str("# HELP crm_http_requests_total GraphQL HTTP requests served.\n# TYPE crm_http_requests_total counter\n");
        s.push_str(&format!(
            "crm_http_requests_total {}\n",
            g(&self.http_requests)
        ));
        s.push_str("# HELP crm_graphql_errors_total Responses that carried GraphQL errors.\n# TYPE crm_graphql_errors_total counter\n");
        s.push_str(&format!(
            "crm_graphql_errors_total {}\n",
            g(&self.graphql_errors)
        ));
        s.push_str("# HELP crm_unauthenticated_total Requests refused for a missing or bad API key.\n# TYPE crm_unauthenticated_total counter\n");
        s.push_str(&format!(
            "crm_unauthenticated_total {}\n",
            g(&self.unauthenticated)
        ));
        s.push_str("# HELP crm_request_seconds_total Time spent executing GraphQL requests.\n# TYPE crm_request_seconds_total counter\n");
        s.push_str(&format!(
            "crm_request_seconds_total {:.6}\n",
            g(&self.request_micros_total) as f64 / 1e6
        ));
        s.push_str("# HELP crm_events_relayed_total Domain events published to subscribers.\n# TYPE crm_events_relayed_total counter\n");
        s.push_str(&format!(
            "crm_events_relayed_total {}\n",
            g(&self.events_relayed)
        ));
        s.push_str("# HELP crm_ws_connections_total WebSocket connections accepted.\n# TYPE crm_ws_connections_total counter\n");
        s.push_str(&format!(
            "crm_ws_connections_total {}\n",
            g(&self.ws_connections)
        ));
        s.push_str("# HELP crm_plugin_calls_total Plugin invocations in this process.\n# TYPE crm_plugin_calls_total counter\n");
        for (id, ok, failed) in plugin_runs {
            s.push_str(&format!(
                "crm_plugin_calls_total{{plugin=\"{id}\",outcome=\"ok\"}} {ok}\n"
            ));
            s.push_str(&format!(
                "crm_plugin_calls_total{{plugin=\"{id}\",outcome=\"failed\"}} {failed}\n"
            ));
        }
        s.push_str("# HELP crm_plugin_http_requests_total Outbound HTTP requests plugins sent, by status class or host error code.\n# TYPE crm_plugin_http_requests_total counter\n");
        for (id, outcome, n) in plugin_http {
            s.push_str(&format!(
                "crm_plugin_http_requests_total{{plugin=\"{id}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        s.push_str("# HELP crm_webhook_requests_total Requests to plugin webhook URLs.\n# TYPE crm_webhook_requests_total counter\n");
        s.push_str(&format!(
            "crm_webhook_requests_total{{outcome=\"accepted\"}} {}\ncrm_webhook_requests_total{{outcome=\"refused\"}} {}\n",
            g(&self.webhooks_accepted),
            g(&self.webhooks_refused)
        ));
        s
    }
}
