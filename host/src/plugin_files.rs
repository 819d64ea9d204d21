//! Reading a plugin from disk: a directory holding `plugin.toml`, a
//! `plugin.toml`, or a `.wasm` with `plugin.toml` beside it.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// A plugin read from disk.
#[derive(Debug)]
pub struct PluginFiles {
    /// The text of `plugin.toml`.
    pub manifest: String,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The file the component was read from.
    pub component_path: PathBuf,
}

/// The manifest text and component bytes of a plugin on disk.
pub fn read_plugin(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let files = read_plugin_files(path)?;
    Ok((files.manifest, files.component))
}

/// A plugin on disk, and which component file it is: see [`read_plugin`].
pub fn read_plugin_files(path: &Path) -> anyhow::Result<PluginFiles> {
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
        component_path(
            base,
            &component_rel,
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        )
    };
    let bytes = std::fs::read(&wasm).with_context(|| {
        format!("cannot read the component {}; build it first: `cargo build --target wasm32-wasip2 --release` in {}", wasm.display(), base.display())
    })?;
    Ok(PluginFiles {
        manifest: text,
        component: bytes,
        component_path: wasm,
    })
}

/// Where the manifest's `component` path (`rel`, relative to the manifest's
/// directory `base`) points. A path into a `target/` directory also has a
/// counterpart under `CARGO_TARGET_DIR` when that is set, since cargo builds
/// there: the counterpart is used when the path itself does not exist, and
/// when both exist the one written last (the latest build) wins, so a build
/// made with the setting on is never shadowed by an older one made without.
fn component_path(base: &Path, rel: &str, cargo_target_dir: Option<PathBuf>) -> PathBuf {
    let in_repo = base.join(rel);
    let Some(alt) = cargo_target_dir
        .zip(rel.split_once("target/"))
        .map(|(dir, (_, rest))| dir.join(rest))
    else {
        return in_repo;
    };
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(&in_repo), modified(&alt)) {
        (Some(a), Some(b)) if b > a => alt,
        (None, Some(_)) => alt,
        _ => in_repo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn file_at(path: &Path, age: Duration) {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        let f = std::fs::File::create(path).expect("create");
        f.set_modified(SystemTime::now() - age).expect("set mtime");
    }

    #[test]
    fn the_latest_build_wins_between_the_crate_and_cargo_target_dir() {
        let root = std::env::temp_dir().join(format!("crm-plugin-files-{}", uuid::Uuid::now_v7()));
        let base = root.join("acme-score");
        let shared = root.join("shared-target");
        let rel = "target/wasm32-wasip2/release/acme_score.wasm";
        let own = base.join(rel);
        let alt = shared.join("wasm32-wasip2/release/acme_score.wasm");

        // Neither built: the manifest's own path (for the error message).
        assert_eq!(component_path(&base, rel, Some(shared.clone())), own);
        // Built only under CARGO_TARGET_DIR.
        file_at(&alt, Duration::from_secs(60));
        assert_eq!(component_path(&base, rel, Some(shared.clone())), alt);
        // Both: an older build in the crate does not shadow the newer one...
        file_at(&own, Duration::from_secs(3600));
        assert_eq!(component_path(&base, rel, Some(shared.clone())), alt);
        // ...and a newer one in the crate wins.
        file_at(&own, Duration::ZERO);
        assert_eq!(component_path(&base, rel, Some(shared.clone())), own);
        // Without the setting, or for a path outside target/, only the manifest counts.
        assert_eq!(component_path(&base, rel, None), own);
        assert_eq!(
            component_path(&base, "dist/acme.wasm", Some(shared)),
            base.join("dist/acme.wasm")
        );
        std::fs::remove_dir_all(&root).expect("clean up");
    }
}
