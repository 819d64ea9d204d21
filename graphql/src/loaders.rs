//! Per-request DataLoaders: every relation is batched, so a page of 50 contacts
//! with companies, owners, tags and scores costs a constant number of queries.
//! Loaders are created per request with the caller's tenant, so a batch can
//! never read another tenant's rows.

use async_graphql::dataloader::{DataLoader, Loader};
use crm_core::entity::{score, stage, user};
use crm_core::record::{self, Kind, ModelOf};
use crm_core::{CoreError, Crm, Principal};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use uuid::Uuid;

pub type LoadError = Arc<CoreError>;

/// How long a loader collects keys before it queries. Long enough that every
/// row of a 100-row page asks before the batch goes out (1 ms, the default,
/// sometimes split a page into two batches), short enough not to show in latency.
pub const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(3);

/// An entity name as a loader key part (a newtype keeps keys free of lifetimes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ent(pub &'static str);

/// Records of one kind by id.
pub struct ById<K: Kind> {
    crm: Crm,
    tenant: Uuid,
    _k: PhantomData<K>,
}

impl<K: Kind> Loader<Uuid> for ById<K>
where
    ModelOf<K>: Clone,
{
    type Value = ModelOf<K>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(record::get_many::<K>(&self.crm, self.tenant, keys)
            .await?
            .into_iter()
            .map(|m| (K::id(&m), m))
            .collect())
    }
}

pub struct Users {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<Uuid> for Users {
    type Value = user::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(crm_core::tenant::users_by_ids(&self.crm, self.tenant, keys)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect())
    }
}

pub struct Stages {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<Uuid> for Stages {
    type Value = stage::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(
            crm_core::pipeline::stages_by_ids(&self.crm, self.tenant, keys)
                .await?
                .into_iter()
                .map(|s| (s.id, s))
                .collect(),
        )
    }
}

/// Stages of a pipeline, ordered.
pub struct PipelineStages {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<Uuid> for PipelineStages {
    type Value = Vec<stage::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut out: HashMap<Uuid, Vec<stage::Model>> = keys.iter().map(|k| (*k, vec![])).collect();
        for s in crm_core::pipeline::stages_of(&self.crm, self.tenant, keys).await? {
            out.entry(s.pipeline_id).or_default().push(s);
        }
        Ok(out)
    }
}

/// Tags of records, keyed by (entity, id).
pub struct Tags {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<(Ent, Uuid)> for Tags {
    type Value = Vec<String>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Ent, Uuid)],
    ) -> Result<HashMap<(Ent, Uuid), Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        let mut by_entity: HashMap<Ent, Vec<Uuid>> = HashMap::new();
        for (e, id) in keys {
            by_entity.entry(*e).or_default().push(*id);
        }
        for (e, ids) in by_entity {
            let found = crm_core::tag::tags_of(&self.crm.db, self.tenant, e.0, &ids).await?;
            for id in ids {
                out.insert((e, id), found.get(&id).cloned().unwrap_or_default());
            }
        }
        Ok(out)
    }
}

/// Plugin scores of records, keyed by (entity, id).
pub struct Scores {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<(Ent, Uuid)> for Scores {
    type Value = Vec<score::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Ent, Uuid)],
    ) -> Result<HashMap<(Ent, Uuid), Self::Value>, Self::Error> {
        let mut out: HashMap<(Ent, Uuid), Vec<score::Model>> =
            keys.iter().map(|k| (*k, vec![])).collect();
        let mut by_entity: HashMap<Ent, Vec<Uuid>> = HashMap::new();
        for (e, id) in keys {
            by_entity.entry(*e).or_default().push(*id);
        }
        for (e, ids) in by_entity {
            for s in crm_core::plugin_store::scores_of(&self.crm, self.tenant, e.0, &ids).await? {
                out.entry((e, s.record_id)).or_default().push(s);
            }
        }
        Ok(out)
    }
}

/// Engagement figures of a contact (used by scoring input queries).
#[derive(Clone, Debug, Default)]
pub struct Engagement {
    pub activity_count: i64,
    pub recent_activity_count: i64,
    pub last_activity_at: Option<crm_core::Timestamp>,
    pub open_deals_value: f64,
    pub open_deals_count: i64,
}

