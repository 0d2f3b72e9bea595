//! The token lifecycle of every platform whose access tokens expire (bol.com, OrderCloud,
//! commercetools), in one place: every user of such a token asks [`Tokens`] for it, and each
//! platform says only how a token is renewed ([`Renewal`]).
//!
//! - A stored access token is used while more than the platform's margin of it remains;
//!   otherwise a new one is obtained (a refresh token, a client-credentials or a password grant).
//!   Tokens are never requested per call.
//! - At most one renewal per install runs at a time: callers in this process queue on a
//!   per-install lock (single flight) and, once through, find the token the first one stored;
//!   across processes, a compare-and-swap claim on the install's `token_version`
//!   ([`crate::db::token_state::claim_refresh`]) is taken *before* a refresh token is spent, and a
//!   rotated refresh token is stored in the same transaction as the new access token.
//! - A permanent refusal (the platform's [`Renewal::is_permanent`]) marks the install as needing
//!   re-authorization (audited, announced); a transient failure (no answer, 5xx, 429) is retried
//!   with exponential backoff and leaves the install active. Callers that queued behind a renewal
//!   that failed get its failure rather than repeating it.
//! - Nothing is renewed for an install that is not active: a revoked install has no tokens, and a
//!   revoke during a renewal makes the renewal discard what it got.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Mutex;

use super::single_flight::{Flight, RefreshPolicy, Tokens};
use crate::{
    crypto::constant_time_eq,
    db::{
        credentials::{self, Kind},
        token_state::{self as tokens, FreshTokens, TokenState},
    },
    domain::{AuthKind, InstallStatus, Platform, Reason},
    platforms::{kit::api_call::TokenUnavailable, kit::context::Context, kit::token::TokenError},
};

/// A new token as a platform's token endpoint gave it, checked.
#[derive(Debug)]
pub struct Renewed {
    /// The access token.
    pub access_token: SecretString,
    /// A refresh token, when the platform gave one (a new one on rotation).
    pub refresh_token: Option<SecretString>,
    /// When the access token stops working, Unix seconds.
    pub expires_at: i64,
    /// The granted scope, when the platform named one.
    pub scope: Option<String>,
}

impl Renewed {
    /// A token endpoint's answer with a lifetime: `access_token`, `expires_in` (1 s to a year:
    /// anything else is refused rather than guessed), and `refresh_token` and `scope` when the
    /// platform gives them.
    pub fn from_answer(
        json: &serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<Self, TokenError> {
        let text = |name: &str| {
            json.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
        };
        let access_token = text("access_token").ok_or(TokenError::MissingAccessToken)?;
        let expires_in = json
            .get("expires_in")
            .ok_or(TokenError::MissingField("expires_in"))?
            .as_i64()
            .filter(|s| (1..=366 * 24 * 3600).contains(s))
            .ok_or(TokenError::InvalidField("expires_in"))?;
        Ok(Self {
            access_token: SecretString::from(access_token),
            refresh_token: text("refresh_token").map(SecretString::from),
            expires_at: now + expires_in,
            scope: text("scope").map(|s| crate::domain::text::shorten(s, 2000)),
        })
    }
}

/// Where a connection's calls and tokens go, as stored when it was added (OrderCloud,
/// commercetools): read back and parsed, or why not.
pub fn stored_url(url: Option<&str>) -> Option<url::Url> {
    url.and_then(|u| url::Url::parse(u).ok())
}

/// How one platform renews an install's access token. The lifecycle calls [`Renewal::prepare`]
/// once per renewal (under the claim) and [`Renewal::send`] once per attempt.
#[async_trait::async_trait]
pub trait Renewal: Sync {
    /// What one renewal sends: the credentials read from storage, ready to go.
    type Request: Send + Sync;

    /// The platform whose installs this renews (others are not found).
    fn platform(&self) -> Platform;

    /// A stored token is replaced when this little of it remains, in seconds.
    fn margin_secs(&self, kind: AuthKind) -> i64;

    /// Reads what the renewal of `state` needs. [`TokenUnavailable::NeedsReauthorization`]
    /// when nothing stored can renew it (the install is then marked so).
    async fn prepare(
        &self,
        ctx: &Context<'_>,
        state: &TokenState,
    ) -> Result<Self::Request, TokenUnavailable>;

