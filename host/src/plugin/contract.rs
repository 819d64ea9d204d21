//! Which version of the `crm:plugin` contract a component was built against.
//!
//! The version is read from the component itself — the names of its
//! exported interfaces, e.g. `crm:plugin/functions@0.1.0` — never trusted
//! from the manifest alone. Each supported version has its own bindings
//! module (`bindings::v0_1_0`, `bindings::v0_2_0`, ...); a version the host has no bindings for is
//! refused with a message saying what to do.

use semver::Version;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package every contract interface belongs to.
pub const PACKAGE: &str = "crm:plugin";

/// Contract versions this host has bindings for, oldest first.
///
/// Adding a version: snapshot its WIT in `sdk/wit/since_vX.Y.Z/`, add
/// `bindings/vX_Y_Z.rs` and its arm in `bindings::Pre` and `bindings::Linkers`,
/// then append it here.
pub const SUPPORTED: &[Version] = &[
    Version::new(0, 1, 0),
    Version::new(0, 2, 0),
    Version::new(0, 3, 0),
];

/// Why a component's contract version is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error(
        "the component exports no `{PACKAGE}` interface (its exports: {exports}); \
         is it a CRM plugin? Build it with crm-plugin-sdk {sdk} (contract {supported})",
        sdk = sdk_line(), supported = list(SUPPORTED)
    )]
    Missing { exports: String },

    #[error(
        "the component mixes contract versions {}; rebuild it against one crm-plugin-sdk",
        list(.found)
    )]
    Mixed { found: Vec<Version> },

    #[error(
        "the component was built against contract {PACKAGE}@{found}, but this host supports \
         {PACKAGE}@{supported}; rebuild the plugin against crm-plugin-sdk {sdk}",
        supported = list(SUPPORTED), sdk = sdk_line()
    )]
    Unsupported { found: Version },

    #[error(
        "plugin.toml declares contract = \"{declared}\" but the component was built against \
         {PACKAGE}@{built}; set contract = \"{built}\" in plugin.toml (or rebuild the component)"
    )]
    ManifestMismatch { declared: Version, built: Version },
}

fn list(versions: &[Version]) -> String {
    versions
        .iter()
        .map(Version::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SDK line to build against, `0.1`: the SDK is versioned with the
/// workspace (one SDK release builds every supported contract, chosen by its
/// export macro), so it is this crate's own major.minor.
fn sdk_line() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => version.to_owned(),
    }
}

/// The contract version in an export name such as `crm:plugin/functions@0.1.0`.
/// `None` for exports of other packages; `Some(None)` for an unversioned or
/// unparsable `crm:plugin` export.
fn version_of(export: &str) -> Option<Option<Version>> {
    let rest = export.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    Some(
        rest.split_once('@')
            .and_then(|(_, version)| Version::parse(version).ok()),
    )
}

/// The contract version `component` was built against, if this host supports it.
pub fn detect(engine: &Engine, component: &Component) -> Result<Version, ContractError> {
    let ty = component.component_type();
    let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    from_export_names(&names)
}

pub(crate) fn from_export_names(names: &[&str]) -> Result<Version, ContractError> {
    let mut found: Vec<Version> = Vec::new();
    let mut unversioned = false;
    for name in names {
        match version_of(name) {
            None => {}
            Some(None) => unversioned = true,
            Some(Some(v)) if !found.contains(&v) => found.push(v),
            Some(Some(_)) => {}
        }
    }
    match found.as_slice() {
        [] if unversioned => Err(ContractError::Missing {
            exports: format!("{} (without a version)", names.join(", ")),
        }),
        [] => Err(ContractError::Missing {
            exports: if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
        }),
        [one] if SUPPORTED.contains(one) => Ok(one.clone()),
        [one] => Err(ContractError::Unsupported { found: one.clone() }),
        _ => Err(ContractError::Mixed { found }),
    }
}

/// Refuse a manifest whose `contract` is not the component's.
pub fn check_manifest(declared: &Version, built: &Version) -> Result<(), ContractError> {
    if declared == built {
        Ok(())
    } else {
        Err(ContractError::ManifestMismatch {
            declared: declared.clone(),
            built: built.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_from_export_names() {
        let v = from_export_names(&["wasi:cli/run@0.2.6", "crm:plugin/functions@0.1.0"]);
        assert_eq!(v, Ok(Version::new(0, 1, 0)));
        let v = from_export_names(&["crm:plugin/functions@0.2.0", "crm:plugin/handlers@0.2.0"]);
        assert_eq!(v, Ok(Version::new(0, 2, 0)));
    }

    #[test]
    fn refuses_unknown_versions_naming_both() {
        let err = from_export_names(&["crm:plugin/functions@9.0.0"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("crm:plugin@9.0.0"), "{text}");
        assert!(text.contains("crm:plugin@0.1.0, 0.2.0, 0.3.0"), "{text}");
        assert!(
            text.contains("rebuild the plugin against crm-plugin-sdk 0.1"),
            "{text}"
        );
    }

    #[test]
    fn refuses_missing_and_mixed() {
        let err = from_export_names(&["wasi:cli/run@0.2.6"]).unwrap_err();
        assert!(matches!(err, ContractError::Missing { .. }));
        assert!(err.to_string().contains("wasi:cli/run@0.2.6"));
        assert!(matches!(
            from_export_names(&[]),
            Err(ContractError::Missing { .. })
        ));
        assert!(matches!(
            from_export_names(&["crm:plugin/functions"]),
            Err(ContractError::Missing { .. })
        ));
        assert!(matches!(
            from_export_names(&["crm:plugin/functions@0.1.0", "crm:plugin/handlers@0.2.0"]),
            Err(ContractError::Mixed { .. })
        ));
    }

    #[test]
    fn manifest_must_agree() {
        let v010 = Version::new(0, 1, 0);
        assert_eq!(check_manifest(&v010, &v010), Ok(()));
        let err = check_manifest(&Version::new(0, 2, 0), &v010).unwrap_err();
        assert!(err.to_string().contains(r#"contract = "0.2.0""#));
        assert!(err.to_string().contains("crm:plugin@0.1.0"));
    }
}
