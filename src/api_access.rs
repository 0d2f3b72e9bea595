//! Who may use the vendor API, and how often: the key check, the per-key rate limit, and the
//! throttles that keep a busy backend from writing to the database on every request (a key's
//! last use is recorded at most once a minute; a token read is audited at most once per key,
//! install and minute).
//!
//! The rate limit and throttles are per process: with several instances, each allows the full
//! rate (docs/settings.md says so). Merchant Center users (forwarded by the commercetools
//! gateway, without a key) get the same rate each.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};

use crate::{
    db::{
        Db,
        api_keys::{self, Caller},
        audit::{self, Action},
    },
    domain::api_key::ApiKeySecret,
};

/// A key's last use is written at most this often, in seconds.
const TOUCH_EVERY_SECS: i64 = 60;
/// A key's reads of one install's token are audited at most this often, in seconds.
const AUDIT_READS_EVERY_SECS: i64 = 60;
/// Throttle entries kept before old ones are dropped.
const MAX_THROTTLE_ENTRIES: usize = 10_000;

/// Why a request was refused before it reached its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No key, a malformed, unknown or revoked one: all the same to the caller.
    Unauthorized,
    /// Past the key's rate: try again after this long.
    RateLimited(Duration),
    /// The database could not be asked.
    Unavailable,
}

/// The vendor API's gate, held in the app state.
pub struct ApiAccess {
    limiter: Option<DefaultKeyedRateLimiter<i64>>,
    /// The same rate for each Merchant Center user whose requests the commercetools gateway
    /// forwards (they hold no key, but are no less able to flood).
    forwarded_limiter: Option<DefaultKeyedRateLimiter<String>>,
    touched: Mutex<HashMap<i64, i64>>,
    reads: Mutex<HashMap<(i64, String), i64>>,
    /// Token reads of callers without a key (Merchant Center users), by actor and install.
    forwarded_reads: Mutex<HashMap<(String, String), i64>>,
}

/// The key an `Authorization` header presents (`Bearer slk_...`), if it is well formed; not
/// yet looked up (a malformed one is refused without a query).
pub(crate) fn presented_key(authorization: Option<&[u8]>) -> Option<ApiKeySecret> {
    authorization
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(bearer)
        .and_then(ApiKeySecret::parse)
}

