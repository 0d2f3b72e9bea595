//! `/api/v1/installs/{id}/proxy[/{path}]`: hostile paths refused before anything is sent,
//! credentials injected and the backend's own never forwarded, bol.com's 401 refreshed once,
//! the platform's answers (429 included) passed back, oversized answers cut, timeouts 504.

use std::time::Duration;

use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path, path_regex},
};

use super::*;
use crate::bol::{TokenIssuer, header};

/// A Maropost install at `domain` and a key.
async fn maropost(app: &TestApp, domain: &str) -> (String, String) {
    let id = app
        .maropost_install("5150", domain, "store-token-5150")
        .await;
    (id, app.api_key("backend").await)
}

#[tokio::test]
async fn hostile_paths_are_refused_and_nothing_is_sent() {
    let app = spawn_app().await;
    let (id, key) = maropost(&app, "safe.example.com").await;
    let unknown = storelink::domain::api_key::ApiKeySecret::generate()
        .expose()
        .to_owned();
    app.maropost.reset().await;
    // Sent as written: an HTTP client would normalise `..` (and `%2e%2e`) away before sending.
    for hostile in [
        "..",
        "../..",
        "..%2f..%2fadmin",
        "%2e%2e/%2e%2e/etc/passwd",
        "%2E%2E",
        ".%2e/x",
        "a/../../b",
        "./x",
        "a//b",
        "/evil.example",
        "%2f%2fevil.example",
        "http://evil.example/x",
        "http:%2f%2fevil.example",
        "https:",
        "evil.example@x",
        "x%40evil.example",
        "a\\b",
        "a%5cb",
        "a%00",
        "a%0d%0aHost:evil",
        "%zz",
    ] {
        let path = format!("/api/v1/installs/{id}/proxy/{hostile}");
        let answer = raw_get(&app, &path, &key).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{hostile}: {answer}");
        assert!(answer.contains("application/problem+json"), "{hostile}");
        // The key is checked first: without a live one, nothing about the path is told.
        let answer = raw_get(&app, &path, &unknown).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{hostile}: {answer}");
    }
    assert!(
        app.maropost_untouched().await,
        "nothing reached the platform"
    );
}

/// Sends a request line as written (no client-side normalisation); the status line and more.
async fn raw_get(app: &TestApp, path: &str, key: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let port = app.base.port().unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn maropost_calls_carry_the_stores_credentials_and_never_the_backends() {
    let app = spawn_app().await;
    let (id, key) = maropost(&app, "creds.example.com").await;
    app.maropost.reset().await;
    let api = "/maropost/creds.example.com/do/WS/NetoAPI";
    Mock::given(method("POST"))
        .and(path(api))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"Ack":"Success","Order":[]}"#, "application/json"),
        )
        .mount(&app.maropost)
        .await;
    let response = backend()
        .post(app.url(&format!("/api/v1/installs/{id}/proxy?x=1&y=two")))
        .bearer_auth(&key)
        .header("NETOAPI_ACTION", "GetOrder")
        .header("content-type", "application/json")
        .header("cookie", "session=backend")
        .header("x_secret_key", "spoofed")
        .body(r#"{"Filter":{"OrderID":"N1"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"Ack":"Success","Order":[]}"#
    );
    let sent = app.requests_to(api).await;
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert_eq!(
        sent.url.query(),
        Some("x=1&y=two"),
        "the query passes along"
    );
    assert_eq!(header(sent, "x_access_key"), CLIENT_ID);
    assert_eq!(
        header(sent, "x_secret_key"),
        "store-token-5150",
        "never the backend's"
    );
    assert_eq!(header(sent, "netoapi_action"), "GetOrder");
    assert_eq!(header(sent, "content-type"), "application/json");
    assert_eq!(
        header(sent, "authorization"),
        "",
        "the backend's key stays behind"
    );
    assert_eq!(header(sent, "cookie"), "");
    assert_eq!(sent.body, br#"{"Filter":{"OrderID":"N1"}}"#);
}

