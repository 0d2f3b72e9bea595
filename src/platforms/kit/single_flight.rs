//! The token lifecycle's in-process state ([`crate::platforms::kit::lifecycle`] works on it):
//! one lock per install being renewed, so callers in this process queue behind one renewal
//! (single flight), and the policy renewals are retried and claimed by.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use super::api_call::TokenUnavailable;

/// How renewals are retried and claimed.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Attempts per renewal (the first included) when failures are transient.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// How long a claim holds, in seconds: longer than all attempts together can take.
    pub lease_secs: i64,
    /// How often to look again while another process holds the claim.
    pub poll_every: Duration,
    /// How long to wait for another process's renewal before giving up.
    pub max_wait: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_millis(250),
            lease_secs: 60,
            poll_every: Duration::from_millis(100),
            max_wait: Duration::from_secs(45),
        }
    }
}

/// What callers queued on one install's lock share.
#[derive(Default)]
pub(super) struct Flight {
    /// The last renewal that failed: when it ended, and how.
    pub(super) last_failure: Option<(Instant, TokenUnavailable)>,
}

/// The token lifecycle's in-process part: one lock per install being renewed (install ids are
/// unique across platforms, so one map serves them all).
#[derive(Default)]
pub struct Tokens {
    pub(super) flights: StdMutex<HashMap<String, Arc<Mutex<Flight>>>>,
    pub(super) policy: RefreshPolicy,
}

impl Tokens {
    /// A service retrying and claiming as `policy` says.
    pub fn new(policy: RefreshPolicy) -> Self {
        Self {
            flights: StdMutex::new(HashMap::new()),
            policy,
        }
    }
}
