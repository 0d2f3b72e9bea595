//! Operator passwords: argon2id (m=19456 KiB, t=2, p=1) in PHC strings, hashed and verified on
//! the blocking pool so a login never stalls the async workers.

use std::sync::OnceLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{
        PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng,
    },
};
use secrecy::{ExposeSecret as _, SecretString};

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (hashing megabytes is a denial of service).
pub const MAX_LEN: usize = 1024;

const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Why a new password was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Under [`MIN_LEN`] characters.
    #[error("the password must be at least {MIN_LEN} characters long")]
    TooShort,
    /// Over [`MAX_LEN`] characters.
    #[error("the password must be at most {MAX_LEN} characters long")]
    TooLong,
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants within argon2's limits, so this cannot fail.
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .unwrap_or_else(|_| unreachable!("constant argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password's length.
pub fn validate(password: &SecretString) -> Result<(), PasswordError> {
    let len = password.expose_secret().chars().count();
    if len < MIN_LEN {
        Err(PasswordError::TooShort)
    } else if len > MAX_LEN {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// Hashes a password (blocking: call through [`hash_async`] from async code).
pub fn hash(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("failed to hash the password: {e}"))?
        .to_string())
}

/// [`hash`] on the blocking pool.
pub async fn hash_async(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or no such operator).
    No,
    /// Right password, hash as strong as today's parameters.
    Yes,
    /// Right password, but the hash is weaker than today's: store a new one.
    YesRehash,
}

/// Verifies `password` against `stored` (a PHC string), or against a fixed dummy hash when there
/// is no operator, so both cases take the same time.
pub fn verify(password: &SecretString, stored: Option<&str>) -> Verified {
    let Some(stored) = stored else {
        let _ = check(password, dummy_hash());
        return Verified::No;
    };
    match check(password, stored) {
        Some(true) if needs_rehash(stored) => Verified::YesRehash,
        Some(true) => Verified::Yes,
        _ => Verified::No,
    }
}

/// [`verify`] on the blocking pool.
pub async fn verify_async(password: SecretString, stored: Option<String>) -> Verified {
    tokio::task::spawn_blocking(move || verify(&password, stored.as_deref()))
        .await
        .unwrap_or(Verified::No)
}

fn check(password: &SecretString, stored: &str) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    // Verification uses the parameters recorded in the hash itself.
    Some(
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
    )
}

/// Whether a stored hash is weaker than today's parameters (another algorithm or lower costs).
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => p.m_cost() < M_COST || p.t_cost() < T_COST || p.p_cost() < P_COST,
        Err(_) => true,
    }
}

/// A hash of a random password, made once, for verifying unknown emails.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = SecretString::from(crate::crypto::random_hex(32));
        hash(&random).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn hashes_are_argon2id_with_our_parameters() {
        let h = hash(&secret("correct horse battery")).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(
            verify(&secret("correct horse battery"), Some(&h)),
            Verified::Yes
        );
        assert_eq!(verify(&secret("wrong password!!"), Some(&h)), Verified::No);
    }

    #[test]
    fn weaker_hashes_verify_and_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        assert_eq!(
            verify(&secret("correct horse battery"), Some(&weak)),
            Verified::YesRehash
        );
    }

    #[test]
    fn no_operator_never_verifies() {
        assert_eq!(verify(&secret("anything at all"), None), Verified::No);
        assert_eq!(verify(&secret("x"), Some("not a hash")), Verified::No);
    }

    #[test]
    fn length_rules() {
        assert_eq!(validate(&secret("short")), Err(PasswordError::TooShort));
        assert_eq!(validate(&secret("exactly12chr")), Ok(()));
        assert_eq!(
            validate(&secret(&"x".repeat(2000))),
            Err(PasswordError::TooLong)
        );
    }
}
