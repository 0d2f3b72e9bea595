//! What storelink knows about one platform, behind one trait: [`PlatformDriver`], and the
//! capabilities a platform may have, each a trait of its own that the driver hands out when the
//! platform has it ([`CodeFlow`], [`ConnectionKind`], [`InboundWebhooks`], [`ForwardedCallers`]).
//! The web layer, the API, the console, the proxy and the application ask the
//! [`crate::platforms::Registry`] for a driver and call these; none of them names a platform.

use async_trait::async_trait;
use axum::{Router, body::Bytes, http::HeaderMap};
use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::kit::{
    api_call::ApiError,
    budget::Budget,
    connect::ConnectError,
    context::{Context, TestOutcome},
    forms::{ConnectionForm, Fields, Values},
    lifecycle::{Renewal, Want},
    token::TokenError,
};
use crate::{
    clock::Clock,
    crypto::{Keyring, Sealed},
    db::installs::{Install, Saved},
    domain::{AuthKind, Initiator, Platform, StoreDomain},
};

/// A token handed out (to the vendor's backend, or to the proxy's call) has at least this long
/// left: a fresh one is had first.
pub const HANDOFF_MIN_SECS: i64 = 60;

/// What the vendor's backend needs to call an install's platform itself.
pub struct Handoff {
    /// The access token (or API key).
    pub access_token: SecretString,
    /// When it stops working, Unix seconds, when the platform says.
    pub expires_at: Option<i64>,
    /// The install's API base URL.
    pub api_base_url: Url,
    /// The platform's client id sent beside the token, when its API wants one (as
    /// `x_access_key` in the API's answer).
    pub x_access_key: Option<String>,
    /// The user a user-based API key belongs to, when the platform's API wants it named.
    pub netoapi_username: Option<String>,
    /// How the token is sent: `Bearer`, or the platform's own scheme (`NETOAPI_KEY`).
    pub token_type: &'static str,
}

impl Handoff {
    /// The token, for the one answer that carries it.
    pub fn expose_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}

/// A handoff of a token from the lifecycle (`renewal`'s platform), renewed first when it has
/// less than [`HANDOFF_MIN_SECS`] left, for `api_base_url`.
pub async fn renewing_handoff<R: Renewal>(
    ctx: &Context<'_>,
    renewal: &R,
    install: &Install,
    api_base_url: Url,
) -> Result<Handoff, ApiError> {
    let want = Want {
        rejected: None,
        at_least_secs: HANDOFF_MIN_SECS,
    };
    let token = ctx.tokens.get(ctx, renewal, &install.id, &want).await?;
    Ok(Handoff {
        access_token: token.secret,
        expires_at: Some(token.expires_at),
        api_base_url,
        x_access_key: None,
        netoapi_username: None,
        token_type: "Bearer",
    })
}

/// A new token from the lifecycle after the platform refused `rejected`, unless another caller
/// replaced it already.
pub async fn replacing_token<R: Renewal>(
    ctx: &Context<'_>,
    renewal: &R,
    install: &Install,
    rejected: &SecretString,
) -> Result<SecretString, ApiError> {
    let want = Want {
        rejected: Some(rejected),
        at_least_secs: 0,
    };
    Ok(ctx
        .tokens
        .get(ctx, renewal, &install.id, &want)
        .await?
        .secret)
}

/// A request for the platform, as the backend sent it to the proxy (path already checked).
pub struct ProxyRequest {
    /// The method.
    pub method: Method,
    /// The checked path under the base URL.
    pub path: String,
    /// The raw query string, passed along as it came.
    pub query: Option<String>,
    /// The backend's headers (only those allowed are sent on).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// One proxied call to make: where, with what, for whom.
pub struct ProxyCall<'a> {
    /// The install.
    pub install: &'a Install,
    /// Its handoff (credentials and API base).
    pub handoff: &'a Handoff,
    /// The token to send (the handoff's, or a renewed one).
    pub token: &'a SecretString,
    /// The checked target URL.
    pub url: Url,
    /// The backend's request.
    pub request: &'a ProxyRequest,
    /// The request headers passed on.
    pub headers: HeaderMap,
}

/// A token endpoint storelink calls for a platform, and the setting that moves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpoint {
    /// Where tokens are asked for.
    pub url: Url,
    /// The variable that sets it (`MAROPOST_TOKEN_URL`, ...).
    pub setting: &'static str,
}

/// What the sandbox stand-ins are built with.
pub struct SandboxKit<'a> {
    /// Seals the stand-ins' own secrets.
    pub keyring: &'a Keyring,
    /// The application's clock (tests move it).
    pub clock: std::sync::Arc<dyn Clock>,
    /// Where storelink (and so the sandbox) is reached.
    pub public_url: &'a Url,
}

/// What storelink knows about one platform.
#[async_trait]
pub trait PlatformDriver: Send + Sync {
    /// Which platform this is.
    fn platform(&self) -> Platform;

    /// How a merchant disconnects on the platform, completing "To disconnect, ...".
    fn disconnect_hint(&self) -> &'static str;

