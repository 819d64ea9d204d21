//! Filter inputs (`{field: {eq neq in gt gte lt lte contains startsWith isNull}}`)
//! and their conversion to the portable [`crm_core::query::Filter`].

use async_graphql::InputObject;
use crm_core::query::{Filter, Op};
use serde_json::{Value, json};

/// Conversion of a field filter into conditions on `field`.
pub trait FieldFilter {
    fn conds(&self, field: &str, out: &mut Vec<Filter>);
}

fn push(out: &mut Vec<Filter>, field: &str, op: Op, v: Value) {
    out.push(Filter::Cond {
        field: field.to_string(),
        op,
        value: v,
    });
}

macro_rules! scalar_filter {
    ($name:ident, $ty:ty, $doc:literal, ordered: $ord:tt, text: $text:tt) => {
        #[doc = $doc]
        #[derive(InputObject, Default, Clone, Debug)]
        pub struct $name {
            pub eq: Option<$ty>,
            pub neq: Option<$ty>,
            #[graphql(name = "in")]
            pub in_: Option<Vec<$ty>>,
            pub gt: Option<$ty>,
            pub gte: Option<$ty>,
            pub lt: Option<$ty>,
            pub lte: Option<$ty>,
            pub contains: Option<String>,
            pub starts_with: Option<String>,
            /// `true`: the field is empty; `false`: it is set.
            pub is_null: Option<bool>,
        }

        impl FieldFilter for $name {
            fn conds(&self, field: &str, out: &mut Vec<Filter>) {
                if let Some(v) = &self.eq {
                    push(out, field, Op::Eq, json!(v));
                }
                if let Some(v) = &self.neq {
                    push(out, field, Op::Neq, json!(v));
                }
                if let Some(v) = &self.in_ {
                    push(out, field, Op::In, json!(v));
                }
                if let Some(v) = &self.gt {
                    push(out, field, Op::Gt, json!(v));
                }
                if let Some(v) = &self.gte {
                    push(out, field, Op::Gte, json!(v));
                }
                if let Some(v) = &self.lt {
                    push(out, field, Op::Lt, json!(v));
                }
                if let Some(v) = &self.lte {
                    push(out, field, Op::Lte, json!(v));
                }
                if let Some(v) = &self.contains {
                    push(out, field, Op::Contains, json!(v));
                }
                if let Some(v) = &self.starts_with {
                    push(out, field, Op::StartsWith, json!(v));
                }
                if let Some(v) = self.is_null {
                    push(out, field, Op::IsNull, json!(v));
                }
            }
        }
    };
}

scalar_filter!(StringFilter, String, "Conditions on a text field (contains/startsWith ignore case).", ordered: true, text: true);
scalar_filter!(IntFilter, i64, "Conditions on an integer field.", ordered: true, text: false);
scalar_filter!(FloatFilter, f64, "Conditions on a number field.", ordered: true, text: false);
scalar_filter!(DateTimeFilter, chrono::DateTime<chrono::Utc>, "Conditions on a date-time field (RFC 3339).", ordered: true, text: false);
scalar_filter!(DateFilter, chrono::NaiveDate, "Conditions on a date field (YYYY-MM-DD).", ordered: true, text: false);

/// Conditions on an id field.
#[derive(InputObject, Default, Clone, Debug)]
pub struct IdFilter {
    pub eq: Option<async_graphql::ID>,
    pub neq: Option<async_graphql::ID>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<async_graphql::ID>>,
    pub is_null: Option<bool>,
}

impl FieldFilter for IdFilter {
    fn conds(&self, field: &str, out: &mut Vec<Filter>) {
        if let Some(v) = &self.eq {
            push(out, field, Op::Eq, json!(v.as_str()));
        }
        if let Some(v) = &self.neq {
            push(out, field, Op::Neq, json!(v.as_str()));
        }
        if let Some(v) = &self.in_ {
            push(
                out,
                field,
                Op::In,
                json!(v.iter().map(|i| i.as_str()).collect::<Vec<_>>()),
            );
        }
        if let Some(v) = self.is_null {
            push(out, field, Op::IsNull, json!(v));
        }
    }
}

/// Conditions on a boolean field.
#[derive(InputObject, Default, Clone, Debug)]
pub struct BoolFilter {
    pub eq: Option<bool>,
}

