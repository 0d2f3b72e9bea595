//! Endpoint URLs go through the outbound guard: `http` and internal addresses are refused when
//! added (unless private endpoints are allowed), and a name that resolves to an internal address
//! by the time of a delivery is refused then.

use std::{
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use storelink::{
    clock::{Clock as _, SystemClock},
    crypto::{Keyring, MasterKey},
    db::{endpoints::Subscription, installs::NewInstall},
    domain::{Initiator, InstallingUser, Platform},
    notify::{
        NotifyConfig, NotifyContext,
        endpoints::{EndpointError, add},
        worker::Notifier,
    },
    platforms::kit::outbound::{Lookup, Outbound},
};

use super::*;

#[tokio::test]
async fn http_and_internal_urls_are_refused_when_added() {
    let n = spawn_notified_with(|s| s.allow_private_endpoints = false).await;
    let ctx = n.app.state.notify();
    for (url, why) in [
        ("http://hooks.example.com/x", "https only"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/x", "loopback"),
        ("https://localhost/x", "internal host name"),
        ("https://metadata.google.internal/x", "internal host name"),
        (
            "https://user:pass@hooks.example.com/x",
            "user name and password",
        ),
        ("ftp://hooks.example.com/x", "https://"),
        ("not a url", "full URL"),
    ] {
        match add(
            &ctx,
            url,
            &Subscription::All,
            Default::default(),
            true,
            "system",
        )
        .await
        {
            Err(EndpointError::Url(message)) => {
                assert!(message.contains(why), "{url}: {message}")
            }
            other => panic!("{url} was not refused: {:?}", other.map(|(e, _)| e.url)),
        }
    }
    assert_eq!(
        n.app.count("SELECT count(*) FROM notify_endpoints").await,
        0
    );
}

/// A resolver whose answer the test changes, as DNS can between adding and delivering.
#[derive(Clone)]
struct Flipping(Arc<Mutex<IpAddr>>);

impl Lookup for Flipping {
    fn lookup(
        &self,
        _host: &str,
    ) -> Pin<Box<dyn std::future::Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let ip = *self.0.lock().unwrap();
        Box::pin(async move { Ok(vec![ip]) })
    }
}

#[tokio::test]
async fn a_host_that_resolves_to_loopback_by_delivery_time_is_refused_then() {
    let (_scratch, pool) = crate::database::Scratch::create().await;
    let keyring = Arc::new(Keyring::new(
        MasterKey::from_base64(&MasterKey::generate_base64()).unwrap(),
    ));
    let dns = Flipping(Arc::new(Mutex::new("93.184.215.14".parse().unwrap())));
    let ctx = NotifyContext {
        db: pool.clone(),
        keyring: keyring.clone(),
        clock: Arc::new(SystemClock),
        outbound: Outbound::with_lookup(Duration::from_secs(2), false, Arc::new(dns.clone()))
            .unwrap(),
    };
    // Public when added...
    let (endpoint, _) = add(
        &ctx,
        "https://hooks.example.com/storelink",
        &Subscription::All,
        Default::default(),
        true,
        "system",
    )
    .await
    .unwrap();
    // ...loopback when delivered to.
    *dns.0.lock().unwrap() = "127.0.0.1".parse().unwrap();
    installs::save(
        &pool,
        &keyring,
        &NewInstall {
            platform: Platform::Maropost,
            account_id: "s1",
            store_domain: Some("shop.example.com"),
            store_name: None,
            timezone: None,
            scope: None,
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: b"t",
        },
        SystemClock.unix(),
    )
    .await
    .unwrap();
    let notifier = Notifier::start(
        ctx,
        NotifyConfig {
            poll: Duration::from_millis(20),
            ..NotifyConfig::default()
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let outcome: String = loop {
        let found: Option<String> = sqlx::query_scalar("SELECT outcome FROM notify_attempts")
            .fetch_optional(&pool)
            .await
            .unwrap();
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt was made"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    notifier.shutdown().await;
    assert!(
        outcome.starts_with("refused: hooks.example.com is a loopback address (127.0.0.1)"),
        "{outcome}"
    );
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notify_messages WHERE status = 'pending' AND endpoint_id = $1",
    )
    .bind(&endpoint.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        pending, 1,
        "refused is a failure like any other: retried later"
    );
}