    /// Asks the platform's token endpoint once.
    async fn send(&self, ctx: &Context<'_>, request: &Self::Request)
    -> Result<Renewed, TokenError>;

    /// Whether a refusal means the connection no longer works (so it needs re-authorization)
    /// rather than a failure worth trying again later.
    fn is_permanent(&self, kind: AuthKind, failure: &TokenError) -> bool;

    /// Checks a new token against the install before it is stored (bol.com: the same account).
    fn check(&self, _state: &TokenState, _token: &Renewed) -> Result<(), TokenError> {
        Ok(())
    }

    /// The refresh token `request` sends, when it sends one (its answer may rotate it).
    fn refresh_token<'a>(&self, _request: &'a Self::Request) -> Option<&'a SecretString> {
        None
    }
}

/// Why a connection whose renewal was refused for good needs attention: the client credentials
/// themselves (`invalid_client`, or a grant of the client's own: client credentials, password),
/// else the refresh token, told apart from a rotation whose answer was lost (`lost`).
fn refusal_reason(kind: AuthKind, failure: &TokenError, used_refresh: bool, lost: bool) -> Reason {
    if failure.oauth_error() == Some("invalid_client") || matches!(failure, TokenError::Status(401))
    {
        return Reason::ClientRejected;
    }
    match kind {
        AuthKind::Code if used_refresh && lost => Reason::RotationLost,
        AuthKind::Code => Reason::RefreshRejected,
        _ if used_refresh && lost => Reason::RotationLost,
        _ if used_refresh => Reason::RefreshRejected,
        _ => Reason::ClientRejected,
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
#[derive(Default)]
pub struct Want<'a> {
    /// The token the API just refused (HTTP 401): not that one again.
    pub rejected: Option<&'a SecretString>,
    /// Seconds it must have left, beyond the usual margin.
    pub at_least_secs: i64,
}

impl Tokens {
    /// A usable access token for install `id` as `want` asks: the stored one while it has
    /// time left, else a new one from `renewal`.
    pub async fn get<R: Renewal>(
        &self,
        ctx: &Context<'_>,
        renewal: &R,
        id: &str,
        want: &Want<'_>,
    ) -> Result<FreshToken, TokenUnavailable> {
        let this = Lifecycle {
            ctx,
            renewal,
            policy: &self.policy,
        };
        if let Some(token) = this.usable_token(id, want).await? {
            return Ok(token);
        }
        let asked_at = Instant::now();
        let flight = self.flight(id);
        let result = {
            let mut flight = flight.lock().await;
            match &flight.last_failure {
                // A renewal that failed while we queued is our answer too: repeating it at
                // once would only hammer a token endpoint that is already failing.
                Some((ended, failure)) if *ended >= asked_at => Err(failure.clone()),
                _ => {
                    let result = this.renew_or_reuse(id, want).await;
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
    /// not grow with every install ever renewed.
    fn forget_if_idle(&self, id: &str, flight: Arc<Mutex<Flight>>) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else has it.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(id);
        }
    }
}

/// One platform's renewals with the shared parts of a call and the policy.
struct Lifecycle<'a, R> {
    ctx: &'a Context<'a>,
    renewal: &'a R,
    policy: &'a RefreshPolicy,
}

impl<R: Renewal> Lifecycle<'_, R> {
    /// The platform's name for logs and metrics.
    fn platform(&self) -> &'static str {
        self.renewal.platform().as_str()
    }

    /// Under the install's lock: uses a token another caller stored meanwhile, or claims the
    /// install and renews it.
    async fn renew_or_reuse(
        &self,
        id: &str,
        want: &Want<'_>,
    ) -> Result<FreshToken, TokenUnavailable> {
        let ctx = self.ctx;
        let started = Instant::now();
        let (state, claimed_version) = loop {
            // Decide on one read: the claim below succeeds only if this version is still the
            // stored one, so a renewal stored after this read makes it fail and look again.
            let state = self.active_state(id).await?;
            if let Some(token) = self.fresh_token(&state, want).await? {
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
            // Another process is renewing: wait for its result.
            if started.elapsed() > self.policy.max_wait {
                return Err(refresh_failed(
                    "is being asked by another storelink process, which has not finished; \
                     try again shortly",
                ));
            }
            tokio::time::sleep(self.policy.poll_every).await;
        };
        self.renew_claimed(&state, claimed_version).await
    }

    /// Holding the claim: asks for a new token (with retries) and settles the outcome.
    async fn renew_claimed(
        &self,
        state: &TokenState,
        claimed: i64,
    ) -> Result<FreshToken, TokenUnavailable> {
        let ctx = self.ctx;
        let (outcome, used_refresh, lost) = match self.renewal.prepare(ctx, state).await {
            Ok(request) => {
                let sent = self
                    .renewal
                    .refresh_token(&request)
                    .map(|t| crate::crypto::sha256_hex(t.expose_secret().as_bytes()));
                // An earlier send of this same refresh token whose answer never arrived.
                let mut lost = sent.is_some() && sent == state.refresh_in_flight;
                let outcome = self
                    .with_retries(state, claimed, &request, sent.as_deref(), &mut lost)
                    .await;
                (outcome, sent.is_some(), lost)
            }
            Err(TokenUnavailable::NeedsReauthorization) => {
                let reason = "nothing stored can renew the access token";
                let now = ctx.clock.unix();
                let why = Reason::RefreshRejected;
                tokens::mark_needs_attention(ctx.db, &state.id, claimed, why, reason, now).await?;
                return Err(TokenUnavailable::NeedsReauthorization);
            }
            Err(e) => {
                tokens::release_claim(ctx.db, &state.id, claimed).await?;
                return Err(e);
            }
        };
        let platform = self.platform();
        match outcome.and_then(|token| self.renewal.check(state, &token).map(|()| token)) {
            Ok(token) => self.store(state, claimed, token).await,
            Err(failure) if self.renewal.is_permanent(state.auth_kind, &failure) => {
                let reason = format!(
                    "{} token endpoint {failure}",
                    self.renewal.platform().possessive()
                );
                let why = refusal_reason(state.auth_kind, &failure, used_refresh, lost);
                let now = ctx.clock.unix();
                tokens::mark_needs_attention(ctx.db, &state.id, claimed, why, &reason, now).await?;
                tracing::warn!(install_id = %state.id, platform, reason, why = why.as_str(), "connection needs re-authorization");
                crate::measure::token_refresh(platform, "needs_attention");
                Err(TokenUnavailable::NeedsReauthorization)
            }
            Err(failure) => {
                tokens::release_claim(ctx.db, &state.id, claimed).await?;
                tracing::warn!(install_id = %state.id, platform, error = %failure, "token renewal failed");
                crate::measure::token_refresh(platform, "failed");
                Err(refresh_failed(failure))
            }
        }
    }

    /// Sends the token request, again after a backoff while failures are transient and the
    /// claim still holds. A refresh token (SHA-256 `sent`) is noted as in flight before each
    /// send; an answer that never arrives leaves it so (and sets `lost` for the next attempt),
    /// any answer clears it.
    async fn with_retries(
        &self,
        state: &TokenState,
        claimed: i64,
        request: &R::Request,
        sent: Option<&str>,
        lost: &mut bool,
    ) -> Result<Renewed, TokenError> {
        let mut backoff = self.policy.first_backoff;
        let mut attempt = 1;
        loop {
            if let Some(sent) = sent {
                tokens::note_refresh_sent(self.ctx.db, &state.id, claimed, sent)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "token lifecycle: cannot note a refresh");
                        TokenError::Unreachable
                    })?;
            }
            let answer = self.renewal.send(self.ctx, request).await;
            let unanswered = matches!(answer, Err(TokenError::Timeout | TokenError::Unreachable));
            if sent.is_some() {
                if unanswered {
                    // Possibly received and rotated by the platform: a refusal of this same
                    // token from now on is a lost rotation.
                    *lost = matches!(answer, Err(TokenError::Timeout)) || *lost;
                } else if answer.is_err()
                    && let Err(e) = tokens::answer_read(self.ctx.db, &state.id, claimed).await
                {
                    tracing::warn!(error = %e, "token lifecycle: cannot note an answer");
                }
            }
            match answer {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    tracing::info!(install_id = %state.id, platform = self.platform(), attempt, error = %e, "token request failed; retrying");
                    tokio::time::sleep(backoff + jitter(backoff)).await;
                    backoff *= 2;
                    attempt += 1;
                    if !self.claim_holds(&state.id, claimed).await {
                        // Revoked or re-installed meanwhile: spend nothing more.
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// Stores a new token if the claim still holds; the new access token is then the answer.
    async fn store(
        &self,
        state: &TokenState,
        claimed: i64,
        token: Renewed,
    ) -> Result<FreshToken, TokenUnavailable> {
        let ctx = self.ctx;
        let fresh = FreshTokens {
            access_token: &token.access_token,
            refresh_token: token.refresh_token.as_ref(),
            expires_at: token.expires_at,
            scope: token.scope.as_deref(),
        };
        let now = ctx.clock.unix();
        if tokens::store_refreshed(ctx.db, ctx.keyring, &state.id, claimed, &fresh, now).await? {
            tracing::info!(install_id = %state.id, platform = self.platform(), expires_at = token.expires_at, rotated = token.refresh_token.is_some(), "access token renewed");
            crate::measure::token_refresh(self.platform(), "refreshed");
            return Ok(FreshToken {
                secret: token.access_token,
                expires_at: token.expires_at,
            });
        }
        // Revoked (or authorized again) while we asked: what we got is thrown away.
        Err(self
            .active_state(&state.id)
            .await
            .err()
            .unwrap_or_else(|| refresh_failed("was asked while the connection changed; try again")))
    }

    /// The stored access token, if the install is active and it has time left (and is not the
    /// one the API just refused).
    async fn usable_token(
        &self,
        id: &str,
        want: &Want<'_>,
    ) -> Result<Option<FreshToken>, TokenUnavailable> {
        self.fresh_token(&self.active_state(id).await?, want).await
    }

    /// The stored access token, if `state` (an active install's) says it has time left, and it
    /// is not the one the API just refused.
    async fn fresh_token(
        &self,
        state: &TokenState,
        want: &Want<'_>,
    ) -> Result<Option<FreshToken>, TokenUnavailable> {
        let ctx = self.ctx;
        let margin = self
            .renewal
            .margin_secs(state.auth_kind)
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

    /// The token state of a usable install of this platform (active, or needing attention for
    /// a reason that may heal), or why there is none.
    async fn active_state(&self, id: &str) -> Result<TokenState, TokenUnavailable> {
        let state = tokens::load(self.ctx.db, id)
            .await?
            .filter(|s| s.platform == self.renewal.platform())
            .ok_or(TokenUnavailable::NotFound)?;
        match state.status {
            _ if state.usable() => Ok(state),
            InstallStatus::Revoked => Err(TokenUnavailable::Revoked),
            InstallStatus::Active | InstallStatus::NeedsAttention => {
                Err(TokenUnavailable::NeedsReauthorization)
            }
        }
    }

    /// Whether the claim `claimed` on install `id` still holds.
    async fn claim_holds(&self, id: &str, claimed: i64) -> bool {
        matches!(
            tokens::load(self.ctx.db, id).await,
            Ok(Some(s)) if s.token_version == claimed && s.usable()
        )
    }
}

/// A transient failure of a token endpoint; `what` completes the sentence. The platform is not
/// named: whoever shows the message names it once, in front.
pub fn refresh_failed(what: impl std::fmt::Display) -> TokenUnavailable {
    TokenUnavailable::Refresh(format!("the token endpoint {what}"))
}

/// Whether a client-credentials or password grant's failure means the stored credentials no
/// longer work: the platform refused the grant or the client, or answered 401.
pub fn credentials_refused(failure: &TokenError) -> bool {
    matches!(
        failure.oauth_error(),
        Some("invalid_grant" | "invalid_client" | "unauthorized_client")
    ) || matches!(failure, TokenError::Status(401))
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
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(400)) <= Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn refused_credentials_are_told_from_failures() {
        let rejected = |error: &str| TokenError::Rejected {
            error: error.to_owned(),
            description: None,
        };
        assert!(credentials_refused(&rejected("invalid_client")));
        assert!(credentials_refused(&rejected("invalid_grant")));
        assert!(credentials_refused(&TokenError::Status(401)));
        assert!(!credentials_refused(&TokenError::Status(500)));
        assert!(!credentials_refused(&TokenError::Timeout));
    }
}
