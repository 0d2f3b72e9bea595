//! Operator journeys: log in, find a store among those just installed, revoke it through the
//! confirmation step, read the audit log, log out; a wrong password; setting a store's webhook
//! key and seeing a notification arrive. Every page visited also passes [`crate::checks`].

use anyhow::{Context as _, ensure};
use secrecy::SecretString;

use crate::{
    browser::{Browser, Expect},
    harness::{self, TestApp},
};

pub(crate) const EMAIL: &str = "ops@example.com";
pub(crate) const PASSWORD: &str = "a long operator password";

/// Creates the operator through the library, as `storelink operator add` does.
pub(crate) async fn add_operator(app: &TestApp) -> anyhow::Result<()> {
    let hash = storelink::password::hash(&SecretString::from(PASSWORD))?;
    ensure!(
        storelink::db::operators::add(&app.db, EMAIL, &hash, 0).await?,
        "the operator already exists"
    );
    Ok(())
}

/// A merchant installs `domain` through the Maropost sandbox in this browser.
pub(crate) async fn install(b: &mut Browser, domain: &str) -> anyhow::Result<()> {
    b.goto("/").await?;
    b.fill("Store domain", domain).await?;
    b.click_button("Install add-on").await?;
    b.click_button("Approve").await?;
    b.assert_path("/installed").await?;
    Ok(())
}

pub(crate) async fn log_in(b: &mut Browser) -> anyhow::Result<()> {
    b.goto("/console/login").await?;
    b.fill("Email", EMAIL).await?;
    b.fill("Password", PASSWORD).await?;
    b.click_button("Log in").await?;
    b.assert_path("/console").await?;
    b.assert_h1_contains("Connected stores").await
}

/// Journey 5: log in, search, open, revoke through the confirmation step, see the audit entry,
/// log out; the back button then shows no console page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_finds_and_revokes_a_store() {
    harness::run("operator_finds_and_revokes_a_store", |mut t| async move {
        add_operator(&t.app).await?;
        let b = &mut t.browser;
        install(b, "koala-gifts.example.com").await?;
        install(b, "wombat-wares.example.com").await?;

        log_in(b).await?;
        b.assert_text_contains("Koala-gifts (sandbox)").await?;
        b.assert_text_contains("Wombat-wares (sandbox)").await?;

        b.fill("Search domain or name", "wombat").await?;
        b.click_button("Filter").await?;
        let text = b.text().await?;
        ensure!(
            text.contains("wombat-wares.example.com") && !text.contains("koala-gifts.example.com"),
            "the search should find only the wombat store"
        );
        b.click_link("Wombat-wares (sandbox)").await?;
        b.assert_h1_contains("Wombat-wares (sandbox)").await?;
        b.assert_text_contains("present (encrypted)").await?;

        b.click_link("Revoke\u{2026}").await?;
        b.assert_h1_contains("Revoke").await?;
        b.assert_text_contains("still has to remove the add-on")
            .await?;
        b.click_button("Revoke access").await?;
        b.assert_h1_contains("Wombat-wares (sandbox)").await?;
        b.assert_text_contains("is revoked").await?;
        b.assert_text_contains("None stored").await?;
        let active = t
            .app
            .count("SELECT COUNT(*) FROM installs WHERE status = 'active'")
            .await?;
        ensure!(active == 1, "one store stays active, found {active}");

        b.click_link("Audit log").await?;
        b.assert_h1_contains("Audit log").await?;
        // Readable actors and actions, and the store's name rather than its install id.
        let text = b
            .text()
            .await?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        ensure!(
            text.contains("ops@example.com Revoked Wombat-wares (sandbox)"),
            "the audit log should read \"ops@example.com Revoked Wombat-wares (sandbox)\""
        );
        ensure!(
            !text.contains("operator:") && !text.contains("webhook_key_set"),
            "the audit log shows raw names"
        );

        b.click_button("Log out").await?;
        b.assert_path("/console/login").await?;
        // Back: the console page is fetched again (no-store) and, without a session, sends
        // the browser to the login page instead of showing it.
        b.client().back().await.context("cannot go back")?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let url = b.url().await?;
        ensure!(
            url.path() == "/console/login",
            "after logout, back should not show a console page; it shows {url}"
        );
        let h1 = b.h1().await?;
        ensure!(h1.contains("Operator login"), "back shows {h1:?}");
        Ok(())
    })
    .await;
}

/// Journey 6: a wrong password shows the generic error and keeps the email typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_with_a_wrong_password_sees_the_generic_error() {
    harness::run(
        "operator_with_a_wrong_password_sees_the_generic_error",
        |mut t| async move {
            add_operator(&t.app).await?;
            let b = &mut t.browser;
            b.goto("/console").await?;
            b.assert_path("/console/login").await?;
            b.fill("Email", EMAIL).await?;
            b.fill("Password", "not the password").await?;
            b.click_button_expecting("Log in", Expect::Status(401))
                .await?;
            b.assert_text_contains("The email or password is incorrect.")
                .await?;
            let email = b.field_value("Email").await?;
            ensure!(
                email == EMAIL,
                "the page should keep the email typed, has {email:?}"
            );
            ensure!(
                b.field_value("Password").await?.is_empty(),
                "the password is never sent back"
            );
            // An unknown email reads exactly the same.
            b.fill("Email", "nobody@example.com").await?;
            b.fill("Password", "not the password").await?;
            b.click_button_expecting("Log in", Expect::Status(401))
                .await?;
            b.assert_text_contains("The email or password is incorrect.")
                .await?;
            Ok(())
        },
    )
    .await;
}

/// Journey 7: set a store's webhook key; a notification posted to the shown URL appears on the
/// store's page after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_sets_a_webhook_key_and_sees_a_notification() {
    harness::run(
        "operator_sets_a_webhook_key_and_sees_a_notification",
        |mut t| async move {
            add_operator(&t.app).await?;
            let b = &mut t.browser;
            install(b, "koala-gifts.example.com").await?;
            log_in(b).await?;
            b.click_link("Koala-gifts (sandbox)").await?;
            b.assert_text_contains("No key is set yet").await?;
            b.fill("Webhook key", "koala-netoapi-key").await?;
            b.click_button("Save key").await?;
            b.assert_text_contains("The webhook key is saved").await?;
            b.assert_text_contains("A key is set").await?;

            let url = b.field_value("Notification URL").await?;
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Event>\
                <CurrentTime>2024-01-03 01:11:12</CurrentTime><EventID>34</EventID>\
                <EventType>Order</EventType><Order><OrderID>N10154</OrderID>\
                <OrderStatus>Pick</OrderStatus></Order></Event>";
            let answer = reqwest::Client::new()
                .post(&url)
                .header("NETO_NOTIFICATION", "Order")
                .header("NETOAPI_KEY", "koala-netoapi-key")
                .body(body)
                .send()
                .await?;
            ensure!(
                answer.status() == 200,
                "the notification was answered {}",
                answer.status()
            );

            b.reload().await?;
            b.assert_text_contains("N10154").await?;
            b.assert_text_contains("Pick").await?;
            Ok(())
        },
    )
    .await;
}
