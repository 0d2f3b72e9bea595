//! Order notifications in the console: setting a store's webhook key, then seeing what arrives.

use crate::{helpers::*, operator::EMAIL};

const KEY: &str = "store-netoapi-key-5d8e21";

fn event_xml(event_id: &str, order: &str, status: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Event><CurrentTime>2024-01-03 01:11:12</CurrentTime>\
         <EventID>{event_id}</EventID><EventType>Order</EventType><Order><OrderID>{order}</OrderID>\
         <OrderStatus>{status}</OrderStatus></Order></Event>"
    )
}

async fn set_key(
    app: &TestApp,
    browser: &reqwest::Client,
    id: &str,
    key: &str,
    csrf: &str,
) -> reqwest::Response {
    browser
        .post(app.url(&format!("/console/installs/{id}/webhook-key")))
        .form(&[("webhook_key", key), ("csrf_token", csrf)])
        .send()
        .await
        .unwrap()
}

async fn post_event(url: &str, key: &str, body: String) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("NETO_NOTIFICATION", "Order")
        .header("NETOAPI_KEY", key)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_operator_sets_the_key_and_sees_the_events_that_arrive() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "events.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let operator = app.operator().await;

    // The detail page shows the URL to paste and that no key is set.
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    let hook_url = app.url(&format!("/webhooks/maropost/{id}")).to_string();
    assert!(detail.contains(&hook_url), "the full webhook URL is shown");
    assert!(detail.contains("API Settings"), "with instructions");
    assert!(detail.contains("No key is set yet"));
    assert_eq!(
        post_event(&hook_url, KEY, event_xml("1", "N1", "Pick")).await,
        401
    );

    // Setting it needs the CSRF token.
    assert_eq!(
        set_key(&app, &operator.client, &id, KEY, "forged")
            .await
            .status(),
        403
    );
    let csrf = csrf_in(&detail);
    let response = set_key(&app, &operator.client, &id, KEY, &csrf).await;
    assert_eq!(response.status(), 303);
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    assert!(detail.contains("The webhook key is saved"));
    assert!(detail.contains("A key is set"));
    assert!(!detail.contains(KEY), "the key is never shown");
    let action: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'webhook_key_set'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(action, format!("operator:{EMAIL}"));

    // Events sent with the key are stored and shown.
    assert_eq!(
        post_event(&hook_url, KEY, event_xml("34", "N10154", "Pick")).await,
        200
    );
    assert_eq!(
        post_event(&hook_url, KEY, event_xml("35", "N10155", "Dispatched")).await,
        200
    );
    assert_eq!(
        post_event(&hook_url, "wrong-key", event_xml("36", "N10156", "New")).await,
        401
    );
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    assert!(detail.contains("N10154") && detail.contains("N10155"));
    assert!(!detail.contains("N10156"));

    let all = operator.get("/console/events").await;
    // The list names the store, not its install id.
    assert!(all.contains(&format!(
        r#"<a href="/console/installs/{id}" title="Install {id}">Ryan&#39;s Surf Shop</a>"#
    )));
    assert!(
        all.find("N10155").unwrap() < all.find("N10154").unwrap(),
        "newest first"
    );
    let picked = operator.get("/console/events?status=Pick").await;
    assert!(picked.contains("N10154") && !picked.contains("N10155"));
    let by_order = operator.get("/console/events?order=N10155").await;
    assert!(by_order.contains("N10155") && !by_order.contains("N10154"));
    let by_install = operator.get(&format!("/console/events?install={id}")).await;
    assert!(by_install.contains("N10154"));
    let other_install = operator.get("/console/events?install=0000").await;
    assert!(other_install.contains("No notifications"));
    assert_eq!(
        operator
            .get_response("/console/events?before=abc")
            .await
            .status(),
        400
    );

    // The stores page counts the last 24 hours per status.
    let stores = operator.get("/console").await;
    assert!(stores.contains("<strong>1</strong> Pick"), "{stores}");
    assert!(stores.contains("<strong>1</strong> Dispatched"));
    app.clock.advance(time::Duration::hours(25));
    let (_, later) = operator.get_with_status("/console").await;
    assert!(!later.contains("<strong>1</strong> Pick"));
}

