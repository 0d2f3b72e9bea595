//! commercetools project connections (reference 003): an operator (or the vendor's backend)
//! adds a project's API client: the region (one of the five cloud identifiers), the project key,
//! the client id and secret, and the scopes (default `manage_project:{key}`).
//!
//! - Tokens: the client-credentials grant at the region's auth host, `POST {auth}/oauth/token`
//!   with Basic auth and the scopes in the form body. A token is reused until shortly before it
//!   expires ([`crate::providers::lifecycle`]), never requested per call: commercetools limits
//!   token requests, and they are slow.
//! - Test connection: `GET {api}/{projectKey}`, the project itself.
//! - The hosts come from `COMMERCETOOLS_AUTH_URL` and `COMMERCETOOLS_API_URL`, templates with
//!   `{region}` (commercetools' own by default, the sandbox's in sandbox mode), and are fixed
//!   on the connection when it is added.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use utoipa::ToSchema;

use super::cloud::{CloudIdentifier, account_id, is_project_key};
use crate::{
    config::ConfigError,
    db::{
        credentials::{self, Kind},
        installs::{Install, NewInstall, Saved},
        token_state::{self, Entered, FreshTokens, NewConnection, TokenState},
    },
    domain::{AuthKind, Initiator, InstallingUser, Platform, text::shorten},
    providers::{
        api_call::{ApiError, TokenUnavailable},
        bearer,
        connect::{ConnectError, FieldError, check_identifier, check_name, check_secret},
        context::{Context, TestOutcome},
        lifecycle::{FreshToken, Renewal, Renewed, Tokens, Want, credentials_refused, stored_url},
        token::{TokenError, send_token_request},
    },
};

/// commercetools' auth hosts, by region.
pub const AUTH_URL_TEMPLATE: &str = "https://auth.{region}.commercetools.com";
/// commercetools' API hosts, by region.
pub const API_URL_TEMPLATE: &str = "https://api.{region}.commercetools.com";
/// The sandbox stand-in's path, under the public URL.
pub const SANDBOX_PATH: &str = "/sandbox/commercetools";
/// A token is renewed when this little of it remains, in seconds.
const MARGIN_SECS: i64 = 300;

/// commercetools' hosts, resolved: templates with `{region}`.
#[derive(Debug, Clone)]
pub struct CommercetoolsConfig {
    /// Where tokens come from (`COMMERCETOOLS_AUTH_URL`).
    pub auth_url_template: String,
    /// Where API calls go (`COMMERCETOOLS_API_URL`).
    pub api_url_template: String,
}

