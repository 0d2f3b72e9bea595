//! Maropost Commerce Cloud (formerly Neto): the add-on authorization-code flow, and NetoAPI
//! calls with either of its credentials (an add-on's token, or an API key: see [`api_key`]).
//!
//! See PROVIDERS.md: the authorize URL carries `store_domain`; the token answer carries the
//! store's id, domain, name, time zone, the installing user and the billing address, and no
//! expiry or refresh token. An install is keyed by `store_id`, because a domain can change.

pub mod api_key;

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use url::Url;

use super::{
    api_call::{ApiError, TokenUnavailable, parse_json, read_body},
    context::{Context, TestOutcome},
    endpoints::{Endpoint, join, sandbox_issuer},
    outbound::Outbound,
    token::{TokenError, send_token_request, string_field},
};
use crate::{
    config::{ConfigError, MaropostSettings},
    db::{
        credentials::{self, Kind},
        installs::Install,
    },
    domain::{AuthKind, InstallingUser, StoreDomain, text::shorten},
};

/// The production authorize endpoint.
pub const AUTHORIZE_URL: &str = "https://apps.getneto.com/oauth/v2/auth";
/// The production token endpoint.
pub const TOKEN_URL: &str = "https://apps.getneto.com/oauth/v2/token";
/// Where API calls for a store go in production.
pub const API_URL_TEMPLATE: &str = "https://{store_domain}/do/WS/NetoAPI";
/// The client id the built-in sandbox expects when none is configured.
pub const SANDBOX_CLIENT_ID: &str = "storelink-sandbox";
/// The client secret the built-in sandbox expects when none is configured. Not a secret: the
/// sandbox is a stand-in that runs inside storelink itself.
pub const SANDBOX_CLIENT_SECRET: &str = "storelink-sandbox-secret";
/// The header that carries the add-on's client id on API calls (`X_ACCESS_KEY`).
pub const ACCESS_KEY_HEADER: &str = "x_access_key";
/// The header that carries the store's access token on API calls (`X_SECRET_KEY`).
pub const SECRET_KEY_HEADER: &str = "x_secret_key";
/// The header that carries an API key (`NETOAPI_KEY`).
pub const API_KEY_HEADER: &str = "netoapi_key";
/// The header that names a user-based API key's staff user (`NETOAPI_USERNAME`).
pub const API_USERNAME_HEADER: &str = "netoapi_username";
/// Where Maropost sends the merchant back.
pub const CALLBACK_PATH: &str = "/oauth/maropost/callback";
/// The sandbox's issuer identifier, under the public URL (it sends it as `iss`).
pub const SANDBOX_ISSUER_PATH: &str = "/sandbox/maropost";

/// Maropost settings with every default filled in.
#[derive(Debug, Clone)]
pub struct MaropostConfig {
    /// The add-on's client id (also the `X_ACCESS_KEY` of API calls).
    pub client_id: String,
    /// The add-on's client secret.
    pub client_secret: SecretString,
    /// Where merchants are sent to approve.
    pub authorize_url: Url,
    /// Where codes are exchanged.
    pub token_url: Url,
    /// API endpoint with `{store_domain}`.
    pub api_url_template: String,
    /// `STORELINK_PUBLIC_URL` + [`CALLBACK_PATH`].
    pub redirect_uri: Url,
    /// Accept callbacks with a code and no state.
    pub accept_panel_installs: bool,
    /// More authorize parameters (`MAROPOST_AUTHORIZE_EXTRA_PARAMS`), after storelink's own.
    pub authorize_extra_params: Vec<(String, String)>,
    /// The issuer a callback's `iss` must equal when it carries one (`MAROPOST_ISSUER`; the
    /// sandbox's in sandbox mode). `None`: not checked.
    pub issuer: Option<String>,
}

