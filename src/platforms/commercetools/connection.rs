//! commercetools project connections (reference 003): an operator (or the vendor's backend)
//! adds a project's API client: the region (one of the five cloud identifiers), the project key,
//! the client id and secret, and the scopes (default `manage_project:{key}`). The request's
//! fields are checked, a first token asked for, and the connection stored with it.

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use utoipa::{PartialSchema as _, ToSchema};

use crate::platforms::commercetools::cloud::{CloudIdentifier, account_id, is_project_key};
use crate::{
    db::{
        installs::{NewInstall, Saved},
        token_state::{self, Entered, FreshTokens, NewConnection},
    },
    domain::{AuthKind, Initiator, InstallingUser, Platform},
    platforms::{
        driver::ConnectionKind,
        kit::connect::{ConnectError, FieldError, check_identifier, check_name, check_secret},
        kit::context::Context,
        kit::forms::{ConnectionForm, Field, Fields, Values, name_field},
        kit::lifecycle::credentials_refused,
    },
};

use super::{
    renewal::request_token,
    settings::{CommercetoolsConfig, region_choices},
};

#[async_trait]
impl ConnectionKind for CommercetoolsConfig {
    fn form(&self, values: &Values<'_>) -> ConnectionForm {
        ConnectionForm {
            title: "commercetools: a project",
            intro: "A project's API client (Settings > Developer settings in the Merchant \
                    Center). storelink asks the region's auth host for a token before anything is \
                    stored, and reuses it until shortly before it expires.",
            fields: vec![
                name_field("Acme project"),
                Field::select("region", "Region", region_choices()),
                Field::text("project_key", "Project key", true, "acme-shop").mono(),
                Field::text("client_id", "Client id", true, "").mono(),
                Field::secret("client_secret", "Client secret", true),
                Field::text("scope", "Scopes", false, "")
                    .hint("Separated by spaces; empty asks for manage_project:{project key}.")
                    .mono(),
            ],
        }
        .filled(values)
    }

    fn sandbox_help(&self) -> Option<(&'static str, &'static str)> {
        Some(("/sandbox/commercetools", "the sandbox project's page"))
    }

    async fn connect(
        &self,
        ctx: &Context<'_>,
        fields: Fields<'_>,
        actor: &str,
    ) -> Result<Saved, ConnectError> {
        let request: ProjectRequest = fields.read().map_err(ConnectError::Unreadable)?;
        connect(ctx, self, &request, actor).await
    }

    fn schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) {
        (
            ProjectRequest::name().into_owned(),
            ProjectRequest::schema(),
        )
    }
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
pub(super) struct Project {
    name: Option<String>,
    cloud: CloudIdentifier,
    key: String,
    client_id: String,
    client_secret: SecretString,
    pub(super) scope: String,
}

impl ProjectRequest {
    pub(super) fn check(&self) -> Result<Project, FieldError> {
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
        ctx,
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
