//! Activities (timeline), tasks and tickets in GraphQL.

use super::{list, user_of};
use crate::common::{
    ActivityKind, RecordEntity, TaskStatus, TicketPriority, TicketStatus, crm, gid, loaders,
    principal, to_json, uuid,
};
use crate::connection::PageArgs;
use crate::error::GqlResult;
use crate::filter::{DateTimeFilter, IdFilter, IntFilter, StringFilter};
use crate::{connection_types, entity_filter, enum_filter, order_input};
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use crm_core::activity::Activity as ActivityKindK;
use crm_core::entity::{activity, task, ticket};
use crm_core::record;
use crm_core::task::Task as TaskK;
use crm_core::ticket::Ticket as TicketK;
use serde::Serialize;

async fn contact_of(
    ctx: &Context<'_>,
    id: Option<uuid::Uuid>,
) -> Result<Option<super::contact::Contact>> {
    match id {
        Some(id) => Ok(loaders(ctx)?
            .contacts
            .load_one(id)
            .await?
            .map(super::contact::Contact)),
        None => Ok(None),
    }
}

async fn company_of(
    ctx: &Context<'_>,
    id: Option<uuid::Uuid>,
) -> Result<Option<super::company::Company>> {
    match id {
        Some(id) => Ok(loaders(ctx)?
            .companies
            .load_one(id)
            .await?
            .map(super::company::Company)),
        None => Ok(None),
    }
}

pub struct Activity(pub activity::Model);

#[Object]
impl Activity {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn kind(&self) -> ActivityKind {
        ActivityKind::from_db(&self.0.kind)
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn content(&self) -> Option<&str> {
        self.0.content.as_deref()
    }
    /// How it happened: phone, wechat, web, store, ...
    async fn channel(&self) -> Option<&str> {
        self.0.channel.as_deref()
    }
    async fn occurred_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.occurred_at
    }
    /// Who on our side.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.user_id).await
    }
    /// With whom.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<super::contact::Contact>> {
        contact_of(ctx, self.0.contact_id).await
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<super::company::Company>> {
        company_of(ctx, self.0.company_id).await
    }
    async fn deal(&self, ctx: &Context<'_>) -> Result<Option<super::sales::Deal>> {
        match self.0.deal_id {
            Some(id) => Ok(loaders(ctx)?
                .deals
                .load_one(id)
                .await?
                .map(super::sales::Deal)),
            None => Ok(None),
        }
    }
    /// Custom field values; sensitive ones read `********` without the
    /// `pii:read` scope, and reading them with it is audited.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        super::visible_custom_fields(ctx, "activity", self.0.id, &self.0.custom_fields).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

pub struct Task(pub task::Model);

