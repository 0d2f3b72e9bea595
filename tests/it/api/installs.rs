//! `GET /api/v1/installs[/{id}]` and `POST .../revoke`: the install object, keyset pages that
//! neither skip nor repeat, and every bad parameter named.

use std::collections::HashSet;

use serde_json::json;

use super::*;

/// Seeds `n` installs straight into the database (spread over platforms and statuses).
async fn seed(app: &TestApp, n: usize, from: usize) {
    for i in from..from + n {
        let (platform, status) = match i % 4 {
            0 => ("bol", "active"),
            1 => ("maropost", "revoked"),
            2 => ("maropost", "needs_attention"),
            _ => ("maropost", "active"),
        };
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, store_domain, store_name, status,
                 initiated_by, installed_at, last_installed_at, updated_at, scope)
             VALUES ($1, $2, $3, $4, $5, $6, 'storelink', $7, $7, $7, 'api user')",
        )
        .bind(format!("{i:032x}"))
        .bind(platform)
        .bind(format!("acct-{i}"))
        .bind(format!("shop-{i}.example.com"))
        .bind(format!("Shop {i}"))
        .bind(status)
        // Several share a timestamp, so the id breaks ties.
        .bind(1_700_000_000 + (i as i64) / 3)
        .execute(&app.db)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn installs_are_listed_as_install_objects_without_secrets() {
    let app = spawn_app().await;
    let id = app
        .maropost_install("4242", "surf.example.com", "secret-token-4242")
        .await;
    let key = app.api_key("backend").await;
    let response = app.api_get(&key, "/api/v1/installs").await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("secret-token-4242"));
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["next_cursor"], Value::Null);
    let install = &list["data"][0];
    assert_eq!(install["id"], id);
    assert_eq!(install["platform"], "maropost");
    assert_eq!(install["status"], "active");
    assert_eq!(install["auth_kind"], "code");
    assert_eq!(install["store_domain"], "surf.example.com");
    assert_eq!(install["account_id"], "4242");
    assert_eq!(install["name"], "Ryan's Surf Shop");
    assert_eq!(install["scopes"], json!(["api", "user", "address"]));
    let installed = install["installed_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(installed, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{installed}"
    );
    let one = ok_json(app.api_get(&key, &format!("/api/v1/installs/{id}")).await).await;
    assert_eq!(&one, install);
}

#[tokio::test]
async fn pages_follow_the_newest_change_first_and_filter() {
    let app = spawn_app().await;
    seed(&app, 45, 0).await;
    let key = app.api_key("backend").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/installs?limit=10&cursor={c}"),
            None => "/api/v1/installs?limit=10".to_owned(),
        };
        let page = ok_json(app.api_get(&key, &path).await).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 10);
        seen.extend(data.iter().map(|i| {
            (
                i["updated_at"].as_str().unwrap().to_owned(),
                i["id"].as_str().unwrap().to_owned(),
            )
        }));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 45);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest change first, id breaking ties");

    let bol = ok_json(
        app.api_get(&key, "/api/v1/installs?platform=bol&limit=200")
            .await,
    )
    .await;
    assert!(
        bol["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["platform"] == "bol")
    );
    assert_eq!(bol["data"].as_array().unwrap().len(), 12);
    let attention = ok_json(
        app.api_get(
            &key,
            "/api/v1/installs?status=needs_attention&platform=maropost",
        )
        .await,
    )
    .await;
    assert_eq!(attention["data"].as_array().unwrap().len(), 11);
    let default = ok_json(app.api_get(&key, "/api/v1/installs").await).await;
    assert_eq!(
        default["data"].as_array().unwrap().len(),
        45,
        "a page is 50 by default"
    );
}

