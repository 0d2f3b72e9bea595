//! Connections added with credentials in the console, against the built-in sandboxes: an
//! operator opens "Add a connection", picks each kind (OrderCloud, Maropost API key, bol.com,
//! commercetools), fills in what the sandbox's own page
//! shows, and tests the connection it lands on.

use anyhow::ensure;
use secrecy::SecretString;

use crate::{browser::Browser, harness};

const EMAIL: &str = "connections@example.com";
const PASSWORD: &str = "a long operator password";

/// From the connected stores to one kind's form.
async fn open_form(b: &mut Browser, kind: &str) -> anyhow::Result<()> {
    b.goto("/console").await?;
    b.click_link("Add a connection").await?;
    b.assert_h1_contains("Add a connection").await?;
    b.click_link(kind).await?;
    b.assert_h1_contains(kind).await
}

/// Submits the form and checks the connection it lands on: added, then tested.
async fn add_and_test(b: &mut Browser, name: &str) -> anyhow::Result<()> {
    b.click_button("Add connection").await?;
    b.assert_text_contains("accepted the credentials").await?;
    b.assert_h1_contains(name).await?;
    b.click_button("Test connection").await?;
    b.assert_text_contains("Connection test passed").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_adds_each_kind_of_connection_against_the_sandboxes() {
    harness::run(
        "operator_adds_each_kind_of_connection_against_the_sandboxes",
        |mut t| async move {
            let hash = storelink::password::hash(&SecretString::from(PASSWORD))?;
            storelink::db::operators::add(&t.app.db, EMAIL, &hash, 0).await?;
            let b = &mut t.browser;
            b.goto("/console/login").await?;
            b.fill("Email", EMAIL).await?;
            b.fill("Password", PASSWORD).await?;
            b.click_button("Log in").await?;

            // OrderCloud: the sandbox marketplace's admin user.
            open_form(b, "Sitecore OrderCloud: a marketplace").await?;
            b.fill("Name (optional)", "Sandbox marketplace").await?;
            b.fill("API client id", "sandbox-seller-app").await?;
            b.fill("User name (optional)", "admin01").await?;
            b.fill("Password (optional)", "not-the-password").await?;
            b.click_button_expecting("Add connection", crate::browser::Expect::Status(502))
                .await?;
            b.assert_text_contains("does not say which one is wrong")
                .await?;
            ensure!(
                b.field_value("Password (optional)").await?.is_empty(),
                "a refused password is not filled in again"
            );
            b.fill("Password (optional)", "sandbox-password-01").await?;
            add_and_test(b, "Sandbox marketplace").await?;
            b.assert_text_contains("password grant").await?;

            // Maropost: a key from the sandbox control panel's API page.
            b.goto("/sandbox/maropost/api-keys").await?;
            b.click_button("Generate API key").await?;
            let key = b
                .find_one("//*[@id='api-key']", "the generated key")
                .await?
                .text()
                .await?;
            open_form(b, "Maropost: a store's API key").await?;
            b.fill("Store domain", "sandbox-store.neto.com.au").await?;
            b.fill("API key", &key).await?;
            b.fill("Staff user (optional)", "warehouse").await?;
            add_and_test(b, "sandbox-store.neto.com.au").await?;
            b.assert_text_contains("an API key").await?;

            // bol.com: credentials from the sandbox Seller Dashboard.
            b.goto("/sandbox/bol/credentials").await?;
            b.click_button("Create credentials").await?;
            let client_id = b
                .find_one("//*[@id='client-id']", "the client id")
                .await?
                .text()
                .await?;
            let secret = b
                .find_one("//*[@id='client-secret']", "the client secret")
                .await?
                .text()
                .await?;
            open_form(b, "bol.com: a retailer's own API credentials").await?;
            b.fill("Name (optional)", "Tulip Traders (own)").await?;
            b.fill("Client id", &client_id).await?;
            b.fill("Client secret", &secret).await?;
            add_and_test(b, "Tulip Traders (own)").await?;

            b.goto("/console").await?;
            for name in [
                "Sandbox marketplace",
                "sandbox-store.neto.com.au",
                "Tulip Traders (own)",
            ] {
                b.assert_text_contains(name).await?;
            }
            ensure!(
                !b.client().source().await?.contains(&secret),
                "no secret is shown"
            );
            Ok(())
        },
    )
    .await;
}
