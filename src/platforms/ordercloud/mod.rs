//! Sitecore OrderCloud (reference 002): a marketplace connection an operator adds with an API
//! client and, for the password grant, one of the marketplace's users ([`connection`]), its
//! token renewal and API ([`renewal`]), its settings and hosts ([`settings`]) and its sandbox
//! stand-in ([`sandbox`]).
//!
//! - The API base is one of OrderCloud's hosts ([`HOSTS`]: three environments in five regions),
//!   never a URL typed freely (no request forgery through a form); `ORDERCLOUD_API_URL`, when set,
//!   is the only one (tests, the sandbox).
//! - Tokens: `POST {base}/oauth/token`, a form with `client_id`, `client_secret` when the API
//!   client has one, the grant (`password` with `username` and `password`, or
//!   `client_credentials`) and `scope`. Renewed by [`crate::platforms::kit::lifecycle`]: with the
//!   refresh token when the API client issues them, else (or when it was refused) with the stored
//!   grant, before expiry. `InvalidGrant`/`InvalidCredentials` are told as such, without saying
//!   which of user name or password was wrong (OrderCloud does not either).
//! - Test connection: `GET {base}/v1/me`. API errors come as `{"Errors": [{"ErrorCode",
//!   "Message"}]}` and are shown by code and message.

pub mod connection;
pub mod renewal;
pub mod sandbox;
pub mod settings;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use secrecy::SecretString;
use url::Url;

pub use connection::{Grant, Marketplace, MarketplaceRequest};
pub use renewal::{OrderCloudRenewal, RenewalRequest};
pub use settings::{DEFAULT_SCOPE, OrderCloudConfig, SANDBOX_PATH};

use super::{
    driver::{
        ConnectionKind, Handoff, PlatformDriver, SandboxKit, TokenEndpoint, renewing_handoff,
        replacing_token,
    },
    kit::{
        api_call::{ApiError, stored_api_base},
        budget::{Budget, rate_setting},
        context::{Context, TestOutcome},
    },
};
use crate::{
    config::{ConfigError, Env},
    crypto::Sealed,
    db::installs::Install,
    domain::{Platform, rate_budget::Rate},
};

/// OrderCloud: marketplaces an operator adds with an API client.
pub struct OrderCloud {
    config: OrderCloudConfig,
    /// `ORDERCLOUD_API_RATE_LIMIT`: OrderCloud publishes no per-marketplace figure, so by
    /// default there is no ceiling of ours, only what its answers say.
    api_rate: Option<Rate>,
}

impl OrderCloud {
    /// Reads `ORDERCLOUD_API_URL` (the sandbox's in sandbox mode when unset) and
    /// `ORDERCLOUD_API_RATE_LIMIT` from `env`.
    pub fn from_env(env: &Env, sandbox: bool, public_url: &Url) -> Result<Self, ConfigError> {
        Ok(Self {
            config: OrderCloudConfig::from_env(env, sandbox, public_url)?,
            api_rate: rate_setting(env, "ORDERCLOUD_API_RATE_LIMIT", None)?,
        })
    }
}

#[async_trait]
impl PlatformDriver for OrderCloud {
    fn platform(&self) -> Platform {
        Platform::OrderCloud
    }

    fn disconnect_hint(&self) -> &'static str {
        "delete or deactivate the API client in OrderCloud's portal"
    }

    fn connection(&self) -> Option<&dyn ConnectionKind> {
        Some(&self.config)
    }

    fn api_budget(&self, account: &str, _path: &str) -> Budget {
        Budget::api(Platform::OrderCloud, account, "api", self.api_rate)
    }

    fn token_endpoints(&self, _accounts: &[String]) -> Vec<TokenEndpoint> {
        // Only when ORDERCLOUD_API_URL fixes the host; otherwise each marketplace names its own.
        self.config
            .only_api_url
            .iter()
            .filter_map(|base| settings::under(base, "oauth/token").ok())
            .map(|url| TokenEndpoint {
                url,
                setting: "ORDERCLOUD_API_URL",
            })
            .collect()
    }

    async fn test_connection(&self, ctx: &Context<'_>, install: &Install) -> TestOutcome {
        let budget = self.api_budget(&install.account_id, "v1/me");
        renewal::test_connection(ctx, install, &budget).await
    }

    async fn handoff(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        _stored: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        renewing_handoff(ctx, &OrderCloudRenewal, install, stored_api_base(install)?).await
    }

    async fn replace_rejected(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        rejected: &SecretString,
    ) -> Result<SecretString, ApiError> {
        replacing_token(ctx, &OrderCloudRenewal, install, rejected).await
    }

    fn sandbox(&self, kit: &SandboxKit<'_>) -> anyhow::Result<Option<Router>> {
        Ok(Some(sandbox::router(Arc::new(
            sandbox::SandboxOrderCloud::new(kit.keyring, kit.clock.clone()),
        ))))
    }
}
