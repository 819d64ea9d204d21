//! The outcome of validating one record.

use serde_json::Value;

/// The outcome of validating one record: write it as is, write it with some
/// fields replaced, or refuse the write.
///
/// Build it with [`Decision::patch`] / [`Decision::reject`] and combine
/// findings with [`Decision::and`]: patches accumulate, and any rejection wins
/// over every patch.
///
/// ```
/// use crm_plugin_sdk::{Decision, FieldError};
/// use serde_json::json;
///
/// let d = Decision::patch("phone", json!("+8613800138000"))
///     .with_patch("email", json!("li@example.com"));
/// assert_eq!(d.patched("phone"), Some(&json!("+8613800138000")));
///
/// let d = d.with_error(FieldError::new("birthDate", "INVALID_DATE", "not a date"));
/// assert!(d.is_reject());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Decision {
    /// Write the record as it is.
    #[default]
    Accept,
    /// Write the record with these fields replaced.
    Patch(Vec<FieldPatch>),
    /// Refuse the write; nothing is written.
    Reject(Vec<FieldError>),
}

/// Replace the value at a GraphQL field path (`phone`, `customFields.vin`)
/// with a JSON value.
///
/// ```
/// let p = crm_plugin_sdk::FieldPatch::new("phone", serde_json::json!("+8613800138000"));
/// assert_eq!(p.path, "phone");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPatch {
    /// GraphQL path of the field, dotted for nesting.
    pub path: String,
    /// The new value, as JSON (`null` clears the field).
    pub value: Value,
}

impl FieldPatch {
    /// A patch of `path` to `value`.
    ///
    /// ```
    /// let p = crm_plugin_sdk::FieldPatch::new("tags", serde_json::json!(["dq:junk-email"]));
    /// assert!(p.value.is_array());
    /// ```
    pub fn new(path: impl Into<String>, value: Value) -> Self {
        Self {
            path: path.into(),
            value,
        }
    }
}

/// A problem with one field of a record.
///
/// ```
/// use crm_plugin_sdk::FieldError;
///
/// let e = FieldError::new("phone", "INVALID_PHONE", "'12' is too short to be a phone number");
/// assert_eq!(e.code, "INVALID_PHONE");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// GraphQL path of the field (`email`, `customFields.vin`).
    pub path: String,
    /// Machine-readable code, upper snake case (`INVALID_PHONE`).
    pub code: String,
    /// What is wrong, for the person who made the write.
    pub message: String,
}