impl CommercetoolsConfig {
    /// The configured templates, else the sandbox's in sandbox mode, else commercetools'.
    /// Each must make a URL for every region, or start-up stops naming the variable.
    pub fn resolve(
        auth: Option<&str>,
        api: Option<&str>,
        sandbox: bool,
        public_url: &Url,
    ) -> Result<Self, ConfigError> {
        let sandbox_base = format!(
            "{}{SANDBOX_PATH}",
            public_url.as_str().trim_end_matches('/')
        );
        let pick = |configured: Option<&str>, part: &str, production: &str| match configured {
            Some(template) => template.trim().to_owned(),
            None if sandbox => format!("{sandbox_base}/{part}/{{region}}"),
            None => production.to_owned(),
        };
        let config = Self {
            auth_url_template: pick(auth, "auth", AUTH_URL_TEMPLATE),
            api_url_template: pick(api, "api", API_URL_TEMPLATE),
        };
        for (var, template) in [
            ("COMMERCETOOLS_AUTH_URL", &config.auth_url_template),
            ("COMMERCETOOLS_API_URL", &config.api_url_template),
        ] {
            for cloud in CloudIdentifier::ALL {
                let url = fill(template, cloud).map_err(|reason| ConfigError { var, reason })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError {
                        var,
                        reason: "must be an http(s) URL".to_owned(),
                    });
                }
            }
        }
        Ok(config)
    }

    /// The token endpoint of `cloud`.
    fn token_url(&self, cloud: CloudIdentifier) -> Result<Url, String> {
        Url::parse(&format!(
            "{}/oauth/token",
            fill(&self.auth_url_template, cloud)?
                .as_str()
                .trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())
    }

    /// The API base of `project_key` in `cloud`: `{api}/{projectKey}`.
    fn project_url(&self, cloud: CloudIdentifier, project_key: &str) -> Result<Url, String> {
        Url::parse(&format!(
            "{}/{project_key}",
            fill(&self.api_url_template, cloud)?
                .as_str()
                .trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())
    }
}

/// `template` with `{region}` filled in for `cloud`.
fn fill(template: &str, cloud: CloudIdentifier) -> Result<Url, String> {
    Url::parse(&template.replace("{region}", cloud.region())).map_err(|e| e.to_string())
}

/// The regions a form offers: (label, cloud identifier).
pub fn region_choices() -> Vec<(String, String)> {
    CloudIdentifier::ALL
        .iter()
        .map(|c| {
            (
                format!("{} ({})", c.as_str(), c.region()),
                c.as_str().to_owned(),
            )
        })
        .collect()
}

/// A project connection to add, as the form and `POST /api/v1/connections` send it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProjectRequest {
    /// A name for the connection (default: the project key and region).
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<String>,
    /// The cloud identifier: `gcp-eu`, `gcp-us`, `gcp-au`, `aws-fra` or `aws-ohio`.
    #[schema(value_type = String, required, pattern = "^(gcp-eu|gcp-us|gcp-au|aws-fra|aws-ohio)$")]
    pub region: Option<String>,
    /// The project key: 2 to 36 lower-case letters, digits, `-` and `_`.
    #[schema(value_type = String, required, pattern = "^[a-z0-9_-]{2,36}$")]
    pub project_key: Option<String>,
    /// The API client's id.
    #[schema(value_type = String, required, min_length = 1, max_length = 200, pattern = "^[!-~]+$")]
    pub client_id: Option<String>,
    /// The API client's secret; sealed, never shown.
    #[schema(value_type = String, required, format = Password, min_length = 1, max_length = 500, pattern = "^[!-~][ -~]*$")]
    pub client_secret: Option<SecretString>,
    /// The scopes to ask for, separated by spaces, each for this project
    /// (default `manage_project:{project_key}`).
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub scope: Option<String>,
}

/// A checked [`ProjectRequest`].
struct Project {
    name: Option<String>,
    cloud: CloudIdentifier,
    key: String,
    client_id: String,
    client_secret: SecretString,
    scope: String,
}

impl ProjectRequest {
    fn check(&self) -> Result<Project, FieldError> {
        let name = check_name(self.name.as_deref())?;
        let cloud = self
            .region
            .as_deref()
            .map(str::trim)
            .and_then(CloudIdentifier::parse)
            .ok_or_else(|| {
                FieldError::new(
                    "region",
                    "Choose the project's region: gcp-eu, gcp-us, gcp-au, aws-fra or aws-ohio.",
                )
            })?;
        let key = self
            .project_key
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        if !is_project_key(key) {
            return Err(FieldError::new(
                "project_key",
                "Enter the project key as the Merchant Center shows it: 2 to 36 lower-case \
                 letters, digits, - and _.",
            ));
        }
        let client_id = check_identifier(
            "client_id",
            self.client_id.as_deref(),
            200,
            "the API client's id (Settings > Developer settings)",
        )?;
        let client_secret = check_secret(
            "client_secret",
            self.client_secret.as_ref(),
            500,
            "the API client's secret, shown once when the client was created",
        )?;
        let scope = check_scope(self.scope.as_deref(), key)?;
        Ok(Project {
            name,
            cloud,
            key: key.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            scope,
        })
    }
}

/// Scopes separated by spaces, each `{permission}:{project_key}` (or more specific, such as
/// `manage_orders:{key}:{store}`): a connection asks only for its own project.
fn check_scope(scope: Option<&str>, project_key: &str) -> Result<String, FieldError> {
    let scope = scope.map(str::trim).unwrap_or_default();
    if scope.is_empty() {
        return Ok(format!("manage_project:{project_key}"));
    }
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let valid = scope.len() <= 2000
        && scopes.iter().all(|s| {
            let mut parts = s.split(':');
            let permission = parts.next().unwrap_or_default();
            !permission.is_empty()
                && permission
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
                && parts.next() == Some(project_key)
                && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_graphic()))
        });
    if !valid {
        return Err(FieldError::new(
            "scope",
            format!(
                "List scopes of this project separated by spaces, such as \
                 manage_orders:{project_key} view_products:{project_key}, or leave it empty \
                 for manage_project:{project_key}."
            ),
        ));
    }
    Ok(scopes.join(" "))
}

