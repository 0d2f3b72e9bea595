//! Adding an OrderCloud marketplace: the request and its checks, the token request, and
//! telling OrderCloud's refusals plainly.

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use utoipa::{PartialSchema as _, ToSchema};

use crate::platforms::{
    driver::ConnectionKind,
    kit::budget::Budget,
    kit::connect::{
        ConnectError, FieldError, check_identifier, check_name, check_optional_secret, check_secret,
    },
    kit::context::Context,
    kit::forms::{ConnectionForm, Field, Fields, Values, name_field},
    kit::lifecycle::{Renewed, credentials_refused},
    kit::token::{TokenError, send_token_request},
};
use crate::{
    db::{
        installs::{NewInstall, Saved},
        token_state::{self, Entered, FreshTokens, NewConnection},
    },
    domain::{AuthKind, Initiator, InstallingUser, Platform},
};

use super::settings::{DEFAULT_SCOPE, OrderCloudConfig, base_text, under};

#[async_trait]
impl ConnectionKind for OrderCloudConfig {
    fn form(&self, values: &Values<'_>) -> ConnectionForm {
        ConnectionForm {
            title: "Sitecore OrderCloud: a marketplace",
            intro: "A marketplace's API client, and how storelink signs in with it: as one of the \
                    marketplace's users (password) or as the API client itself \
                    (client_credentials). storelink asks OrderCloud for a token before anything \
                    is stored, and renews it before it expires.",
            fields: vec![
                name_field("Acme marketplace"),
                Field::select("api_url", "API base URL", self.choices()).hint(
                    "The marketplace's region and environment, as OrderCloud's API console shows \
                     it.",
                ),
                Field::text("client_id", "API client id", true, "").mono(),
                Field::secret("client_secret", "Client secret", false)
                    .hint("Only when the API client has one."),
                Field::select(
                    "grant_type",
                    "Sign in as",
                    vec![
                        ("A user (password)".to_owned(), "password".to_owned()),
                        (
                            "The API client (client_credentials)".to_owned(),
                            "client_credentials".to_owned(),
                        ),
                    ],
                ),
                Field::text("username", "User name", false, "admin01")
                    .hint("For the password grant."),
                Field::secret("password", "Password", false).hint("For the password grant."),
                Field::text("scope", "Roles", false, "")
                    .hint(
                        "Separated by spaces; empty asks for all of them (OrderCloud grants only \
                         those the user has).",
                    )
                    .mono(),
            ],
        }
        .filled(values)
    }

    fn sandbox_help(&self) -> Option<(&'static str, &'static str)> {
        Some(("/sandbox/ordercloud", "the sandbox marketplace's page"))
    }

    async fn connect(
        &self,
        ctx: &Context<'_>,
        fields: Fields<'_>,
        actor: &str,
    ) -> Result<Saved, ConnectError> {
        let request: MarketplaceRequest = fields.read().map_err(ConnectError::Unreadable)?;
        connect(ctx, self, &request, actor).await
    }

    fn schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) {
        (
            MarketplaceRequest::name().into_owned(),
            MarketplaceRequest::schema(),
        )
    }
}

/// A marketplace connection to add, as the form and `POST /api/v1/connections` send it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MarketplaceRequest {
    /// A name for the connection (default: the user and host).
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<String>,
    /// The API base URL: one of OrderCloud's hosts. May be omitted when `ORDERCLOUD_API_URL` is
    /// set, which is then the only one.
    pub api_url: Option<String>,
    /// The API client's id.
    #[schema(value_type = String, required, min_length = 1, max_length = 200, pattern = "^[!-~]+$")]
    pub client_id: Option<String>,
    /// The API client's secret, when it has one.
    #[schema(value_type = Option<String>, format = Password, max_length = 500)]
    pub client_secret: Option<SecretString>,
    /// `password` (a user of the marketplace) or `client_credentials` (the API client's default
    /// context user).
    #[schema(value_type = String, required, pattern = "^(password|client_credentials)$")]
    pub grant_type: Option<String>,
    /// The user's name (required with the password grant).
    #[schema(value_type = Option<String>, max_length = 200, pattern = "^[!-~]+$")]
    pub username: Option<String>,
    /// The user's password (required with the password grant); sealed, never shown.
    #[schema(value_type = Option<String>, format = Password, max_length = 500)]
    pub password: Option<SecretString>,
    /// The roles to ask for, separated by spaces (default: an all-encompassing list).
    #[schema(value_type = Option<String>, max_length = 2000, pattern = "^[A-Za-z0-9_ -]*$")]
    pub scope: Option<String>,
}

