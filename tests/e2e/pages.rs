//! What issue 15 ("pages people enjoy") fixed, checked in the browser: colours that carry
//! meaning, revoked stores that offer nothing to do, console error pages, returning to the
//! asked page after login, readable lists, and pages that fit a phone.

use anyhow::{Context as _, ensure};
use serde_json::json;

use crate::{
    browser::{Browser, Expect},
    harness,
    operator::{EMAIL, PASSWORD, add_operator, install, log_in},
};

/// The computed value of `property` on the one element `css` selects.
async fn computed(b: &Browser, css: &str, property: &str) -> anyhow::Result<String> {
    let value = b
        .execute(
            "const e = document.querySelector(arguments[0]);\
             return e ? getComputedStyle(e).getPropertyValue(arguments[1]) : null;",
            vec![json!(css), json!(property)],
        )
        .await?;
    value
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no element {css} on this page"))
}

/// `rgb(r, g, b)` (or `rgba(...)`) as its three channels.
fn rgb(text: &str) -> anyhow::Result<(u8, u8, u8)> {
    let inner = text
        .trim()
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let mut parts = inner.split(',').map(|p| p.trim().parse::<u8>());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(r)), Some(Ok(g)), Some(Ok(b))) => Ok((r, g, b)),
        _ => anyhow::bail!("not an rgb() colour: {text:?}"),
    }
}

/// A colour whose red channel clearly leads: a red of some shade.
fn is_red((r, g, b): (u8, u8, u8)) -> bool {
    r > 120 && u16::from(r) > u16::from(g) + 60 && u16::from(r) > u16::from(b) + 60
}

/// A colour whose green channel leads.
fn is_green((r, g, b): (u8, u8, u8)) -> bool {
    g > r && g > b
}

/// Colour carries meaning: the danger button is red, a passed connection test green, a failed
/// one red and saying so, and the status badge sits beside the store's title. A revoked store
/// then offers neither a connection test nor the webhook set-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colours_say_pass_and_fail_and_revoked_stores_offer_nothing_to_do() {
    harness::run(
        "colours_say_pass_and_fail_and_revoked_stores_offer_nothing_to_do",
        |mut t| async move {
            add_operator(&t.app).await?;
            let b = &mut t.browser;
            install(b, "koala-gifts.example.com").await?;
            log_in(b).await?;
            b.click_link("Koala-gifts (sandbox)").await?;

            let badge = b
                .find_one(
                    "//div[@class='title-row'][h1]/span[contains(@class,'badge')]",
                    "status badge beside the title",
                )
                .await?
                .text()
                .await?;
            ensure!(badge == "Active", "the title's badge says {badge:?}");
            // Copy buttons for the install id and the notification URL, once the script ran.
            for label in ["Copy install id", "Copy notification URL"] {
                let button = b.button(label).await?;
                ensure!(button.is_displayed().await?, "{label} is hidden");
            }
            let labels = computed(b, ".facts dt", "text-transform").await?;
            ensure!(labels == "none", "field labels are transformed: {labels}");
            let danger = rgb(&computed(b, "a.button.danger", "background-color").await?)?;
            ensure!(is_red(danger), "the Revoke button is {danger:?}, not red");

            b.click_button("Test connection").await?;
            b.assert_text_contains("Connection test passed").await?;
            let passed = rgb(&computed(b, ".notice", "background-color").await?)?;
            ensure!(is_green(passed), "a passed test is shown in {passed:?}");
            ensure!(
                computed(b, ".notice-success", "display").await.is_ok(),
                "a passed test should be a success notice"
            );

            // Take its credentials away behind its back: the next test fails.
            sqlx::query("DELETE FROM credentials")
                .execute(&t.app.db)
                .await?;
            b.click_button("Test connection").await?;
            b.assert_text_contains("Connection test failed").await?;
            let failed = rgb(&computed(b, ".notice", "background-color").await?)?;
            let failed_border = rgb(&computed(b, ".notice", "border-left-color").await?)?;
            ensure!(
                failed != passed && is_red(failed_border),
                "a failed test should look like a failure: background {failed:?}, border {failed_border:?}"
            );
            let role = b
                .execute(
                    "return document.querySelector('.notice').getAttribute('role');",
                    vec![],
                )
                .await?;
            ensure!(role == json!("alert"), "a failure is announced: role {role}");

            b.click_link("Revoke\u{2026}").await?;
            b.click_button("Revoke access").await?;
            b.assert_text_contains("is revoked").await?;
            let text = b.text().await?;
            ensure!(
                !text.contains("Test connection") && !text.contains("paste this address"),
                "a revoked store should offer neither a connection test nor the webhook set-up"
            );
            let offered = b
                .execute(
                    "return document.querySelectorAll(\
                     'form[action$=\"/test\"], form[action$=\"/webhook-key\"], input[aria-label=\"Notification URL\"]'\
                     ).length;",
                    vec![],
                )
                .await?;
            ensure!(offered == json!(0), "{offered} forms still offered");
            let badge = b
                .find_one("//div[@class='title-row']/span", "status badge")
                .await?
                .text()
                .await?;
            ensure!(badge == "Revoked", "the title's badge says {badge:?}");
            Ok(())
        },
    )
    .await;
}

