//! What checking one record found, and how the configuration turns it into
//! a decision.

use crm_plugin_sdk::{Decision, FieldError};
use serde_json::Value;

use crate::{Config, FlagMode, OnInvalid};

/// Prefix of the tags this plugin owns.
pub const TAG_PREFIX: &str = "dq:";

/// Implausible data found in one field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flag {
    /// Kebab-case name, the tag is `dq:<name>` (`junk-email`).
    name: &'static str,
    /// GraphQL path of the field.
    path: &'static str,
    /// What looks wrong, for a rejection message.
    message: String,
}

impl Flag {
    /// Upper snake case code for a rejection (`JUNK_EMAIL`).
    fn code(&self) -> String {
        self.name.to_ascii_uppercase().replace('-', "_")
    }
}

/// Patches, rejections and flags gathered while checking a record.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    decision: Decision,
    flags: Vec<Flag>,
}

impl Findings {
    pub(crate) fn patch(&mut self, path: &str, value: Value) {
        self.decision = std::mem::take(&mut self.decision).with_patch(path, value);
    }

    pub(crate) fn flag(&mut self, name: &'static str, path: &'static str, message: String) {
        self.flags.push(Flag {
            name,
            path,
            message,
        });
    }

    /// A value that cannot be parsed, handled as `on-invalid` says.
    pub(crate) fn invalid(
        &mut self,
        cfg: &Config,
        path: &'static str,
        code: &str,
        message: String,
        flag: &'static str,
    ) {
        match cfg.on_invalid {
            OnInvalid::Reject => {
                self.decision = std::mem::take(&mut self.decision)
                    .with_error(FieldError::new(path, code, message));
            }
            OnInvalid::Patch => {
                self.patch(path, Value::Null);
                self.flag(flag, path, message);
            }
            OnInvalid::Ignore => {}
        }
    }

    /// The decision, with the flags handled as `flag-mode` says. In tag mode
    /// `tags` (the record's current tags) lose their stale `dq:` entries and
    /// gain one per flag; the patch is only made when that changes them.
    pub(crate) fn finish(self, cfg: &Config, tags: &[String]) -> Decision {
        match cfg.flag_mode {
            FlagMode::Ignore => self.decision,
            FlagMode::Reject => self.flags.into_iter().fold(self.decision, |d, f| {
                let code = f.code();
                d.with_error(FieldError::new(f.path, code, f.message))
            }),
            FlagMode::Tag => {
                let mut new: Vec<String> = tags
                    .iter()
                    .filter(|t| !t.starts_with(TAG_PREFIX))
                    .cloned()
                    .collect();
                for flag in &self.flags {
                    let tag = format!("{TAG_PREFIX}{}", flag.name);
                    if !new.contains(&tag) {
                        new.push(tag);
                    }
                }
                if new.as_slice() == tags {
                    self.decision
                } else {
                    self.decision.with_patch("tags", Value::from(new))
                }
            }
        }
    }
}
