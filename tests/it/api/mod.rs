//! The vendor API over HTTP: keys and their refusals, the installs list and its pages, access
//! tokens, revoking, the proxy to each platform, the events feed, and the OpenAPI document.

mod auth;
mod endpoints;
mod events;
mod installs;
mod logs;
mod openapi;
mod proxy;
mod tokens;

use serde_json::Value;
use storelink::{clock::Clock as _, db::api_keys, domain::api_key::ApiKeySecret};

use crate::helpers::*;

/// A client for the vendor's backend: no cookies, no redirects.
pub fn backend() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    /// A new live API key named `name`.
    pub async fn api_key(&self, name: &str) -> String {
        let key = ApiKeySecret::generate();
        api_keys::create(
            &self.db,
            name,
            &key.hash(),
            &key.shown_prefix(),
            "test",
            self.clock.unix(),
        )
        .await
        .unwrap();
        key.expose().to_owned()
    }

    /// `GET path` with `key`.
    pub async fn api_get(&self, key: &str, path: &str) -> reqwest::Response {
        backend()
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with `key` and no body.
    pub async fn api_post(&self, key: &str, path: &str) -> reqwest::Response {
        backend()
            .post(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Whether the stand-in Maropost has received no request since it was started or reset.
    pub async fn maropost_untouched(&self) -> bool {
        self.maropost
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    }

    /// A Maropost install of `store_id` at `domain` with access token `token`; its id.
    pub async fn maropost_install(&self, store_id: &str, domain: &str, token: &str) -> String {
        self.install(&browser(), store_id, domain, token).await;
        sqlx::query_scalar(
            "SELECT id FROM installs WHERE provider = 'maropost' AND account_id = $1",
        )
        .bind(store_id)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }
}

/// The body of a problem answer, checked to be one: `application/problem+json` with `type`,
/// `title`, `status` (equal to the answer's) and `detail`, and `Cache-Control: no-store`.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:storelink:problem:")
    );
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert_eq!(body["status"], status);
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// The JSON body of a `200` answer.
pub async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}
