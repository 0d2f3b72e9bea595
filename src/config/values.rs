//! Reading one setting's value: a bool, a URL, a duration, a bounded count, a list of networks,
//! extra authorize parameters; each refusal a [`ConfigError`] naming the variable.

use std::time::Duration;

use ipnet::IpNet;
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
    /// `var` is wrong: `reason` says how.
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// `on`/`off` and the usual spellings of both.
pub(crate) fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            var,
            format!("expected on/off or true/false, got {value:?}"),
        )),
    }
}

pub(crate) fn parse_http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|e| ConfigError::new(var, format!("not a URL ({e}): {value:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(var, "must be an http:// or https:// URL"));
    }
    Ok(url)
}

/// The public URL: redirect URIs are built from it alone, so it must be an origin without a
/// path, query or fragment (every route is served from the root).
pub(crate) fn parse_public_url(value: &str) -> Result<Url, ConfigError> {
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

/// A query string of extra authorize parameters (`prompt=consent&ui_locales=nl`); a parameter
/// storelink sets itself (`reserved`) is refused rather than sent twice.
pub fn extra_params(value: &str, reserved: &[&str]) -> Result<Vec<(String, String)>, String> {
    let value = value.trim().trim_start_matches('?');
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(value.as_bytes())
        .into_owned()
        .collect();
    for (name, _) in &pairs {
        if name.is_empty() {
            return Err("a parameter without a name".to_owned());
        }
        if reserved.contains(&name.as_str()) {
            return Err(format!(
                "{name} is set by storelink itself and cannot be given here"
            ));
        }
    }
    Ok(pairs)
}

/// An issuer identifier (RFC 9207): an https (or, for local set-ups, http) URL, compared with
/// the callback's `iss` exactly as written.
pub(crate) fn parse_issuer(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    parse_http_url(var, value)?;
    Ok(value.to_owned())
}

/// The base URL of a token issuer that also serves its key set under it (an http(s) URL,
/// possibly with a path; no user info, query or fragment).
pub(crate) fn parse_issuer_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = parse_http_url(var, value)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(var, "must not contain user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            var,
            "must be a base URL without a query or fragment",
        ));
    }
    Ok(url)
}

/// Comma-separated addresses (`192.0.2.7`, `2001:db8::1`) and networks (`10.0.0.0/8`).
pub(crate) fn parse_networks(var: &'static str, value: &str) -> Result<Vec<IpNet>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError::new(var, format!("not an address or network: {part:?}")))
        })
        .collect()
}

/// A whole number within `min..=max`.
pub(crate) fn parse_count(
    var: &'static str,
    value: &str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ConfigError::new(
                var,
                format!("expected a whole number from {min} to {max}, got {value:?}"),
            )
        })
}

/// A duration: `30s`, `500ms`, `2m`, or a plain number of seconds; at least 100 ms, at most an
/// hour.
pub(crate) fn parse_duration(var: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let text = value.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        ConfigError::new(
            var,
            format!("expected a duration such as 10s, 500ms or 2m, got {value:?}"),
        )
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit.trim() {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if duration < Duration::from_millis(100) || duration > Duration::from_secs(3600) {
        return Err(ConfigError::new(
            var,
            format!("must be between 100ms and 1h, got {value:?}"),
        ));
    }
    Ok(duration)
}

/// A duration of seconds to days: `30s`, `15m`, `6h`, `1d`, or a number of seconds; at least one
/// second, at most 30 days.
pub(crate) fn long_duration(value: &str) -> Result<Duration, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let bad = || format!("expected a duration such as 30s, 15m, 6h or 1d, got {value:?}");
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        "d" => number.saturating_mul(86_400),
        _ => return Err(bad()),
    };
    if !(1..=30 * 86_400).contains(&seconds) {
        return Err(format!(
            "must be between 1s and 30d (or 0 for off), got {value:?}"
        ));
    }
    Ok(Duration::from_secs(seconds))
}
