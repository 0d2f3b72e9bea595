//! `storelink doctor`: a clean sandbox set-up passes; each broken set-up fails with one `FAIL`
//! line naming its fix, against a live app that keeps serving; nothing secret is printed.

use std::process::Stdio;

use secrecy::ExposeSecret as _;
use storelink::crypto::MasterKey;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_storelink");

/// What a run printed.
struct Run {
    passed: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self, status: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{status} ")))
            .collect()
    }

    /// The one FAIL line, which must contain every one of `words`.
    fn fails_once_naming(&self, words: &[&str]) {
        let fails = self.lines("FAIL");
        assert!(!self.passed, "exit status 1: {}", self.stdout);
        assert_eq!(fails.len(), 1, "one FAIL:\n{}", self.stdout);
        for word in words {
            assert!(fails[0].contains(word), "{word:?} in {:?}", fails[0]);
        }
        assert!(self.stderr.contains("FAIL"), "{}", self.stderr);
    }

    fn shows_none_of(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "a secret ({:.8}...) was printed:\n{}{}",
                secret,
                self.stdout,
                self.stderr
            );
        }
    }
}

/// `storelink ARGS` with only `vars` in its environment, in `dir`.
async fn storelink(dir: &std::path::Path, vars: &[(&str, String)], args: &[&str]) -> Run {
    let output = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("the binary runs");
    Run {
        passed: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_clean_sandbox_set_up_passes_and_doctor_creates_nothing() {
    // A fresh folder: nothing yet, which serve would create.
    let dir = tempfile::tempdir().unwrap();
    let fresh = storelink(dir.path(), &[], &["doctor"]).await;
    assert!(fresh.passed, "{}{}", fresh.stdout, fresh.stderr);
    assert!(fresh.stdout.contains("no database at"), "{}", fresh.stdout);
    assert!(
        !dir.path().join("storelink.db").exists(),
        "no database created"
    );
    assert!(
        !dir.path().join("storelink.db.master-key").exists(),
        "no key created"
    );

    // After `storelink migrate`: every check passes, sandbox mode warns.
    let migrated = storelink(dir.path(), &[], &["migrate"]).await;
    assert!(migrated.passed, "{}", migrated.stderr);
    let run = storelink(dir.path(), &[], &["doctor"]).await;
    assert!(run.passed, "{}{}", run.stdout, run.stderr);
    assert!(run.lines("FAIL").is_empty(), "{}", run.stdout);
    assert!(
        run.stdout.starts_with("storelink 0.1.0 (commit "),
        "{}",
        run.stdout
    );
    for expected in [
        "ok   settings:",
        "warn sandbox mode: on (nothing of a production set-up is configured)",
        "ok   public URL: http://localhost:3000",
        "ok   database: sqlite://storelink.db answers",
        "ok   migrations:",
        "ok   database file: storelink.db readable by its owner only",
        "ok   Maropost redirect URI: http://localhost:3000/oauth/maropost/callback",
        "ok   bol.com redirect URI: http://localhost:3000/oauth/bol/callback",
        "ok   Maropost token endpoint: http://localhost:3000/sandbox/maropost/",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} in:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.ends_with("doctor: no FAIL, 1 warn\n"),
        "{}",
        run.stdout
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_world_readable_database_file_fails_naming_chmod() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    assert!(storelink(dir.path(), &[], &["migrate"]).await.passed);
    let file = dir.path().join("storelink.db");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let run = storelink(dir.path(), &[], &["doctor"]).await;

    run.fails_once_naming(&["database file", "mode 0644", "chmod 600 storelink.db"]);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "doctor reports; it changes nothing");

    // A world-readable .env fails when it holds a secret, and the secret is not shown.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let env = dir.path().join(".env");
    std::fs::write(&env, "STORELINK_BIND=127.0.0.1:3000\n").unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        storelink(dir.path(), &[], &["doctor"]).await.passed,
        "no secret in it"
    );
    std::fs::write(&env, "STORELINK_METRICS_TOKEN=dotenv-secret-token-91ab\n").unwrap();
    let run = storelink(dir.path(), &[], &["doctor"]).await;
    run.fails_once_naming(&[".env", "chmod 600 .env"]);
    run.shows_none_of(&["dotenv-secret-token-91ab"]);
}