/// Engagement of contacts, keyed by (contact, recent window in days).
pub struct Engagements {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<(Uuid, i64)> for Engagements {
    type Value = Engagement;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Uuid, i64)],
    ) -> Result<HashMap<(Uuid, i64), Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let figures = crm_core::contact::engagement(
            &self.crm,
            self.tenant,
            &ids,
            keys.iter().map(|k| k.1).collect(),
        )
        .await?;
        Ok(keys
            .iter()
            .map(|k| {
                let f = figures.get(&k.0);
                let e = Engagement {
                    activity_count: f.map(|f| f.activity_count).unwrap_or(0),
                    recent_activity_count: f.and_then(|f| f.recent.get(&k.1).copied()).unwrap_or(0),
                    last_activity_at: f.and_then(|f| f.last_activity_at),
                    open_deals_value: f.map(|f| f.open_deals_value).unwrap_or(0.0),
                    open_deals_count: f.map(|f| f.open_deals_count).unwrap_or(0),
                };
                (*k, e)
            })
            .collect())
    }
}

/// Keys of the sensitive custom fields of an entity (one query per request
/// for all the entities it shows).
pub struct SensitiveKeys {
    crm: Crm,
    tenant: Uuid,
}

impl Loader<Ent> for SensitiveKeys {
    type Value = Arc<Vec<String>>;
    type Error = LoadError;

    async fn load(&self, keys: &[Ent]) -> Result<HashMap<Ent, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for e in keys {
            let found =
                crm_core::custom_field::sensitive_keys(&self.crm.db, self.tenant, e.0).await?;
            out.insert(*e, Arc::new(found));
        }
        Ok(out)
    }
}

/// Audits the reads of a request that showed sensitive values: a page of
/// records costs one insert, not one per record.
pub struct SensitiveReads {
    crm: Crm,
    principal: Principal,
}

/// A read to audit: entity, record, and the keys shown (comma-separated).
pub type ReadKey = (Ent, Uuid, String);

impl Loader<ReadKey> for SensitiveReads {
    type Value = ();
    type Error = LoadError;

    async fn load(&self, keys: &[ReadKey]) -> Result<HashMap<ReadKey, ()>, Self::Error> {
        let reads: Vec<_> = keys
            .iter()
            .map(|(e, id, shown)| crm_core::custom_field::SensitiveRead {
                entity: e.0.to_string(),
                record_id: *id,
                keys: shown.split(',').map(str::to_string).collect(),
            })
            .collect();
        crm_core::custom_field::audit_reads(&self.crm, &self.principal, &reads).await?;
        Ok(keys.iter().map(|k| (k.clone(), ())).collect())
    }
}

/// All loaders of one request.
pub struct Loaders {
    pub contacts: DataLoader<ById<crm_core::contact::Contact>>,
    pub companies: DataLoader<ById<crm_core::company::Company>>,
    pub deals: DataLoader<ById<crm_core::deal::Deal>>,
    pub pipelines: DataLoader<ById<crm_core::pipeline::Pipeline>>,
    pub products: DataLoader<ById<crm_core::product::Product>>,
    pub users: DataLoader<Users>,
    pub stages: DataLoader<Stages>,
    pub pipeline_stages: DataLoader<PipelineStages>,
    pub tags: DataLoader<Tags>,
    pub scores: DataLoader<Scores>,
    pub engagement: DataLoader<Engagements>,
    pub sensitive: DataLoader<SensitiveKeys>,
    pub sensitive_reads: DataLoader<SensitiveReads>,
}

impl Loaders {
    /// The loaders of a request by `principal` (reads are in its tenant;
    /// reads of sensitive values are audited as its).
    pub fn new(crm: &Crm, principal: &Principal) -> Self {
        let tenant = principal.tenant_id;
        fn by_id<K: Kind>(crm: &Crm, tenant: Uuid) -> DataLoader<ById<K>>
        where
            ModelOf<K>: Clone,
        {
            DataLoader::new(
                ById {
                    crm: crm.clone(),
                    tenant,
                    _k: PhantomData,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW)
        }
        Loaders {
            contacts: by_id(crm, tenant),
            companies: by_id(crm, tenant),
            deals: by_id(crm, tenant),
            pipelines: by_id(crm, tenant),
            products: by_id(crm, tenant),
            users: DataLoader::new(
                Users {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            stages: DataLoader::new(
                Stages {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            pipeline_stages: DataLoader::new(
                PipelineStages {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            tags: DataLoader::new(
                Tags {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            scores: DataLoader::new(
                Scores {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            engagement: DataLoader::new(
                Engagements {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            sensitive: DataLoader::new(
                SensitiveKeys {
                    crm: crm.clone(),
                    tenant,
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
            sensitive_reads: DataLoader::new(
                SensitiveReads {
                    crm: crm.clone(),
                    principal: principal.clone(),
                },
                tokio::spawn,
            )
            .delay(BATCH_WINDOW),
        }
    }
}
