//! Every platform behind one value: code that works on any install (Test connection, handing a
//! token to the vendor's backend) dispatches on the install's platform here, and nowhere else.

use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use crate::{
    crypto::Sealed,
    db::{
        credentials::{self, Kind},
        installs::Install,
    },
    domain::{InstallStatus, Platform},
    providers::{
        api_call::{ApiError, TokenUnavailable},
        bol::{self, lifecycle::BolContext},
        context::{Context, TestOutcome},
        maropost::{self, MaropostConfig},
    },
};

/// A bol.com token handed out has at least this long left (a fresh one is had first).
const HANDOFF_MIN_SECS: i64 = 60;

/// What the vendor's backend needs to call an install's platform itself.
pub struct Handoff {
    /// The access token.
    pub access_token: SecretString,
    /// When it stops working, Unix seconds, when the platform says.
    pub expires_at: Option<i64>,
    /// The install's API base URL.
    pub api_base_url: Url,
    /// Maropost: the `X_ACCESS_KEY` header's value.
    pub x_access_key: Option<String>,
}

/// Every platform, ready to be called: what code that works on any install dispatches through.
#[derive(Clone, Copy)]
pub struct Platforms<'a> {
    /// Database, keyring, clock, HTTP client.
    pub calls: Context<'a>,
    /// Maropost's settings, when it is enabled.
    pub maropost: Option<&'a MaropostConfig>,
    /// bol.com's settings and token lifecycle.
    pub bol: BolContext<'a>,
}

impl Platforms<'_> {
    /// Calls the install's platform with its stored credentials (refreshing them if due) and
    /// says how it went.
    pub async fn test_connection(&self, install: &Install) -> TestOutcome {
        if install.status == InstallStatus::Revoked {
            return Err("the install is revoked and holds no credentials".to_owned());
        }
        match install.platform {
            Platform::Maropost => {
                maropost::test_connection(&self.calls, self.maropost, install).await
            }
            Platform::Bol => bol::retailer::test_connection(&self.bol, install).await,
            // Placeholder until commercetools connections land.
            Platform::Commercetools => {
                Err("testing commercetools connections is not supported yet".to_owned())
            }
        }
    }

    /// Maropost's settings, or why calls to Maropost cannot be made.
    pub fn maropost(&self) -> Result<&MaropostConfig, ApiError> {
        self.maropost.ok_or(ApiError::NotConfigured(
            "Maropost is not configured on this storelink",
        ))
    }

    /// The install's access token (refreshed first if it would expire within a minute) and
    /// where to use it. Refuses revoked installs and those needing re-authorization.
    /// `stored_token` is the install's sealed access token as read with it (see
    /// [`crate::db::installs::find_with_credential`]): Maropost's is used as it is; bol.com's
    /// lifecycle reads its own, under its claim.
    pub async fn handoff(
        &self,
        install: &Install,
        stored_token: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        match install.status {
            InstallStatus::Active => {}
            InstallStatus::Revoked => return Err(TokenUnavailable::Revoked.into()),
            InstallStatus::NeedsAttention => {
                return Err(TokenUnavailable::NeedsReauthorization.into());
            }
        }
        match install.platform {
            Platform::Maropost => {
                let config = self.maropost()?;
                let sealed = stored_token.ok_or(ApiError::NoCredentials("no access token"))?;
                let token = credentials::open_sealed(
                    self.calls.keyring,
                    &install.id,
                    Kind::AccessToken,
                    sealed,
                )
                .map_err(|e| {
                    tracing::error!(error = format!("{e:#}"), "cannot open a Maropost token");
                    ApiError::Token(TokenUnavailable::Internal)
                })?;
                Ok(Handoff {
                    access_token: token,
                    expires_at: None,
                    api_base_url: maropost::store_api_url(config, install)?,
                    x_access_key: Some(config.client_id.clone()),
                })
            }
            Platform::Bol => {
                let token = self
                    .bol
                    .access_token_lasting(&install.id, HANDOFF_MIN_SECS)
                    .await?;
                Ok(Handoff {
                    access_token: token.secret,
                    expires_at: Some(token.expires_at),
                    api_base_url: self.bol.config.api_url.clone(),
                    x_access_key: None,
                })
            }
            // Placeholder until commercetools connections land.
            Platform::Commercetools => Err(ApiError::NotConfigured(
                "commercetools connections are not supported yet",
            )),
        }
    }
}

impl Handoff {
    /// The token, for the one answer that carries it.
    pub fn expose_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}
