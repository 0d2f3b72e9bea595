//! Endpoints in the console and on the command line: added with their secret shown once, a
//! test event sent and its attempt shown, a message sent again, the secret rotated, disabled,
//! removed; every change audited and CSRF-protected.

use super::*;
use crate::operator::ConsoleSession;

/// Posts the add-endpoint form with the session's CSRF token as the browser does: `fields`
/// already URL-encoded, repeated `events` fields included (which `.form()` cannot send).
async fn add_form(operator: &ConsoleSession, fields: &str) -> reqwest::Response {
    operator
        .client
        .post(operator.url("/console/endpoints"))
        .body(format!("csrf_token={}&{fields}", operator.csrf()))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_operator_adds_an_endpoint_sends_a_test_event_and_sees_the_attempt() {
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    let mut operator = n.app.operator().await;
    let page = operator.form_page("/console/endpoints").await;
    assert!(page.contains("No endpoints yet"));
    let url = format!("{}/from-console", n.receiver.uri());

    // Without the CSRF token: refused.
    let refused = operator
        .post_form_bare(
            "/console/endpoints",
            &[("url", url.as_str()), ("events", "install.created")],
        )
        .await;
    assert_eq!(refused.status(), 403);

    let added = add_form(
        &operator,
        &format!(
            "url={}&events=install.created&events=install.revoked&enabled=on",
            url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
        ),
    )
    .await;
    assert_eq!(added.status(), 200);
    let added = added.text().await.unwrap();
    let secret: String = added
        .split("value=\"whsec_")
        .nth(1)
        .expect("the secret is shown")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(added.contains("install.created, install.revoked"));
    // Shown once: not on the next visit.
    let list = operator.get("/console/endpoints").await;
    assert!(!list.contains("whsec_"));
    let id: String = sqlx::query_scalar("SELECT id FROM notify_endpoints")
        .fetch_one(&n.app.db)
        .await
        .unwrap();
    assert!(list.contains(&format!("/console/endpoints/{id}")));

    // Send test event.
    operator
        .form_page(&format!("/console/endpoints/{id}"))
        .await;
    let sent = operator
        .post_form(&format!("/console/endpoints/{id}/test"), &[])
        .await;
    assert_eq!(sent.status(), 303);
    let got = n.wait_for(1).await;
    assert_eq!(got[0].event_type(), "ping");
    standardwebhooks::Webhook::new(&format!("whsec_{secret}"))
        .unwrap()
        .verify(&got[0].body, &got[0].headers)
        .unwrap();
    let message = got[0].id.clone();
    n.wait_for_attempts(&message, 1).await;
    let detail = operator
        .form_page(&format!("/console/endpoints/{id}"))
        .await;
    assert!(detail.contains(&message));
    assert!(detail.contains("200 OK"));
    assert!(detail.contains(" ms</td>"));
    assert!(detail.contains("Delivered"));

    // Send again: the same message (same webhook-id) once more.
    let again = operator
        .post_form(
            &format!("/console/endpoints/{id}/messages/{message}/send-again"),
            &[],
        )
        .await;
    assert_eq!(again.status(), 303);
    let got = n.wait_for(2).await;
    assert_eq!(got[1].id, message);
    assert_eq!(got[1].body, got[0].body);

    // Rotate: a new secret, shown once.
    let rotated = operator
        .post_form(&format!("/console/endpoints/{id}/rotate"), &[])
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated = rotated.text().await.unwrap();
    assert!(rotated.contains("value=\"whsec_"));
    assert!(
        !rotated.contains(&secret),
        "the old secret is never shown again"
    );

    // Disable, then remove after the confirmation step.
    let disabled = operator
        .post_form(&format!("/console/endpoints/{id}/disable"), &[])
        .await;
    assert_eq!(disabled.status(), 303);
    let detail = operator.get(&format!("/console/endpoints/{id}")).await;
    assert!(detail.contains("Disabled"));
    operator
        .form_page(&format!("/console/endpoints/{id}/remove"))
        .await;
    let removed = operator
        .post_form(&format!("/console/endpoints/{id}/remove"), &[])
        .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(
        n.app.count("SELECT count(*) FROM notify_endpoints").await,
        0
    );
    assert_eq!(n.app.count("SELECT count(*) FROM notify_messages").await, 0);

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE actor = 'operator:ops@example.com' AND action NOT LIKE 'login%' ORDER BY id",
    )
    .fetch_all(&n.app.db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "endpoint_added",
            "notification_sent",
            "notification_sent",
            "endpoint_secret_rotated",
            "endpoint_disabled",
            "endpoint_removed"
        ]
    );
}

#[tokio::test]
async fn the_console_refuses_bad_urls_and_unknown_endpoints() {
    let n = spawn_notified_with(|s| s.allow_private_endpoints = false).await;
    let mut operator = n.app.operator().await;
    operator.form_page("/console/endpoints").await;
    let refused = add_form(&operator, "url=http%3A%2F%2F127.0.0.1%2Fx&events=ping").await;
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("is not an event type"), "{text}");
    let refused = add_form(
        &operator,
        "url=http%3A%2F%2F127.0.0.1%2Fx&events=install.created",
    )
    .await;
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("https only"), "{text}");
    assert!(text.contains("aria-invalid=\"true\""));
    for path in [
        "/console/endpoints/0123456789abcdef01234567",
        "/console/endpoints/not-an-id",
    ] {
        let response = operator.get_response(path).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    assert_eq!(
        n.app.count("SELECT count(*) FROM notify_endpoints").await,
        0
    );
}

