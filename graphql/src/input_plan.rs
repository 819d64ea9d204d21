//! Plugin input queries without the GraphQL executor.
//!
//! A score function declares the GraphQL selection it wants per record
//! (`{ id title company { employeeCount } lastActivityDaysAgo }`); its
//! records are the JSON result of that selection. Running it through the
//! executor costs a resolver call per field per record, which dominates a
//! bulk rescore. An [`InputPlan`] is the same selection compiled once into
//! column reads and a handful of batched queries (rows by id, companies,
//! tags, engagement aggregates), producing the same JSON.
//!
//! Only selections whose every field is understood here compile; anything
//! else (fragments, directives, variables, unknown fields, relations not
//! listed) yields `None` and the caller runs the real query, which also
//! produces the real errors. The two paths are checked against each other
//! by the end-to-end tests (`tests/tests/input_plan.rs`).

use std::collections::HashMap;

use async_graphql::ScalarType;
use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};
use async_graphql::{InputType, Name, Value as GqlValue};
use crm_core::auth::Action;
use crm_core::custom_field::SensitiveRead;
use crm_core::entity::{company, contact, deal};
use crm_core::{CoreError, Crm, Principal, record};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::common::LifecycleStage;

/// A compiled input selection for one entity.
#[derive(Debug, Clone)]
pub struct InputPlan {
    root: Root,
}

#[derive(Debug, Clone)]
enum Root {
    Contact(Vec<Out<ContactField>>),
    Company(Vec<Out<CompanyField>>),
    Deal(Vec<Out<DealField>>),
}

