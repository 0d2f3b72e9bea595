//! Settings from the environment (and a `.env` file, loaded by `main`).
//!
//! Every variable is read here and nowhere else. A bad value stops start-up with one line that
//! names the variable; secrets are held in [`SecretString`] so `Debug` cannot print them.

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use url::Url;

/// A setting that could not be used, named by its variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it (never its value when the value is secret).
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// Everything storelink reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `STORELINK_BIND`: the listen address.
    pub bind: SocketAddr,
    /// `STORELINK_PUBLIC_URL`; `None` means `http://localhost:{bound port}`.
    pub public_url: Option<Url>,
    /// `STORELINK_DATABASE_URL`.
    pub database_url: String,
    /// `STORELINK_MASTER_KEY` (base64 of 32 bytes).
    pub master_key: Option<SecretString>,
    /// `STORELINK_PREVIOUS_MASTER_KEYS`: earlier master keys (comma-separated base64) that still
    /// open what they sealed, until `storelink rotate-keys` has re-sealed it all.
    pub previous_master_keys: Vec<SecretString>,
    /// `STORELINK_SANDBOX`.
    pub sandbox: bool,
    /// The Maropost Commerce Cloud settings (`MAROPOST_*`).
    pub maropost: MaropostSettings,
    /// The bol.com settings (`BOL_*`).
    pub bol: BolSettings,
    /// Time allowed for one outbound request to a platform.
    pub http_timeout: Duration,
    /// How long a database writer waits for another before giving up (not an environment
    /// variable; tests shorten it).
    pub busy_timeout: Duration,
}

/// `MAROPOST_*` settings as given; unset URLs and credentials are filled in later (sandbox or
/// production defaults) by [`crate::providers::maropost::MaropostConfig::resolve`].
#[derive(Debug, Clone, Default)]
pub struct MaropostSettings {
    /// `MAROPOST_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `MAROPOST_CLIENT_SECRET`.
    pub client_secret: Option<SecretString>,
    /// `MAROPOST_AUTHORIZE_URL`.
    pub authorize_url: Option<Url>,
    /// `MAROPOST_TOKEN_URL`.
    pub token_url: Option<Url>,
    /// `MAROPOST_API_URL_TEMPLATE`, containing `{store_domain}`.
    pub api_url_template: Option<String>,
    /// `MAROPOST_ACCEPT_PANEL_INSTALLS`.
    pub accept_panel_installs: bool,
}

/// `BOL_*` settings as given; unset values are filled in later (sandbox or production defaults)
/// by [`crate::providers::bol::BolConfig::resolve`].
#[derive(Debug, Clone, Default)]
pub struct BolSettings {
    /// `BOL_CLIENT_ID`: storelink's intermediary (code flow) client id.
    pub client_id: Option<String>,
    /// `BOL_CLIENT_SECRET`.
    pub client_secret: Option<SecretString>,
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
}