impl FieldError {
    /// A field error.
    ///
    /// ```
    /// let e = crm_plugin_sdk::FieldError::new("email", "INVALID_EMAIL", "missing '@'");
    /// assert_eq!(e.path, "email");
    /// ```
    pub fn new(
        path: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

impl Decision {
    /// Patch one field.
    ///
    /// ```
    /// let d = crm_plugin_sdk::Decision::patch("lastName", serde_json::json!("Wang"));
    /// assert_eq!(d.patches().len(), 1);
    /// ```
    pub fn patch(path: impl Into<String>, value: Value) -> Self {
        Self::Patch(vec![FieldPatch::new(path, value)])
    }

    /// Reject the write because of one field.
    ///
    /// ```
    /// use crm_plugin_sdk::{Decision, FieldError};
    ///
    /// let d = Decision::reject(FieldError::new("email", "INVALID_EMAIL", "missing '@'"));
    /// assert_eq!(d.errors()[0].code, "INVALID_EMAIL");
    /// ```
    pub fn reject(error: FieldError) -> Self {
        Self::Reject(vec![error])
    }

    /// This decision with one more patch; a later patch of the same path
    /// replaces the earlier one. A rejection stays a rejection.
    ///
    /// ```
    /// use crm_plugin_sdk::Decision;
    /// use serde_json::json;
    ///
    /// let d = Decision::Accept.with_patch("phone", json!("+1")).with_patch("phone", json!("+2"));
    /// assert_eq!(d.patches().len(), 1);
    /// assert_eq!(d.patched("phone"), Some(&json!("+2")));
    /// ```
    pub fn with_patch(self, path: impl Into<String>, value: Value) -> Self {
        let patch = FieldPatch::new(path, value);
        match self {
            Self::Accept => Self::Patch(vec![patch]),
            Self::Patch(mut patches) => {
                match patches.iter_mut().find(|p| p.path == patch.path) {
                    Some(existing) => *existing = patch,
                    None => patches.push(patch),
                }
                Self::Patch(patches)
            }
            reject @ Self::Reject(_) => reject,
        }
    }

    /// This decision with one more field error: it becomes a rejection.
    ///
    /// ```
    /// use crm_plugin_sdk::{Decision, FieldError};
    ///
    /// let d = Decision::patch("phone", serde_json::json!("+1"))
    ///     .with_error(FieldError::new("email", "INVALID_EMAIL", "missing '@'"));
    /// assert!(d.is_reject());
    /// assert!(d.patches().is_empty());
    /// ```
    pub fn with_error(self, error: FieldError) -> Self {
        match self {
            Self::Reject(mut errors) => {
                errors.push(error);
                Self::Reject(errors)
            }
            Self::Accept | Self::Patch(_) => Self::Reject(vec![error]),
        }
    }

    /// Combine two findings: accept is neutral, patches accumulate (later
    /// wins per path), rejections win and accumulate their errors.
    ///
    /// ```
    /// use crm_plugin_sdk::Decision;
    /// use serde_json::json;
    ///
    /// let d = Decision::Accept
    ///     .and(Decision::patch("email", json!("a@b.cn")))
    ///     .and(Decision::patch("phone", json!("+8613800138000")));
    /// assert_eq!(d.patches().len(), 2);
    /// ```
    pub fn and(self, other: Decision) -> Self {
        match other {
            Self::Accept => self,
            Self::Patch(patches) => patches
                .into_iter()
                .fold(self, |d, p| d.with_patch(p.path, p.value)),
            Self::Reject(errors) => {
                let base = match self {
                    Self::Reject(_) => self,
                    Self::Accept | Self::Patch(_) => Self::Reject(Vec::new()),
                };
                errors.into_iter().fold(base, Self::with_error)
            }
        }
    }

    /// Whether the record is written unchanged.
    ///
    /// ```
    /// assert!(crm_plugin_sdk::Decision::Accept.is_accept());
    /// ```
    pub fn is_accept(&self) -> bool {
        matches!(self, Self::Accept)
    }

    /// Whether the write is refused.
    ///
    /// ```
    /// use crm_plugin_sdk::{Decision, FieldError};
    /// assert!(Decision::reject(FieldError::new("email", "X", "y")).is_reject());
    /// ```
    pub fn is_reject(&self) -> bool {
        matches!(self, Self::Reject(_))
    }

    /// The patches (empty unless this is [`Decision::Patch`]).
    ///
    /// ```
    /// assert!(crm_plugin_sdk::Decision::Accept.patches().is_empty());
    /// ```
    pub fn patches(&self) -> &[FieldPatch] {
        match self {
            Self::Patch(patches) => patches,
            Self::Accept | Self::Reject(_) => &[],
        }
    }

    /// The field errors (empty unless this is [`Decision::Reject`]).
    ///
    /// ```
    /// assert!(crm_plugin_sdk::Decision::Accept.errors().is_empty());
    /// ```
    pub fn errors(&self) -> &[FieldError] {
        match self {
            Self::Reject(errors) => errors,
            Self::Accept | Self::Patch(_) => &[],
        }
    }

    /// The new value of `path`, if this decision patches it.
    ///
    /// ```
    /// let d = crm_plugin_sdk::Decision::patch("phone", serde_json::json!("+8613800138000"));
    /// assert_eq!(d.patched("phone"), Some(&serde_json::json!("+8613800138000")));
    /// assert_eq!(d.patched("email"), None);
    /// ```
    pub fn patched(&self, path: &str) -> Option<&Value> {
        self.patches()
            .iter()
            .find(|p| p.path == path)
            .map(|p| &p.value)
    }

    /// The field error of `path`, if this decision rejects because of it.
    ///
    /// ```
    /// use crm_plugin_sdk::{Decision, FieldError};
    ///
    /// let d = Decision::reject(FieldError::new("email", "INVALID_EMAIL", "missing '@'"));
    /// assert_eq!(d.error("email").map(|e| e.code.as_str()), Some("INVALID_EMAIL"));
    /// ```
    pub fn error(&self, path: &str) -> Option<&FieldError> {
        self.errors().iter().find(|e| e.path == path)
    }
}
