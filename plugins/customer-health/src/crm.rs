//! What the plugin reads from and writes to the CRM, through the host API.
//! Each GraphQL document is a constant, so the schema it relies on is in
//! one place.

use crm_plugin_sdk::host::{self, HostError};
use crm_plugin_sdk::{Error, log};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Facts;

/// The facts of one company, with its name and owner.
pub const COMPANY: &str = "query($id: ID!) { company(id: $id) { id name owner { id } \
    lastActivityDaysAgo openTicketsCount slaBreachesCount(days: 90) \
    ordersCount(days: 90) ordersValue(days: 90) } }";

/// The company of a contact.
pub const CONTACT_COMPANY: &str = "query($id: ID!) { contact(id: $id) { id company { id } } }";

/// One page of company ids.
pub const COMPANIES: &str = "query($c: String) { companies(first: 100, after: $c) { \
    edges { node { id } } pageInfo { hasNextPage endCursor } } }";

/// Store the score under this plugin's id.
pub const SET_SCORE: &str = "mutation($i: ScoreInput!) { setScore(input: $i) }";

/// A task.
pub const CREATE_TASK: &str = "mutation($i: TaskInput!) { createTask(input: $i) { id } }";

/// A company and what its health is computed from.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Company {
    pub id: String,
    pub name: Option<String>,
    pub owner: Option<Ref>,
    #[serde(flatten)]
    pub facts: Facts,
}

/// A linked record, by id.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Ref {
    pub id: String,
}

/// The company `id`, or `None` if it no longer exists (deleted since the
/// event, or never visible to the plugin).
pub fn company(id: &str) -> Result<Option<Company>, Error> {
    let data = match host::query(COMPANY, json!({ "id": id })) {
        Err(e) if e.code == "NOT_FOUND" => return Ok(None),
        other => other?,
    };
    parse(&data["company"], "company")
}

/// The id of the company of contact `id`, if it has one.
pub fn company_of_contact(id: &str) -> Result<Option<String>, Error> {
    let data = match host::query(CONTACT_COMPANY, json!({ "id": id })) {
        Err(e) if e.code == "NOT_FOUND" => return Ok(None),
        other => other?,
    };
    Ok(data["contact"]["company"]["id"].as_str().map(str::to_owned))
}

/// Company ids after `cursor`, and the cursor of the next page if there is one.
pub fn company_page(cursor: Option<&str>) -> Result<(Vec<String>, Option<String>), Error> {
    let data = host::query(COMPANIES, json!({ "c": cursor }))?;
    let connection = &data["companies"];
    let ids = connection["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let next = match connection["pageInfo"]["hasNextPage"].as_bool() {
        Some(true) => connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned),
        _ => None,
    };
    Ok((ids, next))
}

/// Store the health of company `id`.
pub fn set_score(id: &str, value: u8, grade: &str, reasons: &[String]) -> Result<(), HostError> {
    let input = json!({
        "entity": "company",
        "recordId": id,
        "name": crate::SCORE_NAME,
        "value": value,
        "grade": grade,
        "reasons": reasons,
    });
    host::mutate(SET_SCORE, json!({ "i": input })).map(drop)
}

/// Create a task; returns its id (if the host said).
pub fn create_task(input: Value) -> Result<Option<String>, HostError> {
    let data = host::mutate(CREATE_TASK, json!({ "i": input }))?;
    Ok(data["createTask"]["id"].as_str().map(str::to_owned))
}

fn parse<T: for<'de> Deserialize<'de>>(value: &Value, what: &str) -> Result<Option<T>, Error> {
    if value.is_null() {
        log::warn(&format!("the {what} is gone"));
        return Ok(None);
    }
    T::deserialize(value)
        .map(Some)
        .map_err(|e| Error::new("BAD_RESPONSE", format!("{what}: {e}")))
}