#[tokio::test]
async fn an_unreachable_database_fails_naming_the_setting_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let url = format!(
        "postgres://storelink:hunter2-db-password@127.0.0.1:{}/storelink",
        closed_port()
    );
    let vars = [
        ("STORELINK_DATABASE_URL", url),
        ("STORELINK_MASTER_KEY", key.expose_secret().to_owned()),
        (
            "STORELINK_PUBLIC_URL",
            "https://storelink.example.com".into(),
        ),
    ];

    let run = storelink(dir.path(), &vars, &["doctor"]).await;

    run.fails_once_naming(&["database", "STORELINK_DATABASE_URL", "127.0.0.1"]);
    run.shows_none_of(&["hunter2-db-password", key.expose_secret()]);
}

/// A production set-up of the live `app`: its database, an https public URL, Maropost's flow
/// on the app's stand-in, and `key` as the master key.
fn production(app: &TestApp, key: &str) -> Vec<(&'static str, String)> {
    let stand_in = |path: &str| format!("{}{path}", app.maropost.uri());
    vec![
        ("STORELINK_DATABASE_URL", app.settings.database_url.clone()),
        ("STORELINK_MASTER_KEY", key.to_owned()),
        (
            "STORELINK_PUBLIC_URL",
            "https://storelink.example.com".into(),
        ),
        ("MAROPOST_CLIENT_ID", CLIENT_ID.into()),
        ("MAROPOST_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("MAROPOST_AUTHORIZE_URL", stand_in(AUTHORIZE_PATH)),
        ("MAROPOST_TOKEN_URL", stand_in(TOKEN_PATH)),
    ]
}

fn set(vars: &mut [(&'static str, String)], name: &str, value: String) {
    if let Some(var) = vars.iter_mut().find(|(n, _)| *n == name) {
        var.1 = value;
    }
}

#[tokio::test]
async fn broken_production_set_ups_each_fail_naming_the_fix_while_the_app_keeps_serving() {
    // Setup: a live app with two installed stores, their tokens sealed under its key.
    let app = spawn_app().await;
    let browser = browser();
    app.install(&browser, "s1", "one.example.com", "doctor-token-1a2b3c")
        .await;
    app.install(&browser, "s2", "two.example.com", "doctor-token-4d5e6f")
        .await;
    let key = app.settings.master_key.clone().expect("the app's key");
    let key = key.expose_secret().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        key.as_str(),
        CLIENT_SECRET,
        "doctor-token-1a2b3c",
        "doctor-token-4d5e6f",
    ];

    // The set-up as it is: no FAIL; the key opens both stores' credentials.
    let healthy = production(&app, &key);
    let run = storelink(dir.path(), &healthy, &["doctor"]).await;
    assert!(run.passed, "{}{}", run.stdout, run.stderr);
    for expected in [
        "ok   sandbox mode: off (a platform",
        "ok   public URL: https://storelink.example.com",
        "ok   Maropost redirect URI: https://storelink.example.com/oauth/maropost/callback",
        "ok   Maropost token endpoint:",
        "ok   Maropost clock:",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} in:\n{}",
            run.stdout
        );
    }
    let opened = run
        .lines("ok")
        .into_iter()
        .find(|l| l.contains("master key:"));
    assert!(
        opened.is_some_and(|l| l.contains("opens 2 of 2")),
        "{}",
        run.stdout
    );
    run.shows_none_of(&secrets);

    // A master key that does not open the stored credentials.
    let wrong = MasterKey::generate_base64();
    let mut vars = healthy.clone();
    set(
        &mut vars,
        "STORELINK_MASTER_KEY",
        wrong.expose_secret().to_owned(),
    );
    let run = storelink(dir.path(), &vars, &["doctor"]).await;
    run.fails_once_naming(&["master key", "STORELINK_MASTER_KEY", "sealed under key id"]);
    run.shows_none_of(&[wrong.expose_secret(), secrets[0]]);

    // Mid-rotation: a new key, the old one as previous: passes, and says what is left to do.
    let mut vars = healthy.clone();
    set(
        &mut vars,
        "STORELINK_MASTER_KEY",
        wrong.expose_secret().to_owned(),
    );
    vars.push(("STORELINK_PREVIOUS_MASTER_KEYS", key.clone()));
    let run = storelink(dir.path(), &vars, &["doctor"]).await;
    assert!(run.passed, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("warn key rotation:") && run.stdout.contains("rotate-keys"),
        "{}",
        run.stdout
    );

    // An http public URL outside sandbox mode.
    let mut vars = healthy.clone();
    set(
        &mut vars,
        "STORELINK_PUBLIC_URL",
        "http://storelink.example.com".into(),
    );
    let run = storelink(dir.path(), &vars, &["doctor"]).await;
    run.fails_once_naming(&["public URL", "STORELINK_PUBLIC_URL", "https://"]);

    // A platform token endpoint that does not answer.
    let mut vars = healthy.clone();
    let closed = format!("http://127.0.0.1:{}/oauth/v2/token", closed_port());
    set(&mut vars, "MAROPOST_TOKEN_URL", closed);
    let run = storelink(dir.path(), &vars, &["doctor"]).await;
    run.fails_once_naming(&[
        "Maropost token endpoint",
        "MAROPOST_TOKEN_URL",
        "does not answer",
    ]);

    // A database migrated by a newer storelink.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(29_991_231_000_000_i64)
    .bind("from a newer storelink")
    .bind(true)
    .bind(vec![0u8; 48])
    .bind(0_i64)
    .execute(&app.db)
    .await
    .unwrap();
    let run = storelink(dir.path(), &healthy, &["doctor"]).await;
    run.fails_once_naming(&["migrations", "newer storelink", "29991231000000"]);
    let migrate = storelink(dir.path(), &healthy, &["migrate"]).await;
    assert!(
        !migrate.passed,
        "this storelink refuses to migrate it: {}",
        migrate.stdout
    );

    // The app served throughout, and still does.
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 2);
}

