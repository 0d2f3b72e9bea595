//! The bol.com stand-in:
//!
//! - `/sandbox/bol/authorize`: the retailer picks one of its accounts and approves or denies;
//! - `/sandbox/bol/token`: `authorization_code` (with the PKCE check), `refresh_token` (rotated
//!   on every use) and `client_credentials`, all with Basic auth, refusing anything secret in the
//!   URL query as bol.com does, and answering `400 invalid_grant` for a used or expired code or
//!   refresh token;
//! - `/sandbox/bol/retailer/orders`: requires a valid, unexpired bearer token and answers `429`
//!   with `Retry-After` past [`RATE_LIMIT_PER_SECOND`] requests a second per retailer;
//! - `/sandbox/bol/credentials`: creates a retailer's own client id and secret, as bol.com's
//!   Seller Dashboard does, for client-credentials connections.
//!
//! Access tokens are HS256 JWTs (`sub` = the retailer id, `iat`, `exp` only
//! [`ACCESS_TOKEN_LIFETIME_SECS`] later, so refreshes happen while you watch), signed under a key
//! derived from the master key. Refresh tokens and client secrets are signed too, so they stay
//! valid across restarts; which refresh tokens were spent is remembered in memory only (a
//! restart forgets it, which a sandbox can afford).

mod credentials;
mod oauth;
mod retailer;
mod state;

use std::sync::Arc;

use axum::Router;

pub use state::{
    ACCESS_TOKEN_LIFETIME_SECS, PLATFORM, RATE_LIMIT_PER_SECOND, REFRESH_TOKEN_LIFETIME_SECS,
    RETAILERS, SandboxBol,
};

/// The stand-in's routes, with its state.
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<SandboxBol>) -> Router<S> {
    Router::new()
        .merge(oauth::routes())
        .merge(retailer::routes())
        .merge(credentials::routes())
        .with_state(sandbox)
}
