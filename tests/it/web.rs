//! Cross-cutting web behaviour: headers, cookies, health, 404s.

use url::Url;

use crate::helpers::*;

fn assert_security_headers(response: &reqwest::Response) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .expect("a CSP")
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("object-src 'none'"));
    assert!(csp.contains("base-uri 'none'"));
    assert!(csp.contains("default-src 'none'") || csp.contains("default-src 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn security_headers_on_a_page_a_404_an_error_page_and_a_redirect() {
    let app = spawn_app().await;
    let browser = browser();
    let page = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_security_headers(&page);
    assert_eq!(page.headers()["cache-control"], "no-store");

    let missing = browser.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing);
    assert!(missing.text().await.unwrap().contains("Page not found"));

    let error = app
        .callback(&browser, &[("code", "c"), ("state", "bogus")])
        .await;
    assert_eq!(error.status(), 400);
    assert_security_headers(&error);

    let redirect = browser
        .get(app.url("/install/maropost?store_domain=a.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 303);
    assert_security_headers(&redirect);

    let css = browser
        .get(app.url("/static/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_security_headers(&css);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(page.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn hsts_and_secure_cookies_when_the_public_url_is_https() {
    let app = spawn_with(Options {
        public_url: Some(Url::parse("https://storelink.example.com").unwrap()),
        ..Options::default()
    })
    .await;
    let response = browser()
        .get(app.url("/install/maropost?store_domain=a.example.com"))
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some()
    );
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    let redirect_uri = location(&response);
    assert!(
        redirect_uri.contains(
            "redirect_uri=https%3A%2F%2Fstorelink.example.com%2Foauth%2Fmaropost%2Fcallback"
        ),
        "the redirect URI comes from the public URL, not the request: {redirect_uri}"
    );
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    let response = browser()
        .get(app.url("/install/maropost?store_domain=a.example.com"))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("storelink_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http in tests");
}

#[tokio::test]
async fn redirect_uri_ignores_the_host_header() {
    let app = spawn_app().await;
    let response = browser()
        .get(app.url("/install/maropost?store_domain=a.example.com"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(!location(&response).contains("evil.example"));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = browser().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn landing_page_has_the_maropost_card() {
    let app = spawn_app().await;
    let body = browser()
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Maropost Commerce Cloud"));
    assert!(body.contains(r#"action="/install/maropost""#));
    assert!(body.contains(r#"name="store_domain""#));
    assert!(!body.contains("sandbox mode"), "not in sandbox mode");
}

#[tokio::test]
async fn oversized_form_bodies_are_refused() {
    let app = spawn_app().await;
    let big = "a".repeat(3 * 1024 * 1024);
    let response = browser()
        .post(app.url("/install/maropost"))
        .form(&[("store_domain", big.as_str())])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_eq!(app.count("SELECT COUNT(*) FROM oauth_states").await, 0);
}

/// The binary, started from an empty directory (no `static/` beside it), serves its stylesheet,
/// icon and scripts: they are in the binary. Pages link them with a version that may be cached
/// for a year; an unversioned URL is not stored.
#[tokio::test]
async fn assets_come_from_the_binary_whatever_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_binary(dir.path(), &[("RUST_LOG", "info")]).await;
    let port = running.port;
    assert!(!dir.path().join("static").exists());
    let base = Url::parse(&format!("http://localhost:{port}/")).unwrap();
    let client = reqwest::Client::new();
    let landing = client
        .get(base.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = landing
        .find("/static/style.css?v=")
        .expect("the page links the stylesheet");
    let href: String = landing[start..].chars().take_while(|c| *c != '"').collect();

    let css = client.get(base.join(&href).unwrap()).send().await.unwrap();
    assert_eq!(css.status(), 200, "{href}");
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = css.headers()["etag"].clone();
    assert!(css.text().await.unwrap().contains("body"));

    let plain = client
        .get(base.join("/static/style.css").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.headers()["cache-control"],
        "no-store",
        "unversioned: not stored"
    );
    let again = client
        .get(base.join("/static/style.css").unwrap())
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let icon = client
        .get(base.join("/favicon.ico").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    let missing = client
        .get(base.join("/static/nope.css").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let escape = client
        .get(base.join("/static/..%2fCargo.toml").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(escape.status(), 404, "only embedded files");
    running.child.kill().await.unwrap();
}
