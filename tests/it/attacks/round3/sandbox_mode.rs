//! Item 2: sandbox mode is inferred only where nothing of a production set-up is present; when
//! it is on, the start-up log warns and every page says so; the sandbox gateway and receiver
//! exist only in sandbox mode.

use crate::helpers::*;

const MASTER_KEY: &str = "c2VjcmV0LW1hc3Rlci1rZXktb2YtMzItYnl0ZXMhIT0=";

async fn get(port: u16, path: &str) -> (u16, String) {
    let answer = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

const BANNER: &str = "<strong>Sandbox mode</strong>";

#[tokio::test]
async fn commercetools_alone_with_a_master_key_is_not_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let key = storelink::crypto::MasterKey::generate_base64();
    let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    let running = start_binary(
        dir.path(),
        &[
            ("STORELINK_DATABASE_URL", "sqlite://production.db"),
            ("STORELINK_MASTER_KEY", &key),
            (
                "COMMERCETOOLS_AUTH_URL",
                "https://auth.{region}.commercetools.com",
            ),
            (
                "COMMERCETOOLS_API_URL",
                "https://api.{region}.commercetools.com",
            ),
        ],
    )
    .await;
    assert!(
        running.log.contains("sandbox mode is off"),
        "{}",
        running.log
    );
    assert!(!running.log.contains("SANDBOX MODE"));
    let port = running.port;
    for path in [
        "/sandbox/receiver",
        "/sandbox/commercetools/mc/.well-known/jwks.json",
        "/sandbox/commercetools/mc/proxy/forward-to",
        "/sandbox/maropost/demo.example.com/do/WS/NetoAPI",
    ] {
        let (status, _) = get(port, path).await;
        assert_eq!(status, 404, "{path} is not served outside sandbox mode");
    }
    for path in ["/", "/console/login", "/no-such-page"] {
        let (_, page) = get(port, path).await;
        assert!(!page.contains(BANNER), "{path}");
    }
    // A forward-to request signed by anything but commercetools' own gateways is refused.
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/installs"))
        .header("X-MC-API-Forward-To-Version", "v2")
        .header("X-MC-API-Cloud-Identifier", "gcp-eu")
        .bearer_auth("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
        .send()
        .await
        .unwrap();
    // 401, or 503 where commercetools' own gateway cannot be reached to fetch its keys (as here,
    // without a network): never let through.
    assert!(
        matches!(answer.status().as_u16(), 401 | 503),
        "{}",
        answer.status()
    );
}

#[tokio::test]
async fn an_https_public_url_or_a_master_key_alone_keeps_sandbox_mode_off() {
    for vars in [
        vec![("STORELINK_MASTER_KEY", MASTER_KEY)],
        vec![
            ("STORELINK_MASTER_KEY", MASTER_KEY),
            ("STORELINK_PUBLIC_URL", "https://storelink.example.com"),
        ],
        vec![
            ("STORELINK_MASTER_KEY", MASTER_KEY),
            ("ORDERCLOUD_API_URL", "https://api.ordercloud.io"),
        ],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vars.clone();
        all.push(("STORELINK_DATABASE_URL", "sqlite://p.db"));
        let running = start_binary(dir.path(), &all).await;
        assert!(running.log.contains("sandbox mode is off"), "{vars:?}");
        let (status, _) = get(running.port, "/sandbox/receiver").await;
        assert_eq!(status, 404, "{vars:?}");
    }
}

#[tokio::test]
async fn sandbox_mode_warns_at_start_and_every_page_says_so() {
    for vars in [
        vec![],
        vec![
            ("STORELINK_SANDBOX", "on"),
            ("STORELINK_MASTER_KEY", MASTER_KEY),
        ],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vars.clone();
        all.push(("STORELINK_DATABASE_URL", "sqlite://s.db"));
        let running = start_binary(dir.path(), &all).await;
        let warning = running
            .log
            .lines()
            .find(|l| l.contains("SANDBOX MODE"))
            .unwrap_or_else(|| panic!("{vars:?}: no warning in\n{}", running.log));
        assert!(warning.contains("WARN"), "{warning}");
        let port = running.port;
        for path in [
            "/",
            "/console/login",
            "/no-such-page",
            "/installed",
            "/oauth/maropost/callback?state=x&code=y",
        ] {
            let (_, page) = get(port, path).await;
            assert!(page.contains(BANNER), "{vars:?} {path}:\n{page}");
        }
    }
}
