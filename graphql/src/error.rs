//! The one place where domain errors become GraphQL errors (`extensions.code`, field paths).

use async_graphql::{Error, ErrorExtensions};
use crm_core::CoreError;

/// Map a [`CoreError`] to a GraphQL error with `extensions.code`, and for input
/// errors `extensions.field` (the first path) and `extensions.fields` (all).
pub fn to_gql_error(e: CoreError) -> Error {
    let code = e.code();
    let message = match &e {
        CoreError::Db(_) | CoreError::Internal(_) => {
            tracing::error!(error = %e, "internal error");
            "internal error; the server log has details".to_string()
        }
        _ => e.to_string(),
    };
    Error::new(message).extend_with(|_, ext| {
        ext.set("code", code);
        match &e {
            CoreError::Invalid(fields) => {
                if let Some(f) = fields.first() {
                    ext.set("field", f.path.clone());
                }
                ext.set(
                    "fields",
                    async_graphql::Value::List(fields.iter().map(field_value).collect()),
                );
            }
            CoreError::PluginRejected(r) => {
                ext.set("plugin", r.plugin.clone());
                if let Some(f) = r.errors.first() {
                    ext.set("field", format!("input.{}", f.path));
                }
                ext.set(
                    "fields",
                    async_graphql::Value::List(
                        r.errors
                            .iter()
                            .map(|f| {
                                field_value(&crm_core::FieldError::new(
                                    format!("input.{}", f.path),
                                    &f.code,
                                    f.message.clone(),
                                ))
                            })
                            .collect(),
                    ),
                );
            }
            CoreError::PluginFailed(f) => {
                ext.set("plugin", f.plugin.clone());
                ext.set("reason", f.code.clone());
            }
            CoreError::NotFound { entity, id } => {
                ext.set("entity", *entity);
                ext.set("id", id.clone());
            }
            _ => {}
        }
    })
}

fn field_value(f: &crm_core::FieldError) -> async_graphql::Value {
    let mut m = async_graphql::indexmap::IndexMap::new();
    m.insert(
        async_graphql::Name::new("path"),
        async_graphql::Value::String(f.path.clone()),
    );
    m.insert(
        async_graphql::Name::new("code"),
        async_graphql::Value::String(f.code.clone()),
    );
    m.insert(
        async_graphql::Name::new("message"),
        async_graphql::Value::String(f.message.clone()),
    );
    async_graphql::Value::Object(m)
}

/// `?`-friendly conversion for resolvers.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, CoreError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_gql_error)
    }
}
