//! Error pages, titles and accessibility (issue 15): console errors keep the console's layout
//! and lead back into it, a store without a domain is named in its page title, and form errors
//! are tied to their fields.

use storelink::clock::Clock as _;

use super::*;

/// Whether `page` carries the console's navigation.
fn has_console_nav(page: &str) -> bool {
    page.contains(r#"<nav class="console-nav" aria-label="Console">"#)
}

#[tokio::test]
async fn console_errors_keep_the_console_layout_and_lead_back_into_it() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    let operator = app.operator().await;
    for path in [
        "/console/installs/0123456789abcdef0123456789abcdef",
        "/console/no-such-page",
    ] {
        let (status, page) = operator.get_with_status(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(has_console_nav(&page), "{path}: {page}");
        assert!(page.contains(r#"href="/console">Back to connected stores</a>"#));
        assert!(!page.contains("Go to the home page") && !page.contains("Start again"));
        assert!(
            !page.contains("site-footer"),
            "no merchant footer in the console"
        );
    }
    // An expired form (a wrong CSRF token) leads back to the page the form was on.
    let response = operator
        .post_form_bare(
            &format!("/console/installs/{id}/test"),
            &[("csrf_token", "stale")],
        )
        .await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(has_console_nav(&page), "{page}");
    assert!(page.contains("This form has expired"));
    assert!(page.contains(&format!(
        r#"href="/console/installs/{id}">Back to the store</a>"#
    )));

    // Outside the console, and for anyone not logged in, the public page.
    let (status, page) = operator.get_with_status("/no-such-page").await;
    assert_eq!(status, 404);
    assert!(!has_console_nav(&page));
    assert!(page.contains(r#"href="/">Go to the home page</a>"#));
    assert!(!page.contains("Start again"));
    let anonymous = browser();
    let response = anonymous
        .get(app.url("/console/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&response);
    assert_eq!(
        location(&response),
        "/console/login?next=%2Fconsole%2Fno-such-page"
    );
}

#[tokio::test]
async fn a_store_without_a_domain_is_named_in_its_revoke_page_title() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    for (name, want) in [(Some("Tulip Traders"), "Tulip Traders"), (None, "1100001")] {
        let saved = db::installs::save(
            &app.db,
            &app.state.keyring,
            &NewInstall {
                platform: Platform::Bol,
                account_id: "1100001",
                store_domain: None,
                store_name: name,
                timezone: None,
                scope: None,
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: b"t",
            },
            app.clock.unix(),
        )
        .await
        .unwrap();
        let page = operator
            .get(&format!("/console/installs/{}/revoke", saved.id))
            .await;
        assert!(
            page.contains(&format!("<title>Revoke {want}? \u{b7} storelink</title>")),
            "{page}"
        );
    }
}

#[tokio::test]
async fn form_errors_are_tied_to_their_fields() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let response = app.login_attempt(&browser, EMAIL, "not the password").await;
    assert_eq!(response.status(), 401);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="login_error""#));
    assert_eq!(
        page.matches(r#"aria-invalid="true" aria-describedby="login_error""#)
            .count(),
        2,
        "email and password point at the error"
    );

    let mut operator = app.operator_as("second@example.com").await;
    let form = operator.form_page("/console/connections/bol/new").await;
    assert!(!form.contains("aria-invalid"));
    let response = operator
        .post_form(
            "/console/connections/bol",
            &[
                ("name", "x".repeat(101).as_str()),
                ("client_id", "client-1"),
                ("client_secret", "secret"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"<p id="name-error" class="field-error">"#),
        "{page}"
    );
    assert!(
        page.contains(r#"aria-invalid="true" aria-describedby="name-error""#),
        "the name points at its error: {page}"
    );
    assert_eq!(page.matches("aria-invalid").count(), 1, "only the name");
}
