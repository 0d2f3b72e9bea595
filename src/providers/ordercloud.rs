//! Sitecore OrderCloud (reference 002): a marketplace connection an operator adds with an API
//! client and, for the password grant, one of the marketplace's users.
//!
//! - The API base is one of OrderCloud's hosts ([`HOSTS`]: three environments in five regions),
//!   never a URL typed freely (no request forgery through a form); `ORDERCLOUD_API_URL`, when set,
//!   is the only one (tests, the sandbox).
//! - Tokens: `POST {base}/oauth/token`, a form with `client_id`, `client_secret` when the API
//!   client has one, the grant (`password` with `username` and `password`, or
//!   `client_credentials`) and `scope`. Renewed by [`crate::providers::lifecycle`]: with the
//!   refresh token when the API client issues them, else (or when it was refused) with the stored
//!   grant, before expiry. `InvalidGrant`/`InvalidCredentials` are told as such, without saying
//!   which of user name or password was wrong (OrderCloud does not either).
//! - Test connection: `GET {base}/v1/me`. API errors come as `{"Errors": [{"ErrorCode",
//!   "Message"}]}` and are shown by code and message.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use utoipa::ToSchema;

use super::{
    api_call::{ApiError, TokenUnavailable},
    bearer,
    connect::{
        ConnectError, FieldError, check_identifier, check_name, check_optional_secret, check_secret,
    },
    context::{Context, TestOutcome},
    endpoints::join,
    lifecycle::{Renewal, Renewed, Tokens, Want, credentials_refused, stored_url},
    token::{TokenError, send_token_request},
};
use crate::{
    config::ConfigError,
    db::{
        credentials::{self, Kind},
        installs::{Install, NewInstall, Saved},
        token_state::{self, Entered, FreshTokens, NewConnection, TokenState},
    },
    domain::{AuthKind, Initiator, InstallingUser, Platform, text::shorten},
};

/// The roles asked for unless the operator names others. OrderCloud grants only those the user
/// (or API client) has of them, without an error, so one all-encompassing list serves every
/// connection (reference 002).
pub const DEFAULT_SCOPE: &str = "FullAccess MeAdmin MeAddressAdmin MeXpAdmin AdminUserReader \
     AdminUserAdmin BuyerReader BuyerAdmin BuyerUserReader BuyerUserAdmin CatalogReader \
     CatalogAdmin CategoryReader CategoryAdmin InventoryAdmin OrderReader OrderAdmin \
     PasswordReset PriceScheduleReader PriceScheduleAdmin ProductReader ProductAdmin \
     ProductAssignmentAdmin PromotionReader PromotionAdmin ShipmentReader ShipmentAdmin \
     SupplierReader SupplierAdmin";

/// A token is renewed when this little of it remains, in seconds.
const MARGIN_SECS: i64 = 60;
/// The sandbox stand-in's path, under the public URL.
pub const SANDBOX_PATH: &str = "/sandbox/ordercloud";

/// One of OrderCloud's API hosts: an environment in a region.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Sandbox, Staging or Production.
    pub environment: &'static str,
    /// The Azure region.
    pub region: &'static str,
    /// The API base URL.
    pub url: &'static str,
}

const fn host(environment: &'static str, region: &'static str, url: &'static str) -> Host {
    Host {
        environment,
        region,
        url,
    }
}

/// OrderCloud's API hosts, as its "Regions and environments" page lists them: US West has the
/// original names, the other regions `{region}-{environment}.ordercloud.io`.
pub const HOSTS: [Host; 15] = [
    host("Sandbox", "US West", "https://sandboxapi.ordercloud.io"),
    host("Staging", "US West", "https://stagingapi.ordercloud.io"),
    host("Production", "US West", "https://api.ordercloud.io"),
    host("Sandbox", "US East", "https://useast-sandbox.ordercloud.io"),
    host("Staging", "US East", "https://useast-staging.ordercloud.io"),
    host(
        "Production",
        "US East",
        "https://useast-production.ordercloud.io",
    ),
    host(
        "Sandbox",
        "Australia East",
        "https://australiaeast-sandbox.ordercloud.io",
    ),
    host(
        "Staging",
        "Australia East",
        "https://australiaeast-staging.ordercloud.io",
    ),
    host(
        "Production",
        "Australia East",
        "https://australiaeast-production.ordercloud.io",
    ),
    host(
        "Sandbox",
        "Europe West",
        "https://westeurope-sandbox.ordercloud.io",
    ),
    host(
        "Staging",
        "Europe West",
        "https://westeurope-staging.ordercloud.io",
    ),
    host(
        "Production",
        "Europe West",
        "https://westeurope-production.ordercloud.io",
    ),
    host(
        "Sandbox",
        "Japan East",
        "https://japaneast-sandbox.ordercloud.io",
    ),
    host(
        "Staging",
        "Japan East",
        "https://japaneast-staging.ordercloud.io",
    ),
    host(
        "Production",
        "Japan East",
        "https://japaneast-production.ordercloud.io",
    ),
];

/// OrderCloud's settings, resolved.
#[derive(Debug, Clone)]
pub struct OrderCloudConfig {
    /// `ORDERCLOUD_API_URL` (or the sandbox's, in sandbox mode): when set, the only API base.
    pub only_api_url: Option<Url>,
}

