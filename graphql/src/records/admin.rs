//! Tenant administration in GraphQL: users, API keys, tags, custom fields,
//! settings, and data-quality queries (duplicates).

use crate::common::{CustomFieldKind, Role, crm, gid, principal, uuid};
use crate::error::GqlResult;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use crm_core::entity::{api_key, custom_field_def, tenant, user};

pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn role(&self) -> Role {
        Role::from_db(&self.0.role)
    }
    /// The supervisor escalations go to.
    async fn manager(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        super::user_of(ctx, self.0.manager_id).await
    }
    async fn active(&self) -> bool {
        self.0.active
    }
}

pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The first characters of the key, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn role(&self) -> Role {
        Role::from_db(&self.0.role)
    }
    async fn scopes(&self) -> Vec<String> {
        self.0
            .scopes
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn revoked_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.revoked_at
    }
}

/// A new API key: `key` is shown only here, once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    pub key: String,
}

pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Region used to read phone numbers written without a country code.
    async fn default_region(&self) -> &str {
        &self.0.default_region
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
}

pub struct CustomFieldDefinition(pub custom_field_def::Model);

#[Object]
impl CustomFieldDefinition {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn entity(&self) -> &str {
        &self.0.entity
    }
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn kind(&self) -> CustomFieldKind {
        CustomFieldKind::from_db(&self.0.kind)
    }
    /// Sensitive personal data: masked without `pii:read`, unmasked reads audited.
    async fn sensitive(&self) -> bool {
        self.0.sensitive
    }
    async fn options(&self) -> Vec<String> {
        self.0
            .options
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    async fn required(&self) -> bool {
        self.0.required
    }
}

#[derive(SimpleObject)]
pub struct Tag {
    pub id: ID,
    pub name: String,
    pub color: Option<String>,
}

/// The caller.
#[derive(SimpleObject)]
pub struct Me {
    pub tenant: TenantRef,
    pub user: Option<UserRef>,
    pub role: Role,
    pub scopes: Vec<String>,
}

#[derive(SimpleObject)]
pub struct TenantRef {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct UserRef {
    pub id: ID,
}

/// Which records a duplicate group holds.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum DuplicateEntity {
    Contact,
    Company,
}

/// Records that are probably the same customer.
#[derive(SimpleObject)]
pub struct DuplicateGroup {
    /// EMAIL, PHONE, NAME or DOMAIN.
    pub reason: String,
    /// The normalised value the records share.
    pub key: String,
    pub ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct UserInput {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub manager_id: Option<ID>,
}

#[derive(InputObject)]
pub struct ApiKeyInput {
    pub name: String,
    pub role: Role,
    pub user_id: Option<ID>,
    #[graphql(default)]
    pub scopes: Vec<String>,
}

#[derive(InputObject)]
pub struct CustomFieldInput {
    /// contact, company, deal, activity or ticket.
    pub entity: String,
    /// Letters, digits and `_`, starting with a lower-case letter.
    pub key: String,
    #[graphql(default)]
    pub label: String,
    pub kind: CustomFieldKind,
    #[graphql(default)]
    pub options: Vec<String>,
    #[graphql(default)]
    pub required: bool,
    /// Sensitive personal data (a national ID, say): callers and plugins
    /// without the `pii:read` scope see `********`, and every read that
    /// shows a value is audited. Values are stored encrypted; values that
    /// records already hold under `key` are encrypted (or, for a field that
    /// is not sensitive, decrypted) with the definition, in the same
    /// transaction.
    #[graphql(default)]
    pub sensitive: bool,
}

#[derive(InputObject)]
pub struct TenantSettingsInput {
    pub default_region: Option<String>,
    pub currency: Option<String>,
}

/// One record of the audit log: a change (`created`, `updated`, `deleted`,
/// ...) or a read that showed sensitive values (`pii_read`).
pub struct AuditEntry(pub crm_core::entity::audit_log::Model);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    /// The user or API key that acted (none for the system).
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(gid)
    }
    /// `api_key`, `plugin` or `system`.
    async fn actor_kind(&self) -> &str {
        &self.0.actor_kind
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn entity(&self) -> &str {
        &self.0.entity
    }
    async fn record_id(&self) -> Option<ID> {
        self.0.record_id.map(gid)
    }
    /// The record as written and, for an update, its `changes` (`from`/`to`
    /// per field); for `pii_read`, the `fields` shown and the `plugin`, if
    /// one read them. Sensitive values read `********`.
    async fn changes(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.changes.clone())
    }
}

