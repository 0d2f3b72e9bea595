//! Settings from the environment (and a `.env` file, loaded by `main`).
//!
//! Every variable is read here and nowhere else. A bad value stops start-up with one line that
//! names the variable; secrets are held in [`SecretString`] so `Debug` cannot print them.

use std::{net::SocketAddr, time::Duration};

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use crate::{
    domain::ClientAuth,
    notify::{NotifyConfig, RetrySchedule},
};

mod values;

pub use values::{BOL_AUTHORIZE_PARAMS, ConfigError, MAROPOST_AUTHORIZE_PARAMS};
use values::{
    parse_api_template, parse_bool, parse_claim_name, parse_count, parse_duration,
    parse_extra_params, parse_http_url, parse_issuer, parse_issuer_url, parse_networks,
    parse_public_url,
};

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
    /// `STORELINK_SANDBOX`: given, or on only when nothing of a production set-up is present
    /// ([`production_sign`]).
    pub sandbox: bool,
    /// Why sandbox mode is on or off, in words for the start-up log and `doctor`.
    pub sandbox_why: &'static str,
    /// The Maropost Commerce Cloud settings (`MAROPOST_*`).
    pub maropost: MaropostSettings,
    /// The bol.com settings (`BOL_*`).
    pub bol: BolSettings,
    /// `ORDERCLOUD_API_URL`: when set, the only OrderCloud API base (tests, the sandbox).
    pub ordercloud_api_url: Option<Url>,
    /// `COMMERCETOOLS_AUTH_URL`: commercetools' auth hosts, a template with `{region}` (checked
    /// by [`crate::providers::commercetools::connection::CommercetoolsConfig::resolve`]).
    pub commercetools_auth_url: Option<String>,
    /// `COMMERCETOOLS_API_URL`: commercetools' API hosts, a template with `{region}`.
    pub commercetools_api_url: Option<String>,
    /// The vendor API's settings.
    pub api: ApiSettings,
    /// `COMMERCETOOLS_MC_API_URL`: when set, the one Merchant Center API gateway (issuer and
    /// key set host of forward-to JWTs) for every cloud identifier; otherwise the sandbox's
    /// stand-in in sandbox mode, commercetools' gateways per cloud outside it.
    pub commercetools_mc_api_url: Option<Url>,
    /// Time allowed for one outbound request to a platform.
    pub http_timeout: Duration,
    /// `STORELINK_ALLOW_PRIVATE_ENDPOINTS`: whether calls to URLs built from data (a store's
    /// API) may go to loopback, private and other internal addresses, and over plain http.
    pub allow_private_endpoints: bool,
    /// `STORELINK_TRUSTED_PROXIES`: peers whose `X-Forwarded-For`/`Forwarded` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// `STORELINK_INSTALL_RATE_LIMIT`: flow starts, and callbacks without a state, per client
    /// address per minute (each counted apart); 0 turns the limit off.
    pub install_rate_limit: u32,
    /// `STORELINK_MAX_PASSWORD_CHECKS`: console password checks (argon2, 19 MiB each) running at
    /// once; more wait briefly, then are refused.
    pub max_password_checks: usize,
    /// How the HTTP server treats slow and idle clients.
    pub server: ServerLimits,
    /// Where `/metrics` is served, if anywhere.
    pub metrics: MetricsSettings,
    /// How long a database writer waits for another before giving up (not an environment
    /// variable; tests shorten it).
    pub busy_timeout: Duration,
    /// How notifications to the vendor's backend are delivered
    /// (`STORELINK_NOTIFY_RETRY_SCHEDULE`; the rest is not an environment variable: tests
    /// shorten the timeout and the poll interval).
    pub notify: NotifyConfig,
    /// In sandbox mode, whether the built-in receiver is added as an endpoint (on with
    /// `STORELINK_SANDBOX`; off in tests' defaults, which add endpoints of their own).
    pub sandbox_receiver: bool,
}

