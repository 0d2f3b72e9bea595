//! Also mended: the API's 405 is a problem; Merchant Center forward-to callers have a rate
//! limit; the API-keys page is paged; no page title holds markup; a proxied `..;` segment is
//! refused.

use crate::{api::backend, helpers::*};

#[tokio::test]
async fn a_wrong_method_on_an_api_route_is_a_problem_naming_the_allowed_ones() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/installs"),
        (reqwest::Method::GET, "/api/v1/connections"),
        (reqwest::Method::PUT, "/api/v1/events"),
        (reqwest::Method::GET, "/api/v1/installs/abc/access-token"),
    ] {
        let answer = backend()
            .request(method.clone(), app.url(path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {path}");
        assert!(answer.headers().contains_key("allow"), "{method} {path}");
        assert_eq!(
            answer.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let problem: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(problem["status"], 405);
        assert_eq!(problem["type"], "urn:storelink:problem:method-not-allowed");
    }
}

#[tokio::test]
async fn the_api_keys_page_shows_fifty_keys_a_page() {
    let app = spawn_app().await;
    for i in 0..120 {
        app.api_key(&format!("key-{i:03}")).await;
    }
    // A few revoked ones come after every live one.
    for i in 0..3 {
        storelink::db::api_keys::revoke(&app.db, &format!("key-{i:03}"), "test", 0)
            .await
            .unwrap();
    }
    let operator = app.operator().await;
    let mut seen = Vec::new();
    let mut path = "/console/api-keys".to_owned();
    for page_number in 0.. {
        let page = operator.get(&path).await;
        let rows = page.matches("<td class=\"mono\">slk_").count();
        assert!(rows <= 50, "{rows} rows on one page");
        for name in page.split("<td>key-").skip(1) {
            seen.push(name[..3].to_owned());
        }
        if page_number == 0 {
            assert!(page.contains("1\u{2013}50 of 120"), "the range is shown");
        }
        match page
            .split("\" rel=\"next\"")
            .next()
            .filter(|_| page.contains("rel=\"next\""))
        {
            Some(before) => {
                let next = before.rsplit("href=\"/console/api-keys?").next().unwrap();
                path = format!("/console/api-keys?{}", next.replace("&amp;", "&"));
            }
            None => break,
        }
        assert!(page_number < 5);
    }
    assert_eq!(seen.len(), 120, "every key once");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 120);
    assert_eq!(
        &seen[117..],
        ["002", "001", "000"],
        "revoked keys come last, newest first"
    );
    assert_eq!(seen[0], "119", "live keys first, newest first");
    let (status, _) = operator
        .get_with_status("/console/api-keys?after=sideways-3")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn no_page_title_holds_markup() {
    let app = spawn_app().await;
    let merchant = browser();
    app.install(&merchant, "s-title", "title.example.com", "tok")
        .await;
    let operator = app.operator().await;
    let mut pages = vec![
        merchant
            .get(app.url("/installed"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    ];
    for path in [
        "/",
        "/console",
        "/console/api-keys",
        "/console/audit",
        "/nothing",
    ] {
        pages.push(operator.get_with_status(path).await.1);
    }
    for page in pages {
        let title = page
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .expect("a title");
        assert!(!title.contains('<'), "markup in the title: {title:?}");
        assert!(!title.contains("&lt;script"), "{title:?}");
    }
}

#[tokio::test]
async fn a_proxied_segment_starting_with_two_dots_is_refused() {
    let app = spawn_app().await;
    app.install(&browser(), "s-dots", "dots.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let key = app.api_key("backend").await;
    app.maropost.reset().await;
    for path in ["..;", "..;/x", "a/..;x/b", "%2e%2e;", ".;/x"] {
        let answer = backend()
            .post(app.url(&format!("/api/v1/installs/{id}/proxy/{path}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{path}");
    }
    assert!(
        app.maropost.received_requests().await.unwrap().is_empty(),
        "nothing reached the platform"
    );
}
