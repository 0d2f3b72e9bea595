//! The checks of the platforms: their settings parse (building the registry as `serve` does),
//! each token endpoint in use answers, and this machine's clock agrees with the platform's
//! `Date` header (bol.com's tokens allow very little skew).

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use reqwest::header;
use url::Url;

use super::Check;
use crate::{
    clock::SystemClock,
    config::Settings,
    crypto::{Keyring, MasterKey},
    db::{Db, installs},
    domain::Platform,
    platforms::{Registry, Setup, driver::TokenEndpoint, kit::http},
};

/// How long a token endpoint has to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock differences up to this are fine (the `Date` header counts whole seconds).
const SKEW_OK_SECS: f64 = 2.0;
/// Beyond this, tokens' times are likely refused.
const SKEW_FAIL_SECS: f64 = 5.0;

/// Every platform, built from its settings as `serve` builds them; a bad setting is named.
pub(super) fn registry(settings: &Settings, public_url: &Url, db: &Db) -> Result<Registry, String> {
    // Nothing is sealed or opened while building: a key of its own will do.
    let key = MasterKey::from_base64(&MasterKey::generate_base64()).map_err(|e| e.to_string())?;
    let client = http::client(PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    Registry::from_env(
        &settings.env,
        &Setup {
            sandbox: settings.sandbox,
            public_url,
            db,
            keyring: Arc::new(Keyring::new(key)),
            clock: Arc::new(SystemClock),
            http: client,
        },
    )
    .map_err(|e| e.to_string())
}

/// Accounts read per platform whose token endpoint depends on the account: enough to find every
/// region in use.
const ACCOUNTS_READ: i64 = 10_000;

/// Each token endpoint of a platform that is configured (has an install flow) or in use (has
/// installs that are not revoked in `db`, when it can be read).
pub(super) async fn token_endpoints(
    settings: &Settings,
    public_url: &Url,
    registry: &Registry,
    db: Option<&Db>,
) -> Vec<Check> {
    let client = match http::client(PROBE_TIMEOUT) {
        Ok(client) => client,
        Err(e) => return vec![Check::fail("platforms", e.to_string())],
    };
    let mut checks = Vec::new();
    let in_use = match db {
        Some(db) => installs::platforms_in_use(db).await.unwrap_or_else(|e| {
            checks.push(Check::warn(
                "platforms in use",
                format!("cannot be read ({e}): only configured install flows are checked"),
            ));
            Vec::new()
        }),
        None => Vec::new(),
    };
    let mut endpoints = Vec::new();
    for driver in registry.all() {
        let platform = driver.platform();
        if driver.code_flow().is_none() && !in_use.contains(&platform) {
            continue;
        }
        let accounts = match db {
            Some(db) if driver.token_endpoints_by_account() => {
                match installs::accounts_in_use(db, platform, ACCOUNTS_READ).await {
                    Ok(accounts) => accounts,
                    Err(e) => {
                        checks.push(Check::warn(
                            format!("{} token endpoint", platform.short_name()),
                            format!("the accounts in use cannot be read ({e}): not checked"),
                        ));
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        endpoints.extend(
            driver
                .token_endpoints(&accounts)
                .into_iter()
                .map(|endpoint| (platform, endpoint)),
        );
    }
    let client = &client;
    let probes = endpoints
        .into_iter()
        .map(|(platform, endpoint)| probe(client, settings, public_url, platform, endpoint));
    checks.extend(
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .flatten(),
    );
    checks
}

/// Asks `endpoint` for nothing (an empty form: no credentials are sent) and reads its answer's
/// status and `Date`.
async fn probe(
    client: &reqwest::Client,
    settings: &Settings,
    public_url: &Url,
    platform: Platform,
    endpoint: TokenEndpoint,
) -> Vec<Check> {
    let name = format!("{} token endpoint", platform.short_name());
    let shown = shown(&endpoint.url);
    if settings.sandbox && is_stand_in(&endpoint.url, public_url) {
        let detail = format!("{shown} is the sandbox's stand-in, served by storelink serve");
        return vec![Check::ok(name, detail)];
    }
    let started = Instant::now();
    let sent = SystemTime::now();
    let answer = client
        .post(endpoint.url.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let detail = format!(
                "{shown} does not answer ({}): check {} and that this machine may reach it \
                 (DNS, firewall, outbound proxy)",
                why(&e),
                endpoint.setting
            );
            let check = match settings.sandbox {
                true => Check::warn(name, detail),
                false => Check::fail(name, detail),
            };
            return vec![check];
        }
    };
    let received = sent + started.elapsed() / 2;
    let status = answer.status();
    let reached = if status.is_server_error() {
        Check::warn(
            name,
            format!(
                "{shown} answers HTTP {}: the platform's trouble, or {} is wrong",
                status.as_u16(),
                endpoint.setting
            ),
        )
    } else {
        Check::ok(
            name,
            format!(
                "{shown} answers (HTTP {} to an empty request)",
                status.as_u16()
            ),
        )
    };
    vec![reached, clock(platform, answer.headers(), received)]
}

/// This machine's clock against the platform's `Date` header, read at `at`.
fn clock(platform: Platform, headers: &header::HeaderMap, at: SystemTime) -> Check {
    let name = format!("{} clock", platform.short_name());
    let theirs = headers
        .get(header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    let Some(theirs) = theirs else {
        return Check::warn(
            name,
            "the answer has no Date header to compare the clock with",
        );
    };
    let (ahead, skew) = match at.duration_since(theirs) {
        Ok(d) => (true, d.as_secs_f64()),
        Err(e) => (false, e.duration().as_secs_f64()),
    };
    // The header drops the fraction of a second: ours is up to a second ahead of it.
    let skew = if ahead { (skew - 1.0).max(0.0) } else { skew };
    let side = if ahead { "ahead of" } else { "behind" };
    let said = format!(
        "this machine's clock is {skew:.1} s {side} {}",
        platform.possessive()
    );
    if skew <= SKEW_OK_SECS {
        Check::ok(name, said)
    } else if skew <= SKEW_FAIL_SECS {
        Check::warn(name, format!("{said}: keep it in sync (NTP)"))
    } else {
        Check::fail(
            name,
            format!(
                "{said}: tokens' times would be refused; keep the clock in sync (NTP: \
                 timedatectl set-ntp true)"
            ),
        )
    }
}

/// Whether `url` is served by this storelink's sandbox.
fn is_stand_in(url: &Url, public_url: &Url) -> bool {
    url.origin() == public_url.origin() && url.path().starts_with("/sandbox/")
}

/// A URL as shown: scheme, host, port and path (no user info, no query).
fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Why a request got no answer, in a few words (the innermost cause).
fn why(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", PROBE_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(at: SystemTime) -> header::HeaderMap {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::DATE,
            httpdate::fmt_http_date(at).parse().expect("a header value"),
        );
        headers
    }

    #[test]
    fn the_clock_is_ok_within_two_seconds_and_fails_beyond_five() {
        let now = SystemTime::now();
        let check = clock(Platform::Bol, &date(now), now);
        assert_eq!(check.status, super::super::Status::Ok, "{check}");
        let behind = clock(Platform::Bol, &date(now + Duration::from_secs(30)), now);
        assert_eq!(behind.status, super::super::Status::Fail, "{behind}");
        assert!(behind.detail.contains("behind bol.com's"), "{behind}");
        let ahead = clock(Platform::Bol, &date(now - Duration::from_secs(5)), now);
        assert_eq!(ahead.status, super::super::Status::Warn, "{ahead}");
        let none = clock(Platform::Bol, &header::HeaderMap::new(), now);
        assert_eq!(none.status, super::super::Status::Warn);
    }

    #[test]
    fn shown_urls_lose_user_info_and_queries() {
        let url = Url::parse("https://u:p@login.example.com/token?secret=1").unwrap();
        assert_eq!(shown(&url), "https://login.example.com/token");
    }
}