/// A failed key lookup, logged: the caller is told to try again.
pub(crate) fn unavailable(error: sqlx::Error) -> Refused {
    tracing::error!(error = %error, "API: cannot look the key up");
    Refused::Unavailable
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps of timestamps: a panic elsewhere cannot leave them inconsistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ApiAccess {
    /// A gate allowing `per_second` requests a second per key, in bursts of twice that; `0`
    /// turns the limit off.
    pub fn new(per_second: u32) -> Self {
        let quota = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            Quota::per_second(rate).allow_burst(burst)
        });
        Self {
            limiter: quota.map(RateLimiter::keyed),
            forwarded_limiter: quota.map(RateLimiter::keyed),
            touched: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
            forwarded_reads: Mutex::new(HashMap::new()),
        }
    }

    /// The caller a well-formed key ([`presented_key`]) names, within its rate, its use
    /// recorded. Every such key costs one lookup by hash, right or wrong.
    pub async fn admit(&self, db: &Db, key: &ApiKeySecret, now: i64) -> Result<Caller, Refused> {
        let caller = api_keys::find_live(db, &key.hash())
            .await
            .map_err(unavailable)?
            .ok_or(Refused::Unauthorized)?;
        self.admit_live(db, caller, now).await
    }

    /// [`Self::admit`] for a caller whose key was found live by the request's own query (the
    /// endpoints that read an install read the key with it): within its rate, its use recorded.
    pub async fn admit_live(&self, db: &Db, caller: Caller, now: i64) -> Result<Caller, Refused> {
        if let Some(limiter) = &self.limiter
            && let Err(not_until) = limiter.check_key(&caller.id)
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Refused::RateLimited(wait));
        }
        self.touch(db, &caller, now).await;
        Ok(caller)
    }

    /// Lets a Merchant Center user's forwarded request through if it is within the rate
    /// (`actor` names the user: `merchant-center:{sub}`); else how long to wait.
    pub fn admit_forwarded(&self, actor: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.forwarded_limiter else {
            return Ok(());
        };
        limiter
            .check_key(&actor.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets callers whose allowance is full again, so the limiters hold only recent ones.
    pub fn sweep(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.forwarded_limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Records the key's use, at most once a minute.
    async fn touch(&self, db: &Db, caller: &Caller, now: i64) {
        if !due(&self.touched, caller.id, now, TOUCH_EVERY_SECS) {
            return;
        }
        if let Err(e) = api_keys::touch(db, caller.id, now).await {
            // Losing a last-used time is not worth failing the request for.
            tracing::warn!(error = %e, key = %caller.name, "API: cannot record the key's use");
        }
    }

    /// Audits a Merchant Center user's (`actor`, e.g. `merchant-center:{sub}`) read of
    /// `install_id`'s token, at most once per user, install and minute.
    pub async fn note_forwarded_token_read(
        &self,
        db: &Db,
        actor: &str,
        install_id: &str,
        now: i64,
    ) -> sqlx::Result<()> {
        if !due(
            &self.forwarded_reads,
            (actor.to_owned(), install_id.to_owned()),
            now,
            AUDIT_READS_EVERY_SECS,
        ) {
            return Ok(());
        }
        audit::record_now(
            db,
            now,
            actor,
            Action::TokenRead,
            Some(install_id),
            "access token read through the API, forwarded by the Merchant Center gateway",
            &[],
        )
        .await
    }

    /// Audits `caller`'s read of `install_id`'s token, at most once per key, install and minute.
    pub async fn note_token_read(
        &self,
        db: &Db,
        caller: &Caller,
        install_id: &str,
        now: i64,
    ) -> sqlx::Result<()> {
        if !due(
            &self.reads,
            (caller.id, install_id.to_owned()),
            now,
            AUDIT_READS_EVERY_SECS,
        ) {
            return Ok(());
        }
        api_keys::record_token_read(db, caller, install_id, now).await
    }
}

/// Whether `key` was last marked `every` or more seconds ago (or never); marks it if so. The
/// map's lock is held for a lookup and an insert only, so requests do not queue behind it.
fn due<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, i64>>,
    key: K,
    now: i64,
    every: i64,
) -> bool {
    let mut map = locked(map);
    if map.get(&key).is_some_and(|last| now - last < every) {
        return false;
    }
    if map.len() >= MAX_THROTTLE_ENTRIES {
        map.retain(|_, last| now - *last < every);
    }
    map.insert(key, now);
    true
}

/// The token of `Bearer <token>` (the scheme's case does not matter).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn throttles_let_one_through_per_period() {
        let map = Mutex::new(HashMap::new());
        assert!(due(&map, 1, 1000, 60));
        assert!(!due(&map, 1, 1059, 60));
        assert!(due(&map, 2, 1059, 60));
        assert!(due(&map, 1, 1060, 60));
    }

    #[test]
    fn the_rate_limit_allows_a_burst_of_twice_the_rate() {
        let access = ApiAccess::new(5);
        let limiter = access.limiter.as_ref().unwrap();
        let allowed = (0..20).filter(|_| limiter.check_key(&7).is_ok()).count();
        assert_eq!(allowed, 10);
        assert!(ApiAccess::new(0).limiter.is_none());
        let forwarded = (0..20)
            .filter(|_| access.admit_forwarded("merchant-center:u1").is_ok())
            .count();
        assert_eq!(forwarded, 10, "a forwarded user has the same rate");
        assert!(access.admit_forwarded("merchant-center:u2").is_ok());
        assert!(
            ApiAccess::new(0)
                .admit_forwarded("merchant-center:u1")
                .is_ok()
        );
    }
}