/// Fails when the page is wider than the window (something sticks out sideways).
async fn assert_fits_the_width(b: &Browser, width: u32) -> anyhow::Result<()> {
    let sizes = b
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await?;
    let scroll = sizes[0].as_u64().context("scrollWidth")?;
    let inner = sizes[1].as_u64().context("innerWidth")?;
    ensure!(
        inner == u64::from(width),
        "the window should be {width} px wide, it is {inner}"
    );
    ensure!(
        scroll <= inner,
        "the page is {scroll} px wide in a {inner} px window"
    );
    Ok(())
}

/// Phone width (390 px): the landing page and the stores list fit without sideways scrolling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fit_a_phone() {
    harness::run("pages_fit_a_phone", |mut t| async move {
        add_operator(&t.app).await?;
        let b = &mut t.browser;
        install(b, "a-very-long-store-name-that-goes-on-and-on.example.com").await?;
        install(b, "koala-gifts.example.com").await?;
        // The window's outer size includes no chrome in headless mode.
        b.client()
            .set_window_size(390, 844)
            .await
            .context("cannot resize the window")?;
        b.goto("/").await?;
        assert_fits_the_width(b, 390).await?;
        log_in(b).await?;
        assert_fits_the_width(b, 390).await?;
        b.click_link("Koala-gifts (sandbox)").await?;
        assert_fits_the_width(b, 390).await?;
        Ok(())
    })
    .await;
}

