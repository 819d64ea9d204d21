//! Shared pieces of resolvers: request context access, enums, JSON scalar helpers.

use async_graphql::{Context, Enum};
use crm_core::{CoreError, Crm, Principal};

/// The caller (inserted per request by the host after authentication).
pub fn principal<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>().ok_or_else(|| {
        crate::error::to_gql_error(CoreError::Unauthenticated(
            "send `Authorization: Bearer <api key>`".into(),
        ))
    })
}

pub fn crm<'a>(ctx: &'a Context<'_>) -> &'a Crm {
    ctx.data_unchecked::<Crm>()
}

pub fn loaders<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a crate::loaders::Loaders> {
    ctx.data::<crate::loaders::Loaders>()
}

/// Parse a GraphQL ID into a UUID, as a `BAD_USER_INPUT` on `arg` when it is not one.
pub fn uuid(id: &async_graphql::ID, arg: &str) -> async_graphql::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| {
        crate::error::to_gql_error(CoreError::invalid(
            arg,
            "INVALID_ID",
            format!("{:?} is not an id", id.as_str()),
        ))
    })
}

pub fn gid(u: uuid::Uuid) -> async_graphql::ID {
    async_graphql::ID(u.to_string())
}

/// Declare a GraphQL enum stored lower-case in the database.
#[macro_export]
macro_rules! db_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident => $db:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($var),* }

        impl $name {
            pub fn from_db(s: &str) -> Self {
                match s { $($db => $name::$var,)* _ => [$($name::$var),*][0] }
            }
        }
    };
}

db_enum!(
    /// Customer lifecycle (DOMAIN §4).
    LifecycleStage { Prospect => "prospect", Acquired => "acquired", Active => "active", AtRisk => "at_risk", Churned => "churned", WonBack => "won_back" }
);
db_enum!(ActivityKind { Call => "call", Email => "email", Meeting => "meeting", Visit => "visit", Note => "note", TestDrive => "test_drive" });
db_enum!(TaskStatus { Open => "open", InProgress => "in_progress", Done => "done", Cancelled => "cancelled" });
db_enum!(
    /// P1 = system down ... P4 = question.
    TicketPriority { P1 => "p1", P2 => "p2", P3 => "p3", P4 => "p4" }
);
db_enum!(TicketStatus { Open => "open", Pending => "pending", Resolved => "resolved", Closed => "closed" });
db_enum!(OrderStatus { Draft => "draft", Confirmed => "confirmed", Paid => "paid", Fulfilled => "fulfilled", Cancelled => "cancelled" });
db_enum!(Role { Admin => "admin", Manager => "manager", Sales => "sales", Support => "support", ReadOnly => "read_only", Plugin => "plugin" });
db_enum!(CustomFieldKind { Text => "text", Number => "number", Date => "date", Bool => "bool", Enum => "enum" });
db_enum!(RecordEntity { Contact => "contact", Company => "company", Deal => "deal", Ticket => "ticket", Order => "order" });

impl Role {
    pub fn to_core(self) -> crm_core::Role {
        crm_core::Role::parse(match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Support => "support",
            Role::ReadOnly => "read_only",
            Role::Plugin => "plugin",
        })
        .unwrap_or(crm_core::Role::ReadOnly)
    }
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

/// Declare `XxxOrderField` and `XxxOrderBy` for an entity.
#[macro_export]
macro_rules! order_input {
    ($order:ident, $field_enum:ident { $($var:ident => $name:literal),* $(,)? }) => {
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
        #[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
        pub enum $field_enum { $($var,)* Score }

        #[derive(async_graphql::InputObject, Clone, Debug)]
        pub struct $order {
            pub field: $field_enum,
            #[graphql(default)]
            pub direction: $crate::common::SortDirection,
            /// With `field: SCORE`: the plugin whose score orders the records.
            pub score_plugin: Option<String>,
            /// With `field: SCORE`: the score name (default: the plugin's first score).
            pub score_name: Option<String>,
        }

        impl $order {
            pub fn to_core(list: &Option<Vec<$order>>) -> Vec<crm_core::query::OrderBy> {
                list.iter().flatten().map(|o| crm_core::query::OrderBy {
                    field: match o.field {
                        $($field_enum::$var => $name.to_string(),)*
                        $field_enum::Score => format!("score:{}:{}", o.score_plugin.clone().unwrap_or_default(), o.score_name.clone().unwrap_or_default()),
                    },
                    desc: o.direction == $crate::common::SortDirection::Desc,
                }).collect()
            }
        }
    };
}

/// Serialize a GraphQL input object into the JSON candidate core expects,
/// dropping fields the client did not send.
pub fn to_json<T: serde::Serialize>(input: &T) -> serde_json::Value {
    serde_json::to_value(input).unwrap_or(serde_json::Value::Null)
}
