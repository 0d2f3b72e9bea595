//! Item 6: throttles used the TCP peer, so behind a proxy every client shared one address.
//! `STORELINK_TRUSTED_PROXIES` names the peers whose `X-Forwarded-For`/`Forwarded` is believed;
//! nobody else's is.

use super::app_with;
use crate::helpers::*;

async fn start(app: &TestApp, header: Option<(&str, &str)>) -> u16 {
    let mut request = browser().get(app.url("/install/maropost?store_domain=a.example.com"));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn trusted_proxies_forwarded_headers_are_ignored_from_anyone_else() {
    // No trusted proxy: a client cannot dodge its limit by claiming other addresses.
    let app = app_with(|s| s.install_rate_limit = 2).await;
    assert_eq!(
        start(&app, Some(("x-forwarded-for", "203.0.113.1"))).await,
        303
    );
    assert_eq!(
        start(&app, Some(("x-forwarded-for", "203.0.113.2"))).await,
        303
    );
    assert_eq!(
        start(&app, Some(("forwarded", "for=203.0.113.3"))).await,
        429
    );
    assert_eq!(start(&app, None).await, 429);
}

#[tokio::test]
async fn trusted_proxies_name_the_client_behind_them() {
    let app = app_with(|s| {
        s.install_rate_limit = 2;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let a = Some(("x-forwarded-for", "203.0.113.1"));
    assert_eq!(start(&app, a).await, 303);
    assert_eq!(start(&app, a).await, 303);
    assert_eq!(start(&app, a).await, 429, "client A used its allowance");
    // Client B behind the same proxy has its own.
    assert_eq!(
        start(&app, Some(("x-forwarded-for", "203.0.113.2"))).await,
        303
    );
    assert_eq!(
        start(&app, Some(("forwarded", "for=\"203.0.113.3\""))).await,
        303
    );
    // What A writes in front of the proxy's entry is not believed: the proxy appended A.
    assert_eq!(
        start(&app, Some(("x-forwarded-for", "198.51.100.9, 203.0.113.1"))).await,
        429
    );

    // The login throttle and the audit log see the same client address.
    let browser = browser();
    let csrf = app.login_csrf(&browser).await;
    let response = browser
        .post(app.url("/console/login"))
        .header("x-forwarded-for", "203.0.113.77")
        .form(&[
            ("email", "nobody@example.com"),
            ("password", "wrong password!!"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let fields: String =
        sqlx::query_scalar("SELECT fields FROM audit_log WHERE action = 'login_failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(fields.contains("203.0.113.77"), "{fields}");
    let throttled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM login_throttle WHERE subject = 'client:203.0.113.77'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(throttled, 1);
}
