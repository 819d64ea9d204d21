//! Tenants, their users and API keys; authentication of a bearer key.
//!
//! Keys look like `crm_<32 chars>`; only their SHA-256 is stored.

use crate::Crm;
use crate::auth::{Action, Principal, Role};
use crate::entity::{api_key, tenant, user};
use crate::error::{CoreError, FieldError, Result};
use rand::Rng;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Create a tenant with an admin user and return the admin's API key.
pub async fn create_tenant(
    crm: &Crm,
    name: &str,
    default_region: &str,
) -> Result<(tenant::Model, String)> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::invalid(
            "name",
            "REQUIRED",
            "a tenant needs a name",
        ));
    }
    let region = default_region.trim().to_uppercase();
    if crm_normalize::phone::calling_code(&region).is_none() {
        return Err(CoreError::invalid(
            "defaultRegion",
            "UNKNOWN_REGION",
            format!("{region:?} is not a supported region (ISO 3166 alpha-2, e.g. CN, US, DE)"),
        ));
    }
    let now = crm.now();
    let txn = crm.write_txn().await?;
    let t = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_string()),
        default_region: Set(region),
        currency: Set("USD".into()),
        settings: Set(serde_json::json!({})),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let admin = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.id),
        name: Set("Administrator".into()),
        email: Set(format!("admin@{}.invalid", slug(name))),
        role: Set("admin".into()),
        manager_id: Set(None),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let (_, key) = insert_key(
        &txn,
        t.id,
        Some(admin.id),
        "admin",
        Role::Admin,
        vec![],
        None,
        now,
    )
    .await?;
    // Every tenant starts with the SLA escalation workflow (editable, disable-able).
    let sla = crate::workflow::sla_escalation();
    crate::entity::workflow::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.id),
        name: Set(sla.name),
        enabled: Set(sla.enabled),
        trigger: Set(sla.trigger),
        conditions: Set(sla.conditions),
        steps: Set(sla.steps),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok((t, key))
}

fn slug(s: &str) -> String {
    let s: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "tenant".into() } else { s }
}

pub(crate) fn hash(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random API key.
pub fn generate_key() -> String {
    random_token("crm_", 32)
}

/// `prefix` and `len` random characters from an alphabet without look-alikes
/// (no 0/O, 1/l/I): API keys, webhook URL tokens.
pub(crate) fn random_token(prefix: &str, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let body: String = (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{body}")
}

#[allow(clippy::too_many_arguments)]
async fn insert_key<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    user: Option<Uuid>,
    name: &str,
    role: Role,
    scopes: Vec<String>,
    plugin: Option<String>,
    now: crate::Timestamp,
) -> Result<(api_key::Model, String)> {
    let key = generate_key();
    let m = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        user_id: Set(user),
        name: Set(name.to_string()),
        prefix: Set(key[..8].to_string()),
        key_hash: Set(hash(&key)),
        role: Set(role.as_str().to_string()),
        scopes: Set(serde_json::json!(scopes)),
        plugin_id: Set(plugin),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((m, key))
}

/// Issue an API key in the caller's tenant (admins only). Returns the key once.
pub async fn create_api_key(
    crm: &Crm,
    p: &Principal,
    name: &str,
    role: Role,
    user_id: Option<Uuid>,
    scopes: Vec<String>,
) -> Result<(api_key::Model, String)> {
    p.require(Action::Administer, "api_key")?;
    if role == Role::Plugin {
        return Err(CoreError::invalid(
            "input.role",
            "INVALID_VALUE",
            "plugin keys are issued by enabling a plugin",
        ));
    }
    if let Some(u) = user_id
        && !crate::record::exists(crm, p.tenant_id, "user", u).await?
    {
        return Err(CoreError::invalid(
            "input.userId",
            "NOT_FOUND",
            format!("no user with id {u}"),
        ));
    }
    insert_key(
        &crm.db,
        p.tenant_id,
        user_id,
        name,
        role,
        scopes,
        None,
        crm.now(),
    )
    .await
}

/// Revoke a key of the caller's tenant.
pub async fn revoke_api_key(crm: &Crm, p: &Principal, id: Uuid) -> Result<api_key::Model> {
    p.require(Action::Administer, "api_key")?;
    let k = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(p.tenant_id))
        .filter(api_key::Column::Id.eq(id))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("apiKey", id))?;
    let mut a: api_key::ActiveModel = k.into();
    a.revoked_at = Set(Some(crm.now()));
    Ok(a.update(&crm.db).await?)
}

/// Keys of the caller's tenant (hashes are never returned).
pub async fn api_keys(crm: &Crm, p: &Principal) -> Result<Vec<api_key::Model>> {
    p.require(Action::Administer, "api_key")?;
    Ok(api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(p.tenant_id))
        .order_by_asc(api_key::Column::CreatedAt)
        .all(&crm.db)
        .await?)
}

/// Resolve a bearer key to its principal; unknown or revoked keys are `UNAUTHENTICATED`.
pub async fn authenticate(crm: &Crm, key: &str) -> Result<Principal> {
    let k = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(key.trim())))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::Unauthenticated("unknown API key".into()))?;
    principal_of(k)
}