crate::connection_types!(AuditConnection, AuditEdge, AuditEntry);

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The tenant's audit log, newest first (administrators): who changed
    /// what, and who was shown sensitive values.
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        record_id: Option<ID>,
        entity: Option<String>,
        action: Option<String>,
        actor_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<AuditConnection> {
        let filter = crm_core::events::AuditFilter {
            record_id: record_id
                .as_ref()
                .map(|r| uuid(r, "recordId"))
                .transpose()?,
            entity,
            action,
            actor_id: actor_id.as_ref().map(|a| uuid(a, "actorId")).transpose()?,
        };
        let pa = crate::connection::PageArgs {
            first,
            after,
            last,
            before,
        };
        let p = principal(ctx)?;
        let count = ctx.look_ahead().field("totalCount").exists();
        let total = if pa.needs_total() {
            crm_core::events::audit_page(crm(ctx), p, &filter, 0, 0, true)
                .await
                .gql()?
                .total
        } else {
            None
        };
        let (offset, limit) = pa.resolve(|| total)?;
        let page = crm_core::events::audit_page(crm(ctx), p, &filter, offset, limit, count)
            .await
            .gql()?;
        Ok(AuditConnection::from_page(page, AuditEntry))
    }

    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let p = principal(ctx)?;
        Ok(Me {
            tenant: TenantRef {
                id: gid(p.tenant_id),
            },
            user: p.user_id.map(|u| UserRef { id: gid(u) }),
            role: Role::from_db(p.role.as_str()),
            scopes: p.scopes.clone(),
        })
    }

    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let p = principal(ctx)?;
        Ok(Tenant(
            crm_core::tenant::get_tenant(crm(ctx), p.tenant_id)
                .await
                .gql()?,
        ))
    }

    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        Ok(crm_core::tenant::users(crm(ctx), principal(ctx)?)
            .await
            .gql()?
            .into_iter()
            .map(User)
            .collect())
    }

    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<User> {
        let u = uuid(&id, "id")?;
        super::user_of(ctx, Some(u))
            .await?
            .ok_or_else(|| crate::error::to_gql_error(crm_core::CoreError::not_found("user", u)))
    }

    /// API keys of the tenant (admins).
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        Ok(crm_core::tenant::api_keys(crm(ctx), principal(ctx)?)
            .await
            .gql()?
            .into_iter()
            .map(ApiKey)
            .collect())
    }

    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<Tag>> {
        let p = principal(ctx)?;
        Ok(crm_core::tag::all(&crm(ctx).db, p.tenant_id)
            .await
            .gql()?
            .into_iter()
            .map(|t| Tag {
                id: gid(t.id),
                name: t.name,
                color: t.color,
            })
            .collect())
    }

    async fn custom_field_definitions(
        &self,
        ctx: &Context<'_>,
        entity: Option<String>,
    ) -> Result<Vec<CustomFieldDefinition>> {
        let p = principal(ctx)?;
        Ok(
            crm_core::custom_field::definitions(crm(ctx), p.tenant_id, entity.as_deref())
                .await
                .gql()?
                .into_iter()
                .map(CustomFieldDefinition)
                .collect(),
        )
    }

    /// Likely duplicates by normalised e-mail, phone and name (companies also by domain).
    async fn duplicates(
        &self,
        ctx: &Context<'_>,
        entity: DuplicateEntity,
    ) -> Result<Vec<DuplicateGroup>> {
        let p = principal(ctx)?;
        let groups = match entity {
            DuplicateEntity::Contact => crm_core::duplicates::contacts(crm(ctx), p).await,
            DuplicateEntity::Company => crm_core::duplicates::companies(crm(ctx), p).await,
        }
        .gql()?;
        Ok(groups
            .into_iter()
            .map(|g| DuplicateGroup {
                reason: g.reason.to_string(),
                key: g.key,
                ids: g.ids.into_iter().map(gid).collect(),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    async fn create_user(&self, ctx: &Context<'_>, input: UserInput) -> Result<User> {
        let manager = input
            .manager_id
            .as_ref()
            .map(|m| uuid(m, "input.managerId"))
            .transpose()?;
        Ok(User(
            crm_core::tenant::create_user(
                crm(ctx),
                principal(ctx)?,
                &input.name,
                &input.email,
                input.role.to_core(),
                manager,
            )
            .await
            .gql()?,
        ))
    }

    /// Issue an API key; the key itself is returned only once.
    async fn create_api_key(&self, ctx: &Context<'_>, input: ApiKeyInput) -> Result<CreatedApiKey> {
        let user = input
            .user_id
            .as_ref()
            .map(|m| uuid(m, "input.userId"))
            .transpose()?;
        let (m, key) = crm_core::tenant::create_api_key(
            crm(ctx),
            principal(ctx)?,
            &input.name,
            input.role.to_core(),
            user,
            input.scopes,
        )
        .await
        .gql()?;
        Ok(CreatedApiKey {
            api_key: ApiKey(m),
            key,
        })
    }

    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        Ok(ApiKey(
            crm_core::tenant::revoke_api_key(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    async fn define_custom_field(
        &self,
        ctx: &Context<'_>,
        input: CustomFieldInput,
    ) -> Result<CustomFieldDefinition> {
        let kind = async_graphql::InputType::to_value(&input.kind)
            .to_string()
            .trim_matches('"')
            .to_lowercase();
        let d = crm_core::custom_field::NewDefinition {
            entity: input.entity,
            key: input.key,
            label: input.label,
            kind,
            options: input.options,
            required: input.required,
            sensitive: input.sensitive,
        };
        Ok(CustomFieldDefinition(
            crm_core::custom_field::define(crm(ctx), principal(ctx)?, d)
                .await
                .gql()?,
        ))
    }

    /// Delete a custom field definition and, in the same transaction, the
    /// values records hold under its key.
    async fn delete_custom_field(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                crm_core::custom_field::remove(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }

    async fn update_tenant_settings(
        &self,
        ctx: &Context<'_>,
        input: TenantSettingsInput,
    ) -> Result<Tenant> {
        Ok(Tenant(
            crm_core::tenant::update_tenant(
                crm(ctx),
                principal(ctx)?,
                input.default_region,
                input.currency,
            )
            .await
            .gql()?,
        ))
    }
}
