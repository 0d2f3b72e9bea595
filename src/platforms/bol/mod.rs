//! bol.com Retailer API: the intermediary code flow ([`oauth`]), a retailer's own credentials
//! added as a connection ([`connection`]), the token lifecycle ([`renewal`]), the Retailer API
//! ([`retailer`]), its settings ([`settings`]) and its
//! sandbox stand-in ([`sandbox`]).
//!
//! See PROVIDERS.md: every token request is a form POST with `Authorization: Basic` and
//! `Accept: application/json`, and nothing secret ever goes into a URL query (bol.com refuses
//! such requests). Access tokens are JWTs; a code-flow install is keyed by the account claim
//! (`BOL_ACCOUNT_CLAIM`, default `sub`). Tokens expire within minutes: [`renewal`] keeps them
//! fresh, and every user of a bol.com token goes through it.

pub mod connection;
pub mod oauth;
pub mod renewal;
pub mod retailer;
pub mod sandbox;
pub mod settings;

use std::sync::Arc;

use async_trait::async_trait;
use axum::{Router, http::HeaderValue};
use oauth2::{CsrfToken, PkceCodeChallenge};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

pub use oauth::{BolToken, Grant, request_token};
pub use renewal::BolContext;
pub use settings::{
    API_MEDIA_TYPE, API_URL, AUTHORIZE_URL, BolClient, BolConfig, CALLBACK_PATH, DEFAULT_SCOPE,
    SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, TOKEN_URL,
};

use self::{oauth::ConnectingClient, settings::BolSettings};
use super::{
    driver::{
        CodeFlow, CompleteError, ConnectionKind, Exchange, HANDOFF_MIN_SECS, Handoff, LandingCard,
        PlatformDriver, ProxyCall, SandboxKit, StatelessCallbacks, TokenEndpoint,
    },
    kit::{
        api_call::ApiError,
        budget::Budget,
        context::{Context, TestOutcome},
    },
};
use crate::{
    config::{ConfigError, Env},
    crypto::Sealed,
    db::{
        installs::{Install, Saved},
        token_state,
    },
    domain::{AuthKind, Platform, StoreDomain},
};

/// bol.com: its endpoints always (a retailer's own credentials need only those), the code flow
/// when storelink's intermediary client is configured.
pub struct Bol {
    config: BolConfig,
}

impl Bol {
    /// Reads `BOL_*` from `env` and fills in the defaults (the sandbox's in sandbox mode).
    pub fn from_env(env: &Env, sandbox: bool, public_url: &Url) -> Result<Self, ConfigError> {
        let settings = BolSettings::from_env(env)?;
        Ok(Self {
            config: BolConfig::resolve(&settings, sandbox, public_url)?,
        })
    }

    /// bol.com's settings.
    pub fn config(&self) -> &BolConfig {
        &self.config
    }

    /// What bol.com's token users need, on `ctx`.
    pub fn context<'a>(&'a self, ctx: &Context<'a>) -> BolContext<'a> {
        BolContext {
            calls: *ctx,
            config: &self.config,
        }
    }
}

#[async_trait]
impl PlatformDriver for Bol {
    fn platform(&self) -> Platform {
        Platform::Bol
    }

