//! The registry: every platform storelink connects, each built from its own settings, in one
//! list. Everything that works on any install (the install pages, the console, the API, the
//! proxy) asks the registry for the install's platform and calls it through
//! [`PlatformDriver`]; this file is the one place that names each platform's folder.

use std::sync::Arc;

use axum::Router;
use url::Url;

use super::{
    bol::Bol,
    commercetools::Commercetools,
    driver::{ConnectionKind, ForwardedCallers, Handoff, PlatformDriver, SandboxKit},
    kit::{
        api_call::{ApiError, CheckFailure, TokenUnavailable},
        context::{Context, TestOutcome},
    },
    maropost::Maropost,
    ordercloud::OrderCloud,
};
use crate::{
    clock::Clock,
    config::{ConfigError, Env},
    crypto::{Keyring, Sealed},
    db::{Db, installs::Install},
    domain::{InstallStatus, Platform},
};

/// What the platforms are built with besides their settings.
pub struct Setup<'a> {
    /// Whether sandbox mode is on (unset endpoints point at the stand-ins).
    pub sandbox: bool,
    /// The URL merchants reach storelink at (redirect URIs are built from it).
    pub public_url: &'a Url,
    /// The database (a platform's notifications are stored there).
    pub db: &'a Db,
    /// Seals and opens credentials.
    pub keyring: Arc<Keyring>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The client for URLs an operator configured.
    pub http: reqwest::Client,
}

/// Every platform, ready to be called.
pub struct Registry {
    /// In [`Platform::ALL`]'s order.
    drivers: Vec<Arc<dyn PlatformDriver>>,
    /// bol.com's driver as itself, for tools and tests that use its token lifecycle directly.
    bol: Arc<Bol>,
}

impl Registry {
    /// Builds every platform from its own settings in `env`; a bad one stops start-up naming the
    /// variable.
    pub fn from_env(env: &Env, setup: &Setup<'_>) -> Result<Self, ConfigError> {
        let (sandbox, public_url) = (setup.sandbox, setup.public_url);
        let bol = Arc::new(Bol::from_env(env, sandbox, public_url)?);
        let drivers: Vec<Arc<dyn PlatformDriver>> = vec![
            Arc::new(Maropost::from_env(
                env,
                sandbox,
                public_url,
                setup.db,
                setup.keyring.clone(),
                setup.clock.clone(),
            )?),
            bol.clone(),
            Arc::new(OrderCloud::from_env(env, sandbox, public_url)?),
            Arc::new(Commercetools::from_env(
                env,
                sandbox,
                public_url,
                setup.http.clone(),
            )?),
        ];
        debug_assert!(
            drivers
                .iter()
                .map(|d| d.platform())
                .eq(Platform::ALL.iter().copied()),
            "the registry lists every platform, in the vocabulary's order"
        );
        Ok(Self { drivers, bol })
    }

    /// bol.com's driver as itself (its token lifecycle, for tools and tests).
    pub fn bol(&self) -> &Bol {
        &self.bol
    }

    /// The driver of `platform`.
    pub fn get(&self, platform: Platform) -> &dyn PlatformDriver {
        let index = Platform::ALL
            .iter()
            .position(|p| *p == platform)
            .unwrap_or_default();
        self.drivers[index].as_ref()
    }

    /// The driver a URL's `{platform}` names (`maropost`, `bol`, ...), if any.
    pub fn by_name(&self, name: &str) -> Option<&dyn PlatformDriver> {
        Platform::parse(name).map(|p| self.get(p))
    }

    /// Every driver, in the vocabulary's order.
    pub fn all(&self) -> impl Iterator<Item = &dyn PlatformDriver> {
        self.drivers.iter().map(AsRef::as_ref)
    }

    /// Every platform's connection kind, with its platform.
    pub fn connection_kinds(&self) -> impl Iterator<Item = (Platform, &dyn ConnectionKind)> {
        self.all()
            .filter_map(|d| d.connection().map(|kind| (d.platform(), kind)))
    }

    /// The gateway that forwarded a request, when it carries one's marks.
    pub fn forwarding(&self, headers: &axum::http::HeaderMap) -> Option<&dyn ForwardedCallers> {
        self.all()
            .filter_map(PlatformDriver::forwarded)
            .find(|gateway| gateway.claims(headers))
    }

    /// Calls the install's platform with its stored credentials (renewing them if due) and
    /// says how it went.
    pub async fn test_connection(&self, ctx: &Context<'_>, install: &Install) -> TestOutcome {
        if install.status == InstallStatus::Revoked {
            return Err(CheckFailure::other(
                "the install is revoked and holds no credentials",
            ));
        }
        self.get(install.platform)
            .test_connection(ctx, install)
            .await
    }

    /// The install's access token and where to use it; refuses revoked installs and those
    /// needing re-authorization.
    pub async fn handoff(
        &self,
        ctx: &Context<'_>,
        install: &Install,
        stored: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        match install.status {
            InstallStatus::Active => {}
            InstallStatus::Revoked => return Err(TokenUnavailable::Revoked.into()),
            InstallStatus::NeedsAttention => {
                return Err(TokenUnavailable::NeedsReauthorization.into());
            }
        }
        self.get(install.platform)
            .handoff(ctx, install, stored)
            .await
    }

    /// Every platform's own routes (notifications to storelink).
    pub fn routes(&self) -> Router {
        self.all()
            .filter_map(PlatformDriver::routes)
            .fold(Router::new(), Router::merge)
    }

    /// Every platform's sandbox stand-in.
    pub fn sandbox(&self, kit: &SandboxKit<'_>) -> anyhow::Result<Router> {
        let mut router = Router::new();
        for driver in self.all() {
            if let Some(stand_in) = driver.sandbox(kit)? {
                router = router.merge(stand_in);
            }
        }
        Ok(router)
    }

    /// Lets every platform finish its background work.
    pub async fn shutdown(&self) {
        for driver in self.all() {
            driver.shutdown().await;
        }
    }
}
