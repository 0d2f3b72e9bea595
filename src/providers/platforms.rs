//! Every platform behind one value: code that works on any install (Test connection, handing a
//! token to the vendor's backend) dispatches on the install's platform here, and nowhere else.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use url::Url;
use utoipa::ToSchema;

use crate::{
    crypto::Sealed,
    db::{
        credentials::{self, Kind},
        installs::{Install, Saved},
    },
    domain::{AuthKind, InstallStatus, Platform},
    providers::{
        api_call::{ApiError, TokenUnavailable},
        bol::{self, lifecycle::BolContext},
        commercetools::{self, connection::CommercetoolsConfig},
        connect::ConnectError,
        context::{Context, TestOutcome},
        lifecycle::Want,
        maropost::{self, MaropostApi, MaropostConfig},
        ordercloud::{self, OrderCloudConfig},
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
    /// Maropost: the `X_ACCESS_KEY` header's value (an add-on's token).
    pub x_access_key: Option<String>,
    /// Maropost: the `NETOAPI_USERNAME` header's value (a user-based API key).
    pub netoapi_username: Option<String>,
    /// `Bearer` (Maropost add-on tokens too, sent as `X_SECRET_KEY`), or `NETOAPI_KEY` for a
    /// Maropost API key.
    pub token_type: &'static str,
}

/// A connection to add, by platform (`"platform"` says which).
#[derive(Deserialize, ToSchema)]
#[serde(tag = "platform", rename_all = "lowercase")]
pub enum ConnectionRequest {
    /// A Maropost store by API key.
    Maropost(maropost::api_key::ApiKeyRequest),
    /// A bol.com retailer's own API credentials.
    Bol(bol::own::OwnCredentialsRequest),
    /// An OrderCloud marketplace.
    #[serde(rename = "ordercloud")]
    OrderCloud(ordercloud::MarketplaceRequest),
    /// A commercetools project.
    Commercetools(commercetools::connection::ProjectRequest),
}

impl ConnectionRequest {
    /// The platform it is for.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Maropost(_) => Platform::Maropost,
            Self::Bol(_) => Platform::Bol,
            Self::OrderCloud(_) => Platform::OrderCloud,
            Self::Commercetools(_) => Platform::Commercetools,
        }
    }
}

/// Every platform, ready to be called: what code that works on any install dispatches through.
#[derive(Clone, Copy)]
pub struct Platforms<'a> {
    /// Database, keyring, clock, HTTP client.
    pub calls: Context<'a>,
    /// Maropost's settings, when its add-on flow is enabled.
    pub maropost: Option<&'a MaropostConfig>,
    /// Where Maropost stores' API calls go (API keys need only this).
    pub maropost_api: &'a MaropostApi,
    /// OrderCloud's settings.
    pub ordercloud: &'a OrderCloudConfig,
    /// commercetools' hosts.
    pub commercetools: &'a CommercetoolsConfig,
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
                maropost::test_connection(&self.calls, self.maropost, self.maropost_api, install)
                    .await
            }
            Platform::Bol => bol::retailer::test_connection(&self.bol, install).await,
            Platform::OrderCloud => {
                ordercloud::test_connection(&self.calls, self.bol.tokens, install).await
            }
            Platform::Commercetools => {
                commercetools::connection::test_connection(&self.calls, self.bol.tokens, install)
                    .await
            }
        }
    }

    /// Adds a connection with credentials (see [`crate::providers::connect`]): checks, asks the
    /// platform, stores only what it accepted.
    pub async fn connect(
        &self,
        request: &ConnectionRequest,
        actor: &str,
    ) -> Result<Saved, ConnectError> {
        let calls = &self.calls;
        match request {
            ConnectionRequest::Maropost(r) => {
                maropost::api_key::connect(calls, self.maropost_api, r, actor).await
            }
            ConnectionRequest::Bol(r) => bol::own::connect(calls, self.bol.config, r, actor).await,
            ConnectionRequest::OrderCloud(r) => {
                ordercloud::connect(calls, self.ordercloud, r, actor).await
            }
            ConnectionRequest::Commercetools(r) => {
                commercetools::connection::connect(calls, self.commercetools, r, actor).await
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
            Platform::Maropost => self.maropost_handoff(install, stored_token),
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
                    netoapi_username: None,
                    token_type: "Bearer",
                })
            }
            Platform::OrderCloud => {
                let want = Want {
                    rejected: None,
                    at_least_secs: HANDOFF_MIN_SECS,
                };
                let token =
                    ordercloud::access_token(&self.calls, self.bol.tokens, &install.id, &want)
                        .await?;
                Ok(Handoff {
                    access_token: token.secret,
                    expires_at: Some(token.expires_at),
                    api_base_url: ordercloud::api_base(install)?,
                    x_access_key: None,
                    netoapi_username: None,
                    token_type: "Bearer",
                })
            }
            Platform::Commercetools => {
                let want = Want {
                    rejected: None,
                    at_least_secs: HANDOFF_MIN_SECS,
                };
                let token = commercetools::connection::access_token(
                    &self.calls,
                    self.bol.tokens,
                    &install.id,
                    &want,
                )
                .await?;
                Ok(Handoff {
                    access_token: token.secret,
                    expires_at: Some(token.expires_at),
                    api_base_url: commercetools::connection::api_base(install)?,
                    x_access_key: None,
                    netoapi_username: None,
                    token_type: "Bearer",
                })
            }
        }
    }

    /// A new access token for `install` after its platform refused `rejected` (HTTP 401),
    /// unless another caller has already replaced it.
    pub async fn replace_rejected(
        &self,
        install: &Install,
        rejected: &SecretString,
    ) -> Result<SecretString, ApiError> {
        let want = Want {
            rejected: Some(rejected),
            at_least_secs: 0,
        };
        let token = match install.platform {
            Platform::Bol => self.bol.replace_rejected(&install.id, rejected).await?,
            Platform::OrderCloud => {
                ordercloud::access_token(&self.calls, self.bol.tokens, &install.id, &want)
                    .await?
                    .secret
            }
            Platform::Commercetools => {
                commercetools::connection::access_token(
                    &self.calls,
                    self.bol.tokens,
                    &install.id,
                    &want,
                )
                .await?
                .secret
            }
            Platform::Maropost => return Err(ApiError::NoCredentials("no renewable token")),
        };
        Ok(token)
    }

    /// A Maropost install's stored credential (an add-on's token, or an API key), as it is:
    /// neither expires.
    fn maropost_handoff(
        &self,
        install: &Install,
        stored_token: Option<&Sealed>,
    ) -> Result<Handoff, ApiError> {
        let sealed = stored_token.ok_or(ApiError::NoCredentials("no access token"))?;
        let token =
            credentials::open_sealed(self.calls.keyring, &install.id, Kind::AccessToken, sealed)
                .map_err(|e| {
                    tracing::error!(error = format!("{e:#}"), "cannot open a Maropost token");
                    ApiError::Token(TokenUnavailable::Internal)
                })?;
        let api_base_url = self.maropost_api.store_url(install)?;
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
        Ok(Handoff {
            access_token: token,
            expires_at: None,
            api_base_url,
            x_access_key: Some(self.maropost()?.client_id.clone()),
            netoapi_username: None,
            token_type: "Bearer",
        })
    }
}

impl Handoff {
    /// The token, for the one answer that carries it.
    pub fn expose_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}
