//! Renaming a store in the console: CSRF, a checked name, audited, and kept over a re-install.

use crate::{helpers::*, operator::EMAIL};

async fn rename(
    app: &TestApp,
    browser: &reqwest::Client,
    id: &str,
    name: &str,
    csrf: &str,
) -> reqwest::Response {
    browser
        .post(app.url(&format!("/console/installs/{id}/rename")))
        .form(&[("name", name), ("csrf_token", csrf)])
        .send()
        .await
        .unwrap()
}

async fn store_name(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT store_name FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_operator_renames_a_store_and_a_reinstall_keeps_the_name() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "surf.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let ops = app.operator().await;
    let page = ops.get(&format!("/console/installs/{id}")).await;
    assert!(page.contains(&format!(r#"action="/console/installs/{id}/rename""#)));
    let csrf = csrf_in(&page);

    let response = rename(&app, &ops.client, &id, "  Ryan's Surf Shop (AU)  ", &csrf).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("/console/installs/{id}"));
    assert_eq!(store_name(&app).await, "Ryan's Surf Shop (AU)", "trimmed");
    let page = ops.get(&format!("/console/installs/{id}")).await;
    assert!(
        page.contains("<h1>Ryan&#39;s Surf Shop (AU)</h1>"),
        "{page}"
    );
    assert!(page.contains("The store is renamed"));
    let audited: (String, String) = sqlx::query_as(
        "SELECT actor, fields FROM audit_log WHERE action = 'rename' AND install_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited.0, format!("operator:{EMAIL}"));
    let fields: Vec<(String, String)> = serde_json::from_str(&audited.1).unwrap();
    assert_eq!(
        fields,
        [
            ("name".to_owned(), "Ryan's Surf Shop (AU)".to_owned()),
            ("was".to_owned(), "Ryan's Surf Shop".to_owned())
        ]
    );
    let audit_page = ops.get("/console/audit").await;
    assert!(audit_page.contains("Renamed"), "a readable action label");

    // The platform's name comes back with every re-install, but the operator's is kept.
    app.install(&browser(), "s1", "surf.example.com", "tok2")
        .await;
    assert_eq!(store_name(&app).await, "Ryan's Surf Shop (AU)");
    // The same name again changes nothing and records nothing.
    assert_eq!(
        rename(&app, &ops.client, &id, "Ryan's Surf Shop (AU)", &csrf)
            .await
            .status(),
        303
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'rename'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_rename_is_refused_without_csrf_a_valid_name_or_a_login() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "surf.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let ops = app.operator().await;
    let page = ops.get(&format!("/console/installs/{id}")).await;
    let csrf = csrf_in(&page);

    assert_eq!(
        rename(&app, &ops.client, &id, "Forged", "forged")
            .await
            .status(),
        403
    );
    assert_eq!(
        rename(&app, &ops.client, &id, "Forged", "").await.status(),
        403
    );
    let too_long = "n".repeat(101);
    for bad in [
        "",
        "   ",
        too_long.as_str(),
        "two\nlines",
        "tab\there",
        "bell\u{7}",
    ] {
        let response = rename(&app, &ops.client, &id, bad, &csrf).await;
        assert_eq!(response.status(), 400, "{bad:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Nothing was changed"), "{body}");
    }
    // 100 characters is the limit, counted in characters.
    let longest = "é".repeat(100);
    assert_eq!(
        rename(&app, &ops.client, &id, &longest, &csrf)
            .await
            .status(),
        303
    );
    assert_eq!(store_name(&app).await, longest);
    assert_eq!(
        rename(
            &app,
            &ops.client,
            "0123456789abcdef0123456789abcdef",
            "X",
            &csrf
        )
        .await
        .status(),
        404
    );
    let anonymous = browser();
    let response = rename(&app, &anonymous, &id, "Anonymous", &csrf).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/console/login"));
    assert_eq!(store_name(&app).await, longest);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'rename'")
            .await,
        1
    );
}
