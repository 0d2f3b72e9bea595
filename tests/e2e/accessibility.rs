//! Journey 8: accessibility basics and a clean browser log on every page. The merchant
//! journeys check the pages they pass through; this module visits the pages no journey reaches
//! (errors, refusals, the sandbox's own error page), and proves the checks catch what they
//! claim to catch.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use serde_json::json;

use crate::{browser::Expect, checks, harness};

/// Every page storelink shows outside a completed journey passes the page checks (run by
/// `goto_expecting`) with the status it should have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_the_page_checks() {
    harness::run("every_page_passes_the_page_checks", |mut t| async move {
        let b = &mut t.browser;
        let pages: &[(&str, Expect, &str)] = &[
            ("/", Expect::Success, "Connect your store"),
            // The form refusing a domain (also reached by the journey that types one).
            (
                "/install/maropost?store_domain=localhost",
                Expect::Status(400),
                "Connect your store",
            ),
            ("/no-such-page", Expect::Status(404), "Page not found"),
            // The success page without a completed install.
            ("/installed", Expect::Status(404), "Page not found"),
            // A callback with a state this browser never got.
            (
                "/oauth/maropost/callback?code=abc&state=forged-state-value",
                Expect::ClientError,
                "cannot be used",
            ),
            // The platform reporting an error other than a denial.
            (
                "/oauth/maropost/callback?error=server_error&error_description=down",
                Expect::Status(502),
                "reported an error",
            ),
            // The sandbox refusing a malformed authorize request.
            (
                "/sandbox/maropost/oauth/v2/auth",
                Expect::Status(400),
                "request refused",
            ),
            // The same for bol.com: a forged state, a malformed authorize request, and the
            // sandbox's page that creates a retailer's own API credentials.
            (
                "/oauth/bol/callback?code=abc&state=forged-state-value",
                Expect::ClientError,
                "cannot be used",
            ),
            (
                "/sandbox/bol/authorize",
                Expect::Status(400),
                "request refused",
            ),
            (
                "/sandbox/bol/credentials",
                Expect::Success,
                "API credentials",
            ),
        ];
        for (path, expect, heading) in pages {
            b.goto_expecting(path, *expect).await?;
            b.assert_h1_contains(heading).await?;
        }
        Ok(())
    })
    .await;
}

/// The checks are not vacuous: a console error, CSP violations, a second `<h1>`, an unlabelled
/// field and a broken image put on a page by a script are all reported, and a page that answers
/// a status the test did not expect fails. This also shows that scripts run through WebDriver
/// work under storelink's strict CSP (they are not subject to it) while what they insert is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_checks_catch_broken_pages() {
    harness::run("page_checks_catch_broken_pages", |mut t| async move {
        let b = &mut t.browser;
        b.goto("/").await?;
        let h1s = b
            .execute("return document.querySelectorAll('h1').length;", vec![])
            .await?;
        ensure!(
            h1s == json!(1),
            "a WebDriver script should run under the page's CSP and count one <h1>, got {h1s}"
        );

        b.execute(
            r#"
            console.error('e2e probe: a console error');
            const style = document.createElement('style');       // style-src 'self': blocked
            style.textContent = 'body { outline: 1px solid red; }';
            document.head.append(style);
            const img = document.createElement('img');           // img-src 'self': blocked
            img.alt = '';
            img.src = 'https://cdn.example.invalid/pixel.png';
            document.body.append(img);
            document.body.append(document.createElement('h1'));  // a second, empty <h1>
            document.body.append(document.createElement('input')); // no label
            "#,
            vec![],
        )
        .await?;

        // Chromium logs asynchronously: gather reports until all are in, or time runs out.
        let expected = [
            "e2e probe: a console error",
            "Applying inline style violates the following Content Security Policy",
            "violates the following Content Security Policy directive: \"img-src 'self'\"",
            "expected exactly one <h1>, found 2",
            "visible field without a label",
            "image did not load: https://cdn.example.invalid/pixel.png",
        ];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut reported = String::new();
        loop {
            match checks::check_page(b.client(), Expect::Success).await {
                Ok(_) => {}
                Err(e) => reported.push_str(&format!("{e:#}\n")),
            }
            let missing: Vec<&str> = expected
                .iter()
                .copied()
                .filter(|needle| !reported.contains(needle))
                .collect();
            if missing.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                bail!("the page checks missed {missing:?}; they reported:\n{reported}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Drop anything logged twice, so the next page starts clean.
        tokio::time::sleep(Duration::from_millis(300)).await;
        checks::browser_log(b.client()).await?;

        // A status the test did not expect fails the navigation, naming both.
        match b.goto("/no-such-page").await {
            Ok(()) => bail!("a 404 page passed as a 2xx page"),
            Err(e) => {
                let e = format!("{e:#}");
                ensure!(
                    e.contains("HTTP 404, expected 2xx"),
                    "unexpected report: {e}"
                );
            }
        }

        // A fresh page, untouched, passes again.
        b.goto("/").await?;
        Ok(())
    })
    .await;
}

/// axe-core really runs on every checked page: an image without `alt` and grey-on-white text
/// put on a page by a script are reported by rule and element, and the page check fails on
/// them; the same page untouched has no violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_core_catches_violations() {
    harness::run("axe_core_catches_violations", |mut t| async move {
        let b = &mut t.browser;
        b.goto("/").await?;
        let clean = checks::axe_violations(b.client()).await?;
        ensure!(clean.is_empty(), "the landing page has violations: {clean:?}");

        b.execute(
            r#"
            const img = document.createElement('img');            // no alt
            img.id = 'axe-probe-img';
            img.src = document.querySelector('link[rel=icon]').href;
            document.querySelector('main').append(img);
            const p = document.createElement('p');
            p.id = 'axe-probe-text';
            p.textContent = 'Barely readable';
            p.style.color = '#d0d0d0';                            // CSSOM: allowed by the CSP
            p.style.background = '#ffffff';
            document.querySelector('main').append(p);
            return new Promise(resolve => img.complete ? resolve() : (img.onload = img.onerror = resolve));
            "#,
            vec![],
        )
        .await?;
        let found = checks::axe_violations(b.client()).await?.join("\n");
        for expected in [
            "axe-core image-alt (critical)",
            "#axe-probe-img",
            "axe-core color-contrast (serious)",
            "#axe-probe-text",
        ] {
            ensure!(found.contains(expected), "axe-core missed {expected:?}; it found:\n{found}");
        }
        match checks::check_page(b.client(), Expect::Success).await {
            Ok(_) => bail!("a page with axe-core violations passed the page checks"),
            Err(e) => {
                let e = format!("{e:#}");
                ensure!(e.contains("axe-core image-alt"), "unexpected report: {e}");
            }
        }

        b.goto("/").await?;
        Ok(())
    })
    .await;
}
