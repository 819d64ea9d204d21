//! Logging into the plugin's run log.
//!
//! The host keeps a bounded log per plugin run; operators read it next to the
//! run's outcome. In native tests (`cargo test`) the lines go to stderr (and
//! to the [`FakeHost`](crate::testing::FakeHost) of a harness, if one runs).
//!
//! ```
//! use crm_plugin_sdk::log;
//!
//! log::debug("scoring 1 record");
//! log::warn(&format!("unknown lifecycle stage {:?}", "LEAD"));
//! ```

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

// The export macro installs the `log` import of its contract version, so a
// component imports `log` of exactly the version it exports; a test harness
// installs its fake host. Without one (native code outside a harness), stderr.
fn write(level: Level, message: &str) {
    match crate::host::current() {
        Some(backend) => backend.log(level, message),
        None => eprintln!("[plugin {level:?}] {message}"),
    }
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
