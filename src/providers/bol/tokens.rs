//! The bol.com token lifecycle, in one place: every user of a bol.com access token asks
//! [`BolTokens`] for it.
//!
//! - A stored access token is used while more than [`CODE_FLOW_MARGIN_SECS`] (code flow) or
//!   [`CLIENT_CREDENTIALS_MARGIN_SECS`] (a retailer's own credentials) of it remain; otherwise a
//!   new one is obtained (`refresh_token` or `client_credentials` grant). Tokens are never
//!   requested per call.
//! - At most one refresh per install runs at a time: callers in this process queue on a
//!   per-install lock (single flight) and, once through, find the token the first one stored;
//!   across processes, a compare-and-swap claim on the install's `token_version`
//!   ([`crate::db::tokens::claim_refresh`]) is taken *before* a refresh token is spent, and the
//!   rotated refresh token is stored in the same transaction as the new access token.
//! - `invalid_grant` marks the install as needing re-authorization (audited); a transient
//!   failure (no answer, 5xx, 429) is retried with exponential backoff and leaves the install
//!   active. Callers that queued behind a refresh that failed get its failure rather than
//!   repeating it.
//! - Nothing is refreshed for an install that is not active: a revoked install has no tokens,
//!   and a revoke during a refresh makes the refresh discard what it got.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Mutex;

use super::{BolClient, BolToken, Grant, request_token};
use crate::{
    app::App,
    crypto::constant_time_eq,
    db::{
        credentials::{self, Kind},
        tokens::{self, AuthKind, FreshTokens, TokenState},
    },
    providers::TokenError,
};

/// A code-flow access token is replaced when this little of it remains.
pub const CODE_FLOW_MARGIN_SECS: i64 = 60;
/// A client-credentials access token is replaced when this little of it remains.
pub const CLIENT_CREDENTIALS_MARGIN_SECS: i64 = 30;

/// Why no access token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BolTokenError {
    /// No bol.com install with this id.
    #[error("there is no bol.com connection with this id")]
    NotFound,
    /// Revoked: no tokens are kept, none are obtained.
    #[error("the connection is revoked")]
    Revoked,
    /// bol.com refused the refresh token or the credentials for good.
    #[error("bol.com no longer accepts this connection; it needs to be authorized again")]
    NeedsReauthorization,
    /// The token endpoint failed; trying again later may work. The message names the failure.
    #[error("bol.com's token endpoint {0}")]
    Refresh(String),
    /// A failure of ours (database, sealing); logged in full where it happened.
    #[error("storelink could not read or store the connection's tokens")]
    Internal,
}

impl BolTokenError {
    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "bol.com token lifecycle failed");
        Self::Internal
    }
}

impl From<sqlx::Error> for BolTokenError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(err)
    }
}

impl From<anyhow::Error> for BolTokenError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(format!("{err:#}"))
    }
}

/// How refreshes are retried and claimed.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Attempts per refresh (the first included) when failures are transient.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_backoff: Duration,
    /// How long a claim holds, in seconds: longer than all attempts together can take.
    pub lease_secs: i64,
    /// How often to look again while another process holds the claim.
    pub poll_every: Duration,
    /// How long to wait for another process's refresh before giving up.
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
struct Flight {
    /// The last refresh that failed: when it ended, and how.
    last_failure: Option<(Instant, BolTokenError)>,
}

/// The token lifecycle service, held in [`App`].
#[derive(Default)]
pub struct BolTokens {
    flights: StdMutex<HashMap<String, Arc<Mutex<Flight>>>>,
    policy: RefreshPolicy,
}

impl BolTokens {
    /// A service retrying and claiming as `policy` says.
    pub fn new(policy: RefreshPolicy) -> Self {
        Self {
            flights: StdMutex::new(HashMap::new()),
            policy,
        }
    }

    /// A usable access token for install `install_id`: the stored one while it has time left,
    /// else a new one.
    pub async fn access_token(
        &self,
        app: &App,
        install_id: &str,
    ) -> Result<SecretString, BolTokenError> {
        self.get(app, install_id, None).await
    }

