//! Notifications to the vendor's backend in the console: an operator adds an endpoint (its
//! signing secret shown once), sends a test event, and sees the attempt arrive on the endpoint's
//! page; the backend verifies the signature with the published Standard Webhooks library.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use secrecy::SecretString;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

use crate::harness;

const EMAIL: &str = "hooks@example.com";
const PASSWORD: &str = "a long operator password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_adds_an_endpoint_sends_a_test_event_and_sees_the_attempt() {
    harness::run(
        "operator_adds_an_endpoint_sends_a_test_event_and_sees_the_attempt",
        |mut t| async move {
            let backend = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(204))
                .mount(&backend)
                .await;
            let url = format!("{}/storelink", backend.uri());
            let hash = storelink::password::hash(&SecretString::from(PASSWORD))?;
            storelink::db::operators::add(&t.app.db, EMAIL, &hash, 0).await?;
            let b = &mut t.browser;
            b.goto("/console/login").await?;
            b.fill("Email", EMAIL).await?;
            b.fill("Password", PASSWORD).await?;
            b.click_button("Log in").await?;
            b.click_link("Endpoints").await?;
            b.assert_h1_contains("Notifications to your backend")
                .await?;
            b.fill("URL", &url).await?;
            b.click_button("Add endpoint").await?;
            b.assert_text_contains("shown only this once").await?;
            let secret = b.field_value("Signing secret").await?;
            ensure!(
                secret.starts_with("whsec_"),
                "a secret is shown: {secret:?}"
            );
            ensure!(
                b.button("Copy").await?.is_displayed().await?,
                "the copy button is shown once its script has run"
            );

            b.click_link(&url).await?;
            b.assert_h1_contains(&url).await?;
            b.click_button("Send test event").await?;
            b.assert_text_contains("A test event is on its way").await?;
            // The attempt shows on the endpoint's page once the worker has sent it.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            loop {
                b.reload().await?;
                let text = b.text().await?;
                if text.contains("Delivered") && text.contains("204 No Content") {
                    break;
                }
                ensure!(
                    tokio::time::Instant::now() < deadline,
                    "no delivered attempt shown: {text}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let source = b.client().source().await?;
            ensure!(!source.contains(&secret), "the secret is never shown again");

            let received = backend.received_requests().await.context("recorded")?;
            ensure!(received.len() == 1, "one notification: {}", received.len());
            let body: serde_json::Value = serde_json::from_slice(&received[0].body)?;
            ensure!(body["type"] == "ping", "a ping: {body}");
            standardwebhooks::Webhook::new(&secret)?
                .verify(&received[0].body, &received[0].headers)
                .context("the published verifier accepts the signature")?;
            Ok(())
        },
    )
    .await;
}
