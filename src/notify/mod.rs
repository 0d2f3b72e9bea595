//! Notifications to the vendor's backend, signed the Standard Webhooks way and delivered at
//! least once.
//!
//! A change that should be announced writes its messages into the outbox (`db::outbox`) in its
//! own transaction; a stored order event is its own outbox entry, and the [`worker`] makes its
//! messages from the events table. The [`worker`] claims due messages, signs ([`signing`]) and sends them
//! through the outbound guard, records each attempt, and retries on the [`schedule`]. Endpoints
//! are added through [`endpoints`], which checks their URLs the way every call is checked.
//!
//! What the vendor can rely on: every message is sent until a 2xx comes back or its schedule is
//! used up; a message may arrive more than once (dedupe on `webhook-id`); messages are not
//! promised to arrive in the order of the changes.

pub mod endpoints;
mod lanes;
mod retry_after;
pub mod signing;
pub mod worker;

use std::sync::Arc;

pub use crate::{config::NotifyConfig, domain::RetrySchedule};

use crate::{clock::Clock, crypto::Keyring, db::Db, platforms::kit::outbound::Outbound};

/// What sending notifications needs.
#[derive(Clone)]
pub struct NotifyContext {
    /// The database with the outbox.
    pub db: Db,
    /// Opens the signing secrets.
    pub keyring: Arc<Keyring>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The guarded client every call to a URL from data goes through.
    pub outbound: Outbound,
}
