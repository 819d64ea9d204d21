//! Build guest components from source, once per test process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The target directory shared by the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `cargo` (the one running the tests, when known) in `dir`, building into
/// the workspace's target directory.
pub fn cargo_in(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).env("CARGO_TARGET_DIR", target_dir());
    cmd
}

static BUILD: Mutex<()> = Mutex::new(());

/// Build workspace package `package` for `wasm32-wasip2` (release) and return
/// the path of its component. Cargo's own lock serialises concurrent builds
/// across processes; the mutex avoids pointless waits inside one process.
pub fn build_component(package: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let status = cargo_in(&workspace_root())
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .status()
        .expect("cargo must be runnable from tests");
    assert!(
        status.success(),
        "building {package} for wasm32-wasip2 failed"
    );
    target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// Base64 of a workspace package's component, built once per test process.
pub async fn component_b64(package: &'static str) -> std::sync::Arc<String> {
    use base64::Engine;
    use std::collections::HashMap;
    use std::sync::Arc;
    static CACHE: Mutex<Option<HashMap<&'static str, Arc<String>>>> = Mutex::new(None);
    if let Some(c) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(package)
    {
        return c.clone();
    }
    let b64 = tokio::task::spawn_blocking(move || {
        let path = build_component(package);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
    .await
    .expect("build task");
    let b64 = Arc::new(b64);
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(package, b64.clone());
    b64
}

/// The `plugin.toml` text of a plugin directory (relative to the workspace).
pub fn manifest_text(dir: &str) -> String {
    let path = workspace_root().join(dir).join("plugin.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
