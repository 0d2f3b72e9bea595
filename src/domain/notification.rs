//! Notifications to the vendor's backend: what they announce and where each one stands.

use super::vocabulary;

vocabulary! {
    /// What a notification announces (its `type`). Endpoints subscribe to these; `ping` is only
    /// ever sent to one endpoint on purpose ("Send test event").
    pub enum EventType {
        /// A store installed the add-on (or an operator connected one) for the first time.
        InstallCreated = "install.created",
        /// A known store installed again, was reconnected or had its credentials replaced.
        InstallUpdated = "install.updated",
        /// The platform refused a connection's credentials: it needs attention (its `reason`
        /// says why).
        InstallNeedsAttention = "install.needs_attention",
        /// Three checks or calls in a row failed for a reason that may pass: the platform is
        /// not answering as it should for this install.
        InstallDegraded = "install.degraded",
        /// A degraded install works again, or one that needed attention works again by itself
        /// (a check that succeeded).
        InstallRecovered = "install.recovered",
        /// The install was revoked: stop using it.
        InstallRevoked = "install.revoked",
        /// Maropost sent an order notification, and storelink stored it.
        OrderStatusChanged = "order.status_changed",
        /// A test event an operator sent.
        Ping = "ping",
    }
}

impl EventType {
    /// The types an endpoint can subscribe to (every one but `ping`).
    pub fn subscribable() -> impl Iterator<Item = Self> {
        Self::ALL.iter().copied().filter(|t| *t != Self::Ping)
    }
}

vocabulary! {
    /// Where a notification stands.
    pub enum MessageStatus {
        /// Waiting for its first or next attempt (or being sent right now).
        Pending = "pending",
        /// A 2xx answer came back: done.
        Delivered = "delivered",
        /// Every attempt of the retry schedule failed: no more attempts unless sent again.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_cannot_be_subscribed_to() {
        assert!(EventType::subscribable().all(|t| t != EventType::Ping));
        assert_eq!(EventType::subscribable().count(), EventType::ALL.len() - 1);
        assert_eq!(
            EventType::parse("install.created"),
            Some(EventType::InstallCreated)
        );
    }
}
