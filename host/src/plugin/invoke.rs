//! The runtime: load a plugin once, then call it with a fresh instance per
//! call, under fuel, deadline, memory, output and log limits, and turn
//! whatever goes wrong into a [`PluginFailure`] with a stable code.
//!
//! This module runs functions (validate, score) and holds what every call
//! shares ([`PluginRuntime::call_guest`]); handlers are in `super::handlers`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_core::plugin_api::{Decision, PluginFailure, ScoreValue};
use semver::Version;
use wasmtime::{Engine, Store, Trap};

use super::bindings::{CallInput, GuestOutcome, Linkers, Pre, RawDecision};
use super::cache::{CacheStats, Compiled, ComponentCache, LoadSource, sha256_hex};
use super::contract;
use super::engine::{self, EpochTicker, RuntimeConfig};
use super::error::RuntimeError;
use super::host_api::HostAccess;
use super::manifest::{FunctionKind, Manifest};
use super::sandbox::{StoreState, floor_char_boundary};

/// Failure codes of [`PluginFailure::code`].
pub mod codes {
    /// The call ran past its wall-clock deadline.
    pub const TIMEOUT: &str = "TIMEOUT";
    /// The call used up its instruction budget.
    pub const FUEL_EXHAUSTED: &str = "FUEL_EXHAUSTED";
    /// The guest asked for more memory than it may have.
    pub const MEMORY_LIMIT: &str = "MEMORY_LIMIT";
    /// The guest's call stack overflowed (usually runaway recursion).
    pub const STACK_OVERFLOW: &str = "STACK_OVERFLOW";
    /// The guest trapped: a panic, `unreachable`, an out-of-bounds access...
    pub const TRAP: &str = "TRAP";
    /// The answer's strings exceed `RuntimeConfig::output_limit`.
    pub const OUTPUT_TOO_LARGE: &str = "OUTPUT_TOO_LARGE";
    /// The answer breaks the contract: wrong number of results, invalid JSON.
    pub const BAD_OUTPUT: &str = "BAD_OUTPUT";
    /// The guest returned its own `plugin-error`.
    pub const PLUGIN_ERROR: &str = "PLUGIN_ERROR";
    /// Every instance slot is in use; try again later.
    pub const BUSY: &str = "BUSY";
    /// The component's contract has no such entry point (handlers, schedules
    /// and actions need contract 0.2.0).
    pub const UNSUPPORTED: &str = "UNSUPPORTED";
    /// The manifest declares no handler, schedule or action of that name.
    pub const NOT_DECLARED: &str = "NOT_DECLARED";
}

/// The plugin runtime. Cheap to clone (an `Arc` inside) and shared across
/// threads. Calls block the calling thread: from async code, call them in
/// `tokio::task::spawn_blocking` or `tokio::task::block_in_place` (never
/// directly on a runtime worker: the WASI streams block on Tokio internally
/// and would panic there).
#[derive(Clone)]
pub struct PluginRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linkers: Linkers,
    cache: ComponentCache,
    cfg: RuntimeConfig,
    _ticker: EpochTicker,
}

/// A plugin ready to be called: manifest plus compiled component.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    /// Hex SHA-256 of the component's bytes.
    pub hash: String,
    /// The contract version the component was built against.
    pub contract: Version,
    /// Where the compiled component came from.
    pub source: LoadSource,
    pub(super) compiled: Arc<Compiled>,
}