/// How a marketplace connection gets its tokens.
pub enum Grant {
    /// A user's name and password.
    Password {
        /// The user's name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// The API client alone.
    ClientCredentials,
}

/// A checked [`MarketplaceRequest`].
pub struct Marketplace {
    name: Option<String>,
    api_url: Url,
    client_id: String,
    client_secret: Option<SecretString>,
    grant: Grant,
    scope: String,
}

impl MarketplaceRequest {
    /// Checks every field, in the form's order.
    pub fn check(&self, config: &OrderCloudConfig) -> Result<Marketplace, FieldError> {
        let name = check_name(self.name.as_deref())?;
        let api_url = config.api_base(self.api_url.as_deref())?;
        let client_id = check_identifier(
            "client_id",
            self.client_id.as_deref(),
            200,
            "the API client's id, as OrderCloud's portal shows it",
        )?;
        let client_secret = check_optional_secret(
            "client_secret",
            self.client_secret.as_ref(),
            500,
            "the API client's secret",
        )?;
        let grant = match self.grant_type.as_deref().map(str::trim) {
            Some("password") => Grant::Password {
                username: check_identifier(
                    "username",
                    self.username.as_deref(),
                    200,
                    "the user's name in the marketplace",
                )?
                .to_owned(),
                password: check_secret(
                    "password",
                    self.password.as_ref(),
                    500,
                    "the user's password",
                )?,
            },
            Some("client_credentials") => Grant::ClientCredentials,
            _ => {
                return Err(FieldError::new(
                    "grant_type",
                    "Choose how storelink signs in: as a user (password) or as the API client \
                     (client_credentials).",
                ));
            }
        };
        let scope = check_scope(self.scope.as_deref())?;
        Ok(Marketplace {
            name,
            api_url,
            client_id: client_id.to_owned(),
            client_secret,
            grant,
            scope,
        })
    }
}

/// Roles separated by spaces: letters, digits, `_` and `-`; the default list when blank.
fn check_scope(scope: Option<&str>) -> Result<String, FieldError> {
    let scope = scope.map(str::trim).unwrap_or_default();
    if scope.is_empty() {
        return Ok(DEFAULT_SCOPE
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "));
    }
    let roles: Vec<&str> = scope.split_whitespace().collect();
    let valid = scope.len() <= 2000
        && roles.iter().all(|r| {
            r.len() <= 100
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !valid {
        return Err(FieldError::new(
            "scope",
            "List the roles to ask for separated by spaces (e.g. \"FullAccess\" or \
             \"OrderAdmin ProductReader\"), or leave it empty for all of them.",
        ));
    }
    Ok(roles.join(" "))
}

/// What one token request sends.
pub(super) enum TokenGrant<'a> {
    Password {
        username: &'a str,
        password: &'a SecretString,
    },
    ClientCredentials,
    RefreshToken(&'a SecretString),
}

/// Asks `{base}/oauth/token` for a token.
pub(super) async fn request_token(
    ctx: &Context<'_>,
    token_url: &Url,
    client_id: &str,
    client_secret: Option<&SecretString>,
    grant: &TokenGrant<'_>,
    scope: &str,
    now: i64,
) -> Result<Renewed, TokenError> {
    let mut form: Vec<(&str, &str)> = vec![("client_id", client_id)];
    if let Some(secret) = client_secret {
        form.push(("client_secret", secret.expose_secret()));
    }
    match grant {
        TokenGrant::Password { username, password } => {
            form.push(("grant_type", "password"));
            form.push(("username", username));
            form.push(("password", password.expose_secret()));
            form.push(("scope", scope));
        }
        TokenGrant::ClientCredentials => {
            form.push(("grant_type", "client_credentials"));
            form.push(("scope", scope));
        }
        TokenGrant::RefreshToken(token) => {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", token.expose_secret()));
        }
    }
    let request = ctx
        .http
        .post(token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    let budget = Budget::token(Platform::OrderCloud, client_id, None);
    parse_token(&send_token_request(ctx, &budget, request).await?, now)
}

/// A token answer: `access_token`, `expires_in` and maybe `refresh_token`. OrderCloud names
/// no scope in it (its roles are in the token), so the one asked for is kept.
fn parse_token(json: &serde_json::Map<String, Value>, now: i64) -> Result<Renewed, TokenError> {
    Ok(Renewed {
        scope: None,
        ..Renewed::from_answer(json, now)?
    })
}

/// Checks the request, asks OrderCloud for a token, and stores the connection with it.
pub async fn connect(
    ctx: &Context<'_>,
    config: &OrderCloudConfig,
    request: &MarketplaceRequest,
    actor: &str,
) -> Result<Saved, ConnectError> {
    let marketplace = request.check(config)?;
    let token_url = under(&marketplace.api_url, "oauth/token").map_err(anyhow::Error::from)?;
    let grant = match &marketplace.grant {
        Grant::Password { username, password } => TokenGrant::Password { username, password },
        Grant::ClientCredentials => TokenGrant::ClientCredentials,
    };
    let token = request_token(
        ctx,
        &token_url,
        &marketplace.client_id,
        marketplace.client_secret.as_ref(),
        &grant,
        &marketplace.scope,
        ctx.clock.unix(),
    )
    .await
    .map_err(|e| explain_refusal(&e))?;
    let host = marketplace
        .api_url
        .host_str()
        .unwrap_or_default()
        .to_owned();
    let (kind, username, password) = match &marketplace.grant {
        Grant::Password { username, password } => {
            (AuthKind::Password, Some(username.as_str()), Some(password))
        }
        Grant::ClientCredentials => (AuthKind::ClientCredentials, None, None),
    };
    // One connection per marketplace host, API client and user: adding it again renews it.
    let account_id = match username {
        Some(user) => format!("{host}/{}/{user}", marketplace.client_id),
        None => format!("{host}/{}", marketplace.client_id),
    };
    let name = marketplace.name.clone().unwrap_or_else(|| match username {
        Some(user) => format!("{user} at {host}"),
        None => format!("API client {} at {host}", marketplace.client_id),
    });
    let api_url = base_text(&marketplace.api_url);
    let connection = NewConnection {
        install: NewInstall {
            platform: Platform::OrderCloud,
            account_id: &account_id,
            store_domain: None,
            store_name: Some(&name),
            timezone: None,
            scope: Some(&marketplace.scope),
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: token.access_token.expose_secret().as_bytes(),
        },
        kind,
        entered: Entered {
            client_id: Some(&marketplace.client_id),
            client_secret: marketplace.client_secret.as_ref(),
            username,
            password,
            api_url: Some(&api_url),
            token_url: Some(token_url.as_str()),
        },
        tokens: Some(FreshTokens {
            access_token: &token.access_token,
            refresh_token: token.refresh_token.as_ref(),
            expires_at: token.expires_at,
            scope: Some(&marketplace.scope),
        }),
        actor,
    };
    let now = ctx.clock.unix();
    Ok(token_state::save_connection(ctx.db, ctx.keyring, &connection, now).await?)
}

/// OrderCloud's refusal in plain words, naming the fields to look at.
fn explain_refusal(e: &TokenError) -> ConnectError {
    let (refused, fields): (&str, &'static [&'static str]) = match e.oauth_error() {
        Some("InvalidCredentials") => (
            "OrderCloud refused the user name and password for this API client (it does not \
             say which one is wrong): check them in the marketplace's Users (Admin Users, for \
             a seller).",
            &["username", "password"],
        ),
        Some("InvalidGrant") => (
            "OrderCloud refused the API client: check that it exists in this marketplace's \
             environment and region, is active, allows this grant, and that its secret is \
             entered when it has one.",
            &["client_id", "client_secret", "api_url"],
        ),
        _ => (
            "OrderCloud refused these credentials: check the API client's id and secret.",
            &["client_id", "client_secret"],
        ),
    };
    let refused_for_good = matches!(e.oauth_error(), Some("InvalidCredentials" | "InvalidGrant"))
        || credentials_refused(e);
    ConnectError::from_token(Platform::OrderCloud, e, refused_for_good, refused, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> OrderCloudConfig {
        OrderCloudConfig { only_api_url: None }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let config = production();
        let good = || MarketplaceRequest {
            api_url: Some("https://sandboxapi.ordercloud.io".into()),
            client_id: Some("0A1B2C3D-client".into()),
            grant_type: Some("password".into()),
            username: Some("admin01".into()),
            password: Some(SecretString::from("pw")),
            ..MarketplaceRequest::default()
        };
        let checked = good().check(&config).unwrap();
        assert_eq!(checked.scope.split(' ').next(), Some("FullAccess"));
        let field = |r: MarketplaceRequest| r.check(&config).err().map(|e| e.field);
        assert_eq!(
            field(MarketplaceRequest {
                client_id: None,
                ..good()
            }),
            Some("client_id")
        );
        assert_eq!(
            field(MarketplaceRequest {
                grant_type: Some("implicit".into()),
                ..good()
            }),
            Some("grant_type")
        );
        assert_eq!(
            field(MarketplaceRequest {
                username: Some("a b".into()),
                ..good()
            }),
            Some("username")
        );
        assert_eq!(
            field(MarketplaceRequest {
                password: Some(SecretString::from(" ")),
                ..good()
            }),
            Some("password")
        );
        assert_eq!(
            field(MarketplaceRequest {
                scope: Some("OrderAdmin;drop".into()),
                ..good()
            }),
            Some("scope")
        );
        assert_eq!(
            field(MarketplaceRequest {
                api_url: Some("https://evil.example".into()),
                ..good()
            }),
            Some("api_url")
        );
        // The client credentials grant needs no user.
        assert!(
            MarketplaceRequest {
                grant_type: Some("client_credentials".into()),
                username: None,
                password: None,
                ..good()
            }
            .check(&config)
            .is_ok()
        );
    }

    #[test]
    fn token_answers_are_checked() {
        let json = |v: Value| v.as_object().cloned().unwrap();
        let ok = parse_token(
            &json(
                serde_json::json!({"access_token": "t", "expires_in": 600, "refresh_token": "r"}),
            ),
            1000,
        )
        .unwrap();
        assert_eq!(ok.expires_at, 1600);
        assert!(ok.refresh_token.is_some());
        assert!(matches!(
            parse_token(&json(serde_json::json!({"expires_in": 600})), 0),
            Err(TokenError::MissingAccessToken)
        ));
        assert!(matches!(
            parse_token(&json(serde_json::json!({"access_token": "t"})), 0),
            Err(TokenError::MissingField("expires_in"))
        ));
        assert!(matches!(
            parse_token(
                &json(serde_json::json!({"access_token": "t", "expires_in": -5})),
                0
            ),
            Err(TokenError::InvalidField("expires_in"))
        ));
    }
}
