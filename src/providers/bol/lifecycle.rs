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

use super::{
    config::{BolClient, BolConfig},
    oauth::{BolToken, Grant, request_token},
};
use crate::{
    crypto::constant_time_eq,
    db::{
        credentials::{self, Kind},
        token_state::{self as tokens, FreshTokens, TokenState},
    },
    domain::{AuthKind, InstallStatus, Platform},
    providers::{api_call::TokenUnavailable, context::Context, token::TokenError},
};

/// A code-flow access token is replaced when this little of it remains.
pub const CODE_FLOW_MARGIN_SECS: i64 = 60;
/// A client-credentials access token is replaced when this little of it remains.
pub const CLIENT_CREDENTIALS_MARGIN_SECS: i64 = 30;

/// What the lifecycle needs: the shared parts of every platform call, bol.com's settings, and
/// the in-process single-flight locks.
#[derive(Clone, Copy)]
pub struct BolContext<'a> {
    /// Database, keyring, clock, HTTP client.
    pub calls: Context<'a>,
    /// bol.com's endpoints and intermediary client.
    pub config: &'a BolConfig,
    /// The per-install refresh locks.
    pub tokens: &'a BolTokens,
}

impl<'a> std::ops::Deref for BolContext<'a> {
    type Target = Context<'a>;
    fn deref(&self) -> &Context<'a> {
        &self.calls
    }
}

impl BolContext<'_> {
    /// A usable access token for install `install_id`: the stored one while it has time left,
    /// else a new one.
    pub async fn access_token(&self, install_id: &str) -> Result<SecretString, TokenUnavailable> {
        let want = Want {
            rejected: None,
            at_least_secs: 0,
        };
        Ok(self.tokens.get(self, install_id, &want).await?.secret)
    }

    /// An access token to hand to someone else (the vendor's backend), with at least
    /// `at_least_secs` left (or as much as a brand-new one has), and when it expires.
    pub async fn access_token_lasting(
        &self,
        install_id: &str,
        at_least_secs: i64,
    ) -> Result<FreshToken, TokenUnavailable> {
        let want = Want {
            rejected: None,
            at_least_secs,
        };
        self.tokens.get(self, install_id, &want).await
    }

    /// A new access token after the API refused `rejected` (HTTP 401) before it expired,
    /// unless another caller has already replaced it.
    pub async fn replace_rejected(
        &self,
        install_id: &str,
        rejected: &SecretString,
    ) -> Result<SecretString, TokenUnavailable> {
        let want = Want {
            rejected: Some(rejected),
            at_least_secs: 0,
        };
        Ok(self.tokens.get(self, install_id, &want).await?.secret)
    }
}

/// A usable access token and when it stops working.
pub struct FreshToken {
    /// The access token.
    pub secret: SecretString,
    /// When it stops working, Unix seconds.
    pub expires_at: i64,
}

/// What a caller needs of a token.
struct Want<'a> {
    /// The token the API just refused (HTTP 401): not that one again.
    rejected: Option<&'a SecretString>,
    /// Seconds it must have left, beyond the usual margin.
    at_least_secs: i64,
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
    last_failure: Option<(Instant, TokenUnavailable)>,
}

