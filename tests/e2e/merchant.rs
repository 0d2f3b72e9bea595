//! Merchant journeys through the built-in sandboxes: on Maropost Commerce Cloud approve, deny,
//! and a mistyped store domain; on bol.com a retailer connecting its account. Every page
//! visited also passes [`crate::checks`].

use anyhow::ensure;

use crate::{
    browser::{Browser, Expect},
    harness::{self, TestApp},
};

const DOMAIN_FIELD: &str = "Store domain";
const INSTALL_BUTTON: &str = "Install add-on";

/// From the landing page to the sandbox's authorize page for `domain`.
async fn start_install(browser: &mut Browser, domain: &str) -> anyhow::Result<()> {
    browser.goto("/").await?;
    browser.assert_h1_contains("Connect your store").await?;
    browser.fill(DOMAIN_FIELD, domain).await?;
    browser.click_button(INSTALL_BUTTON).await?;

    browser
        .assert_path("/sandbox/maropost/oauth/v2/auth")
        .await?;
    browser.assert_h1_contains("approve the add-on").await?;
    // The sandbox names the store, and says it is a sandbox.
    browser.assert_text_contains(domain).await?;
    browser.assert_text_contains("Sandbox").await?;
    Ok(())
}

async fn installs(app: &TestApp) -> anyhow::Result<Vec<(String, String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT provider, COALESCE(store_domain, ''), status, initiated_by FROM installs",
    )
    .fetch_all(&app.db)
    .await?)
}

/// Journey 1: a merchant installs the add-on on a Maropost store and sees it connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_installs_a_maropost_store() {
    harness::run("merchant_installs_a_maropost_store", |mut t| async move {
        let b = &mut t.browser;
        start_install(b, "koala-gifts.example.com").await?;
        b.click_button("Approve").await?;

        // The callback 303s to the success page, which names the store.
        b.assert_path("/installed").await?;
        b.assert_h1_contains("Koala-gifts (sandbox) is connected")
            .await?;
        b.assert_text_contains("koala-gifts.example.com").await?;
        b.assert_text_contains("Maropost").await?;
        // The main button leads back to the store's control panel.
        let back = b.link("Back to your Maropost control panel").await?;
        let href = back.attr("href").await?;
        ensure!(
            href.as_deref() == Some("https://koala-gifts.example.com/_cpanel"),
            "the control panel link is {href:?}"
        );
        let title = &b.page()?.title;
        ensure!(
            title.contains("is connected"),
            "the success page's title should say the store is connected: {title:?}"
        );

        let rows = installs(&t.app).await?;
        ensure!(
            rows == [(
                "maropost".to_owned(),
                "koala-gifts.example.com".to_owned(),
                "active".to_owned(),
                "storelink".to_owned()
            )],
            "expected one active Maropost install for koala-gifts.example.com, found {rows:?}"
        );
        let sealed = t
            .app
            .count("SELECT COUNT(*) FROM credentials c JOIN installs i ON i.id = c.install_id")
            .await?;
        ensure!(sealed >= 1, "the install has no stored credential");

        // Reloading the success page shows it again and installs nothing more.
        b.reload().await?;
        b.assert_h1_contains("Koala-gifts (sandbox) is connected")
            .await?;
        ensure!(
            t.app.count("SELECT COUNT(*) FROM installs").await? == 1,
            "reloading the success page changed the installs"
        );
        Ok(())
    })
    .await;
}

/// Journey 2: the merchant clicks Deny, lands on a friendly page that offers to try again, and
/// nothing is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_denies_the_install() {
    harness::run("merchant_denies_the_install", |mut t| async move {
        let b = &mut t.browser;
        start_install(b, "wombat-wares.example.com").await?;
        b.click_button("Deny").await?;

        b.assert_path("/oauth/maropost/callback").await?;
        b.assert_h1_contains("Installation cancelled").await?;
        b.assert_text_contains("nothing was installed").await?;
        for table in ["installs", "credentials"] {
            let n = t
                .app
                .count(&format!("SELECT COUNT(*) FROM {table}"))
                .await?;
            ensure!(n == 0, "denying left {n} row(s) in {table}");
        }

        // "Try again" leads back to the form.
        b.click_link("Try again").await?;
        b.assert_path("/").await?;
        b.assert_h1_contains("Connect your store").await?;
        ensure!(
            b.field_value(DOMAIN_FIELD).await?.is_empty(),
            "the form should start empty"
        );
        Ok(())
    })
    .await;
}

