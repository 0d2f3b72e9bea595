//! Rate budgets as values: a ceiling ([`Rate`]), a budget's state and the decision on one call
//! ([`State::decide`], GCRA with turns held for refused callers), and what a platform's answer
//! says about slowing down ([`stop_until`]). Where budgets are kept and how calls draw on them is
//! [`crate::platforms::kit::budget`]'s.
//!
//! The ceiling is kept as GCRA (the generic cell rate algorithm): one "theoretical arrival time"
//! per budget, the moment the next call may go; a call takes that moment and moves it one
//! interval on, so calls are never closer than the interval. Every caller waits for a moment
//! less than a second away (no `Retry-After` can say less). A caller that may wait longer (a
//! check, a token request, the vendor's `Prefer: wait=N`) takes the next moment in order of
//! arrival and sleeps until it; one that may not is refused, its moment is kept for it as a
//! [`Turn`], and it is told to come back the whole number of seconds before it: coming back
//! then, it takes the turn and waits the fraction of a second left. Times are microseconds since
//! the Unix epoch.

use std::time::{Duration, UNIX_EPOCH};

use http::HeaderMap;

/// How long a turn held for a refused caller stays held after it was told to come back, in
/// microseconds.
pub const TURN_GRACE_US: i64 = 3_000_000;
/// A second, in microseconds.
const SECOND: i64 = 1_000_000;
/// How long a turn is kept for the caller it was given to once it is due; after that, whoever
/// comes takes it.
const OWNER_WINDOW_US: i64 = 500_000;
/// The furthest ahead a refused caller's turn is held: beyond this, the caller is told when to
/// come back, but nothing is held for it.
const MAX_QUEUE_US: i64 = 60_000_000;
/// Turns held per budget at most.
const MAX_TURNS: usize = 256;
/// The longest a platform's "slow down" is taken for (a longer `Retry-After` is capped).
pub const MAX_BLOCK: Duration = Duration::from_secs(3600);
/// How long a `429` without a usable `Retry-After` stops the budget.
const DEFAULT_BLOCK: Duration = Duration::from_secs(1);

/// A ceiling of ours: `calls` per second or per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    calls: u32,
    per_minute: bool,
}

impl Rate {
    /// `calls` a second.
    pub const fn per_second(calls: u32) -> Self {
        Self {
            calls: if calls == 0 { 1 } else { calls },
            per_minute: false,
        }
    }

    /// `calls` a minute.
    pub const fn per_minute(calls: u32) -> Self {
        Self {
            calls: if calls == 0 { 1 } else { calls },
            per_minute: true,
        }
    }

    /// Reads `N/s`, `N/min` or a bare `N` (a second); `0` (in any form) is no ceiling of ours.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        let (number, per_minute) = match text.split_once('/') {
            Some((n, "s" | "sec" | "second")) => (n, false),
            Some((n, "min" | "minute")) => (n, true),
            Some(_) => return Err(format!("expected N/s, N/min or N, got {text:?}")),
            None => (text, false),
        };
        let calls: u32 = number
            .trim()
            .parse()
            .map_err(|_| format!("expected N/s, N/min or N, got {text:?}"))?;
        Ok((calls > 0).then_some(Self { calls, per_minute }))
    }

    /// The time between two calls, in microseconds.
    pub fn interval_us(self) -> i64 {
        let period: i64 = if self.per_minute {
            60_000_000
        } else {
            1_000_000
        };
        period / i64::from(self.calls)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.per_minute { "min" } else { "s" };
        write!(f, "{}/{unit}", self.calls)
    }
}

/// What a caller may do when the budget has no room now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Wait up to this long for its turn (checks, token requests, `Prefer: wait=N`).
    Wait(Duration),
    /// Not wait: be refused with when to come back (and a turn held then).
    Refuse,
}

/// What the budget said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go now.
    Now,
    /// Go at this moment (microseconds since the Unix epoch): a turn was taken.
    At(i64),
    /// No room: come back at this moment (microseconds since the Unix epoch).
    Refused(i64),
}

/// A budget's state: when the next call may go (GCRA's theoretical arrival time), until when
/// the platform said to stop, and the turns held for refused callers (microseconds since the
/// Unix epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// When the next call may go.
    pub tat: i64,
    /// Until when the platform said to stop.
    pub blocked_until: i64,
    /// Turns held for refused callers, by when they come back.
    pub turns: Vec<Turn>,
}

