//! Compiled components: compiled once per process, cached on disk across
//! processes, keyed by the SHA-256 of the component's bytes.
//!
//! A cache file is named `<component sha256>-<engine hash>.cwasm`; the
//! engine hash covers Wasmtime's version, the target and every setting that
//! changes generated code, so an upgraded host never loads a stale artifact
//! (and if one is unreadable anyway, it is recompiled and replaced).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use semver::Version;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{Linkers, Pre};
use super::contract;
use super::error::RuntimeError;

/// A component ready to instantiate: its contract and its pre-instance.
pub(crate) struct Compiled {
    pub(crate) contract: Version,
    pub(crate) pre: Pre,
}

/// Where [`PluginRuntime::load`](super::PluginRuntime::load) found the
/// compiled component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled from the component's bytes (the slow path: ~100 ms).
    Compiled,
    /// Read from the on-disk cache (under a millisecond).
    DiskCache,
    /// Already loaded by this process.
    MemoryCache,
}

/// How often each path was taken since the runtime started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub compiled: u64,
    pub disk_hits: u64,
    pub memory_hits: u64,
}

#[derive(Default)]
struct Counters {
    compiled: AtomicU64,
    disk_hits: AtomicU64,
    memory_hits: AtomicU64,
}

pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    engine_hash: String,
    loaded: Mutex<HashMap<String, Arc<Compiled>>>,
    counters: Counters,
}

/// Feeds `Hash` output into SHA-256, for a hash that is stable across
/// processes (unlike `DefaultHasher`, whose algorithm may change).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        // Unused: the full digest is read instead.
        0
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hex(&hasher.0.finalize()[..8]);
        ComponentCache {
            dir,
            engine_hash,
            loaded: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.counters.compiled.load(Ordering::Relaxed),
            disk_hits: self.counters.disk_hits.load(Ordering::Relaxed),
            memory_hits: self.counters.memory_hits.load(Ordering::Relaxed),
        }
    }

    /// Forget the in-memory entry for `hash` (after an uninstall or upgrade).
    /// Plugins already loaded keep working; the disk cache is kept.
    pub(crate) fn evict(&self, hash: &str) -> bool {
        self.lock().remove(hash).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Compiled>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The compiled form of `bytes` (whose SHA-256 is `hash`), from memory,
    /// disk or the compiler, in that order. Compilation happens outside the
    /// lock: two threads loading the same new plugin may both compile it.
    pub(crate) fn get(
        &self,
        engine: &Engine,
        linkers: &Linkers,
        plugin: &str,
        hash: &str,
        bytes: &[u8],
    ) -> Result<(Arc<Compiled>, LoadSource), RuntimeError> {
        if let Some(found) = self.lock().get(hash) {
            self.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((found.clone(), LoadSource::MemoryCache));
        }

        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(format!("{hash}-{}.cwasm", self.engine_hash)));
        let from_disk = path.as_deref().and_then(|p| load_cached(engine, p));
        let (component, source) = match from_disk {
            Some(component) => (component, LoadSource::DiskCache),
            None => {
                let component =
                    Component::new(engine, bytes).map_err(|e| RuntimeError::Compile {
                        plugin: plugin.to_owned(),
                        message: format!("{e:#}"),
                    })?;
                (component, LoadSource::Compiled)
            }
        };

        let contract =
            contract::detect(engine, &component).map_err(|source| RuntimeError::Contract {
                plugin: plugin.to_owned(),
                source,
            })?;
        let pre = linkers
            .pre(&contract, &component)
            .map_err(|e| RuntimeError::Link {
                plugin: plugin.to_owned(),
                contract: contract.clone(),
                message: format!("{e:#}"),
            })?;

        match source {
            LoadSource::DiskCache => self.counters.disk_hits.fetch_add(1, Ordering::Relaxed),
            _ => self.counters.compiled.fetch_add(1, Ordering::Relaxed),
        };
        if let (LoadSource::Compiled, Some(path)) = (source, path.as_deref()) {
            store_cached(&component, path);
        }
        let compiled = Arc::new(Compiled { contract, pre });
        self.lock().insert(hash.to_owned(), compiled.clone());
        Ok((compiled, source))
    }
}

fn load_cached(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: `deserialize_file` maps the file as native code, so it must
    // hold an artifact Wasmtime produced for a compatible engine, and must
    // not change while mapped. Both hold: only `store_cached` writes this
    // directory (operators keep it private to the CRM, see
    // `RuntimeConfig::cache_dir`), it writes the bytes of
    // `Component::serialize` from this very engine configuration (the engine
    // hash is in the file name, and Wasmtime checks its own header and
    // version again), and it replaces files by atomic rename, never in place.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"),
                "unreadable compiled plugin in cache; recompiling");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Best effort: a cache that cannot be written costs time, not correctness.
fn store_cached(component: &Component, path: &Path) {
    let result = (|| -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
        let dir = path.parent().ok_or("cache path has no directory")?;
        create_private_dir(dir).map_err(|e| e.to_string())?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("{}-{unique}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })
    })();
    if let Err(error) = result {
        tracing::warn!(path = %path.display(), %error, "could not cache a compiled plugin");
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
