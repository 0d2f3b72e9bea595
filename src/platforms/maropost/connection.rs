//! Maropost API-key connections (reference 000, "Authenticate with an API Key"): for custom
//! add-ons and development, an operator enters a store's domain, an API key and, for a
//! user-based key (the recommended kind, tied to one staff user), that user's name. Calls send
//! `NETOAPI_KEY` (and `NETOAPI_USERNAME`) instead of an add-on's `X_ACCESS_KEY`/`X_SECRET_KEY`.
//!
//! The key is checked with one API call before anything is stored. There is no store id
//! without OAuth, so the connection is keyed by the store's domain; the key never expires, so
//! there is no token to renew (it is kept sealed as the install's access token: it is what
//! every call sends).

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use utoipa::{PartialSchema as _, ToSchema};

use super::{
    api::{NetoAuth, RECENT_ORDER_DAYS, get_recent_order},
    settings::MaropostApi,
};
use crate::{
    db::{
        installs::{NewInstall, Saved},
        token_state::{self, Entered, NewConnection},
    },
    domain::{
        AuthKind, Initiator, InstallingUser, Platform, StoreDomain, text::has_hidden_characters,
    },
    platforms::{
        driver::ConnectionKind,
        kit::{
            api_call::ApiError,
            connect::{ConnectError, FieldError, check_name, check_secret},
            context::Context,
            forms::{ConnectionForm, Field, Fields, Values, name_field},
        },
    },
};

#[async_trait]
impl ConnectionKind for MaropostApi {
    fn form(&self, values: &Values<'_>) -> ConnectionForm {
        ConnectionForm {
            title: "Maropost: a store's API key",
            intro: "For custom add-ons and development: a store's API key from its control panel \
                    (Settings & tools > All settings & tools > API). A user-based key \
                    (recommended) belongs to a staff user: enter that user's name too; leave it \
                    empty for the store's global key. storelink checks the key with one API call \
                    before anything is stored.",
            fields: vec![
                name_field("My store (API key)"),
                Field::text("store_domain", "Store domain", true, "mystore.neto.com.au"),
                Field::secret("api_key", "API key", true),
                Field::text("username", "Staff user", false, "").hint(
                    "For a user-based key: the user it belongs to. Empty for the global key.",
                ),
            ],
        }
        .filled(values)
    }

    fn sandbox_help(&self) -> Option<(&'static str, &'static str)> {
        Some(("/sandbox/maropost/api-keys", "the sandbox's API keys page"))
    }

    async fn connect(
        &self,
        ctx: &Context<'_>,
        fields: Fields<'_>,
        actor: &str,
    ) -> Result<Saved, ConnectError> {
        let request: ApiKeyRequest = fields.read().map_err(ConnectError::Unreadable)?;
        connect(ctx, self, &request, actor).await
    }

    fn schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) {
        (ApiKeyRequest::name().into_owned(), ApiKeyRequest::schema())
    }
}

/// A Maropost store to connect by API key, as the form and `POST /api/v1/connections` send it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApiKeyRequest {
    /// A name for the connection (default: the store's domain).
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<String>,
    /// The store's domain, e.g. `mystore.neto.com.au`: a host name with at least one dot, no
    /// scheme, port, path or IP address.
    #[schema(value_type = String, required, max_length = 253,
             pattern = "^[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63})+$")]
    pub store_domain: Option<String>,
    /// The API key (a user's, or the store's global key); sealed, never shown.
    #[schema(value_type = String, required, format = Password, min_length = 1, max_length = 200,
             pattern = "^[!-~]+$")]
    pub api_key: Option<SecretString>,
    /// The staff user a user-based key belongs to (`NETOAPI_USERNAME`); leave it out for the
    /// global key.
    #[schema(value_type = Option<String>, max_length = 200)]
    pub username: Option<String>,
}

/// A checked [`ApiKeyRequest`].
struct KeyConnection {
    name: Option<String>,
    store_domain: StoreDomain,
    api_key: SecretString,
    username: Option<String>,
}

impl ApiKeyRequest {
    fn check(&self) -> Result<KeyConnection, FieldError> {
        let name = check_name(self.name.as_deref())?;
        let store_domain = StoreDomain::parse(self.store_domain.as_deref().unwrap_or_default())
            .map_err(|e| {
                FieldError::new(
                    "store_domain",
                    format!("Enter the store's domain, such as mystore.neto.com.au: {e}."),
                )
            })?;
        let api_key = check_secret(
            "api_key",
            self.api_key.as_ref(),
            200,
            "the API key from the control panel",
        )?;
        if api_key.expose_secret().contains(char::is_whitespace) {
            return Err(FieldError::new(
                "api_key",
                "An API key has no spaces: copy it again from the control panel.",
            ));
        }
        let username = match self.username.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(user) if user.chars().count() <= 200 && !has_hidden_characters(user) => {
                Some(user.to_owned())
            }
            Some(_) => {
                return Err(FieldError::new(
                    "username",
                    "Enter the staff user's name as the control panel shows it (at most 200 \
                     characters), or leave it empty for the global key.",
                ));
            }
        };
        Ok(KeyConnection {
            name,
            store_domain,
            api_key,
            username,
        })
    }
}

