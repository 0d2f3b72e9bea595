//! The merchant sets up order notifications on the success page: the store's API key is taken
//! only from the browser that just installed, for 30 minutes, once, with the form's CSRF token,
//! and stored sealed and audited as set by the merchant.

use storelink::clock::Clock as _;

use crate::helpers::*;

const KEY: &str = "merchant-netoapi-key-9c4f7a";
const FORM: &str = "/installed/order-updates";

async fn success_page(app: &TestApp, browser: &reqwest::Client) -> (u16, String) {
    let response = browser.get(app.url("/installed")).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn send_key(
    app: &TestApp,
    browser: &reqwest::Client,
    key: &str,
    csrf: &str,
) -> reqwest::Response {
    browser
        .post(app.url(FORM))
        .form(&[("webhook_key", key), ("csrf_token", csrf)])
        .send()
        .await
        .unwrap()
}

/// Installs a Maropost store in a new browser; returns the browser, the install id and the
/// set-up form's CSRF token.
async fn installed(app: &TestApp) -> (reqwest::Client, String, String) {
    let merchant = browser();
    app.install(&merchant, "s42", "surf.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (status, page) = success_page(app, &merchant).await;
    assert_eq!(status, 200);
    assert!(page.contains("Receive order updates"), "{page}");
    (merchant, id, csrf_in(&page))
}

async fn webhook_keys(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key'")
        .await
}

#[tokio::test]
async fn the_merchant_sets_the_key_once_and_it_is_sealed_and_audited() {
    let app = spawn_app().await;
    let (merchant, id, csrf) = installed(&app).await;
    let (_, page) = success_page(&app, &merchant).await;
    let hook_url = app.url(&format!("/webhooks/maropost/{id}")).to_string();
    assert!(page.contains(&hook_url), "the store's webhook URL is shown");
    assert!(
        page.contains(r#"data-copy="webhook-url""#),
        "with a copy button"
    );
    assert!(
        page.contains("API Settings"),
        "and the steps in the control panel"
    );
    assert!(page.contains(r#"action="/installed/order-updates""#));

    // A key that is not one is refused beside the field, and the form stays open.
    let response = send_key(&app, &merchant, "not a key", &csrf).await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(body.contains(r#"aria-invalid="true""#), "{body}");
    assert_eq!(webhook_keys(&app).await, 0);

    let response = send_key(&app, &merchant, KEY, &csrf).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/installed#order-updates");
    let (_, done) = success_page(&app, &merchant).await;
    assert!(done.contains("Order updates are set up"), "{done}");
    assert!(!done.contains(KEY), "the key is never shown");
    assert!(!done.contains(r#"action="/installed/order-updates""#));

    // Sealed: the key's bytes are nowhere in the database's files.
    assert_eq!(webhook_keys(&app).await, 1);
    let stored = app.at_rest().await;
    assert!(!stored.is_empty());
    for (place, bytes) in &stored {
        assert!(
            !contains(bytes, KEY.as_bytes()),
            "{place} holds the key: not sealed"
        );
    }
    let audited: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT actor, install_id FROM audit_log WHERE action = 'webhook_key_set'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(audited, vec![("merchant".to_owned(), Some(id.clone()))]);

    // The stored key opens notifications.
    let xml = "<Event><CurrentTime>2024-01-03 01:11:12</CurrentTime><EventID>7</EventID>\
               <EventType>Order</EventType><Order><OrderID>N7</OrderID><OrderStatus>Pick\
               </OrderStatus></Order></Event>";
    let status = reqwest::Client::new()
        .post(&hook_url)
        .header("NETO_NOTIFICATION", "Order")
        .header("NETOAPI_KEY", KEY)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // The grant is spent: a second key is refused.
    let again = send_key(&app, &merchant, "another-netoapi-key-0000", &csrf).await;
    assert_eq!(again.status(), 410);
    assert_eq!(webhook_keys(&app).await, 1);
}

#[tokio::test]
async fn another_browser_cannot_set_the_key() {
    let app = spawn_app().await;
    let (_merchant, _id, csrf) = installed(&app).await;
    let stranger = browser();
    let response = send_key(&app, &stranger, KEY, &csrf).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("only in the browser that just installed"),
        "{body}"
    );
    assert_eq!(webhook_keys(&app).await, 0);
    // Nor see the set-up.
    assert_eq!(success_page(&app, &stranger).await.0, 404);
}

#[tokio::test]
async fn the_form_closes_after_30_minutes() {
    let app = spawn_app().await;
    let (merchant, _id, csrf) = installed(&app).await;
    app.clock.advance(time::Duration::minutes(29));
    let (_, page) = success_page(&app, &merchant).await;
    assert!(
        page.contains(r#"action="/installed/order-updates""#),
        "still open"
    );

    app.clock.advance(time::Duration::minutes(2));
    let (status, page) = success_page(&app, &merchant).await;
    assert_eq!(status, 200);
    assert!(page.contains("has passed"), "{page}");
    assert!(!page.contains(r#"action="/installed/order-updates""#));
    let response = send_key(&app, &merchant, KEY, &csrf).await;
    assert_eq!(response.status(), 410);
    assert!(response.text().await.unwrap().contains("has passed"));
    assert_eq!(webhook_keys(&app).await, 0);
}

#[tokio::test]
async fn a_forged_form_is_refused() {
    let app = spawn_app().await;
    let (merchant, _id, _csrf) = installed(&app).await;
    for forged in ["", "forged"] {
        assert_eq!(send_key(&app, &merchant, KEY, forged).await.status(), 403);
    }
    assert_eq!(webhook_keys(&app).await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'webhook_key_set'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_revoked_install_takes_no_key() {
    let app = spawn_app().await;
    let (merchant, id, csrf) = installed(&app).await;
    storelink::db::installs::revoke(&app.db, &id, "operator:x", app.clock.unix())
        .await
        .unwrap();
    let (_, page) = success_page(&app, &merchant).await;
    assert!(
        !page.contains(r#"action="/installed/order-updates""#),
        "no form"
    );
    assert!(page.contains("removed from this store"), "{page}");
    let response = send_key(&app, &merchant, KEY, &csrf).await;
    assert_eq!(response.status(), 410);
    assert_eq!(webhook_keys(&app).await, 0);
}
