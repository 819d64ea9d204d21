//! Reading a plugin from disk: a directory holding `plugin.toml`, a
//! `plugin.toml`, or a `.wasm` with `plugin.toml` beside it.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// The manifest text and component bytes of a plugin on disk.
pub fn read_plugin(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    // A directory holding plugin.toml, a plugin.toml, or a .wasm with plugin.toml beside it.
    let wasm_given = path.extension().is_some_and(|e| e == "wasm");
    let toml_path = if path.is_dir() {
        path.join("plugin.toml")
    } else if wasm_given {
        path.with_file_name("plugin.toml")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&toml_path)
        .with_context(|| format!("cannot read {}", toml_path.display()))?;
    let base = toml_path.parent().unwrap_or(Path::new("."));
    let wasm = if wasm_given {
        path.to_path_buf()
    } else {
        let component_rel = text
            .lines()
            .find_map(|l| {
                let rest = l
                    .trim()
                    .strip_prefix("component")?
                    .trim_start()
                    .strip_prefix('=')?
                    .trim();
                Some(rest.trim_matches('"').to_string())
            })
            .with_context(|| {
                format!(
                    "{}: no `component = \"...\"` path; build the plugin and name its .wasm there",
                    toml_path.display()
                )
            })?;
        let in_repo = base.join(&component_rel);
        // Paths into the workspace's target/ follow CARGO_TARGET_DIR when it is set.
        match (
            std::env::var_os("CARGO_TARGET_DIR"),
            component_rel.split_once("target/"),
        ) {
            (Some(dir), Some((_, rest))) if !in_repo.exists() => PathBuf::from(dir).join(rest),
            _ => in_repo,
        }
    };
    let bytes = std::fs::read(&wasm).with_context(|| {
        format!("cannot read the component {}; build it first: `cargo build --target wasm32-wasip2 --release` in {}", wasm.display(), base.display())
    })?;
    Ok((text, bytes))
}
