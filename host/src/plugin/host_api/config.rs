//! `config`: the plugin's effective configuration. Needs no grant; in a
//! function it is the call's own configuration.

use super::HostAccess;

pub(crate) fn config(access: &HostAccess) -> String {
    match access {
        HostAccess::Function { config } => config.clone(),
        HostAccess::Handler(gate) => gate.api.config().to_string(),
    }
}
