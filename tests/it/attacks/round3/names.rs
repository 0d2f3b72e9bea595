//! Also mended: names shown to operators refuse invisible format characters (right-to-left
//! overrides, zero-width characters, ...), which would let a name display as something it is
//! not in the console.

use serde_json::json;

use crate::helpers::*;

/// Names that display as something else than they are.
const SPOOFS: &[&str] = &[
    "Acme\u{202E}gpj.exe",
    "Ac\u{200B}me",
    "\u{2066}Acme\u{2069}",
    "Acme\u{FEFF}",
    "Acme\u{200D}Shop",
    "Acme\u{2028}Shop",
];

#[tokio::test]
async fn connection_names_with_invisible_characters_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    for name in SPOOFS {
        let answer = app
            .connect(
                &key,
                &json!({"platform": "maropost", "store_domain": "keyed.example.com",
                        "api_key": "MaropostKey0123456789", "name": name}),
            )
            .await;
        assert_eq!(answer.status(), 400, "{name:?}");
        let problem: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(problem["parameter"], "name", "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("invisible"),
            "{problem}"
        );
    }
    assert_eq!(app.stored().await, (0, 0));
    assert!(
        app.maropost.received_requests().await.unwrap().is_empty(),
        "nothing was sent to the store for a refused name"
    );
}

#[tokio::test]
async fn renaming_a_store_to_a_spoof_is_refused_in_the_console() {
    let app = spawn_app().await;
    app.install(&browser(), "s-spoof", "spoof.example.com", "tok")
        .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let operator = app.operator().await;
    for name in SPOOFS {
        let answer = operator
            .post_form(
                &format!("/console/installs/{id}/rename"),
                &[("name", *name)],
            )
            .await;
        assert_eq!(answer.status(), 400, "{name:?}");
        let body = answer.text().await.unwrap();
        assert!(body.contains("invisible formatting"), "{body}");
    }
    let name: String = sqlx::query_scalar("SELECT store_name FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "Ryan's Surf Shop", "unchanged");
}

#[tokio::test]
async fn api_key_names_with_invisible_characters_are_refused() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    for name in SPOOFS {
        let answer = operator
            .post_form("/console/api-keys", &[("name", *name)])
            .await;
        assert_eq!(answer.status(), 400, "{name:?}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 0);
}

#[tokio::test]
async fn a_platforms_store_name_is_kept_without_its_invisible_characters() {
    let app = spawn_app().await;
    let mut answer = token_answer("s-rlo", "rlo.example.com", "tok");
    answer["store_name"] = json!("Surf\u{202E}pohS");
    app.maropost.reset().await;
    app.token_endpoint_answers(wiremock::ResponseTemplate::new(200).set_body_json(answer))
        .await;
    let merchant = browser();
    let authorize = app.start_install(&merchant, "rlo.example.com").await;
    let response = app
        .callback(&merchant, &[("code", "c"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 303);
    let name: String = sqlx::query_scalar("SELECT store_name FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(name, "SurfpohS");
}