impl State {
    /// Decides a call at `now` with the ceiling `rate` for a caller with `patience`, and moves
    /// the state on. `caller` tells a caller that comes back from others (the vendor's key and
    /// connection, hashed); `0` for storelink's own calls, which wait instead.
    pub fn decide(
        &mut self,
        rate: Option<Rate>,
        patience: Patience,
        now: i64,
        caller: u64,
    ) -> Admission {
        self.turns.retain(|turn| turn.back + TURN_GRACE_US > now);
        let step = rate.map_or(0, Rate::interval_us);
        // Every caller waits for a moment less than a second away: `Retry-After` cannot say
        // less than a second.
        let max_wait = match patience {
            Patience::Wait(wait) => micros(wait).max(SECOND - 1),
            Patience::Refuse => SECOND - 1,
        };
        // A caller told to come back now takes the turn kept for it, and waits the fraction of a
        // second left until it. A turn whose caller did not come back within
        // [`OWNER_WINDOW_US`] goes to whoever comes (it came back on another connection, or
        // not at all).
        let due = self
            .turns
            .iter()
            .position(|turn| caller != 0 && turn.owner == caller && turn.back <= now)
            .or_else(|| {
                self.turns
                    .iter()
                    .position(|turn| turn.back + OWNER_WINDOW_US <= now)
            });
        if let Some(due) = due {
            let turn = self.turns.remove(due);
            let at = turn.at.max(self.blocked_until);
            // A lapsed turn's moment is past: used now, it would crowd the next one; it is
            // given up, and whoever came goes the way of any caller.
            let own = caller != 0 && turn.owner == caller;
            if own && at - now <= max_wait {
                return Self::at(at, now);
            }
            // (Its own, but the platform stopped the budget past it: refused again.)
        }
        let free_at = now.max(self.blocked_until).max(self.tat);
        if free_at - now <= max_wait {
            self.tat = free_at + step;
            return Self::at(free_at, now);
        }
        self.hold_turn(free_at, step, now, caller)
    }

    fn at(at: i64, now: i64) -> Admission {
        if at <= now {
            Admission::Now
        } else {
            Admission::At(at)
        }
    }

    /// Refuses a caller that may not wait until `free_at`: the moment is kept for it, and it is
    /// told to come back a whole number of seconds from `now` (what `Retry-After` can say),
    /// the last such moment before its turn, so it waits less than a second when it does.
    /// Beyond [`MAX_QUEUE_US`] (or [`MAX_TURNS`]) nothing is kept: it is told `free_at`.
    fn hold_turn(&mut self, free_at: i64, step: i64, now: i64, owner: u64) -> Admission {
        if free_at - now > MAX_QUEUE_US || self.turns.len() >= MAX_TURNS {
            return Admission::Refused(free_at);
        }
        let back = now + (free_at - now) / SECOND * SECOND;
        self.tat = free_at + step;
        let index = self.turns.partition_point(|turn| turn.back <= back);
        self.turns.insert(
            index,
            Turn {
                back,
                at: free_at,
                owner,
            },
        );
        Admission::Refused(back)
    }

    /// Takes the platform's word that nothing may go before `until`.
    pub fn block(&mut self, until: i64) {
        self.blocked_until = self.blocked_until.max(until);
    }
}

/// A turn kept for a refused caller: when it was told to come back, and its moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Turn {
    /// When the caller was told to come back (its `Retry-After`).
    pub back: i64,
    /// The moment kept for it (less than a second later).
    pub at: i64,
    /// Who it is kept for (see [`State::decide`]).
    pub owner: u64,
}

/// Until when the platform's answer says to stop (microseconds since the Unix epoch), if it
/// does: a `429` or `503` with `Retry-After` (seconds or an HTTP date), a `429` without one (a
/// second), or `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (seconds to wait, or a Unix
/// time). Capped at [`MAX_BLOCK`].
pub fn stop_until(status: u16, headers: &HeaderMap, now: i64) -> Option<i64> {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|text| delay(text, now));
    let wait = match status {
        429 => Some(retry_after.unwrap_or(DEFAULT_BLOCK)),
        503 => retry_after,
        _ => None,
    }
    .or_else(|| exhausted_until(headers, now));
    wait.map(|wait| now + micros(wait.min(MAX_BLOCK)))
}

