//! The portable query model: filters, ordering and pages, independent of GraphQL.
//!
//! The graphql crate turns its `XxxFilter` inputs into a [`Filter`]; each
//! entity's [`crate::record::Kind`] maps field names to columns.

use serde_json::Value;

/// Comparison operators of DESIGN §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    StartsWith,
    /// `value` is a JSON bool: `true` = IS NULL, `false` = IS NOT NULL.
    IsNull,
}

/// A filter tree over an entity's fields (GraphQL names).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cond { field: String, op: Op, value: Value },
}

/// One ordering key (GraphQL field name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub field: String,
    pub desc: bool,
}

/// What page to read. Cursors are opaque to clients; inside they are offsets.
#[derive(Debug, Clone, Default)]
pub struct ListArgs {
    pub filter: Option<Filter>,
    pub order: Vec<OrderBy>,
    pub offset: u64,
    pub limit: u64,
    /// Count all matching rows (only when the client asked for `totalCount`).
    pub count: bool,
}

/// A page of records.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub offset: u64,
    pub total: Option<u64>,
    /// Whether rows exist after this page.
    pub has_more: bool,
}

/// How a field's JSON value converts to a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// Stored lower-case, exposed as an upper-case GraphQL enum.
    Enum,
    Id,
    Int,
    Float,
    Bool,
    DateTime,
    Date,
}