/// Where Prometheus metrics are served: on a separate address, and/or on the main port behind a
/// bearer token. Neither set: not at all.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// `STORELINK_METRICS_BIND`: a separate listen address serving `/metrics` (keep it private).
    pub bind: Option<SocketAddr>,
    /// `STORELINK_METRICS_TOKEN`: serves `/metrics` on the main port to
    /// `Authorization: Bearer <token>` (at least 16 characters).
    pub token: Option<SecretString>,
}

/// `STORELINK_HEADER_TIMEOUT`, `STORELINK_BODY_TIMEOUT`, `STORELINK_IDLE_TIMEOUT`,
/// `STORELINK_MAX_CONNECTIONS`: what a client may hold of the server, and for how long.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's headers must arrive within this, from the connection's start or the previous
    /// answer.
    pub header_timeout: Duration,
    /// A request's body must arrive in full within this, from its headers.
    pub body_timeout: Duration,
    /// A connection with no request in progress and no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once (further ones wait; lowered to fit the open-files limit).
    pub max_connections: usize,
    /// `STORELINK_DRAIN_DELAY`: after SIGTERM, how long `/readyz` answers 503 while requests are
    /// still served, so a load balancer stops sending new ones before the listener closes.
    pub drain_delay: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            max_connections: 1024,
            drain_delay: Duration::ZERO,
        }
    }
}

/// Default of `STORELINK_INSTALL_RATE_LIMIT`.
pub const DEFAULT_INSTALL_RATE_LIMIT: u32 = 30;
/// Default of `STORELINK_MAX_PASSWORD_CHECKS`.
pub const DEFAULT_MAX_PASSWORD_CHECKS: usize = 2;

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
    /// `MAROPOST_AUTHORIZE_EXTRA_PARAMS`: more authorize parameters, never one storelink sets.
    pub authorize_extra_params: Vec<(String, String)>,
    /// `MAROPOST_ISSUER`: the `iss` (RFC 9207) a callback must carry when it carries one.
    pub issuer: Option<String>,
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
    /// `BOL_AUTHORIZE_EXTRA_PARAMS`: more authorize parameters, never one storelink sets.
    pub authorize_extra_params: Vec<(String, String)>,
    /// `BOL_CLIENT_AUTH`: how every token request authenticates.
    pub client_auth: ClientAuth,
    /// `BOL_ISSUER`: the `iss` (RFC 9207) a callback must carry when it carries one.
    pub issuer: Option<String>,
}

/// The vendor API's settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `STORELINK_API_RATE_LIMIT`: requests per second per key (bursts of twice that); `0`
    /// turns the limit off.
    pub rate_limit: u32,
    /// `STORELINK_PROXY_MAX_RESPONSE`: the largest platform answer the proxy passes back, in
    /// bytes.
    pub proxy_max_response: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            rate_limit: 100,
            proxy_max_response: 10 * 1024 * 1024,
        }
    }
}

/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://storelink.db";

/// Settings that only a production set-up has: any of them keeps sandbox mode off unless
/// `STORELINK_SANDBOX=on` says otherwise.
const PRODUCTION_SETTINGS: &[&str] = &[
    "MAROPOST_CLIENT_ID",
    "MAROPOST_AUTHORIZE_URL",
    "MAROPOST_TOKEN_URL",
    "MAROPOST_API_URL_TEMPLATE",
    "BOL_CLIENT_ID",
    "BOL_AUTHORIZE_URL",
    "BOL_TOKEN_URL",
    "BOL_API_URL",
    "ORDERCLOUD_API_URL",
    "COMMERCETOOLS_AUTH_URL",
    "COMMERCETOOLS_API_URL",
    "COMMERCETOOLS_MC_API_URL",
];