impl LoadedPlugin {
    /// The plugin's id (from its manifest).
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Whether loading skipped compilation (disk or memory cache).
    pub fn from_cache(&self) -> bool {
        self.source != LoadSource::Compiled
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version.to_string())
            .field("hash", &self.hash)
            .field("contract", &self.contract.to_string())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What the host tells the plugin about a function call. The function's
/// name is not part of it (so existing callers keep compiling): use
/// [`PluginRuntime::validate_function`] / [`PluginRuntime::score_function`]
/// to name it; [`PluginRuntime::validate`] / [`PluginRuntime::score`] name the
/// manifest's first function of that kind for the entity.
#[derive(Debug, Clone, PartialEq)]
pub struct CallContext {
    /// Tenant id (a UUID string).
    pub tenant: String,
    /// The entity the records are of (`contact`, ...).
    pub entity: String,
    /// The effective configuration ([`Manifest::effective_config`]).
    pub config: serde_json::Value,
    /// Fuel per record for this call, usually the function's
    /// `fuel-per-record`; `None` uses `RuntimeConfig::fuel_per_record`.
    pub fuel_per_record: Option<u64>,
}

/// The outcome of one call and what it cost.
#[derive(Debug, Clone)]
pub struct Invocation<T> {
    pub result: Result<T, PluginFailure>,
    pub stats: RunStats,
}

/// What one call cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Wall time, instantiation included.
    pub duration: Duration,
    /// Fuel consumed, instantiation included.
    pub fuel_used: u64,
    /// The run's log (`log` import, then stdout and stderr), bounded by
    /// `RuntimeConfig::log_limit`.
    pub log: Vec<String>,
    /// Records in the batch.
    pub records: usize,
}

/// Longest guest-chosen text (error message, stderr tail) kept in a failure.
pub(super) const MAX_FAILURE_TEXT: usize = 2048;

