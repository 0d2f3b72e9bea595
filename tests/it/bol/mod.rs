//! bol.com over HTTP against a stand-in bol.com (wiremock, under `/bol/`) that counts every
//! request: the code flow, the token lifecycle, retailer-owned credentials, API calls and
//! "Test connection"; and the built-in bol.com sandbox.

mod api;
pub(crate) mod client_credentials;
mod flow;
mod lifecycle;
mod sandbox;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use storelink::clock::{Clock as _, ManualClock};
use url::Url;
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use crate::{helpers::*, operator::ConsoleSession};

pub const RETAILER: &str = "1100001";

/// A JWT as bol.com's would look; the signature is junk, as storelink does not verify it.
pub fn jwt(claims: Value) -> String {
    format!(
        "{}.{}.{}",
        B64URL.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        B64URL.encode(claims.to_string()),
        B64URL.encode(b"not-a-real-signature")
    )
}

/// `Basic base64(id:secret)`.
pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{id}:{secret}")))
}

/// A stand-in token endpoint that issues a new access token (a JWT for [`RETAILER`], valid
/// `lifetime` seconds on the app's clock) and a new refresh token on every request, and
/// counts them. Refresh tokens are `rt-1`, `rt-2`, ... in order of issue.
pub struct TokenIssuer {
    pub clock: ManualClock,
    pub lifetime: i64,
    pub issued: Arc<AtomicUsize>,
    pub delay: Duration,
    pub rotate: bool,
    pub account: String,
}

impl TokenIssuer {
    pub fn new(app: &TestApp, lifetime: i64) -> Self {
        Self::new_on(app.clock.clone(), lifetime)
    }

    /// An issuer on `clock`.
    pub fn new_on(clock: ManualClock, lifetime: i64) -> Self {
        Self {
            clock,
            lifetime,
            issued: Arc::new(AtomicUsize::new(0)),
            delay: Duration::ZERO,
            rotate: true,
            account: RETAILER.to_owned(),
        }
    }
}

impl Respond for TokenIssuer {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.clock.unix();
        let mut answer = json!({
            "access_token": jwt(json!({"sub": self.account, "exp": now + self.lifetime, "iat": now, "jti": n})),
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": "offline_access",
        });
        if self.rotate {
            answer["refresh_token"] = json!(format!("rt-{n}"));
        }
        ResponseTemplate::new(200)
            .set_body_json(answer)
            .set_delay(self.delay)
    }
}

impl TestApp {
    /// Mounts `responder` on the stand-in's token endpoint (after clearing what was mounted).
    pub async fn bol_token_endpoint(&self, responder: impl Respond + 'static) {
        self.maropost.reset().await;
        Mock::given(method("POST"))
            .and(path(BOL_TOKEN_PATH))
            .respond_with(responder)
            .mount(&self.maropost)
            .await;
    }

    /// Every request the stand-in bol.com token endpoint received.
    pub async fn bol_token_requests(&self) -> Vec<Request> {
        self.requests_to(BOL_TOKEN_PATH).await
    }

    /// Every request the stand-in received at `path`.
    pub async fn requests_to(&self, wanted: &str) -> Vec<Request> {
        self.maropost
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == wanted)
            .collect()
    }

    /// Starts a bol.com connection in `browser`; returns the authorize URL.
    pub async fn start_bol(&self, browser: &reqwest::Client) -> Url {
        let response = browser.post(self.url("/install/bol")).send().await.unwrap();
        assert_eq!(response.status(), 303, "starting redirects");
        Url::parse(&location(&response)).unwrap()
    }

    /// Calls the bol.com callback in `browser`.
    pub async fn bol_callback(
        &self,
        browser: &reqwest::Client,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        browser
            .get(self.url("/oauth/bol/callback"))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// Connects [`RETAILER`] through the code flow with `issuer` as the token endpoint;
    /// returns the install's id.
    pub async fn connect_bol(&self, browser: &reqwest::Client, issuer: TokenIssuer) -> String {
        self.bol_token_endpoint(issuer).await;
        let authorize = self.start_bol(browser).await;
        let state = query(&authorize)["state"].clone();
        let response = self
            .bol_callback(browser, &[("code", "the-code"), ("state", &state)])
            .await;
        assert_eq!(response.status(), 303, "the callback completes");
        assert_eq!(location(&response), "/installed");
        self.install_id(RETAILER).await
    }

    /// The id of the bol.com install of `account`.
    pub async fn install_id(&self, account: &str) -> String {
        sqlx::query_scalar("SELECT id FROM installs WHERE provider = 'bol' AND account_id = $1")
            .bind(account)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// One column of an install.
    pub async fn install_field<T>(&self, id: &str, column: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + Unpin,
    {
        sqlx::query_scalar(&format!("SELECT {column} FROM installs WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// The kinds of credential stored for install `id`.
    pub async fn credential_kinds(&self, id: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT kind FROM credentials WHERE install_id = $1 ORDER BY kind")
            .bind(id)
            .fetch_all(&self.db)
            .await
            .unwrap()
    }

    /// Moves the app's clock.
    pub fn advance(&self, seconds: i64) {
        self.clock.advance(time::Duration::seconds(seconds));
    }

    /// The text of the page at `path` (which must answer 200).
    pub async fn page(&self, browser: &reqwest::Client, path: &str) -> String {
        let response = browser.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    /// The details of the audit entries of `action` for install `id`, oldest first: the
    /// entry's text, then its values (`detail: value; value`).
    pub async fn audit_details(&self, id: &str, action: &str) -> Vec<String> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT detail, fields FROM audit_log WHERE install_id = $1 AND action = $2 ORDER BY id",
        )
        .bind(id)
        .bind(action)
        .fetch_all(&self.db)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(detail, fields)| {
                let fields: Vec<(String, String)> = serde_json::from_str(&fields).unwrap();
                if fields.is_empty() {
                    detail
                } else {
                    let values: Vec<String> = fields.into_iter().map(|(_, v)| v).collect();
                    format!("{detail}: {}", values.join("; "))
                }
            })
            .collect()
    }
}

/// A URL's query as a map.
pub fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// A form body as a map.
pub fn form(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// A request header as text.
pub fn header(request: &Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl ConsoleSession {
    /// Presses "Test connection" on install `id`'s page; returns the page it lands on.
    pub async fn test_connection(&mut self, id: &str) -> String {
        let path = format!("/console/installs/{id}");
        let page = self.form_page(&path).await;
        assert!(page.contains("Test connection"));
        let response = self.post_form(&format!("{path}/test"), &[]).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), path);
        self.get(&path).await
    }
}

/// A usable bol.com access token for install `id`, through the app's token lifecycle.
pub async fn bol_token(
    state: &storelink::state::AppState,
    id: &str,
) -> Result<secrecy::SecretString, storelink::platforms::kit::api_call::TokenUnavailable> {
    state
        .platforms
        .bol()
        .context(&state.calls())
        .access_token(id)
        .await
}