/// A field under its response key.
#[derive(Debug, Clone, PartialEq)]
struct Out<F> {
    key: String,
    field: F,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ContactScalar {
    Id,
    FirstName,
    LastName,
    Name,
    Email,
    Phone,
    Title,
    LifecycleStage,
    BirthDate,
    CustomFields,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Engagement {
    ActivityCount,
    RecentActivityCount(i64),
    LastActivityAt,
    LastActivityDaysAgo,
    OpenDealsValue,
    OpenDealsCount,
}

#[derive(Debug, Clone, PartialEq)]
enum ContactField {
    Scalar(ContactScalar),
    Tags,
    Engagement(Engagement),
    Company(Vec<Out<CompanyField>>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CompanyScalar {
    Id,
    Name,
    Domain,
    Industry,
    EmployeeCount,
    AnnualRevenue,
    Phone,
    Country,
    City,
    LifecycleStage,
    CustomFields,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, PartialEq)]
enum CompanyField {
    Scalar(CompanyScalar),
    Tags,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DealField {
    Id,
    Name,
    Amount,
    Currency,
    ExpectedCloseDate,
    StageEnteredAt,
    ClosedAt,
    CustomFields,
    CreatedAt,
    UpdatedAt,
}

impl InputPlan {
    /// Compile `selection` (the body of a `{ ... }` selection set, braces
    /// optional) for `entity`, with `id` selected first as the host always
    /// asks. `None` when the selection needs the GraphQL executor.
    pub fn compile(entity: &str, selection: &str) -> Option<InputPlan> {
        let body = selection
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}');
        let doc = async_graphql::parser::parse_query(format!("{{ id {body} }}")).ok()?;
        if !doc.fragments.is_empty() {
            return None;
        }
        let DocumentOperations::Single(op) = doc.operations else {
            return None;
        };
        let op = op.node;
        if !op.variable_definitions.is_empty() || !op.directives.is_empty() {
            return None;
        }
        let set = &op.selection_set.node;
        let root = match entity {
            "contact" => Root::Contact(fields(set, contact_field)?),
            "company" => Root::Company(fields(set, company_field)?),
            "deal" => Root::Deal(fields(set, |name, args, sub| {
                if args.is_empty() && sub.items.is_empty() {
                    deal_field(name)
                } else {
                    None
                }
            })?),
            _ => return None,
        };
        Some(InputPlan { root })
    }

    /// Whether `p` may read everything the plan reads. When it may not, run
    /// the real query: it decides what the principal sees and how it fails.
    pub fn permitted(&self, p: &Principal) -> bool {
        let may = |e: &str| p.may(Action::Read, e);
        match &self.root {
            Root::Contact(fs) => {
                may("contact")
                    && fs
                        .iter()
                        .all(|f| !matches!(f.field, ContactField::Company(_)) || may("company"))
            }
            Root::Company(_) => may("company"),
            Root::Deal(_) => may("deal"),
        }
    }

    /// Where the plan's records hold `customFields`: (response keys from
    /// the record down to the object, the entity it belongs to). Empty when
    /// the plan reads none.
    fn custom_field_paths(&self) -> Vec<(Vec<&str>, &'static str)> {
        fn company<'a>(
            fs: &'a [Out<CompanyField>],
            under: Option<&'a str>,
        ) -> Vec<(Vec<&'a str>, &'static str)> {
            fs.iter()
                .filter(|c| c.field == CompanyField::Scalar(CompanyScalar::CustomFields))
                .map(|c| {
                    (
                        under.into_iter().chain([c.key.as_str()]).collect(),
                        "company",
                    )
                })
                .collect()
        }
        match &self.root {
            Root::Contact(fs) => fs
                .iter()
                .flat_map(|f| match &f.field {
                    ContactField::Scalar(ContactScalar::CustomFields) => {
                        vec![(vec![f.key.as_str()], "contact")]
                    }
                    ContactField::Company(cs) => company(cs, Some(&f.key)),
                    _ => vec![],
                })
                .collect(),
            Root::Company(fs) => company(fs, None),
            Root::Deal(fs) => fs
                .iter()
                .filter(|f| f.field == DealField::CustomFields)
                .map(|f| (vec![f.key.as_str()], "deal"))
                .collect(),
        }
    }

    /// [`InputPlan::run_on`] as `reader` (a plugin's principal) may see the
    /// records: sensitive custom fields masked without `pii:read`; with it,
    /// opened with `key`, and each record whose sensitive values were shown
    /// listed for the audit log (the caller writes it, in its transaction).
    /// A plan that reads no custom fields costs nothing more.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_for<C: ConnectionTrait>(
        &self,
        db: &C,
        now: crm_core::Timestamp,
        tenant: Uuid,
        ids: &[Uuid],
        created: bool,
        reader: &Principal,
        key: &crm_core::secrets::DataKey,
    ) -> Result<(Vec<(Uuid, String)>, Vec<SensitiveRead>), CoreError> {
        use crm_core::custom_field as cf;
        let records = self.run_on(db, now, tenant, ids, created).await?;
        let paths = self.custom_field_paths();
        if paths.is_empty() {
            return Ok((records, vec![]));
        }
        let mut sensitive: HashMap<&str, Vec<String>> = HashMap::new();
        for (_, entity) in &paths {
            if !sensitive.contains_key(entity) {
                sensitive.insert(entity, cf::sensitive_keys(db, tenant, entity).await?);
            }
        }
        if sensitive.values().all(Vec::is_empty) {
            return Ok((records, vec![]));
        }
        let reveal = cf::reveals(reader);
        let mut reads = vec![];
        let mut out = Vec::with_capacity(records.len());
        for (id, text) in records {
            let mut doc: Value = serde_json::from_str(&text)
                .map_err(|e| CoreError::Internal(format!("planned input is not JSON: {e}")))?;
            for (path, entity) in &paths {
                let keys = sensitive.get(entity).map_or(&[][..], Vec::as_slice);
                // The record the values belong to: the root, or the nested
                // company when its id was selected (else the root, naming
                // the field through the company).
                let owner = match path.len() {
                    1 => Some((id, *entity, "")),
                    _ => doc
                        .get(path[0])
                        .and_then(|c| c.get("id"))
                        .and_then(Value::as_str)
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .map_or(Some((id, self.entity(), "company.")), |cid| {
                            Some((cid, *entity, ""))
                        }),
                };
                let Some(values) = path.iter().try_fold(&mut doc, |v, k| v.get_mut(*k)) else {
                    continue;
                };
                let shown = cf::present(values, keys);
                if shown.is_empty() {
                    continue;
                }
                if reveal {
                    cf::open_sealed_with(key, tenant, entity, values, keys)?;
                    if let Some((record_id, owner_entity, prefix)) = owner {
                        reads.push(SensitiveRead {
                            entity: owner_entity.to_string(),
                            record_id,
                            keys: shown.iter().map(|k| format!("{prefix}{k}")).collect(),
                        });
                    }
                } else {
                    cf::mask(values, keys);
                }
            }
            out.push((id, doc.to_string()));
        }
        Ok((out, reads))
    }

    /// The entity of the plan's records.
    fn entity(&self) -> &'static str {
        match &self.root {
            Root::Contact(_) => "contact",
            Root::Company(_) => "company",
            Root::Deal(_) => "deal",
        }
    }