/// Checks the request, proves the key with one `GetOrder` call, and stores the connection.
pub async fn connect(
    ctx: &Context<'_>,
    api: &MaropostApi,
    request: &ApiKeyRequest,
    actor: &str,
) -> Result<Saved, ConnectError> {
    let key = request.check()?;
    let url = api.url(&key.store_domain).map_err(|e| {
        ConnectError::Field(FieldError::new(
            "store_domain",
            format!("No API address can be made for this domain: {e}."),
        ))
    })?;
    let auth = NetoAuth::ApiKey {
        key: &key.api_key,
        username: key.username.as_deref(),
    };
    let since = ctx.clock.now() - time::Duration::days(RECENT_ORDER_DAYS);
    let budget = api.api_budget(key.store_domain.as_str());
    if let Err(e) = get_recent_order(ctx, &budget, url, auth, since).await {
        return Err(explain_refusal(&key, &e));
    }
    let domain = key.store_domain.as_str();
    let name = key.name.clone().unwrap_or_else(|| domain.to_owned());
    let connection = NewConnection {
        install: NewInstall {
            platform: Platform::Maropost,
            account_id: domain,
            store_domain: Some(domain),
            store_name: Some(&name),
            timezone: None,
            scope: None,
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: key.api_key.expose_secret().as_bytes(),
        },
        kind: AuthKind::ApiKey,
        entered: Entered {
            username: key.username.as_deref(),
            ..Entered::default()
        },
        tokens: None,
        actor,
    };
    let now = ctx.clock.unix();
    Ok(token_state::save_connection(ctx.db, ctx.keyring, &connection, now).await?)
}

/// What to tell whoever added the key when the store refused it, or could not be asked.
fn explain_refusal(key: &KeyConnection, e: &ApiError) -> ConnectError {
    let (message, fields): (String, &'static [&'static str]) = match e {
        ApiError::Refused(_)
        | ApiError::Status {
            status: 401 | 403, ..
        } => (
            format!(
                "{} refused this API key. In the store's control panel, check the key under \
                 Settings & tools > All settings & tools > API ({}), and that the user's \
                 permission group allows the API. Nothing was stored.",
                key.store_domain.as_str(),
                if key.username.is_some() {
                    "for a user-based key: the staff user's API key, and that the user name is \
                     theirs"
                } else {
                    "the global key, or enter the staff user for a user-based key"
                }
            ),
            &["api_key", "username"],
        ),
        ApiError::NotAllowed(_) => (
            "storelink does not call this domain: it resolves to an internal address. Nothing \
             was stored."
                .to_owned(),
            &["store_domain"],
        ),
        ApiError::Timeout | ApiError::Unreachable => (
            format!(
                "{} could not be reached just now: check the domain, or try again in a \
                 minute. Nothing was stored.",
                key.store_domain.as_str()
            ),
            &["store_domain"],
        ),
        _ => (
            "The store did not answer as Maropost's API does: check the domain. Nothing was \
             stored."
                .to_owned(),
            &["store_domain"],
        ),
    };
    ConnectError::Platform {
        message,
        detail: format!("Maropost's API: {}.", e.to_string().trim_end_matches('.')),
        fields,
        timeout: matches!(e, ApiError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ApiKeyRequest {
        ApiKeyRequest {
            name: None,
            store_domain: Some("MyStore.neto.com.au".into()),
            api_key: Some(SecretString::from(" k3y ")),
            username: Some(" warehouse ".into()),
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let checked = good().check().unwrap();
        assert_eq!(checked.store_domain.as_str(), "mystore.neto.com.au");
        assert_eq!(checked.api_key.expose_secret(), "k3y");
        assert_eq!(checked.username.as_deref(), Some("warehouse"));
        let field = |r: ApiKeyRequest| r.check().err().map(|e| e.field);
        for domain in [
            "",
            "localhost",
            "127.0.0.1",
            "https://shop.example.com",
            "shop",
        ] {
            assert_eq!(
                field(ApiKeyRequest {
                    store_domain: Some(domain.into()),
                    ..good()
                }),
                Some("store_domain"),
                "{domain}"
            );
        }
        assert_eq!(
            field(ApiKeyRequest {
                api_key: None,
                ..good()
            }),
            Some("api_key")
        );
        assert_eq!(
            field(ApiKeyRequest {
                api_key: Some(SecretString::from("a b")),
                ..good()
            }),
            Some("api_key")
        );
        assert!(
            ApiKeyRequest {
                username: Some("  ".into()),
                ..good()
            }
            .check()
            .unwrap()
            .username
            .is_none()
        );
    }
}
