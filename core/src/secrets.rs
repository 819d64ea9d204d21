//! Encryption at rest of sensitive custom field values (DOMAIN §9).
//!
//! A sensitive value is stored sealed: the string `enc:v1:` followed by the
//! base64 of a random 96-bit nonce and the ChaCha20-Poly1305 ciphertext (with
//! its tag) of the value's JSON text. The associated data binds it to its
//! tenant, entity and field, so a sealed value copied to another tenant or
//! field does not open. Readers with `pii:read` get it opened
//! ([`crate::custom_field`]); everyone else sees the mask, so a database
//! dump, the audit log and the event payloads never hold the plain value.
//!
//! The data key is 32 bytes, given as 64 hex digits:
//! - `CRM_DATA_KEY` in the environment (production: the same in every
//!   process, kept outside the database);
//! - otherwise, for a SQLite database file, the file `<database>.key` beside
//!   it, created on the first sensitive write (mode 0600). Back it up with the
//!   database: values sealed with a lost key cannot be read;
//! - otherwise (PostgreSQL without `CRM_DATA_KEY`) there is none, and writing
//!   a sensitive value fails with `DATA_KEY_MISSING`, saying what to set.

use crate::error::{CoreError, Result};
use base64::Engine;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The prefix of a sealed value.
pub const SEALED_PREFIX: &str = "enc:v1:";

/// The environment variable holding the data key (64 hex digits).
pub const DATA_KEY_ENV: &str = "CRM_DATA_KEY";

/// Where the data key comes from.
#[derive(Debug, Clone)]
enum Source {
    /// 64 hex digits (from `CRM_DATA_KEY` or given).
    Hex(String),
    /// A key file, created on first use.
    File(PathBuf),
    Missing,
}

/// The data key of a [`crate::Crm`], read (or created) on first use.
pub struct DataKey {
    source: Source,
    key: OnceLock<std::result::Result<LessSafeKey, String>>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("DataKey")
            .field(
                "source",
                &match &self.source {
                    Source::Hex(_) => "hex".to_string(),
                    Source::File(p) => p.display().to_string(),
                    Source::Missing => "missing".to_string(),
                },
            )
            .finish()
    }
}

impl DataKey {
    /// `CRM_DATA_KEY` when set, else the key file `file` (if any).
    pub fn from_env_or_file(file: Option<PathBuf>) -> Self {
        let source = match std::env::var(DATA_KEY_ENV) {
            Ok(hex) if !hex.trim().is_empty() => Source::Hex(hex.trim().to_string()),
            _ => file.map_or(Source::Missing, Source::File),
        };
        DataKey {
            source,
            key: OnceLock::new(),
        }
    }

    /// No key: sensitive values cannot be written (`DATA_KEY_MISSING`).
    pub fn none() -> Self {
        DataKey {
            source: Source::Missing,
            key: OnceLock::new(),
        }
    }

    /// A key given as 64 hex digits (tests, embedding).
    pub fn from_hex(hex: &str) -> Self {
        DataKey {
            source: Source::Hex(hex.trim().to_string()),
            key: OnceLock::new(),
        }
    }

    /// A key given in the environment (or by hand) must be usable at start-up,
    /// not at the first sensitive write: `Err(message)` when it is malformed.
    /// A key file is read or created on first use; a missing key is allowed
    /// (sensitive writes are refused).
    pub fn check(&self) -> std::result::Result<(), String> {
        match self.source {
            Source::Hex(_) => self.key().map(|_| ()),
            Source::File(_) | Source::Missing => Ok(()),
        }
    }

    /// A new random key: its hex digits and the key.
    ///
    /// # Errors
    /// When the system random source fails.
    pub fn generate() -> std::result::Result<(String, DataKey), String> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system random source failed".to_string())?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let key = DataKey::from_hex(&hex);
        Ok((hex, key))
    }

    /// The key file this key comes from, when it comes from one.
    pub fn key_file(&self) -> Option<&std::path::Path> {
        match &self.source {
            Source::File(p) => Some(p),
            _ => None,
        }
    }

    /// Replace the key file's key by `hex` (atomically: a new file renamed
    /// over it), for a rotation that re-sealed every value first.
    ///
    /// # Errors
    /// When this key does not come from a file, or writing fails.
    pub fn replace_file(&self, hex: &str) -> std::result::Result<(), String> {
        let path = self
            .key_file()
            .ok_or_else(|| format!("the data key comes from {DATA_KEY_ENV}, not a file"))?;
        let tmp = path.with_extension(format!("key.{}.new", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(hex.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| format!("cannot write the data key file {}: {e}", path.display()))
    }

    /// The key file beside SQLite database `url`, if it names a file.
    pub fn file_for_url(url: &str) -> Option<PathBuf> {
        let rest = url.strip_prefix("sqlite:")?;
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.contains(":memory:") {
            return None;
        }
        Some(PathBuf::from(format!("{path}.key")))
    }

    fn key(&self) -> std::result::Result<&LessSafeKey, String> {
        self.key
            .get_or_init(|| {
                let hex = match &self.source {
                    Source::Hex(h) => h.clone(),
                    Source::File(path) => load_or_create(path)?,
                    Source::Missing => {
                        return Err(format!(
                            "no data key to encrypt sensitive values: set {DATA_KEY_ENV} to 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`) in every process"
                        ));
                    }
                };
                let bytes = decode_hex(&hex).ok_or_else(|| match &self.source {
                    Source::File(p) => format!(
                        "the data key file {} must hold 64 hex digits: restore it from your backup, or set {DATA_KEY_ENV}",
                        p.display()
                    ),
                    _ => format!(
                        "{DATA_KEY_ENV} must be 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`)"
                    ),
                })?;
                let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
                    .map_err(|_| "the data key has the wrong length".to_string())?;
                Ok(LessSafeKey::new(unbound))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Seal `value` for field `aad` (`tenant/entity/key`).
    ///
    /// # Errors
    /// `Err(message)` when there is no usable data key.
    pub fn seal(&self, aad: &str, value: &Value) -> std::result::Result<String, String> {
        let key = self.key()?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "the system random source failed".to_string())?;
        let mut data = value.to_string().into_bytes();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut data,
        )
        .map_err(|_| "encryption failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        ))
    }

    /// Open a value sealed for field `aad`.
    ///
    /// # Errors
    /// [`CoreError::Internal`] when there is no key, or the value was sealed
    /// with another key or for another field.
    pub fn open(&self, aad: &str, sealed: &str) -> Result<Value> {
        let fail =
            |why: &str| CoreError::Internal(format!("cannot open sensitive value {aad}: {why}"));
        let key = self.key().map_err(|m| fail(&m))?;
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(b)
                    .ok()
            })
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or_else(|| fail("not a sealed value"))?;
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail("bad nonce"))?;
        let mut data = data.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| {
                fail(&format!(
                    "it was sealed with another data key ({DATA_KEY_ENV} or the key file changed?)"
                ))
            })?;
        serde_json::from_slice(plain).map_err(|_| fail("not JSON once opened"))
    }
}

