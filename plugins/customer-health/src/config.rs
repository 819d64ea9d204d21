//! The plugin's configuration: one field per `[config.*]` key of `plugin.toml`.

use serde::Deserialize;

/// Settings of the health score. Missing keys take the defaults below, which
/// are the manifest's defaults (a test keeps the two equal).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Health below this is at risk and alerts the account owner.
    pub threshold: i64,
    /// Health from which the grade is `healthy`.
    pub grade_healthy: i64,
    /// Hours from the drop until the owner's task is due.
    pub task_due_hours: i64,

    /// Points for a recent last activity.
    pub weight_recency: i64,
    /// Points for no open tickets.
    pub weight_tickets: i64,
    /// Points for no SLA breach in 90 days.
    pub weight_sla: i64,
    /// Points for regular orders in 90 days.
    pub weight_orders: i64,

    /// Last activity at most this many days ago: full points.
    pub recency_active_days: i64,
    /// ... 60%.
    pub recency_warm_days: i64,
    /// ... 30%; older or none, no points.
    pub recency_cool_days: i64,

    /// At most this many open tickets: 60% (none: full points).
    pub open_tickets_few: i64,
    /// At most this many: 30%; more, no points.
    pub open_tickets_many: i64,

    /// At most this many SLA breaches in 90 days: 40%; more, none.
    pub sla_breaches_few: i64,

    /// Orders in 90 days for full points (one or more: 60%).
    pub orders_frequent: i64,
    /// Order value in 90 days for full points whatever the count.
    pub orders_value_high: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            threshold: 60,
            grade_healthy: 80,
            task_due_hours: 24,
            weight_recency: 30,
            weight_tickets: 20,
            weight_sla: 25,
            weight_orders: 25,
            recency_active_days: 14,
            recency_warm_days: 30,
            recency_cool_days: 90,
            open_tickets_few: 2,
            open_tickets_many: 5,
            sla_breaches_few: 2,
            orders_frequent: 3,
            orders_value_high: 100_000.0,
        }
    }
}
