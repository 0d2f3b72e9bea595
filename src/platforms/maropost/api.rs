//! NetoAPI calls, with either of Maropost's credentials: an add-on's client id and a store's
//! token, or an API key. The API's address is built from the store's domain, so every call goes
//! through the outbound guard.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use url::Url;

use super::settings::{MaropostApi, MaropostConfig};
use crate::{
    db::{
        credentials::{self, Kind},
        installs::Install,
    },
    domain::{AuthKind, rate_budget::Patience, text::shorten},
    platforms::kit::{
        api_call::{ApiError, CheckFailure, TokenUnavailable, parse_json, read_body},
        budget::{self, Budget, OWN_PATIENCE},
        context::{Context, TestOutcome},
        outbound::Outbound,
    },
};

/// The request header that names the NetoAPI action to run (passed through by the proxy).
pub const ACTION_HEADER: &str = "netoapi_action";
/// The header that carries the add-on's client id on API calls (`X_ACCESS_KEY`).
pub const ACCESS_KEY_HEADER: &str = "x_access_key";
/// The header that carries the store's access token on API calls (`X_SECRET_KEY`).
pub const SECRET_KEY_HEADER: &str = "x_secret_key";
/// The header that carries an API key (`NETOAPI_KEY`).
pub const API_KEY_HEADER: &str = "netoapi_key";
/// The header that names a user-based API key's staff user (`NETOAPI_USERNAME`).
pub const API_USERNAME_HEADER: &str = "netoapi_username";
/// How a NetoAPI call proves itself: an add-on's client id and a store's token, or an API key
/// (with the staff user it belongs to, for a user-based key).
#[derive(Clone, Copy)]
pub enum NetoAuth<'a> {
    /// `X_ACCESS_KEY` and `X_SECRET_KEY`.
    AddOn {
        /// The add-on's client id.
        client_id: &'a str,
        /// The store's access token.
        access_token: &'a SecretString,
    },
    /// `NETOAPI_KEY` and, for a user-based key, `NETOAPI_USERNAME`.
    ApiKey {
        /// The key.
        key: &'a SecretString,
        /// The staff user's name.
        username: Option<&'a str>,
    },
}

impl NetoAuth<'_> {
    /// The headers that carry it, marked sensitive (never logged).
    pub fn headers(&self) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(mut value) = reqwest::header::HeaderValue::from_str(value) {
                value.set_sensitive(true);
                headers.insert(reqwest::header::HeaderName::from_static(name), value);
            }
        };
        match self {
            Self::AddOn {
                client_id,
                access_token,
            } => {
                put(ACCESS_KEY_HEADER, client_id);
                put(SECRET_KEY_HEADER, access_token.expose_secret());
            }
            Self::ApiKey { key, username } => {
                put(API_KEY_HEADER, key.expose_secret());
                if let Some(username) = username {
                    put(API_USERNAME_HEADER, username);
                }
            }
        }
        headers
    }
}

/// Asks a store for one recent order (`GetOrder` filtered to orders placed since `since`, at
/// most one, its id only): a cheap call that proves the credentials work. Returns how many
/// orders came back (0 or 1). The URL is built from the store's domain, so the call goes
/// through the outbound guard: credentials are never sent to an internal address.
pub async fn get_recent_order(
    ctx: &Context<'_>,
    budget: &Budget,
    url: Url,
    auth: NetoAuth<'_>,
    since: time::OffsetDateTime,
) -> Result<usize, ApiError> {
    let since = since
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .map_err(|_| ApiError::Refused("the date filter could not be written".into()))?;
    let body = serde_json::json!({
        "Filter": {
            "DatePlacedFrom": [since],
            "Limit": "1",
            "OutputSelector": ["OrderID", "DatePlaced"],
        }
    });
    let request = ctx
        .outbound
        .request(reqwest::Method::POST, url)?
        .header("NETOAPI_ACTION", "GetOrder")
        .headers(auth.headers())
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body);
    let response = budget::send(ctx.budgets, budget, Patience::Wait(OWN_PATIENCE), request)
        .await?
        .map_err(|e| match Outbound::refusal(&e) {
            Some(refusal) => ApiError::NotAllowed(refusal),
            None => ApiError::from_transport(&e),
        })?;
    let status = response.status().as_u16();
    let body = read_body(response).await?;
    if !(200..300).contains(&status) {
        return Err(ApiError::Status {
            status,
            detail: None,
        });
    }
    parse_api_answer(&parse_json(&body)?)
}

