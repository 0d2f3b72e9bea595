//! Vendor API keys: `slk_` and 43 characters of unpadded base64url (256 random bits), so secret
//! scanners can recognise a leaked one. Only the key's SHA-256 is ever stored.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// What every key starts with.
pub const PREFIX: &str = "slk_";
/// Random bytes in a key.
const RANDOM_BYTES: usize = 32;
/// Characters of base64url that carry them.
const ENCODED_LEN: usize = 43;
/// Characters of a key shown to tell keys apart (`slk_` and four more).
const SHOWN: usize = PREFIX.len() + 4;

/// A key as presented or just made. `Debug` does not show it.
pub struct ApiKeySecret(SecretString);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([redacted])")
    }
}

impl ApiKeySecret {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(format!(
            "{PREFIX}{}",
            B64URL.encode(bytes)
        )))
    }

    /// A presented key, if it has a key's form (anything else cannot be one, and is refused
    /// the same way as an unknown key).
    pub fn parse(presented: &str) -> Option<Self> {
        let rest = presented.strip_prefix(PREFIX)?;
        let well_formed = rest.len() == ENCODED_LEN
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(SecretString::from(presented)))
    }

    /// The SHA-256 of the key, as hex: what is stored and looked up.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.0.expose_secret().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first characters of the key, to tell it apart in lists (`slk_Ab3x`).
    pub fn shown_prefix(&self) -> String {
        self.0.expose_secret().chars().take(SHOWN).collect()
    }

    /// The key itself, to be shown once to whoever created it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_scannable_form_and_parse() {
        let key = ApiKeySecret::generate();
        assert!(key.expose().starts_with("slk_"));
        assert_eq!(key.expose().len(), 4 + 43);
        let again = ApiKeySecret::parse(key.expose()).unwrap();
        assert_eq!(again.hash(), key.hash());
        assert_eq!(key.hash().len(), 64);
        assert_eq!(key.shown_prefix().len(), 8);
        assert_ne!(ApiKeySecret::generate().hash(), key.hash());
        assert!(!format!("{key:?}").contains(key.expose()));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let good = ApiKeySecret::generate();
        for bad in [
            "",
            "slk_",
            "Bearer slk_x",
            &good.expose()[..good.expose().len() - 1],
            &format!("{}A", good.expose()),
            &good.expose().replace("slk_", "sk_"),
            &format!("slk_{}", "=".repeat(43)),
            &format!("slk_{}", "é".repeat(43)),
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad:?}");
        }
    }
}
