//! The checks every page passes, run by [`crate::browser::Browser`] after each navigation:
//!
//! - the HTTP status is the one the test expected (2xx unless it said otherwise);
//! - accessibility basics: `<html lang>`, a non-empty `<title>`, exactly one non-empty `<h1>`,
//!   a label for every visible field (`<label for=id>`, a wrapping `<label>`, `aria-label` or
//!   `aria-labelledby`), a name for every button and link, `alt` on every image, no dangling
//!   `aria-describedby`/`aria-labelledby`, no duplicate ids;
//! - nothing blocked or broken: every stylesheet and image loaded, every subresource came from
//!   storelink's own origin with a status below 400;
//! - the browser log holds no error: console errors, CSP violations (Chromium logs them as
//!   errors with source `security`) and failed loads;
//! - axe-core (4.14.1, vendored in `tests/e2e/vendor/`) finds no violation: its default rules
//!   (WCAG 2.x A and AA, and best practices), run on the whole document, error pages included.
//!   It is injected with WebDriver's *Execute Script*, which the page's CSP does not govern, so
//!   storelink never serves it and its CSP stays as strict as in production.
//!
//! The browser log is read through chromedriver's log endpoint, `POST /session/{id}/se/log`
//! (`{"type": "browser"}`), which chromedriver serves in W3C mode too once the session asked for
//! it with the `goog:loggingPrefs` capability. Reading it empties it, so each entry is seen by
//! the check of the page that was current when it was read. Scripts the tests run through
//! WebDriver's `execute` are not subject to the page's CSP; the tests in
//! [`crate::accessibility`] prove both that they run and that a violation they provoke is
//! caught here.

use std::fmt;

use anyhow::{Context as _, bail};
use axum::http::Method;
use fantoccini::{Client, wd::WebDriverCompatibleCommand};
use serde::Deserialize;
use serde_json::json;
use url::{ParseError, Url};

use crate::browser::Expect;

/// What the checks learnt about a page that passed them.
#[derive(Debug, Clone)]
pub struct PageReport {
    /// The document's HTTP status (from the Navigation Timing API), when the browser knows it.
    pub status: Option<u16>,
    /// The page's URL.
    pub url: String,
    /// Its `<title>`.
    pub title: String,
}

/// Runs every check on the current page; fails listing every problem found.
pub async fn check_page(client: &Client, expect: Expect) -> anyhow::Result<PageReport> {
    let found: Inspection = serde_json::from_value(
        client
            .execute(INSPECT_PAGE, vec![])
            .await
            .context("cannot run the page checks")?,
    )
    .context("the page checks returned something unexpected")?;
    let mut problems = found.problems;

    match found.status {
        Some(status) if !expect.accepts(status) => problems.insert(
            0,
            format!("the page answered HTTP {status}, expected {expect}"),
        ),
        Some(_) => {}
        None => problems.push("the browser does not know the page's HTTP status".to_owned()),
    }

    problems.extend(axe_violations(client).await?);

    let log = browser_log(client).await?;
    for entry in &log {
        if !entry.is_error() {
            continue;
        }
        // The document's own non-2xx status is logged as a failed load; it was checked above.
        if let Some(status) = found.status
            && !Expect::Success.accepts(status)
            && expect.accepts(status)
            && entry.is_failed_load_of(&found.url, status)
        {
            continue;
        }
        problems.push(format!("browser log: {entry}"));
    }

    if !problems.is_empty() {
        bail!(
            "{} problem(s) on {} (title {:?}):\n  - {}",
            problems.len(),
            found.url,
            found.title,
            problems.join("\n  - ")
        );
    }
    Ok(PageReport {
        status: found.status,
        url: found.url,
        title: found.title,
    })
}

/// axe-core's source, vendored (see `tests/e2e/vendor/README.md`).
const AXE_SOURCE: &str = include_str!("vendor/axe.min.js");

