//! bol.com Retailer API: the intermediary code flow, the client-credentials flow, and reading
//! bol.com's token answers.
//!
//! See PROVIDERS.md: every token request is a form POST with `Authorization: Basic` and
//! `Accept: application/json`, and nothing secret ever goes into a URL query (bol.com refuses
//! such requests). Access tokens are JWTs; a code-flow install is keyed by the account claim
//! (`BOL_ACCOUNT_CLAIM`, default `sub`). Tokens expire within minutes: [`tokens`] keeps them
//! fresh, and every user of a bol.com token goes through it.

pub mod api;
pub mod jwt;
pub mod tokens;

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use url::Url;

use super::{TokenError, send_token_request, shorten};
use crate::config::{BolSettings, ConfigError};

/// The production authorize endpoint.
pub const AUTHORIZE_URL: &str = "https://login.bol.com/authorize";
/// The production token endpoint.
pub const TOKEN_URL: &str = "https://login.bol.com/token";
/// The production Retailer API.
pub const API_URL: &str = "https://api.bol.com/retailer";
/// The scope asked for by default: a refresh token comes with it.
pub const DEFAULT_SCOPE: &str = "offline_access";
/// The claim that names the retailer account by default.
pub const DEFAULT_ACCOUNT_CLAIM: &str = "sub";
/// The intermediary client id the built-in sandbox expects when none is configured.
pub const SANDBOX_CLIENT_ID: &str = "storelink-sandbox-bol";
/// Its client secret. Not a secret: the sandbox runs inside storelink itself.
pub const SANDBOX_CLIENT_SECRET: &str = "storelink-sandbox-bol-secret";
/// Where bol.com sends the retailer back.
pub const CALLBACK_PATH: &str = "/oauth/bol/callback";
/// The media type of the Retailer API version storelink speaks.
pub const API_MEDIA_TYPE: &str = "application/vnd.retailer.v10+json";

/// An OAuth client at bol.com: storelink's intermediary client, or a retailer's own.
#[derive(Debug, Clone)]
pub struct BolClient {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
}

/// bol.com settings with every default filled in.
#[derive(Debug, Clone)]
pub struct BolConfig {
    /// storelink's intermediary client; the code flow is offered only when it is set.
    pub client: Option<BolClient>,
    /// Where retailers are sent to approve.
    pub authorize_url: Url,
    /// Where codes, refresh tokens and client credentials are exchanged for tokens.
    pub token_url: Url,
    /// The Retailer API's base.
    pub api_url: Url,
    /// The scope asked for.
    pub scope: String,
    /// The access-token claim that names the retailer account.
    pub account_claim: String,
    /// `STORELINK_PUBLIC_URL` + [`CALLBACK_PATH`].
    pub redirect_uri: Url,
}

impl BolConfig {
    /// Fills in defaults: in sandbox mode unset URLs and credentials point at the built-in
    /// sandbox; otherwise production URLs, and the code flow only with `BOL_CLIENT_ID` set.
    /// (A retailer's own credentials work either way: they need only the URLs.)
    pub fn resolve(
        settings: &BolSettings,
        sandbox: bool,
        public_url: &Url,
    ) -> Result<Self, ConfigError> {
        let client = match (&settings.client_id, &settings.client_secret) {
            (Some(id), Some(secret)) => Some(BolClient {
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            _ if sandbox => Some(BolClient {
                client_id: SANDBOX_CLIENT_ID.to_owned(),
                client_secret: SecretString::from(SANDBOX_CLIENT_SECRET),
            }),
            _ => None,
        };
        let url = |given: &Option<Url>, sandbox_path: &str, production: &str, var| match given {
            Some(url) => Ok(url.clone()),
            None if sandbox => join(public_url, sandbox_path, var),
            None => Url::parse(production).map_err(|e| ConfigError {
                var,
                reason: e.to_string(),
            }),
        };
        Ok(Self {
            client,
            authorize_url: url(
                &settings.authorize_url,
                "/sandbox/bol/authorize",
                AUTHORIZE_URL,
                "BOL_AUTHORIZE_URL",
            )?,
            token_url: url(
                &settings.token_url,
                "/sandbox/bol/token",
                TOKEN_URL,
                "BOL_TOKEN_URL",
            )?,
            api_url: url(
                &settings.api_url,
                "/sandbox/bol/retailer",
                API_URL,
                "BOL_API_URL",
            )?,
            scope: settings
                .scope
                .clone()
                .unwrap_or_else(|| DEFAULT_SCOPE.to_owned()),
            account_claim: settings
                .account_claim
                .clone()
                .unwrap_or_else(|| DEFAULT_ACCOUNT_CLAIM.to_owned()),
            redirect_uri: join(public_url, CALLBACK_PATH, "STORELINK_PUBLIC_URL")?,
        })
    }

    /// storelink's intermediary client, when the code flow is enabled.
    pub fn code_flow(&self) -> Option<&BolClient> {
        self.client.as_ref()
    }

    /// The URL the retailer is sent to, to let storelink act for its account.
    pub fn authorize_url(
        &self,
        client: &BolClient,
        state: &CsrfToken,
        pkce: &PkceCodeChallenge,
    ) -> Url {
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("scope", &self.scope)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("state", state.secret())
            .append_pair("code_challenge", pkce.as_str())
            .append_pair("code_challenge_method", pkce.method().as_str());
        url
    }

    /// A Retailer API endpoint: `path` (starting with `/`) under the API's base.
    pub fn api_endpoint(&self, path: &str) -> Result<Url, url::ParseError> {
        Url::parse(&format!(
            "{}{path}",
            self.api_url.as_str().trim_end_matches('/')
        ))
    }
}

fn join(base: &Url, path: &str, var: &'static str) -> Result<Url, ConfigError> {
    base.join(path).map_err(|e| ConfigError {
        var,
        reason: e.to_string(),
    })
}

/// What to exchange for a token.
pub enum Grant<'a> {
    /// A code from the authorize redirect, with the flow's PKCE verifier.
    AuthorizationCode {
        /// The code.
        code: &'a str,
        /// The verifier of the challenge sent with the authorize request.
        verifier: &'a PkceCodeVerifier,
        /// Must equal the one the authorize request carried.
        redirect_uri: &'a Url,
    },
    /// A refresh token (which bol.com may rotate).
    RefreshToken(&'a SecretString),
    /// A retailer's own client id and secret, sent as Basic auth.
    ClientCredentials,
}

impl Grant<'_> {
    /// The form body: the grant and its parameters, never the client's credentials.
    fn form(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::AuthorizationCode {
                code,
                verifier,
                redirect_uri,
            } => vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier.secret()),
            ],
            Self::RefreshToken(token) => vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.expose_secret()),
            ],
            Self::ClientCredentials => vec![("grant_type", "client_credentials")],
        }
    }
}

