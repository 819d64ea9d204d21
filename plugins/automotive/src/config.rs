//! The plugin's configuration: one field per `[config.*]` key of `plugin.toml`.

use serde::Deserialize;

/// Settings of the test-drive automation. Missing keys take the defaults
/// below, which are the manifest's defaults (a test keeps the two equal).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Minutes the rep has to follow a booking up; past them, it escalates.
    pub follow_up_minutes: i64,
    /// The coupon a booking issues.
    pub coupon: String,
    /// Who receives escalations; empty: the manager of the follow-up's assignee.
    pub store_manager_id: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            follow_up_minutes: 60,
            coupon: "50 charging credit".into(),
            store_manager_id: String::new(),
        }
    }
}

impl Config {
    /// The configured store manager, if any.
    pub fn store_manager(&self) -> Option<&str> {
        Some(self.store_manager_id.trim()).filter(|id| !id.is_empty())
    }
}