/// Login returns to the page asked for, never to another site; a 404 inside the console keeps
/// the console's navigation and leads back into it; logging out says so; the current page is
/// marked in the navigation; dates read as relative times with the exact time at hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_keep_the_operator_in_the_console() {
    harness::run(
        "console_pages_keep_the_operator_in_the_console",
        |mut t| async move {
            add_operator(&t.app).await?;
            let b = &mut t.browser;
            install(b, "koala-gifts.example.com").await?;

            // An external `next` is ignored: the login leads to the console.
            b.goto("/console/login?next=%2F%2Fevil.example%2Fconsole")
                .await?;
            b.fill("Email", EMAIL).await?;
            b.fill("Password", PASSWORD).await?;
            b.click_button("Log in").await?;
            b.assert_path("/console").await?;
            ensure!(
                b.url().await?.host_str() == t.app.base.host_str(),
                "the login left the site"
            );

            // The current page is marked; dates are relative, exact on hover and in datetime.
            let current = b
                .execute(
                    "return Array.from(document.querySelectorAll('nav [aria-current=\"page\"]'))\
                     .map(a => a.textContent.trim());",
                    vec![],
                )
                .await?;
            ensure!(current == json!(["Connected stores"]), "current: {current}");
            let time = b
                .execute(
                    "const t = document.querySelector('table.list time');\
                     return t && [t.textContent, t.getAttribute('datetime'), t.title, \
                     getComputedStyle(t.parentElement).whiteSpace];",
                    vec![],
                )
                .await?;
            ensure!(
                time[0]
                    .as_str()
                    .is_some_and(|s| s.ends_with("ago") || s == "just now"),
                "the list should say how long ago: {time}"
            );
            ensure!(
                time[1]
                    .as_str()
                    .is_some_and(|s| s.len() == 20 && s.ends_with('Z')),
                "datetime should be the exact time: {time}"
            );
            ensure!(
                time[2].as_str().is_some_and(|s| s.ends_with("UTC")),
                "the title should be the exact time: {time}"
            );
            ensure!(time[3] == json!("nowrap"), "dates should not wrap: {time}");
            // "/" moves to the search field.
            b.client()
                .active_element()
                .await?
                .send_keys("/")
                .await
                .context("cannot type /")?;
            let focused = b
                .execute("return document.activeElement.id;", vec![])
                .await?;
            ensure!(
                focused == json!("q"),
                "\"/\" should focus the search, focused {focused}"
            );
            let footer = b
                .execute("return document.querySelectorAll('footer').length;", vec![])
                .await?;
            ensure!(
                footer == json!(0),
                "the merchants' footer shows in the console"
            );

            // A 404 inside the console keeps the navigation and leads back into the console.
            b.goto_expecting("/console/no-such-page", Expect::Status(404))
                .await?;
            b.assert_h1_contains("Page not found").await?;
            b.link("Audit log").await?;
            b.button("Log out").await?;
            b.click_link("Back to connected stores").await?;
            b.assert_path("/console").await?;

            // Logging out says so; logging in again returns to the page asked for.
            b.click_button("Log out").await?;
            b.assert_text_contains("You have been logged out").await?;
            b.goto("/console/audit?action=login").await?;
            b.assert_path("/console/login").await?;
            b.fill("Email", EMAIL).await?;
            b.fill("Password", PASSWORD).await?;
            b.click_button("Log in").await?;
            b.assert_path("/console/audit").await?;
            b.assert_h1_contains("Audit log").await?;
            let query = b.url().await?.query().map(str::to_owned);
            ensure!(
                query.as_deref() == Some("action=login"),
                "the login should return to the page asked for, with its query: {query:?}"
            );
            Ok(())
        },
    )
    .await;
}

/// Screenshots of the landing page, the stores list, a store's page and the audit log at
/// desktop (1280 px) and phone (390 px) width, saved on every run (not only on failure) as
/// `screenshots/{page}-{width}.png` under [`harness::artifacts_dir`], for reviewing the pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_main_pages() {
    harness::run("screenshots_of_the_main_pages", |mut t| async move {
        add_operator(&t.app).await?;
        let b = &mut t.browser;
        install(b, "koala-gifts.example.com").await?;
        install(b, "wombat-wares.example.com").await?;
        log_in(b).await?;
        b.click_link("Koala-gifts (sandbox)").await?;
        let store = b.url().await?.path().to_owned();
        let dir = harness::artifacts_dir().join("screenshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir:?}"))?;
        for (width, height) in [(1280, 1024), (390, 844)] {
            b.client()
                .set_window_size(width, height)
                .await
                .context("cannot resize the window")?;
            for (name, path) in [
                ("landing", "/"),
                ("stores", "/console"),
                ("store", store.as_str()),
                ("audit", "/console/audit"),
            ] {
                b.goto(path).await?;
                let png = b.client().screenshot().await.context("screenshot failed")?;
                let file = dir.join(format!("{name}-{width}.png"));
                std::fs::write(&file, png).with_context(|| format!("cannot write {file:?}"))?;
            }
        }
        Ok(())
    })
    .await;
}
