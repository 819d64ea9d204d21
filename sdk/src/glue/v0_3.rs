//! Contract 0.3.0: `functions` and `handlers` as in 0.2.0 (the host API
//! adds `http`), called by [`export_plugin_v0_3!`](crate::export_plugin_v0_3).

use super::{action_input, event, handler_context, prepare, run_score, run_validate};
use crate::Plugin;
use crate::bindings::v0_3::crm::plugin::types as wit;
use crate::host::Installed;

super::since_v0_2!(v0_3);