/// The first sign of a production set-up, in words, if there is one: a platform's client id or
/// URL setting, a master key, or an https public URL. Sandbox mode serves stand-ins that hand out
/// tokens and trusts its own Merchant Center gateway, so it must never be inferred where real
/// credentials may be kept.
fn production_sign(
    get: &impl Fn(&str) -> Option<String>,
    master_key: bool,
    public_url: Option<&Url>,
) -> Option<&'static str> {
    if let Some(name) = PRODUCTION_SETTINGS.iter().find(|name| get(name).is_some()) {
        return Some(match *name {
            "MAROPOST_CLIENT_ID" | "BOL_CLIENT_ID" => "a platform client id is set",
            _ => "a platform URL is set",
        });
    }
    if master_key {
        return Some("STORELINK_MASTER_KEY is set");
    }
    if public_url.is_some_and(|url| url.scheme() == "https") {
        return Some("STORELINK_PUBLIC_URL is https");
    }
    None
}

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
        if crate::db::Backend::from_url(&database_url).is_none() {
            return Err(ConfigError::new(
                "STORELINK_DATABASE_URL",
                "must be sqlite://PATH or postgres://USER@HOST/DATABASE",
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
            authorize_extra_params: get("MAROPOST_AUTHORIZE_EXTRA_PARAMS")
                .map(|v| {
                    parse_extra_params(
                        "MAROPOST_AUTHORIZE_EXTRA_PARAMS",
                        &v,
                        MAROPOST_AUTHORIZE_PARAMS,
                    )
                })
                .transpose()?
                .unwrap_or_default(),
            issuer: get("MAROPOST_ISSUER")
                .map(|v| parse_issuer("MAROPOST_ISSUER", &v))
                .transpose()?,
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
            authorize_extra_params: get("BOL_AUTHORIZE_EXTRA_PARAMS")
                .map(|v| parse_extra_params("BOL_AUTHORIZE_EXTRA_PARAMS", &v, BOL_AUTHORIZE_PARAMS))
                .transpose()?
                .unwrap_or_default(),
            client_auth: get("BOL_CLIENT_AUTH")
                .map(|v| {
                    ClientAuth::parse(&v.trim().to_ascii_lowercase()).ok_or_else(|| {
                        ConfigError::new(
                            "BOL_CLIENT_AUTH",
                            format!("expected raw, rfc6749 or client_secret_post, got {v:?}"),
                        )
                    })
                })
                .transpose()?
                .unwrap_or(ClientAuth::Raw),
            issuer: get("BOL_ISSUER")
                .map(|v| parse_issuer("BOL_ISSUER", &v))
                .transpose()?,
        };

        let commercetools_auth_url = get("COMMERCETOOLS_AUTH_URL").map(|v| v.trim().to_owned());
        let commercetools_api_url = get("COMMERCETOOLS_API_URL").map(|v| v.trim().to_owned());
        let ordercloud_api_url = get("ORDERCLOUD_API_URL")
            .map(|v| parse_http_url("ORDERCLOUD_API_URL", &v))
            .transpose()?;

        let defaults = ApiSettings::default();
        let api = ApiSettings {
            rate_limit: get("STORELINK_API_RATE_LIMIT")
                .map(|v| parse_count("STORELINK_API_RATE_LIMIT", &v, 0, 1_000_000))
                .transpose()?
                .map_or(defaults.rate_limit, |n| n as u32),
            proxy_max_response: get("STORELINK_PROXY_MAX_RESPONSE")
                .map(|v| parse_count("STORELINK_PROXY_MAX_RESPONSE", &v, 1024, 1 << 30))
                .transpose()?
                .map_or(defaults.proxy_max_response, |n| n as usize),
        };

        let commercetools_mc_api_url = get("COMMERCETOOLS_MC_API_URL")
            .map(|v| parse_issuer_url("COMMERCETOOLS_MC_API_URL", &v))
            .transpose()?;

        let (sandbox, sandbox_why) = match get("STORELINK_SANDBOX")
            .map(|v| parse_bool("STORELINK_SANDBOX", &v))
            .transpose()?
        {
            Some(true) => (true, "STORELINK_SANDBOX is on"),
            Some(false) => (false, "STORELINK_SANDBOX is off"),
            None => match production_sign(&get, master_key.is_some(), public_url.as_ref()) {
                Some(sign) => (false, sign),
                None => (true, "nothing of a production set-up is configured"),
            },
        };

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
        let allow_private_endpoints = get("STORELINK_ALLOW_PRIVATE_ENDPOINTS")
            .map(|v| parse_bool("STORELINK_ALLOW_PRIVATE_ENDPOINTS", &v))
            .transpose()?
            .unwrap_or(sandbox);
        let trusted_proxies = get("STORELINK_TRUSTED_PROXIES")
            .map(|v| parse_networks("STORELINK_TRUSTED_PROXIES", &v))
            .transpose()?
            .unwrap_or_default();
        let install_rate_limit = get("STORELINK_INSTALL_RATE_LIMIT")
            .map(|v| parse_count("STORELINK_INSTALL_RATE_LIMIT", &v, 0, 1_000_000))
            .transpose()?
            .map_or(DEFAULT_INSTALL_RATE_LIMIT, |n| n as u32);
        let max_password_checks = get("STORELINK_MAX_PASSWORD_CHECKS")
            .map(|v| parse_count("STORELINK_MAX_PASSWORD_CHECKS", &v, 1, 64))
            .transpose()?
            .map_or(DEFAULT_MAX_PASSWORD_CHECKS, |n| n as usize);
        let defaults = ServerLimits::default();
        let timeout = |var: &'static str, default: Duration| {
            get(var)
                .map(|v| parse_duration(var, &v))
                .transpose()
                .map(|d| d.unwrap_or(default))
        };
        let server = ServerLimits {
            header_timeout: timeout("STORELINK_HEADER_TIMEOUT", defaults.header_timeout)?,
            body_timeout: timeout("STORELINK_BODY_TIMEOUT", defaults.body_timeout)?,
            idle_timeout: timeout("STORELINK_IDLE_TIMEOUT", defaults.idle_timeout)?,
            max_connections: get("STORELINK_MAX_CONNECTIONS")
                .map(|v| parse_count("STORELINK_MAX_CONNECTIONS", &v, 16, 1_000_000))
                .transpose()?
                .map_or(defaults.max_connections, |n| n as usize),
            drain_delay: match get("STORELINK_DRAIN_DELAY") {
                Some(v) if v.trim() == "0" => Duration::ZERO,
                Some(v) => parse_duration("STORELINK_DRAIN_DELAY", &v)?,
                None => defaults.drain_delay,
            },
        };

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
            sandbox_why,
            maropost,
            bol,
            ordercloud_api_url,
            commercetools_auth_url,
            commercetools_api_url,
            api,
            commercetools_mc_api_url,
            http_timeout: Duration::from_secs(10),
            allow_private_endpoints,
            trusted_proxies,
            metrics: MetricsSettings {
                bind: get("STORELINK_METRICS_BIND")
                    .map(|v| {
                        v.trim().parse().map_err(|_| {
                            ConfigError::new(
                                "STORELINK_METRICS_BIND",
                                format!("not a socket address: {v:?}"),
                            )
                        })
                    })
                    .transpose()?,
                token: get("STORELINK_METRICS_TOKEN")
                    .map(|v| {
                        let token = v.trim();
                        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                            return Err(ConfigError::new(
                                "STORELINK_METRICS_TOKEN",
                                "needs at least 16 printable characters, no spaces",
                            ));
                        }
                        Ok(SecretString::from(token))
                    })
                    .transpose()?,
            },
            install_rate_limit,
            max_password_checks,
            server,
            busy_timeout: crate::db::BUSY_TIMEOUT,
            notify: NotifyConfig {
                schedule: get("STORELINK_NOTIFY_RETRY_SCHEDULE")
                    .map(|v| {
                        RetrySchedule::parse(&v)
                            .map_err(|why| ConfigError::new("STORELINK_NOTIFY_RETRY_SCHEDULE", why))
                    })
                    .transpose()?
                    .unwrap_or_default(),
                ..NotifyConfig::default()
            },
            sandbox_receiver: sandbox,
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
            sandbox_why: "STORELINK_SANDBOX is on",
            maropost: MaropostSettings {
                accept_panel_installs: true,
                ..MaropostSettings::default()
            },
            bol: BolSettings::default(),
            ordercloud_api_url: None,
            commercetools_auth_url: None,
            commercetools_api_url: None,
            api: ApiSettings::default(),
            commercetools_mc_api_url: None,
            http_timeout: Duration::from_secs(10),
            allow_private_endpoints: true,
            trusted_proxies: Vec::new(),
            metrics: MetricsSettings::default(),
            install_rate_limit: DEFAULT_INSTALL_RATE_LIMIT,
            max_password_checks: DEFAULT_MAX_PASSWORD_CHECKS,
            server: ServerLimits::default(),
            busy_timeout: crate::db::BUSY_TIMEOUT,
            notify: NotifyConfig::default(),
            sandbox_receiver: false,
        }
    }
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
    fn sandbox_mode_is_inferred_only_without_a_sign_of_production() {
        let key = ("STORELINK_MASTER_KEY", "c2VjcmV0LW1hc3Rlci1rZXk=");
        for sign in [
            vec![(
                "COMMERCETOOLS_AUTH_URL",
                "https://auth.{region}.commercetools.com",
            )],
            vec![("COMMERCETOOLS_MC_API_URL", "https://mc.example.com")],
            vec![("ORDERCLOUD_API_URL", "https://api.ordercloud.io")],
            vec![("BOL_API_URL", "https://api.bol.com/retailer")],
            vec![(
                "MAROPOST_TOKEN_URL",
                "https://apps.getneto.com/oauth/v2/token",
            )],
            vec![key],
            vec![
                ("STORELINK_PUBLIC_URL", "https://storelink.example.com"),
                key,
            ],
            vec![("BOL_CLIENT_ID", "id"), ("BOL_CLIENT_SECRET", "s"), key],
        ] {
            let mut vars = sign.clone();
            if !vars.contains(&key) {
                vars.push(key);
            }
            let s = settings(&vars).unwrap();
            assert!(!s.sandbox, "{sign:?} keeps sandbox mode off");
            assert!(!s.allow_private_endpoints, "{sign:?}");
        }
        // Without a master key, a production sign is a set-up that cannot start.
        let err = settings(&[(
            "COMMERCETOOLS_API_URL",
            "https://api.{region}.commercetools.com",
        )])
        .unwrap_err();
        assert_eq!(err.var, "STORELINK_MASTER_KEY");
        // An https public URL alone is production too.
        let err =
            settings(&[("STORELINK_PUBLIC_URL", "https://storelink.example.com")]).unwrap_err();
        assert_eq!(err.var, "STORELINK_MASTER_KEY");
        // Asked for, it is on whatever else is set, and says why.
        let s = settings(&[key, ("STORELINK_SANDBOX", "on")]).unwrap();
        assert!(s.sandbox);
        assert_eq!(s.sandbox_why, "STORELINK_SANDBOX is on");
        let s = settings(&[("STORELINK_PUBLIC_URL", "http://localhost:3000")]).unwrap();
        assert!(s.sandbox, "a plain http public URL is a local set-up");
        assert_eq!(
            s.sandbox_why,
            "nothing of a production set-up is configured"
        );
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
            ("BOL_CLIENT_AUTH", "digest"),
            ("BOL_ISSUER", "not a url"),
            ("MAROPOST_ISSUER", "ftp://issuer.example.com"),
            ("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent&state=x"),
            (
                "MAROPOST_AUTHORIZE_EXTRA_PARAMS",
                "redirect_uri=https://evil.example.com",
            ),
            ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "sometimes"),
            ("STORELINK_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example.com"),
            ("STORELINK_INSTALL_RATE_LIMIT", "-1"),
            ("STORELINK_MAX_PASSWORD_CHECKS", "0"),
            ("STORELINK_MAX_CONNECTIONS", "lots"),
            ("STORELINK_HEADER_TIMEOUT", "10 parsecs"),
            ("STORELINK_BODY_TIMEOUT", "0s"),
            ("STORELINK_IDLE_TIMEOUT", "2h"),
            ("COMMERCETOOLS_MC_API_URL", "mc-api.commercetools.com"),
            ("COMMERCETOOLS_MC_API_URL", "ftp://mc-api.commercetools.com"),
            ("COMMERCETOOLS_MC_API_URL", "https://mc.example.com/?x=1"),
            ("COMMERCETOOLS_MC_API_URL", "https://user:pw@mc.example.com"),
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
    fn hardening_settings_have_sane_defaults_and_are_read() {
        let s = settings(&[]).unwrap();
        assert!(s.allow_private_endpoints, "on by default in sandbox mode");
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.install_rate_limit, DEFAULT_INSTALL_RATE_LIMIT);
        assert_eq!(s.server.header_timeout, Duration::from_secs(10));
        assert_eq!(s.bol.client_auth, ClientAuth::Raw);
        assert!(s.bol.issuer.is_none() && s.maropost.issuer.is_none());
        let production = settings(&[
            ("MAROPOST_CLIENT_ID", "id"),
            ("MAROPOST_CLIENT_SECRET", "s"),
            ("STORELINK_MASTER_KEY", "c2VjcmV0LW1hc3Rlci1rZXk="),
        ])
        .unwrap();
        assert!(
            !production.allow_private_endpoints,
            "off by default outside sandbox mode"
        );

        let s = settings(&[
            ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "false"),
            (
                "STORELINK_TRUSTED_PROXIES",
                "10.0.0.0/8, 192.0.2.7 ,2001:db8::/32",
            ),
            ("STORELINK_INSTALL_RATE_LIMIT", "0"),
            ("STORELINK_MAX_PASSWORD_CHECKS", "3"),
            ("STORELINK_HEADER_TIMEOUT", "500ms"),
            ("STORELINK_BODY_TIMEOUT", "2m"),
            ("STORELINK_IDLE_TIMEOUT", "7"),
            ("STORELINK_MAX_CONNECTIONS", "200"),
            ("BOL_CLIENT_AUTH", "RFC6749"),
            ("BOL_ISSUER", "https://login.bol.com"),
            (
                "BOL_AUTHORIZE_EXTRA_PARAMS",
                "?prompt=consent&ui_locales=nl%20en",
            ),
        ])
        .unwrap();
        assert!(!s.allow_private_endpoints);
        assert_eq!(s.trusted_proxies.len(), 3);
        assert_eq!(s.trusted_proxies[1].to_string(), "192.0.2.7/32");
        assert_eq!(s.install_rate_limit, 0);
        assert_eq!(s.max_password_checks, 3);
        assert_eq!(s.server.header_timeout, Duration::from_millis(500));
        assert_eq!(s.server.body_timeout, Duration::from_secs(120));
        assert_eq!(s.server.idle_timeout, Duration::from_secs(7));
        assert_eq!(s.server.max_connections, 200);
        assert_eq!(s.bol.client_auth, ClientAuth::Rfc6749);
        assert_eq!(s.bol.issuer.as_deref(), Some("https://login.bol.com"));
        assert_eq!(
            s.bol.authorize_extra_params,
            vec![
                ("prompt".to_owned(), "consent".to_owned()),
                ("ui_locales".to_owned(), "nl en".to_owned())
            ]
        );
    }

    #[test]
    fn the_merchant_center_gateway_can_be_set() {
        assert!(settings(&[]).unwrap().commercetools_mc_api_url.is_none());
        let s = settings(&[
            (
                "COMMERCETOOLS_MC_API_URL",
                " http://localhost:3000/sandbox/commercetools/mc ",
            ),
            ("STORELINK_SANDBOX", "on"),
        ])
        .unwrap();
        assert_eq!(
            s.commercetools_mc_api_url.unwrap().as_str(),
            "http://localhost:3000/sandbox/commercetools/mc"
        );
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