#[Object]
impl Task {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn status(&self) -> TaskStatus {
        TaskStatus::from_db(&self.0.status)
    }
    async fn due_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.due_at
    }
    async fn completed_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.completed_at
    }
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.assignee_id).await
    }
    /// Kind of the linked record.
    async fn record_entity(&self) -> Option<RecordEntity> {
        self.0.record_entity.as_deref().map(RecordEntity::from_db)
    }
    async fn record_id(&self) -> Option<ID> {
        self.0.record_id.map(gid)
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

pub struct Ticket(pub ticket::Model);

#[Object]
impl Ticket {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn priority(&self) -> TicketPriority {
        TicketPriority::from_db(&self.0.priority)
    }
    async fn status(&self) -> TicketStatus {
        TicketStatus::from_db(&self.0.status)
    }
    /// From the tenant's SLA policy (P1: 30 min, P2: 2 h by default).
    async fn first_response_due_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.first_response_due_at
    }
    async fn resolution_due_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.resolution_due_at
    }
    async fn first_responded_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.first_responded_at
    }
    async fn resolved_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.resolved_at
    }
    /// Whether the first response is late (responded late, or still unanswered past due).
    async fn response_breached(&self, ctx: &Context<'_>) -> bool {
        match (self.0.first_response_due_at, self.0.first_responded_at) {
            (Some(due), Some(at)) => at > due,
            (Some(due), None) => crm(ctx).now() > due,
            _ => false,
        }
    }
    /// 1 (very dissatisfied) to 5 (very satisfied).
    async fn csat(&self) -> Option<i32> {
        self.0.csat.map(i32::from)
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<super::contact::Contact>> {
        contact_of(ctx, self.0.contact_id).await
    }
    async fn company(&self, ctx: &Context<'_>) -> Result<Option<super::company::Company>> {
        company_of(ctx, self.0.company_id).await
    }
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<super::admin::User>> {
        user_of(ctx, self.0.assignee_id).await
    }
    /// Custom field values; sensitive ones read `********` without the
    /// `pii:read` scope, and reading them with it is audited.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        super::visible_custom_fields(ctx, "ticket", self.0.id, &self.0.custom_fields).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

connection_types!(ActivityConnection, ActivityEdge, Activity);
connection_types!(TaskConnection, TaskEdge, Task);
connection_types!(TicketConnection, TicketEdge, Ticket);
enum_filter!(ActivityKindFilter, ActivityKind);
enum_filter!(TaskStatusFilter, TaskStatus);
enum_filter!(TicketPriorityFilter, TicketPriority);
enum_filter!(TicketStatusFilter, TicketStatus);
enum_filter!(RecordEntityFilter, RecordEntity);

entity_filter!(ActivityFilter {
    id: IdFilter => "id",
    kind: ActivityKindFilter => "kind",
    subject: StringFilter => "subject",
    content: StringFilter => "content",
    channel: StringFilter => "channel",
    occurred_at: DateTimeFilter => "occurredAt",
    user_id: IdFilter => "userId",
    contact_id: IdFilter => "contactId",
    company_id: IdFilter => "companyId",
    deal_id: IdFilter => "dealId",
});
order_input!(ActivityOrderBy, ActivityOrderField { OccurredAt => "occurredAt", CreatedAt => "createdAt", Kind => "kind" });

entity_filter!(TaskFilter {
    id: IdFilter => "id",
    title: StringFilter => "title",
    status: TaskStatusFilter => "status",
    assignee_id: IdFilter => "assigneeId",
    due_at: DateTimeFilter => "dueAt",
    record_entity: RecordEntityFilter => "recordEntity",
    record_id: IdFilter => "recordId",
    created_at: DateTimeFilter => "createdAt",
});
order_input!(TaskOrderBy, TaskOrderField { DueAt => "dueAt", CreatedAt => "createdAt", Status => "status", Title => "title" });

entity_filter!(TicketFilter {
    id: IdFilter => "id",
    subject: StringFilter => "subject",
    priority: TicketPriorityFilter => "priority",
    status: TicketStatusFilter => "status",
    contact_id: IdFilter => "contactId",
    company_id: IdFilter => "companyId",
    assignee_id: IdFilter => "assigneeId",
    first_response_due_at: DateTimeFilter => "firstResponseDueAt",
    resolution_due_at: DateTimeFilter => "resolutionDueAt",
    first_responded_at: DateTimeFilter => "firstRespondedAt",
    csat: IntFilter => "csat",
    created_at: DateTimeFilter => "createdAt",
});
order_input!(TicketOrderBy, TicketOrderField {
    Priority => "priority",
    Status => "status",
    FirstResponseDueAt => "firstResponseDueAt",
    ResolutionDueAt => "resolutionDueAt",
    CreatedAt => "createdAt",
});

/// An activity: `kind` and one of `contactId`/`companyId`/`dealId` are required on create.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActivityInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub kind: MaybeUndefined<ActivityKind>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub subject: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub content: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub channel: MaybeUndefined<String>,
    /// Default: now.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub occurred_at: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
    /// Default: the caller's user.
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub user_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub contact_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub company_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub deal_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub custom_fields: MaybeUndefined<Json<serde_json::Value>>,
}