#[tokio::test]
async fn bol_calls_refresh_once_on_401_and_retry() {
    let app = spawn_app().await;
    let issuer = TokenIssuer::new(&app, 300);
    let issued = issuer.issued.clone();
    let id = app.connect_bol(&browser(), issuer).await;
    let key = app.api_key("backend").await;
    let mut next = TokenIssuer::new(&app, 300);
    next.issued = issued.clone();
    app.bol_token_endpoint(next).await;
    // The first token is refused (bol.com revoked it early); the refreshed one works.
    Mock::given(method("GET"))
        .and(path("/bol/retailer/orders"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(serde_json::json!({"title": "Expired JWT"})),
        )
        .up_to_n_times(1)
        .mount(&app.maropost)
        .await;
    Mock::given(method("GET"))
        .and(path("/bol/retailer/orders"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"orders":[]}"#, "application/vnd.retailer.v10+json"),
        )
        .mount(&app.maropost)
        .await;
    let response = app
        .api_get(&key, &format!("/api/v1/installs/{id}/proxy/orders?page=1"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.retailer.v10+json"
    );
    let calls = app.requests_to("/bol/retailer/orders").await;
    assert_eq!(calls.len(), 2, "one retry");
    assert_ne!(
        header(&calls[0], "authorization"),
        header(&calls[1], "authorization")
    );
    assert!(header(&calls[1], "authorization").starts_with("Bearer ey"));
    assert_eq!(
        header(&calls[1], "accept"),
        "application/vnd.retailer.v10+json"
    );
    assert_eq!(calls[1].url.query(), Some("page=1"));
    assert_eq!(
        issued.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one refresh"
    );
}

#[tokio::test]
async fn the_platforms_answers_pass_back_429_with_retry_after() {
    let app = spawn_app().await;
    let id = app
        .connect_bol(&browser(), TokenIssuer::new(&app, 300))
        .await;
    let key = app.api_key("backend").await;
    Mock::given(method("GET"))
        .and(path_regex("^/bol/retailer/shipments.*"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_raw(
                    r#"{"title":"Too Many Requests"}"#,
                    "application/problem+json",
                ),
        )
        .mount(&app.maropost)
        .await;
    Mock::given(method("PUT"))
        .and(path("/bol/retailer/orders/1"))
        .respond_with(ResponseTemplate::new(404).set_body_raw("nope", "text/plain"))
        .mount(&app.maropost)
        .await;
    let limited = app
        .api_get(&key, &format!("/api/v1/installs/{id}/proxy/shipments"))
        .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(
        limited.text().await.unwrap(),
        r#"{"title":"Too Many Requests"}"#
    );
    let missing = backend()
        .put(app.url(&format!("/api/v1/installs/{id}/proxy/orders/1")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "the platform's status, as it is");
    assert_eq!(missing.text().await.unwrap(), "nope");
}

#[tokio::test]
async fn oversized_answers_are_cut_and_slow_platforms_are_504() {
    let app = spawn_with(Options {
        proxy_max_response: Some(64 * 1024),
        http_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let (id, key) = maropost(&app, "big.example.com").await;
    let api = "/maropost/big.example.com/do/WS/NetoAPI";
    app.maropost.reset().await;
    Mock::given(method("POST"))
        .and(path(api))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![b'x'; 100 * 1024], "text/plain"))
        .mount(&app.maropost)
        .await;
    let too_big = app
        .api_post(&key, &format!("/api/v1/installs/{id}/proxy"))
        .await;
    let body = problem(too_big, 502).await;
    assert!(body["detail"].as_str().unwrap().contains("65536"), "{body}");

    app.maropost.reset().await;
    Mock::given(method("POST"))
        .and(path(api))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&app.maropost)
        .await;
    let slow = app
        .api_post(&key, &format!("/api/v1/installs/{id}/proxy"))
        .await;
    problem(slow, 504).await;

    let request_too_big = backend()
        .post(app.url(&format!("/api/v1/installs/{id}/proxy")))
        .bearer_auth(&key)
        .body(vec![b'y'; 65 * 1024])
        .send()
        .await
        .unwrap();
    problem(request_too_big, 413).await;
}

#[tokio::test]
async fn an_answer_that_grows_past_the_cap_while_streaming_is_cut_off() {
    let app = spawn_with(Options {
        proxy_max_response: Some(64 * 1024),
        ..Options::default()
    })
    .await;
    // A platform that sends no Content-Length and keeps sending.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                let chunk = vec![b'z'; 16 * 1024];
                for _ in 0..32 {
                    if socket.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    // The platform's answer size is the proxy's business whatever the platform: a second
    // instance on the same database has bol.com's Retailer API at the streaming platform.
    let bol_id = app
        .connect_bol(&browser(), TokenIssuer::new(&app, 300))
        .await;
    let key = app.api_key("backend").await;
    let mut settings = app.settings.clone();
    settings
        .env
        .set("BOL_API_URL", format!("http://127.0.0.1:{port}/retailer"));
    let second =
        storelink::app::Application::build(settings, std::sync::Arc::new(app.clock.clone()))
            .await
            .unwrap();
    let second_base = format!("http://localhost:{}", second.port());
    tokio::spawn(second.run_until(std::future::pending()));
    let response = backend()
        .get(format!(
            "{second_base}/api/v1/installs/{bol_id}/proxy/orders"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the status came before the body");
    let read = response.bytes().await;
    assert!(
        read.is_err(),
        "the body is cut off with an error, not passed on in full"
    );
}

#[tokio::test]
async fn the_proxy_goes_through_the_outbound_guard() {
    // Private endpoints not allowed: a store whose API address is loopback (the stand-in, as a
    // hostile domain would resolve) gets no call, and no token.
    let app = spawn_with(Options {
        configure: Some(Box::new(|s: &mut storelink::config::Settings| {
            s.allow_private_endpoints = false;
        })),
        ..Options::default()
    })
    .await;
    let (id, key) = maropost(&app, "guarded.example.com").await;
    app.maropost.reset().await;
    let refused = app
        .api_post(&key, &format!("/api/v1/installs/{id}/proxy"))
        .await;
    let body = problem(refused, 502).await;
    assert!(
        body["detail"].as_str().unwrap().contains("does not call"),
        "{body}"
    );
    assert!(app.maropost_untouched().await, "nothing was sent");
}

#[tokio::test]
async fn methods_the_proxy_does_not_take_are_405_with_allow_and_never_sent() {
    let app = spawn_app().await;
    let (id, key) = maropost(&app, "methods.example.com").await;
    app.maropost.reset().await;
    for name in ["TRACE", "OPTIONS", "PROPFIND"] {
        let method = reqwest::Method::from_bytes(name.as_bytes()).unwrap();
        let answer = backend()
            .request(
                method,
                app.url(&format!("/api/v1/installs/{id}/proxy/orders")),
            )
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{name}");
        let allow = answer.headers()["allow"].to_str().unwrap().to_owned();
        for allowed in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(allow.contains(allowed), "{name}: {allow}");
        }
        problem(answer, 405).await;
    }
    assert!(
        app.maropost_untouched().await,
        "nothing reached the platform"
    );
}
