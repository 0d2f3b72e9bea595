//! The operator console over HTTP: operators, login, sessions, CSRF, the stores list, revoke and
//! the audit log.

use std::{collections::HashSet, process::Stdio, time::Instant};

use secrecy::SecretString;
use storelink::{
    db::{
        installs::{self, NewInstall},
        operators,
    },
    domain::{Initiator, InstallStatus, InstallingUser, Platform},
    password,
};
use tokio::io::AsyncWriteExt as _;

use crate::helpers::*;

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Creates an operator through the library (the CLI is tested on its own below).
async fn add_operator(app: &TestApp, email: &str, password: &str) {
    let hash = password::hash(&SecretString::from(password)).unwrap();
    assert!(
        operators::add(&app.db, email, &hash, app.clock_unix())
            .await
            .unwrap()
    );
}

impl TestApp {
    fn clock_unix(&self) -> i64 {
        use storelink::clock::Clock as _;
        self.clock.unix()
    }

    /// The CSRF token in the page at `path`.
    async fn csrf(&self, browser: &reqwest::Client, path: &str) -> String {
        let body = browser
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&body)
    }

    /// A browser logged in as the test operator.
    async fn operator_browser(&self) -> reqwest::Client {
        add_operator(self, EMAIL, PASSWORD).await;
        let browser = browser();
        let response = self.login_attempt(&browser, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/console");
        browser
    }

    async fn get_page(&self, browser: &reqwest::Client, path: &str) -> (u16, String) {
        let response = browser.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }
}