    /// The records of `ids` in the tenant (missing ids are skipped), each as
    /// the JSON text the GraphQL query would have produced for it, with
    /// custom fields as stored: a plugin's input goes through
    /// [`InputPlan::run_for`], which masks or opens sensitive ones.
    pub async fn run(
        &self,
        crm: &Crm,
        tenant: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, CoreError> {
        self.run_on(&crm.db, crm.now(), tenant, ids, false).await
    }

    /// [`InputPlan::run`] on connection `db` as of `now`: inside a write's
    /// transaction, it sees the write. `created`: the transaction created
    /// the records, so no activity or deal refers to them yet and their
    /// engagement (counts, last activity, open deals) is known to be empty
    /// without reading it.
    pub async fn run_on<C: ConnectionTrait>(
        &self,
        db: &C,
        now: crm_core::Timestamp,
        tenant: Uuid,
        ids: &[Uuid],
        created: bool,
    ) -> Result<Vec<(Uuid, String)>, CoreError> {
        match &self.root {
            Root::Contact(fs) => run_contacts(db, now, tenant, ids, fs, created).await,
            Root::Company(fs) => {
                let rows =
                    record::get_many_on::<crm_core::company::Company, _>(db, tenant, ids).await?;
                let tags = if fs.iter().any(|f| f.field == CompanyField::Tags) {
                    crm_core::tag::tags_of(
                        db,
                        tenant,
                        "company",
                        &rows.iter().map(|r| r.id).collect::<Vec<_>>(),
                    )
                    .await?
                } else {
                    HashMap::new()
                };
                Ok(rows
                    .iter()
                    .map(|r| (r.id, Value::Object(company_json(r, fs, &tags)).to_string()))
                    .collect())
            }
            Root::Deal(fs) => {
                let rows = record::get_many_on::<crm_core::deal::Deal, _>(db, tenant, ids).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let mut m = Map::new();
                        for f in fs {
                            m.insert(f.key.clone(), deal_value(r, f.field));
                        }
                        (r.id, Value::Object(m).to_string())
                    })
                    .collect())
            }
        }
    }
}

/// The fields of `set`, merging repeats of one response key as GraphQL
/// does (a repeat must be the very same field; object fields may not repeat).
fn fields<F: Clone + PartialEq>(
    set: &SelectionSet,
    field: impl Fn(&str, &[(Name, GqlValue)], &SelectionSet) -> Option<F> + Copy,
) -> Option<Vec<Out<F>>> {
    let mut out: Vec<Out<F>> = vec![];
    for item in &set.items {
        let Selection::Field(f) = &item.node else {
            return None;
        };
        let f = &f.node;
        if !f.directives.is_empty() {
            return None;
        }
        let mut args = vec![];
        for (name, value) in &f.arguments {
            // Literal arguments only (a variable has no value here).
            let v = value.node.clone().into_const()?;
            args.push((name.node.clone(), v));
        }
        let key = f.response_key().node.to_string();
        let compiled = field(&f.name.node, &args, &f.selection_set.node)?;
        match out.iter().find(|o| o.key == key) {
            Some(prev) if prev.field == compiled && f.selection_set.node.items.is_empty() => {}
            Some(_) => return None,
            None => out.push(Out {
                key,
                field: compiled,
            }),
        }
    }
    Some(out)
}

