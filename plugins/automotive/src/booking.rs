//! A test drive was booked: a follow-up task for the assigned rep and a coupon.

use std::time::Duration;

use crm_plugin_sdk::{Error, Event, HandlerContext, host, log};
use serde_json::json;

use crate::{Config, coupon, crm};

/// Title prefix of follow-up tasks; the escalation schedule finds them by it.
pub const FOLLOW_UP_TITLE: &str = "Test drive follow-up";

/// Handle an `activity.created` event: a `TEST_DRIVE` activity with a
/// contact is a booking; anything else is ignored.
///
/// Handlers run at least once, so progress is kept in key-value storage
/// under `booking:<activityId>`: `task:<id>` once the task exists, `done`
/// once the coupon is issued. A replay does only what is left.
pub fn on_activity(cfg: &Config, ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
    let is_test_drive = event
        .payload_str("kind")
        .is_some_and(|k| k.eq_ignore_ascii_case("TEST_DRIVE"));
    let Some(contact_id) = event.payload_str("contactId").filter(|_| is_test_drive) else {
        return Ok(());
    };
    let activity_id = event
        .record_id
        .as_deref()
        .or(event.payload_str("id"))
        .unwrap_or(&event.id);
    let key = format!("booking:{activity_id}");
    let progress = host::kv::get(&key)?;
    if progress.as_deref() == Some("done") {
        return Ok(());
    }
    let Some(contact) = crm::contact(contact_id)? else {
        log::warn(&format!(
            "test drive {activity_id}: contact {contact_id} is gone"
        ));
        return Ok(());
    };

    if !progress.is_some_and(|p| p.starts_with("task:")) {
        let owner = contact.owner.as_ref().map(|o| o.id.as_str());
        if owner.is_none() {
            log::warn(&format!(
                "contact {contact_id} has no owner: the follow-up is unassigned"
            ));
        }
        let interests = ["content", "subject"]
            .into_iter()
            .filter_map(|k| event.payload_str(k))
            .map(str::trim)
            .find(|s| !s.is_empty())
            .unwrap_or("not given");
        let minutes = u64::try_from(cfg.follow_up_minutes).unwrap_or(0);
        let task = crm::create_task(json!({
            "title": format!("{FOLLOW_UP_TITLE}: {}", contact.display_name()),
            "description": format!("Customer interests: {interests}"),
            "assigneeId": owner,
            "recordEntity": "CONTACT",
            "recordId": contact.id,
            "dueAt": ctx.now_plus(Duration::from_secs(minutes * 60))?,
        }))?;
        host::kv::set(&key, &format!("task:{}", task.unwrap_or_default()))?;
    }

    coupon::issue(cfg, &contact, Some(activity_id))?;
    host::kv::set(&key, "done")?;
    Ok(())
}