/// The principal of API key `key_id` of `tenant` as it stands now: work
/// queued by a caller (a background check that writes) acts with the key's
/// current role and scopes, and not at all once the key is revoked.
pub async fn principal_of_key(crm: &Crm, tenant: Uuid, key_id: Uuid) -> Result<Principal> {
    let k = api_key::Entity::find_by_id(key_id)
        .filter(api_key::Column::TenantId.eq(tenant))
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::Unauthenticated("the API key no longer exists".into()))?;
    principal_of(k)
}

fn principal_of(k: api_key::Model) -> Result<Principal> {
    if k.revoked_at.is_some() {
        return Err(CoreError::Unauthenticated(
            "this API key was revoked".into(),
        ));
    }
    let role = Role::parse(&k.role)
        .ok_or_else(|| CoreError::Internal(format!("key {} has unknown role {}", k.id, k.role)))?;
    let scopes = k
        .scopes
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Principal {
        tenant_id: k.tenant_id,
        key_id: Some(k.id),
        user_id: k.user_id,
        role,
        scopes,
        plugin: k.plugin_id,
    })
}

pub async fn get_tenant(crm: &Crm, id: Uuid) -> Result<tenant::Model> {
    tenant::Entity::find_by_id(id)
        .one(&crm.db)
        .await?
        .ok_or_else(|| CoreError::not_found("tenant", id))
}

pub async fn tenants(crm: &Crm) -> Result<Vec<tenant::Model>> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::CreatedAt)
        .all(&crm.db)
        .await?)
}

/// The installation's operator tenant: the tenant created first. Its admins
/// install, upgrade and uninstall plugins, which changes them for every
/// tenant; other tenants' admins enable and configure them for themselves.
pub async fn operator_tenant(crm: &Crm) -> Result<Option<Uuid>> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::CreatedAt)
        .order_by_asc(tenant::Column::Id)
        .one(&crm.db)
        .await?
        .map(|t| t.id))
}

/// Refuse `p` unless it is an admin of the operator tenant
/// ([`operator_tenant`]): for changes that reach every tenant.
pub async fn require_operator(crm: &Crm, p: &Principal, what: &str) -> Result<()> {
    p.require(Action::Administer, "plugin")?;
    if operator_tenant(crm).await? == Some(p.tenant_id) {
        return Ok(());
    }
    Err(CoreError::Forbidden(format!(
        "{what} changes it for every tenant of this installation: only an admin of the operator \
         tenant (the tenant created first; `crm tenant list` marks it) may, or an operator with \
         `crm plugin` on the server"
    )))
}

/// Change tenant settings (admins): default phone region and currency.
pub async fn update_tenant(
    crm: &Crm,
    p: &Principal,
    default_region: Option<String>,
    currency: Option<String>,
) -> Result<tenant::Model> {
    p.require(Action::Administer, "tenant")?;
    let t = get_tenant(crm, p.tenant_id).await?;
    let mut a: tenant::ActiveModel = t.into();
    let mut errs = vec![];
    if let Some(r) = default_region {
        let r = r.trim().to_uppercase();
        if crm_normalize::phone::calling_code(&r).is_none() {
            errs.push(FieldError::new(
                "input.defaultRegion",
                "UNKNOWN_REGION",
                format!("{r:?} is not a supported region"),
            ));
        }
        a.default_region = Set(r);
    }
    if let Some(c) = currency {
        let c = c.trim().to_uppercase();
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            errs.push(FieldError::new(
                "input.currency",
                "INVALID_VALUE",
                "an ISO 4217 code such as USD",
            ));
        }
        a.currency = Set(c);
    }
    if !errs.is_empty() {
        return Err(CoreError::Invalid(errs));
    }
    Ok(a.update(&crm.db).await?)
}

/// Create a user in the caller's tenant.
pub async fn create_user(
    crm: &Crm,
    p: &Principal,
    name: &str,
    email: &str,
    role: Role,
    manager_id: Option<Uuid>,
) -> Result<user::Model> {
    p.require(Action::Administer, "user")?;
    let mut errs = vec![];
    if name.trim().is_empty() {
        errs.push(FieldError::new(
            "input.name",
            "REQUIRED",
            "name is required",
        ));
    }
    let email = match crm_normalize::email::normalize(email) {
        Ok(e) => e,
        Err(e) => {
            errs.push(FieldError::new(
                "input.email",
                "INVALID_EMAIL",
                e.to_string(),
            ));
            String::new()
        }
    };
    if let Some(m) = manager_id
        && !crate::record::exists(crm, p.tenant_id, "user", m).await?
    {
        errs.push(FieldError::new(
            "input.managerId",
            "NOT_FOUND",
            format!("no user with id {m}"),
        ));
    }
    if !errs.is_empty() {
        return Err(CoreError::Invalid(errs));
    }
    let now = crm.now();
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(p.tenant_id),
        name: Set(name.trim().to_string()),
        email: Set(email.clone()),
        role: Set(role.as_str().to_string()),
        manager_id: Set(manager_id),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&crm.db)
    .await
    .map_err(|e| CoreError::from_db(e, &format!("user {email}")))
}

pub async fn users(crm: &Crm, p: &Principal) -> Result<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(p.tenant_id))
        .order_by_asc(user::Column::Name)
        .all(&crm.db)
        .await?)
}

pub async fn users_by_ids(crm: &Crm, tenant: Uuid, ids: &[Uuid]) -> Result<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant))
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(&crm.db)
        .await?)
}
