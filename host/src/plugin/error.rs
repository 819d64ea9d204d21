//! Why the runtime could not start or could not load a plugin. Failures of a
//! call are not errors of the runtime: they are
//! [`PluginFailure`](crm_core::plugin_api::PluginFailure)s in the call's
//! [`Invocation`](super::Invocation).

use semver::Version;

use super::contract::ContractError;

/// An error of [`PluginRuntime::new`](super::PluginRuntime::new) or
/// [`PluginRuntime::load`](super::PluginRuntime::load).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not start the plugin engine: {0}")]
    Engine(String),

    #[error("plugin {plugin}: not a valid WebAssembly component: {message}")]
    Compile { plugin: String, message: String },

    #[error("plugin {plugin}: {source}")]
    Contract {
        plugin: String,
        #[source]
        source: ContractError,
    },

    #[error(
        "plugin {plugin}: the component does not match contract crm:plugin@{contract}: {message}"
    )]
    Link {
        plugin: String,
        contract: Version,
        message: String,
    },
}