impl FieldFilter for BoolFilter {
    fn conds(&self, field: &str, out: &mut Vec<Filter>) {
        if let Some(v) = self.eq {
            push(out, field, Op::Eq, json!(v));
        }
    }
}

/// Records carrying tags.
#[derive(InputObject, Default, Clone, Debug)]
pub struct TagFilter {
    /// Has this tag.
    pub contains: Option<String>,
    /// Has any of these tags.
    #[graphql(name = "in")]
    pub in_: Option<Vec<String>>,
}

impl FieldFilter for TagFilter {
    fn conds(&self, field: &str, out: &mut Vec<Filter>) {
        if let Some(v) = &self.contains {
            push(out, field, Op::Contains, json!(v));
        }
        if let Some(v) = &self.in_ {
            push(out, field, Op::In, json!(v));
        }
    }
}

/// Records having a plugin score matching these conditions.
#[derive(InputObject, Default, Clone, Debug, serde::Serialize)]
pub struct ScoreFilter {
    pub plugin: Option<String>,
    pub name: Option<String>,
    pub grade: Option<String>,
    pub value: Option<ScoreValueFilter>,
}

#[derive(InputObject, Default, Clone, Debug, serde::Serialize)]
pub struct ScoreValueFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gte: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lt: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lte: Option<i64>,
}

impl FieldFilter for ScoreFilter {
    fn conds(&self, field: &str, out: &mut Vec<Filter>) {
        push(out, field, Op::Eq, json!(self));
    }
}

/// Declare an entity filter input with `and`/`or`/`not` and its conversion.
#[macro_export]
macro_rules! entity_filter {
    ($name:ident { $($field:ident : $fty:ty => $gql:literal),* $(,)? }) => {
        #[derive(async_graphql::InputObject, Default, Clone, Debug)]
        pub struct $name {
            $(
                #[graphql(name = $gql)]
                pub $field: Option<$fty>,
            )*
            pub and: Option<Vec<$name>>,
            pub or: Option<Vec<$name>>,
            pub not: Option<Box<$name>>,
        }

        impl $name {
            pub fn to_filter(&self) -> crm_core::query::Filter {
                use $crate::filter::FieldFilter;
                let mut out = vec![];
                $( if let Some(f) = &self.$field { f.conds($gql, &mut out); } )*
                if let Some(a) = &self.and { out.push(crm_core::query::Filter::And(a.iter().map(|f| f.to_filter()).collect())); }
                if let Some(o) = &self.or { out.push(crm_core::query::Filter::Or(o.iter().map(|f| f.to_filter()).collect())); }
                if let Some(n) = &self.not { out.push(crm_core::query::Filter::Not(Box::new(n.to_filter()))); }
                crm_core::query::Filter::And(out)
            }
        }
    };
}

/// Declare an enum filter input for a GraphQL enum.
#[macro_export]
macro_rules! enum_filter {
    ($name:ident, $enum:ty) => {
        #[derive(async_graphql::InputObject, Default, Clone, Debug)]
        pub struct $name {
            pub eq: Option<$enum>,
            pub neq: Option<$enum>,
            #[graphql(name = "in")]
            pub in_: Option<Vec<$enum>>,
            pub is_null: Option<bool>,
        }

        impl $crate::filter::FieldFilter for $name {
            fn conds(&self, field: &str, out: &mut Vec<crm_core::query::Filter>) {
                use crm_core::query::{Filter, Op};
                let name = |e: &$enum| {
                    serde_json::Value::String(
                        async_graphql::InputType::to_value(e)
                            .to_string()
                            .trim_matches('"')
                            .to_string(),
                    )
                };
                if let Some(v) = &self.eq {
                    out.push(Filter::Cond {
                        field: field.into(),
                        op: Op::Eq,
                        value: name(v),
                    });
                }
                if let Some(v) = &self.neq {
                    out.push(Filter::Cond {
                        field: field.into(),
                        op: Op::Neq,
                        value: name(v),
                    });
                }
                if let Some(v) = &self.in_ {
                    out.push(Filter::Cond {
                        field: field.into(),
                        op: Op::In,
                        value: serde_json::Value::Array(v.iter().map(name).collect()),
                    });
                }
                if let Some(v) = self.is_null {
                    out.push(Filter::Cond {
                        field: field.into(),
                        op: Op::IsNull,
                        value: serde_json::Value::Bool(v),
                    });
                }
            }
        }
    };
}
