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
