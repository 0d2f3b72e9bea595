//! commercetools: its clouds and regions ([`cloud`]), project connections with an API client
//! ([`connection`]) and their tokens ([`renewal`]), requests that reach storelink through the
//! Merchant Center API gateway on behalf of a Merchant Center user ([`forward_to`]), its
//! settings ([`settings`]) and its sandbox stand-ins ([`sandbox`]: a project's hosts and the
//! gateway).

pub mod cloud;
pub mod connection;
pub mod forward_to;
pub mod renewal;
pub mod sandbox;
pub mod settings;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use axum::{Router, http::HeaderMap};
use secrecy::SecretString;
use url::Url;

pub use connection::{ProjectRequest, connect};
pub use renewal::{CommercetoolsRenewal, RenewalRequest};
pub use settings::{CommercetoolsConfig, SANDBOX_PATH};

use self::{
    cloud::CloudIdentifier,
    forward_to::{ForwardTo, Forwarded, Issuers},
};
use super::{
    driver::{
        ConnectionKind, ForwardRefusal, ForwardedCallers, ForwardedUser, Handoff, PlatformDriver,
        SandboxKit, TokenEndpoint, renewing_handoff, replacing_token,
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

/// commercetools: projects an operator adds with an API client, and the Merchant Center
/// gateway's users.
pub struct Commercetools {
    config: CommercetoolsConfig,
    forward_to: ForwardTo,
    /// Whether sandbox mode serves the gateway's stand-in (and trusts it).
    sandbox: bool,
    /// `COMMERCETOOLS_API_RATE_LIMIT`: commercetools publishes no per-project request rate,
    /// so by default there is no ceiling of ours, only what its answers say.
    api_rate: Option<Rate>,
}

impl Commercetools {
    /// Reads `COMMERCETOOLS_*` from `env` (the sandbox's hosts and gateway in sandbox mode when
    /// unset); the gateways' keys are fetched with `http`.
    pub fn from_env(
        env: &Env,
        sandbox: bool,
        public_url: &Url,
        http: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let issuers = Issuers::resolve(
            env.issuer_url("COMMERCETOOLS_MC_API_URL")?.as_ref(),
            sandbox,
            public_url,
            sandbox::PATH,
        );
        Ok(Self {
            config: CommercetoolsConfig::from_env(env, sandbox, public_url)?,
            forward_to: ForwardTo::new(issuers, http),
            sandbox,
            api_rate: rate_setting(env, "COMMERCETOOLS_API_RATE_LIMIT", None)?,
        })
    }
}

#[async_trait]
impl PlatformDriver for Commercetools {
    fn platform(&self) -> Platform {
        Platform::Commercetools
    }

    fn disconnect_hint(&self) -> &'static str {
        "delete the API client in the Merchant Center (Settings > Developer settings)"
    }

    fn connection(&self) -> Option<&dyn ConnectionKind> {
        Some(&self.config)
    }

    fn forwarded(&self) -> Option<&dyn ForwardedCallers> {
        Some(&self.forward_to)
    }

    fn api_budget(&self, account: &str, _path: &str) -> Budget {
        Budget::api(Platform::Commercetools, account, "api", self.api_rate)
    }

    fn token_endpoints(&self, accounts: &[String]) -> Vec<TokenEndpoint> {
        // The auth host depends on the project's region (`{cloud}:{projectKey}`): each region
        // in use, from the template.
        CloudIdentifier::ALL
            .iter()
            .filter(|cloud| accounts.iter().any(|a| cloud::cloud_of(a) == Some(**cloud)))
            .filter_map(|cloud| self.config.token_url(*cloud).ok())
            .map(|url| TokenEndpoint {
                url,
                setting: "COMMERCETOOLS_AUTH_URL",
            })
            .collect()
    }

    fn token_endpoints_by_account(&self) -> bool {
        true
    }

    async fn test_connection(&self, ctx: &Context<'_>, install: &Install) -> TestOutcome {
        let budget = self.api_budget(&install.account_id, "");
        renewal::test_connection(ctx, install, &budget).await
    }

    async fn handoff(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        _stored: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        renewing_handoff(
            ctx,
            &CommercetoolsRenewal,
            install,
            stored_api_base(install)?,
        )
        .await
    }

    async fn replace_rejected(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        rejected: &SecretString,
    ) -> Result<SecretString, ApiError> {
        replacing_token(ctx, &CommercetoolsRenewal, install, rejected).await
    }

    fn sandbox(&self, kit: &SandboxKit<'_>) -> anyhow::Result<Option<Router>> {
        let project = sandbox::project::router(Arc::new(sandbox::project::SandboxProject::new(
            kit.keyring,
            kit.clock.clone(),
        )));
        let gateway = sandbox::router(Arc::new(sandbox::SandboxMerchantCenter::new(
            kit.public_url,
            kit.clock.clone(),
        )?));
        debug_assert!(self.sandbox, "the sandbox is built in sandbox mode only");
        Ok(Some(project.merge(gateway)))
    }

    /// The `merchant_center` security scheme: a forward-to JWT from the Merchant Center API
    /// gateway.
    fn document(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "merchant_center",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A request forwarded by the commercetools Merchant Center API gateway \
                         (`/proxy/forward-to`, for a Custom Application): \
                         `X-MC-API-Forward-To-Version` (`v1` or `v2`), \
                         `X-MC-API-Cloud-Identifier` (`gcp-au`, `gcp-eu`, `gcp-us`, `aws-fra`, \
                         `aws-ohio`) and the gateway's RS256 JWT as the bearer token, with `iss` \
                         the gateway of that cloud, `aud` storelink's public origin and the \
                         request's path, and the project in `{iss}/claims/project_key`. The \
                         caller sees the commercetools installs whose `account_id` is \
                         `{cloud}:{project_key}` only; other installs answer 404, revoking 403. \
                         Either Merchant Center header makes a request a forwarded one: a \
                         missing header or a token that does not verify answers 401.",
                    ))
                    .build(),
            ),
        );
    }
}

#[async_trait]
impl ForwardedCallers for ForwardTo {
    fn gateway(&self) -> &'static str {
        "Merchant Center"
    }

    fn claims(&self, headers: &HeaderMap) -> bool {
        Forwarded::from_headers(headers).claims_forwarding()
    }

    async fn verify(
        &self,
        headers: &HeaderMap,
        public_url: &Url,
        path: &str,
        now: i64,
    ) -> Result<ForwardedUser, ForwardRefusal> {
        let audience = forward_to::audience(public_url, path);
        let user = ForwardTo::verify(self, &Forwarded::from_headers(headers), &audience, now)
            .await
            .map_err(|refusal| ForwardRefusal {
                unavailable: refusal.is_unavailable(),
                reason: refusal.to_string(),
            })?;
        Ok(ForwardedUser {
            platform: Platform::Commercetools,
            account_id: user.account_id(),
            actor: user.actor(),
        })
    }
}
