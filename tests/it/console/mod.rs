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

use secrecy::SecretString;
use storelink::{
    db::{self, installs::NewInstall},
    domain::{Initiator, InstallingUser, Platform},
    password,
};

use crate::helpers::*;

const EMAIL: &str = "ops@example.com";

const PASSWORD: &str = "correct horse battery staple";

/// Creates an operator through the library (the CLI is tested on its own below).
async fn add_operator(app: &TestApp, email: &str, password: &str) {
    let hash = password::hash(&SecretString::from(password)).unwrap();
    assert!(
        db::operators::add(&app.db, email, &hash, app.clock_unix())
            .await
            .unwrap()
    );
}

impl TestApp {
    fn clock_unix(&self) -> i64 {
        use storelink::clock::Clock as _;
        self.clock.unix()
    }

    /// The CSRF token in the page at `path`.
    async fn csrf(&self, browser: &reqwest::Client, path: &str) -> String {
        let body = browser
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&body)
    }

    /// A browser logged in as the test operator.
    async fn operator_browser(&self) -> reqwest::Client {
        add_operator(self, EMAIL, PASSWORD).await;
        let browser = browser();
        let response = self.login_attempt(&browser, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/console");
        browser
    }

    async fn get_page(&self, browser: &reqwest::Client, path: &str) -> (u16, String) {
        let response = browser.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

fn csrf_in(body: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = body.find(marker).expect("a csrf_token field") + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
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

impl TestApp {
    /// A browser logged in as another operator, `email`.
    async fn operator_browser_as(&self, email: &str) -> reqwest::Client {
        add_operator(self, email, PASSWORD).await;
        let browser = browser();
        let response = self.login_attempt(&browser, email, PASSWORD).await;
        assert_eq!(response.status(), 303);
        browser
    }
}
