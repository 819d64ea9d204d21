//! Automation in GraphQL: workflows and their runs, the job queue (operators),
//! plugin actions, and scores written by plugin handlers.

use crate::common::{crm, gid, principal, uuid};
use crate::error::GqlResult;
use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject};
use crm_core::entity::{job, workflow, workflow_run};
use crm_core::{CoreError, Role};
use serde_json::Value;

pub struct Workflow(workflow::Model);

#[Object]
impl Workflow {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// `{type: event, events}`, `{type: schedule, cron}` or `{type: timer, entity, field, offsetMinutes}`.
    async fn trigger(&self) -> Json<Value> {
        Json(self.0.trigger.clone())
    }
    async fn conditions(&self) -> Json<Value> {
        Json(self.0.conditions.clone())
    }
    async fn steps(&self) -> Json<Value> {
        Json(self.0.steps.clone())
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

pub struct WorkflowRun(workflow_run::Model);

#[Object]
impl WorkflowRun {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn workflow_id(&self) -> ID {
        gid(self.0.workflow_id)
    }
    async fn entity(&self) -> Option<&str> {
        self.0.entity.as_deref()
    }
    async fn record_id(&self) -> Option<ID> {
        self.0.record_id.map(gid)
    }
    /// running, waiting (in a delay), succeeded or failed.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// One entry per executed step: `{step, type, status, detail|error, at}`.
    async fn steps(&self) -> Json<Value> {
        Json(self.0.steps.clone())
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn finished_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.finished_at
    }
}

pub struct Job(pub(crate) job::Model);

#[Object]
impl Job {
    async fn id(&self) -> ID {
        gid(self.0.id)
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// queued, running, succeeded or dead.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn max_attempts(&self) -> i32 {
        self.0.max_attempts
    }
    async fn run_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.run_at
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn payload(&self) -> Json<Value> {
        Json(self.0.payload.clone())
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn finished_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.finished_at
    }
}

#[derive(InputObject)]
pub struct WorkflowInput {
    pub name: String,
    #[graphql(default = true)]
    pub enabled: bool,
    pub trigger: Json<Value>,
    #[graphql(default)]
    pub conditions: Option<Json<Value>>,
    pub steps: Json<Value>,
}

impl WorkflowInput {
    fn into_def(self) -> crm_core::workflow::Definition {
        crm_core::workflow::Definition {
            name: self.name,
            enabled: self.enabled,
            trigger: self.trigger.0,
            conditions: self.conditions.map(|c| c.0).unwrap_or(Value::Array(vec![])),
            steps: self.steps.0,
        }
    }
}

/// A score written by a plugin handler (stored under the calling plugin's id).
#[derive(InputObject)]
pub struct ScoreInput {
    /// contact, company or deal.
    pub entity: String,
    pub record_id: ID,
    pub name: String,
    /// 0..=100.
    pub value: i32,
    pub grade: Option<String>,
    #[graphql(default)]
    pub reasons: Vec<String>,
}

#[derive(SimpleObject)]
pub struct ActionResult {
    pub plugin: String,
    pub action: String,
    pub output: Json<Value>,
}

#[derive(Default)]
pub struct AutomationQuery;

#[Object]
impl AutomationQuery {
    async fn workflows(&self, ctx: &Context<'_>) -> Result<Vec<Workflow>> {
        let p = principal(ctx)?;
        Ok(crm_core::workflow::list(crm(ctx), p.tenant_id)
            .await
            .gql()?
            .into_iter()
            .map(Workflow)
            .collect())
    }

    /// Workflow runs, newest first: of one record (`recordId`) or one workflow.
    async fn workflow_runs(
        &self,
        ctx: &Context<'_>,
        record_id: Option<ID>,
        workflow_id: Option<ID>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<WorkflowRun>> {
        let rid = record_id
            .as_ref()
            .map(|r| uuid(r, "recordId"))
            .transpose()?;
        let wid = workflow_id
            .as_ref()
            .map(|w| uuid(w, "workflowId"))
            .transpose()?;
        let rows =
            crm_core::workflow::runs(crm(ctx), principal(ctx)?, rid, wid, first.max(1) as u64)
                .await
                .gql()?;
        Ok(rows.into_iter().map(WorkflowRun).collect())
    }

    /// One job of the tenant (a background rescore's progress, say).
    async fn job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        let id = uuid(&id, "id")?;
        Ok(Job(crm_core::jobs::get(crm(ctx), principal(ctx)?, id)
            .await
            .gql()?))
    }

    /// The tenant's jobs, newest first (operators).
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        status: Option<String>,
        kind: Option<String>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<Job>> {
        let rows = crm_core::jobs::list(
            crm(ctx),
            principal(ctx)?,
            status.as_deref(),
            kind.as_deref(),
            first.max(1) as u64,
        )
        .await
        .gql()?;
        Ok(rows.into_iter().map(Job).collect())
    }
}

#[derive(Default)]
pub struct AutomationMutation;

#[Object]
impl AutomationMutation {
    async fn create_workflow(&self, ctx: &Context<'_>, input: WorkflowInput) -> Result<Workflow> {
        Ok(Workflow(
            crm_core::workflow::create(crm(ctx), principal(ctx)?, input.into_def())
                .await
                .gql()?,
        ))
    }

    async fn update_workflow(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: WorkflowInput,
    ) -> Result<Workflow> {
        Ok(Workflow(
            crm_core::workflow::update(
                crm(ctx),
                principal(ctx)?,
                uuid(&id, "id")?,
                input.into_def(),
            )
            .await
            .gql()?,
        ))
    }

    async fn delete_workflow(&self, ctx: &Context<'_>, id: ID) -> Result<crate::records::Deleted> {
        Ok(crate::records::Deleted {
            id: gid(
                crm_core::workflow::delete(crm(ctx), principal(ctx)?, uuid(&id, "id")?)
                    .await
                    .gql()?,
            ),
        })
    }

    /// Put a dead job back in the queue (operators).
    async fn retry_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        Ok(Job(crm_core::jobs::retry(
            crm(ctx),
            principal(ctx)?,
            uuid(&id, "id")?,
        )
        .await
        .gql()?))
    }

    /// Run a plugin action enabled for the caller's tenant; returns its JSON result.
    async fn run_plugin_action(
        &self,
        ctx: &Context<'_>,
        plugin: String,
        action: String,
        #[graphql(default)] input: Option<Json<Value>>,
    ) -> Result<ActionResult> {
        let p = principal(ctx)?;
        if p.role == Role::ReadOnly {
            return Err(crate::error::to_gql_error(CoreError::Forbidden(
                "read-only keys cannot run plugin actions".into(),
            )));
        }
        let input = input
            .map(|i| i.0)
            .unwrap_or(Value::Object(Default::default()));
        let output = crm(ctx)
            .hooks()
            .action(p.tenant_id, &plugin, &action, input)
            .await
            .map_err(|f| crate::error::to_gql_error(CoreError::PluginFailed(f)))?;
        Ok(ActionResult {
            plugin,
            action,
            output: Json(output),
        })
    }

    /// Store a score computed by a plugin handler (plugin principals only).
    async fn set_score(&self, ctx: &Context<'_>, input: ScoreInput) -> Result<bool> {
        let p = principal(ctx)?;
        let Some(plugin) = p.plugin.clone().filter(|_| p.role == Role::Plugin) else {
            return Err(crate::error::to_gql_error(CoreError::Forbidden(
                "only plugins write scores; users read them".into(),
            )));
        };
        let entity = input.entity.to_lowercase();
        p.require(crm_core::auth::Action::Read, &entity).gql()?;
        let id = uuid(&input.record_id, "input.recordId")?;
        if !crm_core::record::exists(crm(ctx), p.tenant_id, &entity, id)
            .await
            .gql()?
        {
            return Err(crate::error::to_gql_error(CoreError::invalid(
                "input.recordId",
                "NOT_FOUND",
                format!("no {entity} with id {id}"),
            )));
        }
        if !(0..=100).contains(&input.value) {
            return Err(crate::error::to_gql_error(CoreError::invalid(
                "input.value",
                "INVALID_VALUE",
                "a score is 0..=100",
            )));
        }
        let s = crm_core::plugin_api::ScoreValue {
            name: input.name,
            value: input.value as u8,
            grade: input.grade,
            reasons: input.reasons,
        };
        let w = crm_core::plugin_store::ScoreWrite {
            tenant: p.tenant_id,
            entity: &entity,
            plugin_id: &plugin,
            scorer: None,
            cause: crm_core::plugin_store::ScoreCause::SetScore,
        };
        crm_core::plugin_store::store_scores(crm(ctx), w, &[(id, vec![s])])
            .await
            .gql()?;
        Ok(true)
    }
}
