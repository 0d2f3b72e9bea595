//! Maropost Commerce Cloud (formerly Neto): the add-on authorization-code flow ([`oauth`]),
//! NetoAPI calls with either of its credentials ([`api`]: an add-on's token, or an API key added
//! as a connection, [`connection`]), its order notifications to storelink ([`webhooks`]), its
//! settings ([`settings`]) and its sandbox stand-in ([`sandbox`]).
//!
//! See PROVIDERS.md: the authorize URL carries `store_domain`; the token answer carries the
//! store's id, domain, name, time zone, the installing user and the billing address, and no
//! expiry or refresh token. An install is keyed by `store_id`, because a domain can change.

pub mod api;
pub mod connection;
pub mod oauth;
pub mod sandbox;
pub mod settings;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use oauth2::{CsrfToken, PkceCodeChallenge};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

pub use settings::{SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET};

use self::{
    api::NetoAuth,
    settings::{MaropostApi, MaropostConfig, MaropostSettings},
    webhooks::receiving::{Receiver, router as webhook_router},
};
use super::{
    driver::{
        CodeFlow, CompleteError, ConnectionKind, Exchange, Handoff, InboundWebhooks, LandingCard,
        PlatformDriver, ProxyCall, SandboxKit, StatelessCallbacks, TokenEndpoint,
    },
    kit::{
        api_call::{ApiError, TokenUnavailable},
        budget::Budget,
        context::{Context, TestOutcome},
    },
};
use crate::{
    clock::Clock,
    config::{ConfigError, Env},
    crypto::{Keyring, Sealed},
    db::{
        Db,
        credentials::{self, Kind},
        installs::{self, Install, NewInstall, Saved},
    },
    domain::{AuthKind, Platform, StoreDomain},
};

/// Maropost: its add-on flow when configured, its stores' API, and its order notifications.
pub struct Maropost {
    /// The add-on's flow, when its credentials are set (or in sandbox mode).
    flow: Option<MaropostConfig>,
    /// Where stores' API calls go (API-key connections need only this).
    api: MaropostApi,
    /// The order notifications' route.
    receiver: Arc<Receiver>,
}

impl Maropost {
    /// Reads `MAROPOST_*` from `env` and fills in the defaults (the sandbox's in sandbox mode);
    /// starts the intake of order notifications on `db`.
    pub fn from_env(
        env: &Env,
        sandbox: bool,
        public_url: &Url,
        db: &Db,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let settings = MaropostSettings::from_env(env)?;
        Ok(Self {
            flow: MaropostConfig::resolve(&settings, sandbox, public_url)?,
            api: MaropostApi::resolve(&settings, sandbox, public_url),
            receiver: Arc::new(Receiver {
                intake: webhooks::Intake::start(db.clone()),
                db: db.clone(),
                keyring,
                clock,
            }),
        })
    }

    /// How calls authenticate for `install`, with `secret` (its token or API key).
    fn auth<'a>(
        &'a self,
        install: &'a Install,
        secret: &'a SecretString,
    ) -> Result<NetoAuth<'a>, ApiError> {
        if install.auth_kind == AuthKind::ApiKey {
            return Ok(NetoAuth::ApiKey {
                key: secret,
                username: install.username.as_deref(),
            });
        }
        let flow = self.flow.as_ref().ok_or(ApiError::NotConfigured(
            "Maropost is not configured on this storelink",
        ))?;
        Ok(NetoAuth::AddOn {
            client_id: &flow.client_id,
            access_token: secret,
        })
    }
}

#[async_trait]
impl PlatformDriver for Maropost {
    fn platform(&self) -> Platform {
        Platform::Maropost
    }

