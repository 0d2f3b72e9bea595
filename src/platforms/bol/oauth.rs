//! bol.com's token endpoint: what to exchange (a code, a refresh token, a retailer's own client
//! credentials), and reading its answers. Every request is a form POST with `Authorization: Basic`
//! and `Accept: application/json`; nothing secret ever goes into a URL query.

use oauth2::PkceCodeVerifier;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use url::Url;

use super::settings::{BolClient, BolConfig};
use crate::platforms::kit::jwt;
use crate::{
    db::{
        installs::NewInstall,
        token_state::{Entered, FreshTokens, NewConnection},
    },
    domain::{AuthKind, Initiator, InstallingUser, Platform, text::shorten},
    platforms::kit::{
        budget::Budget,
        context::Context,
        token::{TokenError, send_token_request, string_field, with_client_auth},
    },
};

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

/// Who a new connection authenticates as.
pub enum ConnectingClient<'a> {
    /// storelink's intermediary client: the retailer approved it (code flow).
    Intermediary,
    /// The retailer's own client id and secret (client-credentials grant).
    Own {
        /// The client id.
        client_id: &'a str,
        /// The client secret, sealed on the way in.
        secret: &'a SecretString,
    },
}

impl BolToken {
    /// The connection this token makes: a bol.com install of `account`, named `name`, with its
    /// tokens, to be stored as done by `actor`.
    pub fn connection<'a>(
        &'a self,
        account: &'a str,
        name: &'a str,
        client: ConnectingClient<'a>,
        actor: &'a str,
    ) -> NewConnection<'a> {
        let (kind, entered, refresh_token) = match client {
            ConnectingClient::Intermediary => (
                AuthKind::Code,
                Entered::default(),
                self.refresh_token.as_ref(),
            ),
            // The client-credentials grant renews with the credentials, never a refresh token.
            ConnectingClient::Own { client_id, secret } => (
                AuthKind::ClientCredentials,
                Entered {
                    client_id: Some(client_id),
                    client_secret: Some(secret),
                    ..Entered::default()
                },
                None,
            ),
        };
        NewConnection {
            install: NewInstall {
                platform: Platform::Bol,
                account_id: account,
                store_domain: None,
                store_name: Some(name),
                timezone: None,
                scope: self.scope.as_deref(),
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: self.access_token.expose_secret().as_bytes(),
            },
            kind,
            entered,
            tokens: Some(FreshTokens {
                access_token: &self.access_token,
                refresh_token,
                expires_at: self.expires_at,
                scope: self.scope.as_deref(),
            }),
            actor,
        }
    }
}

/// Asks bol.com's token endpoint (`BOL_TOKEN_URL`) for a token: a form POST with
/// `Accept: application/json` and `client`'s credentials as `BOL_CLIENT_AUTH` says (Basic auth
/// by default). With `account_claim` set, the access token must be a JWT carrying that claim.
pub async fn request_token(
    ctx: &Context<'_>,
    config: &BolConfig,
    client: &BolClient,
    grant: &Grant<'_>,
    account_claim: Option<&str>,
    now: i64,
) -> Result<BolToken, TokenError> {
    let request = ctx
        .http
        .post(config.token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json");
    let request = with_client_auth(
        request,
        grant.form(),
        config.client_auth,
        &client.client_id,
        &client.client_secret,
    );
    let budget = Budget::token(Platform::Bol, &client.client_id, None);
    parse_token(
        &send_token_request(ctx, &budget, request).await?,
        account_claim,
        now,
    )
}

/// A code-flow answer must carry a refresh token when the scope asked for offline access
/// (`offline_access`): without one the connection dies with its first access token. A server
/// that grants less than was asked (a standard one does, without `prompt=consent`) is refused
/// here, with the scope it granted named.
pub fn check_offline_access(config: &BolConfig, token: &BolToken) -> Result<(), TokenError> {
    let asked = config
        .scope
        .split_whitespace()
        .any(|s| s == "offline_access");
    if asked && token.refresh_token.is_none() {
        return Err(TokenError::NoRefreshToken {
            granted: token.scope.clone(),
        });
    }
    Ok(())
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
        scope: string_field(json, "scope").map(|s| shorten(&s, 200)),
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
