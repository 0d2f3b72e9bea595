//! Settings from the environment (and a `.env` file, loaded by `main`).
//!
//! storelink's own settings are read here, each variable spelled once ([`Env`]); each platform
//! reads its own from the same environment (`src/platforms/<name>/settings.rs`). A bad value
//! stops start-up with one line that names the variable; secrets are held in [`SecretString`] so
//! `Debug` cannot print them.

use std::{net::SocketAddr, time::Duration};

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use crate::domain::{Platform, RetrySchedule};

mod env;
mod values;

pub use env::Env;
use values::parse_public_url;
pub use values::{ConfigError, extra_params};

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
    /// The vendor API's settings.
    pub api: ApiSettings,
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
    /// How install health is kept.
    pub health: HealthSettings,
    /// The environment, for the platforms to read their own settings from.
    pub env: Env,
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

/// How notifications are delivered.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Waits between attempts.
    pub schedule: RetrySchedule,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Time allowed for one attempt, answer included.
    pub timeout: Duration,
    /// An endpoint with no success for this many seconds (while failing) is disabled.
    pub failure_window_secs: i64,
    /// How often the worker looks for due messages when nothing wakes it.
    pub poll: Duration,
    /// How long shutdown waits for messages in flight.
    pub drain: Duration,
}

/// Five days, the failure window.
pub const FAILURE_WINDOW_SECS: i64 = 5 * 24 * 60 * 60;

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            concurrency: 64,
            timeout: Duration::from_secs(10),
            failure_window_secs: FAILURE_WINDOW_SECS,
            poll: Duration::from_millis(250),
            drain: Duration::from_secs(10),
        }
    }
}

/// How install health is kept: `STORELINK_HEALTH_CHECK_INTERVAL` (default `6h`, `0` turns
/// checks off) and `STORELINK_HEALTH_CHECK_CONCURRENCY` (default 4).
#[derive(Debug, Clone)]
pub struct HealthSettings {
    /// Every checked install is checked at least this often; `None`: checks are off.
    pub interval: Option<Duration>,
    /// Checks running at once on an instance.
    pub concurrency: usize,
    /// How often the checker looks for due checks (not an environment variable: tests shorten
    /// it).
    pub poll: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            interval: Some(Duration::from_secs(6 * 3600)),
            concurrency: 4,
            poll: Duration::from_secs(1),
        }
    }
}

impl HealthSettings {
    /// The interval in whole seconds (at least 1), when checks are on.
    pub fn interval_secs(&self) -> Option<i64> {
        self.interval
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1))
    }
}

/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://storelink.db";

