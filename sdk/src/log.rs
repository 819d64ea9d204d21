//! Logging into the plugin's run log.
//!
//! The host keeps a bounded log per plugin run; operators read it next to the
//! run's outcome. In native tests (`cargo test`) the lines go to stderr.
//!
//! ```
//! use crm_plugin_sdk::log;
//!
//! log::debug("scoring 1 record");
//! log::warn(&format!("unknown lifecycle stage {:?}", "LEAD"));
//! ```

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: &str) {
    use crate::bindings::crm::plugin::log as wit;
    let level = match level {
        Level::Trace => wit::Level::Trace,
        Level::Debug => wit::Level::Debug,
        Level::Info => wit::Level::Info,
        Level::Warn => wit::Level::Warn,
        Level::Error => wit::Level::Error,
    };
    wit::log(level, message);
}

// Natively the imported `log` function is a stub that panics.
#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: &str) {
    eprintln!("[plugin {level:?}] {message}");
}

/// Log at trace level.
///
/// ```
/// crm_plugin_sdk::log::trace("entering rule 'title'");
/// ```
pub fn trace(message: &str) {
    write(Level::Trace, message);
}

/// Log at debug level.
///
/// ```
/// crm_plugin_sdk::log::debug("config read");
/// ```
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Log at info level.
///
/// ```
/// crm_plugin_sdk::log::info("scored 100 records");
/// ```
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Log at warn level.
///
/// ```
/// crm_plugin_sdk::log::warn("record has no id");
/// ```
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Log at error level.
///
/// ```
/// crm_plugin_sdk::log::error("rate table is empty");
/// ```
pub fn error(message: &str) {
    write(Level::Error, message);
}