#[tokio::test]
async fn the_webhook_key_is_sealed_and_bad_keys_are_refused() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "events.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let operator = app.operator().await;
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    let csrf = csrf_in(&detail);

    for bad in ["", "has space", &"k".repeat(600)] {
        let response = set_key(&app, &operator.client, &id, bad, &csrf).await;
        assert_eq!(response.status(), 400, "{bad:.10}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key'")
            .await,
        0
    );

    assert_eq!(
        set_key(&app, &operator.client, &id, KEY, &csrf)
            .await
            .status(),
        303
    );
    let stored = app.at_rest().await;
    assert!(!stored.is_empty());
    for (place, bytes) in &stored {
        assert!(
            !contains(bytes, KEY.as_bytes()),
            "{place} holds the key: not sealed"
        );
    }

    // A revoked install takes no key; an unknown one is a 404; anonymous is sent to log in.
    storelink::db::installs::revoke(&app.db, &id, "operator:x", 1)
        .await
        .unwrap();
    assert_eq!(
        set_key(&app, &operator.client, &id, KEY, &csrf)
            .await
            .status(),
        400
    );
    assert_eq!(
        set_key(
            &app,
            &operator.client,
            "0123456789abcdef0123456789abcdef",
            KEY,
            &csrf
        )
        .await
        .status(),
        404
    );
    let anonymous = browser();
    let response = set_key(&app, &anonymous, &id, KEY, &csrf).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/console/login"));
}

#[tokio::test]
async fn the_notifications_list_says_where_each_page_stands_and_goes_back() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "events.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    for n in 0..60 {
        sqlx::query(
            "INSERT INTO events (install_id, event_id, event_type, order_id, order_status, \
             received_at, raw_body) VALUES ($1, $2, 'Order', $3, 'Pick', 0, '')",
        )
        .bind(&id)
        .bind(n.to_string())
        .bind(format!("N{n:05}"))
        .execute(&app.db)
        .await
        .unwrap();
    }
    let operator = app.operator().await;
    let link = |body: &str, rel: &str| {
        let end = body.find(&format!(r#"" rel="{rel}""#))?;
        let start = body[..end].rfind("href=\"")? + 6;
        Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
    };
    let first = operator.get("/console/events").await;
    assert!(first.contains("1\u{2013}50 of 60"), "{first}");
    assert!(link(&first, "prev").is_none());
    let second = operator.get(&link(&first, "next").unwrap()).await;
    assert!(second.contains("51\u{2013}60 of 60"));
    assert!(link(&second, "next").is_none());
    let back = operator.get(&link(&second, "prev").unwrap()).await;
    assert!(back.contains("1\u{2013}50 of 60") && back.contains("N00059"));
}

#[tokio::test]
async fn the_stores_page_opens_on_the_last_30_days() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "events.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let now = {
        use storelink::clock::Clock as _;
        app.clock.unix()
    };
    // Two notifications today, one five days ago, one 40 days ago (outside the chart).
    for (n, age_days) in [(1, 0), (2, 0), (3, 5), (4, 40)] {
        sqlx::query(
            "INSERT INTO events (install_id, event_id, event_type, received_at, raw_body) \
             VALUES ($1, $2, 'Order', $3, '')",
        )
        .bind(&id)
        .bind(n.to_string())
        .bind(now - age_days * 86_400)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let operator = app.operator().await;
    let page = operator.get("/console").await;
    assert!(page.contains("Last 30 days"));
    assert_eq!(page.matches("<rect ").count(), 30, "one bar a day");
    assert!(
        page.contains(r#"role="img" aria-label="Order notifications per day over the last 30 days: 3 in all, most on "#),
        "{page}"
    );
    assert!(page.contains("3 order notifications (one bar a day)"));
    assert!(page.contains("new install: 1 Maropost"), "{page}");
}
