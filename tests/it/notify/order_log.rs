//! Order events as their own outbox (`outbox::make_order_messages`): each stored event becomes
//! one message per enabled endpoint subscribed to it, past the endpoint's cursor, made in the
//! worker's transaction; a rolled-back event makes none; an endpoint gets the events stored while
//! it was enabled. Here without a worker, so each step is the test's.

use serde_json::{Value, json};
use storelink::{
    crypto::{Keyring, MasterKey},
    db::{
        self, Db,
        endpoints::{self, Subscription},
        events::{self, NewEvent},
        outbox::{body, make_order_messages, order_backlog},
    },
    domain::{EventType, OrderStatus},
};

/// A database with install `i1`, and a keyring for endpoints' secrets.
async fn database() -> (crate::database::Scratch, Db, Keyring) {
    let (dir, db) = crate::database::Scratch::create().await;
    sqlx::query(
        "INSERT INTO installs (id, provider, account_id, initiated_by, installed_at,
             last_installed_at, updated_at)
         VALUES ('i1', 'maropost', 's1', 'storelink', 0, 0, 0)",
    )
    .execute(&db)
    .await
    .unwrap();
    let keyring = Keyring::new(MasterKey::from_base64(&MasterKey::generate_base64()).unwrap());
    (dir, db, keyring)
}

