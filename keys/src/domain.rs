//! [`DomainKeys`]: loading the domain's keys, creating them on first start, and using them.
//!
//! The pseudonym master key is never used directly: each scenario gets its own key,
//! `HMAC-SHA-256(master, "shuyu/pseudonym/v1\0" || key_id)`, so pseudonyms made for one
//! scenario cannot be linked to those of another, while joins inside a scenario still work. The
//! NUL after the tag keeps the tag and the id apart whatever the id looks like. `key_id` is the
//! identity the domain assigned to the scenario id when it was first used
//! (`governance::ScenarioBinding`), not the id the operator chose, so reusing another
//! operator's scenario id never yields its pseudonyms.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::files::{create_dir, io_error, read_private, sync_dir, wipe, write_atomic};
use super::{KeyError, PublicKey, KEYS_DIR, PSEUDONYM_KEY_FILE, PUBLIC_KEY_FILE, SIGNING_KEY_FILE};

/// Domain-separation tag for per-scenario pseudonym keys (version 1; NUL-terminated).
const PSEUDONYM_TAG: &[u8] = b"shuyu/pseudonym/v1\0";

/// Tells apart staging folders of threads in one process that race on the first start.
static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The domain's signing key pair and pseudonym master key.
///
/// `Debug` shows the public key only.
pub struct DomainKeys {
    signing: Ed25519KeyPair,
    public: PublicKey,
    pseudonym_master: hmac::Key,
}

impl fmt::Debug for DomainKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainKeys")
            .field("public", &self.public)
            .field("signing", &"<redacted>")
            .field("pseudonym_master", &"<redacted>")
            .finish()
    }
}

impl DomainKeys {
    /// Loads `<data_dir>/keys/`, creating it (dir 0700) and the keys (files 0600, written
    /// atomically: temp file + fsync + rename) on first start.
    ///
    /// # Errors
    ///
    /// A private key file open to group or others ([`KeyError::TooOpen`]), a damaged or altered key
    /// file, a keys folder missing one of its private keys, a `domain.pub` naming another key, or
    /// any I/O failure, each naming the file.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let dir = data_dir.join(KEYS_DIR);
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => Self::load(&dir),
            Ok(_) => Err(KeyError::NotAFolder { path: dir }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Self::create(data_dir, &dir)?;
                Self::load(&dir)
            }
            Err(e) => Err(io_error(&dir, "read")(e)),
        }
    }

    /// The public half of the signing key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs `message` with the domain's Ed25519 key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let signature = self.signing.sign(message);
        let mut out = [0u8; 64];
        // Ed25519 signatures are always 64 bytes.
        out.copy_from_slice(signature.as_ref());
        out
    }

    /// Per-scenario pseudonym key: HMAC-SHA-256(master, "shuyu/pseudonym/v1\0" || key_id),
    /// where `key_id` is the scenario binding's domain-assigned identity. Different scenarios get
    /// unlinkable pseudonyms.
    pub fn pseudonym_key(&self, key_id: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.pseudonym_master);
        ctx.update(PSEUDONYM_TAG);
        ctx.update(key_id.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        // HMAC-SHA-256 tags are always 32 bytes.
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn load(dir: &Path) -> Result<Self, KeyError> {
        let signing_path = dir.join(SIGNING_KEY_FILE);
        let pseudonym_path = dir.join(PSEUDONYM_KEY_FILE);
        for path in [&signing_path, &pseudonym_path] {
            if !path_exists(path)? {
                return Err(KeyError::Incomplete { path: path.clone() });
            }
        }

        let mut pkcs8 = read_private(&signing_path)?;
        let signing = Ed25519KeyPair::from_pkcs8(&pkcs8);
        wipe(&mut pkcs8);
        let signing = signing.map_err(|e| KeyError::InvalidSigningKey {
            path: signing_path.clone(),
            reason: e.to_string(),
        })?;

        let mut master = read_private(&pseudonym_path)?;
        if master.len() != 32 {
            let len = master.len() as u64;
            wipe(&mut master);
            return Err(KeyError::InvalidPseudonymKey {
                path: pseudonym_path,
                len,
            });
        }
        let pseudonym_master = hmac::Key::new(hmac::HMAC_SHA256, &master);
        wipe(&mut master);

        let mut public_bytes = [0u8; 32];
        public_bytes.copy_from_slice(signing.public_key().as_ref());
        let public = PublicKey::from_bytes(public_bytes);
        check_public_file(dir, &public)?;

        Ok(Self {
            signing,
            public,
            pseudonym_master,
        })
    }

    /// Builds a complete keys folder under a staging name and renames it into place.
    fn create(data_dir: &Path, dir: &Path) -> Result<(), KeyError> {
        fs::create_dir_all(data_dir).map_err(io_error(data_dir, "create folder"))?;
        let staging = data_dir.join(format!(
            "{KEYS_DIR}.new-{}-{}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = Self::fill_staging(&staging).and_then(|()| match fs::rename(&staging, dir) {
            Ok(()) => sync_dir(data_dir),
            // Another process or thread won the race and its folder is complete: use it.
            Err(_) if dir.is_dir() => Ok(()),
            Err(e) => Err(io_error(dir, "rename into place")(e)),
        });
        if staging.exists() {
            // Best effort: the staging folder holds secrets that will never be used.
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    fn fill_staging(staging: &Path) -> Result<(), KeyError> {
        create_dir(staging, 0o700)?;
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random {
            what: "the signing key",
        })?;
        let signing = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| {
            KeyError::InvalidSigningKey {
                path: PathBuf::from(SIGNING_KEY_FILE),
                reason: e.to_string(),
            }
        })?;
        let mut master = [0u8; 32];
        rng.fill(&mut master).map_err(|_| KeyError::Random {
            what: "the pseudonym key",
        })?;

        let written = write_atomic(staging, SIGNING_KEY_FILE, pkcs8.as_ref(), 0o600)
            .and_then(|()| write_atomic(staging, PSEUDONYM_KEY_FILE, &master, 0o600));
        wipe(&mut master);
        written?;
        let public_hex = format!("{}\n", hex::encode(signing.public_key().as_ref()));
        write_atomic(staging, PUBLIC_KEY_FILE, public_hex.as_bytes(), 0o644)?;
        sync_dir(staging)
    }
}