/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://storelink.db";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Treat empty values like unset ones: `FOO=` in a .env file means "no value".
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let bind = match get("STORELINK_BIND") {
            Some(v) => v.trim().parse().map_err(|_| {
                ConfigError::new("STORELINK_BIND", format!("not a socket address: {v:?}"))
            })?,
            None => DEFAULT_BIND.parse().map_err(|_| {
                ConfigError::new("STORELINK_BIND", "built-in default did not parse")
            })?,
        };
        let public_url = get("STORELINK_PUBLIC_URL")
            .map(|v| parse_public_url(&v))
            .transpose()?;
        let database_url =
            get("STORELINK_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !database_url.starts_with("sqlite:") {
            return Err(ConfigError::new(
                "STORELINK_DATABASE_URL",
                "only sqlite://PATH is supported by this build",
            ));
        }
        let master_key = get("STORELINK_MASTER_KEY").map(|v| SecretString::from(v.trim()));
        let previous_master_keys = get("STORELINK_PREVIOUS_MASTER_KEYS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(SecretString::from)
                    .collect()
            })
            .unwrap_or_default();

        let maropost = MaropostSettings {
            client_id: get("MAROPOST_CLIENT_ID").map(|v| v.trim().to_owned()),
            client_secret: get("MAROPOST_CLIENT_SECRET").map(|v| SecretString::from(v.trim())),
            authorize_url: get("MAROPOST_AUTHORIZE_URL")
                .map(|v| parse_http_url("MAROPOST_AUTHORIZE_URL", &v))
                .transpose()?,
            token_url: get("MAROPOST_TOKEN_URL")
                .map(|v| parse_http_url("MAROPOST_TOKEN_URL", &v))
                .transpose()?,
            api_url_template: get("MAROPOST_API_URL_TEMPLATE")
                .map(|v| parse_api_template(&v))
                .transpose()?,
            accept_panel_installs: get("MAROPOST_ACCEPT_PANEL_INSTALLS")
                .map(|v| parse_bool("MAROPOST_ACCEPT_PANEL_INSTALLS", &v))
                .transpose()?
                .unwrap_or(true),
        };

        let bol = BolSettings {
            client_id: get("BOL_CLIENT_ID").map(|v| v.trim().to_owned()),
            client_secret: get("BOL_CLIENT_SECRET").map(|v| SecretString::from(v.trim())),
            authorize_url: get("BOL_AUTHORIZE_URL")
                .map(|v| parse_http_url("BOL_AUTHORIZE_URL", &v))
                .transpose()?,
            token_url: get("BOL_TOKEN_URL")
                .map(|v| parse_http_url("BOL_TOKEN_URL", &v))
                .transpose()?,
            api_url: get("BOL_API_URL")
                .map(|v| parse_http_url("BOL_API_URL", &v))
                .transpose()?,
            scope: get("BOL_SCOPE").map(|v| v.trim().to_owned()),
            account_claim: get("BOL_ACCOUNT_CLAIM")
                .map(|v| parse_claim_name(&v))
                .transpose()?,
        };

        let any_client_id = maropost.client_id.is_some() || bol.client_id.is_some();
        let sandbox = get("STORELINK_SANDBOX")
            .map(|v| parse_bool("STORELINK_SANDBOX", &v))
            .transpose()?
            .unwrap_or(!any_client_id);

        if maropost.client_id.is_some() != maropost.client_secret.is_some() {
            let missing = if maropost.client_id.is_some() {
                "MAROPOST_CLIENT_SECRET"
            } else {
                "MAROPOST_CLIENT_ID"
            };
            return Err(ConfigError::new(
                missing,
                "required when the other Maropost credential is set",
            ));
        }
        if bol.client_id.is_some() != bol.client_secret.is_some() {
            let missing = if bol.client_id.is_some() {
                "BOL_CLIENT_SECRET"
            } else {
                "BOL_CLIENT_ID"
            };
            return Err(ConfigError::new(
                missing,
                "required when the other bol.com credential is set",
            ));
        }
        if !sandbox && master_key.is_none() {
            return Err(ConfigError::new(
                "STORELINK_MASTER_KEY",
                "required outside sandbox mode (create one with `storelink keygen`)",
            ));
        }

        Ok(Self {
            bind,
            public_url,
            database_url,
            master_key,
            previous_master_keys,
            sandbox,
            maropost,
            bol,
            http_timeout: Duration::from_secs(10),
            busy_timeout: crate::db::BUSY_TIMEOUT,
        })
    }

    /// Settings for tests and tools: sandbox on, everything else at its default.
    pub fn sandbox_defaults(database_url: impl Into<String>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            database_url: database_url.into(),
            master_key: None,
            previous_master_keys: Vec::new(),
            sandbox: true,
            maropost: MaropostSettings {
                accept_panel_installs: true,
                ..MaropostSettings::default()
            },
            bol: BolSettings::default(),
            http_timeout: Duration::from_secs(10),
            busy_timeout: crate::db::BUSY_TIMEOUT,
        }
    }
}

/// `on`/`off` and the usual spellings of both.
fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            var,
            format!("expected on/off or true/false, got {value:?}"),
        )),
    }
}

fn parse_http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|e| ConfigError::new(var, format!("not a URL ({e}): {value:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(var, "must be an http:// or https:// URL"));
    }
    Ok(url)
}