/// Journey 3: a URL instead of a domain is refused on the form itself, which says what is
/// wrong and keeps what was typed; correcting it carries on to the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_mistypes_the_store_domain() {
    harness::run("merchant_mistypes_the_store_domain", |mut t| async move {
        let b = &mut t.browser;
        b.goto("/").await?;
        b.fill(DOMAIN_FIELD, "ftp://evil.example/").await?;
        b.click_button_expecting(INSTALL_BUTTON, Expect::Status(400))
            .await?;

        // Still on storelink, on the form, with the reason tied to the field.
        b.assert_path("/install/maropost").await?;
        b.assert_h1_contains("Connect your store").await?;
        let error = b.field_error(DOMAIN_FIELD).await?;
        ensure!(
            error.contains("without http:// or https://"),
            "the field error should say to leave out the scheme, it says {error:?}"
        );
        let kept = b.field_value(DOMAIN_FIELD).await?;
        ensure!(
            kept == "ftp://evil.example/",
            "the form should keep what was typed, it holds {kept:?}"
        );
        for table in ["installs", "oauth_states"] {
            let n = t
                .app
                .count(&format!("SELECT COUNT(*) FROM {table}"))
                .await?;
            ensure!(n == 0, "a refused domain left {n} row(s) in {table}");
        }

        // Fixing the value goes on to the platform.
        b.fill(DOMAIN_FIELD, "evil.example").await?;
        b.click_button(INSTALL_BUTTON).await?;
        b.assert_path("/sandbox/maropost/oauth/v2/auth").await?;
        b.assert_text_contains("evil.example").await?;
        Ok(())
    })
    .await;
}

/// Journey 3b: a merchant pastes the store's address from the browser's address bar
/// (`https://…/`): storelink takes the domain out of it and carries on to the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_pastes_the_store_address() {
    harness::run("merchant_pastes_the_store_address", |mut t| async move {
        let b = &mut t.browser;
        b.goto("/").await?;
        b.fill(DOMAIN_FIELD, "https://mystore.neto.com.au/").await?;
        b.click_button(INSTALL_BUTTON).await?;
        b.assert_path("/sandbox/maropost/oauth/v2/auth").await?;
        b.assert_text_contains("mystore.neto.com.au").await?;
        // The sandbox's banner is inside a landmark.
        let landmark = b
            .execute(
                "const e = document.querySelector('.sandbox-banner');\
                 return e && e.closest('aside, header, main, footer, nav') !== null;",
                vec![],
            )
            .await?;
        ensure!(
            landmark == serde_json::json!(true),
            "the sandbox banner is outside any landmark"
        );
        ensure!(
            !b.text().await?.contains("https://mystore"),
            "the platform should be given the domain alone"
        );

        b.goto("/").await?;
        b.fill(DOMAIN_FIELD, "mystore.neto.com.au/").await?;
        b.click_button(INSTALL_BUTTON).await?;
        b.assert_path("/sandbox/maropost/oauth/v2/auth").await?;
        Ok(())
    })
    .await;
}

/// Journey 4: a retailer connects its bol.com account through the sandbox: Connect, pick the
/// account and approve on the sandbox's page, and land on the success page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retailer_connects_a_bol_account() {
    harness::run("retailer_connects_a_bol_account", |mut t| async move {
        let b = &mut t.browser;
        b.goto("/").await?;
        b.assert_text_contains("bol.com").await?;
        b.click_button("Connect bol.com").await?;

        b.assert_path("/sandbox/bol/authorize").await?;
        b.assert_h1_contains("retailer account").await?;
        b.assert_text_contains("Sandbox").await?;
        b.assert_text_contains("Tulip Traders (retailer 1100001)")
            .await?;
        b.click_button("Approve").await?;

        b.assert_path("/installed").await?;
        // Named as bol.com's retailer information names it (the consent page showed it too).
        b.assert_h1_contains("Tulip Traders is connected").await?;
        b.assert_text_contains("bol.com").await?;

        let rows = installs(&t.app).await?;
        ensure!(
            rows == [(
                "bol".to_owned(),
                String::new(),
                "active".to_owned(),
                "storelink".to_owned()
            )],
            "expected one active bol.com install, found {rows:?}"
        );
        let kinds = t
            .app
            .count(
                "SELECT COUNT(*) FROM credentials WHERE kind IN ('access_token', 'refresh_token')",
            )
            .await?;
        ensure!(
            kinds == 2,
            "expected a sealed access and refresh token, found {kinds}"
        );
        Ok(())
    })
    .await;
}

