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
    /// What kind of subject this is, for messages: "account" or "client address".
    pub fn kind(&self) -> &'static str {
        if self.key.starts_with("account:") {
            "account"
        } else {
            "client address"
        }
    }

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

/// What [`reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A failure is counted in advance: the password may be checked. If this failure reached
    /// the threshold, it also started a lockout of this many seconds (for everyone after it).
    Granted {
        /// The lockout this reservation started, in seconds.
        lock_started: Option<i64>,
    },
    /// Locked: refuse without checking the password, for this many more seconds.
    Locked(i64),
}

/// Counts a failure for `subject` *before* its password is checked, in one statement, so that
/// parallel attempts cannot all pass a check that reads the count first: of any number of
/// simultaneous attempts, at most the threshold are granted before the lockout they start
/// refuses the rest. An attempt that then succeeds gives its reservation back ([`release`],
/// or [`clear`] for the account that logged in).
pub async fn reserve(db: &Db, subject: &Subject, now: i64) -> sqlx::Result<Reservation> {
    // Within one UPDATE every column reads its old value, so the new count is spelled out where
    // the lockout needs it. The WHERE makes a locked subject's row return nothing: refused.
    // (PostgreSQL shifts a BIGINT by an INTEGER only, hence the CAST.)
    let backend = super::Backend::of_pool(db);
    let (least, greatest) = (backend.least(), backend.greatest());
    let count = "(CASE WHEN login_throttle.last_failure_at < $2 - $3
                       THEN 1 ELSE login_throttle.failures + 1 END)";
    let counted: Option<(i64, i64)> = sqlx::query_as(&format!(
        "INSERT INTO login_throttle (subject, failures, last_failure_at, locked_until)
         VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $2 + $5 ELSE 0 END)
         ON CONFLICT (subject) DO UPDATE SET
             failures = {count},
             last_failure_at = $2,
             locked_until = CASE
                 WHEN {count} >= $4
                 THEN $2 + {least}($5 << CAST({least}({greatest}({count} - $4, 0), 12) AS INTEGER), $6)
                 ELSE login_throttle.locked_until END
         WHERE login_throttle.locked_until <= $2
         RETURNING failures, locked_until",
    ))
    .bind(&subject.key)
    .bind(now)
    .bind(WINDOW_SECS)
    .bind(subject.threshold)
    .bind(FIRST_LOCK_SECS)
    .bind(MAX_LOCK_SECS)
    .fetch_optional(db)
    .await?;
    match counted {
        Some((_, locked_until)) => Ok(Reservation::Granted {
            lock_started: (locked_until > now).then_some(locked_until - now),
        }),
        None => Ok(Reservation::Locked(
            locked_for(db, subject, now).await?.unwrap_or(1),
        )),
    }
}

/// Gives back a reservation whose attempt was not a failure (the password was right, or it
/// was never checked): one failure fewer, and no lockout if that leaves the count under the
/// threshold.
pub async fn release(db: &Db, subject: &Subject) -> sqlx::Result<()> {
    let greatest = super::Backend::of_pool(db).greatest();
    sqlx::query(&format!(
        "UPDATE login_throttle SET
             failures = {greatest}(failures - 1, 0),
             locked_until = CASE WHEN failures - 1 < $2 THEN 0 ELSE locked_until END
         WHERE subject = $1",
    ))
    .bind(&subject.key)
    .bind(subject.threshold)
    .execute(db)
    .await?;
    Ok(())
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

    async fn db() -> (Db, tempfile::TempDir) {
        // A file: through the Any driver, each connection to `sqlite::memory:` is a database
        // of its own.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = crate::db::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TABLE login_throttle (subject TEXT PRIMARY KEY, failures INTEGER NOT NULL,
                 last_failure_at INTEGER NOT NULL, locked_until INTEGER NOT NULL DEFAULT 0)",
        )
        .execute(&db)
        .await
        .unwrap();
        (db, dir)
    }

    #[tokio::test]
    async fn reservations_stop_at_the_threshold_and_start_the_lockout() {
        let (db, _dir) = db().await;
        let account = Subject::account("a@example.com");
        for i in 1..10 {
            assert_eq!(
                reserve(&db, &account, 1000).await.unwrap(),
                Reservation::Granted { lock_started: None },
                "{i}"
            );
        }
        assert_eq!(
            reserve(&db, &account, 1000).await.unwrap(),
            Reservation::Granted {
                lock_started: Some(60)
            },
            "the tenth is checked and locks the rest out"
        );
        assert_eq!(
            reserve(&db, &account, 1000).await.unwrap(),
            Reservation::Locked(60)
        );
        // A right password among them gives its reservation back, and the lockout with it.
        release(&db, &account).await.unwrap();
        assert_eq!(locked_for(&db, &account, 1000).await.unwrap(), None);
        // After the lockout, the next failure locks for twice as long.
        reserve(&db, &account, 1000).await.unwrap();
        assert_eq!(
            reserve(&db, &account, 1061).await.unwrap(),
            Reservation::Granted {
                lock_started: Some(120)
            }
        );
        // A quiet window starts the count again.
        assert_eq!(
            reserve(&db, &account, 1061 + 120 + WINDOW_SECS + 1)
                .await
                .unwrap(),
            Reservation::Granted { lock_started: None }
        );
    }

    #[tokio::test]
    async fn parallel_reservations_grant_at_most_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = crate::db::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TABLE login_throttle (subject TEXT PRIMARY KEY, failures INTEGER NOT NULL,
                 last_failure_at INTEGER NOT NULL, locked_until INTEGER NOT NULL DEFAULT 0)",
        )
        .execute(&db)
        .await
        .unwrap();
        let account = Subject::account("a@example.com");
        let results = futures_join(&db, &account).await;
        let granted = results
            .iter()
            .filter(|r| matches!(r, Reservation::Granted { .. }))
            .count();
        assert_eq!(granted, 10, "{results:?}");
    }

    async fn futures_join(db: &Db, subject: &Subject) -> Vec<Reservation> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..120 {
            let (db, subject) = (db.clone(), subject.clone());
            tasks.spawn(async move { reserve(&db, &subject, 5000).await.unwrap() });
        }
        tasks.join_all().await
    }

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