    fn disconnect_hint(&self) -> &'static str {
        "remove storelink under Settings > Services > API settings > Authorized parties in your \
         bol.com account"
    }

    fn back_link(&self, _install: &Install) -> Option<(String, &'static str)> {
        Some((
            "https://partner.bol.com/".to_owned(),
            "Back to your bol.com account",
        ))
    }

    fn describes(&self, kind: AuthKind) -> &'static str {
        match kind {
            AuthKind::Code => "code flow: the retailer authorized storelink",
            _ => "the retailer's own API credentials",
        }
    }

    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        self.config
            .code_flow()
            .map(|_| &self.config as &dyn CodeFlow)
    }

    fn token_endpoints(&self, _accounts: &[String]) -> Vec<TokenEndpoint> {
        // Always: retailers' own credentials use it too, without the intermediary client.
        vec![TokenEndpoint {
            url: self.config.token_url.clone(),
            setting: "BOL_TOKEN_URL",
        }]
    }

    fn connection(&self) -> Option<&dyn ConnectionKind> {
        Some(&self.config)
    }

    fn api_budget(&self, account: &str, path: &str) -> Budget {
        self.config.api_budget(account, path)
    }

    async fn test_connection(&self, ctx: &Context<'_>, install: &Install) -> TestOutcome {
        retailer::test_connection(&self.context(ctx), install).await
    }

    async fn handoff(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        _stored: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        let token = self
            .context(ctx)
            .access_token_lasting(&install.id, HANDOFF_MIN_SECS)
            .await?;
        Ok(Handoff {
            access_token: token.secret,
            expires_at: Some(token.expires_at),
            api_base_url: self.config.api_url.clone(),
            x_access_key: None,
            netoapi_username: None,
            token_type: "Bearer",
        })
    }

    async fn replace_rejected(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        rejected: &SecretString,
    ) -> Result<SecretString, ApiError> {
        Ok(self
            .context(ctx)
            .replace_rejected(&install.id, rejected)
            .await?)
    }

    fn proxy_request(
        &self,
        ctx: &Context<'_>,
        call: ProxyCall<'_>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut headers = call.headers;
        // bol.com answers only what is asked for by version: a backend that names no media type
        // (or any) gets the version storelink speaks.
        let unspecific = headers
            .get(reqwest::header::ACCEPT)
            .is_none_or(|v| v.as_bytes() == b"*/*");
        if unspecific {
            headers.insert(
                reqwest::header::ACCEPT,
                HeaderValue::from_static(API_MEDIA_TYPE),
            );
        }
        Ok(ctx
            .http
            .request(call.request.method.clone(), call.url)
            .headers(headers)
            .bearer_auth(call.token.expose_secret())
            .body(call.request.body.clone()))
    }

    fn sandbox(&self, kit: &SandboxKit<'_>) -> anyhow::Result<Option<Router>> {
        Ok(Some(sandbox::router(Arc::new(sandbox::SandboxBol::new(
            kit.keyring,
            kit.clock.clone(),
            &self.config,
        )))))
    }
}

#[async_trait]
impl CodeFlow for BolConfig {
    fn landing(&self) -> LandingCard {
        LandingCard {
            heading: "bol.com",
            blurb: "For retailers selling on bol.com. You will be asked to log in to your bol.com \
                    retailer account and allow storelink to work with it.",
            store_domain_example: None,
            button: "Connect bol.com",
        }
    }

    fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    fn stateless_callbacks(&self) -> StatelessCallbacks {
        // bol.com never starts a flow by itself: a callback without our state is not ours.
        StatelessCallbacks::NotOurs
    }

    fn authorize_url(
        &self,
        _store_domain: Option<&StoreDomain>,
        state: &CsrfToken,
        challenge: &PkceCodeChallenge,
    ) -> Url {
        match self.code_flow() {
            Some(client) => BolConfig::authorize_url(self, client, state, challenge),
            // The flow is offered only with a client (see `code_flow` above).
            None => self.authorize_url.clone(),
        }
    }

    /// The code is exchanged (Basic auth, PKCE) and the install is keyed by the access token's
    /// account claim, named as bol.com shows the retailer when its Retailer API gives a name.
    async fn complete(
        &self,
        ctx: &Context<'_>,
        exchange: Exchange<'_>,
    ) -> Result<Saved, CompleteError> {
        let client = self
            .code_flow()
            .ok_or_else(|| anyhow::anyhow!("the bol.com code flow is not configured"))?;
        let verifier = exchange
            .verifier
            .ok_or_else(|| anyhow::anyhow!("a bol.com flow without its PKCE verifier"))?;
        let grant = Grant::AuthorizationCode {
            code: exchange.code,
            verifier,
            redirect_uri: &self.redirect_uri,
        };
        let claim = Some(self.account_claim.as_str());
        let token = request_token(ctx, self, client, &grant, claim, exchange.now).await?;
        oauth::check_offline_access(self, &token)?;
        let account = token
            .account
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("a checked bol.com token lacks its account"))?;
        let name =
            match retailer::current_retailer_name(ctx, self, account, &token.access_token).await {
                Some(name) => name.as_str().to_owned(),
                None => format!("Retailer {account}"),
            };
        let connection =
            token.connection(account, &name, ConnectingClient::Intermediary, "merchant");
        let saved =
            token_state::save_connection(ctx.db, ctx.keyring, &connection, exchange.now).await?;
        tracing::info!(
            install_id = %saved.id,
            reinstall = saved.reinstall,
            expires_at = token.expires_at,
            "bol.com install stored"
        );
        Ok(saved)
    }
}
