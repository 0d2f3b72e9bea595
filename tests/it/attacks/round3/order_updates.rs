//! Item 4: the merchant's single-use order-updates grant is spent atomically: of eight requests
//! sent with it at once, one stores a key and one audit entry.

use crate::helpers::*;

const KEY: &str = "merchant-netoapi-key-9c4f7a";

#[tokio::test]
async fn eight_requests_with_one_grant_store_one_key() {
    let app = spawn_app().await;
    let merchant = browser();
    app.install(&merchant, "s8", "race.example.com", "tok")
        .await;
    let page = merchant
        .get(app.url("/installed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);

    let sends = (0..8).map(|i| {
        let merchant = merchant.clone();
        let url = app.url("/installed/order-updates");
        let csrf = csrf.clone();
        async move {
            merchant
                .post(url)
                .form(&[
                    ("webhook_key", format!("{KEY}-{i}").as_str()),
                    ("csrf_token", csrf.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(sends).await;
    let stored = statuses.iter().filter(|s| **s == 303).count();
    assert_eq!(stored, 1, "one request stores the key: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 410),
        "the others are told it is done: {statuses:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'webhook_key_set'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key'")
            .await,
        1
    );
    // And the page says it is done.
    let page = merchant
        .get(app.url("/installed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Order updates are set up"), "{page}");
}