/// Stores order events with these EventIDs, as the webhook writer does.
async fn store(db: &Db, event_ids: &[&str]) {
    let events: Vec<NewEvent> = event_ids
        .iter()
        .map(|id| NewEvent {
            install_id: "i1".into(),
            event_id: (*id).into(),
            event_type: "Order".into(),
            sent_time: Some("2024-01-03 01:11:12".into()),
            order_id: Some("N1".into()),
            order_status: Some(OrderStatus::Pick),
            received_at: 1_795_459_042,
            raw_body: "<Event/>".into(),
        })
        .collect();
    let mut tx = db::begin_write(db).await.unwrap();
    events::insert_many(&mut tx, &events.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn endpoint(db: &Db, keyring: &Keyring, url: &str) -> String {
    let subscription = Subscription::Only(vec![EventType::OrderStatusChanged]);
    endpoints::add(
        db,
        keyring,
        url,
        &subscription,
        Default::default(),
        true,
        "test",
        0,
    )
    .await
    .unwrap()
    .0
    .id
}

/// The bodies of an endpoint's messages, oldest first: by when they were made, then by the
/// order their events were stored in (messages made in one statement share `created_at`, and
/// on PostgreSQL no column says which row came first).
async fn bodies(db: &Db, endpoint_id: &str) -> Vec<Value> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT created_at, body FROM notify_messages WHERE endpoint_id = $1")
            .bind(endpoint_id)
            .fetch_all(db)
            .await
            .unwrap();
    let stored: std::collections::HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT event_id, id FROM events")
            .fetch_all(db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let mut bodies: Vec<(i64, i64, Value)> = rows
        .into_iter()
        .map(|(at, body)| {
            let body: Value = serde_json::from_str(&body).unwrap();
            let event = body["data"]["event_id"].as_str().unwrap_or_default();
            (at, stored.get(event).copied().unwrap_or_default(), body)
        })
        .collect();
    bodies.sort_by_key(|(at, event, _)| (*at, *event));
    bodies.into_iter().map(|(_, _, body)| body).collect()
}

async fn make(db: &Db, endpoint: Option<&str>, limit: Option<i64>) -> u64 {
    let mut tx = db::begin_write(db).await.unwrap();
    let made = make_order_messages(&mut tx, endpoint, limit).await.unwrap();
    tx.commit().await.unwrap();
    made
}

#[tokio::test]
async fn the_backlog_counts_what_an_endpoint_is_owed_and_not_yet_made() {
    let (_dir, db, keyring) = database().await;
    store(&db, &["before"]).await;
    let id = endpoint(&db, &keyring, "http://127.0.0.1:9/b").await;
    assert_eq!(
        order_backlog(&db, &id).await.unwrap(),
        0,
        "it starts past what was stored"
    );
    store(&db, &["e1", "e2", "e3"]).await;
    assert_eq!(order_backlog(&db, &id).await.unwrap(), 3);
    assert_eq!(make(&db, None, Some(2)).await, 2);
    assert_eq!(order_backlog(&db, &id).await.unwrap(), 1);
    assert_eq!(make(&db, None, None).await, 1);
    assert_eq!(order_backlog(&db, &id).await.unwrap(), 0);
    // A disabled endpoint is owed nothing more; an unknown one nothing at all.
    store(&db, &["e4"]).await;
    endpoints::set_enabled(&db, &id, false, "test", 0)
        .await
        .unwrap();
    assert_eq!(order_backlog(&db, &id).await.unwrap(), 0);
    assert_eq!(order_backlog(&db, "no-such-endpoint").await.unwrap(), 0);
}

#[tokio::test]
async fn order_events_become_messages_once_each_past_the_cursor() {
    let (_dir, db, keyring) = database().await;
    store(&db, &["before"]).await;
    let id = endpoint(&db, &keyring, "http://127.0.0.1:9/a").await;
    store(&db, &["e1", "e2", "e3"]).await;

    // A round with room for two makes two; the next one the rest; then there is nothing.
    assert_eq!(make(&db, None, Some(2)).await, 2);
    assert_eq!(make(&db, None, Some(2)).await, 1);
    assert_eq!(make(&db, None, None).await, 0);

    // Only the events stored since the endpoint was added, in order, with the body the
    // writer's data used to make (`body`), keys and all.
    let got = bodies(&db, &id).await;
    let event_ids: Vec<&str> = got
        .iter()
        .map(|b| b["data"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(event_ids, ["e1", "e2", "e3"]);
    let expected = body(
        EventType::OrderStatusChanged,
        &json!({
            "install_id": "i1",
            "event_id": "e1",
            "event_type": "Order",
            "order_id": "N1",
            "order_status": "Pick",
            "current_time": "2024-01-03 01:11:12",
        }),
        1_795_459_042,
    );
    let first: String = sqlx::query_scalar(
        "SELECT body FROM notify_messages WHERE endpoint_id = $1 AND body LIKE '%\"e1\"%'",
    )
    .bind(&id)
    .fetch_one(&db)
    .await
    .unwrap();
    if db::Backend::of_pool(&db) == db::Backend::Sqlite {
        assert_eq!(
            first, expected,
            "the same bytes as before, for the same event"
        );
    } else {
        // PostgreSQL's JSON text spaces its separators: the same JSON, other bytes (each
        // attempt sends the stored bytes, and the signature covers them).
        assert_eq!(
            serde_json::from_str::<Value>(&first).unwrap(),
            serde_json::from_str::<Value>(&expected).unwrap()
        );
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM notify_messages")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(
        ids.iter()
            .all(|id| id.starts_with("msg_") && id.len() == 4 + 12 + 20)
    );
}

#[tokio::test]
async fn a_rolled_back_event_makes_no_message() {
    let (_dir, db, keyring) = database().await;
    let id = endpoint(&db, &keyring, "http://127.0.0.1:9/a").await;
    let event = NewEvent {
        install_id: "i1".into(),
        event_id: "gone".into(),
        event_type: "Order".into(),
        sent_time: None,
        order_id: None,
        order_status: None,
        received_at: 1,
        raw_body: "<Event/>".into(),
    };
    let mut tx = db::begin_write(&db).await.unwrap();
    events::insert_many(&mut tx, &[&event]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(make(&db, None, None).await, 0);
    assert!(bodies(&db, &id).await.is_empty());
}

#[tokio::test]
async fn an_endpoint_gets_the_events_stored_while_it_was_enabled() {
    let (_dir, db, keyring) = database().await;
    let id = endpoint(&db, &keyring, "http://127.0.0.1:9/a").await;
    store(&db, &["while-enabled"]).await;
    // Disabled before the worker came round: the event is still owed to it.
    assert!(
        endpoints::set_enabled(&db, &id, false, "test", 0)
            .await
            .unwrap()
    );
    store(&db, &["while-disabled"]).await;
    assert_eq!(make(&db, None, None).await, 0, "nothing for a disabled one");
    endpoints::set_enabled(&db, &id, true, "test", 0)
        .await
        .unwrap();
    store(&db, &["enabled-again"]).await;
    make(&db, None, None).await;
    let event_ids: Vec<String> = bodies(&db, &id)
        .await
        .iter()
        .map(|b| b["data"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(event_ids, ["while-enabled", "enabled-again"]);
}
