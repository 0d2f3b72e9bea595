//! Failed-login throttling. Each subject (an account, or a client address) collects failures;
//! past a threshold within the window it is locked for a time that doubles with each further
//! failure. A locked subject is refused without its password being checked, so the right
//! password does not get through a lockout either.

use super::Db;

/// Failures are counted within this many seconds of each other.
pub const WINDOW_SECS: i64 = 15 * 60;
/// The first lockout lasts this long...
pub const FIRST_LOCK_SECS: i64 = 60;
/// ...doubling with each further failure, up to this.
pub const MAX_LOCK_SECS: i64 = 60 * 60;

/// A throttled subject and its threshold.
#[derive(Debug, Clone)]
pub struct Subject {
    key: String,
    threshold: i64,
}

impl Subject {
    /// One operator account, existing or not: 10 failures.
    pub fn account(email: &str) -> Self {
        Self {
            key: format!("account:{email}"),
            threshold: 10,
        }
    }

    /// One client address: more generous (several operators may share an office), 50 failures.
    pub fn client(ip: &str) -> Self {
        Self {
            key: format!("client:{ip}"),
            threshold: 50,
        }
    }
}

/// Seconds until `subject` may try again, if it is locked now.
pub async fn locked_for(db: &Db, subject: &Subject, now: i64) -> sqlx::Result<Option<i64>> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE subject = $1")
            .bind(&subject.key)
            .fetch_optional(db)
            .await?;
    Ok(until.filter(|&u| u > now).map(|u| u - now))
}

/// Records a failure. Returns the lockout it started, in seconds, if it started one.
pub async fn record_failure(db: &Db, subject: &Subject, now: i64) -> sqlx::Result<Option<i64>> {
    // One statement, so concurrent failures cannot lose a count: a quiet window (no failure for
    // WINDOW_SECS and no lock in force) starts the count again.
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_throttle (subject, failures, last_failure_at, locked_until)
         VALUES ($1, 1, $2, 0)
         ON CONFLICT (subject) DO UPDATE SET
             failures = CASE
                 WHEN login_throttle.last_failure_at < $2 - $3 AND login_throttle.locked_until <= $2
                 THEN 1 ELSE login_throttle.failures + 1 END,
             last_failure_at = $2
         RETURNING failures",
    )
    .bind(&subject.key)
    .bind(now)
    .bind(WINDOW_SECS)
    .fetch_one(db)
    .await?;
    if failures < subject.threshold {
        return Ok(None);
    }
    let lock = lock_duration(failures - subject.threshold);
    sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE subject = $2")
        .bind(now + lock)
        .bind(&subject.key)
        .execute(db)
        .await?;
    Ok(Some(lock))
}

/// After a successful login the account starts afresh.
pub async fn clear(db: &Db, subject: &Subject) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
        .bind(&subject.key)
        .execute(db)
        .await?;
    Ok(())
}

/// The lockout after `extra` failures past the threshold: 1 minute, doubling, at most 1 hour.
pub fn lock_duration(extra: i64) -> i64 {
    let doublings = extra.clamp(0, 12) as u32;
    (FIRST_LOCK_SECS << doublings).min(MAX_LOCK_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_up_to_an_hour() {
        assert_eq!(lock_duration(0), 60);
        assert_eq!(lock_duration(1), 120);
        assert_eq!(lock_duration(2), 240);
        assert_eq!(lock_duration(5), 1920);
        assert_eq!(lock_duration(6), 3600);
        assert_eq!(lock_duration(100), 3600);
    }
}
