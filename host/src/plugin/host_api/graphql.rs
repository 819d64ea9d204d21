//! `query` and `mutate`: GraphQL as the plugin's own principal.
//!
//! The permission check of this capability is the principal itself: the
//! GraphQL layer allows a plugin principal exactly its `read:<entity>` and
//! `write:<entity>` grants. This module makes sure `query` only queries and
//! `mutate` only mutates (so a handler's intent is visible in its code and
//! run log), and turns the GraphQL layer's refusal into the host API's
//! `FORBIDDEN` naming the missing grant.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use serde_json::Value;

use super::{HostError, HostGate, host_codes, parse_json};

/// Longest GraphQL document a handler may send.
const MAX_DOCUMENT: usize = 64 << 10;

pub(crate) fn query(gate: &HostGate, document: &str, variables: &str) -> Result<String, HostError> {
    let variables = checked(document, variables, OperationType::Query)?;
    let data = gate
        .api
        .query(document, &variables)
        .map_err(|e| name_grant(gate, e))?;
    Ok(data.to_string())
}

pub(crate) fn mutate(
    gate: &HostGate,
    document: &str,
    variables: &str,
) -> Result<String, HostError> {
    let variables = checked(document, variables, OperationType::Mutation)?;
    let data = gate
        .api
        .mutate(document, &variables)
        .map_err(|e| name_grant(gate, e))?;
    Ok(data.to_string())
}

/// The variables, once the document is known to hold one operation of `want`.
fn checked(document: &str, variables: &str, want: OperationType) -> Result<Value, HostError> {
    if document.len() > MAX_DOCUMENT {
        return Err(HostError::bad_request(format!(
            "the GraphQL document is {} bytes, over the limit of {MAX_DOCUMENT}",
            document.len()
        )));
    }
    let found = operation_type(document)?;
    if found != want {
        let (call, other) = match want {
            OperationType::Mutation => ("mutate", "query"),
            _ => ("query", "mutate"),
        };
        return Err(HostError::bad_request(format!(
            "{call} takes a {} but the document is a {}{}",
            name(want),
            name(found),
            if found == OperationType::Subscription {
                " (handlers cannot subscribe)".to_owned()
            } else {
                format!("; use {other}")
            }
        )));
    }
    let variables = parse_json(variables, "variables")?;
    match variables {
        Value::Null => Ok(Value::Object(Default::default())),
        Value::Object(_) => Ok(variables),
        _ => Err(HostError::bad_request(
            "variables must be a JSON object (or empty)",
        )),
    }
}

fn name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

/// The type of the document's only operation.
fn operation_type(document: &str) -> Result<OperationType, HostError> {
    let doc = async_graphql::parser::parse_query(document)
        .map_err(|e| HostError::new("GRAPHQL_PARSE_FAILED", e.to_string()))?;
    match &doc.operations {
        DocumentOperations::Single(op) => Ok(op.node.ty),
        DocumentOperations::Multiple(ops) => {
            let mut types = ops.values().map(|op| op.node.ty);
            match (types.next(), types.next()) {
                (Some(ty), None) => Ok(ty),
                _ => Err(HostError::bad_request(
                    "the document holds several operations; send one per call",
                )),
            }
        }
    }
}

/// The GraphQL layer refuses a plugin with "... may not <verb> <entity>":
/// say which grant is missing.
fn name_grant(gate: &HostGate, e: HostError) -> HostError {
    if !e.is_forbidden() {
        return e;
    }
    match missing_grant(&e.message) {
        Some(grant) => HostError::lacks_grant(&gate.plugin, &grant),
        None => HostError::new(
            host_codes::FORBIDDEN,
            format!("plugin {} was refused: {}", gate.plugin, e.message),
        ),
    }
}

fn missing_grant(message: &str) -> Option<String> {
    let rest = &message[message.find("may not ")? + "may not ".len()..];
    let mut words = rest.split_whitespace();
    let verb = words.next()?;
    let entity: String = words
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if entity.is_empty() {
        return None;
    }
    match verb {
        "read" => Some(format!("read:{entity}")),
        "create" | "update" | "delete" => Some(format!("write:{entity}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_types_are_checked() {
        assert!(checked("{ contacts { totalCount } }", "", OperationType::Query).is_ok());
        assert!(
            checked(
                "query Q($id: ID!) { contact(id: $id) { id } }",
                r#"{"id": "1"}"#,
                OperationType::Query
            )
            .is_ok()
        );
        let e = checked(
            "mutation { deleteContact(id: \"1\") { id } }",
            "",
            OperationType::Query,
        )
        .expect_err("a mutation sent to query");
        assert_eq!(e.code, "BAD_REQUEST");
        assert!(e.message.contains("use mutate"), "{e}");
        let e = checked("{ contacts { totalCount } }", "", OperationType::Mutation)
            .expect_err("a query sent to mutate");
        assert!(e.message.contains("use query"), "{e}");
        let e = checked("subscription { events { kind } }", "", OperationType::Query)
            .expect_err("subscriptions");
        assert!(e.message.contains("cannot subscribe"), "{e}");
        let e = checked("query A { a } mutation B { b }", "", OperationType::Query)
            .expect_err("several operations");
        assert!(e.message.contains("several operations"), "{e}");
        let e = checked("{ a", "", OperationType::Query).expect_err("syntax");
        assert_eq!(e.code, "GRAPHQL_PARSE_FAILED");
        let e = checked("{ a }", "[1]", OperationType::Query).expect_err("variables");
        assert!(e.message.contains("JSON object"), "{e}");
        let e = checked("{ a }", "{", OperationType::Query).expect_err("variables");
        assert!(e.message.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn refusals_name_the_grant() {
        assert_eq!(
            missing_grant("role plugin may not update contact").as_deref(),
            Some("write:contact")
        );
        assert_eq!(
            missing_grant("forbidden: role plugin may not read deal").as_deref(),
            Some("read:deal")
        );
        assert_eq!(missing_grant("nope"), None);
    }
}
