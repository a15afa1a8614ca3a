//! The domain's public key: what anyone outside the domain holds to check its signatures.
//!
//! It travels as 64 lowercase hex characters (upper case is accepted on input) and is named in
//! manifests and messages by its key id, the first 16 hex characters of its SHA-256, which is
//! short enough to read aloud and long enough that two domains never share one by accident.

use std::fmt;
use std::path::Path;

use ring::signature::{UnparsedPublicKey, ED25519};

use super::KeyError;

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex characters; surrounding whitespace (a trailing newline) is ignored.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.len() != 64 {
            return Err(KeyError::InvalidPublicKey {
                reason: format!("expected 64 hex characters, found {}", s.chars().count()),
            });
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|e| KeyError::InvalidPublicKey {
            reason: e.to_string(),
        })?;
        Ok(Self(bytes))
    }

    /// The key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads a public key file (hex text, as written to `keys/domain.pub`).
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        Self::from_hex(&text).map_err(|e| KeyError::InvalidPublicKeyFile {
            path: path.to_path_buf(),
            reason: match e {
                KeyError::InvalidPublicKey { reason } => reason,
                other => other.to_string(),
            },
        })
    }

    /// True if `signature` is a valid Ed25519 signature of `message` under this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }

    /// The key id: first 16 hex characters of the SHA-256 of the 32 key bytes.
    pub fn key_id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        let mut id = hex::encode(digest.as_ref());
        id.truncate(16);
        id
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_case() {
        let key = PublicKey::from_bytes([0xab; 32]);
        assert_eq!(PublicKey::from_hex(&key.to_hex()).unwrap(), key);
        assert_eq!(
            PublicKey::from_hex(&format!("{}\n", key.to_hex().to_uppercase())).unwrap(),
            key
        );
    }

    #[test]
    fn bad_hex_is_rejected() {
        assert!(PublicKey::from_hex("abcd").is_err());
        assert!(PublicKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn key_id_is_sixteen_hex() {
        let id = PublicKey::from_bytes([1; 32]).key_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, PublicKey::from_bytes([2; 32]).key_id());
    }

    #[test]
    fn read_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        std::fs::write(&path, "not a key\n").unwrap();
        let err = PublicKey::read_file(&path).unwrap_err().to_string();
        assert!(err.contains("k.pub"), "{err}");
    }
}
