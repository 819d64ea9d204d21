//! Contacts in GraphQL.

use super::{Score, list, list_in, scores_of, tags_of, user_of};
use crate::common::{LifecycleStage, crm, gid, loaders, principal, to_json, uuid};
use crate::connection::PageArgs;
use crate::error::GqlResult;
use crate::filter::{DateFilter, DateTimeFilter, IdFilter, ScoreFilter, StringFilter, TagFilter};
use crate::{connection_types, entity_filter, enum_filter, order_input};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use crm_core::contact::Contact as K;
use crm_core::entity::contact::Model;
use crm_core::record;
use sea_orm::ColumnTrait;
use serde::Serialize;

pub struct Contact(pub Model);

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }
    /// "First Last".
    async fn name(&self) -> String {
        format!("{} {}", self.0.first_name, self.0.last_name)
            .trim()
            .to_string()
    }
    /// Lower-cased, validated.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// E.164 (`+8613800138000`).
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn lifecycle_stage(&self) -> LifecycleStage {
        LifecycleStage::from_db(&self.0.lifecycle_stage)
    }
    async fn birth_date(&self) -> Option<chrono::NaiveDate> {
        self.0.birth_date
    }
    /// Custom field values; sensitive ones read `********` without the
    /// `pii:read` scope, and reading them with it is audited.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        super::visible_custom_fields(ctx, "contact", self.0.id, &self.0.custom_fields).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<super::company::Company>> {
        match self.0.company_id {
            Some(id) => Ok(loaders(ctx)?
                .companies
                .load_one(id)
                .await?
                .map(super::company::Company)),
            None => Ok(None),
        }
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.owner_id).await
    }
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        tags_of(ctx, "contact", self.0.id).await
    }
    /// Scores computed by plugins, optionally of one plugin.
    async fn scores(&self, ctx: &Context<'_>, plugin: Option<String>) -> Result<Vec<Score>> {
        scores_of(ctx, "contact", self.0.id, plugin).await
    }
    /// One score by plugin and name (default: the plugin's first score).
    async fn score(
        &self,
        ctx: &Context<'_>,
        plugin: String,
        name: Option<String>,
    ) -> Result<Option<Score>> {
        let all = scores_of(ctx, "contact", self.0.id, Some(plugin)).await?;
        Ok(match name {
            Some(n) => all.into_iter().find(|s| s.name == n),
            None => all.into_iter().next(),
        })
    }
    /// Every activity with this contact, newest first: the contact's timeline.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<super::work::ActivityConnection> {
        let pa = PageArgs {
            first,
            after,
            last,
            before,
        };
        let extra = sea_orm::Condition::all()
            .add(crm_core::entity::activity::Column::ContactId.eq(self.0.id));
        let page = list_in::<crm_core::activity::Activity>(ctx, pa, None, vec![], extra).await?;
        Ok(super::work::ActivityConnection::from_page(
            page,
            super::work::Activity,
        ))
    }
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::sales::DealConnection> {
        let extra =
            sea_orm::Condition::all().add(crm_core::entity::deal::Column::ContactId.eq(self.0.id));
        let page = list_in::<crm_core::deal::Deal>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            None,
            vec![],
            extra,
        )
        .await?;
        Ok(super::sales::DealConnection::from_page(
            page,
            super::sales::Deal,
        ))
    }
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::work::TicketConnection> {
        let extra = sea_orm::Condition::all()
            .add(crm_core::entity::ticket::Column::ContactId.eq(self.0.id));
        let page = list_in::<crm_core::ticket::Ticket>(
            ctx,
            PageArgs {
                first,
                after,
                ..Default::default()
            },
            None,
            vec![],
            extra,
        )
        .await?;
        Ok(super::work::TicketConnection::from_page(
            page,
            super::work::Ticket,
        ))
    }
    /// Number of activities, all time.
    async fn activity_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(loaders(ctx)?
            .engagement
            .load_one((self.0.id, 90))
            .await?
            .map(|e| e.activity_count)
            .unwrap_or(0))
    }
    /// Number of activities in the last `days` days.
    async fn recent_activity_count(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 90)] days: i64,
    ) -> Result<i64> {
        Ok(loaders(ctx)?
            .engagement
            .load_one((self.0.id, days))
            .await?
            .map(|e| e.recent_activity_count)
            .unwrap_or(0))
    }
    async fn last_activity_at(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        Ok(loaders(ctx)?
            .engagement
            .load_one((self.0.id, 90))
            .await?
            .and_then(|e| e.last_activity_at))
    }
    /// Whole days since the last activity (null when there is none).
    async fn last_activity_days_ago(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        let last = loaders(ctx)?
            .engagement
            .load_one((self.0.id, 90))
            .await?
            .and_then(|e| e.last_activity_at);
        Ok(last.map(|t| (crm(ctx).now() - t).num_days().max(0)))
    }
    /// Total amount of this contact's deals not yet won or lost.
    async fn open_deals_value(&self, ctx: &Context<'_>) -> Result<f64> {
        Ok(loaders(ctx)?
            .engagement
            .load_one((self.0.id, 90))
            .await?
            .map(|e| e.open_deals_value)
            .unwrap_or(0.0))
    }
    async fn open_deals_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(loaders(ctx)?
            .engagement
            .load_one((self.0.id, 90))
            .await?
            .map(|e| e.open_deals_count)
            .unwrap_or(0))
    }
}