impl PluginRuntime {
    /// Start the runtime: engine, linkers, epoch ticker.
    pub fn new(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = engine::build(&cfg).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let linkers = Linkers::new(&engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let ticker =
            EpochTicker::start(&engine).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let cache = ComponentCache::new(&engine, cfg.cache_dir.clone());
        Ok(PluginRuntime {
            inner: Arc::new(Inner {
                engine,
                linkers,
                cache,
                cfg,
                _ticker: ticker,
            }),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.cfg
    }

    /// Compile `component` (or find it in a cache), check the contract
    /// version it was built against and that the manifest agrees, and
    /// pre-instantiate it. Blocking: compiling takes ~100 ms.
    pub fn load(
        &self,
        manifest: &Manifest,
        component: &[u8],
    ) -> Result<Arc<LoadedPlugin>, RuntimeError> {
        let inner = &*self.inner;
        let hash = sha256_hex(component);
        let (compiled, source) = inner.cache.get(
            &inner.engine,
            &inner.linkers,
            &manifest.id,
            &hash,
            component,
        )?;
        contract::check_manifest(&manifest.contract, &compiled.contract).map_err(|source| {
            RuntimeError::Contract {
                plugin: manifest.id.clone(),
                source,
            }
        })?;
        Ok(Arc::new(LoadedPlugin {
            manifest: manifest.clone(),
            hash,
            contract: compiled.contract.clone(),
            source,
            compiled,
        }))
    }

    /// How often `load` compiled, hit the disk cache or the memory cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Drop the in-memory compiled form of the component with SHA-256
    /// `hash` (after an uninstall or upgrade); returns whether it was there.
    pub fn evict(&self, hash: &str) -> bool {
        self.inner.cache.evict(hash)
    }

    /// Run `validate` over `records` (JSON documents). The result has one
    /// decision per record, patch values parsed. A 0.2.0 component is told
    /// the manifest's first validate function for `ctx.entity`.
    pub fn validate(
        &self,
        plugin: &LoadedPlugin,
        ctx: &CallContext,
        records: &[String],
    ) -> Invocation<Vec<Decision>> {
        let function = default_function(&plugin.manifest, FunctionKind::Validate, &ctx.entity);
        self.validate_function(plugin, function, ctx, records)
    }

    /// [`PluginRuntime::validate`] as manifest function `function` (what a
    /// 0.2.0 component sees as `call-context.function`).
    pub fn validate_function(
        &self,
        plugin: &LoadedPlugin,
        function: &str,
        ctx: &CallContext,
        records: &[String],
    ) -> Invocation<Vec<Decision>> {
        let limit = self.inner.cfg.output_limit;
        self.run(plugin, function, ctx, records, Pre::validate, |raw| {
            check_decisions(raw, records.len(), limit)
        })
    }

    /// Run `score` over `records` (JSON documents). The result has one list
    /// of scores per record, values clamped to 100. A 0.2.0 component is
    /// told the manifest's first score function for `ctx.entity`.
    pub fn score(
        &self,
        plugin: &LoadedPlugin,
        ctx: &CallContext,
        records: &[String],
    ) -> Invocation<Vec<Vec<ScoreValue>>> {
        let function = default_function(&plugin.manifest, FunctionKind::Score, &ctx.entity);
        self.score_function(plugin, function, ctx, records)
    }

    /// [`PluginRuntime::score`] as manifest function `function`.
    pub fn score_function(
        &self,
        plugin: &LoadedPlugin,
        function: &str,
        ctx: &CallContext,
        records: &[String],
    ) -> Invocation<Vec<Vec<ScoreValue>>> {
        let limit = self.inner.cfg.output_limit;
        self.run(plugin, function, ctx, records, Pre::score, |raw| {
            check_scores(raw, records.len(), limit)
        })
    }

    fn run<R, T>(
        &self,
        plugin: &LoadedPlugin,
        function: &str,
        ctx: &CallContext,
        records: &[String],
        call: impl FnOnce(
            &Pre,
            &mut Store<StoreState>,
            &CallInput<'_>,
        ) -> wasmtime::Result<GuestOutcome<R>>,
        check: impl FnOnce(R) -> Result<T, Failure>,
    ) -> Invocation<T>
    where
        T: Default,
    {
        let started = Instant::now();
        let cfg = &self.inner.cfg;
        if records.is_empty() {
            // Nothing to decide: no instance needed.
            return Invocation {
                result: Ok(T::default()),
                stats: RunStats::default(),
            };
        }

        let per_record = ctx.fuel_per_record.unwrap_or(cfg.fuel_per_record);
        let budget = per_record.saturating_mul(records.len() as u64);
        let limits = Limits {
            deadline: cfg.deadline,
            deadline_hint: "",
            fuel: budget,
            fuel_hint: format!(
                " ({per_record} per record); raise fuel-per-record in plugin.toml if the work is legitimate"
            ),
        };
        let config = ctx.config.to_string();
        let input = CallInput {
            tenant: &ctx.tenant,
            entity: &ctx.entity,
            config: &config,
            function,
            records,
        };
        let access = HostAccess::Function {
            config: config.clone(),
        };
        let ran = self.call_guest(plugin, &limits, access, |pre, store| {
            call(pre, store, &input)
        });
        let result = ran
            .result
            .and_then(check)
            .map_err(|f| f.into_plugin_failure(&plugin.manifest.id));
        Invocation {
            result,
            stats: RunStats {
                duration: started.elapsed(),
                fuel_used: ran.fuel_used,
                log: ran.log,
                records: records.len(),
            },
        }
    }

    /// One call on a fresh instance: a store under `limits` whose host
    /// imports reach `access`, then `call`; a guest error or a trap becomes a
    /// [`Failure`].
    pub(super) fn call_guest<R>(
        &self,
        plugin: &LoadedPlugin,
        limits: &Limits,
        access: HostAccess,
        call: impl FnOnce(&Pre, &mut Store<StoreState>) -> wasmtime::Result<GuestOutcome<R>>,
    ) -> Ran<R> {
        let cfg = &self.inner.cfg;
        let mut store = Store::new(
            &self.inner.engine,
            StoreState::new(cfg.memory_limit, cfg.log_limit, access),
        );
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(engine::deadline_ticks(limits.deadline));

        let outcome = match store.set_fuel(limits.fuel) {
            Ok(()) => call(&plugin.compiled.pre, &mut store),
            Err(e) => Err(e),
        };
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));

        let result = match outcome {
            Ok(Ok(raw)) => Ok(raw),
            Ok(Err(guest)) => Err(Failure::new(
                codes::PLUGIN_ERROR,
                format!(
                    "{}: {}",
                    clip(&guest.code, 128),
                    clip(&guest.message, MAX_FAILURE_TEXT)
                ),
            )),
            Err(error) => Err(classify(&error, store.data(), cfg, limits)),
        };
        Ran {
            result,
            fuel_used,
            log: store.into_data().into_log(),
        }
    }
}

/// The name a 0.2.0 component is told when the caller names no function:
/// the first manifest function of `kind` for `entity`, else of `kind`.
fn default_function<'m>(manifest: &'m Manifest, kind: FunctionKind, entity: &str) -> &'m str {
    let of_kind = || manifest.functions.iter().filter(|f| f.kind == kind);
    of_kind()
        .find(|f| f.entities.iter().any(|e| e == entity))
        .or_else(|| of_kind().next())
        .map_or("", |f| f.name.as_str())
}