/// A task: `title` is required on create.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub title: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub description: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub assignee_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub due_at: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub status: MaybeUndefined<TaskStatus>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub record_entity: MaybeUndefined<RecordEntity>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub record_id: MaybeUndefined<ID>,
}

/// A ticket: `subject` is required on create; due times follow the SLA policy.
#[derive(InputObject, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TicketInput {
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub subject: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub description: MaybeUndefined<String>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub priority: MaybeUndefined<TicketPriority>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub status: MaybeUndefined<TicketStatus>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub contact_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub company_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub assignee_id: MaybeUndefined<ID>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub first_responded_at: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub csat: MaybeUndefined<i32>,
    #[serde(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub custom_fields: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct WorkQuery;

#[Object]
impl WorkQuery {
    async fn activity(&self, ctx: &Context<'_>, id: ID) -> Result<Activity> {
        Ok(Activity(
            record::get::<ActivityKindK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ActivityFilter>,
        order_by: Option<Vec<ActivityOrderBy>>,
    ) -> Result<ActivityConnection> {
        let page = list::<ActivityKindK>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            ActivityOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(ActivityConnection::from_page(page, Activity))
    }

    async fn task(&self, ctx: &Context<'_>, id: ID) -> Result<Task> {
        Ok(Task(
            record::get::<TaskK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<TaskFilter>,
        order_by: Option<Vec<TaskOrderBy>>,
    ) -> Result<TaskConnection> {
        let page = list::<TaskK>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            TaskOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(TaskConnection::from_page(page, Task))
    }

    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Ticket> {
        Ok(Ticket(
            record::get::<TicketK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                .await
                .gql()?,
        ))
    }

    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 1000) as usize * child_complexity + 1"
    )]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<TicketFilter>,
        order_by: Option<Vec<TicketOrderBy>>,
    ) -> Result<TicketConnection> {
        let page = list::<TicketK>(
            ctx,
            PageArgs {
                first,
                after,
                last,
                before,
            },
            filter.map(|f| f.to_filter()),
            TicketOrderBy::to_core(&order_by),
        )
        .await?;
        Ok(TicketConnection::from_page(page, Ticket))
    }
}

#[derive(Default)]
pub struct WorkMutation;

#[Object]
impl WorkMutation {
    async fn create_activity(&self, ctx: &Context<'_>, input: ActivityInput) -> Result<Activity> {
        Ok(Activity(
            record::create::<ActivityKindK>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn update_activity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ActivityInput,
    ) -> Result<Activity> {
        Ok(Activity(
            record::update::<ActivityKindK>(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                to_json(&input),
            )
            .await
            .gql()?,
        ))
    }
    async fn delete_activity(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<ActivityKindK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }
    async fn create_task(&self, ctx: &Context<'_>, input: TaskInput) -> Result<Task> {
        Ok(Task(
            record::create::<TaskK>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn update_task(&self, ctx: &Context<'_>, id: ID, input: TaskInput) -> Result<Task> {
        Ok(Task(
            record::update::<TaskK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn delete_task(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<TaskK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }
    async fn create_ticket(&self, ctx: &Context<'_>, input: TicketInput) -> Result<Ticket> {
        Ok(Ticket(
            record::create::<TicketK>(crm(ctx), principal(ctx)?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn update_ticket(&self, ctx: &Context<'_>, id: ID, input: TicketInput) -> Result<Ticket> {
        Ok(Ticket(
            record::update::<TicketK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?, to_json(&input))
                .await
                .gql()?,
        ))
    }
    async fn delete_ticket(&self, ctx: &Context<'_>, id: ID) -> Result<super::Deleted> {
        Ok(super::Deleted {
            id: gid(
                record::delete::<TicketK>(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }
}
