//! What an install is: its status, how it authenticates, how it was started, who started it.

use super::vocabulary;

vocabulary! {
    /// Where an install stands.
    pub enum InstallStatus {
        /// Connected: its credentials work (as far as storelink knows).
        Active = "active",
        /// The platform refused to renew its token: it has to be authorized again.
        NeedsAttention = "needs_attention",
        /// Revoked by an operator or the vendor: no credentials are kept.
        Revoked = "revoked",
    }
}

impl InstallStatus {
    /// The label pages show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::NeedsAttention => "Needs attention",
            Self::Revoked => "Revoked",
        }
    }
}

vocabulary! {
    /// How a connection gets its access tokens.
    pub enum AuthKind {
        /// The merchant authorized storelink (authorization-code flow).
        Code = "code",
        /// A client id and secret an operator entered: the client-credentials grant.
        ClientCredentials = "client_credentials",
        /// A user's name and password an operator entered: the password grant (OrderCloud).
        Password = "password",
        /// An API key sent on every call, no token (Maropost's API keys).
        ApiKey = "api_key",
    }
}

vocabulary! {
    /// How an install was started.
    pub enum Initiator {
        /// The merchant clicked "Install" on storelink's landing page.
        Storelink = "storelink",
        /// The merchant started it from the platform's control panel (no state of ours).
        Panel = "panel",
    }
}

impl Initiator {
    /// How the audit log and pages say it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Storelink => "started on storelink",
            Self::Panel => "started from the platform's control panel",
        }
    }
}

/// The person who installed the add-on, as the platform names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallingUser {
    /// The platform's user id.
    pub id: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
}
