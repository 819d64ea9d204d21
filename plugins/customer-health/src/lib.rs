//! Customer health: a 1-100 health score per company from activity recency,
//! open tickets, SLA breaches and orders, and a task for the account owner
//! when it drops below the threshold (DOMAIN §6).
//!
//! - On every ticket event, new order and new activity, the company's health
//!   is recomputed; a daily schedule recomputes every company, so health also
//!   decays when nothing happens. It pages through the companies and keeps
//!   its place ([`RESUME_KEY`]), so a run cut short by its deadline resumes
//!   where it stopped when retried the same day (companies that failed in
//!   the finished pages wait for the next day's run).
//! - The score is stored as `health` (with a grade and the reasons) through
//!   `setScore`, and the last value is kept in key-value storage
//!   (`health:<companyId>`).
//! - When health falls below `threshold` from at or above it (or from no
//!   earlier value), the account owner gets one task and the event
//!   `plugin.customer-health.health_dropped` is emitted. No second task while
//!   it stays below; rising back to the threshold re-arms the alert.
//!
//! The rule is a plain function ([`health`]); [`CustomerHealth`] adapts it
//! to the plugin contract (0.2.0).

mod config;
pub mod crm;
mod rules;

use std::time::Duration;

use crm_plugin_sdk::{Error, Event, HandlerContext, Plugin, host, log};
use serde_json::json;

pub use config::Config;
pub use rules::{Facts, SCORE_NAME, grade, health};

/// Key-value entry of an unfinished daily run: `<day>|<cursor>` of the
/// next page of companies (`day` is the run's UTC date, `YYYY-MM-DD`).
pub const RESUME_KEY: &str = "daily:resume";

/// The plugin: the `health-on-change` handler and the `daily` schedule.
pub struct CustomerHealth;

impl Plugin for CustomerHealth {
    fn new() -> Self {
        CustomerHealth
    }

    fn on_event(&self, ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
        let cfg: Config = ctx.config()?;
        match company_of(event)? {
            Some(company) => assess(&cfg, ctx, &company).map(drop),
            None => {
                log::debug(&format!("{} {}: no company", event.kind, event.id));
                Ok(())
            }
        }
    }

    fn on_schedule(&self, ctx: &HandlerContext) -> Result<(), Error> {
        let cfg: Config = ctx.config()?;
        // A run cut short (its deadline, a crash) resumes, when retried the
        // same day, after the last page it finished instead of starting over:
        // a tenant with more companies than one run's deadline covers still
        // gets through them all.
        let day = ctx.now().get(..10).unwrap_or_default().to_owned();
        let mut cursor: Option<String> = host::kv::get(RESUME_KEY)?.and_then(|v| {
            v.strip_prefix(&day)
                .and_then(|rest| rest.strip_prefix('|'))
                .map(str::to_owned)
        });
        let resumed = cursor.is_some();
        let (mut assessed, mut failed, mut last_error) = (0_usize, 0_usize, None);
        loop {
            let (ids, next) = crm::company_page(cursor.as_deref())?;
            for id in ids {
                // One company's failure must not starve the others; the run
                // still fails at the end, so the host retries it.
                match assess(&cfg, ctx, &id) {
                    Ok(_) => assessed += 1,
                    Err(e) => {
                        log::warn(&format!("company {id}: {e}"));
                        failed += 1;
                        last_error = Some(e);
                    }
                }
            }
            match next {
                Some(next) if Some(&next) != cursor.as_ref() => {
                    host::kv::set(RESUME_KEY, &format!("{day}|{next}"))?;
                    cursor = Some(next);
                }
                _ => break,
            }
        }
        host::kv::delete(RESUME_KEY)?;
        log::info(&format!(
            "assessed {assessed} companies{}, {failed} failed",
            if resumed { " (resumed)" } else { "" }
        ));
        match last_error {
            Some(e) => Err(Error::new(
                e.code,
                format!(
                    "{failed} of {} companies failed; last: {}",
                    assessed + failed,
                    e.message
                ),
            )),
            None => Ok(()),
        }
    }
}

crm_plugin_sdk::export_plugin_v0_2!(CustomerHealth);

/// What happened to one company's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The company no longer exists.
    Gone,
    /// Health stored; `alerted` when it dropped below the threshold now.
    Scored { value: u8, alerted: bool },
}

/// The company an event is about: the payload's `companyId`, else the
/// company of its `contactId`, else the record itself for company events.
fn company_of(event: &Event) -> Result<Option<String>, Error> {
    if let Some(id) = event.payload_str("companyId") {
        return Ok(Some(id.to_owned()));
    }
    if let Some(contact) = event.payload_str("contactId") {
        return crm::company_of_contact(contact);
    }
    Ok(match event.entity.as_str() {
        "company" => event.record_id.clone(),
        _ => None,
    })
}

/// Recompute, store and, on a drop below the threshold, alert.
pub fn assess(cfg: &Config, ctx: &HandlerContext, id: &str) -> Result<Outcome, Error> {
    let Some(company) = crm::company(id)? else {
        return Ok(Outcome::Gone);
    };
    let (value, reasons) = health(cfg, &company.facts);
    let grade = grade(cfg, value);
    crm::set_score(&company.id, value, grade, &reasons)?;

    let key = format!("health:{}", company.id);
    let previous: Option<u8> = host::kv::get(&key)?.and_then(|v| v.parse().ok());
    let was_healthy = previous.is_none_or(|p| i64::from(p) >= cfg.threshold);
    let alerted = was_healthy && i64::from(value) < cfg.threshold;
    if alerted {
        alert(cfg, ctx, &company, value, previous, &reasons)?;
    }
    // Only after the alert: if it failed, the retry alerts again rather than
    // never (at worst a duplicate task, never a missing one).
    host::kv::set(&key, &value.to_string())?;
    Ok(Outcome::Scored { value, alerted })
}

fn alert(
    cfg: &Config,
    ctx: &HandlerContext,
    company: &crm::Company,
    value: u8,
    previous: Option<u8>,
    reasons: &[String],
) -> Result<(), Error> {
    let name = company.name.as_deref().unwrap_or(&company.id);
    let owner = company.owner.as_ref().map(|o| o.id.as_str());
    if owner.is_none() {
        log::warn(&format!(
            "company {name} has no owner: the task is unassigned"
        ));
    }
    let hours = u64::try_from(cfg.task_due_hours).unwrap_or(0);
    let task = crm::create_task(json!({
        "title": format!("Customer health dropped to {value}: {name}"),
        "description": reasons.join("\n"),
        "assigneeId": owner,
        "recordEntity": "COMPANY",
        "recordId": company.id,
        "dueAt": ctx.now_plus(Duration::from_secs(hours * 3600))?,
    }))?;
    host::emit(
        "health_dropped",
        json!({
            "companyId": company.id,
            "companyName": company.name,
            "health": value,
            "previous": previous,
            "threshold": cfg.threshold,
            "reasons": reasons,
            "ownerId": owner,
            "taskId": task,
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
