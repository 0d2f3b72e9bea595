//! Operator passwords: argon2id (m=19456 KiB, t=2, p=1) in PHC strings, hashed and verified on
//! the blocking pool so a login never stalls the async workers, and never more at once than
//! [`PasswordChecks`] allows (each check holds 19 MiB).

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use tokio::sync::Semaphore;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng},
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
    hash_in(password, &mut Vec::new())
}

/// [`hash`], with argon2's working memory in `memory` (grown to size if needed, kept for the
/// next check).
fn hash_in(password: &SecretString, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hasher = hasher();
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("failed to hash the password: {e}");
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let params = hasher.params().clone();
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        hasher
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                salt_bytes,
                out,
                sized(memory, &params),
            )
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// `memory`, grown to what `params` needs, as the slice argon2 works in.
fn sized<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    &mut memory[..needed]
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
    verify_in(password, stored, &mut Vec::new())
}

/// [`verify`], with argon2's working memory in `memory`.
fn verify_in(password: &SecretString, stored: Option<&str>, memory: &mut Vec<Block>) -> Verified {
    let Some(stored) = stored else {
        let _ = check(password, dummy_hash(), memory);
        return Verified::No;
    };
    match check(password, stored, memory) {
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

/// The cap on password work running at once: each argon2 check or hash needs 19 MiB, so a
/// burst of logins must queue, not pile up in memory. The memory itself is reused: each of the
/// at most `max` checks running takes a buffer from a pool and puts it back, so storelink holds
/// at most `max` × 19 MiB for passwords whatever the allocator keeps of freed memory. A request
/// that cannot start within [`PasswordChecks::wait`] is turned away ([`Busy`]) rather than
/// queued without end.
#[derive(Debug, Clone)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    memory: Arc<std::sync::Mutex<Vec<Vec<Block>>>>,
    wait: Duration,
}

/// Too many password checks are running: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many logins are being checked at once")]
pub struct Busy;

impl PasswordChecks {
    /// At most `max` checks at once; others wait up to `wait` for their turn.
    pub fn new(max: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
            memory: Arc::default(),
            wait,
        }
    }

    /// How long a check waits for its turn before it is refused.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// How many checks can start right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let pool = self.memory.clone();
        // The permit goes with the work: a request abandoned mid-check still holds its slot
        // until the check is over, so the cap is on memory actually in use.
        Ok(tokio::task::spawn_blocking(move || {
            let take = |pool: &std::sync::Mutex<Vec<Vec<Block>>>| {
                pool.lock().unwrap_or_else(|p| p.into_inner()).pop()
            };
            let mut memory = take(&pool).unwrap_or_default();
            let result = work(&mut memory);
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
            drop(permit);
            result
        })
        .await
        .ok())
    }

    /// [`verify`], in turn.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, Busy> {
        Ok(self
            .run(move |memory| verify_in(&password, stored.as_deref(), memory))
            .await?
            .unwrap_or(Verified::No))
    }

    /// [`hash`], in turn.
    pub async fn hash(&self, password: SecretString) -> Result<anyhow::Result<String>, Busy> {
        Ok(self
            .run(move |memory| hash_in(&password, memory))
            .await?
            .unwrap_or_else(|| Err(anyhow::anyhow!("the hashing task failed"))))
    }
}

/// Whether `password` matches the PHC string `stored`, computed with the parameters, version and
/// salt recorded in it, in `memory`, and compared in constant time. `None`: not a hash we can
/// check.
fn check(password: &SecretString, stored: &str, memory: &mut Vec<Block>) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let mut computed = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut computed,
            sized(memory, &params),
        )
        .ok()?;
    Some(crate::crypto::constant_time_eq(
        &computed,
        expected.as_bytes(),
    ))
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
    use argon2::password_hash::PasswordHasher as _;

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_cap_wait_then_are_refused() {
        let checks = PasswordChecks::new(1, Duration::from_millis(50));
        let stored = hash(&secret("correct horse battery")).unwrap();
        let started = std::time::Instant::now();
        let all = futures::future::join_all(
            (0..4).map(|_| checks.verify(secret("correct horse battery"), Some(stored.clone()))),
        )
        .await;
        assert!(all.contains(&Ok(Verified::Yes)));
        assert!(all.contains(&Err(Busy)), "{all:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(checks.available(), 1, "every permit is given back");
    }

    #[test]
    fn checks_in_reused_memory_agree_with_the_argon2_crate() {
        use argon2::password_hash::PasswordVerifier as _;
        let mut memory = Vec::new();
        let ours = hash_in(&secret("correct horse battery"), &mut memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok(),
            "the argon2 crate accepts our hash"
        );
        let theirs = hasher()
            .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        for stored in [&ours, &theirs] {
            assert_eq!(
                check(&secret("correct horse battery"), stored, &mut memory),
                Some(true)
            );
            assert_eq!(
                check(&secret("correct horse batterY"), stored, &mut memory),
                Some(false)
            );
        }
        assert_eq!(memory.len(), 19_456, "one buffer, reused");
        assert_eq!(check(&secret("x"), "garbage", &mut memory), None);
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
