//! Item 7: an email forged audit text; the fallback 404 lacked `Cache-Control: no-store`; a
//! one-character webhook key was accepted. (`error_description` on an unknown-state callback:
//! `interop::interop_an_unknown_state_callback_does_not_show_the_description`.)

use crate::helpers::*;

const FORGED: &str = "admin@example.com, from 203.0.113.9";

#[tokio::test]
async fn audit_text_cannot_be_forged_by_a_typed_email() {
    let app = spawn_app().await;
    let response = app
        .login_attempt(&browser(), FORGED, "wrong password!!")
        .await;
    assert_eq!(response.status(), 401);

    // Stored as values, apart from storelink's words.
    let (detail, fields): (String, String) =
        sqlx::query_as("SELECT detail, fields FROM audit_log WHERE action = 'login_failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!detail.contains("203.0.113.9"), "{detail}");
    let fields: Vec<(String, String)> = serde_json::from_str(&fields).unwrap();
    assert_eq!(
        fields,
        [
            ("email".to_owned(), FORGED.to_owned()),
            ("from".to_owned(), "127.0.0.1".to_owned())
        ]
    );

    // Shown as values: the forged text stays inside the email's value.
    let operator = app.operator().await;
    let page = operator.get("/console/audit").await;
    assert!(
        page.contains(&format!("<code>{FORGED}</code>")),
        "the email is one value: {page}"
    );
    assert!(page.contains("<code>127.0.0.1</code>"), "{page}");
    assert_eq!(
        page.matches("from 203.0.113.9").count(),
        1,
        "only inside the email's value"
    );
}

#[tokio::test]
async fn every_answer_is_no_store_even_the_fallback_404() {
    let app = spawn_app().await;
    let client = browser();
    for (method, path, status) in [
        ("GET", "/no/such/page", 404),
        ("GET", "/static/style.css", 200),
        ("GET", "/static/missing.css", 404),
        ("GET", "/healthz", 200),
        (
            "POST",
            "/webhooks/maropost/0123456789abcdef0123456789abcdef",
            404,
        ),
        ("GET", "/", 200),
    ] {
        let response = client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_webhook_key_needs_the_form_of_a_real_key() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "keys.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut operator = app.operator().await;
    operator.form_page(&format!("/console/installs/{id}")).await;
    let webhook_key = format!("/console/installs/{id}/webhook-key");
    for bad in [
        "k",
        "short-key-15chr",
        "sixteen chars ok",
        "key\"with<markup>x",
    ] {
        let response = operator
            .post_form(&webhook_key, &[("webhook_key", bad)])
            .await;
        assert_eq!(response.status(), 400, "{bad:?} was accepted");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials WHERE kind = 'webhook_key'")
            .await,
        0
    );
    let response = operator
        .post_form(&webhook_key, &[("webhook_key", "a-real-looking-key-0123")])
        .await;
    assert_eq!(response.status(), 303);
}
