//! What a plugin may do in a tenant: the capabilities its manifest asks for,
//! intersected with what the tenant's operator granted. Decided here, once;
//! the host API modules ask [`Grants::allows`] and nothing else.
//!
//! Capabilities are strings: `read:<entity>`, `write:<entity>`, `pii:read`,
//! `kv`, `emit`. An operator's grant of `*` means "everything it asks for".
//!
//! ```
//! use crm_host::plugin::{Grants, Manifest};
//!
//! let manifest = Manifest::parse(r#"
//! id = "welcome"
//! version = "0.1.0"
//! contract = "0.2.0"
//! description = "Greets new contacts."
//! [[handlers]]
//! name = "greet"
//! events = ["contact.created"]
//! [capabilities]
//! read = ["contact"]
//! write = ["task"]
//! kv = true
//! "#)?;
//! assert_eq!(Grants::requested(&manifest), ["read:contact", "write:task", "kv"]);
//!
//! // Granted more than it asked for (write:deal) and less (no kv): it gets the intersection.
//! let grants = Grants::new(&manifest, &["read:contact".into(), "write:task".into(), "write:deal".into()]);
//! assert!(grants.allows("write:task"));
//! assert!(!grants.allows("write:deal"));
//! assert!(!grants.allows("kv"));
//! # Ok::<(), crm_host::plugin::ManifestError>(())
//! ```

use super::manifest::Manifest;

/// Grant of key-value storage.
pub const KV: &str = "kv";
/// Grant of emitting `plugin.<id>.<kind>` events.
pub const EMIT: &str = "emit";
/// Grant of reading sensitive personal fields unmasked.
pub const PII_READ: &str = "pii:read";

/// The effective capabilities of a plugin in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    granted: Vec<String>,
}

impl Grants {
    /// What `manifest` asks for, in a stable order: `read:<e>` for every
    /// readable entity (capabilities and function entities), `write:<e>`,
    /// `pii:read`, `kv`, `emit`.
    pub fn requested(manifest: &Manifest) -> Vec<String> {
        let caps = &manifest.capabilities;
        let mut out: Vec<String> = Vec::new();
        let mut add = |c: String| {
            if !out.contains(&c) {
                out.push(c);
            }
        };
        for e in &caps.read {
            add(format!("read:{e}"));
        }
        for e in manifest.functions.iter().flat_map(|f| &f.entities) {
            add(format!("read:{e}"));
        }
        for e in &caps.write {
            add(format!("write:{e}"));
        }
        if caps.pii_read {
            add(PII_READ.to_owned());
        }
        if caps.kv {
            add(KV.to_owned());
        }
        if caps.emit {
            add(EMIT.to_owned());
        }
        out
    }

    /// The intersection of what `manifest` asks for and what was `granted`.
    pub fn new(manifest: &Manifest, granted: &[String]) -> Self {
        let everything = granted.iter().any(|g| g == "*");
        Grants {
            granted: Self::requested(manifest)
                .into_iter()
                .filter(|c| everything || granted.contains(c))
                .collect(),
        }
    }

    /// Whether capability `capability` (`write:contact`, `kv`, ...) is granted.
    pub fn allows(&self, capability: &str) -> bool {
        self.granted.iter().any(|g| g == capability)
    }

    /// The granted capabilities, as principal scopes.
    pub fn scopes(&self) -> &[String] {
        &self.granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(contract: &str, caps: &str) -> Manifest {
        let text = format!(
            "id = \"probe\"\nversion = \"0.1.0\"\ncontract = \"{contract}\"\ndescription = \"\"\n\
             [[functions]]\nname = \"s\"\nkind = \"score\"\nentities = [\"deal\"]\ninput = \"{{ id }}\"\n\
             [capabilities]\n{caps}\n"
        );
        Manifest::parse(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn requested_covers_every_capability_once() {
        let m = manifest(
            "0.2.0",
            "read = [\"contact\", \"deal\"]\nwrite = [\"task\"]\npii-read = true\nkv = true\nemit = true",
        );
        assert_eq!(
            Grants::requested(&m),
            [
                "read:contact",
                "read:deal",
                "write:task",
                "pii:read",
                "kv",
                "emit"
            ]
        );
    }

    #[test]
    fn grants_are_the_intersection() {
        let m = manifest("0.2.0", "read = [\"contact\"]\nkv = true");
        let g = Grants::new(&m, &["read:contact".into(), "emit".into()]);
        assert!(g.allows("read:contact"));
        assert!(!g.allows("emit"), "granted but not asked for");
        assert!(!g.allows("kv"), "asked for but not granted");
        assert!(
            !g.allows("read:deal"),
            "function entities are asked for, not granted"
        );
        let all = Grants::new(&m, &["*".into()]);
        assert_eq!(all.scopes(), ["read:contact", "read:deal", "kv"]);
        assert!(!all.allows("*"));
    }
}