impl MaropostConfig {
    /// Fills in defaults: in sandbox mode unset URLs and credentials point at the built-in
    /// sandbox; otherwise Maropost is enabled only when its credentials are set.
    pub fn resolve(
        settings: &MaropostSettings,
        sandbox: bool,
        public_url: &Url,
    ) -> Result<Option<Self>, ConfigError> {
        let (client_id, client_secret) = match (&settings.client_id, &settings.client_secret) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ if sandbox => (
                SANDBOX_CLIENT_ID.to_owned(),
                SecretString::from(SANDBOX_CLIENT_SECRET),
            ),
            _ => return Ok(None),
        };
        let authorize_url = Endpoint {
            configured: &settings.authorize_url,
            sandbox_path: "/sandbox/maropost/oauth/v2/auth",
            production: AUTHORIZE_URL,
            var: "MAROPOST_AUTHORIZE_URL",
        }
        .resolve(sandbox, public_url)?;
        let token_url = Endpoint {
            configured: &settings.token_url,
            sandbox_path: "/sandbox/maropost/oauth/v2/token",
            production: TOKEN_URL,
            var: "MAROPOST_TOKEN_URL",
        }
        .resolve(sandbox, public_url)?;
        let api_url_template = MaropostApi::resolve(settings, sandbox, public_url).url_template;
        Ok(Some(Self {
            client_id,
            client_secret,
            authorize_url,
            token_url,
            api_url_template,
            redirect_uri: join(public_url, CALLBACK_PATH, "STORELINK_PUBLIC_URL")?,
            accept_panel_installs: settings.accept_panel_installs,
            authorize_extra_params: settings.authorize_extra_params.clone(),
            issuer: settings.issuer.clone().or_else(|| {
                // The sandbox sends its issuer; a platform configured elsewhere is not assumed to.
                (sandbox && settings.authorize_url.is_none())
                    .then(|| sandbox_issuer(public_url, SANDBOX_ISSUER_PATH))
            }),
        }))
    }

    /// The URL the merchant is sent to, to approve the add-on for `store_domain`.
    pub fn authorize_url(
        &self,
        store_domain: &StoreDomain,
        state: &CsrfToken,
        pkce: &PkceCodeChallenge,
    ) -> Url {
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("response_type", "code")
            .append_pair("store_domain", store_domain.as_str())
            .append_pair("state", state.secret())
            .append_pair("code_challenge", pkce.as_str())
            .append_pair("code_challenge_method", pkce.method().as_str())
            // After ours, and never one of ours (refused at start-up).
            .extend_pairs(&self.authorize_extra_params);
        url
    }

    /// The API endpoint of one store.
    pub fn api_url(&self, store_domain: &StoreDomain) -> Result<Url, url::ParseError> {
        Url::parse(
            &self
                .api_url_template
                .replace("{store_domain}", store_domain.as_str()),
        )
    }
}

/// Where stores' NetoAPI calls go: all an API-key connection needs of Maropost's settings (no
/// add-on client is involved).
#[derive(Debug, Clone)]
pub struct MaropostApi {
    /// `MAROPOST_API_URL_TEMPLATE`, with `{store_domain}`.
    pub url_template: String,
}

impl MaropostApi {
    /// The configured template, else the sandbox's in sandbox mode, else Maropost's.
    pub fn resolve(settings: &MaropostSettings, sandbox: bool, public_url: &Url) -> Self {
        let url_template = match &settings.api_url_template {
            Some(template) => template.clone(),
            None if sandbox => format!(
                "{}/sandbox/maropost/{{store_domain}}/do/WS/NetoAPI",
                public_url.as_str().trim_end_matches('/')
            ),
            None => API_URL_TEMPLATE.to_owned(),
        };
        Self { url_template }
    }

    /// The API endpoint of one store.
    pub fn url(&self, store_domain: &StoreDomain) -> Result<Url, ApiError> {
        Url::parse(
            &self
                .url_template
                .replace("{store_domain}", store_domain.as_str()),
        )
        .map_err(|_| ApiError::BadAddress("MAROPOST_API_URL_TEMPLATE does not make a URL"))
    }

    /// Where the install's NetoAPI calls go.
    pub fn store_url(&self, install: &Install) -> Result<Url, ApiError> {
        self.url(&store_domain(install)?)
    }
}

/// How a NetoAPI call proves itself: an add-on's client id and a store's token, or an API key
/// (with the staff user it belongs to, for a user-based key).
#[derive(Clone, Copy)]
pub enum NetoAuth<'a> {
    /// `X_ACCESS_KEY` and `X_SECRET_KEY`.
    AddOn {
        /// The add-on's client id.
        client_id: &'a str,
        /// The store's access token.
        access_token: &'a SecretString,
    },
    /// `NETOAPI_KEY` and, for a user-based key, `NETOAPI_USERNAME`.
    ApiKey {
        /// The key.
        key: &'a SecretString,
        /// The staff user's name.
        username: Option<&'a str>,
    },
}

