//! The time as storelink sees it. Handlers ask the [`Clock`] in the app state instead of the
//! system, so tests can move time forward (state expiry, code lifetimes) without waiting.

use std::sync::{Arc, Mutex};

use time::{
    Duration, OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description,
};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time as whole seconds since the Unix epoch, the form stored in the database.
    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock standing at the current system time.
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(OffsetDateTime::now_utc())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

const TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// Unix seconds as `2026-11-23 12:07:00 UTC`, the way pages and the command line show times.
pub fn fmt_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-23T12:07:00Z`), for `<time datetime>`.
pub fn fmt_iso(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// How long before `now` the moment `unix` was, in a few words: "just now", "3 min ago",
/// "5 h ago", "12 days ago"; after 60 days, the date. A moment ahead reads "in 3 min".
pub fn fmt_ago(unix: i64, now: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let seconds = now.saturating_sub(unix);
    let span = seconds.saturating_abs();
    let amount = match span {
        s if s < MINUTE => return "just now".to_owned(),
        s if s < HOUR => format!("{} min", s / MINUTE),
        s if s < DAY => format!("{} h", s / HOUR),
        s if s < 2 * DAY => "1 day".to_owned(),
        s if s < 60 * DAY => format!("{} days", s / DAY),
        _ => {
            return OffsetDateTime::from_unix_timestamp(unix)
                .map(|t| t.date().to_string())
                .unwrap_or_else(|_| unix.to_string());
        }
    };
    if seconds >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_how_long_ago() {
        let now = 1_795_000_000;
        assert_eq!(fmt_ago(now, now), "just now");
        assert_eq!(fmt_ago(now - 59, now), "just now");
        assert_eq!(fmt_ago(now - 180, now), "3 min ago");
        assert_eq!(fmt_ago(now - 5 * 3600 - 7, now), "5 h ago");
        assert_eq!(fmt_ago(now - 30 * 3600, now), "1 day ago");
        assert_eq!(fmt_ago(now - 12 * 86_400, now), "12 days ago");
        assert_eq!(fmt_ago(now + 600, now), "in 10 min");
        assert_eq!(fmt_ago(0, now), "1970-01-01");
        assert_eq!(fmt_iso(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let start = clock.unix();
        assert_eq!(clock.unix(), start);
        clock.advance(Duration::minutes(11));
        assert_eq!(clock.unix(), start + 660);
    }
}