/// How far back "Test connection" looks for an order.
pub const RECENT_ORDER_DAYS: i64 = 30;

/// "Test connection": `GetOrder` for one recent order with the store's credentials (the
/// add-on's token, or the API key).
pub async fn test_connection(
    ctx: &Context<'_>,
    config: Option<&MaropostConfig>,
    api: &MaropostApi,
    install: &Install,
) -> TestOutcome {
    let platform = "Maropost";
    let url = api
        .store_url(install)
        .map_err(|e| CheckFailure::api(platform, &e))?;
    let secret = access_token(ctx, install)
        .await
        .map_err(|e| CheckFailure::api(platform, &e))?;
    let auth = if install.auth_kind == AuthKind::ApiKey {
        NetoAuth::ApiKey {
            key: &secret,
            username: install.username.as_deref(),
        }
    } else {
        let config = config.ok_or_else(|| {
            CheckFailure::other(format!("{platform} is not configured on this storelink"))
        })?;
        NetoAuth::AddOn {
            client_id: &config.client_id,
            access_token: &secret,
        }
    };
    let since = ctx.clock.now() - time::Duration::days(RECENT_ORDER_DAYS);
    let budget = api.api_budget(&install.account_id);
    match get_recent_order(ctx, &budget, url, auth, since).await {
        Ok(found) => Ok(format!(
            "{platform} answered GetOrder with Ack Success ({found} order(s) placed in the last \
             {RECENT_ORDER_DAYS} days, at most 1 asked for)"
        )),
        Err(e) => Err(CheckFailure::api(platform, &e)),
    }
}

/// The install's stored access token (the `X_SECRET_KEY` of API calls), or its API key (kept
/// as its access token: it is what each call sends).
pub async fn access_token(ctx: &Context<'_>, install: &Install) -> Result<SecretString, ApiError> {
    credentials::open(ctx.db, ctx.keyring, &install.id, Kind::AccessToken)
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "cannot open a Maropost token");
            ApiError::Token(TokenUnavailable::Internal)
        })?
        .ok_or(ApiError::NoCredentials("no access token"))
}

/// Reads `Ack` (`Success`/`Warning` is an answer, `Error` a refusal with its messages).
fn parse_api_answer(json: &Value) -> Result<usize, ApiError> {
    match json.get("Ack").and_then(Value::as_str) {
        Some("Success" | "Warning") => Ok(json
            .get("Order")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)),
        Some("Error") => Err(ApiError::Refused(api_messages(json))),
        _ => Err(ApiError::Refused("the answer has no Ack".into())),
    }
}

/// The `Message`s of an answer's `Messages`, in either shape Maropost uses.
fn api_messages(json: &Value) -> String {
    let mut found = Vec::new();
    collect_messages(json.get("Messages").unwrap_or(&Value::Null), &mut found);
    if found.is_empty() {
        "no reason given".to_owned()
    } else {
        shorten(&found.join("; "), 300)
    }
}

fn collect_messages(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_messages(v, found)),
        Value::Object(map) => {
            if let Some(message) = map.get("Message").and_then(Value::as_str) {
                found.push(message.to_owned());
            }
            for (key, v) in map {
                if key != "Message" {
                    collect_messages(v, found);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_answers_are_read() {
        let ok = json!({"Ack": "Success", "Order": [{"OrderID": "N1"}]});
        assert_eq!(parse_api_answer(&ok).unwrap(), 1);
        let empty = json!({"Ack": "Warning", "Messages": []});
        assert_eq!(parse_api_answer(&empty).unwrap(), 0);
        let refused = json!({"Ack": "Error", "Messages": [{"Error": {"Message": "Invalid API key", "SeverityLevel": "Error"}}]});
        match parse_api_answer(&refused) {
            Err(ApiError::Refused(m)) => assert_eq!(m, "Invalid API key"),
            other => panic!("{other:?}"),
        }
        let flat =
            json!({"Ack": "Error", "Messages": {"Error": [{"Message": "a"}, {"Message": "b"}]}});
        assert!(matches!(parse_api_answer(&flat), Err(ApiError::Refused(m)) if m == "a; b"));
        assert!(parse_api_answer(&json!({"x": 1})).is_err());
    }
}
