//! Connections added with credentials (console forms and `POST /api/v1/connections`): each kind
//! added, tested, used through the proxy, renewed when due, revoked; and every bad input refused
//! with nothing stored.

mod api;
mod commercetools;
mod maropost_key;
mod ordercloud;
mod sandbox;

use serde_json::Value;

use crate::{api::backend, helpers::*};

impl TestApp {
    /// `POST /api/v1/connections` with `body` and `key`.
    pub async fn connect(&self, key: &str, body: &Value) -> reqwest::Response {
        backend()
            .post(self.url("/api/v1/connections"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// How many installs (rows) and credentials are stored.
    pub async fn stored(&self) -> (i64, i64) {
        (
            self.count("SELECT COUNT(*) FROM installs").await,
            self.count("SELECT COUNT(*) FROM credentials").await,
        )
    }
}

/// The install object of a `201` answer.
pub async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(status, 201, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/installs/{}", body["id"].as_str().unwrap()).as_str())
    );
    body
}