    /// Where the success page's main button leads back to (href, label), when known.
    fn back_link(&self, _install: &Install) -> Option<(String, &'static str)> {
        None
    }

    /// How a connection of `kind` authenticates, in words, for the console.
    fn describes(&self, kind: AuthKind) -> &'static str {
        match kind {
            AuthKind::Code => "code flow: the merchant authorized storelink",
            AuthKind::ClientCredentials => "an API client's credentials (client_credentials)",
            AuthKind::Password => "a user's name and password (password grant)",
            AuthKind::ApiKey => "an API key, sent with every call (it does not expire)",
        }
    }

    /// Whether an install of this `kind` keeps only a permanent token (no token section on the
    /// console's page).
    fn permanent_token(&self, _kind: AuthKind) -> bool {
        false
    }

    /// The merchant's install flow, when the platform has one and it is configured.
    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        None
    }

    /// Adding a connection with credentials, when the platform takes them.
    fn connection(&self) -> Option<&dyn ConnectionKind> {
        None
    }

    /// The platform's notifications to storelink, when it sends them.
    fn inbound(&self) -> Option<&dyn InboundWebhooks> {
        None
    }

    /// Callers the platform's own gateway forwards to the vendor API, when it has one.
    fn forwarded(&self) -> Option<&dyn ForwardedCallers> {
        None
    }

    /// The rate budget an API call for `account` (an install's `account_id`) to `path` (under
    /// its API base URL, as the proxy forwards it) draws on: per endpoint group where the
    /// platform limits by group, with the ceiling its `{PLATFORM}_API_RATE_LIMIT` sets.
    fn api_budget(&self, account: &str, path: &str) -> Budget;

    /// The token endpoints storelink calls for this platform, as its settings name them
    /// (`storelink doctor` checks that each answers): none where none is configured or each
    /// connection names its own host. Where the host depends on the account (commercetools: on
    /// the project's region), those `accounts` (its installs' `account_id`s) use.
    fn token_endpoints(&self, accounts: &[String]) -> Vec<TokenEndpoint> {
        let _ = accounts;
        Vec::new()
    }

    /// Whether [`PlatformDriver::token_endpoints`] depends on the accounts it is given.
    fn token_endpoints_by_account(&self) -> bool {
        false
    }

    /// Calls the platform with the install's stored credentials (renewing them first if due),
    /// with one harmless read, and says how it went.
    async fn test_connection(&self, ctx: &Context<'_>, install: &Install) -> TestOutcome;

    /// The install's access token (renewed first when it would expire within a minute) and
    /// where to use it. `stored` is the install's sealed access token as read with it.
    async fn handoff(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        stored: Option<&Sealed>,
    ) -> Result<Handoff, ApiError>;

    /// A new access token after the platform refused `rejected` (HTTP 401), unless another
    /// caller replaced it already; platforms whose tokens do not expire have none.
    async fn replace_rejected(
        &self,
        _ctx: &Context<'_>,
        _install: &Install,
        _rejected: &SecretString,
    ) -> Result<SecretString, ApiError> {
        Err(ApiError::NoCredentials("no renewable token"))
    }

    /// Whether the backend's request header `name` (lower case) is passed on to the platform,
    /// besides the ones every platform gets (`content-type`, `accept`, ...).
    fn passes_header(&self, _name: &str) -> bool {
        false
    }

    /// The proxied request ([`ProxyCall`]). By default a bearer call through the client for
    /// operator-configured hosts; a platform whose API address is built from data calls through
    /// the outbound guard instead.
    fn proxy_request(
        &self,
        ctx: &Context<'_>,
        call: ProxyCall<'_>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        Ok(ctx
            .http
            .request(call.request.method.clone(), call.url)
            .headers(call.headers)
            .bearer_auth(call.token.expose_secret())
            .body(call.request.body.clone()))
    }

    /// Whether a `401` to a proxied call gets one token renewal and one retry.
    fn renews_on_refusal(&self) -> bool {
        true
    }

    /// Routes of the platform's own (its notifications to storelink), with their own state.
    fn routes(&self) -> Option<Router> {
        None
    }

    /// The platform's sandbox stand-in, served in sandbox mode.
    fn sandbox(&self, _kit: &SandboxKit<'_>) -> anyhow::Result<Option<Router>> {
        Ok(None)
    }

    /// Finishes the platform's background work (writes what is queued) before storelink stops.
    async fn shutdown(&self) {}

    /// Adds what the platform has of its own to the vendor API's OpenAPI document (a gateway's
    /// security scheme).
    fn document(&self, _openapi: &mut utoipa::openapi::OpenApi) {}
}

/// What the landing page offers for a platform's install flow.
pub struct LandingCard {
    /// The card's heading.
    pub heading: &'static str,
    /// A sentence on what happens.
    pub blurb: &'static str,
    /// The form asks for the store's domain (and sends it with `GET`), with this example.
    pub store_domain_example: Option<&'static str>,
    /// The button's words.
    pub button: &'static str,
}