fn path_exists(path: &Path) -> Result<bool, KeyError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path, "read")(e)),
    }
}

/// Rewrites a missing `domain.pub`; refuses one that names another key.
fn check_public_file(dir: &Path, public: &PublicKey) -> Result<(), KeyError> {
    let path = dir.join(PUBLIC_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match PublicKey::from_hex(&text) {
            Ok(found) if found == *public => Ok(()),
            _ => Err(KeyError::PublicKeyMismatch { path }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_atomic(
            dir,
            PUBLIC_KEY_FILE,
            format!("{}\n", public.to_hex()).as_bytes(),
            0o644,
        ),
        Err(e) => Err(io_error(&path, "read")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_then_reloads_the_same_keys() {
        let data = tempfile::tempdir().unwrap();
        let first = DomainKeys::load_or_create(data.path()).unwrap();
        let again = DomainKeys::load_or_create(data.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.pseudonym_key("s1"), again.pseudonym_key("s1"));
        let on_disk = PublicKey::read_file(&data.path().join("keys/domain.pub")).unwrap();
        assert_eq!(on_disk, first.public_key());
        // No staging folder is left behind.
        let names: Vec<_> = fs::read_dir(data.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keys")]);
    }

    #[test]
    fn files_have_owner_only_permissions() {
        let data = tempfile::tempdir().unwrap();
        DomainKeys::load_or_create(data.path()).unwrap();
        let dir = data.path().join("keys");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("domain.pk8")), 0o600);
        assert_eq!(mode(&dir.join("pseudonym.key")), 0o600);
        assert_eq!(mode(&dir.join("domain.pub")), 0o644);
        assert_eq!(fs::metadata(dir.join("pseudonym.key")).unwrap().len(), 32);
    }

    #[test]
    fn refuses_a_group_readable_private_key() {
        let data = tempfile::tempdir().unwrap();
        DomainKeys::load_or_create(data.path()).unwrap();
        let pk8 = data.path().join("keys/domain.pk8");
        fs::set_permissions(&pk8, fs::Permissions::from_mode(0o640)).unwrap();
        let err = DomainKeys::load_or_create(data.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::TooOpen { mode: 0o640, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("domain.pk8") && msg.contains("chmod 600"),
            "{msg}"
        );

        fs::set_permissions(&pk8, fs::Permissions::from_mode(0o600)).unwrap();
        let key = data.path().join("keys/pseudonym.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o604)).unwrap();
        let msg = DomainKeys::load_or_create(data.path())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pseudonym.key"), "{msg}");
    }

    #[test]
    fn a_tampered_signing_key_is_an_error() {
        let data = tempfile::tempdir().unwrap();
        DomainKeys::load_or_create(data.path()).unwrap();
        let pk8 = data.path().join("keys/domain.pk8");
        let mut bytes = fs::read(&pk8).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        fs::write(&pk8, &bytes).unwrap();
        let err = DomainKeys::load_or_create(data.path()).unwrap_err();
        assert!(matches!(err, KeyError::InvalidSigningKey { .. }), "{err:?}");
        assert!(err.to_string().contains("domain.pk8"));
    }

    #[test]
    fn a_truncated_pseudonym_key_is_an_error() {
        let data = tempfile::tempdir().unwrap();
        DomainKeys::load_or_create(data.path()).unwrap();
        fs::write(data.path().join("keys/pseudonym.key"), [7u8; 31]).unwrap();
        let err = DomainKeys::load_or_create(data.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::InvalidPseudonymKey { len: 31, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_private_key_is_not_silently_replaced() {
        let data = tempfile::tempdir().unwrap();
        DomainKeys::load_or_create(data.path()).unwrap();
        fs::remove_file(data.path().join("keys/pseudonym.key")).unwrap();
        let err = DomainKeys::load_or_create(data.path()).unwrap_err();
        assert!(matches!(err, KeyError::Incomplete { .. }), "{err:?}");
    }

    #[test]
    fn public_file_is_rewritten_if_missing_and_refused_if_wrong() {
        let data = tempfile::tempdir().unwrap();
        let keys = DomainKeys::load_or_create(data.path()).unwrap();
        let pub_path = data.path().join("keys/domain.pub");
        fs::remove_file(&pub_path).unwrap();
        DomainKeys::load_or_create(data.path()).unwrap();
        assert_eq!(PublicKey::read_file(&pub_path).unwrap(), keys.public_key());

        fs::write(&pub_path, format!("{}\n", "00".repeat(32))).unwrap();
        let err = DomainKeys::load_or_create(data.path()).unwrap_err();
        assert!(matches!(err, KeyError::PublicKeyMismatch { .. }), "{err:?}");
    }

    #[test]
    fn signatures_verify_under_the_public_key_only() {
        let data = tempfile::tempdir().unwrap();
        let keys = DomainKeys::load_or_create(data.path()).unwrap();
        let sig = keys.sign(b"hello");
        assert!(keys.public_key().verify(b"hello", &sig));
        assert!(!keys.public_key().verify(b"hellO", &sig));
        let other = tempfile::tempdir().unwrap();
        let other = DomainKeys::load_or_create(other.path()).unwrap();
        assert!(!other.public_key().verify(b"hello", &sig));
    }

    #[test]
    fn pseudonym_keys_differ_per_scenario_and_per_domain() {
        let data = tempfile::tempdir().unwrap();
        let keys = DomainKeys::load_or_create(data.path()).unwrap();
        assert_ne!(keys.pseudonym_key("a"), keys.pseudonym_key("b"));
        assert_eq!(keys.pseudonym_key("a"), keys.pseudonym_key("a"));
        let other = tempfile::tempdir().unwrap();
        let other = DomainKeys::load_or_create(other.path()).unwrap();
        assert_ne!(keys.pseudonym_key("a"), other.pseudonym_key("a"));
    }

    #[test]
    fn pseudonym_key_follows_the_documented_construction() {
        let data = tempfile::tempdir().unwrap();
        let keys = DomainKeys::load_or_create(data.path()).unwrap();
        let master = fs::read(data.path().join("keys/pseudonym.key")).unwrap();
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &master),
            b"shuyu/pseudonym/v1\0s-7",
        );
        assert_eq!(keys.pseudonym_key("s-7").as_slice(), expected.as_ref());
    }

    #[test]
    fn debug_redacts_secrets() {
        let data = tempfile::tempdir().unwrap();
        let keys = DomainKeys::load_or_create(data.path()).unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("<redacted>"));
        let master = fs::read(data.path().join("keys/pseudonym.key")).unwrap();
        assert!(!shown.contains(&hex::encode(master)));
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().to_path_buf();
        let keys: Vec<PublicKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| DomainKeys::load_or_create(&path).unwrap().public_key()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
    }
}
