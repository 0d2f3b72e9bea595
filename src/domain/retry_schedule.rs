//! The retry schedule: how long to wait after each failed attempt before the next one
//! (`STORELINK_NOTIFY_RETRY_SCHEDULE`, default `5s,5m,30m,2h,5h,10h,10h`: eight attempts over
//! about 28 hours). Each wait gets up to a tenth more, at random, so endpoints that failed
//! together are not all retried in the same second.

use std::time::Duration;

use rand::Rng as _;

/// The waits between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// The default schedule, as the setting would spell it.
pub(super) const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(DEFAULT).unwrap_or_else(|_| Self(Vec::new()))
    }
}

impl RetrySchedule {
    /// Parses `5s,5m,2h,1d`: whole numbers with a unit (`s`, `m`, `h`, `d`), at least one, each
    /// at least one second and at most a week.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut waits = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (number, unit) = part.split_at(part.len().saturating_sub(1));
            let seconds_per = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(format!("{part:?} is not a wait like 5s, 5m, 2h or 1d")),
            };
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{part:?} is not a wait like 5s, 5m, 2h or 1d"))?;
            let seconds = n.saturating_mul(seconds_per);
            if !(1..=7 * 86_400).contains(&seconds) {
                return Err(format!("{part:?} must be between 1 second and 7 days"));
            }
            waits.push(Duration::from_secs(seconds));
        }
        if waits.is_empty() {
            return Err("give at least one wait".to_owned());
        }
        Ok(Self(waits))
    }

    /// How many attempts a message gets in all: the first, and one after each wait.
    pub fn attempts(&self) -> i64 {
        i64::try_from(self.0.len())
            .unwrap_or(i64::MAX)
            .saturating_add(1)
    }

    /// The wait after failed attempt number `attempt` (1-based), before jitter; `None` when that
    /// was the last attempt.
    pub fn wait_after(&self, attempt: i64) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.0.get(index).copied()
    }

    /// The longest wait of the schedule: no pause an endpoint asks for (`Retry-After`) is
    /// longer.
    pub fn longest_wait(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }

    /// [`Self::wait_after`] in whole seconds, with up to a tenth more at random.
    pub fn jittered_secs_after(&self, attempt: i64) -> Option<i64> {
        let wait = self.wait_after(attempt)?.as_secs();
        let jitter = rand::thread_rng().gen_range(0..=wait / 10);
        i64::try_from(wait + jitter).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_eight_attempts() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.wait_after(1), Some(Duration::from_secs(5)));
        assert_eq!(s.wait_after(2), Some(Duration::from_secs(300)));
        assert_eq!(s.wait_after(7), Some(Duration::from_secs(36_000)));
        assert_eq!(s.wait_after(8), None);
        assert_eq!(s.wait_after(0), None);
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        let s = RetrySchedule::parse("100s").unwrap();
        for _ in 0..200 {
            let wait = s.jittered_secs_after(1).unwrap();
            assert!((100..=110).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in ["", "5", "5x", "0s", "8d", "5s,,5m", "-1s"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RetrySchedule::parse("1s, 2m,3h,1d").unwrap().attempts(), 5);
    }
}
