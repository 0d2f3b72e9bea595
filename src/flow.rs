//! The authorization-code flow's state, shared by every provider.
//!
//! Guarantees (DESIGN.md "The flow"): a state carries 256 random bits; it is bound to the browser
//! that started the flow through a random binding kept in that browser's session; it is spent on
//! first use; it expires after [`STATE_LIFETIME_SECS`]; and it is tied to the provider and store
//! domain it was started for. Each refusal says which of these failed, before any token request.

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use secrecy::ExposeSecret as _;
use tower_sessions::Session;

use crate::{
    clock::Clock,
    crypto::{Keyring, constant_time_eq, random_hex, sha256_hex},
    db::{Db, oauth_states},
    domain::{Platform, StoreDomain},
};

/// How long a started flow may take, in seconds.
pub const STATE_LIFETIME_SECS: i64 = 10 * 60;
/// Flows are deleted this long after they expire (until then a late or replayed callback is
/// told "expired" or "used" rather than "unknown").
pub const SWEEP_AFTER_EXPIRY_SECS: i64 = 5 * 60;
/// Unused flows one browser may hold at once: starting another drops its oldest.
pub const MAX_LIVE_FLOWS_PER_BROWSER: i64 = 10;

/// Session key of the random value that ties flows to this browser.
const BROWSER_BINDING_KEY: &str = "flow.browser_binding";

/// A flow that has just been started: what goes into the authorize URL.
pub struct StartedFlow {
    /// The state to send.
    pub state: CsrfToken,
    /// The PKCE challenge to send.
    pub pkce_challenge: PkceCodeChallenge,
}

/// A flow whose callback has arrived and passed every check.
pub struct ReturnedFlow {
    /// The domain the flow was started for.
    pub store_domain: Option<StoreDomain>,
    /// The PKCE verifier to send with the code.
    pub pkce_verifier: PkceCodeVerifier,
}

/// Why a callback's state was refused. Each is shown to the merchant as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No flow was started with this state (or it was swept long ago).
    #[error("this installation link is not one that storelink started")]
    Unknown,
    /// The state was spent by an earlier callback.
    #[error("this installation link has already been used")]
    Used,
    /// Started more than ten minutes ago.
    #[error("this installation link has expired (it is valid for 10 minutes)")]
    Expired,
    /// Started in another browser (or a session that has since been lost).
    #[error("this installation was started in another browser")]
    OtherBrowser,
    /// Started for another platform.
    #[error("this installation was started for {started_for}, not {arrived_at}")]
    OtherProvider {
        /// Where the flow was started.
        started_for: &'static str,
        /// Where its callback arrived.
        arrived_at: &'static str,
    },
}

/// Why a flow could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The state was refused.
    #[error(transparent)]
    State(#[from] StateError),
    /// The session or database failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What the flow functions need from the application.
pub struct FlowContext<'a> {
    /// The database.
    pub db: &'a Db,
    /// Seals the PKCE verifier.
    pub keyring: &'a Keyring,
    /// The time.
    pub clock: &'a dyn Clock,
}

/// Starts a flow for `platform` in this browser's session.
pub async fn start(
    ctx: &FlowContext<'_>,
    session: &Session,
    platform: Platform,
    store_domain: Option<&StoreDomain>,
) -> anyhow::Result<StartedFlow> {
    let binding = browser_binding(session).await?;
    let browser_hash = sha256_hex(binding.as_bytes());
    let state = CsrfToken::new_random_len(32);
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let state_hash = sha256_hex(state.secret().as_bytes());
    let sealed = ctx
        .keyring
        .seal(pkce_verifier.secret().as_bytes(), state_hash.as_bytes());
    oauth_states::insert(
        ctx.db,
        &oauth_states::NewFlow {
            state_hash: &state_hash,
            platform,
            browser_hash: &browser_hash,
            store_domain: store_domain.map(StoreDomain::as_str),
            verifier: &sealed,
            created_at: ctx.clock.unix(),
        },
    )
    .await?;
    // One browser cannot pile up flows: its oldest unused ones make room.
    oauth_states::keep_newest_unused(
        ctx.db,
        &browser_hash,
        &state_hash,
        MAX_LIVE_FLOWS_PER_BROWSER,
    )
    .await?;
    Ok(StartedFlow {
        state,
        pkce_challenge,
    })
}

/// Checks a callback's state for `platform` and spends it.
pub async fn finish(
    ctx: &FlowContext<'_>,
    session: &Session,
    platform: Platform,
    state: &str,
) -> Result<ReturnedFlow, FlowError> {
    // A state far longer than ours cannot be one of ours; don't hash megabytes to find out.
    if state.is_empty() || state.len() > 256 {
        return Err(StateError::Unknown.into());
    }
    let state_hash = sha256_hex(state.as_bytes());
    let stored = oauth_states::find(ctx.db, &state_hash)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or(StateError::Unknown)?;

    let started_for = stored.platform;
    if started_for != platform {
        return Err(StateError::OtherProvider {
            started_for: started_for.display_name(),
            arrived_at: platform.display_name(),
        }
        .into());
    }
    let binding: Option<String> = session
        .get(BROWSER_BINDING_KEY)
        .await
        .map_err(anyhow::Error::from)?;
    let same_browser = binding.is_some_and(|b| {
        constant_time_eq(
            sha256_hex(b.as_bytes()).as_bytes(),
            stored.browser_hash.as_bytes(),
        )
    });
    if !same_browser {
        return Err(StateError::OtherBrowser.into());
    }
    if stored.used_at.is_some() {
        return Err(StateError::Used.into());
    }
    let now = ctx.clock.unix();
    if now - stored.created_at > STATE_LIFETIME_SECS {
        return Err(StateError::Expired.into());
    }
    if !oauth_states::mark_used(ctx.db, &state_hash, now)
        .await
        .map_err(anyhow::Error::from)?
    {
        return Err(StateError::Used.into());
    }

    let verifier = ctx
        .keyring
        .open_string(&stored.sealed_verifier(), state_hash.as_bytes())
        .map_err(|e| anyhow::anyhow!("failed to open the PKCE verifier: {e}"))?;
    let store_domain = stored
        .store_domain
        .as_deref()
        .map(StoreDomain::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored flow has an invalid domain: {e}"))?;
    Ok(ReturnedFlow {
        store_domain,
        pkce_verifier: PkceCodeVerifier::new(verifier.expose_secret().to_owned()),
    })
}

/// Whether this browser has started a flow here (it holds a flow binding in its session).
pub async fn has_started_flows(session: &Session) -> anyhow::Result<bool> {
    Ok(session.get::<String>(BROWSER_BINDING_KEY).await?.is_some())
}

/// The browser's binding, created on its first flow. It lives in the session, which survives a
/// change of session id, so a login in between does not break a flow.
async fn browser_binding(session: &Session) -> anyhow::Result<String> {
    if let Some(binding) = session.get::<String>(BROWSER_BINDING_KEY).await? {
        return Ok(binding);
    }
    let binding = random_hex(32);
    session.insert(BROWSER_BINDING_KEY, &binding).await?;
    Ok(binding)
}