/// A checked token answer.
#[derive(Debug)]
pub struct BolToken {
    /// The access token (a JWT).
    pub access_token: SecretString,
    /// A refresh token, when bol.com gave one (code flow; a new one on rotation).
    pub refresh_token: Option<SecretString>,
    /// When the access token stops working, Unix seconds: the earlier of its `exp` claim and
    /// `expires_in` from now.
    pub expires_at: i64,
    /// The account claim, when asked for.
    pub account: Option<String>,
    /// The granted scope.
    pub scope: Option<String>,
}

/// Asks bol.com's token endpoint for a token: a form POST with `client`'s credentials as Basic
/// auth and `Accept: application/json`. With `account_claim` set, the access token must be a
/// JWT carrying that claim.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &Url,
    client: &BolClient,
    grant: &Grant<'_>,
    account_claim: Option<&str>,
    now: i64,
) -> Result<BolToken, TokenError> {
    let request = http
        .post(token_url.clone())
        .basic_auth(
            &client.client_id,
            Some(client.client_secret.expose_secret()),
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&grant.form());
    parse_token(&send_token_request(request).await?, account_claim, now)
}

/// Checks a token answer (see [`request_token`]).
pub fn parse_token(
    json: &Map<String, Value>,
    account_claim: Option<&str>,
    now: i64,
) -> Result<BolToken, TokenError> {
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::MissingAccessToken)?;
    let claims = jwt::read_claims_unverified(access_token).ok();
    let account = match account_claim {
        Some(name) => {
            let claims = claims.as_ref().ok_or(TokenError::NotAJwt)?;
            Some(
                claims
                    .string(name)
                    .ok_or_else(|| TokenError::MissingClaim(name.to_owned()))?,
            )
        }
        None => None,
    };
    let from_claim = claims.as_ref().and_then(jwt::Claims::expires_at);
    let from_expires_in = json
        .get("expires_in")
        .and_then(Value::as_i64)
        .filter(|s| (1..=10 * 365 * 24 * 3600).contains(s))
        .map(|s| now + s);
    let expires_at = match (from_claim, from_expires_in) {
        (Some(a), Some(b)) => a.min(b),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(TokenError::MissingField("an expiry (exp or expires_in)")),
    };
    let refresh_token = json
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    Ok(BolToken {
        access_token: SecretString::from(access_token),
        refresh_token,
        expires_at,
        account,
        scope: super::string_field(json, "scope").map(|s| shorten(&s, 200)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
    use serde_json::json;

    fn jwt(payload: Value) -> String {
        format!(
            "{}.{}.sig",
            B64URL.encode(br#"{"alg":"RS256"}"#),
            B64URL.encode(payload.to_string())
        )
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn reads_the_documented_answer() {
        let answer = obj(json!({
            "access_token": jwt(json!({"sub": "1100001", "exp": 1_000_500})),
            "token_type": "Bearer", "expires_in": 599, "refresh_token": "rt-1",
            "scope": "offline_access"
        }));
        let token = parse_token(&answer, Some("sub"), 1_000_000).unwrap();
        assert_eq!(token.account.as_deref(), Some("1100001"));
        assert_eq!(
            token.expires_at, 1_000_500,
            "the earlier of exp and expires_in"
        );
        assert_eq!(token.refresh_token.unwrap().expose_secret(), "rt-1");
        assert_eq!(token.scope.as_deref(), Some("offline_access"));
    }

    #[test]
    fn the_account_claim_is_a_setting() {
        let answer = obj(json!({
            "access_token": jwt(json!({"sub": "client-x", "retailer": 42, "exp": 2_000_000})),
            "expires_in": 299
        }));
        let token = parse_token(&answer, Some("retailer"), 1_000_000).unwrap();
        assert_eq!(token.account.as_deref(), Some("42"));
        assert_eq!(token.expires_at, 1_000_299);
    }

    #[test]
    fn a_token_without_the_claim_or_not_a_jwt_is_refused() {
        let no_claim = obj(json!({
            "access_token": jwt(json!({"exp": 2_000_000})), "expires_in": 299
        }));
        assert!(matches!(
            parse_token(&no_claim, Some("sub"), 0),
            Err(TokenError::MissingClaim(name)) if name == "sub"
        ));
        let opaque = obj(json!({"access_token": "opaque", "expires_in": 299}));
        assert!(matches!(
            parse_token(&opaque, Some("sub"), 0),
            Err(TokenError::NotAJwt)
        ));
        // Client-credentials tokens need no claim.
        assert!(parse_token(&opaque, None, 0).is_ok());
    }

    #[test]
    fn an_answer_without_an_expiry_or_token_is_refused() {
        assert!(matches!(
            parse_token(&obj(json!({"access_token": "opaque"})), None, 0),
            Err(TokenError::MissingField(_))
        ));
        assert!(matches!(
            parse_token(&obj(json!({"expires_in": 299})), None, 0),
            Err(TokenError::MissingAccessToken)
        ));
        assert!(matches!(
            parse_token(
                &obj(json!({"access_token": "opaque", "expires_in": -5})),
                None,
                0
            ),
            Err(TokenError::MissingField(_))
        ));
    }

    #[test]
    fn authorize_url_carries_every_parameter_and_no_secret() {
        let public = Url::parse("https://storelink.example.com").unwrap();
        let config = BolConfig::resolve(
            &BolSettings {
                client_id: Some("bol-cid".into()),
                client_secret: Some(SecretString::from("bol-secret-value")),
                ..BolSettings::default()
            },
            false,
            &public,
        )
        .unwrap();
        let client = config.code_flow().unwrap();
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let url = config.authorize_url(client, &CsrfToken::new("st".into()), &challenge);
        assert!(url.as_str().starts_with(AUTHORIZE_URL));
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "bol-cid");
        assert_eq!(pairs["scope"], "offline_access");
        assert_eq!(
            pairs["redirect_uri"],
            "https://storelink.example.com/oauth/bol/callback"
        );
        assert_eq!(pairs["state"], "st");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert!(!url.as_str().contains("bol-secret-value"));
    }

    #[test]
    fn defaults_and_the_sandbox() {
        let public = Url::parse("http://localhost:3000").unwrap();
        let production = BolConfig::resolve(&BolSettings::default(), false, &public).unwrap();
        assert!(production.code_flow().is_none());
        assert_eq!(production.token_url.as_str(), TOKEN_URL);
        assert_eq!(
            production.api_endpoint("/orders").unwrap().as_str(),
            "https://api.bol.com/retailer/orders"
        );
        assert_eq!(production.account_claim, "sub");
        let sandbox = BolConfig::resolve(&BolSettings::default(), true, &public).unwrap();
        assert_eq!(
            sandbox.code_flow().unwrap().client_id,
            SANDBOX_CLIENT_ID.to_owned()
        );
        assert_eq!(
            sandbox.token_url.as_str(),
            "http://localhost:3000/sandbox/bol/token"
        );
        assert_eq!(
            sandbox.api_endpoint("/orders").unwrap().as_str(),
            "http://localhost:3000/sandbox/bol/retailer/orders"
        );
    }

    #[test]
    fn grants_never_carry_client_credentials_in_the_form() {
        let verifier = PkceCodeVerifier::new("v".repeat(43));
        let redirect = Url::parse("https://s.example.com/oauth/bol/callback").unwrap();
        let code = Grant::AuthorizationCode {
            code: "c",
            verifier: &verifier,
            redirect_uri: &redirect,
        };
        let refresh_token = SecretString::from("rt");
        for grant in [
            code,
            Grant::RefreshToken(&refresh_token),
            Grant::ClientCredentials,
        ] {
            let form = grant.form();
            assert!(
                form.iter()
                    .all(|(k, _)| *k != "client_secret" && *k != "client_id")
            );
        }
    }
}
