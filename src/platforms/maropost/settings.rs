//! Maropost's settings (`MAROPOST_*`), read from the environment and resolved: production or
//! sandbox endpoints, the add-on client, where stores' API calls go.

use oauth2::{CsrfToken, PkceCodeChallenge};
use secrecy::SecretString;
use url::Url;

use crate::{
    config::{ConfigError, Env, extra_params},
    db::installs::Install,
    domain::{Platform, StoreDomain, rate_budget::Rate},
    platforms::kit::{
        api_call::ApiError,
        budget::{Budget, rate_setting},
        endpoints::{Endpoint, join, sandbox_issuer},
    },
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
/// Where Maropost sends the merchant back.
pub const CALLBACK_PATH: &str = "/oauth/maropost/callback";
/// The sandbox's issuer identifier, under the public URL (it sends it as `iss`).
pub const SANDBOX_ISSUER_PATH: &str = "/sandbox/maropost";

/// The authorize parameters storelink sets: extra ones may not replace them.
pub const AUTHORIZE_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "store_domain",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// `MAROPOST_*` settings as given; unset URLs and credentials are filled in by
/// [`MaropostConfig::resolve`].
#[derive(Debug, Clone, Default)]
pub struct MaropostSettings {
    /// `MAROPOST_CLIENT_ID` and `MAROPOST_CLIENT_SECRET`.
    pub client: Option<(String, SecretString)>,
    /// `MAROPOST_AUTHORIZE_URL`.
    pub authorize_url: Option<Url>,
    /// `MAROPOST_TOKEN_URL`.
    pub token_url: Option<Url>,
    /// `MAROPOST_API_URL_TEMPLATE`, containing `{store_domain}`.
    pub api_url_template: Option<String>,
    /// `MAROPOST_ACCEPT_PANEL_INSTALLS` (default on).
    pub accept_panel_installs: bool,
    /// `MAROPOST_AUTHORIZE_EXTRA_PARAMS`: more authorize parameters, never one storelink sets.
    pub authorize_extra_params: Vec<(String, String)>,
    /// `MAROPOST_ISSUER`: the `iss` (RFC 9207) a callback must carry when it carries one.
    pub issuer: Option<String>,
    /// `MAROPOST_API_RATE_LIMIT`: the ceiling per store.
    pub api_rate: Option<Rate>,
}

impl MaropostSettings {
    /// Reads `MAROPOST_*` from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            client: env.credentials("MAROPOST_CLIENT_ID", "MAROPOST_CLIENT_SECRET", "Maropost")?,
            authorize_url: env.url("MAROPOST_AUTHORIZE_URL")?,
            token_url: env.url("MAROPOST_TOKEN_URL")?,
            api_url_template: env
                .get("MAROPOST_API_URL_TEMPLATE")
                .map(parse_api_template)
                .transpose()?,
            accept_panel_installs: env.bool("MAROPOST_ACCEPT_PANEL_INSTALLS")?.unwrap_or(true),
            authorize_extra_params: env
                .parse("MAROPOST_AUTHORIZE_EXTRA_PARAMS", |v| {
                    extra_params(v, AUTHORIZE_PARAMS)
                })?
                .unwrap_or_default(),
            issuer: env.issuer("MAROPOST_ISSUER")?,
            api_rate: rate_setting(env, "MAROPOST_API_RATE_LIMIT", Some(DEFAULT_API_RATE))?,
        })
    }
}

/// The ceiling per store unless `MAROPOST_API_RATE_LIMIT` says otherwise: an older Maropost
/// (Neto) document gives 500 calls a minute per account, then `429` (docs/platforms/maropost.md:
/// unconfirmed for today's API).
pub const DEFAULT_API_RATE: Rate = Rate::per_minute(500);

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
        let (client_id, client_secret) = match &settings.client {
            Some((id, secret)) => (id.clone(), secret.clone()),
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
    /// The ceiling of ours per store (`MAROPOST_API_RATE_LIMIT`).
    pub api_rate: Option<Rate>,
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
        Self {
            url_template,
            api_rate: settings.api_rate,
        }
    }

    /// The budget of a store's API calls (`account`: the install's `account_id`): one per
    /// store, as Maropost counts calls per account.
    pub fn api_budget(&self, account: &str) -> Budget {
        Budget::api(Platform::Maropost, account, "api", self.api_rate)
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

/// `MAROPOST_API_URL_TEMPLATE`: a URL with `{store_domain}` in it.
fn parse_api_template(value: &str) -> Result<String, ConfigError> {
    const VAR: &str = "MAROPOST_API_URL_TEMPLATE";
    if !value.contains("{store_domain}") {
        return Err(ConfigError::new(VAR, "must contain {store_domain}"));
    }
    let example = Env::from_pairs([(VAR, value.replace("{store_domain}", "example.com"))]);
    example.url(VAR)?;
    Ok(value.to_owned())
}

/// The install's store domain, checked again (it becomes the host of API calls).
pub fn store_domain(install: &Install) -> Result<StoreDomain, ApiError> {
    install
        .store_domain
        .as_deref()
        .and_then(|d| StoreDomain::parse(d).ok())
        .ok_or(ApiError::BadAddress("the store's domain is not known"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_carries_every_parameter() {
        let public = Url::parse("https://storelink.example.com").unwrap();
        let config = MaropostConfig::resolve(
            &MaropostSettings {
                client: Some(("cid".into(), SecretString::from("client-secret-value"))),
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

    #[test]
    fn settings_are_read_and_bad_ones_name_their_variable() {
        let s = MaropostSettings::from_env(&Env::default()).unwrap();
        assert!(s.accept_panel_installs);
        assert!(s.client.is_none() && s.issuer.is_none());
        for (var, value) in [
            ("MAROPOST_TOKEN_URL", "not a url"),
            (
                "MAROPOST_API_URL_TEMPLATE",
                "https://example.com/no-placeholder",
            ),
            ("MAROPOST_ACCEPT_PANEL_INSTALLS", "perhaps"),
            ("MAROPOST_ISSUER", "ftp://issuer.example.com"),
            (
                "MAROPOST_AUTHORIZE_EXTRA_PARAMS",
                "redirect_uri=https://evil.example.com",
            ),
            ("MAROPOST_CLIENT_ID", "id"),
        ] {
            let err = MaropostSettings::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
            let expected = if var == "MAROPOST_CLIENT_ID" {
                "MAROPOST_CLIENT_SECRET"
            } else {
                var
            };
            assert_eq!(err.var, expected, "{value}");
        }
        let env = Env::from_pairs([
            ("MAROPOST_CLIENT_ID", "id"),
            ("MAROPOST_CLIENT_SECRET", "very-secret-value"),
        ]);
        let s = MaropostSettings::from_env(&env).unwrap();
        assert!(!format!("{s:?}").contains("very-secret-value"));
    }
}
