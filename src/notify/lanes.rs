//! One lane per endpoint in the delivery worker: how many of its messages this instance has in
//! flight, and a gate every send passes just before it goes out, which keeps the endpoint's
//! rate and its pause (`Retry-After`).
//!
//! The worker claims each endpoint's messages apart, up to that endpoint's room, so an endpoint
//! that answers slowly fills its own lane and never the slots of the others. The rate is kept
//! as a sliding window of the last sends: a send waits until fewer than `rate` went out in the
//! last [`WINDOW`], so the endpoint never receives more than `rate` in any second (the window is
//! a little over a second, for the network's jitter between sending and arriving). A pause that
//! one send learns of stops the sends waiting at the gate at once; they are given back unsent.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU32, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use crate::{clock::Clock, db::endpoints::LaneLimits};

/// The window of the rate: a second, and a tenth for the jitter between a send and its arrival.
pub(super) const WINDOW: Duration = Duration::from_millis(1100);

/// The gate of one endpoint, shared with its sends.
#[derive(Debug, Default)]
pub(super) struct Gate {
    /// Messages a second; `0`: no limit.
    rate: AtomicU32,
    /// Unix seconds; `0`: not paused.
    paused_until: AtomicI64,
    recent: tokio::sync::Mutex<VecDeque<Instant>>,
}

impl Gate {
    /// Waits for this send's turn under the rate; `false` when the endpoint is paused (now, or
    /// by the time the turn comes): the message is to be given back unsent.
    pub(super) async fn turn(&self, clock: &dyn Clock) -> bool {
        if self.paused(clock) {
            return false;
        }
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return true;
        }
        let mut recent = self.recent.lock().await;
        loop {
            let now = Instant::now();
            while recent
                .front()
                .is_some_and(|sent| now.duration_since(*sent) >= WINDOW)
            {
                recent.pop_front();
            }
            let Some(oldest) = recent.front().copied() else {
                break;
            };
            if recent.len() < rate as usize {
                break;
            }
            tokio::time::sleep_until(oldest + WINDOW).await;
            if self.paused(clock) {
                return false;
            }
        }
        recent.push_back(Instant::now());
        true
    }

    /// Pauses the endpoint until Unix second `until` (a later pause wins).
    pub(super) fn pause_until(&self, until: i64) {
        self.paused_until.fetch_max(until, Ordering::Relaxed);
    }

    fn paused(&self, clock: &dyn Clock) -> bool {
        clock.unix() < self.paused_until.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Lane {
    in_flight: usize,
    gate: Arc<Gate>,
}

/// Every endpoint's lane on this instance.
#[derive(Debug, Default)]
pub(super) struct Lanes {
    lanes: HashMap<String, Lane>,
    /// Where the next round starts claiming, so every endpoint gets its turn first.
    start: usize,
}

impl Lanes {
    /// Takes in what the database says of an endpoint, and answers how many of its messages may
    /// be claimed now (at most `concurrency`, the worker's own bound).
    pub(super) fn room(&mut self, limits: &LaneLimits, now: i64, concurrency: usize) -> usize {
        let lane = self.lanes.entry(limits.id.clone()).or_default();
        let rate = limits
            .rate_limit
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);
        lane.gate.rate.store(rate, Ordering::Relaxed);
        if let Some(until) = limits.paused_until {
            lane.gate.pause_until(until);
        }
        if lane.gate.paused_until.load(Ordering::Relaxed) > now {
            return 0;
        }
        let mut most = usize::try_from(limits.max_in_flight)
            .unwrap_or(1)
            .clamp(1, concurrency.max(1));
        if rate > 0 {
            // No more claimed than can go out within about a second: the others would only
            // wait at the gate while their leases run.
            most = most.min(rate as usize);
        }
        most.saturating_sub(lane.in_flight)
    }

    /// The endpoints in the order this round claims them: a different one first each round.
    pub(super) fn in_turn(&mut self, mut endpoints: Vec<LaneLimits>) -> Vec<LaneLimits> {
        if !endpoints.is_empty() {
            let first = self.start % endpoints.len();
            endpoints.rotate_left(first);
            self.start = self.start.wrapping_add(1);
        }
        endpoints
    }

    /// A message of `endpoint` was claimed; returns the gate its send passes.
    pub(super) fn claimed(&mut self, endpoint: &str) -> Arc<Gate> {
        let lane = self.lanes.entry(endpoint.to_owned()).or_default();
        lane.in_flight += 1;
        lane.gate.clone()
    }

    /// A send to `endpoint` is over (whatever came of it).
    pub(super) fn finished(&mut self, endpoint: &str) {
        if let Some(lane) = self.lanes.get_mut(endpoint) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limits(rate: Option<i64>, most: i64) -> LaneLimits {
        LaneLimits {
            id: "e".to_owned(),
            rate_limit: rate,
            max_in_flight: most,
            paused_until: None,
        }
    }

    #[test]
    fn room_is_the_most_in_flight_less_what_is_in_flight() {
        let mut lanes = Lanes::default();
        assert_eq!(lanes.room(&limits(None, 16), 0, 64), 16);
        assert_eq!(lanes.room(&limits(None, 100), 0, 64), 64);
        lanes.claimed("e");
        lanes.claimed("e");
        assert_eq!(lanes.room(&limits(None, 16), 0, 64), 14);
        assert_eq!(lanes.room(&limits(Some(5), 16), 0, 64), 3);
        lanes.finished("e");
        assert_eq!(lanes.room(&limits(None, 16), 0, 64), 15);
        let paused = LaneLimits {
            paused_until: Some(10),
            ..limits(None, 16)
        };
        assert_eq!(lanes.room(&paused, 9, 64), 0);
        assert_eq!(lanes.room(&paused, 10, 64), 15);
    }

    #[tokio::test]
    async fn the_gate_lets_rate_through_per_window_and_stops_when_paused() {
        let clock = ManualClock::new();
        let gate = Gate::default();
        gate.rate.store(2, Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(gate.turn(&clock).await);
        }
        // Two at once, the third a window later.
        assert!(start.elapsed() >= WINDOW, "{:?}", start.elapsed());
        gate.pause_until(clock.unix() + 3);
        assert!(!gate.turn(&clock).await);
        clock.advance(time::Duration::seconds(4));
        assert!(gate.turn(&clock).await);
    }
}
