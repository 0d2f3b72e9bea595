//! bol.com's part of the token lifecycle ([`crate::platforms::kit::lifecycle`]): how a bol.com
//! token is renewed (the intermediary client's refresh token, or a retailer's own client
//! credentials), when it counts as refused for good, and the context its users take.

use secrecy::SecretString;

use super::{
    oauth::{BolToken, Grant, request_token},
    settings::{BolClient, BolConfig},
};
use crate::{
    db::{
        credentials::{self, Kind},
        token_state::TokenState,
    },
    domain::{AuthKind, Platform},
    platforms::{
        kit::api_call::TokenUnavailable,
        kit::context::Context,
        kit::lifecycle::{FreshToken, Renewal, Renewed, Want, credentials_refused, refresh_failed},
        kit::token::TokenError,
    },
};

/// A code-flow access token is replaced when this little of it remains.
pub const CODE_FLOW_MARGIN_SECS: i64 = 60;
/// A client-credentials access token is replaced when this little of it remains.
pub const CLIENT_CREDENTIALS_MARGIN_SECS: i64 = 30;

/// What bol.com's token users need: the shared parts of every platform call (the token
/// lifecycle among them) and bol.com's settings.
#[derive(Clone, Copy)]
pub struct BolContext<'a> {
    /// Database, keyring, clock, HTTP clients, the token lifecycle.
    pub calls: Context<'a>,
    /// bol.com's endpoints and intermediary client.
    pub config: &'a BolConfig,
}

impl<'a> std::ops::Deref for BolContext<'a> {
    type Target = Context<'a>;
    fn deref(&self) -> &Context<'a> {
        &self.calls
    }
}

impl BolContext<'_> {
    async fn get(&self, install_id: &str, want: &Want<'_>) -> Result<FreshToken, TokenUnavailable> {
        let renewal = BolRenewal {
            config: self.config,
        };
        self.calls
            .tokens
            .get(&self.calls, &renewal, install_id, want)
            .await
    }

    /// A usable access token for install `install_id`: the stored one while it has time left,
    /// else a new one.
    pub async fn access_token(&self, install_id: &str) -> Result<SecretString, TokenUnavailable> {
        Ok(self.get(install_id, &Want::default()).await?.secret)
    }

    /// An access token to hand to someone else (the vendor's backend), with at least
    /// `at_least_secs` left (or as much as a brand-new one has), and when it expires.
    pub async fn access_token_lasting(
        &self,
        install_id: &str,
        at_least_secs: i64,
    ) -> Result<FreshToken, TokenUnavailable> {
        let want = Want {
            rejected: None,
            at_least_secs,
        };
        self.get(install_id, &want).await
    }

    /// A new access token after the API refused `rejected` (HTTP 401) before it expired,
    /// unless another caller has already replaced it.
    pub async fn replace_rejected(
        &self,
        install_id: &str,
        rejected: &SecretString,
    ) -> Result<SecretString, TokenUnavailable> {
        let want = Want {
            rejected: Some(rejected),
            at_least_secs: 0,
        };
        Ok(self.get(install_id, &want).await?.secret)
    }
}

/// How a bol.com token is renewed.
pub struct BolRenewal<'a> {
    /// bol.com's endpoints and intermediary client.
    pub config: &'a BolConfig,
}

/// What to send to the token endpoint for one install.
pub struct TokenRequest {
    client: BolClient,
    refresh_token: Option<SecretString>,
    account_claim: Option<String>,
}

