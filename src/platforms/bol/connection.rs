//! A bol.com connection with a retailer's own API credentials (client-credentials grant): the
//! client id and secret a retailer creates in bol.com's Seller Dashboard. The credentials are
//! checked by asking bol.com for a token before anything is stored; the secret is then sealed
//! and renews every token ([`super::renewal`]).

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{PartialSchema as _, ToSchema};

use super::{
    BolClient, BolConfig, Grant,
    oauth::{ConnectingClient, request_token},
    retailer::current_retailer_name,
};
use crate::{
    db::{installs::Saved, token_state},
    domain::Platform,
    platforms::{
        driver::ConnectionKind,
        kit::{
            connect::{ConnectError, FieldError, check_identifier, check_name, check_secret},
            context::Context,
            forms::{ConnectionForm, Field, Fields, Values, name_field},
            lifecycle::credentials_refused,
        },
    },
};

#[async_trait]
impl ConnectionKind for BolConfig {
    fn form(&self, values: &Values<'_>) -> ConnectionForm {
        ConnectionForm {
            title: "bol.com: a retailer's own API credentials",
            intro: "For a retailer that integrates directly: the client id and secret it created \
                    in bol.com's Seller Dashboard (Settings > API settings). storelink asks \
                    bol.com for a token with them before anything is stored.",
            fields: vec![
                name_field("Tulip Traders (own credentials)"),
                Field::text("client_id", "Client id", true, "").mono(),
                Field::secret("client_secret", "Client secret", true),
            ],
        }
        .filled(values)
    }

    fn sandbox_help(&self) -> Option<(&'static str, &'static str)> {
        Some((
            "/sandbox/bol/credentials",
            "the sandbox's API credentials page",
        ))
    }

    async fn connect(
        &self,
        ctx: &Context<'_>,
        fields: Fields<'_>,
        actor: &str,
    ) -> Result<Saved, ConnectError> {
        let request: OwnCredentialsRequest = fields.read().map_err(ConnectError::Unreadable)?;
        connect(ctx, self, &request, actor).await
    }

    fn schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) {
        (
            OwnCredentialsRequest::name().into_owned(),
            OwnCredentialsRequest::schema(),
        )
    }
}

/// A retailer's own credentials, as the form and `POST /api/v1/connections` send them.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OwnCredentialsRequest {
    /// A name for the connection (default: the retailer's name as bol.com shows it).
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<String>,
    /// The client id from the Seller Dashboard (Settings > API settings).
    #[schema(value_type = String, required, min_length = 1, max_length = 200, pattern = "^[!-~]+$")]
    pub client_id: Option<String>,
    /// Its secret; sealed, never shown.
    #[schema(value_type = String, required, format = Password, min_length = 1, max_length = 500, pattern = "^[!-~][ -~]*$")]
    pub client_secret: Option<SecretString>,
}

impl OwnCredentialsRequest {
    fn check(&self) -> Result<(Option<String>, BolClient), FieldError> {
        let name = check_name(self.name.as_deref())?;
        let client_id = check_identifier(
            "client_id",
            self.client_id.as_deref(),
            200,
            "the client id bol.com shows",
        )?;
        let client_secret = check_secret(
            "client_secret",
            self.client_secret.as_ref(),
            500,
            "the client secret bol.com showed when the credentials were created",
        )?;
        Ok((
            name,
            BolClient {
                client_id: client_id.to_owned(),
                client_secret,
            },
        ))
    }
}

/// Checks the request, asks bol.com for a token with the credentials, and only then stores the
/// connection (secret sealed) with that token.
pub async fn connect(
    ctx: &Context<'_>,
    config: &BolConfig,
    request: &OwnCredentialsRequest,
    actor: &str,
) -> Result<Saved, ConnectError> {
    let (name, client) = request.check()?;
    let now = ctx.clock.unix();
    let token = request_token(ctx, config, &client, &Grant::ClientCredentials, None, now)
        .await
        .map_err(|e| {
            ConnectError::from_token(
                Platform::Bol,
                &e,
                credentials_refused(&e),
                "bol.com rejected this client id and secret: check them in bol.com's Seller \
             Dashboard under Settings > API settings (or create new ones there).",
                &["client_id", "client_secret"],
            )
        })?;
    let account = format!("client:{}", client.client_id);
    let name = match name {
        Some(name) => name,
        None => match current_retailer_name(ctx, config, &account, &token.access_token).await {
            Some(name) => name.as_str().to_owned(),
            None => format!("bol.com client {}", client.client_id),
        },
    };
    let own = ConnectingClient::Own {
        client_id: &client.client_id,
        secret: &client.client_secret,
    };
    let connection = token.connection(&account, &name, own, actor);
    Ok(token_state::save_connection(ctx.db, ctx.keyring, &connection, now).await?)
}