/// Journey 5: after installing on Maropost, the merchant sets up order notifications on the
/// success page (the webhook URL to copy, the steps, the store's API key) and sees them
/// confirmed; the same form sent from another browser (no session cookie) is refused, and so
/// is one sent after 30 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_sets_up_order_updates() {
    harness::run("merchant_sets_up_order_updates", |mut t| async move {
        const KEY_FIELD: &str = "Your store's API key";
        let b = &mut t.browser;
        start_install(b, "platypus-provisions.example.com").await?;
        b.click_button("Approve").await?;
        b.assert_path("/installed").await?;
        b.assert_text_contains("Receive order updates").await?;
        b.assert_text_contains("API Settings").await?;
        let id: String = sqlx::query_scalar("SELECT id FROM installs")
            .fetch_one(&t.app.db)
            .await?;
        let url = b.field_value("Notification URL").await?;
        ensure!(
            url == t
                .app
                .base
                .join(&format!("webhooks/maropost/{id}"))?
                .as_str(),
            "the webhook URL shown is {url:?}"
        );
        ensure!(
            b.button("Copy").await.is_ok(),
            "the URL has a copy button (copy.js shows it)"
        );

        // Too short a key: refused beside the field, nothing stored.
        b.fill(KEY_FIELD, "short").await?;
        b.click_button_expecting("Save key", Expect::Status(400))
            .await?;
        let error = b.field_error(KEY_FIELD).await?;
        ensure!(
            error.contains("shorter than"),
            "the field error says {error:?}"
        );

        b.fill(KEY_FIELD, "platypus-netoapi-key-3b9d").await?;
        b.click_button("Save key").await?;
        b.assert_path("/installed").await?;
        b.assert_text_contains("Order updates are set up").await?;
        let stored = t
            .app
            .count(
                "SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key' \
                 AND ciphertext NOT LIKE '%platypus%'",
            )
            .await?;
        ensure!(
            stored == 1,
            "expected one sealed webhook key, found {stored}"
        );
        let merchant = t
            .app
            .count(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'webhook_key_set' \
                 AND actor = 'merchant'",
            )
            .await?;
        ensure!(merchant == 1, "the key is audited as set by the merchant");

        // Another browser: a second install's form, sent without this browser's cookies.
        start_install(b, "echidna-emporium.example.com").await?;
        b.click_button("Approve").await?;
        b.assert_text_contains("Receive order updates").await?;
        b.fill(KEY_FIELD, "echidna-netoapi-key-7e21").await?;
        b.client().delete_all_cookies().await?;
        b.click_button_expecting("Save key", Expect::Status(403))
            .await?;
        b.assert_text_contains("only in the browser that just installed")
            .await?;
        let keys = t
            .app
            .count("SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key'")
            .await?;
        ensure!(keys == 1, "the other browser's key was stored");

        // Past 30 minutes the form is closed: a form still open is refused, and the page says
        // the time has passed.
        start_install(b, "wallaby-wholesale.example.com").await?;
        b.click_button("Approve").await?;
        b.fill(KEY_FIELD, "wallaby-netoapi-key-5c08").await?;
        t.app.clock.advance(std::time::Duration::from_secs(31 * 60));
        b.click_button_expecting("Save key", Expect::Status(410))
            .await?;
        b.assert_text_contains("has passed").await?;
        b.goto("/installed").await?;
        b.assert_text_contains("The time to set this up here has passed")
            .await?;
        ensure!(
            !b.text().await?.contains(KEY_FIELD),
            "the key field is still offered after 30 minutes"
        );
        let keys = t
            .app
            .count("SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key'")
            .await?;
        ensure!(keys == 1, "a key was stored after 30 minutes");
        Ok(())
    })
    .await;
}
