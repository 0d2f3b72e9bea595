//! Maropost's add-on authorization-code flow: the token exchange and its answer, which names the
//! store (its permanent `store_id`, domain, name, time zone), the installing user and the
//! billing address, with no expiry or refresh token.

use oauth2::PkceCodeVerifier;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};

use super::settings::MaropostConfig;
use crate::{
    domain::{InstallingUser, Platform, StoreDomain, text::shorten},
    platforms::kit::{
        budget::Budget,
        context::Context,
        token::{TokenError, send_token_request, string_field},
    },
};

/// What Maropost's token endpoint answers, checked.
#[derive(Debug)]
pub struct MaropostToken {
    /// The access token (the `X_SECRET_KEY` of API calls).
    pub access_token: SecretString,
    /// The store's permanent id: installs are keyed by it.
    pub store_id: String,
    /// The store's current domain, if the answer named a valid one.
    pub store_domain: Option<StoreDomain>,
    /// The store's name.
    pub store_name: Option<String>,
    /// IANA time zone.
    pub store_timezone: Option<String>,
    /// Granted scope, e.g. `api user address`.
    pub scope: Option<String>,
    /// The installing user.
    pub user: InstallingUser,
    /// Billing address fields we know, as a JSON object.
    pub billing_address: Option<Value>,
}

/// Exchanges an authorization code for a token: a form POST of `client_id`, `client_secret`,
/// `redirect_uri`, `grant_type=authorization_code`, `code` and, for flows we started, the PKCE
/// `code_verifier`.
pub async fn exchange_code(
    ctx: &Context<'_>,
    config: &MaropostConfig,
    code: &str,
    verifier: Option<&PkceCodeVerifier>,
) -> Result<MaropostToken, TokenError> {
    let mut form = vec![
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.expose_secret()),
        ("redirect_uri", config.redirect_uri.as_str()),
        ("grant_type", "authorization_code"),
        ("code", code),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier.secret()));
    }
    let request = ctx
        .http
        .post(config.token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    let budget = Budget::token(Platform::Maropost, &config.client_id, None);
    parse_token(&send_token_request(ctx, &budget, request).await?)
}

/// Checks a token answer: an access token and a store id are required; a domain, if present, must
/// be a valid store domain (it will become the host of API calls).
pub fn parse_token(json: &Map<String, Value>) -> Result<MaropostToken, TokenError> {
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or(TokenError::MissingAccessToken)?;
    // The install's key, shown to operators and stored as text: printable, as an id is.
    let store_id = string_field(json, "store_id")
        .filter(|id| id.len() <= 128 && !crate::domain::text::has_hidden_characters(id))
        .ok_or(TokenError::MissingField("a store_id"))?;
    let store_domain = match string_field(json, "store_domain") {
        Some(d) => {
            Some(StoreDomain::parse(&d).map_err(|_| TokenError::InvalidField("store_domain"))?)
        }
        None => None,
    };
    let text = |name| string_field(json, name).map(|s| shorten(&s, 200));
    let user = json
        .get("user")
        .and_then(Value::as_object)
        .map(parse_user)
        .unwrap_or_default();
    let billing_address = json
        .get("billing_address")
        .and_then(Value::as_object)
        .map(parse_address);
    Ok(MaropostToken {
        access_token: SecretString::from(access_token),
        store_id,
        store_domain,
        store_name: text("store_name"),
        store_timezone: text("store_timezone"),
        scope: text("scope"),
        user,
        billing_address,
    })
}

fn parse_user(user: &Map<String, Value>) -> InstallingUser {
    // Some clients see camelCase names; accept both.
    let field = |a, b| {
        string_field(user, a)
            .or_else(|| string_field(user, b))
            .map(|s| shorten(&s, 200))
    };
    InstallingUser {
        id: field("id", "id"),
        first_name: field("first_name", "firstName"),
        last_name: field("last_name", "lastName"),
        email: field("email", "email"),
    }
}

/// Keeps the address fields Maropost documents, as short strings; drops anything else.
fn parse_address(address: &Map<String, Value>) -> Value {
    const FIELDS: [&str; 8] = [
        "street1",
        "street2",
        "city",
        "state",
        "post_code",
        "country_name",
        "country_code",
        "company",
    ];
    let kept: Map<String, Value> = FIELDS
        .iter()
        .filter_map(|&name| {
            string_field(address, name).map(|v| (name.to_owned(), Value::String(shorten(&v, 200))))
        })
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_the_documented_answer() {
        let token = parse_token(&obj(json!({
            "scope": "api user address", "store_id": "1234", "store_domain": "MyStore.neto.com.au",
            "store_name": "My Store", "store_timezone": "Australia/Brisbane", "access_token": "tok",
            "user": {"id": "7", "firstName": "Ryan", "last_name": "Murtagh", "email": "r@example.com"},
            "billing_address": {"street1": "1 Main St", "city": "Brisbane", "post_code": "4000",
                                "country_code": "AU", "evil": "<script>"}
        })))
        .unwrap();
        assert_eq!(token.store_id, "1234");
        assert_eq!(token.store_domain.unwrap().as_str(), "mystore.neto.com.au");
        assert_eq!(token.user.first_name.as_deref(), Some("Ryan"));
        assert_eq!(token.user.last_name.as_deref(), Some("Murtagh"));
        let address = token.billing_address.unwrap();
        assert_eq!(address["city"], "Brisbane");
        assert!(address.get("evil").is_none());
    }

    #[test]
    fn a_store_id_with_hidden_characters_is_refused() {
        for id in ["12\u{0}34", "12\n34", "12\u{202E}34"] {
            assert!(
                matches!(
                    parse_token(&obj(json!({"access_token": "t", "store_id": id}))),
                    Err(TokenError::MissingField(_))
                ),
                "{id:?}"
            );
        }
    }

    #[test]
    fn numeric_store_id_is_accepted() {
        let token = parse_token(&obj(json!({"access_token": "t", "store_id": 42}))).unwrap();
        assert_eq!(token.store_id, "42");
    }

    #[test]
    fn refuses_answers_missing_what_we_need() {
        assert!(matches!(
            parse_token(&obj(json!({"store_id": "1"}))),
            Err(TokenError::MissingAccessToken)
        ));
        assert!(matches!(
            parse_token(&obj(json!({"access_token": "", "store_id": "1"}))),
            Err(TokenError::MissingAccessToken)
        ));
        assert!(matches!(
            parse_token(&obj(json!({"access_token": "t"}))),
            Err(TokenError::MissingField(_))
        ));
        assert!(matches!(
            parse_token(&obj(
                json!({"access_token": "t", "store_id": "1", "store_domain": "127.0.0.1"})
            )),
            Err(TokenError::InvalidField("store_domain"))
        ));
    }

    #[test]
    fn debug_hides_the_access_token() {
        let token = parse_token(&obj(
            json!({"access_token": "super-secret", "store_id": "1"}),
        ))
        .unwrap();
        assert!(!format!("{token:?}").contains("super-secret"));
    }
}
