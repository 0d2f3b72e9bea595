//! An install's health: how its last checks went, and why it needs attention when it does.

use super::vocabulary;

vocabulary! {
    /// How an active install's credentials are doing, as its checks and the vendor's calls
    /// through storelink say.
    pub enum HealthState {
        /// The last check (or call) worked.
        Ok = "ok",
        /// Three checks or calls in a row failed for a reason that may pass (no answer, the
        /// platform's 5xx, 429 past the budget, a refused connection).
        Degraded = "degraded",
        /// Not checked yet.
        Unknown = "unknown",
    }
}

impl HealthState {
    /// The label pages show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Degraded => "Degraded",
            Self::Unknown => "Not checked yet",
        }
    }
}

vocabulary! {
    /// Why an install needs attention.
    pub enum Reason {
        /// The platform refused the refresh token: the merchant revoked access, or the grant
        /// expired. The merchant has to connect again.
        RefreshRejected = "refresh_rejected",
        /// The platform refused a current token or API key (401/403 to a check): the merchant
        /// removed the add-on or revoked access. A later check that works brings it back.
        CredentialsRejected = "credentials_rejected",
        /// A refresh was sent, its answer never arrived, and the next refresh with the same
        /// refresh token was refused: the platform had rotated it. The merchant has to connect
        /// again, but nobody revoked anything.
        RotationLost = "rotation_lost",
        /// The platform refused the client credentials themselves (storelink's, or the
        /// retailer's own): they were changed or deleted.
        ClientRejected = "client_rejected",
    }
}

impl Reason {
    /// What it means, for the console.
    pub fn label(self) -> &'static str {
        match self {
            Self::RefreshRejected => "the platform refused the refresh token",
            Self::CredentialsRejected => "the platform refused the credentials",
            Self::RotationLost => "a token refresh's answer was lost",
            Self::ClientRejected => "the platform refused the client credentials",
        }
    }

    /// What the operator can do about it, for the console.
    pub fn remedy(self) -> &'static str {
        match self {
            Self::RefreshRejected => {
                "The merchant removed the add-on or revoked storelink's access (or the grant \
                 expired). Send the merchant the reconnect link below: connecting again brings \
                 this same install back."
            }
            Self::CredentialsRejected => {
                "The platform no longer accepts what storelink holds: the merchant removed the \
                 add-on, or the key was revoked or disabled. Checks go on: if access comes back, \
                 the install is active again by itself. Otherwise reconnect it, or enter new \
                 credentials."
            }
            Self::RotationLost => {
                "A token refresh was sent but its answer never arrived, and the platform had \
                 already replaced the refresh token: nobody revoked anything, but the connection \
                 has to be made once more. Send the merchant the reconnect link below."
            }
            Self::ClientRejected => {
                "The platform refused the client credentials themselves (they were changed or \
                 deleted). Enter the current credentials (for a connection added with \
                 credentials), or check storelink's client settings."
            }
        }
    }

    /// Whether a check that works may bring the install back by itself (its credentials are
    /// kept): the installs with this reason go on being checked.
    pub fn may_heal(self) -> bool {
        self == Self::CredentialsRejected
    }
}
