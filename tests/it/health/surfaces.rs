//! What shows health: the API (`health` and `reason` on every install object, the `health`
//! filter), the console (a badge and a filter on the list; the detail page's last check, last
//! success, failures, reason, what to do, and "Check now"), and the metrics.

use std::time::Duration;

use wiremock::ResponseTemplate;

use super::*;
use crate::api::problem;

/// A degraded install (S1), a working one (S2), one never checked (S3), and one needing
/// attention (S4); their ids in that order.
async fn four_kinds(n: &Notified) -> [String; 4] {
    let app = &n.app;
    let degraded = n.maropost("S1").await;
    let ok = n.maropost("S2").await;
    let unknown = n.maropost("S3").await;
    let rejected = n.maropost("S4").await;
    app.maropost_api_answers(ResponseTemplate::new(502)).await;
    for _ in 0..3 {
        app.check(&degraded).await.unwrap_err();
    }
    app.maropost_api_answers(ResponseTemplate::new(403)).await;
    app.check(&rejected).await.unwrap_err();
    app.maropost_api_answers(orders(1)).await;
    app.check(&ok).await.unwrap();
    [degraded, ok, unknown, rejected]
}

/// The ids of the installs `GET /api/v1/installs?{query}` lists.
async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let page = ok_json(app.api_get(key, &format!("/api/v1/installs?{query}")).await).await;
    let mut ids: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_api_shows_health_and_reason_and_filters_by_health() {
    let n = spawn_health(None, Duration::from_secs(5)).await;
    let app = &n.app;
    let [degraded, ok, unknown, rejected] = four_kinds(&n).await;
    let key = app.api_key("backend").await;

    let object = app.install_object(&degraded).await;
    assert_eq!(object["health"]["state"], "degraded");
    assert_eq!(object["health"]["consecutive_failures"], 3);
    assert!(
        object["health"]["checked_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(object["health"]["last_ok_at"], Value::Null);
    assert_eq!(object["reason"], Value::Null);
    assert!(
        object["health"]["last_error"]
            .as_str()
            .unwrap()
            .contains("HTTP 502"),
        "{object}"
    );
    let object = app.install_object(&unknown).await;
    assert_eq!(object["health"]["state"], "unknown");
    assert_eq!(object["health"]["checked_at"], Value::Null);
    let object = app.install_object(&rejected).await;
    assert_eq!(object["status"], "needs_attention");
    assert_eq!(object["reason"], "credentials_rejected");

    // Every object of the list carries them too.
    let page = ok_json(app.api_get(&key, "/api/v1/installs").await).await;
    for object in page["data"].as_array().unwrap() {
        assert!(object["health"]["state"].is_string(), "{object}");
        assert!(object.get("reason").is_some(), "{object}");
    }

    assert_eq!(
        listed(app, &key, "health=degraded").await,
        vec![degraded.clone()]
    );
    let mut working = vec![ok.clone()];
    working.sort();
    assert_eq!(listed(app, &key, "health=ok&status=active").await, working);
    assert_eq!(
        listed(app, &key, "health=unknown&status=active").await,
        vec![unknown.clone()]
    );
    problem(app.api_get(&key, "/api/v1/installs?health=sick").await, 400).await;
}

#[tokio::test]
async fn the_console_shows_health_on_the_list_and_the_page_and_checks_now() {
    let n = spawn_health(Some(Duration::from_secs(6 * 3600)), Duration::from_secs(5)).await;
    let app = &n.app;
    let [degraded, ok, _unknown, rejected] = four_kinds(&n).await;
    let mut operator = app.operator().await;

    let list = operator.get("/console").await;
    assert!(
        list.contains(r#"<span class="badge health-degraded">Degraded</span>"#),
        "{list}"
    );
    assert!(list.contains(r#"<span class="badge health-ok">OK</span>"#));
    assert!(list.contains(r#"<select id="health" name="health">"#));
    let filtered = operator.get("/console?health=degraded").await;
    assert!(
        filtered.contains(&degraded) && !filtered.contains(&ok),
        "{filtered}"
    );

    let page = operator.get(&format!("/console/installs/{degraded}")).await;
    assert!(page.contains(r#"<h2 id="health-heading">Health</h2>"#));
    assert!(page.contains("Failures in a row</dt><dd>3: "), "{page}");
    assert!(page.contains("HTTP 502"), "the last error: {page}");
    assert!(page.contains("Last success</dt><dd>none yet"), "{page}");
    assert!(page.contains("Next check"), "the checker is on: {page}");

    // A merchant's revocation: what happened, what to do, and the link that brings the same
    // install back.
    let page = operator.get(&format!("/console/installs/{rejected}")).await;
    assert!(
        page.contains("Needs attention: the platform refused the credentials."),
        "{page}"
    );
    assert!(page.contains("Checks go on"), "{page}");
    let link = format!(
        r#"value="{}install/maropost?store_domain={DOMAIN}""#,
        app.base
    );
    assert!(page.contains(&link), "{page}");

    // "Check now" checks at once, and the access that came back shows.
    app.maropost_api_answers(orders(1)).await;
    let calls = app.maropost_api_calls().await;
    let page = operator.test_connection(&rejected).await;
    assert_eq!(app.maropost_api_calls().await, calls + 1);
    assert!(page.contains("Connection test passed"), "{page}");
    assert!(!page.contains("Needs attention: "), "{page}");
    assert!(
        page.contains(r#"<span class="badge health-ok">OK</span>"#),
        "{page}"
    );
    let audit = operator
        .get(&format!("/console/audit?install={rejected}"))
        .await;
    assert!(audit.contains("credentials_rejected"), "{audit}");
}

#[tokio::test]
async fn the_metrics_count_installs_by_health_and_checks_by_outcome() {
    let n = crate::notify::spawn_notified_with(|s| {
        s.metrics.token = Some(secrecy::SecretString::from("metrics-token-0123456789"));
    })
    .await;
    crate::notify::answer(&n.receiver, 200).await;
    n.endpoint("/hook", "").await;
    let app = &n.app;
    four_kinds(&n).await;
    let metrics = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"storelink_installs_by_health{platform="maropost",status="active",health="degraded"}"#,
        r#"storelink_installs_by_health{platform="bol",status="revoked",health="ok"} 0"#,
        r#"storelink_health_checks_total{platform="maropost",outcome="failed"}"#,
        r#"storelink_health_checks_total{platform="maropost",outcome="rejected"}"#,
        r#"storelink_health_checks_total{platform="maropost",outcome="ok"}"#,
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}
