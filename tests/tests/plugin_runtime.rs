//! The plugin runtime against real components built from source: the
//! `echo-score` fixture, the evil fixtures (each must fail with its own code,
//! quickly, and leave the runtime serving the next call), contract and
//! manifest refusals, the compiled-component cache, and the shipped plugins.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crm_core::plugin_api::{Decision, PluginFailure};
use crm_host::plugin::{
    CallContext, ContractError, Invocation, LoadSource, LoadedPlugin, Manifest, PluginRuntime,
    RuntimeConfig, RuntimeError, Version, bench_instance_call, codes,
};
use crm_tests::wasm::{build_component, workspace_root};

const TENANT: &str = "0190b6e4-7c1a-7000-8000-000000000001";

/// A plugin's manifest and component bytes; `dir` is relative to the workspace.
struct Source {
    manifest: Manifest,
    component: Vec<u8>,
}

fn manifest_text(dir: &str) -> String {
    let path = workspace_root().join(dir).join("plugin.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn source(package: &str, dir: &str) -> Source {
    let manifest = Manifest::parse(&manifest_text(dir))
        .unwrap_or_else(|e| panic!("{dir}/plugin.toml should parse:\n{e}"));
    let wasm = build_component(package);
    let component =
        std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
    Source {
        manifest,
        component,
    }
}

fn fixture(package: &str) -> Source {
    source(package, &format!("tests/fixtures/plugins/{package}"))
}

/// One runtime with default limits, shared by the tests of this file.
fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime starts"))
}

fn load(runtime: &PluginRuntime, src: &Source) -> Arc<LoadedPlugin> {
    runtime
        .load(&src.manifest, &src.component)
        .unwrap_or_else(|e| panic!("{} should load: {e}", src.manifest.id))
}

fn echo(runtime: &PluginRuntime) -> Arc<LoadedPlugin> {
    static ECHO: OnceLock<Source> = OnceLock::new();
    load(runtime, ECHO.get_or_init(|| fixture("echo-score")))
}

fn ctx(plugin: &LoadedPlugin) -> CallContext {
    CallContext {
        tenant: TENANT.to_owned(),
        entity: "contact".to_owned(),
        config: plugin
            .manifest
            .effective_config(&serde_json::Value::Null)
            .expect("defaults are valid"),
        fuel_per_record: None,
    }
}

fn records(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| serde_json::json!({"id": format!("c{i}"), "email": "a@example.com"}).to_string())
        .collect()
}

/// The echo fixture answers correctly on `runtime`: the runtime survived.
fn assert_echo_serves(runtime: &PluginRuntime) {
    let plugin = echo(runtime);
    let call = runtime.score(&plugin, &ctx(&plugin), &records(1));
    let scores = call.result.expect("echo scores after a failed call");
    assert_eq!(scores[0][0].value, 42);
}

/// Run `function` ("validate" or "score") and return the failure it must give.
fn failure_of(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    ctx: &CallContext,
) -> (PluginFailure, Duration) {
    let input = records(1);
    let kinds: Vec<_> = plugin.manifest.functions.iter().map(|f| f.kind).collect();
    let started = Instant::now();
    let (result, stats) = if kinds.contains(&crm_host::plugin::FunctionKind::Score) {
        let Invocation { result, stats } = runtime.score(plugin, ctx, &input);
        (result.map(|_| ()), stats)
    } else {
        let Invocation { result, stats } = runtime.validate(plugin, ctx, &input);
        (result.map(|_| ()), stats)
    };
    let elapsed = started.elapsed();
    let failure = result.expect_err("the evil plugin must fail");
    eprintln!("{failure} (after {elapsed:?}, log: {:?})", stats.log);
    assert_eq!(failure.plugin, plugin.manifest.id);
    assert!(stats.log.iter().map(String::len).sum::<usize>() <= runtime.config().log_limit + 200);
    (failure, elapsed)
}

fn evil(package: &str) -> (Arc<LoadedPlugin>, CallContext) {
    let plugin = load(runtime(), &fixture(package));
    let ctx = ctx(&plugin);
    (plugin, ctx)
}