/// The limits of one call.
pub(super) struct Limits {
    pub(super) deadline: Duration,
    /// Appended to the `TIMEOUT` message (where the deadline comes from).
    pub(super) deadline_hint: &'static str,
    pub(super) fuel: u64,
    /// Appended to the `FUEL_EXHAUSTED` message (what to change).
    pub(super) fuel_hint: String,
}

/// What [`PluginRuntime::call_guest`] produced.
pub(super) struct Ran<R> {
    pub(super) result: Result<R, Failure>,
    pub(super) fuel_used: u64,
    pub(super) log: Vec<String>,
}

/// A failure before it is attributed to a plugin.
#[derive(Debug)]
pub(crate) struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub(super) fn into_plugin_failure(self, plugin: &str) -> PluginFailure {
        PluginFailure {
            plugin: plugin.to_owned(),
            code: self.code.to_owned(),
            message: self.message,
        }
    }
}

pub(super) fn clip(text: &str, max: usize) -> &str {
    &text[..floor_char_boundary(text, max)]
}

/// Attach the end of the guest's stderr (where a Rust panic prints) to
/// `message`, on one line, without Rust's backtrace hint.
fn with_stderr(message: String, state: &StoreState) -> String {
    let tail = state.stderr_tail(MAX_FAILURE_TEXT);
    let tail = tail
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect::<Vec<_>>()
        .join(" ");
    if tail.is_empty() {
        message
    } else {
        format!("{message}; stderr: {tail}")
    }
}

fn classify(
    error: &wasmtime::Error,
    state: &StoreState,
    cfg: &RuntimeConfig,
    limits: &Limits,
) -> Failure {
    let memory = || {
        state.limiter.refused_memory.map(|wanted| {
            Failure::new(
                codes::MEMORY_LIMIT,
                with_stderr(
                    format!(
                        "tried to grow its memory to {wanted} bytes, over the limit of {} bytes",
                        cfg.memory_limit
                    ),
                    state,
                ),
            )
        })
    };
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => Failure::new(
                codes::TIMEOUT,
                format!(
                    "did not finish within its deadline of {} ms{}",
                    limits.deadline.as_millis(),
                    limits.deadline_hint
                ),
            ),
            Trap::OutOfFuel => Failure::new(
                codes::FUEL_EXHAUSTED,
                format!(
                    "used up its fuel budget of {}{}",
                    limits.fuel, limits.fuel_hint
                ),
            ),
            Trap::StackOverflow => Failure::new(
                codes::STACK_OVERFLOW,
                "exhausted its call stack (runaway recursion?)",
            ),
            other => memory().unwrap_or_else(|| {
                Failure::new(
                    codes::TRAP,
                    // `Trap`'s own text starts with "wasm trap: ".
                    with_stderr(other.to_string(), state),
                )
            }),
        };
    }
    if let Some(failure) = memory() {
        return failure;
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Failure::new(
            codes::TRAP,
            with_stderr(format!("exited with status {}", exit.0), state),
        );
    }
    if let Some(busy) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return Failure::new(codes::BUSY, format!("no free plugin instance slot: {busy}"));
    }
    Failure::new(
        codes::TRAP,
        with_stderr(
            clip(&format!("{error:#}"), MAX_FAILURE_TEXT).to_owned(),
            state,
        ),
    )
}

pub(super) fn too_large(bytes: usize, limit: usize) -> Failure {
    Failure::new(
        codes::OUTPUT_TOO_LARGE,
        format!("returned {bytes} bytes of output, over the limit of {limit} bytes"),
    )
}

fn check_count(got: usize, expected: usize) -> Result<(), Failure> {
    if got == expected {
        Ok(())
    } else {
        Err(Failure::new(
            codes::BAD_OUTPUT,
            format!("returned {got} results for {expected} records"),
        ))
    }
}