#[tokio::test]
async fn a_commercetools_auth_host_in_use_is_probed_and_only_the_regions_in_use() {
    // A commercetools project on gcp-eu (and a revoked one on aws-ohio) beside a healthy
    // Maropost set-up.
    let app = spawn_app().await;
    let key = app.settings.master_key.clone().expect("the app's key");
    let key = key.expose_secret().to_owned();
    for (id, account, status) in [
        ("ct-in-use", "gcp-eu:doctor-shop", "active"),
        ("ct-revoked", "aws-ohio:old-shop", "revoked"),
    ] {
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, status, initiated_by, auth_kind,
                 installed_at, last_installed_at, updated_at)
             VALUES ($1, 'commercetools', $2, $3, 'panel', 'client_credentials', 1, 1, 1)",
        )
        .bind(id)
        .bind(account)
        .bind(status)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut vars = production(&app, &key);
    let port = closed_port();
    vars.push((
        "COMMERCETOOLS_AUTH_URL",
        format!("http://127.0.0.1:{port}/{{region}}"),
    ));
    let run = storelink(dir.path(), &vars, &["doctor"]).await;
    // One region in use, so one probe: its host does not answer.
    run.fails_once_naming(&[
        "commercetools token endpoint",
        "COMMERCETOOLS_AUTH_URL",
        &format!("127.0.0.1:{port}"),
        "does not answer",
    ]);
    let probed = run
        .stdout
        .lines()
        .filter(|l| l.contains("commercetools token endpoint"))
        .count();
    assert_eq!(probed, 1, "{}", run.stdout);
}