fn csrf_in(body: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = body.find(marker).expect("a csrf_token field") + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("storelink_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// A client that sends exactly this cookie and keeps no other.
fn with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn assert_redirects_to_login(response: &reqwest::Response) {
    assert_eq!(response.status(), 303, "{}", response.url());
    assert!(
        location(response).starts_with("/console/login"),
        "{}",
        response.url()
    );
}

// ---------------------------------------------------------------------------------------------
// Operators

#[tokio::test]
async fn a_fresh_install_has_no_operator() {
    let app = spawn_app().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM operators").await, 0);
    let browser = browser();
    for (email, password) in [
        ("admin", "admin"),
        ("admin@example.com", "password"),
        ("", ""),
    ] {
        let response = app.login_attempt(&browser, email, password).await;
        assert_eq!(response.status(), 401, "{email}");
    }
}

/// Runs `storelink operator ...` against `dir/cli.db`, feeding `stdin`.
async fn operator_cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .env_clear()
        .env("STORELINK_DATABASE_URL", "sqlite://cli.db")
        .current_dir(dir)
        .arg("operator")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

#[tokio::test]
async fn operator_add_stores_only_an_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let out = operator_cli(
        dir.path(),
        &["add", "Ops@Example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("cli.db").display()))
            .await
            .unwrap();
    let (email, hash): (String, String) =
        sqlx::query_as("SELECT email, password_hash FROM operators")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(email, "ops@example.com");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(
        password::verify(&SecretString::from(PASSWORD), Some(&hash)),
        password::Verified::Yes,
        "the trailing newline is not part of the password"
    );
    db.close().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes())
        );
    }

    // A short password is refused with a clear message; a duplicate too.
    let out = operator_cli(
        dir.path(),
        &["add", "b@example.com", "--password-stdin"],
        "short\n",
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let out = operator_cli(
        dir.path(),
        &["add", "ops@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // list and remove.
    let out = operator_cli(dir.path(), &["list"], "").await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("ops@example.com"));
    let out = operator_cli(dir.path(), &["remove", "ops@example.com"], "").await;
    assert!(out.status.success());
    let out = operator_cli(dir.path(), &["list"], "").await;
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ops@example.com"));
}

#[tokio::test]
async fn a_removed_operator_loses_access() {
    let app = spawn_app().await;
    let browser = app.operator_browser().await;
    assert_eq!(app.get_page(&browser, "/console").await.0, 200);
    operators::remove(&app.db, EMAIL).await.unwrap();
    let response = browser.get(app.url("/console")).send().await.unwrap();
    assert_redirects_to_login(&response);
}

#[tokio::test]
async fn a_weaker_hash_is_upgraded_at_login() {
    use argon2::{
        Algorithm, Argon2, Params, PasswordHasher as _, Version, password_hash::SaltString,
    };
    let app = spawn_app().await;
    let weak = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
    )
    .unwrap()
    .to_string();
    operators::add(&app.db, EMAIL, &weak, 0).await.unwrap();
    let response = app.login_attempt(&browser(), EMAIL, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM operators")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

// ---------------------------------------------------------------------------------------------
// Login

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    // Warm up (the dummy hash is made once per process).
    app.login_attempt(&browser, "nobody@example.com", "whatever password")
        .await;

    let mut unknown_times = Vec::new();
    let mut wrong_times = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..3 {
        for (email, times) in [
            ("nobody@example.com", &mut unknown_times),
            (EMAIL, &mut wrong_times),
        ] {
            let started = Instant::now();
            let response = app.login_attempt(&browser, email, "not the password").await;
            times.push(started.elapsed());
            assert_eq!(response.status(), 401);
            let body = response.text().await.unwrap();
            pages.push(body.replace(email, "EMAIL"));
        }
    }
    assert!(
        pages.windows(2).all(|w| w[0] == w[1]),
        "the same page for both"
    );
    assert!(pages[0].contains("The email or password is incorrect."));
    assert!(
        pages[0].contains(r#"value="EMAIL""#),
        "the page keeps the email typed"
    );

    // Both paths run argon2: the unknown email is not answered measurably faster.
    let unknown = unknown_times.iter().min().unwrap().as_secs_f64();
    let wrong = wrong_times.iter().min().unwrap().as_secs_f64();
    assert!(
        unknown > wrong * 0.3,
        "unknown {unknown:.4}s vs wrong {wrong:.4}s"
    );
}

#[tokio::test]
async fn login_without_a_valid_csrf_token_is_refused() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let other_sessions_token = app.csrf(&reqwest::Client::new(), "/console/login").await;
    app.csrf(&browser, "/console/login").await;
    for token in [
        None,
        Some(""),
        Some("0000"),
        Some(other_sessions_token.as_str()),
    ] {
        let mut form = vec![("email", EMAIL), ("password", PASSWORD)];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let response = browser
            .post(app.url("/console/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{token:?}");
    }
    let response = browser.get(app.url("/console")).send().await.unwrap();
    assert_redirects_to_login(&response);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_session_id_is_cycled_at_login_and_cookies_are_flagged() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let page = browser.get(app.url("/console/login")).send().await.unwrap();
    let before = session_cookie(&page).expect("the login page starts a session");
    let token = csrf_in(&page.text().await.unwrap());

    let response = browser
        .post(app.url("/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let raw = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("storelink_session="))
        .expect("a new cookie at login");
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    let after = session_cookie(&response).unwrap();
    assert_ne!(before, after, "a new session id");

    assert_eq!(app.get_page(&browser, "/console").await.0, 200);
    let planted = with_cookie(&before)
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&planted);
    let current = with_cookie(&after)
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 200);
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_the_session() {
    let app = spawn_app().await;
    let browser = app.operator_browser().await;

    // Activity keeps the session alive...
    for _ in 0..3 {
        app.clock.advance(time::Duration::minutes(29));
        assert_eq!(app.get_page(&browser, "/console").await.0, 200);
    }
    // ...30 idle minutes end it.
    app.clock.advance(time::Duration::minutes(31));
    let response = browser.get(app.url("/console")).send().await.unwrap();
    assert_redirects_to_login(&response);
    assert_eq!(location(&response), "/console/login?expired=1");
    let (_, page) = app.get_page(&browser, "/console/login?expired=1").await;
    assert!(page.contains("Your session ended"));

    // However busy, 12 hours after login it ends too.
    let token = app.csrf(&browser, "/console/login").await;
    let response = browser
        .post(app.url("/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    for _ in 0..(12 * 60 / 25) {
        app.clock.advance(time::Duration::minutes(25));
        assert_eq!(app.get_page(&browser, "/console").await.0, 200);
    }
    app.clock.advance(time::Duration::minutes(25));
    assert_redirects_to_login(&browser.get(app.url("/console")).send().await.unwrap());
}

#[tokio::test]
async fn logout_destroys_the_session_and_needs_csrf() {
    let app = spawn_app().await;
    let browser = app.operator_browser().await;
    let page = browser.get(app.url("/console")).send().await.unwrap();
    let (_, body) = (page.status(), page.text().await.unwrap());
    let token = csrf_in(&body);

    let refused = browser
        .post(app.url("/console/logout"))
        .form(&[("csrf_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.get_page(&browser, "/console").await.0,
        200,
        "still logged in"
    );

    // Keep the cookie as it was before logging out.
    let cookie = {
        let probe = browser.get(app.url("/console/login")).send().await.unwrap();
        session_cookie(&probe)
    };
    let response = browser
        .post(app.url("/console/logout"))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/console/login?logged_out=1");
    let (_, page) = app.get_page(&browser, "/console/login?logged_out=1").await;
    assert!(page.contains("You have been logged out."));
    assert_redirects_to_login(&browser.get(app.url("/console")).send().await.unwrap());
    if let Some(cookie) = cookie {
        let old = with_cookie(&cookie)
            .get(app.url("/console"))
            .send()
            .await
            .unwrap();
        assert_redirects_to_login(&old);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'logout'")
            .await,
        1
    );
}

#[tokio::test]
async fn logout_invalidates_the_old_cookie_server_side() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let token = app.csrf(&browser, "/console/login").await;
    let response = browser
        .post(app.url("/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&response).unwrap();
    let token = csrf_in(&app.get_page(&browser, "/console").await.1);
    let out = browser
        .post(app.url("/console/logout"))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    // The cookie the browser had while logged in is now worth nothing.
    let replay = with_cookie(&cookie)
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&replay);
}

#[tokio::test]
async fn ten_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    for _ in 0..10 {
        let response = app.login_attempt(&browser, EMAIL, "wrong password!").await;
        assert_eq!(response.status(), 401);
    }
    let locked = app.login_attempt(&browser, EMAIL, PASSWORD).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().get("retry-after").is_some());
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'lockout'")
            .await,
        1
    );
    assert!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed'")
            .await
            >= 10
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login_refused'")
            .await,
        1
    );

    // The first lockout lasts a minute.
    app.clock.advance(time::Duration::seconds(61));
    // A new failure locks it again, for twice as long.
    assert_eq!(
        app.login_attempt(&browser, EMAIL, "wrong again!!")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login_attempt(&browser, EMAIL, PASSWORD).await.status(),
        429
    );
    app.clock.advance(time::Duration::seconds(61));
    assert_eq!(
        app.login_attempt(&browser, EMAIL, PASSWORD).await.status(),
        429,
        "doubled"
    );
    app.clock.advance(time::Duration::seconds(60));
    let response = app.login_attempt(&browser, EMAIL, PASSWORD).await;
    assert_eq!(response.status(), 303, "the lockout has expired");
}

#[tokio::test]
async fn a_lockout_on_an_unknown_email_looks_the_same() {
    let app = spawn_app().await;
    let browser = browser();
    for _ in 0..10 {
        assert_eq!(
            app.login_attempt(&browser, "ghost@example.com", "wrong password!")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login_attempt(&browser, "ghost@example.com", "wrong password!")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn failures_are_limited_per_client_address_too() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    // Spread over many accounts so no single account locks.
    for i in 0..50 {
        let email = format!("guess{i}@example.com");
        assert_eq!(
            app.login_attempt(&browser, &email, "wrong password!")
                .await
                .status(),
            401,
            "{i}"
        );
    }
    assert_eq!(
        app.login_attempt(&browser, EMAIL, PASSWORD).await.status(),
        429
    );
}

// ---------------------------------------------------------------------------------------------
// Access

#[tokio::test]
async fn every_console_route_refuses_an_anonymous_request() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", "tok").await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let anonymous = browser();
    for path in [
        "/console",
        &format!("/console/installs/{id}"),
        &format!("/console/installs/{id}/revoke"),
        "/console/audit",
    ] {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        assert_redirects_to_login(&response);
    }
    let token = app.csrf(&anonymous, "/console/login").await;
    for path in [
        format!("/console/installs/{id}/revoke"),
        "/console/logout".into(),
    ] {
        let response = anonymous
            .post(app.url(&path))
            .form(&[("csrf_token", &token)])
            .send()
            .await
            .unwrap();
        assert_redirects_to_login(&response);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installs WHERE status = 'active'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
}

#[tokio::test]
async fn console_pages_carry_the_security_headers_and_are_not_cached() {
    let app = spawn_app().await;
    let browser = app.operator_browser().await;
    for path in [
        "/console",
        "/console/audit",
        "/console/installs/0123456789abcdef0123456789abcdef",
        "/console/login",
    ] {
        let response = browser.get(app.url(path)).send().await.unwrap();
        let h = response.headers();
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Revoke

async fn installed_id(app: &TestApp) -> String {
    app.install(
        &browser(),
        "store-r",
        "revoke.example.com",
        "secret-token-for-revoke",
    )
    .await;
    sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn revoke_without_csrf_is_refused() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    let browser = app.operator_browser().await;
    for form in [vec![], vec![("csrf_token", "forged")]] {
        let response = browser
            .post(app.url(&format!("/console/installs/{id}/revoke")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installs WHERE status = 'active'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
}

#[tokio::test]
async fn revoke_erases_the_credentials_is_audited_and_is_idempotent() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    let browser = app.operator_browser().await;

    // The detail page shows the credential's state, never the secret.
    let (status, detail) = app
        .get_page(&browser, &format!("/console/installs/{id}"))
        .await;
    assert_eq!(status, 200);
    assert!(detail.contains("revoke.example.com"));
    assert!(detail.contains("access token") && detail.contains("present"));
    assert!(detail.contains("Ryan Murtagh"));
    assert!(detail.contains("Brisbane"));
    assert!(!detail.contains("secret-token-for-revoke"));

    // The confirmation step explains what revoking does and does not do.
    let (status, confirm) = app
        .get_page(&browser, &format!("/console/installs/{id}/revoke"))
        .await;
    assert_eq!(status, 200);
    assert!(confirm.contains("still has to remove the add-on"));
    let token = csrf_in(&confirm);

    let response = browser
        .post(app.url(&format!("/console/installs/{id}/revoke")))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("/console/installs/{id}"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials").await,
        0,
        "ciphertext erased"
    );
    let (status, updated_at): (String, i64) =
        sqlx::query_as("SELECT status, updated_at FROM installs")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, "revoked");
    let (actor, action): (String, String) =
        sqlx::query_as("SELECT actor, action FROM audit_log WHERE action = 'revoke'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), action.as_str()),
        ("operator:ops@example.com", "revoke")
    );
    let (_, detail) = app
        .get_page(&browser, &format!("/console/installs/{id}"))
        .await;
    assert!(detail.contains("is revoked"));
    assert!(detail.contains("None stored"));

    // Again: nothing changes, and the page says so.
    app.clock.advance(time::Duration::minutes(1));
    let response = browser
        .post(app.url(&format!("/console/installs/{id}/revoke")))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (_, detail) = app
        .get_page(&browser, &format!("/console/installs/{id}"))
        .await;
    assert!(detail.contains("already revoked; nothing changed"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'revoke'")
            .await,
        1
    );
    let after: i64 = sqlx::query_scalar("SELECT updated_at FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(after, updated_at);

    // The audit page names the operator.
    let (_, audit) = app
        .get_page(
            &browser,
            &format!("/console/audit?install={id}&action=revoke"),
        )
        .await;
    assert!(audit.contains("<td>ops@example.com</td><td>Revoked</td>"));
}

#[tokio::test]
async fn a_new_install_reactivates_a_revoked_store() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    storelink::db::installs::revoke(&app.db, &id, "operator:x", 1)
        .await
        .unwrap();
    app.install(&browser(), "store-r", "revoke.example.com", "a-new-token")
        .await;
    let (status, same_id): (String, String) = sqlx::query_as("SELECT status, id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((status.as_str(), same_id.as_str()), ("active", id.as_str()));
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'reinstall'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(detail.contains("status was revoked"));
}

#[tokio::test]
async fn unknown_install_ids_are_404() {
    let app = spawn_app().await;
    let browser = app.operator_browser().await;
    for path in [
        "/console/installs/0123456789abcdef0123456789abcdef",
        "/console/installs/not-hex",
        "/console/installs/..%2f..%2fetc",
    ] {
        assert_eq!(app.get_page(&browser, path).await.0, 404, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// The list

/// Seeds `n` installs: every third revoked, every fifth on bol.com, domains shop-NNN.example.com.
async fn seed(app: &TestApp, n: usize) {
    for i in 0..n {
        let platform = if i % 5 == 0 {
            Platform::Bol
        } else {
            Platform::Maropost
        };
        let domain = format!("shop-{i:03}.example.com");
        let name = format!("Shop number {i:03}");
        let saved = installs::save(
            &app.db,
            &app.state.keyring,
            &NewInstall {
                platform,
                account_id: &format!("acct-{i}"),
                store_domain: Some(&domain),
                store_name: Some(&name),
                timezone: None,
                scope: None,
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: b"t",
            },
            1_700_000_000 + (i as i64 / 2), // pairs share a timestamp: the id breaks ties
        )
        .await
        .unwrap();
        if i % 3 == 0 {
            sqlx::query("UPDATE installs SET status = 'revoked' WHERE id = $1")
                .bind(&saved.id)
                .execute(&app.db)
                .await
                .unwrap();
        }
    }
}

fn listed_ids(body: &str) -> Vec<String> {
    body.split(r#"<a href="/console/installs/"#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

fn next_link(body: &str) -> Option<String> {
    let end = body.find(r#"" rel="next""#)?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[tokio::test]
async fn the_list_pages_across_boundaries_without_gaps_or_repeats() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let browser = app.operator_browser().await;

    let mut seen = Vec::new();
    let mut path = "/console".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = app.get_page(&browser, &path).await;
        assert_eq!(status, 200);
        let ids = listed_ids(&body);
        pages += 1;
        if pages == 1 {
            assert_eq!(ids.len(), 50);
            assert!(body.contains("<strong>120</strong> all"));
            assert!(body.contains("<strong>40</strong> revoked"));
            assert!(body.contains("<strong>80</strong> active"));
        }
        seen.extend(ids);
        match next_link(&body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 120, "no repeats");
    // Newest first.
    let (_, first) = app.get_page(&browser, "/console").await;
    assert!(first.find("shop-119").unwrap() < first.find("shop-116").unwrap());
}

#[tokio::test]
async fn the_list_filters_and_searches() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let browser = app.operator_browser().await;

    let count = |body: &str| listed_ids(body).len();
    let (_, revoked) = app.get_page(&browser, "/console?status=revoked").await;
    assert_eq!(count(&revoked), 40);
    assert!(!revoked.contains("badge status-active"));
    let (_, bol) = app.get_page(&browser, "/console?provider=bol").await;
    assert_eq!(count(&bol), 24);
    let (_, bol_revoked) = app
        .get_page(&browser, "/console?provider=bol&status=revoked")
        .await;
    assert_eq!(count(&bol_revoked), 8); // multiples of 15 below 120
    let (_, search) = app.get_page(&browser, "/console?q=shop-07").await;
    assert_eq!(count(&search), 10, "shop-070 .. shop-079");
    let (_, by_name) = app.get_page(&browser, "/console?q=NUMBER+042").await;
    assert_eq!(count(&by_name), 1, "by name, any case");
    let (_, short) = app.get_page(&browser, "/console?q=9").await;
    assert!(count(&short) > 0, "short searches work too");
    let (_, nothing) = app
        .get_page(&browser, "/console?q=%22%29+OR+1%3D1+--")
        .await;
    assert_eq!(count(&nothing), 0, "search text is not query syntax");
    let (_, combined) = app
        .get_page(
            &browser,
            "/console?q=shop-1&status=active&provider=maropost",
        )
        .await;
    assert!(listed_ids(&combined).len() < 50);
    // Filters survive paging.
    let (_, page) = app.get_page(&browser, "/console?status=active").await;
    let next = next_link(&page).expect("80 active: two pages");
    assert!(next.contains("status=active"));
    let (_, second) = app.get_page(&browser, &next).await;
    assert_eq!(count(&second), 30);
    // A malformed cursor is a 400, not a 500.
    assert_eq!(
        app.get_page(&browser, "/console?after=garbage").await.0,
        400
    );
}

#[tokio::test]
async fn the_audit_log_pages_and_filters() {
    let app = spawn_app().await;
    seed(&app, 60).await;
    let browser = app.operator_browser().await;
    let (status, first) = app.get_page(&browser, "/console/audit").await;
    assert_eq!(status, 200);
    let next = next_link(&first).expect("61 entries: two pages");
    let (_, second) = app.get_page(&browser, &next).await;
    assert!(second.contains("action") || second.contains("install"));
    let (_, logins) = app.get_page(&browser, "/console/audit?action=login").await;
    assert!(logins.contains("<td>ops@example.com</td><td>Logged in</td>"));
    assert!(!logins.contains("<td>Installed</td>"));
    assert_eq!(
        app.get_page(&browser, "/console/audit?before=x").await.0,
        400
    );
}

// ---------------------------------------------------------------------------------------------
// Returning to the asked page

#[tokio::test]
async fn login_returns_to_the_asked_console_page() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let browser = browser();
    let asked = browser
        .get(app.url("/console/audit?action=login"))
        .send()
        .await
        .unwrap();
    assert_redirects_to_login(&asked);
    let login_url = location(&asked);
    assert_eq!(
        login_url,
        "/console/login?next=%2Fconsole%2Faudit%3Faction%3Dlogin"
    );
    let (_, page) = app.get_page(&browser, &login_url).await;
    assert!(page.contains(r#"name="next" value="/console/audit?action=login""#));
    let token = csrf_in(&page);
    let response = browser
        .post(app.url("/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &token),
            ("next", "/console/audit?action=login"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/console/audit?action=login");
}

#[tokio::test]
async fn login_never_sends_the_operator_off_site() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    for next in [
        "//evil.example",
        "https://evil.example/console",
        "/\\evil.example",
        "\\\\evil.example",
        "/console/../..//evil.example",
        "/console\r\nLocation: https://evil.example",
        "javascript:alert(1)",
    ] {
        let browser = browser();
        let (_, page) = app
            .get_page(
                &browser,
                &format!(
                    "/console/login?{}",
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("next", next)
                        .finish()
                ),
            )
            .await;
        assert!(!page.contains(r#"name="next""#), "{next:?} offered back");
        let token = csrf_in(&page);
        let response = browser
            .post(app.url("/console/login"))
            .form(&[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), "/console", "{next:?}");
    }
}

fn previous_link(body: &str) -> Option<String> {
    let end = body.find(r#"" rel="prev""#)?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[tokio::test]
async fn the_list_says_where_each_page_stands_and_goes_back() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let browser = app.operator_browser().await;
    let (_, first) = app.get_page(&browser, "/console").await;
    assert!(first.contains("1\u{2013}50 of 120"), "{first}");
    assert!(previous_link(&first).is_none());
    let (_, second) = app.get_page(&browser, &next_link(&first).unwrap()).await;
    assert!(second.contains("51\u{2013}100 of 120"));
    let (_, third) = app.get_page(&browser, &next_link(&second).unwrap()).await;
    assert!(third.contains("101\u{2013}120 of 120"));
    assert!(next_link(&third).is_none());
    let (_, back) = app
        .get_page(&browser, &previous_link(&third).unwrap())
        .await;
    assert_eq!(listed_ids(&back), listed_ids(&second));
    let (_, back) = app
        .get_page(&browser, &previous_link(&second).unwrap())
        .await;
    assert_eq!(listed_ids(&back), listed_ids(&first));
    // Filtered, the count is of what matched.
    let (_, revoked) = app.get_page(&browser, "/console?status=revoked").await;
    assert!(revoked.contains("1\u{2013}40 of 40"));
}

#[tokio::test]
async fn the_audit_log_says_where_each_page_stands_and_goes_back() {
    let app = spawn_app().await;
    seed(&app, 60).await;
    let browser = app.operator_browser().await;
    let total = app.count("SELECT COUNT(*) FROM audit_log").await;
    assert!(total > 50 && total <= 100, "{total} entries: two pages");
    let (_, first) = app.get_page(&browser, "/console/audit").await;
    assert!(
        first.contains(&format!("1\u{2013}50 of {total}")),
        "{first}"
    );
    assert!(previous_link(&first).is_none());
    let (_, second) = app.get_page(&browser, &next_link(&first).unwrap()).await;
    assert!(second.contains(&format!("51\u{2013}{total} of {total}")));
    let (_, back) = app
        .get_page(&browser, &previous_link(&second).unwrap())
        .await;
    assert!(back.contains(&format!("1\u{2013}50 of {total}")));
    // Store names, not install ids; actions in words.
    assert!(first.contains(">Shop number 059</a>"));
    assert!(first.contains("<td>Merchant</td><td>Installed</td>"));
}

// ---------------------------------------------------------------------------------------------
// Error pages, titles and accessibility (issue 15)

/// Whether `page` carries the console's navigation.
fn has_console_nav(page: &str) -> bool {
    page.contains(r#"<nav class="console-nav" aria-label="Console">"#)
}

#[tokio::test]
async fn console_errors_keep_the_console_layout_and_lead_back_into_it() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    let browser = app.operator_browser().await;
    for path in [
        "/console/installs/0123456789abcdef0123456789abcdef",
        "/console/no-such-page",
    ] {
        let (status, page) = app.get_page(&browser, path).await;
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
    let response = browser
        .post(app.url(&format!("/console/installs/{id}/test")))
        .form(&[("csrf_token", "stale")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(has_console_nav(&page), "{page}");
    assert!(page.contains("This form has expired"));
    assert!(page.contains(&format!(
        r#"href="/console/installs/{id}">Back to the store</a>"#
    )));

    // Outside the console, and for anyone not logged in, the public page.
    let (status, page) = app.get_page(&browser, "/no-such-page").await;
    assert_eq!(status, 404);
    assert!(!has_console_nav(&page));
    assert!(page.contains(r#"href="/">Go to the home page</a>"#));
    assert!(!page.contains("Start again"));
    let anonymous = crate::helpers::browser();
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
    let browser = app.operator_browser().await;
    for (name, want) in [(Some("Tulip Traders"), "Tulip Traders"), (None, "1100001")] {
        let saved = installs::save(
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
            app.clock_unix(),
        )
        .await
        .unwrap();
        let (status, page) = app
            .get_page(&browser, &format!("/console/installs/{}/revoke", saved.id))
            .await;
        assert_eq!(status, 200);
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

    let operator = app.operator_browser_as("second@example.com").await;
    let (_, form) = app
        .get_page(&operator, "/console/connections/bol/new")
        .await;
    assert!(!form.contains("aria-invalid"));
    let response = operator
        .post(app.url("/console/connections/bol"))
        .form(&[
            ("csrf_token", csrf_in(&form).as_str()),
            ("name", "x".repeat(101).as_str()),
            ("client_id", "client-1"),
            ("client_secret", "secret"),
        ])
        .send()
        .await
        .unwrap();
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

impl TestApp {
    /// A browser logged in as another operator, `email`.
    async fn operator_browser_as(&self, email: &str) -> reqwest::Client {
        add_operator(self, email, PASSWORD).await;
        let browser = browser();
        let response = self.login_attempt(&browser, email, PASSWORD).await;
        assert_eq!(response.status(), 303);
        browser
    }
}

#[tokio::test]
async fn a_filtered_list_says_how_many_matched_and_offers_to_clear_the_filters() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let browser = app.operator_browser().await;
    let (_, all) = app.get_page(&browser, "/console").await;
    assert!(all.contains(r#"<a href="/console" aria-current="true"><strong>120</strong> all"#));
    assert!(!all.contains("match these filters"));
    let (_, revoked) = app.get_page(&browser, "/console?status=revoked").await;
    assert!(revoked.contains("40 stores match these filters."));
    assert!(revoked.contains(r#"<a href="/console?status=revoked" aria-current="true">"#));
    assert!(!revoked.contains(r#"<a href="/console" aria-current="true"><strong>"#));
    let (_, none) = app.get_page(&browser, "/console?q=no-such-shop").await;
    assert!(
        none.contains("No store matches &ldquo;no-such-shop&rdquo;."),
        "{none}"
    );
    assert!(none.contains(r#"<a class="button secondary" href="/console">Clear filters</a>"#));
}

#[tokio::test]
async fn a_search_stops_counting_at_a_thousand_and_says_so() {
    let app = spawn_app().await;
    let mut tx = storelink::db::begin_write(&app.db).await.unwrap();
    for i in 0..1_050 {
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, store_domain, store_name, status,
                 initiated_by, installed_at, last_installed_at, updated_at)
             VALUES ($1, 'maropost', $2, $3, 'Capped', 'active', 'storelink', $4, $4, $4)",
        )
        .bind(format!("{i:032x}"))
        .bind(format!("cap-{i}"))
        .bind(format!("cap-{i}.example.com"))
        .bind(1_700_000_000_i64 + i)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let operator = app.operator().await;
    let searched = operator.get("/console?q=cap-").await;
    assert!(searched.contains("1,000+"), "a capped count says so");
    let exact = operator.get("/console?status=active").await;
    assert!(exact.contains("1,050"), "a filter's count is exact");
    assert!(!exact.contains("1,050+"));
}

#[tokio::test]
async fn the_kept_counts_follow_installs_as_they_are_added_revoked_restored_and_deleted() {
    let app = spawn_app().await;
    // What the console and /metrics show, against a count of the rows themselves.
    let agree = || async {
        let kept: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT provider, status, n FROM install_counts WHERE n > 0 ORDER BY provider, status",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        let counted: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT provider, status, COUNT(*) FROM installs
             GROUP BY provider, status ORDER BY provider, status",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(kept, counted);
        kept
    };
    assert!(agree().await.is_empty());
    for n in 1..=3 {
        let domain = format!("count{n}.example.com");
        app.install(&browser(), &format!("s{n}"), &domain, "tok")
            .await;
    }
    assert_eq!(agree().await, [("maropost".into(), "active".into(), 3)]);

    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM installs ORDER BY account_id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    installs::revoke(&app.db, &ids[0], "operator:x", 1)
        .await
        .unwrap();
    installs::revoke(&app.db, &ids[1], "operator:x", 1)
        .await
        .unwrap();
    agree().await;
    // Installing a revoked store again makes it active again.
    app.install(&browser(), "s1", "count1.example.com", "tok")
        .await;
    assert_eq!(
        agree().await,
        [
            ("maropost".into(), "active".into(), 2),
            ("maropost".into(), "revoked".into(), 1)
        ]
    );
    // storelink never deletes an install; a database administrator might.
    for statement in [
        "DELETE FROM audit_log WHERE install_id = $1",
        "DELETE FROM installs WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(&ids[1])
            .execute(&app.db)
            .await
            .unwrap();
    }
    assert_eq!(agree().await, [("maropost".into(), "active".into(), 2)]);
    let by_status = installs::count_by_status(&app.db).await.unwrap();
    assert_eq!(by_status, [(InstallStatus::Active, 2)]);
}
