//! Contract 0.2.0: `functions` and `handlers`, called by
//! [`export_plugin_v0_2!`](crate::export_plugin_v0_2).

use super::{action_input, event, handler_context, prepare, run_score, run_validate};
use crate::Plugin;
use crate::bindings::v0_2::crm::plugin::types as wit;
use crate::host::Installed;

super::since_v0_2!(v0_2);
