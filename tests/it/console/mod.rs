//! The operator console over HTTP, a file per topic: operators ([`operators`]), logging in
//! ([`login`]) and sessions ([`sessions`]), what every console route and page does
//! ([`access`]), a store's page and revoking ([`installs`]), renaming ([`rename`]), order
//! notifications ([`events`]), the stores list ([`list`]), the audit log ([`audit`]), and error
//! pages, titles and accessibility ([`pages`]). Endpoints in the console are tested with the
//! notifications (`notify::console`), connections an operator adds with their platforms (`bol`,
//! `connections`).

mod access;
mod audit;
mod events;
mod installs;
mod list;
mod login;
mod operators;
mod pages;
mod rename;
mod sessions;

use storelink::{
    db::{self, installs::NewInstall},
    domain::{Initiator, InstallingUser, Platform},
};

use crate::{
    helpers::*,
    operator::{EMAIL, PASSWORD, add_operator},
};

impl TestApp {
    /// `GET path` in `browser` (one a test logs in by hand): the status and the page.
    async fn get_page(&self, browser: &reqwest::Client, path: &str) -> (u16, String) {
        let response = browser.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

fn assert_redirects_to_login(response: &reqwest::Response) {
    assert_eq!(response.status(), 303, "{}", response.url());
    assert!(
        location(response).starts_with("/console/login"),
        "{}",
        response.url()
    );
}

async fn installed_id(app: &TestApp) -> String {
    app.install(
        &browser(),
        "store-r",
        "revoke.example.com",
        "secret-token-for-revoke",
    )
    .await;
    sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Seeds `n` installs: every third revoked, every fifth on bol.com, domains shop-NNN.example.com.
async fn seed(app: &TestApp, n: usize) {
    for i in 0..n {
        let platform = if i % 5 == 0 {
            Platform::Bol
        } else {
            Platform::Maropost
        };
        let domain = format!("shop-{i:03}.example.com");
        let name = format!("Shop number {i:03}");
        let saved = db::installs::save(
            &app.db,
            &app.state.keyring,
            &NewInstall {
                platform,
                account_id: &format!("acct-{i}"),
                store_domain: Some(&domain),
                store_name: Some(&name),
                timezone: None,
                scope: None,
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: b"t",
            },
            1_700_000_000 + (i as i64 / 2), // pairs share a timestamp: the id breaks ties
        )
        .await
        .unwrap();
        if i % 3 == 0 {
            sqlx::query("UPDATE installs SET status = 'revoked' WHERE id = $1")
                .bind(&saved.id)
                .execute(&app.db)
                .await
                .unwrap();
        }
    }
}

fn next_link(body: &str) -> Option<String> {
    let end = body.find(r#"" rel="next""#)?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

fn previous_link(body: &str) -> Option<String> {
    let end = body.find(r#"" rel="prev""#)?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}