/// Runs axe-core on the current document (injecting it first when the page does not have it
/// yet); one line per violation: rule, impact, what it means and the elements it found.
pub async fn axe_violations(client: &Client) -> anyhow::Result<Vec<String>> {
    let loaded = client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .context("cannot ask the page whether axe-core is loaded")?;
    if loaded != json!(true) {
        client
            .execute(&format!("{AXE_SOURCE}\nreturn typeof window.axe;"), vec![])
            .await
            .context("cannot inject axe-core into the page")?;
    }
    let found = client
        .execute(RUN_AXE, vec![])
        .await
        .context("axe-core did not run")?;
    let violations: Vec<AxeViolation> =
        serde_json::from_value(found).context("axe-core returned something unexpected")?;
    Ok(violations.iter().map(ToString::to_string).collect())
}

/// One rule axe-core found broken, with the elements that break it.
#[derive(Debug, Deserialize)]
struct AxeViolation {
    id: String,
    impact: Option<String>,
    help: String,
    targets: Vec<String>,
}

impl fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "axe-core {} ({}): {} at {}",
            self.id,
            self.impact.as_deref().unwrap_or("no impact given"),
            self.help,
            self.targets.join(", ")
        )
    }
}

/// Runs axe-core's default rules on the document; resolves to its violations, flattened.
const RUN_AXE: &str = r#"
return window.axe.run(document, { resultTypes: ['violations'] }).then(results =>
  results.violations.map(v => ({
    id: v.id,
    impact: v.impact || null,
    help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')),
  })));
"#;

/// Errors the browser logged since the last page check (run once more after a test's body,
/// for whatever its last page logged late).
pub async fn leftover_log_problems(client: &Client) -> anyhow::Result<()> {
    let errors: Vec<String> = browser_log(client)
        .await?
        .iter()
        .filter(|e| e.is_error())
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() {
        bail!("browser log:\n  - {}", errors.join("\n  - "));
    }
    Ok(())
}

/// One entry of the browser log.
#[derive(Debug, Clone, Deserialize)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, `DEBUG`.
    pub level: String,
    /// `console-api`, `security` (CSP), `network`, `javascript`, ...
    #[serde(default)]
    pub source: String,
    /// The message, usually starting with the URL it concerns.
    pub message: String,
}

impl LogEntry {
    /// Whether this entry fails a page.
    pub fn is_error(&self) -> bool {
        self.level == "SEVERE"
    }

    /// Whether this is Chromium's "failed to load" entry for `url` answering `status`.
    fn is_failed_load_of(&self, url: &str, status: u16) -> bool {
        self.message.starts_with(&format!("{url} - "))
            && self.message.contains(&format!(
                "Failed to load resource: the server responded with a status of {status}"
            ))
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} {}] {}", self.level, self.source, self.message)
    }
}

/// Reads (and so empties) the browser log.
pub async fn browser_log(client: &Client) -> anyhow::Result<Vec<LogEntry>> {
    let value = client.issue_cmd(GetLog("browser")).await.context(
        "cannot read the browser log (chromedriver's POST /session/{id}/se/log; the session \
         must ask for goog:loggingPrefs)",
    )?;
    serde_json::from_value(value).context("the browser log is not a list of entries")
}

/// chromedriver's "get log" command (a Selenium extension, not part of W3C WebDriver).
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, ParseError> {
        // Without a session there is no log; the request then fails with chromedriver's
        // "invalid session id", which says as much.
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("none")))
    }

    fn method_and_body(&self, _request_url: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({ "type": self.0 }).to_string()))
    }
}

/// What [`INSPECT_PAGE`] returns.
#[derive(Debug, Deserialize)]
struct Inspection {
    problems: Vec<String>,
    status: Option<u16>,
    url: String,
    title: String,
}

