//! The one error type of the domain, mapped to GraphQL `extensions.code` by the graphql crate.

use crate::plugin_api::{PluginFailure, PluginRejection};

/// A problem with one input field, by GraphQL path (`input.email`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub path: String,
    /// Machine-readable: `REQUIRED`, `INVALID_EMAIL`, `INVALID_PHONE`, `INVALID_VALUE`, `UNKNOWN_FIELD`, ...
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.path, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("rejected by plugin {}: {}", .0.plugin, .0.errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect::<Vec<_>>().join("; "))]
    PluginRejected(PluginRejection),
    #[error(transparent)]
    PluginFailed(PluginFailure),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    /// The machine-readable code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::NotFound { .. } => "NOT_FOUND",
            CoreError::Invalid(_) => "BAD_USER_INPUT",
            CoreError::Forbidden(_) => "FORBIDDEN",
            CoreError::Unauthenticated(_) => "UNAUTHENTICATED",
            CoreError::Conflict(_) => "CONFLICT",
            CoreError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            CoreError::PluginRejected(_) => "PLUGIN_REJECTED",
            CoreError::PluginFailed(_) => "PLUGIN_FAILED",
            CoreError::Db(_) | CoreError::Internal(_) => "INTERNAL",
        }
    }

    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        CoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub fn invalid(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        CoreError::Invalid(vec![FieldError::new(path, code, message)])
    }

    /// A unique-constraint violation becomes `CONFLICT`; everything else stays a DB error.
    pub fn from_db(e: sea_orm::DbErr, what: &str) -> Self {
        let msg = e.to_string().to_lowercase();
        if msg.contains("unique") || msg.contains("duplicate key") {
            CoreError::Conflict(format!("{what} already exists"))
        } else {
            CoreError::Db(e)
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
