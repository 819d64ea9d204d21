//! `kv-get`, `kv-set`, `kv-delete`: storage private to one plugin in one
//! tenant. Needs the `kv` grant; keys and values are bounded here.

use super::{HostError, HostGate};
use crate::plugin::capabilities::KV;

/// Longest key, in bytes.
pub const MAX_KEY: usize = 256;
/// Longest value, in bytes.
pub const MAX_VALUE: usize = 64 << 10;

fn key_ok(key: &str) -> Result<(), HostError> {
    if key.is_empty() || key.len() > MAX_KEY {
        Err(HostError::bad_request(format!(
            "a key is 1 to {MAX_KEY} bytes, this one is {}",
            key.len()
        )))
    } else {
        Ok(())
    }
}

pub(crate) fn get(gate: &HostGate, key: &str) -> Result<Option<String>, HostError> {
    gate.require(KV)?;
    key_ok(key)?;
    gate.api.kv_get(key)
}

pub(crate) fn set(gate: &HostGate, key: &str, value: &str) -> Result<(), HostError> {
    gate.require(KV)?;
    key_ok(key)?;
    if value.len() > MAX_VALUE {
        return Err(HostError::bad_request(format!(
            "the value of {key:?} is {} bytes, over the limit of {MAX_VALUE}",
            value.len()
        )));
    }
    gate.api.kv_set(key, value)
}

pub(crate) fn delete(gate: &HostGate, key: &str) -> Result<(), HostError> {
    gate.require(KV)?;
    key_ok(key)?;
    gate.api.kv_delete(key)
}