/// Whether `v` is a sealed value.
pub fn is_sealed(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(SEALED_PREFIX))
}

/// The associated data of secret configuration key `key` of plugin
/// `plugin` in `tenant`: a sealed secret opens only where it was set.
pub fn config_aad(tenant: uuid::Uuid, plugin: &str, key: &str) -> String {
    format!("{tenant}/plugin:{plugin}/config.{key}")
}

/// The associated data of field `key` of `entity` in `tenant`.
pub fn field_aad(tenant: uuid::Uuid, entity: &str, key: &str) -> String {
    format!("{tenant}/{entity}/{key}")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The key in `path`, or a new random one written there first. Two
/// processes creating it at once agree: the key is written to a private
/// temporary file and linked into place only if nothing is there yet.
fn load_or_create(path: &std::path::Path) -> std::result::Result<String, String> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read the data key file {}: {e}", p.display()))
    };
    if path.exists() {
        return read(path);
    }
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system random source failed".to_string())?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension(format!("key.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(hex.as_bytes())?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    };
    let linked = write();
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| format!("cannot create the data key file {}: {e}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "created a data key for sensitive custom fields: back it up with the database (or set {DATA_KEY_ENV})"
    );
    read(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_open_only_for_their_field_and_key() {
        let k = DataKey::from_hex(KEY);
        let sealed = k
            .seal("t/contact/nationalId", &json!("110101199003077777"))
            .unwrap();
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("1101011990"));
        assert!(is_sealed(&json!(sealed)));
        assert_eq!(
            k.open("t/contact/nationalId", &sealed).unwrap(),
            json!("110101199003077777")
        );
        // Random nonces: the same value seals differently each time.
        assert_ne!(
            sealed,
            k.seal("t/contact/nationalId", &json!("110101199003077777"))
                .unwrap()
        );
        // Types survive.
        let n = k.seal("t/deal/margin", &json!(12.5)).unwrap();
        assert_eq!(k.open("t/deal/margin", &n).unwrap(), json!(12.5));
        // Another field, another key, or tampering: no.
        assert!(k.open("t/contact/passport", &sealed).is_err());
        let other = DataKey::from_hex(&KEY.replace("1f", "20"));
        let err = other.open("t/contact/nationalId", &sealed).unwrap_err();
        assert!(err.to_string().contains("another data key"), "{err}");
        let mut bad = sealed.clone();
        bad.pop();
        bad.push('A');
        assert!(k.open("t/contact/nationalId", &bad).is_err());
    }

    #[test]
    fn a_missing_or_malformed_key_says_what_to_set() {
        let missing = DataKey::none();
        let err = missing.seal("a", &json!(1)).unwrap_err();
        assert!(err.contains(DATA_KEY_ENV), "{err}");
        let err = DataKey::from_hex("abc").seal("a", &json!(1)).unwrap_err();
        assert!(err.contains("64 hex digits"), "{err}");
        // Found at start-up, not at the first sensitive write.
        assert!(DataKey::from_hex("zz".repeat(32).as_str()).check().is_err());
        assert!(DataKey::from_hex(KEY).check().is_ok());
        assert!(DataKey::none().check().is_ok());
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("crm-key-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("crm.db");
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let file = DataKey::file_for_url(&url).unwrap();
        assert_eq!(file, dir.join("crm.db.key"));
        assert_eq!(DataKey::file_for_url("sqlite::memory:"), None);
        assert_eq!(DataKey::file_for_url("postgres://x/y"), None);

        let first = DataKey {
            source: Source::File(file.clone()),
            key: OnceLock::new(),
        };
        let sealed = first.seal("f", &json!("v")).unwrap();
        let hex = std::fs::read_to_string(&file).unwrap();
        assert_eq!(hex.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second process (another DataKey) reads the same key.
        let second = DataKey {
            source: Source::File(file),
            key: OnceLock::new(),
        };
        assert_eq!(second.open("f", &sealed).unwrap(), json!("v"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