    /// A new access token after the API refused `rejected` (HTTP 401) before it expired,
    /// unless another caller has already replaced it.
    pub async fn replace_rejected(
        &self,
        app: &App,
        install_id: &str,
        rejected: &SecretString,
    ) -> Result<SecretString, BolTokenError> {
        self.get(app, install_id, Some(rejected)).await
    }

    async fn get(
        &self,
        app: &App,
        id: &str,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, BolTokenError> {
        if let Some(token) = usable_token(app, id, rejected).await? {
            return Ok(token);
        }
        let asked_at = Instant::now();
        let flight = self.flight(id);
        let result = {
            let mut flight = flight.lock().await;
            match &flight.last_failure {
                // A refresh that failed while we queued is our answer too: repeating it at
                // once would only hammer a token endpoint that is already failing.
                Some((ended, failure)) if *ended >= asked_at => Err(failure.clone()),
                _ => {
                    let result = self.refresh_or_reuse(app, id, rejected).await;
                    flight.last_failure = match &result {
                        Err(e @ BolTokenError::Refresh(_)) => Some((Instant::now(), e.clone())),
                        _ => None,
                    };
                    result
                }
            }
        };
        self.forget_if_idle(id, flight);
        result
    }

    /// The lock of install `id`, created on first use.
    fn flight(&self, id: &str) -> Arc<Mutex<Flight>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.entry(id.to_owned()).or_default().clone()
    }

