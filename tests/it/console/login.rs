//! Logging in: an unknown email and a wrong password alike, the CSRF token required, lockouts
//! per account and per client address, and the return to the page asked for (never off-site).

use std::time::Instant;

use super::*;

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    // Warm up (the dummy hash is made once per process).
    app.login_attempt(&browser, "nobody@example.com", "whatever password")
        .await;

    let mut unknown_times = Vec::new();
    let mut wrong_times = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..3 {
        for (email, times) in [
            ("nobody@example.com", &mut unknown_times),
            (EMAIL, &mut wrong_times),
        ] {
            let started = Instant::now();
            let response = app.login_attempt(&browser, email, "not the password").await;
            times.push(started.elapsed());
            assert_eq!(response.status(), 401);
            let body = response.text().await.unwrap();
            pages.push(body.replace(email, "EMAIL"));
        }
    }
    assert!(
        pages.windows(2).all(|w| w[0] == w[1]),
        "the same page for both"
    );
    assert!(pages[0].contains("The email or password is incorrect."));
    assert!(
        pages[0].contains(r#"value="EMAIL""#),
        "the page keeps the email typed"
    );

    // Both paths run argon2: the unknown email is not answered measurably faster.
    let unknown = unknown_times.iter().min().unwrap().as_secs_f64();
    let wrong = wrong_times.iter().min().unwrap().as_secs_f64();
    assert!(
        unknown > wrong * 0.3,
        "unknown {unknown:.4}s vs wrong {wrong:.4}s"
    );
}

#[tokio::test]
async fn login_without_a_valid_csrf_token_is_refused() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let other_sessions_token = app.login_csrf(&reqwest::Client::new()).await;
    app.login_csrf(&browser).await;
    for token in [
        None,
        Some(""),
        Some("0000"),
        Some(other_sessions_token.as_str()),
    ] {
        let mut form = vec![("email", EMAIL), ("password", PASSWORD)];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let response = browser
            .post(app.url("/console/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{token:?}");
    }
    let response = browser.get(app.url("/console")).send().await.unwrap();
    assert_redirects_to_login(&response);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login'")
            .await,
        0
    );
}

#[tokio::test]
async fn ten_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    for _ in 0..10 {
        let response = app.login_attempt(&browser, EMAIL, "wrong password!").await;
        assert_eq!(response.status(), 401);
    }
    let locked = app.login_attempt(&browser, EMAIL, PASSWORD).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().get("retry-after").is_some());
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'lockout'")
            .await,
        1
    );
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed'")
            .await
            >= 10
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login_refused'")
            .await,
        1
    );

    // The first lockout lasts a minute.
    app.clock.advance(time::Duration::seconds(61));
    // A new failure locks it again, for twice as long.
    assert_eq!(
        app.login_attempt(&browser, EMAIL, "wrong again!!")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login_attempt(&browser, EMAIL, PASSWORD).await.status(),
        429
    );
    app.clock.advance(time::Duration::seconds(61));
    assert_eq!(
        app.login_attempt(&browser, EMAIL, PASSWORD).await.status(),
        429,
        "doubled"
    );
    app.clock.advance(time::Duration::seconds(60));
    let response = app.login_attempt(&browser, EMAIL, PASSWORD).await;
    assert_eq!(response.status(), 303, "the lockout has expired");
}

#[tokio::test]
async fn a_lockout_on_an_unknown_email_looks_the_same() {
    let app = spawn_app().await;
    let browser = browser();
    for _ in 0..10 {
        assert_eq!(
            app.login_attempt(&browser, "ghost@example.com", "wrong password!")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login_attempt(&browser, "ghost@example.com", "wrong password!")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn failures_are_limited_per_client_address_too() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    // Spread over many accounts so no single account locks.
    for i in 0..50 {
        let email = format!("guess{i}@example.com");
        assert_eq!(
            app.login_attempt(&browser, &email, "wrong password!")
                .await
                .status(),
            401,
            "{i}"
        );
    }
    assert_eq!(
        app.login_attempt(&browser, EMAIL, PASSWORD).await.status(),
        429
    );
}

#[tokio::test]
async fn login_returns_to_the_asked_console_page() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let asked = browser
        .get(app.url("/console/audit?action=login"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&asked);
    let login_url = location(&asked);
    assert_eq!(
        login_url,
        "/console/login?next=%2Fconsole%2Faudit%3Faction%3Dlogin"
    );
    let (_, page) = app.get_page(&browser, &login_url).await;
    assert!(page.contains(r#"name="next" value="/console/audit?action=login""#));
    let token = csrf_in(&page);
    let response = browser
        .post(app.url("/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
            ("next", "/console/audit?action=login"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/console/audit?action=login");
}

#[tokio::test]
async fn login_never_sends_the_operator_off_site() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    for next in [
        "//evil.example",
        "https://evil.example/console",
        "/\\evil.example",
        "\\\\evil.example",
        "/console/../..//evil.example",
        "/console\r\nLocation: https://evil.example",
        "javascript:alert(1)",
    ] {
        let browser = browser();
        let (_, page) = app
            .get_page(
                &browser,
                &format!(
                    "/console/login?{}",
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("next", next)
                        .finish()
                ),
            )
            .await;
        assert!(!page.contains(r#"name="next""#), "{next:?} offered back");
        let token = csrf_in(&page);
        let response = browser
            .post(app.url("/console/login"))
            .form(&[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), "/console", "{next:?}");
    }
}