connection_types!(ContactConnection, ContactEdge, Contact);
enum_filter!(LifecycleStageFilter, LifecycleStage);

entity_filter!(ContactFilter {
    id: IdFilter => "id",
    first_name: StringFilter => "firstName",
    last_name: StringFilter => "lastName",
    email: StringFilter => "email",
    phone: StringFilter => "phone",
    title: StringFilter => "title",
    company_id: IdFilter => "companyId",
    owner_id: IdFilter => "ownerId",
    lifecycle_stage: LifecycleStageFilter => "lifecycleStage",
    birth_date: DateFilter => "birthDate",
    created_at: DateTimeFilter => "createdAt",
    updated_at: DateTimeFilter => "updatedAt",
    tags: TagFilter => "tags",
    score: ScoreFilter => "score",
});

order_input!(ContactOrderBy, ContactOrderField {
    FirstName => "firstName",
    LastName => "lastName",
    Email => "email",
    Title => "title",
    LifecycleStage => "lifecycleStage",
    CreatedAt => "createdAt",
    UpdatedAt => "updatedAt",
});

/// Fields of a contact. On create, a first or last name is required; on update,
/// omitted fields are unchanged and `null` clears a field.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContactInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub first_name: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub last_name: MaybeUndefined<String>,
    /// Validated and lower-cased.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub email: MaybeUndefined<String>,
    /// Any common format; stored as E.164 using the tenant's default region.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub phone: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub title: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub company_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub owner_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub lifecycle_stage: MaybeUndefined<LifecycleStage>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub birth_date: MaybeUndefined<chrono::NaiveDate>,
    /// Replaces the contact's tags.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub tags: MaybeUndefined<Vec<String>>,
    /// Values of the tenant's custom fields; on update merged key by key (`null` removes a key).
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub custom_fields: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    /// One contact; the id of a merged contact resolves to its survivor.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Contact> {
        let p = principal(ctx)?;
        Ok(Contact(
            record::get::<K>(crm(ctx), p, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ContactFilter>,
        order_by: Option<Vec<ContactOrderBy>>,
    ) -> Result<ContactConnection> {
        let page = list::<K>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            ContactOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(ContactConnection::from_page(page, Contact))
    }
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    async fn create_contact(&self, ctx: &Context<'_>, input: ContactInput) -> Result<Contact> {
        Ok(Contact(
            record::create::<K>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }

    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ContactInput,
    ) -> Result<Contact> {
        Ok(Contact(
            record::update::<K>(crm(ctx), principal(ctx)?, uuid(&id, "id")?, to_json(&input))
                .await
                .gql()?,
        ))
    }

    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<K>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }

    /// Merge contacts into `survivorId`: it keeps every activity, deal, ticket,
    /// order, task, tag and custom value; merged ids keep resolving to it.
    async fn merge_contacts(
        &self,
        ctx: &Context<'_>,
        survivor_id: ID,
        merged_ids: Vec<ID>,
    ) -> Result<Contact> {
        let merged = merged_ids
            .iter()
            .map(|i| uuid(i, "mergedIds"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Contact(
            crm_core::merge::merge_contacts(
                crm(ctx),
                principal(ctx)?,
                uuid(&survivor_id, "survivorId")?,
                &merged,
            )
            .await
            .gql()?,
        ))
    }
}
