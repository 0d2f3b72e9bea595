//! bol.com's settings with every default filled in, and the authorize URL built from them.

use oauth2::{CsrfToken, PkceCodeChallenge};
use secrecy::SecretString;
use url::Url;

use crate::{
    config::{BolSettings, ConfigError},
    domain::ClientAuth,
    providers::endpoints::{Endpoint, join, sandbox_issuer},
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
    fn extra_authorize_params_come_after_ours() {
        let public = Url::parse("https://storelink.example.com").unwrap();
        let config = BolConfig::resolve(
            &BolSettings {
                client_id: Some("bol-cid".into()),
                client_secret: Some(SecretString::from("bol-secret-value")),
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
}