#[test]
fn echo_validates_and_scores_on_fresh_instances() {
    let rt = runtime();
    let plugin = echo(rt);
    assert_eq!(plugin.contract, Version::new(0, 1, 0));
    assert_eq!(plugin.hash.len(), 64);
    let ctx = ctx(&plugin);

    let call = rt.validate(&plugin, &ctx, &records(3));
    assert_eq!(
        call.result.expect("echo validates"),
        vec![Decision::Accept, Decision::Accept, Decision::Accept]
    );
    assert_eq!(call.stats.records, 3);
    assert!(call.stats.fuel_used > 0, "fuel is metered");

    for _ in 0..2 {
        // A second call gets a fresh instance and the same answer.
        let call = rt.score(&plugin, &ctx, &records(2));
        let scores = call.result.expect("echo scores");
        assert_eq!(scores.len(), 2);
        for per_record in &scores {
            assert_eq!(per_record.len(), 1);
            assert_eq!(per_record[0].value, 42);
            assert_eq!(per_record[0].reasons, vec!["echo".to_owned()]);
        }
        assert!(call.stats.fuel_used > 0);
        assert!(call.stats.duration > Duration::ZERO);
    }

    let empty = rt.score(&plugin, &ctx, &[]);
    assert_eq!(empty.result.expect("empty batch"), Vec::<Vec<_>>::new());
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let (plugin, ctx) = evil("evil-loop");
    let (failure, elapsed) = failure_of(runtime(), &plugin, &ctx);
    assert_eq!(failure.code, codes::FUEL_EXHAUSTED, "{failure}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_echo_serves(runtime());
}

#[test]
fn infinite_loop_times_out_at_the_deadline() {
    let deadline = Duration::from_millis(200);
    let rt = PluginRuntime::new(RuntimeConfig {
        deadline,
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let plugin = load(&rt, &fixture("evil-loop"));
    let ctx = CallContext {
        // Fuel would stop it first; take fuel out of the picture.
        fuel_per_record: Some(u64::MAX / 2),
        ..self::ctx(&plugin)
    };
    let (failure, elapsed) = failure_of(&rt, &plugin, &ctx);
    assert_eq!(failure.code, codes::TIMEOUT, "{failure}");
    assert!(elapsed >= deadline, "stopped early: {elapsed:?}");
    assert!(
        elapsed < deadline + Duration::from_secs(1),
        "stopped late: {elapsed:?}"
    );
    assert_echo_serves(&rt);
}

#[test]
fn exhausted_instance_pool_is_busy_not_a_crash() {
    let rt = PluginRuntime::new(RuntimeConfig {
        max_instances: 1,
        deadline: Duration::from_millis(300),
        ..RuntimeConfig::default()
    })
    .expect("runtime starts");
    let evil = load(&rt, &fixture("evil-loop"));
    let echo = echo(&rt);
    let hog = {
        let (rt, evil) = (rt.clone(), evil.clone());
        std::thread::spawn(move || {
            let ctx = CallContext {
                fuel_per_record: Some(u64::MAX / 2),
                ..ctx(&evil)
            };
            rt.score(&evil, &ctx, &records(1)).result.err()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let failure = rt
        .score(&echo, &ctx(&echo), &records(1))
        .result
        .expect_err("the only slot is taken");
    assert_eq!(failure.code, codes::BUSY, "{failure}");
    let hogged = hog.join().expect("no panic").map(|f| f.code);
    assert_eq!(hogged.as_deref(), Some(codes::TIMEOUT));
    assert_echo_serves(&rt);
}

#[test]
fn memory_hog_hits_the_memory_limit() {
    let (plugin, ctx) = evil("evil-memory");
    let (failure, elapsed) = failure_of(runtime(), &plugin, &ctx);
    assert_eq!(failure.code, codes::MEMORY_LIMIT, "{failure}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_echo_serves(runtime());
}

#[test]
fn runaway_recursion_overflows_the_stack() {
    let (plugin, ctx) = evil("evil-recursion");
    let (failure, elapsed) = failure_of(runtime(), &plugin, &ctx);
    assert_eq!(failure.code, codes::STACK_OVERFLOW, "{failure}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_echo_serves(runtime());
}

#[test]
fn panic_is_a_trap_with_the_panic_message() {
    let (plugin, ctx) = evil("evil-panic");
    let (failure, elapsed) = failure_of(runtime(), &plugin, &ctx);
    assert_eq!(failure.code, codes::TRAP, "{failure}");
    assert!(failure.message.contains("panicked"), "{failure}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_echo_serves(runtime());
}

#[test]
fn huge_output_is_refused() {
    let (plugin, ctx) = evil("evil-output");
    let (failure, elapsed) = failure_of(runtime(), &plugin, &ctx);
    assert_eq!(failure.code, codes::OUTPUT_TOO_LARGE, "{failure}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_echo_serves(runtime());
}

#[test]
fn wrong_contract_version_is_refused() {
    let src = fixture("evil-contract");
    let err = runtime()
        .load(&src.manifest, &src.component)
        .expect_err("a 9.0.0 component must be refused");
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            RuntimeError::Contract {
                source: ContractError::Unsupported { .. },
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("crm:plugin@9.0.0"), "{text}");
    assert!(text.contains("crm:plugin@0.1.0"), "{text}");
    assert!(text.contains("crm-plugin-sdk 0.1"), "{text}");
    assert_echo_serves(runtime());
}

#[test]
fn manifest_that_disagrees_with_its_component_is_refused() {
    let src = fixture("echo-score");
    let mut manifest = src.manifest.clone();
    manifest.contract = Version::new(0, 2, 0);
    let err = runtime()
        .load(&manifest, &src.component)
        .expect_err("declared contract must match the component");
    assert!(
        matches!(
            &err,
            RuntimeError::Contract {
                source: ContractError::ManifestMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_manifest_lists_every_error_with_its_path() {
    let text = manifest_text("tests/fixtures/plugins/evil-manifest");
    let err = Manifest::parse(&text).expect_err("evil-manifest's plugin.toml must be refused");
    let rendered = err.to_string();
    for (issue, line) in err.errors.iter().zip(rendered.lines()) {
        assert!(
            !issue.path.is_empty(),
            "every issue has a path:\n{rendered}"
        );
        assert_eq!(
            line,
            format!("plugin.toml: {}: {}", issue.path, issue.message)
        );
    }
    // All mistakes at once, each at its path.
    for path in [
        "id",
        "functions[0].entities[1]",
        "functions[1].kind",
        "functions[2].on-failure",
        "functions[3].name",
    ] {
        assert!(
            err.errors.iter().any(|issue| issue.path == path),
            "no error at {path}:\n{rendered}"
        );
    }
    assert!(
        rendered.contains(r#"unknown entity "spaceship""#),
        "{rendered}"
    );
    assert!(
        rendered.contains(r#"unknown kind "transform""#),
        "{rendered}"
    );
    assert!(
        rendered.contains(r#"duplicate function name "dup""#),
        "{rendered}"
    );
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let dir = scratch_dir("cache");
    let cfg = RuntimeConfig {
        cache_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    };
    let src = fixture("echo-score");

    let first = PluginRuntime::new(cfg.clone()).expect("runtime starts");
    let a = load(&first, &src);
    assert_eq!(a.source, LoadSource::Compiled);
    assert!(!a.from_cache());
    let again = load(&first, &src);
    assert_eq!(again.source, LoadSource::MemoryCache);
    let cached: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "one artifact per component");

    // A new process (here: a new runtime) finds it on disk.
    let second = PluginRuntime::new(cfg).expect("runtime starts");
    let started = Instant::now();
    let b = load(&second, &src);
    let load_time = started.elapsed();
    assert_eq!(b.source, LoadSource::DiskCache);
    assert!(b.from_cache());
    assert_eq!(b.hash, a.hash);
    let stats = second.cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits), (0, 1));
    let call = second.score(&b, &ctx(&b), &records(1));
    assert_eq!(call.result.expect("cached component runs")[0][0].value, 42);
    eprintln!("load from disk cache: {load_time:?}");

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shipped_plugins_load_and_run() {
    let rt = runtime();
    for (package, dir) in [
        ("lead-scoring", "plugins/lead-scoring"),
        ("data-quality", "plugins/data-quality"),
    ] {
        let plugin = load(rt, &source(package, dir));
        let ctx = ctx(&plugin);
        let record = serde_json::json!({"id": "c1"}).to_string();
        for function in &plugin.manifest.functions {
            let ctx = CallContext {
                entity: function.entities[0].clone(),
                fuel_per_record: function.fuel_per_record,
                ..ctx.clone()
            };
            // Whatever the plugin thinks of a bare record, it must answer
            // within its limits: a decision or its own error, never a trap.
            let failure = match function.kind {
                crm_host::plugin::FunctionKind::Validate => rt
                    .validate(&plugin, &ctx, std::slice::from_ref(&record))
                    .result
                    .err(),
                crm_host::plugin::FunctionKind::Score => rt
                    .score(&plugin, &ctx, std::slice::from_ref(&record))
                    .result
                    .err(),
            };
            if let Some(failure) = failure {
                assert_eq!(
                    failure.code,
                    codes::PLUGIN_ERROR,
                    "{package}/{}: {failure}",
                    function.name
                );
            }
        }
    }
}

#[test]
fn fresh_instance_call_is_cheap() {
    let rt = runtime();
    let plugin = echo(rt);
    let mut times = bench_instance_call(rt, &plugin, 200).expect("echo never fails");
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    eprintln!("fresh instance + 1-record score call: median {median:?}, p99 {p99:?}");
    assert!(median < Duration::from_millis(20), "median {median:?}");
}

fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("crm-plugin-{name}-{}-{nanos}", std::process::id()))
}

/// Nothing of a call survives into the next one, whatever the pooling
/// allocator does to reset a slot (memset, `madvise`, `PAGEMAP_SCAN`): the
/// second record of a call sees the first's traces (the probe works), the
/// first record of every call sees none.
#[test]
fn no_state_survives_between_calls() {
    static PROBE: OnceLock<Source> = OnceLock::new();
    let rt = runtime();
    let plugin = load(rt, PROBE.get_or_init(|| fixture("state-probe")));
    let ctx = ctx(&plugin);
    for call in 0..40 {
        let scores = rt
            .score(&plugin, &ctx, &records(2))
            .result
            .unwrap_or_else(|f| panic!("call {call}: {f}"));
        let (first, second) = (&scores[0][0], &scores[1][0]);
        assert_eq!(
            (first.value, first.reasons.as_slice()),
            (0, ["dirty bytes: 0".to_owned()].as_slice()),
            "call {call} started on memory an earlier call had written"
        );
        assert_eq!(
            (second.value, second.reasons.as_slice()),
            (1, [format!("dirty bytes: {}", 256 * 1024)].as_slice()),
            "call {call}: the probe must see its own first record"
        );
    }
}