/// The public URL: redirect URIs are built from it alone, so it must be an origin without a
/// path, query or fragment (every route is served from the root).
fn parse_public_url(value: &str) -> Result<Url, ConfigError> {
    const VAR: &str = "STORELINK_PUBLIC_URL";
    let url = parse_http_url(VAR, value)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            VAR,
            "must be an origin such as https://storelink.example.com, without a path",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(VAR, "must not contain user info"));
    }
    Ok(url)
}

/// A JWT claim name: a short run of letters, digits, `_`, `-`, `.` or `:`.
fn parse_claim_name(value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    let valid = value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if !valid {
        return Err(ConfigError::new(
            "BOL_ACCOUNT_CLAIM",
            format!("not a claim name: {value:?}"),
        ));
    }
    Ok(value.to_owned())
}

fn parse_api_template(value: &str) -> Result<String, ConfigError> {
    const VAR: &str = "MAROPOST_API_URL_TEMPLATE";
    let value = value.trim();
    if !value.contains("{store_domain}") {
        return Err(ConfigError::new(VAR, "must contain {store_domain}"));
    }
    parse_http_url(VAR, &value.replace("{store_domain}", "example.com"))?;
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_sandbox_without_client_ids() {
        let s = settings(&[]).unwrap();
        assert!(s.sandbox);
        assert_eq!(s.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(s.database_url, "sqlite://storelink.db");
        assert!(s.maropost.accept_panel_installs);
    }

    #[test]
    fn a_client_id_turns_sandbox_off_and_requires_a_master_key() {
        let err = settings(&[
            ("MAROPOST_CLIENT_ID", "id"),
            ("MAROPOST_CLIENT_SECRET", "s"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "STORELINK_MASTER_KEY");
    }

    #[test]
    fn half_a_credential_is_refused() {
        let err =
            settings(&[("MAROPOST_CLIENT_ID", "id"), ("STORELINK_SANDBOX", "on")]).unwrap_err();
        assert_eq!(err.var, "MAROPOST_CLIENT_SECRET");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("STORELINK_BIND", "not an address"),
            ("STORELINK_PUBLIC_URL", "ftp://example.com"),
            ("STORELINK_PUBLIC_URL", "https://example.com/prefix"),
            ("STORELINK_SANDBOX", "maybe"),
            ("STORELINK_DATABASE_URL", "mysql://x"),
            ("MAROPOST_TOKEN_URL", "not a url"),
            (
                "MAROPOST_API_URL_TEMPLATE",
                "https://example.com/no-placeholder",
            ),
            ("MAROPOST_ACCEPT_PANEL_INSTALLS", "perhaps"),
            ("BOL_TOKEN_URL", "login.bol.com/token"),
            ("BOL_API_URL", "ftp://api.bol.com"),
            ("BOL_ACCOUNT_CLAIM", "sub claim"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn bol_settings_are_read_and_half_a_credential_is_refused() {
        let s = settings(&[
            ("BOL_CLIENT_ID", "bol-id"),
            ("BOL_CLIENT_SECRET", "bol-secret-value"),
            ("BOL_ACCOUNT_CLAIM", "retailer_id"),
            ("STORELINK_MASTER_KEY", "c2VjcmV0LW1hc3Rlci1rZXk="),
        ])
        .unwrap();
        assert!(!s.sandbox, "a bol.com client id turns sandbox mode off");
        assert_eq!(s.bol.client_id.as_deref(), Some("bol-id"));
        assert_eq!(s.bol.account_claim.as_deref(), Some("retailer_id"));
        assert!(!format!("{s:?}").contains("bol-secret-value"));
        let err = settings(&[("BOL_CLIENT_ID", "id"), ("STORELINK_SANDBOX", "on")]).unwrap_err();
        assert_eq!(err.var, "BOL_CLIENT_SECRET");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = settings(&[
            ("STORELINK_MASTER_KEY", "c2VjcmV0LW1hc3Rlci1rZXk="),
            ("MAROPOST_CLIENT_ID", "id"),
            ("MAROPOST_CLIENT_SECRET", "very-secret-value"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("very-secret-value"));
        assert!(!debug.contains("c2VjcmV0LW1hc3Rlci1rZXk="));
    }
}
