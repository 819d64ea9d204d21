//! What the plugin reads from and writes to the CRM, through the host API.
//! Each GraphQL document is a constant, so the schema it relies on is in
//! one place.

use crm_plugin_sdk::host::{self, HostError};
use crm_plugin_sdk::{Error, log};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A contact, its owner (the assigned rep) and the rep's manager.
pub const CONTACT: &str = "query($id: ID!) { contact(id: $id) { id firstName lastName \
    owner { id manager { id } } tags } }";

/// Follow-ups still open past their due time, one page.
pub const OVERDUE_FOLLOW_UPS: &str = "query($now: DateTime!, $after: String) { \
    tasks(first: 100, after: $after, filter: { title: { startsWith: \"Test drive follow-up\" }, \
    status: { in: [OPEN, IN_PROGRESS] }, dueAt: { lt: $now } }) { \
    edges { node { id title dueAt assignee { id manager { id } } recordId } } \
    pageInfo { hasNextPage endCursor } } }";

/// A task.
pub const CREATE_TASK: &str = "mutation($i: TaskInput!) { createTask(input: $i) { id } }";

/// Replace a contact's tags (the list is replaced, not merged).
pub const UPDATE_TAGS: &str =
    "mutation($id: ID!, $i: ContactInput!) { updateContact(id: $id, input: $i) { id tags } }";

/// A contact as [`CONTACT`] reads it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub owner: Option<User>,
    #[serde(deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
}

impl Contact {
    /// First and last name, or the id when both are missing.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.id.clone()
        } else {
            name
        }
    }
}

/// A user and their manager.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: String,
    pub manager: Option<Ref>,
}

/// A linked record, by id.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Ref {
    pub id: String,
}

/// A follow-up task as [`OVERDUE_FOLLOW_UPS`] reads it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub due_at: Option<String>,
    pub assignee: Option<User>,
    /// The contact the follow-up is about.
    pub record_id: Option<String>,
}

/// The contact `id`, or `None` if it no longer exists.
pub fn contact(id: &str) -> Result<Option<Contact>, Error> {
    let data = match host::query(CONTACT, json!({ "id": id })) {
        Err(e) if e.code == "NOT_FOUND" => return Ok(None),
        other => other?,
    };
    parse(&data["contact"], "contact")
}

/// One page of overdue follow-ups, and the cursor of the next page if any.
pub fn overdue_follow_ups(
    now: &str,
    after: Option<&str>,
) -> Result<(Vec<Task>, Option<String>), Error> {
    let data = host::query(OVERDUE_FOLLOW_UPS, json!({ "now": now, "after": after }))?;
    let connection = &data["tasks"];
    let tasks = connection["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| match parse::<Task>(&e["node"], "task") {
                    Ok(task) => task,
                    Err(e) => {
                        log::warn(&e.to_string());
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let next = match connection["pageInfo"]["hasNextPage"].as_bool() {
        Some(true) => connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned),
        _ => None,
    };
    Ok((tasks, next))
}

/// Create a task; returns its id (if the host said).
pub fn create_task(input: Value) -> Result<Option<String>, HostError> {
    let data = host::mutate(CREATE_TASK, json!({ "i": input }))?;
    Ok(data["createTask"]["id"].as_str().map(str::to_owned))
}

/// Replace the tags of contact `id`.
pub fn set_tags(id: &str, tags: &[String]) -> Result<(), HostError> {
    host::mutate(UPDATE_TAGS, json!({ "id": id, "i": { "tags": tags } })).map(drop)
}

fn parse<T: DeserializeOwned>(value: &Value, what: &str) -> Result<Option<T>, Error> {
    if value.is_null() {
        return Ok(None);
    }
    T::deserialize(value)
        .map(Some)
        .map_err(|e| Error::new("BAD_RESPONSE", format!("{what}: {e}")))
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}