#[tokio::test]
async fn the_command_line_adds_lists_and_removes_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
            .env_clear()
            .current_dir(dir.path())
            .env("STORELINK_DATABASE_URL", "sqlite://cli.db")
            .args(args)
            .output()
            .unwrap()
    };
    let added = run(&[
        "endpoint",
        "add",
        "http://127.0.0.1:9/hooks",
        "--events",
        "install.created,order.status_changed",
        "--rate-limit",
        "5",
        "--max-in-flight",
        "2",
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let stdout = String::from_utf8(added.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the secret alone on stdout: {stdout:?}");
    assert!(lines[0].starts_with("whsec_"));
    assert!(standardwebhooks::Webhook::new(lines[0]).is_ok());

    let bad = run(&[
        "endpoint",
        "add",
        "http://127.0.0.1:9/x",
        "--events",
        "bogus",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an event type"));
    let bad = run(&[
        "endpoint",
        "add",
        "http://127.0.0.1:9/x",
        "--rate-limit",
        "0",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rate-limit must be"));

    let listed = run(&["endpoint", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains(
            "http://127.0.0.1:9/hooks\tinstall.created, order.status_changed\tat most 5 a second, 2 at once\tenabled"
        ),
        "{listed}"
    );
    assert!(!listed.contains("whsec_"));

    // Recover: how many, on stdout; a time that is not RFC 3339 is refused.
    let recovered = run(&[
        "endpoint",
        "recover",
        "http://127.0.0.1:9/hooks",
        "--since",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(
        recovered.status.success(),
        "{}",
        String::from_utf8_lossy(&recovered.stderr)
    );
    assert_eq!(String::from_utf8(recovered.stdout).unwrap(), "0\n");
    let bad = run(&[
        "endpoint",
        "recover",
        "http://127.0.0.1:9/hooks",
        "--since",
        "yesterday",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));

    let removed = run(&["endpoint", "remove", "http://127.0.0.1:9/hooks"]);
    assert!(removed.status.success());
    let listed = run(&["endpoint", "list"]);
    assert!(listed.stdout.is_empty());
    let missing = run(&["endpoint", "remove", "http://127.0.0.1:9/hooks"]);
    assert!(!missing.status.success());
}

#[tokio::test]
async fn an_operator_sets_limits_and_sends_again_what_failed_since_a_time() {
    // Setup: an endpoint added with limits through the form, and one failed message.
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    let mut operator = n.app.operator().await;
    operator.form_page("/console/endpoints").await;
    let url = format!("{}/limited", n.receiver.uri());
    let encoded = url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>();
    let refused = add_form(
        &operator,
        &format!("url={encoded}&events=install.created&rate_limit=0&max_in_flight=4&enabled=on"),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        n.app.count("SELECT count(*) FROM notify_endpoints").await,
        0
    );
    let added = add_form(
        &operator,
        &format!("url={encoded}&events=install.created&rate_limit=5&max_in_flight=4&enabled=on"),
    )
    .await;
    assert_eq!(added.status(), 200);
    let id: String = sqlx::query_scalar("SELECT id FROM notify_endpoints")
        .fetch_one(&n.app.db)
        .await
        .unwrap();
    let page = operator
        .form_page(&format!("/console/endpoints/{id}"))
        .await;
    assert!(page.contains("at most 5 a second, 4 at once"), "{page}");

    // Exec: change the limits; send again what failed since a time.
    let saved = operator
        .post_form(
            &format!("/console/endpoints/{id}/limits"),
            &[("rate_limit", ""), ("max_in_flight", "8")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let message = storelink::db::outbox::enqueue_to(
        &n.app.db,
        &id,
        EventType::Ping,
        &serde_json::json!({}),
        n.app.clock.unix(),
    )
    .await
    .unwrap()
    .unwrap();
    sqlx::query("UPDATE notify_messages SET status = 'failed' WHERE id = $1")
        .bind(&message)
        .execute(&n.app.db)
        .await
        .unwrap();
    let since = storelink::domain::rfc3339(n.app.clock.unix() - 60);
    let recovered = operator
        .post_form(
            &format!("/console/endpoints/{id}/recover"),
            &[("since", since.trim_end_matches('Z'))],
        )
        .await;
    assert_eq!(recovered.status(), 303);

    // Check: the limits are stored, the message is sent again with its id, both audited.
    let page = operator.get(&format!("/console/endpoints/{id}")).await;
    assert!(page.contains("no rate limit, 8 at once"), "{page}");
    let got = n.wait_for(1).await;
    assert_eq!(got[0].id, message);
    for action in ["endpoint_changed", "endpoint_recovered"] {
        let audited = n
            .app
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE action = '{action}'"
            ))
            .await;
        assert_eq!(audited, 1, "{action}");
    }
}
