//! Rate limits on anonymous requests that write or spend something (starting a flow, a callback
//! without a state), per client address, with [`governor`]'s GCRA.

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    time::Duration,
};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock as _};

/// A per-client-address limit of `n` requests a minute (in a burst of at most `n`).
#[derive(Debug)]
pub struct RateLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl RateLimit {
    /// `per_minute` requests a minute per client address; 0 turns the limit off.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// Takes one request for `client`, or says how long it must wait (at least a second).
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&key(client)).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            wait.max(Duration::from_secs(1))
        })
    }

    /// Forgets clients whose allowance is full again, so the table does not grow forever.
    pub fn sweep(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (one host usually holds
/// a whole /64, and could otherwise rotate through it).
fn key(client: IpAddr) -> IpAddr {
    match crate::client_addr::canonical(client) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The limits on anonymous writes into the install flow.
#[derive(Debug)]
pub struct InstallLimits {
    /// `GET`/`POST /install/...`: each writes a flow and a session.
    pub starts: RateLimit,
    /// Callbacks without a state (Maropost panel installs): each spends a token request with
    /// storelink's client secret.
    pub stateless_callbacks: RateLimit,
}

impl InstallLimits {
    /// Both limits at `per_minute` per client address (counted apart); 0 turns them off.
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            starts: RateLimit::per_minute(per_minute),
            stateless_callbacks: RateLimit::per_minute(per_minute),
        }
    }

    /// Forgets clients that are back to a full allowance.
    pub fn sweep(&self) {
        self.starts.sweep();
        self.stateless_callbacks.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_allowance_is_told_how_long_to_wait() {
        let limit = RateLimit::per_minute(3);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        for _ in 0..3 {
            limit.check(a).unwrap();
        }
        let wait = limit.check(a).unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        limit.check(b).unwrap();
        limit.sweep();
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let limit = RateLimit::per_minute(1);
        limit.check("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(limit.check("2001:db8:1:2::ffff".parse().unwrap()).is_err());
        limit.check("2001:db8:1:3::1".parse().unwrap()).unwrap();
    }

    #[test]
    fn zero_is_off() {
        let limit = RateLimit::per_minute(0);
        for _ in 0..1000 {
            limit.check("203.0.113.1".parse().unwrap()).unwrap();
        }
    }
}