/// Asks `token_url` for a client-credentials token.
async fn request_token(
    http: &reqwest::Client,
    token_url: &Url,
    client_id: &str,
    client_secret: &SecretString,
    scope: &str,
    now: i64,
) -> Result<Renewed, TokenError> {
    let request = http
        .post(token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .basic_auth(client_id, Some(client_secret.expose_secret()))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)]);
    parse_token(&send_token_request(request).await?, now)
}

/// A token answer: `access_token`, `expires_in`, and the granted `scope`; a client-credentials
/// grant has no refresh token to keep.
fn parse_token(json: &serde_json::Map<String, Value>, now: i64) -> Result<Renewed, TokenError> {
    Ok(Renewed {
        refresh_token: None,
        ..Renewed::from_answer(json, now)?
    })
}

/// Checks the request, asks the region's auth host for a token, and stores the connection
/// with it.
pub async fn connect(
    ctx: &Context<'_>,
    config: &CommercetoolsConfig,
    request: &ProjectRequest,
    actor: &str,
) -> Result<Saved, ConnectError> {
    let project = request.check()?;
    let token_url = config
        .token_url(project.cloud)
        .map_err(|e| anyhow::anyhow!("COMMERCETOOLS_AUTH_URL: {e}"))?;
    let api_url = config
        .project_url(project.cloud, &project.key)
        .map_err(|e| anyhow::anyhow!("COMMERCETOOLS_API_URL: {e}"))?;
    let now = ctx.clock.unix();
    let token = request_token(
        ctx.http,
        &token_url,
        &project.client_id,
        &project.client_secret,
        &project.scope,
        now,
    )
    .await
    .map_err(|e| {
        let refused = credentials_refused(&e) || e.oauth_error() == Some("invalid_scope");
        ConnectError::from_token(
            Platform::Commercetools,
            &e,
            refused,
            "commercetools refused this API client for the project: check the client id and \
             secret, that the client belongs to this project and region, and that it has the \
             scopes asked for (Settings > Developer settings in the Merchant Center).",
            &["client_id", "client_secret", "region", "scope"],
        )
    })?;
    let account = account_id(project.cloud, &project.key);
    let name = project
        .name
        .clone()
        .unwrap_or_else(|| format!("{} ({})", project.key, project.cloud));
    let granted = token.scope.clone().unwrap_or_else(|| project.scope.clone());
    let connection = NewConnection {
        install: NewInstall {
            platform: Platform::Commercetools,
            account_id: &account,
            store_domain: None,
            store_name: Some(&name),
            timezone: None,
            scope: Some(&granted),
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: token.access_token.expose_secret().as_bytes(),
        },
        kind: AuthKind::ClientCredentials,
        entered: Entered {
            client_id: Some(&project.client_id),
            client_secret: Some(&project.client_secret),
            api_url: Some(api_url.as_str()),
            token_url: Some(token_url.as_str()),
            ..Entered::default()
        },
        tokens: Some(FreshTokens {
            access_token: &token.access_token,
            refresh_token: None,
            expires_at: token.expires_at,
            scope: Some(&granted),
        }),
        actor,
    };
    Ok(token_state::save_connection(ctx.db, ctx.keyring, &connection, now).await?)
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
            ctx.http,
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

/// An access token for install `id`, as `want` asks.
pub async fn access_token(
    ctx: &Context<'_>,
    tokens: &Tokens,
    id: &str,
    want: &Want<'_>,
) -> Result<FreshToken, TokenUnavailable> {
    tokens.get(ctx, &CommercetoolsRenewal, id, want).await
}

/// The install's API base, `{api}/{projectKey}`, as stored when it was added.
pub fn api_base(install: &Install) -> Result<Url, ApiError> {
    install
        .api_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .ok_or(ApiError::BadAddress(
            "the connection's API base URL is not known",
        ))
}

/// "Test connection": `GET {api}/{projectKey}` with the install's token (renewed once if
/// refused).
pub async fn test_connection(ctx: &Context<'_>, tokens: &Tokens, install: &Install) -> TestOutcome {
    let platform = Platform::Commercetools.display_name();
    let project = async {
        let url = api_base(install)?;
        bearer::get_json(ctx, tokens, &CommercetoolsRenewal, &install.id, &url).await
    }
    .await
    .map_err(|e| format!("{platform}: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ProjectRequest {
        ProjectRequest {
            region: Some("gcp-eu".into()),
            project_key: Some("acme-shop".into()),
            client_id: Some("abcDEF123".into()),
            client_secret: Some(SecretString::from("s3cret")),
            ..ProjectRequest::default()
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let project = good().check().unwrap();
        assert_eq!(project.scope, "manage_project:acme-shop");
        let field = |r: ProjectRequest| r.check().err().map(|e| e.field);
        assert_eq!(
            field(ProjectRequest {
                region: Some("eu".into()),
                ..good()
            }),
            Some("region")
        );
        assert_eq!(
            field(ProjectRequest {
                region: Some("aws-cn".into()),
                ..good()
            }),
            Some("region")
        );
        for key in ["", "A", "Acme", "acme shop", "../x", &"a".repeat(37)] {
            assert_eq!(
                field(ProjectRequest {
                    project_key: Some(key.into()),
                    ..good()
                }),
                Some("project_key"),
                "{key}"
            );
        }
        assert_eq!(
            field(ProjectRequest {
                client_secret: None,
                ..good()
            }),
            Some("client_secret")
        );
        assert_eq!(
            field(ProjectRequest {
                scope: Some("manage_project:other-shop".into()),
                ..good()
            }),
            Some("scope"),
            "another project's scope"
        );
        let scoped = ProjectRequest {
            scope: Some("view_products:acme-shop  manage_orders:acme-shop:eu-store".into()),
            ..good()
        }
        .check()
        .unwrap();
        assert_eq!(
            scoped.scope,
            "view_products:acme-shop manage_orders:acme-shop:eu-store"
        );
    }

    #[test]
    fn hosts_follow_the_region() {
        let public = Url::parse("http://localhost:3000").unwrap();
        let production = CommercetoolsConfig::resolve(None, None, false, &public).unwrap();
        assert_eq!(
            production
                .token_url(CloudIdentifier::AwsOhio)
                .unwrap()
                .as_str(),
            "https://auth.us-east-2.aws.commercetools.com/oauth/token"
        );
        assert_eq!(
            production
                .project_url(CloudIdentifier::GcpEu, "acme")
                .unwrap()
                .as_str(),
            "https://api.europe-west1.gcp.commercetools.com/acme"
        );
        let sandbox = CommercetoolsConfig::resolve(None, None, true, &public).unwrap();
        assert_eq!(
            sandbox.token_url(CloudIdentifier::GcpAu).unwrap().as_str(),
            "http://localhost:3000/sandbox/commercetools/auth/australia-southeast1.gcp/oauth/token"
        );
        assert!(
            CommercetoolsConfig::resolve(Some("not a url {region}"), None, false, &public).is_err()
        );
        assert!(
            CommercetoolsConfig::resolve(Some("ftp://{region}.example"), None, false, &public)
                .is_err()
        );
    }

    #[test]
    fn token_answers_are_checked() {
        let json = |v: Value| v.as_object().cloned().unwrap();
        let token = parse_token(
            &json(serde_json::json!({"access_token": "t", "expires_in": 172800, "scope": "manage_project:acme", "token_type": "Bearer"})),
            10,
        )
        .unwrap();
        assert_eq!(token.expires_at, 172_810);
        assert_eq!(token.scope.as_deref(), Some("manage_project:acme"));
        assert!(parse_token(&json(serde_json::json!({"expires_in": 5})), 0).is_err());
        assert!(
            parse_token(
                &json(serde_json::json!({"access_token": "t", "expires_in": "soon"})),
                0
            )
            .is_err()
        );
    }
}
