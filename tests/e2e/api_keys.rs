//! The vendor API's keys in the console: an operator creates a key, sees it once (with a copy
//! button that works under the CSP), and the vendor's backend calls the API with it.

use anyhow::{Context as _, ensure};
use secrecy::SecretString;

use crate::harness::{self};

const EMAIL: &str = "keys@example.com";
const PASSWORD: &str = "a long operator password";

/// Journey: connect a store, create a key in the console, use it from a backend, revoke it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_creates_an_api_key_and_the_backend_uses_it() {
    harness::run(
        "operator_creates_an_api_key_and_the_backend_uses_it",
        |mut t| async move {
            let hash = storelink::password::hash(&SecretString::from(PASSWORD))?;
            storelink::db::operators::add(&t.app.db, EMAIL, &hash, 0).await?;
            let b = &mut t.browser;
            b.goto("/").await?;
            b.fill("Store domain", "platypus-parts.example.com").await?;
            b.click_button("Install add-on").await?;
            b.click_button("Approve").await?;
            b.assert_path("/installed").await?;

            b.goto("/console/login").await?;
            b.fill("Email", EMAIL).await?;
            b.fill("Password", PASSWORD).await?;
            b.click_button("Log in").await?;
            b.click_link("API keys").await?;
            b.assert_h1_contains("API keys").await?;
            b.fill("Name", "order sync").await?;
            b.click_button("Create key").await?;
            b.assert_text_contains("shown only this once").await?;
            let key = b.field_value("Key").await?;
            ensure!(
                key.starts_with("slk_") && key.len() == 47,
                "a key is shown: {key:?}"
            );
            let copy = b.button("Copy").await?;
            ensure!(
                copy.is_displayed().await?,
                "the copy button is shown once its script has run"
            );

            b.goto("/console/api-keys").await?;
            let text = b.text().await?;
            ensure!(text.contains("order sync"), "the key is listed");
            ensure!(!text.contains(&key), "and never shown again");
            let source = b.client().source().await?;
            ensure!(!source.contains(&key), "not even in the page's source");

            let backend = reqwest::Client::new();
            let answer: serde_json::Value = backend
                .get(t.app.base.join("/api/v1/installs")?)
                .bearer_auth(&key)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            ensure!(
                answer["data"][0]["store_domain"] == "platypus-parts.example.com",
                "the backend sees the store: {answer}"
            );

            b.click_link("Revoke").await?;
            b.assert_h1_contains("Revoke API key order sync").await?;
            b.click_button("Revoke key").await?;
            b.assert_text_contains("is revoked").await?;
            let refused = backend
                .get(t.app.base.join("/api/v1/installs")?)
                .bearer_auth(&key)
                .send()
                .await
                .context("the API answers")?;
            ensure!(refused.status() == 401, "a revoked key is refused");
            Ok(())
        },
    )
    .await;
}
