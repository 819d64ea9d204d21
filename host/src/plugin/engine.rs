//! The one `wasmtime::Engine` of a process, its configuration, and the
//! epoch ticker that turns wall-clock deadlines into interrupts.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Limits and caching of the plugin runtime. Every field has a default, so
/// a configuration file names only what it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (by SHA-256 of the component);
    /// `None` compiles every component once per process. The directory must
    /// be writable by this process only: its files are loaded as native code.
    pub cache_dir: Option<PathBuf>,
    /// Instruction budget per record, unless the call names its own.
    pub fuel_per_record: u64,
    /// Most linear memory one instance may use, in bytes.
    pub memory_limit: usize,
    /// Most bytes of strings one call may return (names, reasons, patches, ...).
    pub output_limit: usize,
    /// Wall-clock limit of one function call (instantiation included); in
    /// configuration files, milliseconds under `deadline_ms`.
    #[serde(rename = "deadline_ms", with = "millis")]
    pub deadline: Duration,
    /// Most bytes of log (the `log` import plus stdout and stderr) kept per call.
    pub log_limit: usize,
    /// Instances that can be alive at once across all threads; each reserves
    /// address space for `memory_limit` up front (the pooling allocator).
    pub max_instances: u32,
    /// Instruction budget of one handler run (on-event, on-schedule,
    /// action). Handlers are bounded by their wall-clock `deadline-ms`, so
    /// the default is effectively unlimited; lower it to bound CPU as well.
    pub handler_fuel: u64,
    /// Bytes of each instance's memory (and tables) that are reset with
    /// `memset` and stay resident when the instance ends; the rest is
    /// returned to the kernel with `madvise`. Covering a typical call's
    /// footprint (a Rust guest's 1 MiB stack plus its heap) avoids a system
    /// call, TLB shootdowns and page faults on every call.
    pub keep_resident: usize,
    /// Largest request or response body of one outbound HTTP call
    /// (contract 0.3.0 `http.fetch`), in bytes.
    pub http_body_limit: usize,
    /// Most outbound HTTP requests one handler run may send (refused ones
    /// included): a plugin looping on `http.fetch` stops here instead of
    /// flooding a partner's API until its deadline.
    pub http_requests_per_run: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            fuel_per_record: 10_000_000,
            memory_limit: 32 << 20,
            output_limit: 1 << 20,
            deadline: Duration::from_secs(1),
            log_limit: 64 << 10,
            max_instances: 256,
            handler_fuel: u64::MAX / 2,
            keep_resident: 2 << 20,
            http_body_limit: 4 << 20,
            http_requests_per_run: 1000,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// How often the engine's epoch advances. A deadline is rounded up to
/// whole ticks, so it fires at most one tick late.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

const WASM_PAGE: usize = 64 << 10;

/// Build the engine: component model, fuel, epoch interruption, and a
/// pooling allocator.
///
/// On 64-bit hosts each memory slot reserves 4 GiB of address space plus a
/// 2 GiB guard (address space only: nothing is committed beyond what the
/// guest touches, and growth stops at `memory_limit`). A 32-bit wasm address
/// then can never leave the reservation, so compiled code needs no bounds
/// check on loads and stores: plugin code runs markedly faster than with a
/// reservation of `memory_limit` only. Slots are reset with `memset` up to
/// `keep_resident` instead of `madvise`, which saves a system call and the
/// page faults of the next instance on every call.
pub(crate) fn build(cfg: &RuntimeConfig) -> wasmtime::Result<Engine> {
    let memory_limit = cfg.memory_limit.max(WASM_PAGE).next_multiple_of(WASM_PAGE);
    let instances = cfg.max_instances.max(1);

    let mut pool = PoolingAllocationConfig::new();
    pool.linear_memory_keep_resident(cfg.keep_resident)
        .table_keep_resident(cfg.keep_resident)
        .pagemap_scan(if pagemap_scan_is_safe() {
            Enabled::Auto
        } else {
            Enabled::No
        })
        .total_component_instances(instances)
        // A wasip2 component is a handful of core instances (program and
        // adapter shims), each with a table, sharing one memory.
        .total_core_instances(instances.saturating_mul(8))
        .total_tables(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .max_memory_size(memory_limit);

    // 64-bit: the whole 32-bit address space plus a guard, so bounds checks
    // are elided; elsewhere only what the limit needs (bounds-checked).
    let (reservation, guard) = if cfg!(target_pointer_width = "64") {
        (4 << 30, 2 << 30)
    } else {
        (memory_limit as u64, 2 << 20)
    };
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .memory_reservation(reservation.max(memory_limit as u64))
        .memory_guard_size(guard)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // `CRM_PLUGIN_PERFMAP=1` writes /tmp/perf-PID.map so `perf record` /
    // `perf report` name the functions of plugin code (profiling only).
    if std::env::var_os("CRM_PLUGIN_PERFMAP").is_some_and(|v| v != "0") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config)
}

/// Whether resetting instance memory may use Linux's `PAGEMAP_SCAN` (kernel
/// 6.7+, used when the kernel has it): it finds the pages a call actually
/// wrote and resets only those (up to `keep_resident`), instead of a blind
/// `memset` of the first `keep_resident` bytes, which is most of the cost of
/// a fresh instance for a small call.
///
/// The scan only sees *present* pages, so a written page the kernel has
/// swapped out would escape the reset and leak into the next instance of the
/// slot. It is therefore used only when no swap is active (`/proc/swaps`
/// lists none); a host that turns swap on must restart the CRM.
/// `CRM_PLUGIN_PAGEMAP_SCAN=0` turns it off regardless.
fn pagemap_scan_is_safe() -> bool {
    if std::env::var_os("CRM_PLUGIN_PAGEMAP_SCAN").is_some_and(|v| v == "0") {
        return false;
    }
    // The header line, then one line per active swap area.
    std::fs::read_to_string("/proc/swaps")
        .is_ok_and(|swaps| swaps.lines().skip(1).all(|l| l.trim().is_empty()))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    // Dropping the sender disconnects the channel, which ends the thread.
    _stop: mpsc::Sender<()>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker { _stop: stop })
    }
}

/// `deadline` in epoch ticks, rounded up, at least one.
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    let ticks = deadline.as_nanos().div_ceil(tick).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_file_form() {
        let cfg: RuntimeConfig = serde_json::from_str(r#"{"deadline_ms": 250}"#).expect("parses");
        assert_eq!(cfg.deadline, Duration::from_millis(250));
        assert_eq!(cfg.fuel_per_record, 10_000_000);
        assert_eq!(cfg.memory_limit, 32 << 20);
        let json = serde_json::to_value(RuntimeConfig::default()).expect("serializes");
        assert_eq!(json["deadline_ms"], 1000);
    }

    #[test]
    fn deadline_in_ticks() {
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
        assert_eq!(deadline_ticks(Duration::from_secs(1)), 500);
        assert_eq!(deadline_ticks(Duration::from_millis(3)), 2);
    }
}