impl OrderCloudConfig {
    /// The configured base, else the sandbox's in sandbox mode, else none (any of [`HOSTS`]).
    pub fn resolve(
        configured: Option<&Url>,
        sandbox: bool,
        public_url: &Url,
    ) -> Result<Self, ConfigError> {
        let only_api_url = match configured {
            Some(url) => Some(url.clone()),
            None if sandbox => Some(join(public_url, SANDBOX_PATH, "STORELINK_PUBLIC_URL")?),
            None => None,
        };
        Ok(Self { only_api_url })
    }

    /// The API bases an operator may choose from: `(label, URL)`.
    pub fn choices(&self) -> Vec<(String, String)> {
        match &self.only_api_url {
            Some(url) => vec![(
                "The configured host (ORDERCLOUD_API_URL, or the sandbox)".to_owned(),
                base_text(url),
            )],
            None => HOSTS
                .iter()
                .map(|h| {
                    (
                        format!("{} ({})", h.environment, h.region),
                        h.url.to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// The API base `given` names: one of [`Self::choices`], compared without a trailing slash.
    /// Omitted, it is the configured one when there is one.
    pub fn api_base(&self, given: Option<&str>) -> Result<Url, FieldError> {
        let given = given.map(str::trim).filter(|g| !g.is_empty());
        let wrong = || {
            FieldError::new(
                "api_url",
                "Choose the API base URL of the marketplace's region and environment, as \
                 OrderCloud's API console shows it (one of OrderCloud's hosts).",
            )
        };
        let chosen = match (given, &self.only_api_url) {
            (None, Some(only)) => return Ok(only.clone()),
            (None, None) => return Err(wrong()),
            (Some(given), _) => given.trim_end_matches('/'),
        };
        self.choices()
            .into_iter()
            .find(|(_, url)| url == chosen)
            .and_then(|(_, url)| Url::parse(&url).ok())
            .ok_or_else(wrong)
    }
}

/// A base URL as written in choices: without a trailing slash.
fn base_text(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// `{base}/{path}`, for a base with or without a trailing slash.
fn under(base: &Url, path: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!("{}/{path}", base_text(base)))
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
enum TokenGrant<'a> {
    Password {
        username: &'a str,
        password: &'a SecretString,
    },
    ClientCredentials,
    RefreshToken(&'a SecretString),
}

/// Asks `{base}/oauth/token` for a token.
async fn request_token(
    http: &reqwest::Client,
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
    let request = http
        .post(token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    parse_token(&send_token_request(request).await?, now)
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
        ctx.http,
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
                ctx.http,
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
            ctx.http,
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

/// An access token for install `id`, as `want` asks.
pub async fn access_token(
    ctx: &Context<'_>,
    tokens: &Tokens,
    id: &str,
    want: &Want<'_>,
) -> Result<super::lifecycle::FreshToken, TokenUnavailable> {
    tokens.get(ctx, &OrderCloudRenewal, id, want).await
}

/// The install's API base URL, as stored when it was added.
pub fn api_base(install: &Install) -> Result<Url, ApiError> {
    install
        .api_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .ok_or(ApiError::BadAddress(
            "the connection's API base URL is not known",
        ))
}

/// "Test connection": `GET {base}/v1/me` with the install's token (renewed once if refused).
pub async fn test_connection(ctx: &Context<'_>, tokens: &Tokens, install: &Install) -> TestOutcome {
    let platform = Platform::OrderCloud.display_name();
    let me = async {
        let url = under(&api_base(install)?, "v1/me")
            .map_err(|_| ApiError::BadAddress("the API base URL"))?;
        bearer::get_json(ctx, tokens, &OrderCloudRenewal, &install.id, &url).await
    }
    .await
    .map_err(|e| format!("{platform}: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> OrderCloudConfig {
        OrderCloudConfig { only_api_url: None }
    }

    #[test]
    fn only_known_hosts_are_bases() {
        let config = production();
        assert_eq!(
            config
                .api_base(Some("https://sandboxapi.ordercloud.io/"))
                .unwrap()
                .as_str(),
            "https://sandboxapi.ordercloud.io/"
        );
        assert!(
            config
                .api_base(Some("https://westeurope-production.ordercloud.io"))
                .is_ok()
        );
        for bad in [
            "https://evil.example",
            "http://sandboxapi.ordercloud.io",
            "https://sandboxapi.ordercloud.io.evil.example",
            "https://sandboxapi.ordercloud.io/v1",
            "https://user@sandboxapi.ordercloud.io",
            "",
        ] {
            assert_eq!(
                config.api_base(Some(bad)).unwrap_err().field,
                "api_url",
                "{bad}"
            );
        }
        assert!(config.api_base(None).is_err());
    }

    #[test]
    fn a_configured_base_is_the_only_one() {
        let only = Url::parse("http://127.0.0.1:9000/oc").unwrap();
        let config = OrderCloudConfig {
            only_api_url: Some(only.clone()),
        };
        assert_eq!(config.api_base(None).unwrap(), only);
        assert_eq!(
            config.api_base(Some("http://127.0.0.1:9000/oc/")).unwrap(),
            only
        );
        assert!(config.api_base(Some("https://api.ordercloud.io")).is_err());
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
