//! A project's tokens: asked for with the client-credentials grant, reused until shortly
//! before they expire, renewed the same way; Test connection.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use url::Url;

use crate::{
    db::{
        credentials::{self, Kind},
        installs::Install,
        token_state::TokenState,
    },
    domain::{AuthKind, Platform, text::shorten},
    platforms::{
        kit::api_call::{CheckFailure, TokenUnavailable, stored_api_base},
        kit::bearer,
        kit::budget::Budget,
        kit::context::{Context, TestOutcome},
        kit::lifecycle::{Renewal, Renewed, credentials_refused, stored_url},
        kit::token::{TokenError, send_token_request},
    },
};

/// A token is renewed when this little of it remains, in seconds.
const MARGIN_SECS: i64 = 300;

/// Asks `token_url` for a client-credentials token.
pub(super) async fn request_token(
    ctx: &Context<'_>,
    token_url: &Url,
    client_id: &str,
    client_secret: &SecretString,
    scope: &str,
    now: i64,
) -> Result<Renewed, TokenError> {
    let request = ctx
        .http
        .post(token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .basic_auth(client_id, Some(client_secret.expose_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)]);
    let budget = Budget::token(Platform::Commercetools, client_id, None);
    parse_token(&send_token_request(ctx, &budget, request).await?, now)
}

/// A token answer: `access_token`, `expires_in`, and the granted `scope`; a client-credentials
/// grant has no refresh token to keep.
pub(super) fn parse_token(
    json: &serde_json::Map<String, Value>,
    now: i64,
) -> Result<Renewed, TokenError> {
    Ok(Renewed {
        refresh_token: None,
        ..Renewed::from_answer(json, now)?
    })
}

/// How a commercetools token is renewed: the client-credentials grant again.
pub struct CommercetoolsRenewal;

/// What one renewal sends.
pub struct RenewalRequest {
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    scope: String,
}

#[async_trait::async_trait]
impl Renewal for CommercetoolsRenewal {
    type Request = RenewalRequest;

    fn platform(&self) -> Platform {
        Platform::Commercetools
    }

    fn margin_secs(&self, _kind: AuthKind) -> i64 {
        MARGIN_SECS
    }

    async fn prepare(
        &self,
        ctx: &Context<'_>,
        state: &TokenState,
    ) -> Result<RenewalRequest, TokenUnavailable> {
        let token_url = stored_url(state.token_url.as_deref()).ok_or(TokenUnavailable::Internal)?;
        let client_id = state.client_id.clone().ok_or(TokenUnavailable::Internal)?;
        let client_secret = credentials::open(ctx.db, ctx.keyring, &state.id, Kind::ClientSecret)
            .await?
            .ok_or(TokenUnavailable::NeedsReauthorization)?;
        let scope = state.scope.clone().ok_or(TokenUnavailable::Internal)?;
        Ok(RenewalRequest {
            token_url,
            client_id,
            client_secret,
            scope,
        })
    }

    async fn send(&self, ctx: &Context<'_>, r: &RenewalRequest) -> Result<Renewed, TokenError> {
        let now = ctx.clock.unix();
        request_token(
            ctx,
            &r.token_url,
            &r.client_id,
            &r.client_secret,
            &r.scope,
            now,
        )
        .await
    }

    fn is_permanent(&self, _kind: AuthKind, failure: &TokenError) -> bool {
        credentials_refused(failure)
    }
}

/// "Test connection": `GET {api}/{projectKey}` with the install's token (renewed once if
/// refused).
pub async fn test_connection(ctx: &Context<'_>, install: &Install, budget: &Budget) -> TestOutcome {
    let platform = Platform::Commercetools.display_name();
    let project = async {
        let url = stored_api_base(install)?;
        bearer::get_json(ctx, &CommercetoolsRenewal, &install.id, &url, budget).await
    }
    .await
    .map_err(|e| CheckFailure::api(platform, &e))?;
    let field = |name: &str| {
        project
            .get(name)
            .and_then(Value::as_str)
            .map(|s| shorten(s, 100))
    };
    let what = match (field("key"), field("name")) {
        (Some(key), Some(name)) => format!("project {key} ({name})"),
        (Some(key), None) => format!("project {key}"),
        _ => "the project".to_owned(),
    };
    Ok(format!(
        "{platform} answered GET /{{projectKey}} for {what}"
    ))
}
