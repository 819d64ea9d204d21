//! `emit`: custom domain events `plugin.<plugin id>.<kind>`. Needs the
//! `emit` grant; the kind and payload are checked here.

use super::{HostError, HostGate, parse_json};
use crate::plugin::capabilities::EMIT;

/// Longest kind, in bytes.
const MAX_KIND: usize = 64;
/// Largest payload, in bytes of JSON.
const MAX_PAYLOAD: usize = 64 << 10;

/// `[a-z][a-z0-9_-]*`, dot-separated words.
fn kind_ok(kind: &str) -> bool {
    kind.len() <= MAX_KIND
        && kind.split('.').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
}

pub(crate) fn emit(gate: &HostGate, kind: &str, payload: &str) -> Result<(), HostError> {
    gate.require(EMIT)?;
    if !kind_ok(kind) {
        return Err(HostError::bad_request(format!(
            "{kind:?} is not an event kind: dot-separated lower-case words ([a-z][a-z0-9_-]*), at most {MAX_KIND} bytes"
        )));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(HostError::bad_request(format!(
            "the payload is {} bytes, over the limit of {MAX_PAYLOAD}",
            payload.len()
        )));
    }
    let payload = parse_json(payload, "the payload")?;
    gate.api.emit(kind, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(kind_ok("probed"));
        assert!(kind_ok("health.dropped_below"));
        assert!(!kind_ok(""));
        assert!(!kind_ok("Probed"));
        assert!(!kind_ok("a..b"));
        assert!(!kind_ok(&"a".repeat(65)));
    }
}
