//! Automotive: test-drive bookings (DOMAIN §7).
//!
//! - A `TEST_DRIVE` activity logged with a contact (from the web or app
//!   booking) gives the contact's owner, the assigned rep, a follow-up task
//!   due within `follow-up-minutes` that carries the customer's interests
//!   (the activity's content), and issues the configured coupon, marked on
//!   the contact as the tag `coupon:<slug>` (`plugin.automotive.coupon_issued`).
//! - Every five minutes, follow-ups still open past their due time escalate
//!   to the store manager (`store-manager-id`, else the rep's manager), once
//!   per follow-up (`plugin.automotive.test_drive_escalated`).
//! - The `issue-coupon` action issues the coupon to a contact on demand.
//!
//! Handlers run at least once; every step remembers what it did in
//! key-value storage, so a replay changes nothing.

mod booking;
mod config;
mod coupon;
pub mod crm;
mod escalation;

use crm_plugin_sdk::{Error, Event, HandlerContext, Plugin};
use serde::Deserialize;
use serde_json::{Value, json};

pub use booking::FOLLOW_UP_TITLE;
pub use config::Config;
pub use coupon::{Issued, coupon_tag};
pub use escalation::ESCALATION_TITLE;

/// The plugin: the `test-drive-booked` handler, the `escalate-overdue`
/// schedule and the `issue-coupon` action.
pub struct Automotive;

impl Plugin for Automotive {
    fn new() -> Self {
        Automotive
    }

    fn on_event(&self, ctx: &HandlerContext, event: &Event) -> Result<(), Error> {
        if event.kind != "activity.created" {
            return Ok(());
        }
        booking::on_activity(&ctx.config()?, ctx, event)
    }

    fn on_schedule(&self, ctx: &HandlerContext) -> Result<(), Error> {
        escalation::run(&ctx.config()?, ctx)
    }

    fn action(&self, ctx: &HandlerContext, input: &Value) -> Result<Value, Error> {
        match ctx.name() {
            "issue-coupon" => issue_coupon(&ctx.config()?, input),
            other => Err(Error::new(
                "UNKNOWN_ACTION",
                format!("unknown action {other:?}"),
            )),
        }
    }
}

crm_plugin_sdk::export_plugin_v0_2!(Automotive);

/// `issue-coupon`: `{"contactId": ID}` -> `{"coupon", "tag", "issued"}`.
fn issue_coupon(cfg: &Config, input: &Value) -> Result<Value, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Input {
        contact_id: String,
    }
    let input = Input::deserialize(input).map_err(|e| {
        Error::new(
            "BAD_USER_INPUT",
            format!("expected {{\"contactId\": ID}}: {e}"),
        )
    })?;
    let Some(contact) = crm::contact(&input.contact_id)? else {
        return Err(Error::new(
            "NOT_FOUND",
            format!("contact {} not found", input.contact_id),
        ));
    };
    let issued = coupon::issue(cfg, &contact, None)?;
    Ok(json!({ "coupon": issued.coupon, "tag": issued.tag, "issued": issued.issued }))
}

#[cfg(test)]
mod tests;
