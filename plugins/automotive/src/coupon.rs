//! The test-drive coupon, marked on the contact as a tag.

use crm_plugin_sdk::{Error, host};
use serde_json::json;

use crate::Config;
use crate::crm::{self, Contact};

/// A coupon marked on a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The coupon, as configured (`50 charging credit`).
    pub coupon: String,
    /// The tag that marks it (`coupon:50-charging-credit`).
    pub tag: String,
    /// `false` when the contact already had it: nothing was changed.
    pub issued: bool,
}

/// The tag that marks `coupon` on a contact: `coupon:` and the coupon's
/// slug (lower case, runs of anything but letters and digits as one `-`).
///
/// ```
/// assert_eq!(automotive::coupon_tag("50 Charging Credit"), "coupon:50-charging-credit");
/// assert_eq!(automotive::coupon_tag("  充电券 ¥50! "), "coupon:充电券-50");
/// ```
pub fn coupon_tag(coupon: &str) -> String {
    let mut slug = String::with_capacity(coupon.len());
    for c in coupon.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    format!("coupon:{slug}")
}

/// Mark the configured coupon on `contact` (its tags plus the coupon's, as
/// `updateContact` replaces the list) and emit `coupon_issued`, unless the
/// contact already has it.
pub fn issue(cfg: &Config, contact: &Contact, activity_id: Option<&str>) -> Result<Issued, Error> {
    let coupon = cfg.coupon.trim();
    let tag = coupon_tag(coupon);
    if tag == "coupon:" {
        return Err(Error::invalid_config("coupon is empty"));
    }
    if contact.tags.contains(&tag) {
        return Ok(Issued {
            coupon: coupon.to_owned(),
            tag,
            issued: false,
        });
    }
    let mut tags = contact.tags.clone();
    tags.push(tag.clone());
    crm::set_tags(&contact.id, &tags)?;
    host::emit(
        "coupon_issued",
        json!({ "contactId": contact.id, "coupon": coupon, "tag": tag, "activityId": activity_id }),
    )?;
    Ok(Issued {
        coupon: coupon.to_owned(),
        tag,
        issued: true,
    })
}
