//! The failure of a whole call.

use std::fmt;

/// A failure of the whole call, as opposed to a per-record [`Decision`](crate::Decision).
///
/// Returning an `Error` from [`Plugin::validate`](crate::Plugin::validate) or
/// [`Plugin::score`](crate::Plugin::score) fails the batch: the host records
/// the failure and applies the function's `on-failure` policy. Use it for
/// problems the plugin cannot decide around (bad configuration, a record of an
/// unexpected shape); use [`Decision::Reject`](crate::Decision::Reject) for a
/// record that is merely invalid.
///
/// ```
/// use crm_plugin_sdk::Error;
///
/// let err = Error::new("NO_RULES", "no scoring rule is enabled");
/// assert_eq!(err.code, "NO_RULES");
/// assert_eq!(err.to_string(), "NO_RULES: no scoring rule is enabled");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Machine-readable code, upper snake case (`INVALID_CONFIG`).
    pub code: String,
    /// What went wrong, for the operator reading the plugin's run log.
    pub message: String,
}

impl Error {
    /// An error with any code.
    ///
    /// ```
    /// let err = crm_plugin_sdk::Error::new("UPSTREAM", "rate table missing");
    /// assert_eq!(err.message, "rate table missing");
    /// ```
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `INVALID_CONFIG`: the tenant's configuration is unusable.
    ///
    /// ```
    /// let err = crm_plugin_sdk::Error::invalid_config("grade-b is above grade-a");
    /// assert_eq!(err.code, "INVALID_CONFIG");
    /// ```
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new("INVALID_CONFIG", message)
    }

    /// `INVALID_RECORD`: a record is not the JSON shape the plugin expects.
    ///
    /// ```
    /// let err = crm_plugin_sdk::Error::invalid_record("title is not a string");
    /// assert_eq!(err.code, "INVALID_RECORD");
    /// ```
    pub fn invalid_record(message: impl Into<String>) -> Self {
        Self::new("INVALID_RECORD", message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}