/// The first sign of a production set-up, in words, if there is one: a platform's client id or
/// URL setting (any `{PLATFORM}_*CLIENT_ID` or `{PLATFORM}_*URL*` variable), a master key, or an
/// https public URL. Sandbox mode serves stand-ins that hand out tokens and trusts its own
/// gateway, so it must never be inferred where real credentials may be kept.
fn production_sign(env: &Env, master_key: bool, public_url: Option<&Url>) -> Option<&'static str> {
    for platform in Platform::ALL {
        let prefix = format!("{}_", platform.env_prefix());
        for name in env.names_with_prefix(&prefix) {
            if name.ends_with("_CLIENT_ID") {
                return Some("a platform client id is set");
            }
            if name.contains("URL") {
                return Some("a platform URL is set");
            }
        }
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
        Self::from_vars(Env::from_process())
    }

    /// Reads storelink's settings from `env` (kept whole, for the platforms' own).
    pub fn from_vars(env: Env) -> Result<Self, ConfigError> {
        let bind = env
            .parse("STORELINK_BIND", |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| format!("not a socket address: {v:?}"))
            })?
            .map_or_else(|| DEFAULT_BIND.parse(), Ok)
            .map_err(|_| ConfigError::new("STORELINK_BIND", "built-in default did not parse"))?;
        let public_url = env
            .get("STORELINK_PUBLIC_URL")
            .map(parse_public_url)
            .transpose()?;
        let database_url = env
            .text("STORELINK_DATABASE_URL")
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if crate::db::Backend::from_url(&database_url).is_none() {
            return Err(ConfigError::new(
                "STORELINK_DATABASE_URL",
                "must be sqlite://PATH or postgres://USER@HOST/DATABASE",
            ));
        }
        let master_key = env.secret("STORELINK_MASTER_KEY");
        let previous_master_keys = env
            .get("STORELINK_PREVIOUS_MASTER_KEYS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(SecretString::from)
                    .collect()
            })
            .unwrap_or_default();

        let defaults = ApiSettings::default();
        let api = ApiSettings {
            rate_limit: env
                .count("STORELINK_API_RATE_LIMIT", 0, 1_000_000)?
                .map_or(defaults.rate_limit, |n| n as u32),
            proxy_max_response: env
                .count("STORELINK_PROXY_MAX_RESPONSE", 1024, 1 << 30)?
                .map_or(defaults.proxy_max_response, |n| n as usize),
        };

        let (sandbox, sandbox_why) = match env.bool("STORELINK_SANDBOX")? {
            Some(true) => (true, "STORELINK_SANDBOX is on"),
            Some(false) => (false, "STORELINK_SANDBOX is off"),
            None => match production_sign(&env, master_key.is_some(), public_url.as_ref()) {
                Some(sign) => (false, sign),
                None => (true, "nothing of a production set-up is configured"),
            },
        };
        let allow_private_endpoints = env
            .bool("STORELINK_ALLOW_PRIVATE_ENDPOINTS")?
            .unwrap_or(sandbox);
        let trusted_proxies = env
            .networks("STORELINK_TRUSTED_PROXIES")?
            .unwrap_or_default();
        let install_rate_limit = env
            .count("STORELINK_INSTALL_RATE_LIMIT", 0, 1_000_000)?
            .map_or(DEFAULT_INSTALL_RATE_LIMIT, |n| n as u32);
        let max_password_checks = env
            .count("STORELINK_MAX_PASSWORD_CHECKS", 1, 64)?
            .map_or(DEFAULT_MAX_PASSWORD_CHECKS, |n| n as usize);
        let defaults = ServerLimits::default();
        let server = ServerLimits {
            header_timeout: env
                .duration("STORELINK_HEADER_TIMEOUT")?
                .unwrap_or(defaults.header_timeout),
            body_timeout: env
                .duration("STORELINK_BODY_TIMEOUT")?
                .unwrap_or(defaults.body_timeout),
            idle_timeout: env
                .duration("STORELINK_IDLE_TIMEOUT")?
                .unwrap_or(defaults.idle_timeout),
            max_connections: env
                .count("STORELINK_MAX_CONNECTIONS", 16, 1_000_000)?
                .map_or(defaults.max_connections, |n| n as usize),
            drain_delay: match env.get("STORELINK_DRAIN_DELAY") {
                Some("0") => Duration::ZERO,
                Some(_) => env
                    .duration("STORELINK_DRAIN_DELAY")?
                    .unwrap_or(defaults.drain_delay),
                None => defaults.drain_delay,
            },
        };

        if !sandbox && master_key.is_none() {
            return Err(ConfigError::new(
                "STORELINK_MASTER_KEY",
                "required outside sandbox mode (create one with `storelink keygen`)",
            ));
        }

        let metrics = MetricsSettings {
            bind: env.parse("STORELINK_METRICS_BIND", |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| format!("not a socket address: {v:?}"))
            })?,
            token: env.parse("STORELINK_METRICS_TOKEN", |token| {
                if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err("needs at least 16 printable characters, no spaces".into());
                }
                Ok(SecretString::from(token))
            })?,
        };
        let notify = NotifyConfig {
            schedule: env
                .parse("STORELINK_NOTIFY_RETRY_SCHEDULE", RetrySchedule::parse)?
                .unwrap_or_default(),
            ..NotifyConfig::default()
        };
        let defaults = HealthSettings::default();
        let health = HealthSettings {
            interval: match env.get("STORELINK_HEALTH_CHECK_INTERVAL") {
                Some("0") => None,
                Some(_) => env.parse("STORELINK_HEALTH_CHECK_INTERVAL", values::long_duration)?,
                None => defaults.interval,
            },
            concurrency: env
                .count("STORELINK_HEALTH_CHECK_CONCURRENCY", 1, 64)?
                .map_or(defaults.concurrency, |n| n as usize),
            poll: defaults.poll,
        };
        Ok(Self {
            bind,
            public_url,
            database_url,
            master_key,
            previous_master_keys,
            sandbox,
            sandbox_why,
            api,
            http_timeout: Duration::from_secs(10),
            allow_private_endpoints,
            trusted_proxies,
            metrics,
            install_rate_limit,
            max_password_checks,
            server,
            busy_timeout: crate::db::BUSY_TIMEOUT,
            notify,
            sandbox_receiver: sandbox,
            health,
            env,
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
            api: ApiSettings::default(),
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
            health: HealthSettings {
                interval: None,
                ..HealthSettings::default()
            },
            env: Env::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(Env::from_pairs(vars.iter().copied()))
    }

    #[test]
    fn defaults_to_sandbox_without_client_ids() {
        let s = settings(&[]).unwrap();
        assert!(s.sandbox);
        assert_eq!(s.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(s.database_url, "sqlite://storelink.db");
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
    fn health_checks_are_every_six_hours_unless_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.health.interval, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(s.health.concurrency, 4);
        let s = settings(&[("STORELINK_HEALTH_CHECK_INTERVAL", "0")]).unwrap();
        assert_eq!(s.health.interval, None, "0 turns checks off");
        let s = settings(&[
            ("STORELINK_HEALTH_CHECK_INTERVAL", "90s"),
            ("STORELINK_HEALTH_CHECK_CONCURRENCY", "8"),
        ])
        .unwrap();
        assert_eq!(s.health.interval, Some(Duration::from_secs(90)));
        assert_eq!(s.health.concurrency, 8);
        for (name, value) in [
            ("STORELINK_HEALTH_CHECK_INTERVAL", "six hours"),
            ("STORELINK_HEALTH_CHECK_INTERVAL", "40d"),
            ("STORELINK_HEALTH_CHECK_CONCURRENCY", "0"),
        ] {
            assert_eq!(settings(&[(name, value)]).unwrap_err().var, name, "{value}");
        }
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
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("STORELINK_BIND", "not an address"),
            ("STORELINK_PUBLIC_URL", "ftp://example.com"),
            ("STORELINK_PUBLIC_URL", "https://example.com/prefix"),
            ("STORELINK_SANDBOX", "maybe"),
            ("STORELINK_DATABASE_URL", "mysql://x"),
            ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "sometimes"),
            ("STORELINK_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example.com"),
            ("STORELINK_INSTALL_RATE_LIMIT", "-1"),
            ("STORELINK_MAX_PASSWORD_CHECKS", "0"),
            ("STORELINK_MAX_CONNECTIONS", "lots"),
            ("STORELINK_HEADER_TIMEOUT", "10 parsecs"),
            ("STORELINK_BODY_TIMEOUT", "0s"),
            ("STORELINK_IDLE_TIMEOUT", "2h"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn hardening_settings_have_sane_defaults_and_are_read() {
        let s = settings(&[]).unwrap();
        assert!(s.allow_private_endpoints, "on by default in sandbox mode");
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.install_rate_limit, DEFAULT_INSTALL_RATE_LIMIT);
        assert_eq!(s.server.header_timeout, Duration::from_secs(10));
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
