//! Finding likely duplicates by normalised e-mail, phone and name (DOMAIN §3).

use crate::Crm;
use crate::auth::{Action, Principal};
use crate::entity::{company, contact};
use crate::error::Result;
use crm_normalize::name::{companies_match, company_key, person_key};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Records that are probably the same customer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    /// `EMAIL`, `PHONE` or `NAME`.
    pub reason: &'static str,
    /// The normalised value they share.
    pub key: String,
    pub ids: Vec<Uuid>,
}

fn groups(
    reason: &'static str,
    pairs: impl IntoIterator<Item = (String, Uuid)>,
) -> Vec<DuplicateGroup> {
    let mut by: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for (k, id) in pairs {
        if !k.is_empty() {
            by.entry(k).or_default().push(id);
        }
    }
    by.into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(key, mut ids)| {
            ids.sort();
            DuplicateGroup { reason, key, ids }
        })
        .collect()
}

/// Likely duplicate contacts of the caller's tenant.
pub async fn contacts(crm: &Crm, p: &Principal) -> Result<Vec<DuplicateGroup>> {
    p.require(Action::Read, "contact")?;
    type Row = (Uuid, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = contact::Entity::find()
        .select_only()
        .columns([
            contact::Column::Id,
            contact::Column::FirstName,
            contact::Column::LastName,
            contact::Column::Email,
            contact::Column::Phone,
        ])
        .filter(contact::Column::TenantId.eq(p.tenant_id))
        .into_tuple()
        .all(&crm.db)
        .await?;
    let mut out = groups(
        "EMAIL",
        rows.iter()
            .filter_map(|r| r.3.as_ref().map(|e| (e.to_lowercase(), r.0))),
    );
    out.extend(groups(
        "PHONE",
        rows.iter()
            .filter_map(|r| r.4.as_ref().map(|ph| (ph.clone(), r.0))),
    ));
    out.extend(groups(
        "NAME",
        rows.iter().map(|r| (person_key(&r.1, &r.2), r.0)),
    ));
    Ok(out)
}

/// Likely duplicate companies: same normalised name, or one name is the other
/// plus branch/location words ("Acme Electronics" / "Acme Electronics Foshan"); same phone or domain.
pub async fn companies(crm: &Crm, p: &Principal) -> Result<Vec<DuplicateGroup>> {
    p.require(Action::Read, "company")?;
    let rows: Vec<(Uuid, String, Option<String>, Option<String>)> = company::Entity::find()
        .select_only()
        .columns([
            company::Column::Id,
            company::Column::Name,
            company::Column::Domain,
            company::Column::Phone,
        ])
        .filter(company::Column::TenantId.eq(p.tenant_id))
        .into_tuple()
        .all(&crm.db)
        .await?;
    let keys: Vec<(String, Uuid)> = rows.iter().map(|r| (company_key(&r.1), r.0)).collect();
    let mut by_key: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for (k, id) in &keys {
        by_key.entry(k.as_str()).or_default().push(*id);
    }
    // Group each key with every shorter key that is its token prefix.
    let mut name_groups: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for (k, id) in &keys {
        let tokens: Vec<&str> = k.split(' ').collect();
        let mut root = k.clone();
        for n in 1..tokens.len() {
            let prefix = tokens[..n].join(" ");
            if by_key.contains_key(prefix.as_str()) && companies_match(&prefix, k) {
                root = prefix;
                break;
            }
        }
        name_groups.entry(root).or_default().push(*id);
    }
    let mut out: Vec<DuplicateGroup> = name_groups
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(key, mut ids)| {
            ids.sort();
            DuplicateGroup {
                reason: "NAME",
                key,
                ids,
            }
        })
        .collect();
    out.extend(groups(
        "DOMAIN",
        rows.iter()
            .filter_map(|r| r.2.as_ref().map(|d| (d.clone(), r.0))),
    ));
    out.extend(groups(
        "PHONE",
        rows.iter()
            .filter_map(|r| r.3.as_ref().map(|ph| (ph.clone(), r.0))),
    ));
    Ok(out)
}