fn check_decisions(
    raw: Vec<RawDecision>,
    expected: usize,
    limit: usize,
) -> Result<Vec<Decision>, Failure> {
    let bytes: usize = raw
        .iter()
        .map(|d| match d {
            RawDecision::Accept => 0,
            RawDecision::Patch(patches) => patches.iter().map(|(p, v)| p.len() + v.len()).sum(),
            RawDecision::Reject(errors) => errors
                .iter()
                .map(|e| e.path.len() + e.code.len() + e.message.len())
                .sum(),
        })
        .sum();
    if bytes > limit {
        return Err(too_large(bytes, limit));
    }
    check_count(raw.len(), expected)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, decision)| match decision {
            RawDecision::Accept => Ok(Decision::Accept),
            RawDecision::Reject(errors) => Ok(Decision::Reject(errors)),
            RawDecision::Patch(patches) => patches
                .into_iter()
                .map(|(path, value)| match serde_json::from_str(&value) {
                    Ok(json) => Ok((path, json)),
                    Err(e) => Err(Failure::new(
                        codes::BAD_OUTPUT,
                        format!(
                            "record {i}: the patch of `{}` is not valid JSON ({e})",
                            clip(&path, 256)
                        ),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Decision::Patch),
        })
        .collect()
}

fn check_scores(
    raw: Vec<Vec<ScoreValue>>,
    expected: usize,
    limit: usize,
) -> Result<Vec<Vec<ScoreValue>>, Failure> {
    let bytes: usize = raw
        .iter()
        .flatten()
        .map(|s| {
            s.name.len()
                + s.grade.as_ref().map_or(0, String::len)
                + s.reasons.iter().map(String::len).sum::<usize>()
        })
        .sum();
    if bytes > limit {
        return Err(too_large(bytes, limit));
    }
    check_count(raw.len(), expected)?;
    Ok(raw
        .into_iter()
        .map(|scores| {
            scores
                .into_iter()
                .map(|s| ScoreValue {
                    value: s.value.min(100),
                    ..s
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crm_core::plugin_api::PluginFieldError;

    use super::*;

    fn score(value: u8, reason: &str) -> ScoreValue {
        ScoreValue {
            name: "lead".into(),
            value,
            grade: None,
            reasons: vec![reason.into()],
        }
    }

    #[test]
    fn runtime_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<PluginRuntime>();
        assert_send_sync::<LoadedPlugin>();
    }

    #[test]
    fn scores_are_clamped_and_counted() {
        let out = check_scores(vec![vec![score(250, "r")]], 1, 100)
            .ok()
            .unwrap_or_default();
        assert_eq!(out[0][0].value, 100);
        let err = check_scores(vec![vec![score(1, "r")]], 2, 100)
            .err()
            .map(|f| f.code);
        assert_eq!(err, Some(codes::BAD_OUTPUT));
        let err = check_scores(vec![vec![score(1, &"x".repeat(200))]], 1, 100)
            .err()
            .map(|f| f.code);
        assert_eq!(err, Some(codes::OUTPUT_TOO_LARGE));
    }

    #[test]
    fn patches_must_be_json() {
        let ok = check_decisions(
            vec![
                RawDecision::Patch(vec![("email".into(), r#""a@b.c""#.into())]),
                RawDecision::Reject(vec![PluginFieldError {
                    path: "phone".into(),
                    code: "INVALID_PHONE".into(),
                    message: "no".into(),
                }]),
                RawDecision::Accept,
            ],
            3,
            1000,
        );
        assert!(matches!(
            ok.as_deref(),
            Ok([Decision::Patch(_), Decision::Reject(_), Decision::Accept])
        ));
        let bad = check_decisions(
            vec![RawDecision::Patch(vec![(
                "email".into(),
                "not json".into(),
            )])],
            1,
            1000,
        );
        let bad = bad.err().map(|f| (f.code, f.message));
        assert!(
            matches!(&bad, Some((code, msg)) if *code == codes::BAD_OUTPUT && msg.contains("`email`")),
            "{:?}",
            bad.map(|b| b.1)
        );
    }
}