/// `X-RateLimit-Remaining: 0` with a reset: how long until the reset.
fn exhausted_until(headers: &HeaderMap, now: i64) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if number("x-ratelimit-remaining")? != 0 {
        return None;
    }
    let reset = number("x-ratelimit-reset")?;
    // A reset in the billions is a Unix time; otherwise seconds to wait.
    let now_secs = u64::try_from(now / 1_000_000).unwrap_or(0);
    Some(if reset > 1_000_000_000 {
        Duration::from_secs(reset.saturating_sub(now_secs))
    } else {
        Duration::from_secs(reset)
    })
}

/// A `Retry-After` value: delay-seconds or an HTTP date.
fn delay(text: &str, now: i64) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    let at = at.duration_since(UNIX_EPOCH).ok()?;
    let now = Duration::from_micros(u64::try_from(now).unwrap_or(0));
    Some(at.saturating_sub(now))
}

/// `d` in microseconds.
pub fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// What a page shows of a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The budget's key.
    pub key: String,
    /// Until when the platform said to stop (microseconds since the Unix epoch), 0 if never.
    pub blocked_until: i64,
    /// When the platform last said to slow down (Unix seconds), and with which status.
    pub slowed: Option<(i64, u16)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn rates_are_read_as_documented() {
        assert_eq!(Rate::parse("5/s").unwrap(), Some(Rate::per_second(5)));
        assert_eq!(Rate::parse("5").unwrap(), Some(Rate::per_second(5)));
        assert_eq!(Rate::parse("500/min").unwrap(), Some(Rate::per_minute(500)));
        assert_eq!(Rate::parse("0").unwrap(), None);
        assert_eq!(Rate::parse("0/min").unwrap(), None);
        for bad in ["", "five", "5/h", "-1", "5/"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate::per_minute(500).to_string(), "500/min");
        assert_eq!(Rate::per_second(5).interval_us(), 200_000);
    }

    #[test]
    fn calls_are_spaced_by_the_rate_and_refused_callers_get_a_turn() {
        let rate = Some(Rate::per_second(2));
        let mut state = State::default();
        let t = 100 * S;
        assert_eq!(state.decide(rate, Patience::Refuse, t, 1), Admission::Now);
        // The next moment is 500 ms away: waited for (less than a second).
        assert_eq!(
            state.decide(rate, Patience::Refuse, t, 1),
            Admission::At(t + 500_000)
        );
        // A second away is too far to wait unasked: refused, told 1 s, its moment kept.
        assert_eq!(
            state.decide(rate, Patience::Refuse, t, 1),
            Admission::Refused(t + S)
        );
        assert_eq!(
            state.decide(rate, Patience::Refuse, t, 1),
            Admission::Refused(t + S)
        );
        assert_eq!(
            state.decide(rate, Patience::Refuse, t, 1),
            Admission::Refused(t + 2 * S)
        );
        assert_eq!(state.turns.len(), 3);
        // Coming back when told, each finds its moment kept, less than a second away.
        assert_eq!(
            state.decide(rate, Patience::Refuse, t + S, 1),
            Admission::Now
        );
        assert_eq!(
            state.decide(rate, Patience::Refuse, t + S, 1),
            Admission::At(t + 1_500_000)
        );
        assert_eq!(
            state.decide(rate, Patience::Refuse, t + 2 * S, 1),
            Admission::Now
        );
        assert!(state.turns.is_empty());
    }

    #[test]
    fn twenty_callers_use_the_rate_and_no_two_calls_come_closer_than_it() {
        let rate = Some(Rate::per_second(5));
        let mut state = State::default();
        let mut admitted = Vec::new();
        let (mut told, mut refused_again) = (0, 0);
        // Twenty callers, each calling again a millisecond after its answer, or when told.
        let start = 100 * S;
        let end = start + 20 * S;
        let mut next: Vec<(i64, bool)> = vec![(start, false); 20];
        let mut now = start;
        while now < end {
            for (caller, (due, returning)) in next.iter_mut().enumerate() {
                if *due > now {
                    continue;
                }
                match state.decide(rate, Patience::Refuse, now, caller as u64 + 1) {
                    Admission::Now => {
                        admitted.push(now);
                        *due = now + 1_000;
                        *returning = false;
                    }
                    Admission::At(at) => {
                        admitted.push(at);
                        *due = at + 1_000;
                        *returning = false;
                    }
                    Admission::Refused(at) => {
                        refused_again += usize::from(*returning);
                        told += 1;
                        *due = at;
                        *returning = true;
                    }
                }
            }
            now += 1_000;
        }
        admitted.sort_unstable();
        assert!(admitted.windows(2).all(|w| w[1] - w[0] >= 200_000));
        assert!(
            admitted.len() >= 98,
            "{} of 100 moments used",
            admitted.len()
        );
        assert!(told > 20);
        // Each caller that comes back as told finds its turn.
        assert_eq!(refused_again, 0, "of {told}");
    }

    #[test]
    fn waiting_callers_take_turns_in_order_of_arrival() {
        let rate = Some(Rate::per_second(5));
        let mut state = State::default();
        let t = 100 * S;
        let wait = Patience::Wait(Duration::from_secs(2));
        assert_eq!(state.decide(rate, wait, t, 1), Admission::Now);
        for n in 1..=10 {
            assert_eq!(
                state.decide(rate, wait, t, 1),
                Admission::At(t + n * 200_000)
            );
        }
        // Past the patience: refused, with when to come back.
        assert_eq!(
            state.decide(rate, wait, t, 1),
            Admission::Refused(t + 2 * S)
        );
    }

    #[test]
    fn a_turn_not_taken_lapses() {
        let rate = Some(Rate::per_second(1));
        let mut state = State::default();
        let t = 100 * S;
        state.decide(rate, Patience::Refuse, t, 1);
        assert_eq!(
            state.decide(rate, Patience::Refuse, t, 1),
            Admission::Refused(t + S)
        );
        assert_eq!(state.turns.len(), 1);
        state.decide(rate, Patience::Refuse, t + S + TURN_GRACE_US + 1, 1);
        assert!(state.turns.is_empty());
    }

    #[test]
    fn the_platforms_stop_holds_every_caller_without_a_ceiling_of_ours() {
        let mut state = State::default();
        let t = 100 * S;
        assert_eq!(state.decide(None, Patience::Refuse, t, 1), Admission::Now);
        assert_eq!(state.decide(None, Patience::Refuse, t, 1), Admission::Now);
        state.block(t + 3 * S);
        // Two seconds before the end: told to come back in 2 s.
        assert_eq!(
            state.decide(None, Patience::Refuse, t + S, 1),
            Admission::Refused(t + 3 * S)
        );
        assert_eq!(
            state.decide(None, Patience::Wait(Duration::from_secs(5)), t + S, 1),
            Admission::At(t + 3 * S)
        );
        // Less than a second before: waited for.
        assert_eq!(
            state.decide(None, Patience::Refuse, t + 2 * S + 1, 1),
            Admission::At(t + 3 * S)
        );
        assert_eq!(
            state.decide(None, Patience::Refuse, t + 3 * S, 1),
            Admission::Now
        );
        // A shorter stop does not shorten a longer one.
        state.block(t + 10 * S);
        state.block(t + 4 * S);
        assert_eq!(state.blocked_until, t + 10 * S);
    }

    #[test]
    fn the_platforms_answers_say_how_long_to_stop() {
        let t = 1_800_000_000 * S;
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            map
        };
        assert_eq!(
            stop_until(429, &headers(&[("retry-after", "3")]), t),
            Some(t + 3 * S)
        );
        assert_eq!(stop_until(429, &headers(&[]), t), Some(t + S), "a second");
        assert_eq!(
            stop_until(503, &headers(&[("retry-after", "7")]), t),
            Some(t + 7 * S)
        );
        assert_eq!(
            stop_until(503, &headers(&[]), t),
            None,
            "a 503 alone says nothing"
        );
        assert_eq!(stop_until(200, &headers(&[("retry-after", "3")]), t), None);
        assert_eq!(
            stop_until(
                200,
                &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "2")]),
                t
            ),
            Some(t + 2 * S)
        );
        assert_eq!(
            stop_until(
                200,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1800000005")
                ]),
                t
            ),
            Some(t + 5 * S),
            "a reset given as a Unix time"
        );
        assert_eq!(
            stop_until(
                200,
                &headers(&[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", "2")]),
                t
            ),
            None
        );
        assert_eq!(
            stop_until(429, &headers(&[("retry-after", "999999")]), t),
            Some(t + 3600 * S),
            "capped"
        );
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_800_000_010));
        assert_eq!(
            stop_until(429, &headers(&[("retry-after", &date)]), t),
            Some(t + 10 * S)
        );
    }
}
