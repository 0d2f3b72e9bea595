//! Degraded and recovered: three failures in a row that may pass (timeouts, 5xx) make an
//! install degraded, from checks or from the vendor's own calls through storelink; one success
//! makes it ok again; each change is said once. A check that works changes nothing but its
//! times.

use std::time::Duration;

use storelink::{domain::HealthState, platforms::kit::api_call::FailureKind};
use wiremock::ResponseTemplate;

use super::*;
use crate::api::backend;

#[tokio::test]
async fn three_timeouts_degrade_once_and_one_success_recovers_once() {
    let n = spawn_health(None, Duration::from_secs(1)).await;
    let app = &n.app;
    let id = n.maropost("S1").await;
    app.maropost_api_answers(orders(0).set_delay(Duration::from_secs(3)))
        .await;

    for failures in 1..=2 {
        let failure = app.check(&id).await.unwrap_err();
        assert_eq!(failure.kind, FailureKind::MayPass);
        let health = app.health(&id).await;
        assert_eq!(health.consecutive_failures, failures);
        assert_eq!(health.state(), HealthState::Unknown, "not degraded yet");
    }
    n.still(1).await;
    app.check(&id).await.unwrap_err();
    let got = n.wait_for(2).await;
    assert_eq!(got[1].event_type(), "install.degraded");
    let data = &got[1].json()["data"];
    assert_eq!(
        data["status"], "active",
        "degraded is not needing attention"
    );
    assert_eq!(data["health"]["state"], "degraded");
    assert_eq!(data["health"]["consecutive_failures"], 3);
    let object = app.install_object(&id).await;
    assert_eq!(object["health"]["state"], "degraded");
    assert_eq!(object["reason"], Value::Null);
    let health = app.health(&id).await;
    assert!(
        health.last_error.as_deref().unwrap().contains("no answer")
            || health.last_error.as_deref().unwrap().contains("time"),
        "{health:?}"
    );

    // A fourth failure says nothing new.
    app.check(&id).await.unwrap_err();
    n.still(2).await;
    assert_eq!(app.audited(&id, "degraded").await, 1);

    app.maropost_api_answers(orders(2)).await;
    app.check(&id).await.unwrap();
    let got = n.wait_for(3).await;
    assert_eq!(got[2].event_type(), "install.recovered");
    assert_eq!(got[2].json()["data"]["health"]["state"], "ok");
    let health = app.health(&id).await;
    assert_eq!(health.state(), HealthState::Ok);
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.last_error, None);
    assert_eq!(health.last_ok_at, Some(now(app)));

    // Working again and again: nothing more is said.
    app.check(&id).await.unwrap();
    n.still(3).await;
    assert_eq!(app.audited(&id, "recovered").await, 1);
}

/// The vendor's call `GetOrder` through storelink's proxy; its status.
async fn vendor_call(app: &TestApp, key: &str, id: &str) -> u16 {
    backend()
        .post(app.url(&format!("/api/v1/installs/{id}/proxy")))
        .bearer_auth(key)
        .header("NETOAPI_ACTION", "GetOrder")
        .header("content-type", "application/json")
        .body(r#"{"Filter":{"OrderID":"N1"}}"#)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_vendors_own_calls_count_towards_degraded_and_recovered() {
    let n = spawn_health(None, Duration::from_secs(5)).await;
    let app = &n.app;
    let id = n.maropost("S1").await;
    let key = app.api_key("backend").await;

    // Working calls write nothing (the install was never checked, and stays so).
    app.maropost_api_answers(orders(1)).await;
    assert_eq!(vendor_call(app, &key, &id).await, 200);
    assert_eq!(app.health(&id).await.checked_at, None);
    assert_eq!(app.health(&id).await.state(), HealthState::Unknown);

    app.maropost_api_answers(ResponseTemplate::new(503)).await;
    for _ in 0..3 {
        assert_eq!(
            vendor_call(app, &key, &id).await,
            503,
            "passed back as it is"
        );
    }
    let got = n.wait_for(2).await;
    assert_eq!(got[1].event_type(), "install.degraded");
    let health = app.health(&id).await;
    assert_eq!(health.state(), HealthState::Degraded);
    assert_eq!(health.checked_at, None, "calls are not checks");

    // A refusal of the vendor's request is the vendor's business, not the install's health.
    app.maropost_api_answers(ResponseTemplate::new(404)).await;
    assert_eq!(vendor_call(app, &key, &id).await, 404);
    assert_eq!(app.health(&id).await.consecutive_failures, 3);

    app.maropost_api_answers(orders(1)).await;
    assert_eq!(vendor_call(app, &key, &id).await, 200);
    let got = n.wait_for(3).await;
    assert_eq!(got[2].event_type(), "install.recovered");
    assert_eq!(app.health(&id).await.state(), HealthState::Ok);
    n.still(3).await;
}

/// What a check must not touch: the install row as the console orders and shows it, the audit
/// log, the outbox.
async fn untouched(app: &TestApp, id: &str) -> (Vec<(String, i64, String)>, i64, i64) {
    let rows = sqlx::query_as(
        "SELECT status, updated_at, COALESCE(store_name, '') FROM installs WHERE id = $1",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    (
        rows,
        app.count("SELECT COUNT(*) FROM audit_log").await,
        app.count("SELECT COUNT(*) FROM notify_messages").await,
    )
}

#[tokio::test]
async fn checks_that_work_change_only_their_times() {
    let n = spawn_health(None, Duration::from_secs(5)).await;
    let app = &n.app;
    let first = n.maropost("S1").await;
    let second = n.maropost("S2").await;
    app.maropost_api_answers(orders(1)).await;
    let operator = app.operator().await;
    let list_before = operator.get("/console").await;
    let before = (untouched(app, &first).await, untouched(app, &second).await);

    for _ in 0..3 {
        app.advance(3600);
        app.check(&first).await.unwrap();
        app.check(&second).await.unwrap();
    }
    assert_eq!(
        (untouched(app, &first).await, untouched(app, &second).await),
        before,
        "no updated_at churn, no audit entry, no notification"
    );
    let health = app.health(&first).await;
    assert_eq!(health.checked_at, Some(now(app)));
    assert_eq!(health.last_ok_at, Some(now(app)));
    assert_eq!(health.state(), HealthState::Ok);
    n.still(2).await;
    // The console lists them in the same order (the first install made is still below the
    // second).
    let list_after = app
        .operator_as("second@example.com")
        .await
        .get("/console")
        .await;
    let order = |page: &str| (page.find(&first).unwrap(), page.find(&second).unwrap());
    assert_eq!(
        order(&list_before).0 > order(&list_before).1,
        order(&list_after).0 > order(&list_after).1
    );
}
