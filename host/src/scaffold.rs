//! `crm plugin new NAME`: a new plugin crate from the SDK's template.
//!
//! The template lives in `sdk/template/` of this repository; the scaffolded
//! crate depends on the SDK by path, so it builds without any registry.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The repository's `sdk/` directory (the binary is built from this checkout).
pub fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("sdk")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"))
}

/// Check a plugin id: `[a-z][a-z0-9-]{1,62}`.
pub fn valid_id(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && (2..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

/// Render the template for plugin `name` into `dest` (which must not exist).
pub fn scaffold(name: &str, dest: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !valid_id(name) {
        bail!(
            "{name:?} is not a valid plugin id: use lower-case letters, digits and '-', starting with a letter (e.g. acme-score)"
        );
    }
    if dest.exists() {
        bail!(
            "{} already exists; choose another name or --dir",
            dest.display()
        );
    }
    let template = sdk_dir().join("template");
    if !template.is_dir() {
        bail!(
            "the plugin template is missing at {}; is this binary built from a CRM checkout?",
            template.display()
        );
    }
    let crate_name = name.replace('-', "_");
    let sdk = sdk_dir();
    let mut written = vec![];
    for entry in walk(&template)? {
        let rel = entry.strip_prefix(&template)?.to_path_buf();
        let rel_str = rel.to_string_lossy().to_string();
        let Some(out_rel) = rel_str.strip_suffix(".tmpl") else {
            continue;
        };
        let text = std::fs::read_to_string(&entry)
            .with_context(|| format!("reading {}", entry.display()))?;
        let text = text
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk_path}}", &sdk.to_string_lossy());
        let out = dest.join(out_rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
        written.push(out);
    }
    Ok(written)
}

fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_checked() {
        assert!(super::valid_id("acme-score"));
        assert!(!super::valid_id("Acme"));
        assert!(!super::valid_id("1abc"));
        assert!(!super::valid_id("a"));
    }

    /// The template's manifest parses, and its contract is the one its
    /// export macro builds (a mismatch is refused at install).
    #[test]
    fn the_template_is_a_valid_plugin_of_the_newest_contract() {
        let dest = std::env::temp_dir().join(format!("crm-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dest);
        let files = super::scaffold("acme-score", &dest).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            files.iter().any(|f| f.ends_with("plugin.toml")),
            "{files:?}"
        );
        let read = |name: &str| {
            std::fs::read_to_string(dest.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let manifest =
            crate::plugin::Manifest::parse(&read("plugin.toml")).unwrap_or_else(|e| panic!("{e}"));
        let newest = crate::plugin::SUPPORTED.last().cloned();
        assert_eq!(Some(manifest.contract.clone()), newest);
        let macro_name = format!(
            "export_plugin_v{}_{}!",
            manifest.contract.major, manifest.contract.minor
        );
        assert!(read("src/lib.rs").contains(&macro_name), "{macro_name}");
        assert!(read("Cargo.toml").contains("crm-plugin-sdk"));
        let _ = std::fs::remove_dir_all(&dest);
    }
}