#[async_trait::async_trait]
impl Renewal for BolRenewal<'_> {
    type Request = TokenRequest;

    fn platform(&self) -> Platform {
        Platform::Bol
    }

    fn margin_secs(&self, kind: AuthKind) -> i64 {
        match kind {
            AuthKind::Code => CODE_FLOW_MARGIN_SECS,
            _ => CLIENT_CREDENTIALS_MARGIN_SECS,
        }
    }

    /// Install `state`'s refresh token with storelink's intermediary client, or the retailer's
    /// own client credentials.
    async fn prepare(
        &self,
        ctx: &Context<'_>,
        state: &TokenState,
    ) -> Result<TokenRequest, TokenUnavailable> {
        let open = |kind| credentials::open(ctx.db, ctx.keyring, &state.id, kind);
        match state.auth_kind {
            AuthKind::Code => {
                let client = self.config.code_flow().cloned().ok_or_else(|| {
                    refresh_failed(
                        "cannot be asked: storelink has no bol.com client configured \
                         (BOL_CLIENT_ID)",
                    )
                })?;
                // Without one (bol.com gave none), only the retailer can make the connection work.
                let refresh_token = open(Kind::RefreshToken)
                    .await?
                    .ok_or(TokenUnavailable::NeedsReauthorization)?;
                Ok(TokenRequest {
                    client,
                    refresh_token: Some(refresh_token),
                    account_claim: Some(self.config.account_claim.clone()),
                })
            }
            _ => {
                let client_id = state.client_id.clone().ok_or(TokenUnavailable::Internal)?;
                let client_secret = open(Kind::ClientSecret)
                    .await?
                    .ok_or_else(|| refresh_failed("cannot be asked: no client secret is stored"))?;
                Ok(TokenRequest {
                    client: BolClient {
                        client_id,
                        client_secret,
                    },
                    refresh_token: None,
                    account_claim: None,
                })
            }
        }
    }

    async fn send(&self, ctx: &Context<'_>, request: &TokenRequest) -> Result<Renewed, TokenError> {
        let grant = match &request.refresh_token {
            Some(token) => Grant::RefreshToken(token),
            None => Grant::ClientCredentials,
        };
        let token = request_token(
            ctx,
            self.config,
            &request.client,
            &grant,
            request.account_claim.as_deref(),
            ctx.clock.unix(),
        )
        .await?;
        Ok(token.into())
    }

    fn is_permanent(&self, kind: AuthKind, failure: &TokenError) -> bool {
        is_permanent(kind, failure)
    }

    fn refresh_token<'a>(&self, request: &'a TokenRequest) -> Option<&'a SecretString> {
        request.refresh_token.as_ref()
    }

    /// A refreshed code-flow token must name the install's account.
    fn check(&self, state: &TokenState, token: &Renewed) -> Result<(), TokenError> {
        if state.auth_kind != AuthKind::Code {
            return Ok(());
        }
        let account = crate::platforms::kit::jwt::read_claims_unverified(
            secrecy::ExposeSecret::expose_secret(&token.access_token),
        )
        .ok()
        .and_then(|claims| claims.string(&self.config.account_claim));
        if account.as_deref() == Some(state.account_id.as_str()) {
            Ok(())
        } else {
            Err(TokenError::OtherAccount)
        }
    }
}

impl From<BolToken> for Renewed {
    fn from(token: BolToken) -> Self {
        Self {
            access_token: token.access_token,
            refresh_token: token.refresh_token,
            expires_at: token.expires_at,
            scope: token.scope,
        }
    }
}

/// Whether a failed token request means the connection no longer works: the refresh token
/// was refused (`invalid_grant`), or, for a retailer's own credentials, the credentials were.
fn is_permanent(kind: AuthKind, failure: &TokenError) -> bool {
    match kind {
        AuthKind::Code => failure.oauth_error() == Some("invalid_grant"),
        _ => credentials_refused(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_permanent() {
        let rejected = |error: &str| TokenError::Rejected {
            error: error.to_owned(),
            description: None,
        };
        assert!(is_permanent(AuthKind::Code, &rejected("invalid_grant")));
        assert!(!is_permanent(AuthKind::Code, &rejected("invalid_client")));
        assert!(!is_permanent(AuthKind::Code, &TokenError::Status(503)));
        assert!(!is_permanent(AuthKind::Code, &TokenError::Timeout));
        assert!(is_permanent(
            AuthKind::ClientCredentials,
            &rejected("invalid_client")
        ));
        assert!(is_permanent(
            AuthKind::ClientCredentials,
            &TokenError::Status(401)
        ));
        assert!(!is_permanent(
            AuthKind::ClientCredentials,
            &TokenError::Status(500)
        ));
    }
}