/// Inspects the document; returns `{problems, status, url, title}`.
const INSPECT_PAGE: &str = r#"
const problems = [];
const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const snippet = el => el.outerHTML.replace(/\s+/g, ' ').slice(0, 160);
const text = el => (el.textContent || '').trim();
const byId = id => document.getElementById(id);
const ariaName = el => (el.getAttribute('aria-label') || '').trim() ||
  (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
    .map(id => byId(id) ? text(byId(id)) : '').join(' ').trim();

const lang = (document.documentElement.getAttribute('lang') || '').trim();
if (!lang) problems.push('<html> has no lang attribute');

const title = (document.title || '').trim();
if (!title) problems.push('the page has no <title>, or an empty one');

const h1s = Array.from(document.querySelectorAll('h1'));
if (h1s.length !== 1) {
  problems.push(`expected exactly one <h1>, found ${h1s.length}` +
    (h1s.length ? `: ${JSON.stringify(h1s.map(text))}` : ''));
} else if (!text(h1s[0])) {
  problems.push('the <h1> is empty');
}

const labels = Array.from(document.querySelectorAll('label'));
for (const el of document.querySelectorAll('input, select, textarea')) {
  const type = (el.getAttribute('type') || 'text').toLowerCase();
  if (type === 'hidden' || !shown(el)) continue;
  if (['submit', 'button', 'reset'].includes(type)) {
    if (!(el.value || '').trim() && !ariaName(el)) problems.push(`button without a name: ${snippet(el)}`);
    continue;
  }
  if (type === 'image') {
    if (!(el.getAttribute('alt') || '').trim() && !ariaName(el)) problems.push(`image button without alt: ${snippet(el)}`);
    continue;
  }
  const byFor = el.id && labels.some(l => l.htmlFor === el.id && text(l));
  const wrapped = el.closest('label') && text(el.closest('label'));
  if (!byFor && !wrapped && !ariaName(el)) problems.push(`visible field without a label: ${snippet(el)}`);
}

for (const b of document.querySelectorAll('button, [role=button]')) {
  if (shown(b) && !text(b) && !ariaName(b)) problems.push(`button without a name: ${snippet(b)}`);
}
for (const a of document.querySelectorAll('a[href]')) {
  const imgAlt = Array.from(a.querySelectorAll('img[alt]')).some(i => i.alt.trim());
  if (shown(a) && !text(a) && !ariaName(a) && !imgAlt) problems.push(`link without text: ${snippet(a)}`);
}
for (const img of document.querySelectorAll('img')) {
  if (!img.hasAttribute('alt')) problems.push(`image without alt: ${snippet(img)}`);
  if (!img.complete || img.naturalWidth === 0) problems.push(`image did not load: ${img.currentSrc || img.src}`);
}
for (const el of document.querySelectorAll('[aria-describedby], [aria-labelledby]')) {
  for (const attr of ['aria-describedby', 'aria-labelledby']) {
    for (const id of (el.getAttribute(attr) || '').split(/\s+/).filter(Boolean)) {
      if (!byId(id)) problems.push(`${attr} names a missing #${id}: ${snippet(el)}`);
    }
  }
}
const seen = new Set();
for (const el of document.querySelectorAll('[id]')) {
  if (seen.has(el.id)) problems.push(`duplicate id #${el.id}`);
  seen.add(el.id);
}

for (const link of document.querySelectorAll('link[rel~="stylesheet"]')) {
  if (!link.sheet) problems.push(`stylesheet did not load (missing, or blocked by the CSP): ${link.href}`);
}
for (const r of performance.getEntriesByType('resource')) {
  if (new URL(r.name).origin !== location.origin) {
    problems.push(`loads from another origin: ${r.name}`);
  } else if (r.responseStatus >= 400) {
    problems.push(`${r.name} answered HTTP ${r.responseStatus}`);
  }
}

const nav = performance.getEntriesByType('navigation')[0];
const status = nav && nav.responseStatus ? nav.responseStatus : null;
return { problems, status, url: location.href, title };
"#;
