//! Keeping an OrderCloud connection's token fresh, and calling its API (Test connection).

use secrecy::SecretString;
use serde_json::Value;
use url::Url;

use crate::platforms::{
    kit::api_call::{ApiError, CheckFailure, TokenUnavailable, stored_api_base},
    kit::bearer,
    kit::budget::Budget,
    kit::context::{Context, TestOutcome},
    kit::lifecycle::{Renewal, Renewed, credentials_refused, stored_url},
    kit::token::TokenError,
};
use crate::{
    db::{
        credentials::{self, Kind},
        installs::Install,
        token_state::TokenState,
    },
    domain::{AuthKind, Platform, text::shorten},
};

use super::{
    connection::{TokenGrant, request_token},
    settings::{DEFAULT_SCOPE, MARGIN_SECS, under},
};

/// How an OrderCloud token is renewed.
pub struct OrderCloudRenewal;

/// What one renewal sends.
pub struct RenewalRequest {
    token_url: Url,
    client_id: String,
    client_secret: Option<SecretString>,
    password: Option<(String, SecretString)>,
    refresh_token: Option<SecretString>,
    scope: String,
}

#[async_trait::async_trait]
impl Renewal for OrderCloudRenewal {
    type Request = RenewalRequest;

    fn platform(&self) -> Platform {
        Platform::OrderCloud
    }

    fn margin_secs(&self, _kind: AuthKind) -> i64 {
        MARGIN_SECS
    }

    async fn prepare(
        &self,
        ctx: &Context<'_>,
        state: &TokenState,
    ) -> Result<RenewalRequest, TokenUnavailable> {
        let open = |kind| credentials::open(ctx.db, ctx.keyring, &state.id, kind);
        let token_url = stored_url(state.token_url.as_deref()).ok_or(TokenUnavailable::Internal)?;
        let client_id = state.client_id.clone().ok_or(TokenUnavailable::Internal)?;
        let password = match state.auth_kind {
            AuthKind::Password => {
                let username = state.username.clone().ok_or(TokenUnavailable::Internal)?;
                let password = open(Kind::Password)
                    .await?
                    .ok_or(TokenUnavailable::NeedsReauthorization)?;
                Some((username, password))
            }
            _ => None,
        };
        let scope = state
            .scope
            .clone()
            .unwrap_or_else(|| DEFAULT_SCOPE.to_owned());
        Ok(RenewalRequest {
            token_url,
            client_id,
            client_secret: open(Kind::ClientSecret).await?,
            password,
            refresh_token: open(Kind::RefreshToken).await?,
            scope,
        })
    }

    /// With the refresh token when there is one; when OrderCloud refuses it (it expired), with
    /// the stored grant, which does not expire.
    async fn send(&self, ctx: &Context<'_>, r: &RenewalRequest) -> Result<Renewed, TokenError> {
        let now = ctx.clock.unix();
        let secret = r.client_secret.as_ref();
        if let Some(refresh_token) = &r.refresh_token {
            let grant = TokenGrant::RefreshToken(refresh_token);
            match request_token(
                ctx,
                &r.token_url,
                &r.client_id,
                secret,
                &grant,
                &r.scope,
                now,
            )
            .await
            {
                Err(e) if e.oauth_error().is_some() => {
                    tracing::info!(error = %e, "OrderCloud refused the refresh token; using the stored grant");
                }
                other => return other,
            }
        }
        let grant = match &r.password {
            Some((username, password)) => TokenGrant::Password { username, password },
            None => TokenGrant::ClientCredentials,
        };
        request_token(
            ctx,
            &r.token_url,
            &r.client_id,
            secret,
            &grant,
            &r.scope,
            now,
        )
        .await
    }

    fn is_permanent(&self, _kind: AuthKind, failure: &TokenError) -> bool {
        matches!(
            failure.oauth_error(),
            Some("InvalidCredentials" | "InvalidGrant")
        ) || credentials_refused(failure)
    }
}

/// "Test connection": `GET {base}/v1/me` with the install's token (renewed once if refused).
pub async fn test_connection(ctx: &Context<'_>, install: &Install, budget: &Budget) -> TestOutcome {
    let platform = Platform::OrderCloud.display_name();
    let me = async {
        let url = under(&stored_api_base(install)?, "v1/me")
            .map_err(|_| ApiError::BadAddress("the API base URL"))?;
        bearer::get_json(ctx, &OrderCloudRenewal, &install.id, &url, budget).await
    }
    .await
    .map_err(|e| CheckFailure::api(platform, &e))?;
    let field = |name: &str| {
        me.get(name)
            .and_then(Value::as_str)
            .map(|s| shorten(s, 100))
    };
    let who = match (field("Username"), field("ID")) {
        (Some(user), Some(id)) => format!("{user} (user {id})"),
        (Some(user), None) => user,
        (None, Some(id)) => format!("user {id}"),
        (None, None) => "the token's user".to_owned(),
    };
    Ok(format!("{platform} answered GET /v1/me for {who}"))
}
