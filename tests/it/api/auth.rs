//! Keys: every refusal looks the same, revoked keys stop at once, the rate limit answers 429
//! with Retry-After, and a key's use is recorded.

use std::time::Duration;

use storelink::db::api_keys;

use super::*;

/// Every endpoint that needs a key, with its method.
const ENDPOINTS: [(&str, &str); 7] = [
    ("GET", "/api/v1/installs"),
    ("GET", "/api/v1/installs/0123456789abcdef0123456789abcdef"),
    (
        "POST",
        "/api/v1/installs/0123456789abcdef0123456789abcdef/access-token",
    ),
    (
        "POST",
        "/api/v1/installs/0123456789abcdef0123456789abcdef/revoke",
    ),
    (
        "GET",
        "/api/v1/installs/0123456789abcdef0123456789abcdef/proxy",
    ),
    (
        "PUT",
        "/api/v1/installs/0123456789abcdef0123456789abcdef/proxy/orders",
    ),
    ("GET", "/api/v1/events"),
];

#[tokio::test]
async fn every_endpoint_refuses_without_a_valid_key_and_every_refusal_is_the_same() {
    let app = spawn_app().await;
    let revoked = app.api_key("old").await;
    api_keys::revoke(&app.db, "old", "test", 0).await.unwrap();
    let valid_form_unknown = storelink::domain::api_key::ApiKeySecret::generate();
    let unknown = valid_form_unknown.expose().to_owned();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("empty", Some(String::new())),
        ("not bearer", Some(format!("Basic {unknown}"))),
        ("malformed", Some("Bearer slk_short".into())),
        ("no prefix", Some(format!("Bearer {}", &unknown[4..]))),
        ("unknown", Some(format!("Bearer {unknown}"))),
        ("revoked", Some(format!("Bearer {revoked}"))),
        ("two keys", Some(format!("Bearer {unknown} {unknown}"))),
    ];
    let mut bodies = Vec::new();
    for (method, path) in ENDPOINTS {
        for (case, header) in &cases {
            let mut request = backend().request(method.parse().unwrap(), app.url(path));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path}: {case}");
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"storelink\"",
                "{case}"
            );
            bodies.push(problem(response, 401).await);
        }
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "nothing in the answer tells the cases apart"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'token_read'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_from_the_next_request_on() {
    let app = spawn_app().await;
    let id = app
        .maropost_install("5150", "revoked-key.example.com", "store-token")
        .await;
    let key = app.api_key("backend").await;
    let token = format!("/api/v1/installs/{id}/access-token");
    let proxied = format!("/api/v1/installs/{id}/proxy");
    assert_eq!(app.api_get(&key, "/api/v1/installs").await.status(), 200);
    // The token and the proxy read the key in the query that reads the install.
    assert_eq!(app.api_post(&key, &token).await.status(), 200);
    let before = app.api_get(&key, &proxied).await.status();
    assert_ne!(before, 401, "the proxy let the live key through");
    app.maropost.reset().await;
    // Revoked with the command line, as an operator would (a separate process).
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .args(["api-key", "revoke", "backend"])
        .env("STORELINK_DATABASE_URL", &app.settings.database_url)
        .env("STORELINK_SANDBOX", "on")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(app.api_get(&key, "/api/v1/installs").await.status(), 401);
    problem(app.api_post(&key, &token).await, 401).await;
    problem(app.api_get(&key, &proxied).await, 401).await;
    assert!(
        app.maropost_untouched().await,
        "nothing reached the platform for the revoked key"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'api_key_revoked' AND actor = 'cli'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_cli_prints_a_new_key_alone_and_lists_keys_without_them() {
    let app = spawn_app().await;
    let run = |args: &'static [&'static str]| {
        let url = app.settings.database_url.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
                .args(args)
                .env("STORELINK_DATABASE_URL", url)
                .env("STORELINK_SANDBOX", "on")
                .output()
                .await
                .unwrap()
        }
    };
    let created = run(&["api-key", "create", "billing sync"]).await;
    assert!(created.status.success());
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on one line: {stdout:?}");
    let key = lines[0];
    assert!(key.starts_with("slk_") && key.len() == 47);
    assert_eq!(app.api_get(key, "/api/v1/installs").await.status(), 200);

    let again = run(&["api-key", "create", "billing sync"]).await;
    assert!(!again.status.success(), "names are unique among live keys");

    let listed = run(&["api-key", "list"]).await;
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(listing.contains("billing sync"));
    assert!(listing.contains(&key[..8]), "the shown prefix");
    assert!(!listing.contains(key), "never the key");
    assert!(
        !listing.contains("last used: never"),
        "the request above was recorded"
    );

    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 64 && !h.contains(&key[4..])),
        "only a hash"
    );
}

#[tokio::test]
async fn past_the_rate_limit_a_key_gets_429_with_retry_after() {
    let app = spawn_with(Options {
        api_rate_limit: Some(2),
        ..Options::default()
    })
    .await;
    let key = app.api_key("busy").await;
    let other = app.api_key("quiet").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.api_get(&key, "/api/v1/installs")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        &statuses[..4],
        [200, 200, 200, 200],
        "a burst of twice the rate"
    );
    let limited = app.api_get(&key, "/api/v1/installs").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    let body = problem(limited, 429).await;
    assert_eq!(body["retry_after"], retry_after);
    assert_eq!(
        app.api_get(&other, "/api/v1/installs").await.status(),
        200,
        "the limit is per key"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.api_get(&key, "/api/v1/installs").await.status(), 200);
}

#[tokio::test]
async fn the_token_and_the_proxy_count_towards_the_keys_rate() {
    let app = spawn_with(Options {
        api_rate_limit: Some(1),
        ..Options::default()
    })
    .await;
    let id = app
        .maropost_install("5150", "rated.example.com", "store-token")
        .await;
    let key = app.api_key("busy").await;
    let token = format!("/api/v1/installs/{id}/access-token");
    // A burst of twice the rate: one token read, one proxied call...
    assert_eq!(app.api_post(&key, &token).await.status(), 200);
    let proxied = app
        .api_get(&key, &format!("/api/v1/installs/{id}/proxy"))
        .await;
    assert_ne!(proxied.status(), 429);
    app.maropost.reset().await;
    // ...and then neither, nor a read of an install that does not exist.
    problem(app.api_post(&key, &token).await, 429).await;
    problem(
        app.api_get(&key, &format!("/api/v1/installs/{id}/proxy"))
            .await,
        429,
    )
    .await;
    problem(
        app.api_post(
            &key,
            "/api/v1/installs/0123456789abcdef0123456789abcdef/access-token",
        )
        .await,
        429,
    )
    .await;
    assert!(app.maropost_untouched().await, "a limited call is not sent");
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    let last_used = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT last_used_at FROM api_keys")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(last_used().await, None);
    app.api_get(&key, "/api/v1/installs").await;
    let first = last_used().await.unwrap();
    app.clock.advance(time::Duration::seconds(30));
    app.api_get(&key, "/api/v1/installs").await;
    assert_eq!(
        last_used().await,
        Some(first),
        "not again within the minute"
    );
    app.clock.advance(time::Duration::seconds(31));
    app.api_get(&key, "/api/v1/installs").await;
    assert_eq!(last_used().await, Some(first + 61));
}