#[tokio::test]
async fn paging_neither_skips_nor_repeats_while_installs_arrive() {
    let app = spawn_app().await;
    seed(&app, 60, 0).await;
    let key = app.api_key("backend").await;
    let before: HashSet<String> = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    // New installs keep arriving (newer than everything) while the backend pages through.
    let writer = {
        let db = app.db.clone();
        tokio::spawn(async move {
            for i in 1000..1100 {
                sqlx::query(
                    "INSERT INTO installs (id, provider, account_id, status, initiated_by,
                         installed_at, last_installed_at, updated_at)
                     VALUES ($1, 'maropost', $2, 'active', 'storelink', $3, $3, $3)",
                )
                .bind(format!("{i:032x}"))
                .bind(format!("new-{i}"))
                .bind(1_800_000_000_i64 + i)
                .execute(&db)
                .await
                .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/installs?limit=7&cursor={c}"),
            None => "/api/v1/installs?limit=7".to_owned(),
        };
        let page = ok_json(app.api_get(&key, &path).await).await;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    writer.await.unwrap();
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no install is listed twice");
    assert!(
        before.is_subset(&unique),
        "every install that was there is listed"
    );
}

#[tokio::test]
async fn each_bad_parameter_is_named() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("status=bogus", "status"),
        ("status=Active", "status"),
        ("platform=shopify", "platform"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=MTcwMDAwMDAwMC5ub3QtaGV4", "cursor"),
    ] {
        let response = app
            .api_get(&key, &format!("/api/v1/installs?{query}"))
            .await;
        let body = problem(response, 400).await;
        assert_eq!(body["parameter"], parameter, "{query}");
    }
    let response = app.api_get(&key, "/api/v1/installs?limit=1&limit=2").await;
    problem(response, 400).await;
}

#[tokio::test]
async fn unknown_ids_are_404_never_500() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    for id in [
        "0123456789abcdef0123456789abcdef",
        "nothex",
        "%2e%2e",
        &"a".repeat(65),
        "0",
    ] {
        for (method, path) in [
            ("GET", format!("/api/v1/installs/{id}")),
            ("POST", format!("/api/v1/installs/{id}/access-token")),
            ("POST", format!("/api/v1/installs/{id}/revoke")),
            ("GET", format!("/api/v1/installs/{id}/proxy/orders")),
            ("GET", format!("/api/v1/events?install_id={id}")),
        ] {
            let response = backend()
                .request(method.parse().unwrap(), app.url(&path))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            problem(response, 404).await;
        }
    }
    problem(app.api_get(&key, "/api/v1/nothing-here").await, 404).await;
}

#[tokio::test]
async fn revoking_through_the_api_is_the_consoles_revoke_and_idempotent() {
    let app = spawn_app().await;
    let id = app
        .maropost_install("77", "gone.example.com", "tok-77")
        .await;
    let key = app.api_key("billing").await;
    let revoke = |body: Option<(&'static str, &'static str)>| {
        let mut request = backend()
            .post(app.url(&format!("/api/v1/installs/{id}/revoke")))
            .bearer_auth(&key);
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        request.send()
    };
    let revoked = ok_json(
        revoke(Some(("application/json", r#"{"reason": "billing ended"}"#)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM credentials WHERE install_id = '{id}'"
        ))
        .await,
        0,
        "credentials erased"
    );
    let (actor, fields): (String, String) = sqlx::query_as(
        "SELECT actor, fields FROM audit_log WHERE action = 'revoke' AND install_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(actor, "api-key:billing");
    assert_eq!(
        fields, r#"[["reason","billing ended"]]"#,
        "the reason, apart"
    );
    let again = ok_json(revoke(None).await.unwrap()).await;
    assert_eq!(again["status"], "revoked");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'revoke'")
            .await,
        1,
        "the second revoke changed nothing"
    );
    problem(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
        410,
    )
    .await;
}

#[tokio::test]
async fn revoke_bodies_must_be_small_json() {
    let app = spawn_app().await;
    let id = app
        .maropost_install("78", "keep.example.com", "tok-78")
        .await;
    let key = app.api_key("billing").await;
    let post = |content_type: &'static str, body: String| {
        backend()
            .post(app.url(&format!("/api/v1/installs/{id}/revoke")))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let broken = problem(
        post("application/json", "{\"reason\": ".into())
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        broken["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{broken}"
    );
    let unknown_field = problem(
        post("application/json", r#"{"reasn": "x"}"#.into())
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        unknown_field["detail"].as_str().unwrap().contains("reasn"),
        "{unknown_field}"
    );
    problem(post("text/plain", "revoke it".into()).await.unwrap(), 400).await;
    let array = problem(post("application/json", "[]".into()).await.unwrap(), 400).await;
    assert!(
        array["detail"].as_str().unwrap().contains("object"),
        "{array}"
    );
    let huge = format!(r#"{{"reason": "{}"}}"#, "x".repeat(20_000));
    problem(post("application/json", huge).await.unwrap(), 413).await;
    let status: String = sqlx::query_scalar("SELECT status FROM installs WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "active", "nothing was revoked by a refused request");
}