/// The token lifecycle's in-process part: one lock per install being refreshed.
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

    async fn get(
        &self,
        ctx: &BolContext<'_>,
        id: &str,
        want: &Want<'_>,
    ) -> Result<FreshToken, TokenUnavailable> {
        if let Some(token) = usable_token(ctx, id, want).await? {
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
                    let result = self.refresh_or_reuse(ctx, id, want).await;
                    flight.last_failure = match &result {
                        Err(e @ TokenUnavailable::Refresh(_)) => Some((Instant::now(), e.clone())),
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
        ctx: &BolContext<'_>,
        id: &str,
        want: &Want<'_>,
    ) -> Result<FreshToken, TokenUnavailable> {
        let started = Instant::now();
        let (state, claimed_version) = loop {
            // Decide on one read: the claim below succeeds only if this version is still the
            // stored one, so a refresh stored after this read makes it fail and look again.
            let state = active_state(ctx, id).await?;
            if let Some(token) = fresh_token(ctx, &state, want).await? {
                return Ok(token);
            }
            let now = ctx.clock.unix();
            if !state.claimed_at(now) {
                let lease_until = now + self.policy.lease_secs;
                if tokens::claim_refresh(ctx.db, id, state.token_version, now, lease_until).await? {
                    let claimed = state.token_version + 1;
                    break (state, claimed);
                }
                // The state changed under us: look again.
                continue;
            }
            // Another process is refreshing: wait for its result.
            if started.elapsed() > self.policy.max_wait {
                return Err(refresh_failed(
                    "is being asked by another storelink process, which has not finished; \
                     try again shortly"
                        .to_owned(),
                ));
            }
            tokio::time::sleep(self.policy.poll_every).await;
        };
        self.refresh_claimed(ctx, &state, claimed_version).await
    }

    /// Holding the claim: asks for a new token (with retries) and settles the outcome.
    async fn refresh_claimed(
        &self,
        ctx: &BolContext<'_>,
        state: &TokenState,
        claimed: i64,
    ) -> Result<FreshToken, TokenUnavailable> {
        let outcome = match request_for(ctx, state).await {
            Ok(request) => self.with_retries(ctx, state, claimed, &request).await,
            Err(TokenUnavailable::NeedsReauthorization) => {
                let reason = "no refresh token is stored";
                let now = ctx.clock.unix();
                tokens::mark_needs_attention(ctx.db, &state.id, claimed, reason, now).await?;
                return Err(TokenUnavailable::NeedsReauthorization);
            }
            Err(e) => {
                tokens::release_claim(ctx.db, &state.id, claimed).await?;
                return Err(e);
            }
        };
        match outcome {
            Ok(token) => store(ctx, state, claimed, token).await,
            Err(failure) if is_permanent(state.auth_kind, &failure) => {
                let reason = format!("bol.com's token endpoint {failure}");
                let now = ctx.clock.unix();
                tokens::mark_needs_attention(ctx.db, &state.id, claimed, &reason, now).await?;
                tracing::warn!(install_id = %state.id, reason, "bol.com connection needs re-authorization");
                crate::measure::token_refresh("bol", "needs_attention");
                Err(TokenUnavailable::NeedsReauthorization)
            }
            Err(failure) => {
                tokens::release_claim(ctx.db, &state.id, claimed).await?;
                tracing::warn!(install_id = %state.id, error = %failure, "bol.com token refresh failed");
                crate::measure::token_refresh("bol", "failed");
                Err(refresh_failed(failure.to_string()))
            }
        }
    }

    /// Sends the token request, again after a backoff while failures are transient and the
    /// claim still holds.
    async fn with_retries(
        &self,
        ctx: &BolContext<'_>,
        state: &TokenState,
        claimed: i64,
        request: &TokenRequest,
    ) -> Result<BolToken, TokenError> {
        let mut backoff = self.policy.first_backoff;
        let mut attempt = 1;
        loop {
            let result = request.send(ctx).await;
            match result {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    tracing::info!(install_id = %state.id, attempt, error = %e, "bol.com token request failed; retrying");
                    tokio::time::sleep(backoff + jitter(backoff)).await;
                    backoff *= 2;
                    attempt += 1;
                    if !claim_holds(ctx, &state.id, claimed).await {
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
    async fn send(&self, ctx: &BolContext<'_>) -> Result<BolToken, TokenError> {
        let grant = match &self.refresh_token {
            Some(token) => Grant::RefreshToken(token),
            None => Grant::ClientCredentials,
        };
        request_token(
            ctx.http,
            ctx.config,
            &self.client,
            &grant,
            self.account_claim.as_deref(),
            ctx.clock.unix(),
        )
        .await
    }
}

/// The request that renews install `state`'s token: its refresh token with storelink's
/// intermediary client, or the retailer's own client credentials.
async fn request_for(
    ctx: &BolContext<'_>,
    state: &TokenState,
) -> Result<TokenRequest, TokenUnavailable> {
    let open = |kind| credentials::open(ctx.db, ctx.keyring, &state.id, kind);
    match state.auth_kind {
        AuthKind::Code => {
            let client = ctx.config.code_flow().cloned().ok_or_else(|| {
                refresh_failed(
                    "cannot be asked: storelink has no bol.com client configured (BOL_CLIENT_ID)"
                        .to_owned(),
                )
            })?;
            // Without one (bol.com gave none), only the retailer can make the connection work.
            let refresh_token = open(Kind::RefreshToken)
                .await?
                .ok_or(TokenUnavailable::NeedsReauthorization)?;
            Ok(TokenRequest {
                client,
                refresh_token: Some(refresh_token),
                account_claim: Some(ctx.config.account_claim.clone()),
            })
        }
        AuthKind::ClientCredentials => {
            let client_id = state.client_id.clone().ok_or(TokenUnavailable::Internal)?;
            let client_secret = open(Kind::ClientSecret).await?.ok_or_else(|| {
                refresh_failed("cannot be asked: no client secret is stored".to_owned())
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
    ctx: &BolContext<'_>,
    state: &TokenState,
    claimed: i64,
    token: BolToken,
) -> Result<FreshToken, TokenUnavailable> {
    if state.auth_kind == AuthKind::Code && token.account.as_deref() != Some(&state.account_id) {
        tokens::release_claim(ctx.db, &state.id, claimed).await?;
        return Err(refresh_failed(TokenError::OtherAccount.to_string()));
    }
    let fresh = FreshTokens {
        access_token: &token.access_token,
        refresh_token: token.refresh_token.as_ref(),
        expires_at: token.expires_at,
        scope: token.scope.as_deref(),
    };
    let now = ctx.clock.unix();
    if tokens::store_refreshed(ctx.db, ctx.keyring, &state.id, claimed, &fresh, now).await? {
        tracing::info!(install_id = %state.id, expires_at = token.expires_at, rotated = token.refresh_token.is_some(), "bol.com token refreshed");
        crate::measure::token_refresh("bol", "refreshed");
        return Ok(FreshToken {
            secret: token.access_token,
            expires_at: token.expires_at,
        });
    }
    // Revoked (or authorized again) while we asked: what we got is thrown away.
    Err(active_state(ctx, &state.id).await.err().unwrap_or_else(|| {
        refresh_failed("was asked while the connection changed; try again".to_owned())
    }))
}

/// The stored access token, if the install is active and it has time left (and is not the one
/// the API just refused).
async fn usable_token(
    ctx: &BolContext<'_>,
    id: &str,
    want: &Want<'_>,
) -> Result<Option<FreshToken>, TokenUnavailable> {
    fresh_token(ctx, &active_state(ctx, id).await?, want).await
}

/// The stored access token, if `state` (an active install's) says it has time left, and it is
/// not the one the API just refused.
async fn fresh_token(
    ctx: &BolContext<'_>,
    state: &TokenState,
    want: &Want<'_>,
) -> Result<Option<FreshToken>, TokenUnavailable> {
    let margin = match state.auth_kind {
        AuthKind::Code => CODE_FLOW_MARGIN_SECS,
        AuthKind::ClientCredentials => CLIENT_CREDENTIALS_MARGIN_SECS,
    }
    .max(want.at_least_secs);
    let Some(expires_at) = state
        .token_expires_at
        .filter(|at| at - ctx.clock.unix() > margin)
    else {
        return Ok(None);
    };
    let token = credentials::open(ctx.db, ctx.keyring, &state.id, Kind::AccessToken).await?;
    Ok(token
        .filter(|t| {
            want.rejected.is_none_or(|r| {
                !constant_time_eq(t.expose_secret().as_bytes(), r.expose_secret().as_bytes())
            })
        })
        .map(|secret| FreshToken { secret, expires_at }))
}

/// The token state of an active bol.com install, or why there is none.
async fn active_state(ctx: &BolContext<'_>, id: &str) -> Result<TokenState, TokenUnavailable> {
    let state = tokens::load(ctx.db, id)
        .await?
        .filter(|s| s.platform == Platform::Bol)
        .ok_or(TokenUnavailable::NotFound)?;
    match state.status {
        InstallStatus::Active => Ok(state),
        InstallStatus::Revoked => Err(TokenUnavailable::Revoked),
        InstallStatus::NeedsAttention => Err(TokenUnavailable::NeedsReauthorization),
    }
}

/// A transient failure of bol.com's token endpoint; `what` completes the sentence. The platform
/// is not named: whoever shows the message names it once, in front.
fn refresh_failed(what: impl std::fmt::Display) -> TokenUnavailable {
    TokenUnavailable::Refresh(format!("the token endpoint {what}"))
}

/// Whether the claim `claimed` on install `id` still holds.
async fn claim_holds(ctx: &BolContext<'_>, id: &str, claimed: i64) -> bool {
    matches!(
        tokens::load(ctx.db, id).await,
        Ok(Some(s)) if s.token_version == claimed && s.status == InstallStatus::Active
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
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(400)) <= Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
