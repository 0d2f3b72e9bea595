//! bol.com's settings (`BOL_*`), read from the environment and resolved with every default
//! filled in, and the authorize URL built from them.

use oauth2::{CsrfToken, PkceCodeChallenge};
use secrecy::SecretString;
use url::Url;

use crate::{
    config::{ConfigError, Env, extra_params},
    domain::{ClientAuth, Platform, rate_budget::Rate},
    platforms::kit::{
        budget::{Budget, rate_setting},
        endpoints::{Endpoint, join, sandbox_issuer},
    },
};

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
/// The sandbox's issuer identifier, under the public URL (it sends it as `iss`).
pub const SANDBOX_ISSUER_PATH: &str = "/sandbox/bol";
/// The media type of the Retailer API version storelink speaks.
pub const API_MEDIA_TYPE: &str = "application/vnd.retailer.v10+json";

/// The authorize parameters storelink sets: extra ones may not replace them.
pub const AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "scope",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// `BOL_*` settings as given; unset values are filled in by [`BolConfig::resolve`].
#[derive(Debug, Clone, Default)]
pub struct BolSettings {
    /// `BOL_CLIENT_ID` and `BOL_CLIENT_SECRET`: storelink's intermediary (code flow) client.
    pub client: Option<(String, SecretString)>,
    /// `BOL_AUTHORIZE_URL`.
    pub authorize_url: Option<Url>,
    /// `BOL_TOKEN_URL`.
    pub token_url: Option<Url>,
    /// `BOL_API_URL`: the Retailer API's base, e.g. `https://api.bol.com/retailer`.
    pub api_url: Option<Url>,
    /// `BOL_SCOPE`.
    pub scope: Option<String>,
    /// `BOL_ACCOUNT_CLAIM`: the access-token claim that names the retailer account.
    pub account_claim: Option<String>,
    /// `BOL_AUTHORIZE_EXTRA_PARAMS`: more authorize parameters, never one storelink sets.
    pub authorize_extra_params: Vec<(String, String)>,
    /// `BOL_CLIENT_AUTH`: how every token request authenticates.
    pub client_auth: ClientAuth,
    /// `BOL_ISSUER`: the `iss` (RFC 9207) a callback must carry when it carries one.
    pub issuer: Option<String>,
    /// `BOL_API_RATE_LIMIT`: the ceiling per install and endpoint group.
    pub api_rate: Option<Rate>,
}

impl BolSettings {
    /// Reads `BOL_*` from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            client: env.credentials("BOL_CLIENT_ID", "BOL_CLIENT_SECRET", "bol.com")?,
            authorize_url: env.url("BOL_AUTHORIZE_URL")?,
            token_url: env.url("BOL_TOKEN_URL")?,
            api_url: env.url("BOL_API_URL")?,
            scope: env.text("BOL_SCOPE"),
            account_claim: env.parse("BOL_ACCOUNT_CLAIM", claim_name)?,
            authorize_extra_params: env
                .parse("BOL_AUTHORIZE_EXTRA_PARAMS", |v| {
                    extra_params(v, AUTHORIZE_PARAMS)
                })?
                .unwrap_or_default(),
            client_auth: env
                .parse("BOL_CLIENT_AUTH", |v| {
                    ClientAuth::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
                        format!("expected raw, rfc6749 or client_secret_post, got {v:?}")
                    })
                })?
                .unwrap_or(ClientAuth::Raw),
            issuer: env.issuer("BOL_ISSUER")?,
            api_rate: rate_setting(env, "BOL_API_RATE_LIMIT", Some(DEFAULT_API_RATE))?,
        })
    }
}

/// The ceiling per install and endpoint group unless `BOL_API_RATE_LIMIT` says otherwise:
/// bol.com gives its APIs "5 requests per second" where it names a figure (reference 004, the
/// OpenAPI on JWT tokens, "the limits used in the Retailer API"); its per-endpoint figures are
/// not in our references (docs/platforms/bol.md).
pub const DEFAULT_API_RATE: Rate = Rate::per_second(5);

