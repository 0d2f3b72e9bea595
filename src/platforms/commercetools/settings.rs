//! commercetools' settings (`COMMERCETOOLS_*`): the auth and API hosts by region, and the
//! Merchant Center gateway that forwards its users' requests.
//!
//! - Tokens: the client-credentials grant at the region's auth host, `POST {auth}/oauth/token`
//!   with Basic auth and the scopes in the form body. A token is reused until shortly before it
//!   expires ([`crate::platforms::kit::lifecycle`]), never requested per call: commercetools limits
//!   token requests, and they are slow.
//! - Test connection: `GET {api}/{projectKey}`, the project itself.
//! - The hosts come from `COMMERCETOOLS_AUTH_URL` and `COMMERCETOOLS_API_URL`, templates with
//!   `{region}` (commercetools' own by default, the sandbox's in sandbox mode), and are fixed
//!   on the connection when it is added.

use url::Url;

use super::cloud::CloudIdentifier;
use crate::config::{ConfigError, Env};

/// commercetools' auth hosts, by region.
pub const AUTH_URL_TEMPLATE: &str = "https://auth.{region}.commercetools.com";
/// commercetools' API hosts, by region.
pub const API_URL_TEMPLATE: &str = "https://api.{region}.commercetools.com";
/// The sandbox stand-in's path, under the public URL.
pub const SANDBOX_PATH: &str = "/sandbox/commercetools";

/// commercetools' hosts, resolved: templates with `{region}`.
#[derive(Debug, Clone)]
pub struct CommercetoolsConfig {
    /// Where tokens come from (`COMMERCETOOLS_AUTH_URL`).
    pub auth_url_template: String,
    /// Where API calls go (`COMMERCETOOLS_API_URL`).
    pub api_url_template: String,
}

impl CommercetoolsConfig {
    /// Reads `COMMERCETOOLS_AUTH_URL` and `COMMERCETOOLS_API_URL` from `env` and resolves them.
    pub fn from_env(env: &Env, sandbox: bool, public_url: &Url) -> Result<Self, ConfigError> {
        Self::resolve(
            env.get("COMMERCETOOLS_AUTH_URL"),
            env.get("COMMERCETOOLS_API_URL"),
            sandbox,
            public_url,
        )
    }

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
    pub(super) fn token_url(&self, cloud: CloudIdentifier) -> Result<Url, String> {
        Url::parse(&format!(
            "{}/oauth/token",
            fill(&self.auth_url_template, cloud)?
                .as_str()
                .trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())
    }

    /// The API base of `project_key` in `cloud`: `{api}/{projectKey}`.
    pub(super) fn project_url(
        &self,
        cloud: CloudIdentifier,
        project_key: &str,
    ) -> Result<Url, String> {
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
