//! Sessions: a new id at login and flagged cookies, the idle and absolute timeouts, and logging
//! out (CSRF-protected), after which the old cookie is worth nothing.

use super::*;

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("storelink_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// A client that sends exactly this cookie and keeps no other.
fn with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_session_id_is_cycled_at_login_and_cookies_are_flagged() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let page = browser.get(app.url("/console/login")).send().await.unwrap();
    let before = session_cookie(&page).expect("the login page starts a session");
    let token = csrf_in(&page.text().await.unwrap());

    let response = browser
        .post(app.url("/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let raw = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("storelink_session="))
        .expect("a new cookie at login");
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    let after = session_cookie(&response).unwrap();
    assert_ne!(before, after, "a new session id");

    assert_eq!(app.get_page(&browser, "/console").await.0, 200);
    let planted = with_cookie(&before)
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&planted);
    let current = with_cookie(&after)
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 200);
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_the_session() {
    let app = spawn_app().await;
    let operator = app.operator().await;

    // Activity keeps the session alive...
    for _ in 0..3 {
        app.clock.advance(time::Duration::minutes(29));
        assert_eq!(operator.get_response("/console").await.status(), 200);
    }
    // ...30 idle minutes end it.
    app.clock.advance(time::Duration::minutes(31));
    let response = operator.get_response("/console").await;
    assert_redirects_to_login(&response);
    assert_eq!(location(&response), "/console/login?expired=1");
    let page = operator.get("/console/login?expired=1").await;
    assert!(page.contains("Your session ended"));

    // However busy, 12 hours after login it ends too.
    let response = app.login_attempt(&operator.client, EMAIL, PASSWORD).await;
    assert_eq!(response.status(), 303);
    for _ in 0..(12 * 60 / 25) {
        app.clock.advance(time::Duration::minutes(25));
        assert_eq!(operator.get_response("/console").await.status(), 200);
    }
    app.clock.advance(time::Duration::minutes(25));
    assert_redirects_to_login(&operator.get_response("/console").await);
}

#[tokio::test]
async fn logout_destroys_the_session_and_needs_csrf() {
    let app = spawn_app().await;
    let mut operator = app.operator().await;
    operator.form_page("/console").await;

    let refused = operator
        .post_form_bare("/console/logout", &[("csrf_token", "nope")])
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        operator.get_response("/console").await.status(),
        200,
        "still logged in"
    );

    // Keep the cookie as it was before logging out.
    let cookie = session_cookie(&operator.get_response("/console/login").await);
    let response = operator.post_form("/console/logout", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/console/login?logged_out=1");
    let page = operator.get("/console/login?logged_out=1").await;
    assert!(page.contains("You have been logged out."));
    assert_redirects_to_login(&operator.get_response("/console").await);
    if let Some(cookie) = cookie {
        let old = with_cookie(&cookie)
            .get(app.url("/console"))
            .send()
            .await
            .unwrap();
        assert_redirects_to_login(&old);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'logout'")
            .await,
        1
    );
}

#[tokio::test]
async fn logout_invalidates_the_old_cookie_server_side() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let response = app.login_attempt(&browser, EMAIL, PASSWORD).await;
    let cookie = session_cookie(&response).unwrap();
    let token = csrf_in(&app.get_page(&browser, "/console").await.1);
    let out = browser
        .post(app.url("/console/logout"))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    // The cookie the browser had while logged in is now worth nothing.
    let replay = with_cookie(&cookie)
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&replay);
}
