//! Follow-ups past their due time escalate to the store manager, once.

use crm_plugin_sdk::{Error, HandlerContext, host, log};
use serde_json::json;

use crate::{Config, crm};

/// Title of escalation tasks.
pub const ESCALATION_TITLE: &str = "Escalation: test drive not followed up within the hour";

/// At most this many pages (of 100) per run; the next run continues.
const MAX_PAGES: usize = 20;

/// Escalate every overdue follow-up not escalated yet (`escalated:<taskId>`
/// in key-value storage). A follow-up whose manager is unknown is skipped
/// and retried on the next run; a failure does not stop the others but
/// fails the run.
pub fn run(cfg: &Config, ctx: &HandlerContext) -> Result<(), Error> {
    let mut after: Option<String> = None;
    let (mut escalated, mut last_error) = (0_usize, None);
    for _ in 0..MAX_PAGES {
        let (tasks, next) = crm::overdue_follow_ups(ctx.now(), after.as_deref())?;
        for task in &tasks {
            match escalate(cfg, ctx, task) {
                Ok(true) => escalated += 1,
                Ok(false) => {}
                Err(e) => {
                    log::warn(&format!("follow-up {}: {e}", task.id));
                    last_error = Some(e);
                }
            }
        }
        match next {
            Some(next) if Some(&next) != after.as_ref() => after = Some(next),
            _ => break,
        }
    }
    log::info(&format!(
        "escalated {escalated} overdue test-drive follow-ups"
    ));
    last_error.map_or(Ok(()), Err)
}

/// Escalate one overdue follow-up; `false` if it was already, or cannot be.
fn escalate(cfg: &Config, ctx: &HandlerContext, task: &crm::Task) -> Result<bool, Error> {
    let key = format!("escalated:{}", task.id);
    if host::kv::get(&key)?.is_some() {
        return Ok(false);
    }
    let assignee = task.assignee.as_ref();
    let manager = cfg.store_manager().map(str::to_owned).or_else(|| {
        assignee
            .and_then(|a| a.manager.as_ref())
            .map(|m| m.id.clone())
    });
    let Some(manager) = manager else {
        log::warn(&format!(
            "follow-up {}: its assignee has no manager; set store-manager-id",
            task.id
        ));
        return Ok(false);
    };
    let rep = assignee.map_or("nobody", |a| a.id.as_str());
    let due = task.due_at.as_deref().unwrap_or("its due time");
    let escalation = crm::create_task(json!({
        "title": ESCALATION_TITLE,
        "description": format!(
            "\"{}\" (task {}), assigned to user {rep}, was due at {due} and is still open.",
            task.title, task.id
        ),
        "assigneeId": manager,
        "recordEntity": task.record_id.as_ref().map(|_| "CONTACT"),
        "recordId": task.record_id,
        "dueAt": ctx.now(),
    }))?;
    host::emit(
        "test_drive_escalated",
        json!({
            "taskId": task.id,
            "contactId": task.record_id,
            "assigneeId": assignee.map(|a| &a.id),
            "managerId": manager,
            "escalationTaskId": escalation,
        }),
    )?;
    host::kv::set(&key, escalation.as_deref().unwrap_or("1"))?;
    Ok(true)
}
