//! Access: every console route refuses an anonymous request; every console page carries the
//! security headers and is not cached.

use super::*;

#[tokio::test]
async fn every_console_route_refuses_an_anonymous_request() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", "tok").await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let anonymous = browser();
    for path in [
        "/console",
        &format!("/console/installs/{id}"),
        &format!("/console/installs/{id}/revoke"),
        "/console/audit",
    ] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        assert_redirects_to_login(&response);
    }
    let token = app.login_csrf(&anonymous).await;
    for path in [
        format!("/console/installs/{id}/revoke"),
        "/console/logout".into(),
    ] {
        let response = anonymous
            .post(app.url(&path))
            .form(&[("csrf_token", &token)])
            .send()
            .await
            .unwrap();
        assert_redirects_to_login(&response);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installs WHERE status = 'active'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
}

#[tokio::test]
async fn console_pages_carry_the_security_headers_and_are_not_cached() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    for path in [
        "/console",
        "/console/audit",
        "/console/installs/0123456789abcdef0123456789abcdef",
        "/console/login",
    ] {
        let response = operator.get_response(path).await;
        let h = response.headers();
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}