impl NetoAuth<'_> {
    /// The headers that carry it, marked sensitive (never logged).
    pub fn headers(&self) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(mut value) = reqwest::header::HeaderValue::from_str(value) {
                value.set_sensitive(true);
                headers.insert(reqwest::header::HeaderName::from_static(name), value);
            }
        };
        match self {
            Self::AddOn {
                client_id,
                access_token,
            } => {
                put(ACCESS_KEY_HEADER, client_id);
                put(SECRET_KEY_HEADER, access_token.expose_secret());
            }
            Self::ApiKey { key, username } => {
                put(API_KEY_HEADER, key.expose_secret());
                if let Some(username) = username {
                    put(API_USERNAME_HEADER, username);
                }
            }
        }
        headers
    }
}

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
    http: &reqwest::Client,
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
    let request = http
        .post(config.token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    parse_token(&send_token_request(request).await?)
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

/// Asks a store for one recent order (`GetOrder` filtered to orders placed since `since`, at
/// most one, its id only): a cheap call that proves the credentials work. Returns how many
/// orders came back (0 or 1). The URL is built from the store's domain, so the call goes
/// through the outbound guard: credentials are never sent to an internal address.
pub async fn get_recent_order(
    outbound: &Outbound,
    url: Url,
    auth: NetoAuth<'_>,
    since: time::OffsetDateTime,
) -> Result<usize, ApiError> {
    let since = since
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .map_err(|_| ApiError::Refused("the date filter could not be written".into()))?;
    let body = serde_json::json!({
        "Filter": {
            "DatePlacedFrom": [since],
            "Limit": "1",
            "OutputSelector": ["OrderID", "DatePlaced"],
        }
    });
    let response = outbound
        .request(reqwest::Method::POST, url)?
        .header("NETOAPI_ACTION", "GetOrder")
        .headers(auth.headers())
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| match Outbound::refusal(&e) {
            Some(refusal) => ApiError::NotAllowed(refusal),
            None => ApiError::from_transport(&e),
        })?;
    let status = response.status().as_u16();
    let body = read_body(response).await?;
    if !(200..300).contains(&status) {
        return Err(ApiError::Status {
            status,
            detail: None,
        });
    }
    parse_api_answer(&parse_json(&body)?)
}

/// How far back "Test connection" looks for an order.
const RECENT_ORDER_DAYS: i64 = 30;

/// "Test connection": `GetOrder` for one recent order with the store's credentials (the
/// add-on's token, or the API key).
pub async fn test_connection(
    ctx: &Context<'_>,
    config: Option<&MaropostConfig>,
    api: &MaropostApi,
    install: &Install,
) -> TestOutcome {
    let platform = "Maropost";
    let url = api
        .store_url(install)
        .map_err(|e| format!("{platform}: {e}"))?;
    let secret = access_token(ctx, install)
        .await
        .map_err(|e| format!("{platform}: {e}"))?;
    let auth = if install.auth_kind == AuthKind::ApiKey {
        NetoAuth::ApiKey {
            key: &secret,
            username: install.username.as_deref(),
        }
    } else {
        let config =
            config.ok_or_else(|| format!("{platform} is not configured on this storelink"))?;
        NetoAuth::AddOn {
            client_id: &config.client_id,
            access_token: &secret,
        }
    };
    let since = ctx.clock.now() - time::Duration::days(RECENT_ORDER_DAYS);
    match get_recent_order(ctx.outbound, url, auth, since).await {
        Ok(found) => Ok(format!(
            "{platform} answered GetOrder with Ack Success ({found} order(s) placed in the last \
             {RECENT_ORDER_DAYS} days, at most 1 asked for)"
        )),
        Err(e) => Err(format!("{platform}: {e}")),
    }
}

/// The install's stored access token (the `X_SECRET_KEY` of API calls), or its API key (kept
/// as its access token: it is what each call sends).
pub async fn access_token(ctx: &Context<'_>, install: &Install) -> Result<SecretString, ApiError> {
    credentials::open(ctx.db, ctx.keyring, &install.id, Kind::AccessToken)
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "cannot open a Maropost token");
            ApiError::Token(TokenUnavailable::Internal)
        })?
        .ok_or(ApiError::NoCredentials("no access token"))
}