    fn disconnect_hint(&self) -> &'static str {
        "remove the add-on in your Maropost control panel (Add-ons)"
    }

    fn back_link(&self, install: &Install) -> Option<(String, &'static str)> {
        // The store's control panel; its domain was checked when it was stored.
        install
            .store_domain
            .as_deref()
            .and_then(|d| StoreDomain::parse(d).ok())
            .map(|d| {
                (
                    format!("https://{d}/_cpanel"),
                    "Back to your Maropost control panel",
                )
            })
    }

    fn permanent_token(&self, kind: AuthKind) -> bool {
        kind == AuthKind::Code
    }

    fn code_flow(&self) -> Option<&dyn CodeFlow> {
        self.flow.as_ref().map(|flow| flow as &dyn CodeFlow)
    }

    fn token_endpoints(&self, _accounts: &[String]) -> Vec<TokenEndpoint> {
        self.flow
            .iter()
            .map(|flow| TokenEndpoint {
                url: flow.token_url.clone(),
                setting: "MAROPOST_TOKEN_URL",
            })
            .collect()
    }

    fn connection(&self) -> Option<&dyn ConnectionKind> {
        Some(&self.api)
    }

    fn inbound(&self) -> Option<&dyn InboundWebhooks> {
        Some(&webhooks::OrderNotifications)
    }

    fn api_budget(&self, account: &str, _path: &str) -> Budget {
        self.api.api_budget(account)
    }

    async fn test_connection(&self, ctx: &Context<'_>, install: &Install) -> TestOutcome {
        api::test_connection(ctx, self.flow.as_ref(), &self.api, install).await
    }

    async fn handoff(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        stored: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        // The stored credential (an add-on's token, or an API key) as it is: neither expires.
        let sealed = stored.ok_or(ApiError::NoCredentials("no access token"))?;
        let token = credentials::open_sealed(ctx.keyring, &install.id, Kind::AccessToken, sealed)
            .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "cannot open a Maropost token");
            ApiError::Token(TokenUnavailable::Internal)
        })?;
        let api_base_url = self.api.store_url(install)?;
        if install.auth_kind == AuthKind::ApiKey {
            return Ok(Handoff {
                access_token: token,
                expires_at: None,
                api_base_url,
                x_access_key: None,
                netoapi_username: install.username.clone(),
                token_type: "NETOAPI_KEY",
            });
        }
        let flow = self.flow.as_ref().ok_or(ApiError::NotConfigured(
            "Maropost is not configured on this storelink",
        ))?;
        Ok(Handoff {
            access_token: token,
            expires_at: None,
            api_base_url,
            x_access_key: Some(flow.client_id.clone()),
            netoapi_username: None,
            token_type: "Bearer",
        })
    }

    fn passes_header(&self, name: &str) -> bool {
        name == api::ACTION_HEADER
    }

    fn proxy_request(
        &self,
        ctx: &Context<'_>,
        call: ProxyCall<'_>,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut headers = call.headers;
        headers.extend(self.auth(call.install, call.token)?.headers());
        // The URL is built from the store's domain: it goes through the outbound guard.
        Ok(ctx
            .outbound
            .request(call.request.method.clone(), call.url)?
            .headers(headers)
            .body(call.request.body.clone()))
    }

    fn renews_on_refusal(&self) -> bool {
        false
    }

    fn routes(&self) -> Option<Router> {
        Some(webhook_router(self.receiver.clone()))
    }

    fn sandbox(&self, kit: &SandboxKit<'_>) -> anyhow::Result<Option<Router>> {
        Ok(self.flow.as_ref().map(|flow| {
            sandbox::router(Arc::new(sandbox::SandboxMaropost::new(
                kit.keyring,
                kit.clock.clone(),
                flow,
            )))
        }))
    }

    async fn shutdown(&self) {
        // Requests in flight have had their answers: write anything still queued.
        self.receiver.intake.shutdown().await;
    }
}

#[async_trait]
impl CodeFlow for MaropostConfig {
    fn landing(&self) -> LandingCard {
        LandingCard {
            heading: "Maropost Commerce Cloud",
            blurb: "Formerly Neto. Enter your store's domain; you will be asked to approve the \
                    add-on in your Maropost control panel.",
            store_domain_example: Some("mystore.neto.com.au"),
            button: "Install add-on",
        }
    }

    fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    fn stateless_callbacks(&self) -> StatelessCallbacks {
        if self.accept_panel_installs {
            StatelessCallbacks::Accepted
        } else {
            StatelessCallbacks::Refused
        }
    }

    fn authorize_url(
        &self,
        store_domain: Option<&StoreDomain>,
        state: &CsrfToken,
        challenge: &PkceCodeChallenge,
    ) -> Url {
        match store_domain {
            Some(domain) => MaropostConfig::authorize_url(self, domain, state, challenge),
            // Flows start only with a checked domain (the landing card asks for one).
            None => self.authorize_url.clone(),
        }
    }

    async fn complete(
        &self,
        ctx: &Context<'_>,
        exchange: Exchange<'_>,
    ) -> Result<Saved, CompleteError> {
        let token = oauth::exchange_code(ctx, self, exchange.code, exchange.verifier).await?;
        let store_domain = token
            .store_domain
            .as_ref()
            .or(exchange.store_domain.as_ref());
        let saved = installs::save(
            ctx.db,
            ctx.keyring,
            &NewInstall {
                platform: Platform::Maropost,
                account_id: &token.store_id,
                store_domain: store_domain.map(StoreDomain::as_str),
                store_name: token.store_name.as_deref(),
                timezone: token.store_timezone.as_deref(),
                scope: token.scope.as_deref(),
                user: token.user.clone(),
                billing_address: token.billing_address.clone(),
                initiated_by: exchange.initiated_by,
                access_token: token.access_token.expose_secret().as_bytes(),
            },
            exchange.now,
        )
        .await?;
        tracing::info!(
            install_id = %saved.id,
            store_id = %token.store_id,
            reinstall = saved.reinstall,
            initiated_by = %exchange.initiated_by,
            "maropost install stored"
        );
        Ok(saved)
    }
}