fn contact_field(
    name: &str,
    args: &[(Name, GqlValue)],
    sub: &SelectionSet,
) -> Option<ContactField> {
    use ContactScalar as S;
    use Engagement as E;
    if name == "company" {
        if !args.is_empty() || sub.items.is_empty() {
            return None;
        }
        return fields(sub, company_field).map(ContactField::Company);
    }
    if !sub.items.is_empty() {
        return None;
    }
    if name == "recentActivityCount" {
        let days = match args {
            [] => 90,
            [(n, GqlValue::Number(d))] if n.as_str() == "days" => d.as_i64()?,
            _ => return None,
        };
        return Some(ContactField::Engagement(E::RecentActivityCount(days)));
    }
    if !args.is_empty() {
        return None;
    }
    Some(match name {
        "id" => ContactField::Scalar(S::Id),
        "firstName" => ContactField::Scalar(S::FirstName),
        "lastName" => ContactField::Scalar(S::LastName),
        "name" => ContactField::Scalar(S::Name),
        "email" => ContactField::Scalar(S::Email),
        "phone" => ContactField::Scalar(S::Phone),
        "title" => ContactField::Scalar(S::Title),
        "lifecycleStage" => ContactField::Scalar(S::LifecycleStage),
        "birthDate" => ContactField::Scalar(S::BirthDate),
        "customFields" => ContactField::Scalar(S::CustomFields),
        "createdAt" => ContactField::Scalar(S::CreatedAt),
        "updatedAt" => ContactField::Scalar(S::UpdatedAt),
        "tags" => ContactField::Tags,
        "activityCount" => ContactField::Engagement(E::ActivityCount),
        "lastActivityAt" => ContactField::Engagement(E::LastActivityAt),
        "lastActivityDaysAgo" => ContactField::Engagement(E::LastActivityDaysAgo),
        "openDealsValue" => ContactField::Engagement(E::OpenDealsValue),
        "openDealsCount" => ContactField::Engagement(E::OpenDealsCount),
        _ => return None,
    })
}

fn company_field(
    name: &str,
    args: &[(Name, GqlValue)],
    sub: &SelectionSet,
) -> Option<CompanyField> {
    use CompanyScalar as S;
    if !args.is_empty() || !sub.items.is_empty() {
        return None;
    }
    Some(match name {
        "id" => CompanyField::Scalar(S::Id),
        "name" => CompanyField::Scalar(S::Name),
        "domain" => CompanyField::Scalar(S::Domain),
        "industry" => CompanyField::Scalar(S::Industry),
        "employeeCount" => CompanyField::Scalar(S::EmployeeCount),
        "annualRevenue" => CompanyField::Scalar(S::AnnualRevenue),
        "phone" => CompanyField::Scalar(S::Phone),
        "country" => CompanyField::Scalar(S::Country),
        "city" => CompanyField::Scalar(S::City),
        "lifecycleStage" => CompanyField::Scalar(S::LifecycleStage),
        "customFields" => CompanyField::Scalar(S::CustomFields),
        "createdAt" => CompanyField::Scalar(S::CreatedAt),
        "updatedAt" => CompanyField::Scalar(S::UpdatedAt),
        "tags" => CompanyField::Tags,
        _ => return None,
    })
}

fn deal_field(name: &str) -> Option<DealField> {
    use DealField as D;
    Some(match name {
        "id" => D::Id,
        "name" => D::Name,
        "amount" => D::Amount,
        "currency" => D::Currency,
        "expectedCloseDate" => D::ExpectedCloseDate,
        "stageEnteredAt" => D::StageEnteredAt,
        "closedAt" => D::ClosedAt,
        "customFields" => D::CustomFields,
        "createdAt" => D::CreatedAt,
        "updatedAt" => D::UpdatedAt,
        _ => return None,
    })
}

// Values exactly as the resolvers' return types serialise -------------------

fn scalar<T: ScalarType>(v: &T) -> Value {
    v.to_value().into_json().unwrap_or(Value::Null)
}

fn opt_scalar<T: ScalarType>(v: Option<&T>) -> Value {
    v.map_or(Value::Null, scalar)
}