/// The install's store domain, checked again (it becomes the host of API calls).
fn store_domain(install: &Install) -> Result<StoreDomain, ApiError> {
    install
        .store_domain
        .as_deref()
        .and_then(|d| StoreDomain::parse(d).ok())
        .ok_or(ApiError::BadAddress("the store's domain is not known"))
}

/// Reads `Ack` (`Success`/`Warning` is an answer, `Error` a refusal with its messages).
fn parse_api_answer(json: &Value) -> Result<usize, ApiError> {
    match json.get("Ack").and_then(Value::as_str) {
        Some("Success" | "Warning") => Ok(json
            .get("Order")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)),
        Some("Error") => Err(ApiError::Refused(api_messages(json))),
        _ => Err(ApiError::Refused("the answer has no Ack".into())),
    }
}

/// The `Message`s of an answer's `Messages`, in either shape Maropost uses.
fn api_messages(json: &Value) -> String {
    let mut found = Vec::new();
    collect_messages(json.get("Messages").unwrap_or(&Value::Null), &mut found);
    if found.is_empty() {
        "no reason given".to_owned()
    } else {
        shorten(&found.join("; "), 300)
    }
}

fn collect_messages(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_messages(v, found)),
        Value::Object(map) => {
            if let Some(message) = map.get("Message").and_then(Value::as_str) {
                found.push(message.to_owned());
            }
            for (key, v) in map {
                if key != "Message" {
                    collect_messages(v, found);
                }
            }
        }
        _ => {}
    }
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

    #[test]
    fn authorize_url_carries_every_parameter() {
        let public = Url::parse("https://storelink.example.com").unwrap();
        let config = MaropostConfig::resolve(
            &MaropostSettings {
                client_id: Some("cid".into()),
                client_secret: Some(SecretString::from("client-secret-value")),
                ..MaropostSettings::default()
            },
            false,
            &public,
        )
        .unwrap()
        .unwrap();
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new("st".into());
        let url = config.authorize_url(
            &StoreDomain::parse("shop.example.com").unwrap(),
            &state,
            &challenge,
        );
        assert!(url.as_str().starts_with(AUTHORIZE_URL));
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["client_id"], "cid");
        assert_eq!(
            pairs["redirect_uri"],
            "https://storelink.example.com/oauth/maropost/callback"
        );
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["store_domain"], "shop.example.com");
        assert_eq!(pairs["state"], "st");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["code_challenge"], challenge.as_str());
        assert!(!url.as_str().contains("client-secret-value"));

        let with_extra = MaropostConfig {
            authorize_extra_params: vec![("prompt".into(), "consent".into())],
            ..config
        };
        let url = with_extra.authorize_url(
            &StoreDomain::parse("shop.example.com").unwrap(),
            &state,
            &challenge,
        );
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs.len(), 8);
        assert_eq!(pairs[7], ("prompt".to_owned(), "consent".to_owned()));
        assert_eq!(pairs[0].0, "client_id");
    }

    #[test]
    fn api_answers_are_read() {
        let ok = json!({"Ack": "Success", "Order": [{"OrderID": "N1"}]});
        assert_eq!(parse_api_answer(&ok).unwrap(), 1);
        let empty = json!({"Ack": "Warning", "Messages": []});
        assert_eq!(parse_api_answer(&empty).unwrap(), 0);
        let refused = json!({"Ack": "Error", "Messages": [{"Error": {"Message": "Invalid API key", "SeverityLevel": "Error"}}]});
        match parse_api_answer(&refused) {
            Err(ApiError::Refused(m)) => assert_eq!(m, "Invalid API key"),
            other => panic!("{other:?}"),
        }
        let flat =
            json!({"Ack": "Error", "Messages": {"Error": [{"Message": "a"}, {"Message": "b"}]}});
        assert!(matches!(parse_api_answer(&flat), Err(ApiError::Refused(m)) if m == "a; b"));
        assert!(parse_api_answer(&json!({"x": 1})).is_err());
    }

    #[test]
    fn disabled_without_credentials_outside_sandbox() {
        let public = Url::parse("http://localhost:3000").unwrap();
        assert!(
            MaropostConfig::resolve(&MaropostSettings::default(), false, &public)
                .unwrap()
                .is_none()
        );
        let sandbox = MaropostConfig::resolve(&MaropostSettings::default(), true, &public)
            .unwrap()
            .unwrap();
        assert_eq!(
            sandbox.token_url.as_str(),
            "http://localhost:3000/sandbox/maropost/oauth/v2/token"
        );
    }
}
