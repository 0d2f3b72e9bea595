//! Every platform's check against its built-in sandbox, as `cargo run` serves it: a Maropost
//! store and a Maropost API key, bol.com through the code flow and with a retailer's own
//! credentials, OrderCloud with both grants and a commercetools project, all connected as a new
//! user would and then checked by the checker itself (bol.com's token due for renewal first).

use std::{collections::HashMap, time::Duration};

use serde_json::json;
use url::Url;

use super::*;
use crate::{bol::query, connections::created};

const INTERVAL: Duration = Duration::from_secs(600);

/// Approves a Maropost install of `domain` on the sandbox's consent page.
async fn maropost_store(app: &TestApp, browser: &reqwest::Client, domain: &str) {
    let start = browser
        .get(app.url("/install/maropost"))
        .query(&[("store_domain", domain)])
        .send()
        .await
        .unwrap();
    let authorize = Url::parse(&location(&start)).unwrap();
    let mut form: HashMap<String, String> = query(&authorize);
    form.insert("decision".into(), "approve".into());
    let decided = browser
        .post(app.url(authorize.path()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = browser.get(location(&decided)).send().await.unwrap();
    assert_eq!(location(&callback), "/installed");
}

/// Approves a bol.com connection of `retailer` on the sandbox's consent page.
async fn bol_retailer(app: &TestApp, browser: &reqwest::Client, retailer: &str) {
    let authorize = app.start_bol(browser).await;
    let mut form = query(&authorize);
    form.insert("retailer".into(), retailer.into());
    form.insert("decision".into(), "approve".into());
    let decided = browser
        .post(app.url("/sandbox/bol/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = browser.get(location(&decided)).send().await.unwrap();
    assert_eq!(location(&callback), "/installed");
}

/// The text of the element with `id` on `page`.
fn element(page: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    let from = page.find(&marker).unwrap() + marker.len();
    page[from..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn every_platforms_check_works_against_its_sandbox() {
    let app = spawn_with(Options {
        sandbox: true,
        configure: Some(Box::new(|s| {
            s.health.interval = Some(INTERVAL);
            s.health.poll = Duration::from_millis(20);
        })),
        ..Options::default()
    })
    .await;
    let browser = browser();
    let key = app.api_key("backend").await;
    let operator = app.operator().await;

    maropost_store(&app, &browser, "demo.example.com").await;
    bol_retailer(&app, &browser, "1100002").await;
    let made = operator
        .post_form_bare(
            "/sandbox/maropost/api-keys",
            &[
                ("store_domain", "sandbox-store.neto.com.au"),
                ("username", "warehouse"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let bol_own = browser
        .post(app.url("/sandbox/bol/credentials"))
        .form(&[("retailer", "1100003")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for body in [
        json!({"platform": "maropost", "store_domain": "sandbox-store.neto.com.au",
               "api_key": element(&made, "api-key"), "username": "warehouse"}),
        json!({"platform": "bol", "client_id": element(&bol_own, "client-id"),
               "client_secret": element(&bol_own, "client-secret"), "name": "Own credentials"}),
        json!({"platform": "ordercloud", "client_id": "sandbox-seller-app", "grant_type": "password",
               "username": "admin01", "password": "sandbox-password-01"}),
        json!({"platform": "ordercloud", "client_id": "sandbox-integration",
               "client_secret": "sandbox-integration-secret", "grant_type": "client_credentials"}),
        json!({"platform": "commercetools", "region": "gcp-eu", "project_key": "sandbox-shop",
               "client_id": "sandbox-ct-client", "client_secret": "sandbox-ct-secret-5d8e"}),
    ] {
        created(app.connect(&key, &body).await).await;
    }
    let ids: Vec<(String, String)> =
        sqlx::query_as("SELECT id, provider FROM installs ORDER BY provider, id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(ids.len(), 7, "{ids:?}");
    let bol_code: String =
        sqlx::query_scalar("SELECT id FROM installs WHERE provider = 'bol' AND auth_kind = 'code'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let expiry: i64 = app.install_field(&bol_code, "token_expires_at").await;

    // Once the checker has scheduled them all, a whole interval later every install has been
    // checked, and works.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app
        .count("SELECT COUNT(*) FROM install_health WHERE next_check_at IS NOT NULL")
        .await
        < 7
    {
        assert!(tokio::time::Instant::now() < deadline, "not scheduled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.advance(INTERVAL.as_secs() as i64);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (id, platform) in &ids {
        loop {
            let health = app.health(id).await;
            if health.checked_at.is_some() {
                assert_eq!(
                    health.last_ok_at, health.checked_at,
                    "{platform}: {:?}",
                    health.last_error
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{platform} unchecked"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let object = app.install_object(id).await;
        assert_eq!(object["health"]["state"], "ok", "{platform}: {object}");
        assert_eq!(object["status"], "active");
    }
    // bol.com's token was due, and was renewed first.
    let renewed: i64 = app.install_field(&bol_code, "token_expires_at").await;
    assert!(renewed > expiry, "{renewed} > {expiry}");
}