    /// Drops the lock of install `id` when nobody else holds or waits for it, so the map does
    /// not grow with every install ever refreshed.
    fn forget_if_idle(&self, id: &str, flight: Arc<Mutex<Flight>>) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else has it.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(id);
        }
    }

    /// Under the install's lock: uses a token another caller stored meanwhile, or claims the
    /// install and refreshes it.
    async fn refresh_or_reuse(
        &self,
        app: &App,
        id: &str,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, BolTokenError> {
        let started = Instant::now();
        let (state, claimed_version) = loop {
            // Decide on one read: the claim below succeeds only if this version is still the
            // stored one, so a refresh stored after this read makes it fail and look again.
            let state = active_state(app, id).await?;
            if let Some(token) = fresh_token(app, &state, rejected).await? {
                return Ok(token);
            }
            let now = app.clock.unix();
            if !state.claimed_at(now) {
                let lease_until = now + self.policy.lease_secs;
                if tokens::claim_refresh(&app.db, id, state.token_version, now, lease_until).await?
                {
                    let claimed = state.token_version + 1;
                    break (state, claimed);
                }
                // The state changed under us: look again.
                continue;
            }
            // Another process is refreshing: wait for its result.
            if started.elapsed() > self.policy.max_wait {
                return Err(BolTokenError::Refresh(
                    "is being asked by another storelink process, which has not finished; \
                     try again shortly"
                        .to_owned(),
                ));
            }
            tokio::time::sleep(self.policy.poll_every).await;
        };
        self.refresh_claimed(app, &state, claimed_version).await
    }

    /// Holding the claim: asks for a new token (with retries) and settles the outcome.
    async fn refresh_claimed(
        &self,
        app: &App,
        state: &TokenState,
        claimed: i64,
    ) -> Result<SecretString, BolTokenError> {
        let outcome = match request_for(app, state).await {
            Ok(request) => self.with_retries(app, state, claimed, &request).await,
            Err(BolTokenError::NeedsReauthorization) => {
                let reason = "no refresh token is stored";
                let now = app.clock.unix();
                tokens::mark_needs_attention(&app.db, &state.id, claimed, reason, now).await?;
                return Err(BolTokenError::NeedsReauthorization);
            }
            Err(e) => {
                tokens::release_claim(&app.db, &state.id, claimed).await?;
                return Err(e);
            }
        };
        match outcome {
            Ok(token) => store(app, state, claimed, token).await,
            Err(failure) if is_permanent(state.kind(), &failure) => {
                let reason = format!("bol.com's token endpoint {failure}");
                let now = app.clock.unix();
                tokens::mark_needs_attention(&app.db, &state.id, claimed, &reason, now).await?;
                tracing::warn!(install_id = %state.id, reason, "bol.com connection needs re-authorization");
                Err(BolTokenError::NeedsReauthorization)
            }
            Err(failure) => {
                tokens::release_claim(&app.db, &state.id, claimed).await?;
                tracing::warn!(install_id = %state.id, error = %failure, "bol.com token refresh failed");
                Err(BolTokenError::Refresh(failure.to_string()))
            }
        }
    }

    /// Sends the token request, again after a backoff while failures are transient and the
    /// claim still holds.
    async fn with_retries(
        &self,
        app: &App,
        state: &TokenState,
        claimed: i64,
        request: &TokenRequest,
    ) -> Result<BolToken, TokenError> {
        let mut backoff = self.policy.first_backoff;
        let mut attempt = 1;
        loop {
            let result = request.send(app).await;
            match result {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    tracing::info!(install_id = %state.id, attempt, error = %e, "bol.com token request failed; retrying");
                    tokio::time::sleep(backoff + jitter(backoff)).await;
                    backoff *= 2;
                    attempt += 1;
                    if !claim_holds(app, &state.id, claimed).await {
                        // Revoked or re-installed meanwhile: spend nothing more.
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }
}

/// What to send to the token endpoint for one install.
struct TokenRequest {
    client: BolClient,
    refresh_token: Option<SecretString>,
    account_claim: Option<String>,
}

impl TokenRequest {
    async fn send(&self, app: &App) -> Result<BolToken, TokenError> {
        let grant = match &self.refresh_token {
            Some(token) => Grant::RefreshToken(token),
            None => Grant::ClientCredentials,
        };
        request_token(
            &app.http,
            &app.bol.token_url,
            &self.client,
            &grant,
            self.account_claim.as_deref(),
            app.clock.unix(),
        )
        .await
    }
}

/// The request that renews install `state`'s token: its refresh token with storelink's
/// intermediary client, or the retailer's own client credentials.
async fn request_for(app: &App, state: &TokenState) -> Result<TokenRequest, BolTokenError> {
    let open = |kind| credentials::open(&app.db, &app.keyring, &state.id, kind);
    match state.kind() {
        AuthKind::Code => {
            let client = app.bol.code_flow().cloned().ok_or_else(|| {
                BolTokenError::Refresh(
                    "cannot be asked: storelink has no bol.com client configured (BOL_CLIENT_ID)"
                        .to_owned(),
                )
            })?;
            // Without one (bol.com gave none), only the retailer can make the connection work.
            let refresh_token = open(Kind::RefreshToken)
                .await?
                .ok_or(BolTokenError::NeedsReauthorization)?;
            Ok(TokenRequest {
                client,
                refresh_token: Some(refresh_token),
                account_claim: Some(app.bol.account_claim.clone()),
            })
        }
        AuthKind::ClientCredentials => {
            let client_id = state.client_id.clone().ok_or(BolTokenError::Internal)?;
            let client_secret = open(Kind::ClientSecret).await?.ok_or_else(|| {
                BolTokenError::Refresh("cannot be asked: no client secret is stored".to_owned())
            })?;
            Ok(TokenRequest {
                client: BolClient {
                    client_id,
                    client_secret,
                },
                refresh_token: None,
                account_claim: None,
            })
        }
    }
}

/// Stores a new token if the claim still holds; the new access token is then the answer.
async fn store(
    app: &App,
    state: &TokenState,
    claimed: i64,
    token: BolToken,
) -> Result<SecretString, BolTokenError> {
    if state.kind() == AuthKind::Code && token.account.as_deref() != Some(&state.account_id) {
        tokens::release_claim(&app.db, &state.id, claimed).await?;
        return Err(BolTokenError::Refresh(TokenError::OtherAccount.to_string()));
    }
    let fresh = FreshTokens {
        access_token: &token.access_token,
        refresh_token: token.refresh_token.as_ref(),
        expires_at: token.expires_at,
    };
    let now = app.clock.unix();
    if tokens::store_refreshed(&app.db, &app.keyring, &state.id, claimed, &fresh, now).await? {
        tracing::info!(install_id = %state.id, expires_at = token.expires_at, rotated = token.refresh_token.is_some(), "bol.com token refreshed");
        return Ok(token.access_token);
    }
    // Revoked (or authorized again) while we asked: what we got is thrown away.
    Err(active_state(app, &state.id).await.err().unwrap_or_else(|| {
        BolTokenError::Refresh("was asked while the connection changed; try again".to_owned())
    }))
}

/// The stored access token, if the install is active and it has time left (and is not the one
/// the API just refused).
async fn usable_token(
    app: &App,
    id: &str,
    rejected: Option<&SecretString>,
) -> Result<Option<SecretString>, BolTokenError> {
    fresh_token(app, &active_state(app, id).await?, rejected).await
}

/// The stored access token, if `state` (an active install's) says it has time left, and it is
/// not the one the API just refused.
async fn fresh_token(
    app: &App,
    state: &TokenState,
    rejected: Option<&SecretString>,
) -> Result<Option<SecretString>, BolTokenError> {
    let margin = match state.kind() {
        AuthKind::Code => CODE_FLOW_MARGIN_SECS,
        AuthKind::ClientCredentials => CLIENT_CREDENTIALS_MARGIN_SECS,
    };
    let fresh = state
        .token_expires_at
        .is_some_and(|at| at - app.clock.unix() > margin);
    if !fresh {
        return Ok(None);
    }
    let token = credentials::open(&app.db, &app.keyring, &state.id, Kind::AccessToken).await?;
    Ok(token.filter(|t| {
        rejected.is_none_or(|r| {
            !constant_time_eq(t.expose_secret().as_bytes(), r.expose_secret().as_bytes())
        })
    }))
}

/// The token state of an active bol.com install, or why there is none.
async fn active_state(app: &App, id: &str) -> Result<TokenState, BolTokenError> {
    let state = tokens::load(&app.db, id)
        .await?
        .filter(|s| s.provider == "bol")
        .ok_or(BolTokenError::NotFound)?;
    match state.status.as_str() {
        "active" => Ok(state),
        "revoked" => Err(BolTokenError::Revoked),
        _ => Err(BolTokenError::NeedsReauthorization),
    }
}

/// Whether the claim `claimed` on install `id` still holds.
async fn claim_holds(app: &App, id: &str, claimed: i64) -> bool {
    matches!(
        tokens::load(&app.db, id).await,
        Ok(Some(s)) if s.token_version == claimed && s.status == "active"
    )
}

/// Whether a failed token request means the connection no longer works: the refresh token
/// was refused (`invalid_grant`), or, for a retailer's own credentials, the credentials were.
fn is_permanent(kind: AuthKind, failure: &TokenError) -> bool {
    let error = failure.oauth_error();
    match kind {
        AuthKind::Code => error == Some("invalid_grant"),
        AuthKind::ClientCredentials => {
            matches!(
                error,
                Some("invalid_grant" | "invalid_client" | "unauthorized_client")
            ) || matches!(failure, TokenError::Status(401))
        }
    }
}

/// Up to a quarter of `backoff`, so processes that failed together do not retry together.
fn jitter(backoff: Duration) -> Duration {
    use rand::Rng as _;
    let quarter = u64::try_from(backoff.as_millis() / 4).unwrap_or(0);
    Duration::from_millis(rand::thread_rng().gen_range(0..=quarter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_permanent() {
        let rejected = |error: &str| TokenError::Rejected {
            error: error.to_owned(),
            description: None,
        };
        assert!(is_permanent(AuthKind::Code, &rejected("invalid_grant")));
        assert!(!is_permanent(AuthKind::Code, &rejected("invalid_client")));
        assert!(!is_permanent(AuthKind::Code, &TokenError::Status(503)));
        assert!(!is_permanent(AuthKind::Code, &TokenError::Timeout));
        assert!(is_permanent(
            AuthKind::ClientCredentials,
            &rejected("invalid_client")
        ));
        assert!(is_permanent(
            AuthKind::ClientCredentials,
            &TokenError::Status(401)
        ));
        assert!(!is_permanent(
            AuthKind::ClientCredentials,
            &TokenError::Status(500)
        ));
    }

    #[test]
    fn transient_failures_are_retried() {
        assert!(TokenError::Status(502).is_transient());
        assert!(TokenError::Status(429).is_transient());
        assert!(TokenError::Timeout.is_transient());
        assert!(TokenError::Unreachable.is_transient());
        assert!(!TokenError::Status(400).is_transient());
        assert!(!TokenError::NotJson.is_transient());
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(400)) <= Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
