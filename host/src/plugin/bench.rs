//! Micro-benchmark of the per-call cost: a fresh instance plus a trivial
//! call. Wired into `crm bench plugins`.

use std::time::{Duration, Instant};

use crm_core::plugin_api::PluginFailure;

use super::invoke::{CallContext, LoadedPlugin, PluginRuntime};
use super::manifest::FunctionKind;

/// Time `iterations` one-record `score` calls of `plugin`, each on a fresh
/// instance (store + instantiate + call + checks). Meant for a trivial
/// scorer such as the `echo-score` test fixture; the record is `{}`.
/// Stops at the first failed call and returns it. Blocking.
pub fn bench_instance_call(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    iterations: usize,
) -> Result<Vec<Duration>, PluginFailure> {
    let entity = plugin
        .manifest
        .functions
        .iter()
        .find(|f| f.kind == FunctionKind::Score)
        .and_then(|f| f.entities.first())
        .cloned()
        .unwrap_or_else(|| "contact".to_owned());
    let ctx = CallContext {
        tenant: "00000000-0000-0000-0000-000000000000".to_owned(),
        entity,
        config: plugin
            .manifest
            .effective_config(&serde_json::Value::Null)
            .unwrap_or_default(),
        fuel_per_record: None,
    };
    let records = ["{}".to_owned()];
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let call = runtime.score(plugin, &ctx, &records);
        times.push(started.elapsed());
        call.result?;
    }
    Ok(times)
}
