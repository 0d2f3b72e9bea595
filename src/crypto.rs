//! Sealing and opening credentials.
//!
//! Every credential is sealed with XChaCha20-Poly1305 under the master key before it reaches the
//! database. The associated data names what the ciphertext belongs to (an install and the kind of
//! credential), so a ciphertext copied to another row does not open. Each sealed value carries
//! the id of the key that sealed it, so keys can be rotated and a wrong key is noticed at start-up
//! instead of failing later.

use std::{fmt, path::Path};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Why a master key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not base64.
    #[error("not valid base64")]
    NotBase64,
    /// Base64, but not 32 bytes.
    #[error("must decode to {KEY_LEN} bytes, got {0}")]
    WrongLength(usize),
    /// The development key file could not be read or written.
    #[error("development key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Sealed under a key this process does not hold.
    #[error("sealed under key {0}, which is not loaded")]
    UnknownKey(String),
    /// Tampered with, moved to another row, or sealed under another key with the same id.
    #[error("ciphertext does not authenticate")]
    Corrupt,
}

/// A 32-byte key for the AEAD, with an id derived from it.
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// HMAC key for deriving keys for other purposes; never used to encrypt.
    derivation_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl MasterKey {
    /// Parses base64 of 32 bytes (as printed by `storelink keygen`).
    pub fn from_base64(encoded: &SecretString) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(
            BASE64
                .decode(encoded.expose_secret().trim())
                .map_err(|_| KeyError::NotBase64)?,
        );
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyError::WrongLength(bytes.len()));
        }
        // The id is a fingerprint, not the key: a hash under a fixed label, shortened.
        let digest = Sha256::new()
            .chain_update(b"storelink master key id v1\0")
            .chain_update(bytes)
            .finalize();
        let id = hex(&digest[..8]);
        let cipher = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        let derivation_key = hmac_sha256(bytes, b"storelink key derivation v1");
        Ok(Self {
            id,
            cipher,
            derivation_key,
        })
    }

    /// A new random key, as base64, for `storelink keygen`.
    pub fn generate_base64() -> SecretString {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        SecretString::from(BASE64.encode(bytes.as_ref()))
    }

    /// Reads the development key from `path`, creating it (mode 0600) on first use. Returns the
    /// key and whether it was created now.
    pub fn load_or_create_dev_key(path: &Path) -> Result<(Self, bool), KeyError> {
        let file_err = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_base64(&SecretString::from(text))?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let encoded = Self::generate_base64();
                write_new_private_file(path, encoded.expose_secret().as_bytes())
                    .map_err(file_err)?;
                Ok((Self::from_base64(&encoded)?, true))
            }
            Err(e) => Err(file_err(e)),
        }
    }

    /// The key's id, stored beside every ciphertext it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key derived from this one for another purpose (the sandbox signs its tokens with one),
    /// so the master key itself is never used twice.
    pub fn derive_subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        hmac_sha256(self.derivation_key.as_ref(), label.as_bytes())
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::{Hmac, Mac as _};
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A value sealed by [`Keyring::seal`], in the form it is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The id of the key that sealed it.
    pub key_id: String,
    /// The random 24-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.ciphertext.len())
            .finish()
    }
}

/// The keys this process holds: the current one seals, any of them opens.
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring with one key.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// A keyring whose `previous` keys still open what they sealed (during a key rotation).
    pub fn with_previous(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// The key that seals new values.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Whether a value sealed under `key_id` can be opened.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.key(key_id).is_some()
    }

    fn key(&self, key_id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
    }

    /// Seals `plaintext`, bound to `aad` (what the value belongs to).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce length cannot fail for in-memory buffers.
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default();
        Sealed {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a sealed value that must have been sealed with the same `aad`.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        key.cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Corrupt)
    }

    /// Opens a sealed UTF-8 secret.
    pub fn open_string(&self, sealed: &Sealed, aad: &[u8]) -> Result<SecretString, OpenError> {
        let bytes = self.open(sealed, aad)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| OpenError::Corrupt)?;
        Ok(SecretString::from(text))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `n` random bytes as lower-case hex: ids and nonces that must not be guessed.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// SHA-256 of `value` as hex: how one-time values (OAuth state) are looked up without storing
/// them.
pub fn sha256_hex(value: &[u8]) -> String {
    hex(&Sha256::digest(value))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    // Hashing first makes the comparison independent of the lengths too.
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::from_base64(&MasterKey::generate_base64()).unwrap())
    }

    #[test]
    fn seal_then_open_round_trips() {
        let ring = keyring();
        let sealed = ring.seal(b"token-123", b"install-1|access_token");
        assert_ne!(sealed.ciphertext, b"token-123");
        assert_eq!(sealed.key_id, ring.current().id());
        let opened = ring.open(&sealed, b"install-1|access_token").unwrap();
        assert_eq!(opened.as_slice(), b"token-123");
    }

    #[test]
    fn other_associated_data_does_not_open() {
        let ring = keyring();
        let sealed = ring.seal(b"token-123", b"install-1|access_token");
        assert!(matches!(
            ring.open(&sealed, b"install-2|access_token"),
            Err(OpenError::Corrupt)
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let ring = keyring();
        let mut sealed = ring.seal(b"token-123", b"a");
        sealed.ciphertext[0] ^= 1;
        assert!(matches!(ring.open(&sealed, b"a"), Err(OpenError::Corrupt)));
    }

    #[test]
    fn another_key_is_named_not_guessed() {
        let sealed = keyring().seal(b"x", b"a");
        assert!(matches!(
            keyring().open(&sealed, b"a"),
            Err(OpenError::UnknownKey(_))
        ));
    }

    #[test]
    fn nonces_differ_between_seals() {
        let ring = keyring();
        assert_ne!(ring.seal(b"x", b"a").nonce, ring.seal(b"x", b"a").nonce);
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(matches!(
            MasterKey::from_base64(&SecretString::from("%%%")),
            Err(KeyError::NotBase64)
        ));
        assert!(matches!(
            MasterKey::from_base64(&SecretString::from("c2hvcnQ=")),
            Err(KeyError::WrongLength(5))
        ));
    }

    #[test]
    fn key_id_is_stable_and_debug_hides_the_key() {
        let encoded = MasterKey::generate_base64();
        let a = MasterKey::from_base64(&encoded).unwrap();
        let b = MasterKey::from_base64(&encoded).unwrap();
        assert_eq!(a.id(), b.id());
        assert!(!format!("{a:?}").contains(encoded.expose_secret()));
    }

    #[test]
    fn dev_key_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.key");
        let (first, created) = MasterKey::load_or_create_dev_key(&path).unwrap();
        assert!(created);
        let (second, created) = MasterKey::load_or_create_dev_key(&path).unwrap();
        assert!(!created);
        assert_eq!(first.id(), second.id());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