/// What becomes of a callback that carries no state of storelink's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatelessCallbacks {
    /// The platform never starts a flow itself: such a callback is not ours (a state error).
    NotOurs,
    /// The platform's control panel starts installs itself, and this storelink accepts them.
    Accepted,
    /// The platform's control panel starts installs itself, and this storelink refuses them.
    Refused,
}

/// What a callback hands the code flow to complete.
pub struct Exchange<'a> {
    /// The authorization code.
    pub code: &'a str,
    /// The PKCE verifier of the flow this browser started, if it started one.
    pub verifier: Option<&'a PkceCodeVerifier>,
    /// The store domain the flow was started for, if any.
    pub store_domain: Option<StoreDomain>,
    /// Who started the install.
    pub initiated_by: Initiator,
    /// Now, Unix seconds.
    pub now: i64,
}

/// Why a code flow could not complete.
#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    /// The platform's token endpoint failed or refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A failure of ours (the database).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CompleteError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("database error"))
    }
}

/// A merchant's install through the platform's authorization-code flow.
#[async_trait]
pub trait CodeFlow: Send + Sync {
    /// The landing page's card.
    fn landing(&self) -> LandingCard;

    /// The issuer a callback's `iss` (RFC 9207) must name, when one is configured.
    fn issuer(&self) -> Option<&str>;

    /// What becomes of a callback without a state.
    fn stateless_callbacks(&self) -> StatelessCallbacks;

    /// Where the merchant approves the add-on.
    fn authorize_url(
        &self,
        store_domain: Option<&StoreDomain>,
        state: &CsrfToken,
        challenge: &PkceCodeChallenge,
    ) -> Url;

    /// Exchanges the code, checks the answer, and stores the install (keyed by what
    /// identifies the account on this platform).
    async fn complete(
        &self,
        ctx: &Context<'_>,
        exchange: Exchange<'_>,
    ) -> Result<Saved, CompleteError>;
}

/// Connections an operator (or the vendor's backend) adds with credentials.
#[async_trait]
pub trait ConnectionKind: Send + Sync {
    /// The console's form for it, with `values` (never a secret) filled in.
    fn form(&self, values: &Values<'_>) -> ConnectionForm;

    /// The sandbox's page with test credentials (href, words), in sandbox mode.
    fn sandbox_help(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Checks the fields, asks the platform once, and stores only what it accepted.
    async fn connect(
        &self,
        ctx: &Context<'_>,
        fields: Fields<'_>,
        actor: &str,
    ) -> Result<Saved, ConnectError>;

    /// The request body's schema in the OpenAPI document: its name and schema.
    fn schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    );
}

/// Notifications the platform sends storelink (order updates), each install at its own URL,
/// authenticated by a key the merchant gives storelink.
pub trait InboundWebhooks: Send + Sync {
    /// The URL to give the platform for `install_id`'s notifications.
    fn url(&self, public_url: &Url, install_id: &str) -> Url;

    /// What the merchant's success page and the console say about setting them up.
    fn texts(&self) -> &'static WebhookTexts;
}

/// The words of a platform's notification set-up (markup of ours, never input: pages show them
/// as they are).
pub struct WebhookTexts {
    /// The success page, before the steps: "... In your control panel:".
    pub merchant_intro: &'static str,
    /// The first step: where the notification settings are.
    pub merchant_open: &'static str,
    /// The second step, before the URL: "Add a notification ..., with this address as its URL:".
    pub merchant_add: &'static str,
    /// The last step: where the key is and why it is asked for.
    pub merchant_key: &'static str,
    /// Once a key is saved.
    pub merchant_done: &'static str,
    /// The console, before the URL.
    pub operator_setup: &'static str,
    /// The console, on the key.
    pub operator_key: &'static str,
}

/// A user of the platform whose request its gateway forwarded to the vendor API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedUser {
    /// The platform.
    pub platform: Platform,
    /// The one account whose installs the user may see (`installs.account_id`).
    pub account_id: String,
    /// How the audit log and logs name the user (never a secret).
    pub actor: String,
}

/// Why a forwarded request was refused.
#[derive(Debug, Clone)]
pub struct ForwardRefusal {
    /// The gateway's keys could not be had at all (`503` rather than `401`).
    pub unavailable: bool,
    /// What was wrong (never the token).
    pub reason: String,
}

/// Requests the platform's gateway forwards to the vendor API on behalf of its users.
#[async_trait]
pub trait ForwardedCallers: Send + Sync {
    /// What the gateway is called, in sentences ("Merchant Center").
    fn gateway(&self) -> &'static str;

    /// Whether a request carries the gateway's marks (then it must verify, and an API key in it
    /// does not count).
    fn claims(&self, headers: &HeaderMap) -> bool;

    /// Verifies a forwarded request for `path` of storelink (reached at `public_url`).
    async fn verify(
        &self,
        headers: &HeaderMap,
        public_url: &Url,
        path: &str,
        now: i64,
    ) -> Result<ForwardedUser, ForwardRefusal>;
}