/// The Retailer API's resources (the first segment of a path under its base): bol.com limits
/// each endpoint on its own, so each resource is a budget of its own.
const ENDPOINT_GROUPS: [&str; 20] = [
    "commission",
    "commissions",
    "content",
    "insights",
    "inventory",
    "invoices",
    "offers",
    "orders",
    "process-status",
    "product-content",
    "products",
    "promotions",
    "replenishments",
    "retailers",
    "returns",
    "shipments",
    "shipping-labels",
    "subscriptions",
    "transports",
    "inbounds",
];

/// The endpoint group of `path` (with or without its leading `/`): its resource, or `other`.
pub fn api_group(path: &str) -> &'static str {
    let first = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    ENDPOINT_GROUPS
        .iter()
        .find(|group| group.eq_ignore_ascii_case(first))
        .copied()
        .unwrap_or("other")
}

/// A JWT claim name: a short run of letters, digits, `_`, `-`, `.` or `:`.
fn claim_name(value: &str) -> Result<String, String> {
    let valid = value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!("not a claim name: {value:?}"))
    }
}

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
    /// More authorize parameters (`BOL_AUTHORIZE_EXTRA_PARAMS`), after storelink's own.
    pub authorize_extra_params: Vec<(String, String)>,
    /// How every token request authenticates (`BOL_CLIENT_AUTH`).
    pub client_auth: ClientAuth,
    /// The issuer a callback's `iss` must equal when it carries one (`BOL_ISSUER`; the
    /// sandbox's in sandbox mode). `None`: not checked.
    pub issuer: Option<String>,
    /// The ceiling of ours per install and endpoint group (`BOL_API_RATE_LIMIT`).
    pub api_rate: Option<Rate>,
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
        let client = match &settings.client {
            Some((id, secret)) => Some(BolClient {
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            _ if sandbox => Some(BolClient {
                client_id: SANDBOX_CLIENT_ID.to_owned(),
                client_secret: SecretString::from(SANDBOX_CLIENT_SECRET),
            }),
            _ => None,
        };
        let endpoint = |configured, sandbox_path, production, var| {
            Endpoint {
                configured,
                sandbox_path,
                production,
                var,
            }
            .resolve(sandbox, public_url)
        };
        Ok(Self {
            client,
            authorize_url: endpoint(
                &settings.authorize_url,
                "/sandbox/bol/authorize",
                AUTHORIZE_URL,
                "BOL_AUTHORIZE_URL",
            )?,
            token_url: endpoint(
                &settings.token_url,
                "/sandbox/bol/token",
                TOKEN_URL,
                "BOL_TOKEN_URL",
            )?,
            api_url: endpoint(
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
            authorize_extra_params: settings.authorize_extra_params.clone(),
            client_auth: settings.client_auth,
            issuer: settings.issuer.clone().or_else(|| {
                // The sandbox sends its issuer; a platform configured elsewhere is not assumed to.
                (sandbox && settings.authorize_url.is_none())
                    .then(|| sandbox_issuer(public_url, SANDBOX_ISSUER_PATH))
            }),
            api_rate: settings.api_rate,
        })
    }

    /// The budget a Retailer API call for `account` to `path` draws on: one per endpoint
    /// group, since bol.com sets its limits per endpoint.
    pub fn api_budget(&self, account: &str, path: &str) -> Budget {
        Budget::api(Platform::Bol, account, api_group(path), self.api_rate)
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
            .append_pair("code_challenge_method", pkce.method().as_str())
            // After ours, and never one of ours (refused at start-up).
            .extend_pairs(&self.authorize_extra_params);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_carries_every_parameter_and_no_secret() {
        let public = Url::parse("https://storelink.example.com").unwrap();
        let config = BolConfig::resolve(
            &BolSettings {
                client: Some(("bol-cid".into(), SecretString::from("bol-secret-value"))),
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
    fn extra_authorize_params_come_after_ours() {
        let public = Url::parse("https://storelink.example.com").unwrap();
        let config = BolConfig::resolve(
            &BolSettings {
                client: Some(("bol-cid".into(), SecretString::from("bol-secret-value"))),
                authorize_extra_params: vec![
                    ("prompt".into(), "consent".into()),
                    ("ui_locales".into(), "nl en".into()),
                ],
                ..BolSettings::default()
            },
            false,
            &public,
        )
        .unwrap();
        let client = config.code_flow().unwrap();
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let url = config.authorize_url(client, &CsrfToken::new("st".into()), &challenge);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "response_type",
                "client_id",
                "scope",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method",
                "prompt",
                "ui_locales"
            ]
        );
        assert_eq!(pairs[8].1, "nl en");
    }

    #[test]
    fn the_issuer_defaults_to_the_sandboxs_only_in_sandbox_mode() {
        let public = Url::parse("http://localhost:3000").unwrap();
        let sandbox = BolConfig::resolve(&BolSettings::default(), true, &public).unwrap();
        assert_eq!(
            sandbox.issuer.as_deref(),
            Some("http://localhost:3000/sandbox/bol")
        );
        let production = BolConfig::resolve(&BolSettings::default(), false, &public).unwrap();
        assert_eq!(production.issuer, None);
        let elsewhere = BolConfig::resolve(
            &BolSettings {
                authorize_url: Some(Url::parse("https://op.example.com/auth").unwrap()),
                ..BolSettings::default()
            },
            true,
            &public,
        )
        .unwrap();
        assert_eq!(elsewhere.issuer, None, "not the sandbox: not assumed");
        let configured = BolConfig::resolve(
            &BolSettings {
                issuer: Some("https://login.bol.com".into()),
                ..BolSettings::default()
            },
            false,
            &public,
        )
        .unwrap();
        assert_eq!(configured.issuer.as_deref(), Some("https://login.bol.com"));
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
    fn settings_are_read_and_bad_ones_name_their_variable() {
        let env = Env::from_pairs([
            ("BOL_CLIENT_ID", "bol-id"),
            ("BOL_CLIENT_SECRET", "bol-secret-value"),
            ("BOL_ACCOUNT_CLAIM", "retailer_id"),
            ("BOL_CLIENT_AUTH", "RFC6749"),
            ("BOL_ISSUER", "https://login.bol.com"),
            (
                "BOL_AUTHORIZE_EXTRA_PARAMS",
                "?prompt=consent&ui_locales=nl%20en",
            ),
        ]);
        let s = BolSettings::from_env(&env).unwrap();
        assert_eq!(s.client.as_ref().unwrap().0, "bol-id");
        assert_eq!(s.account_claim.as_deref(), Some("retailer_id"));
        assert_eq!(s.client_auth, ClientAuth::Rfc6749);
        assert_eq!(s.issuer.as_deref(), Some("https://login.bol.com"));
        assert_eq!(
            s.authorize_extra_params,
            vec![
                ("prompt".to_owned(), "consent".to_owned()),
                ("ui_locales".to_owned(), "nl en".to_owned())
            ]
        );
        assert!(!format!("{s:?}").contains("bol-secret-value"));
        assert_eq!(
            BolSettings::from_env(&Env::default()).unwrap().client_auth,
            ClientAuth::Raw
        );
        for (var, value) in [
            ("BOL_TOKEN_URL", "login.bol.com/token"),
            ("BOL_API_URL", "ftp://api.bol.com"),
            ("BOL_ACCOUNT_CLAIM", "sub claim"),
            ("BOL_CLIENT_AUTH", "digest"),
            ("BOL_ISSUER", "not a url"),
            ("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent&state=x"),
            ("BOL_CLIENT_ID", "id"),
        ] {
            let err = BolSettings::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
            let expected = if var == "BOL_CLIENT_ID" {
                "BOL_CLIENT_SECRET"
            } else {
                var
            };
            assert_eq!(err.var, expected, "{value}");
            assert!(!err.to_string().contains('\n'));
        }
    }
}
