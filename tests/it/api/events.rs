//! `GET /api/v1/events`: the order notifications as a feed whose cursor never skips or repeats
//! an event, even while events arrive.

use std::collections::HashSet;

use super::*;

use crate::webhooks::{KEY, event_xml};

/// An app with a Maropost install whose webhook key is [`KEY`]: the app, the install's id.
async fn hooked() -> (TestApp, String) {
    // The feed is polled as fast as it answers here; a real poller paces itself.
    let app = spawn_with(Options {
        api_rate_limit: Some(0),
        ..Options::default()
    })
    .await;
    let id = app.maropost_install("808", "events.example.com", "t").await;
    storelink::platforms::kit::webhook_keys::set_webhook_key(
        &app.db,
        &app.state.keyring,
        &id,
        KEY,
        "test",
        0,
    )
    .await
    .unwrap();
    (app, id)
}

/// Posts one notification with EventID `event_id` for `install_id` to `base`.
async fn post_event(base: &url::Url, install_id: &str, event_id: usize, status: &str) {
    let response = reqwest::Client::new()
        .post(
            base.join(&format!("/webhooks/maropost/{install_id}"))
                .unwrap(),
        )
        .header("NETOAPI_KEY", KEY)
        .header("content-type", "application/xml")
        .body(event_xml(&event_id.to_string(), status))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_feed_pages_oldest_first_without_skipping_or_repeating_while_events_arrive() {
    let (app, id) = hooked().await;
    let key = app.api_key("backend").await;
    for i in 0..30 {
        post_event(&app.base, &id, i, "Pick").await;
    }
    let sender = {
        let (base, id) = (app.base.clone(), id.clone());
        tokio::spawn(async move {
            for i in 30..130 {
                post_event(&base, &id, i, "Pack").await;
            }
        })
    };
    let mut seen: Vec<i64> = Vec::new();
    let mut event_ids: Vec<String> = Vec::new();
    let mut after = "0".to_owned();
    let mut idle_rounds = 0;
    while idle_rounds < 3 {
        let page = ok_json(
            app.api_get(&key, &format!("/api/v1/events?after={after}&limit=9"))
                .await,
        )
        .await;
        let data = page["data"].as_array().unwrap();
        if data.is_empty() && sender.is_finished() {
            idle_rounds += 1;
        }
        for event in data {
            seen.push(event["id"].as_i64().unwrap());
            event_ids.push(event["event_id"].as_str().unwrap().to_owned());
            assert_eq!(event["install_id"], id.as_str());
            assert_eq!(event["event_type"], "Order");
        }
        after = page["next_cursor"].as_str().unwrap().to_owned();
    }
    sender.await.unwrap();
    assert_eq!(seen.len(), 130, "every event, once");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in the order they were stored"
    );
    let unique: HashSet<&String> = event_ids.iter().collect();
    assert_eq!(unique.len(), 130);
}

#[tokio::test]
async fn events_carry_what_maropost_sent_and_filter_by_install() {
    let (app, id) = hooked().await;
    let key = app.api_key("backend").await;
    post_event(&app.base, &id, 7, "Pick").await;
    let page = ok_json(app.api_get(&key, "/api/v1/events").await).await;
    let event = &page["data"][0];
    assert_eq!(event["event_id"], "7");
    assert_eq!(event["order_status"], "Pick");
    assert!(event["order_id"].is_string());
    assert!(event["current_time"].is_string(), "CurrentTime as sent");
    assert!(event["received_at"].as_str().unwrap().ends_with('Z'));
    let mine = ok_json(
        app.api_get(&key, &format!("/api/v1/events?install_id={id}"))
            .await,
    )
    .await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let none_after = ok_json(
        app.api_get(&key, &format!("/api/v1/events?after={}", event["id"]))
            .await,
    )
    .await;
    assert!(none_after["data"].as_array().unwrap().is_empty());
    assert_eq!(
        none_after["next_cursor"],
        event["id"].to_string(),
        "the cursor stays put"
    );
    for (query, parameter) in [
        ("after=-1", "after"),
        ("after=x", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ] {
        let response = app.api_get(&key, &format!("/api/v1/events?{query}")).await;
        assert_eq!(
            problem(response, 400).await["parameter"],
            parameter,
            "{query}"
        );
    }
}