fn text(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

fn stage(db: &str) -> Value {
    LifecycleStage::from_db(db)
        .to_value()
        .into_json()
        .unwrap_or(Value::Null)
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn contact_value(c: &contact::Model, f: ContactScalar) -> Value {
    use ContactScalar as S;
    match f {
        S::Id => Value::String(c.id.to_string()),
        S::FirstName => Value::String(c.first_name.clone()),
        S::LastName => Value::String(c.last_name.clone()),
        S::Name => Value::String(
            format!("{} {}", c.first_name, c.last_name)
                .trim()
                .to_string(),
        ),
        S::Email => text(c.email.as_deref()),
        S::Phone => text(c.phone.as_deref()),
        S::Title => text(c.title.as_deref()),
        S::LifecycleStage => stage(&c.lifecycle_stage),
        S::BirthDate => opt_scalar(c.birth_date.as_ref()),
        S::CustomFields => c.custom_fields.clone(),
        S::CreatedAt => scalar(&c.created_at),
        S::UpdatedAt => scalar(&c.updated_at),
    }
}

fn company_json(
    c: &company::Model,
    fs: &[Out<CompanyField>],
    tags: &HashMap<Uuid, Vec<String>>,
) -> Map<String, Value> {
    use CompanyScalar as S;
    let mut m = Map::new();
    for f in fs {
        let v = match f.field {
            CompanyField::Tags => tag_list(tags, c.id),
            CompanyField::Scalar(s) => match s {
                S::Id => Value::String(c.id.to_string()),
                S::Name => Value::String(c.name.clone()),
                S::Domain => text(c.domain.as_deref()),
                S::Industry => text(c.industry.as_deref()),
                S::EmployeeCount => c.employee_count.map_or(Value::Null, Value::from),
                S::AnnualRevenue => c.annual_revenue.map_or(Value::Null, number),
                S::Phone => text(c.phone.as_deref()),
                S::Country => text(c.country.as_deref()),
                S::City => text(c.city.as_deref()),
                S::LifecycleStage => stage(&c.lifecycle_stage),
                S::CustomFields => c.custom_fields.clone(),
                S::CreatedAt => scalar(&c.created_at),
                S::UpdatedAt => scalar(&c.updated_at),
            },
        };
        m.insert(f.key.clone(), v);
    }
    m
}

fn deal_value(d: &deal::Model, f: DealField) -> Value {
    use DealField as D;
    match f {
        D::Id => Value::String(d.id.to_string()),
        D::Name => Value::String(d.name.clone()),
        D::Amount => number(d.amount),
        D::Currency => Value::String(d.currency.clone()),
        D::ExpectedCloseDate => opt_scalar(d.expected_close_date.as_ref()),
        D::StageEnteredAt => scalar(&d.stage_entered_at),
        D::ClosedAt => opt_scalar(d.closed_at.as_ref()),
        D::CustomFields => d.custom_fields.clone(),
        D::CreatedAt => scalar(&d.created_at),
        D::UpdatedAt => scalar(&d.updated_at),
    }
}

fn tag_list(tags: &HashMap<Uuid, Vec<String>>, id: Uuid) -> Value {
    Value::Array(
        tags.get(&id)
            .map(|t| t.iter().cloned().map(Value::String).collect())
            .unwrap_or_default(),
    )
}

async fn run_contacts<C: ConnectionTrait>(
    db: &C,
    now: crm_core::Timestamp,
    tenant: Uuid,
    ids: &[Uuid],
    fs: &[Out<ContactField>],
    created: bool,
) -> Result<Vec<(Uuid, String)>, CoreError> {
    let rows = record::get_many_on::<crm_core::contact::Contact, _>(db, tenant, ids).await?;
    let found: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let company_fields = fs.iter().find_map(|f| match &f.field {
        ContactField::Company(sub) => Some(sub.as_slice()),
        _ => None,
    });
    let companies: HashMap<Uuid, company::Model> = match company_fields {
        Some(_) => {
            let mut cids: Vec<Uuid> = rows.iter().filter_map(|r| r.company_id).collect();
            cids.sort_unstable();
            cids.dedup();
            record::get_many_on::<crm_core::company::Company, _>(db, tenant, &cids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect()
        }
        None => HashMap::new(),
    };
    let company_tags = match company_fields {
        Some(sub) if sub.iter().any(|f| f.field == CompanyField::Tags) => {
            crm_core::tag::tags_of(
                db,
                tenant,
                "company",
                &companies.keys().copied().collect::<Vec<_>>(),
            )
            .await?
        }
        _ => HashMap::new(),
    };
    let contact_tags = if fs.iter().any(|f| f.field == ContactField::Tags) {
        crm_core::tag::tags_of(db, tenant, "contact", &found).await?
    } else {
        HashMap::new()
    };
    let windows: Vec<i64> = fs
        .iter()
        .filter_map(|f| match f.field {
            ContactField::Engagement(Engagement::RecentActivityCount(d)) => Some(d),
            _ => None,
        })
        .collect();
    let engagement = if !created
        && fs
            .iter()
            .any(|f| matches!(f.field, ContactField::Engagement(_)))
    {
        crm_core::contact::engagement_on(db, now, tenant, &found, windows).await?
    } else {
        HashMap::new()
    };
    Ok(rows
        .iter()
        .map(|c| {
            let mut m = Map::new();
            let e = engagement.get(&c.id);
            for f in fs {
                let v = match &f.field {
                    ContactField::Scalar(s) => contact_value(c, *s),
                    ContactField::Tags => tag_list(&contact_tags, c.id),
                    ContactField::Company(sub) => c
                        .company_id
                        .and_then(|id| companies.get(&id))
                        .map_or(Value::Null, |co| {
                            Value::Object(company_json(co, sub, &company_tags))
                        }),
                    ContactField::Engagement(g) => match g {
                        Engagement::ActivityCount => Value::from(e.map_or(0, |e| e.activity_count)),
                        Engagement::RecentActivityCount(d) => {
                            Value::from(e.and_then(|e| e.recent.get(d).copied()).unwrap_or(0))
                        }
                        Engagement::LastActivityAt => {
                            opt_scalar(e.and_then(|e| e.last_activity_at.as_ref()))
                        }
                        Engagement::LastActivityDaysAgo => e
                            .and_then(|e| e.last_activity_at)
                            .map_or(Value::Null, |t| Value::from((now - t).num_days().max(0))),
                        Engagement::OpenDealsValue => number(e.map_or(0.0, |e| e.open_deals_value)),
                        Engagement::OpenDealsCount => {
                            Value::from(e.map_or(0, |e| e.open_deals_count))
                        }
                    },
                };
                m.insert(f.key.clone(), v);
            }
            (c.id, Value::Object(m).to_string())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(plan: &InputPlan) -> Vec<String> {
        match &plan.root {
            Root::Contact(fs) => fs.iter().map(|f| f.key.clone()).collect(),
            Root::Company(fs) => fs.iter().map(|f| f.key.clone()).collect(),
            Root::Deal(fs) => fs.iter().map(|f| f.key.clone()).collect(),
        }
    }

    #[test]
    fn the_lead_scoring_selection_compiles_with_id_merged() {
        let plan = InputPlan::compile(
            "contact",
            "{ id title company { employeeCount } lastActivityDaysAgo recentActivityCount(days: 90) openDealsValue }",
        )
        .expect("compiles");
        assert_eq!(
            keys(&plan),
            [
                "id",
                "title",
                "company",
                "lastActivityDaysAgo",
                "recentActivityCount",
                "openDealsValue"
            ]
        );
    }

    #[test]
    fn aliases_are_response_keys() {
        let plan = InputPlan::compile(
            "contact",
            "recent: recentActivityCount(days: 7) all: activityCount",
        )
        .expect("compiles");
        assert_eq!(keys(&plan), ["id", "recent", "all"]);
    }

    #[test]
    fn what_the_plan_cannot_do_goes_to_the_executor() {
        for (entity, selection) in [
            ("contact", "{ owner { name } }"),
            ("contact", "{ title @include(if: true) }"),
            ("contact", "{ ... on Contact { title } }"),
            ("contact", "{ recentActivityCount(days: $d) }"),
            (
                "contact",
                "{ company { contacts { edges { node { id } } } } }",
            ),
            ("contact", "{ nope }"),
            ("contact", "{ title: email title }"),
            ("contact", "{ company { name } company { domain } }"),
            ("company", "{ openTicketsCount }"),
            ("deal", "{ stage { name } }"),
            ("ticket", "{ id }"),
            ("contact", "{ unbalanced"),
        ] {
            assert!(
                InputPlan::compile(entity, selection).is_none(),
                "{entity} {selection} should not compile"
            );
        }
    }

    #[test]
    fn permissions_cover_every_entity_read() {
        let plan = InputPlan::compile("contact", "{ company { name } }").expect("compiles");
        let tenant = Uuid::nil();
        let contacts_only = Principal::plugin(tenant, "p", vec!["read:contact".into()]);
        assert!(!plan.permitted(&contacts_only));
        let both = Principal::plugin(
            tenant,
            "p",
            vec!["read:contact".into(), "read:company".into()],
        );
        assert!(plan.permitted(&both));
    }
}
