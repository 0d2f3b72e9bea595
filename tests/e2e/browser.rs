//! What a test does in the browser, in a merchant's (or operator's) words: open a page, fill a
//! field by its label, click a button or link by its text, read the heading.
//!
//! Every action that lands on a new page waits for that page and runs [`crate::checks`] on it,
//! including its HTTP status: [`Expect::Success`] unless the test says otherwise. So a test
//! cannot visit a page without checking it.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail, ensure};
use fantoccini::{Client, Locator, elements::Element};
use serde_json::{Value, json};
use url::Url;

use crate::checks::{self, PageReport};

/// A page load (after a click or `goto`) must finish within this.
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for an element to appear.
const FIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often waits poll.
const POLL: Duration = Duration::from_millis(50);

/// The HTTP status a navigation must end on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any 2xx (the default).
    Success,
    /// Exactly this status, e.g. `400` for a refused form.
    Status(u16),
    /// Any 4xx.
    ClientError,
}

impl Expect {
    /// Whether `status` is what was expected.
    pub fn accepts(self, status: u16) -> bool {
        match self {
            Self::Success => (200..300).contains(&status),
            Self::Status(s) => status == s,
            Self::ClientError => (400..500).contains(&status),
        }
    }
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Success => write!(f, "2xx"),
            Self::Status(s) => write!(f, "{s}"),
            Self::ClientError => write!(f, "4xx"),
        }
    }
}

/// Pages visited, for the failure report.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn push(&self, line: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// Everything recorded so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One browser session on one storelink.
pub struct Browser {
    client: Client,
    base: Url,
    journal: Journal,
    /// The report of the page the browser is on (after the last navigation).
    page: Option<PageReport>,
}

static MARKERS: AtomicU64 = AtomicU64::new(0);

impl Browser {
    pub(crate) fn new(client: Client, base: Url) -> Self {
        Self {
            client,
            base,
            journal: Journal::default(),
            page: None,
        }
    }

    pub(crate) fn journal(&self) -> Journal {
        self.journal.clone()
    }

    /// The fantoccini client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What the checks found on the current page (status, URL, title).
    pub fn page(&self) -> anyhow::Result<&PageReport> {
        self.page
            .as_ref()
            .context("no page has been loaded yet (start with goto)")
    }

    // ----- navigation: each one waits for the new page and checks it -----

    /// Opens `path` (relative to storelink's public URL); expects a 2xx page.
    pub async fn goto(&mut self, path: &str) -> anyhow::Result<()> {
        self.goto_expecting(path, Expect::Success).await
    }

    /// Opens `path`, expecting the page to answer `expect`.
    pub async fn goto_expecting(&mut self, path: &str, expect: Expect) -> anyhow::Result<()> {
        let url = self
            .base
            .join(path)
            .with_context(|| format!("cannot make a URL of {path:?}"))?;
        let what = format!("open {url}");
        let client = self.client.clone();
        self.navigate(&what, expect, async move {
            client.goto(url.as_str()).await.map_err(anyhow::Error::from)
        })
        .await
    }

    /// Clicks the one visible button whose text (or value) is `text`; expects a 2xx page.
    pub async fn click_button(&mut self, text: &str) -> anyhow::Result<()> {
        self.click_button_expecting(text, Expect::Success).await
    }

    /// Clicks the button `text`, expecting the page it leads to to answer `expect`.
    pub async fn click_button_expecting(
        &mut self,
        text: &str,
        expect: Expect,
    ) -> anyhow::Result<()> {
        let button = self.button(text).await?;
        self.navigate(&format!("click the button {text:?}"), expect, async move {
            button.click().await.map_err(anyhow::Error::from)
        })
        .await
    }

    /// Clicks the one visible link whose text is `text`; expects a 2xx page.
    pub async fn click_link(&mut self, text: &str) -> anyhow::Result<()> {
        self.click_link_expecting(text, Expect::Success).await
    }

    /// Clicks the link `text`, expecting the page it leads to to answer `expect`.
    pub async fn click_link_expecting(&mut self, text: &str, expect: Expect) -> anyhow::Result<()> {
        let link = self.link(text).await?;
        self.navigate(&format!("click the link {text:?}"), expect, async move {
            link.click().await.map_err(anyhow::Error::from)
        })
        .await
    }

    /// Reloads the page; expects a 2xx page.
    pub async fn reload(&mut self) -> anyhow::Result<()> {
        let client = self.client.clone();
        self.navigate("reload the page", Expect::Success, async move {
            client.refresh().await.map_err(anyhow::Error::from)
        })
        .await
    }

    /// Runs `action`, waits until a new document has replaced the current one and finished
    /// loading, then checks it.
    async fn navigate(
        &mut self,
        what: &str,
        expect: Expect,
        action: impl Future<Output = anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        // Tag the current document; the next one will not carry the tag.
        let marker = format!("e2e-{}", MARKERS.fetch_add(1, Ordering::Relaxed));
        self.client
            .execute("window.__e2eMarker = arguments[0];", vec![json!(marker)])
            .await
            .with_context(|| format!("{what}: cannot tag the current page"))?;
        action.await.with_context(|| format!("{what}: failed"))?;

        let deadline = Instant::now() + NAVIGATION_TIMEOUT;
        let mut last;
        loop {
            // While the next document loads, scripts may fail ("no such execution context"):
            // that is part of waiting.
            match self
                .client
                .execute(
                    "return [window.__e2eMarker || null, document.readyState, location.href];",
                    vec![],
                )
                .await
            {
                Ok(v) => {
                    let tag = v.get(0).and_then(Value::as_str);
                    let ready = v.get(1).and_then(Value::as_str) == Some("complete");
                    if tag != Some(marker.as_str()) && ready {
                        break;
                    }
                    last = format!("{v}");
                }
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                bail!(
                    "{what}: no new page loaded within {} s (last seen: {last})",
                    NAVIGATION_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        }

        let report = checks::check_page(&self.client, expect).await;
        match &report {
            Ok(page) => self.journal.push(format!(
                "{} {} {:?} (after: {what})",
                page.status.map_or("???".to_owned(), |s| s.to_string()),
                page.url,
                page.title
            )),
            Err(e) => self
                .journal
                .push(format!("(checks failed after: {what}) {e:#}")),
        }
        self.page = Some(report.with_context(|| format!("after: {what}"))?);
        Ok(())
    }

    // ----- finding things -----

    /// The one visible element `xpath` matches, waiting up to [`FIND_TIMEOUT`] for it.
    /// `what` describes it for error messages.
    pub async fn find_one(&self, xpath: &str, what: &str) -> anyhow::Result<Element> {
        let deadline = Instant::now() + FIND_TIMEOUT;
        loop {
            let found = self
                .client
                .find_all(Locator::XPath(xpath))
                .await
                .with_context(|| format!("cannot look for {what}"))?;
            let mut visible = Vec::new();
            for element in found {
                if element.is_displayed().await.unwrap_or(false) {
                    visible.push(element);
                }
            }
            match visible.len() {
                1 => return Ok(visible.remove(0)),
                0 if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                0 => bail!("there is no visible {what} on {}", self.where_am_i().await),
                n => bail!(
                    "there are {n} visible elements matching {what} on {}; make the test (or \
                     the page) unambiguous",
                    self.where_am_i().await
                ),
            }
        }
    }

    /// The visible button (or submit input) labelled `text`.
    pub async fn button(&self, text: &str) -> anyhow::Result<Element> {
        let t = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={t} or @aria-label={t}] | \
             //input[(@type='submit' or @type='button') and @value={t}]"
        );
        match self.find_one(&xpath, &format!("button {text:?}")).await {
            Ok(b) => Ok(b),
            Err(e) => Err(e.context(format!("buttons here: {}", self.texts("button").await))),
        }
    }

    /// The visible link whose text is `text`.
    pub async fn link(&self, text: &str) -> anyhow::Result<Element> {
        let t = xpath_literal(text);
        let xpath = format!("//a[normalize-space(.)={t} or @aria-label={t}]");
        match self.find_one(&xpath, &format!("link {text:?}")).await {
            Ok(a) => Ok(a),
            Err(e) => Err(e.context(format!("links here: {}", self.texts("a").await))),
        }
    }

    /// The form field labelled `label`: through `<label for=id>`, a wrapping `<label>`, or
    /// `aria-label`.
    pub async fn field(&self, label: &str) -> anyhow::Result<Element> {
        let t = xpath_literal(label);
        let fields = "self::input or self::select or self::textarea";
        let xpath = format!(
            "//*[({fields}) and (@id = //label[normalize-space(.)={t}]/@for or @aria-label={t})] | \
             //label[normalize-space(.)={t}]//*[{fields}]"
        );
        match self
            .find_one(&xpath, &format!("field labelled {label:?}"))
            .await
        {
            Ok(f) => Ok(f),
            Err(e) => Err(e.context(format!("labels here: {}", self.texts("label").await))),
        }
    }

    /// Replaces the content of the field labelled `label` with `value`, typing it.
    pub async fn fill(&self, label: &str, value: &str) -> anyhow::Result<()> {
        let field = self.field(label).await?;
        field
            .clear()
            .await
            .with_context(|| format!("cannot clear the field {label:?}"))?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("cannot type into the field {label:?}"))?;
        let typed = field.prop("value").await?.unwrap_or_default();
        ensure!(
            typed == value,
            "typed {value:?} into the field {label:?}, but it holds {typed:?}"
        );
        Ok(())
    }

    /// The current value of the field labelled `label`.
    pub async fn field_value(&self, label: &str) -> anyhow::Result<String> {
        Ok(self
            .field(label)
            .await?
            .prop("value")
            .await?
            .unwrap_or_default())
    }

    /// The error shown for the field labelled `label`: the text of the elements its
    /// `aria-describedby` names, which is how a screen reader hears it. Fails when the field
    /// is not marked `aria-invalid="true"` or describes nothing.
    pub async fn field_error(&self, label: &str) -> anyhow::Result<String> {
        let field = self.field(label).await?;
        let invalid = field.attr("aria-invalid").await?;
        ensure!(
            invalid.as_deref() == Some("true"),
            "the field {label:?} is not marked aria-invalid=\"true\" (it is {invalid:?})"
        );
        let ids = field.attr("aria-describedby").await?.unwrap_or_default();
        let mut texts = Vec::new();
        for id in ids.split_whitespace() {
            let described = self
                .client
                .find(Locator::Id(id))
                .await
                .with_context(|| format!("the field {label:?} points to a missing #{id}"))?;
            texts.push(described.text().await?);
        }
        ensure!(
            !texts.is_empty(),
            "the field {label:?} has no aria-describedby error text"
        );
        Ok(texts.join(" "))
    }

    // ----- reading the page -----

    /// The text of the page's one `<h1>` (the checks guarantee there is one).
    pub async fn h1(&self) -> anyhow::Result<String> {
        let h1 = self
            .client
            .find(Locator::Css("h1"))
            .await
            .context("the page has no <h1>")?;
        Ok(h1.text().await?.trim().to_owned())
    }

    /// Fails unless the `<h1>` contains `expected`.
    pub async fn assert_h1_contains(&self, expected: &str) -> anyhow::Result<()> {
        let h1 = self.h1().await?;
        ensure!(
            h1.contains(expected),
            "expected the heading to contain {expected:?}, but it is {h1:?} on {}",
            self.where_am_i().await
        );
        Ok(())
    }

    /// The visible text of the page's `<body>`.
    pub async fn text(&self) -> anyhow::Result<String> {
        let body = self.client.find(Locator::Css("body")).await?;
        Ok(body.text().await?)
    }

    /// Fails unless the page's visible text contains `expected`.
    pub async fn assert_text_contains(&self, expected: &str) -> anyhow::Result<()> {
        let text = self.text().await?;
        ensure!(
            text.contains(expected),
            "expected the page to say {expected:?} on {}; it says:\n{text}",
            self.where_am_i().await
        );
        Ok(())
    }

    /// The current URL.
    pub async fn url(&self) -> anyhow::Result<Url> {
        Ok(self.client.current_url().await?)
    }

    /// Fails unless the browser is on storelink at `path` (any query).
    pub async fn assert_path(&self, path: &str) -> anyhow::Result<()> {
        let url = self.url().await?;
        ensure!(
            url.origin() == self.base.origin() && url.path() == path,
            "expected to be on {path} of {}, but the browser is on {url}",
            self.base
        );
        Ok(())
    }

    /// Runs a script in the page (not subject to the page's CSP) and returns its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client
            .execute(script, args)
            .await
            .map_err(|e| anyhow!("script failed: {e}"))
    }

    /// "URL (“heading”)", for error messages.
    async fn where_am_i(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|_| "(unknown URL)".to_owned(), |u| u.to_string());
        let h1 = match self.client.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        format!("{url} (heading {h1:?})")
    }

    /// The trimmed texts of the visible `tag` elements, for error messages.
    async fn texts(&self, tag: &str) -> String {
        let script = "return Array.from(document.querySelectorAll(arguments[0]))\
            .filter(e => e.getClientRects().length > 0)\
            .map(e => (e.innerText || e.value || e.getAttribute('aria-label') || '').trim());";
        match self.client.execute(script, vec![json!(tag)]).await {
            Ok(v) => v.to_string(),
            Err(e) => format!("(could not list them: {e})"),
        }
    }
}

/// `s` as an XPath string literal, whatever quotes it holds.
pub fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_literals_quote_anything() {
        assert_eq!(xpath_literal("Approve"), "'Approve'");
        assert_eq!(xpath_literal("Store's domain"), "\"Store's domain\"");
        assert_eq!(xpath_literal(r#"a'b"c"#), r#"concat('a', "'", 'b"c')"#);
    }

    #[test]
    fn expectations_accept_the_right_statuses() {
        assert!(Expect::Success.accepts(200) && !Expect::Success.accepts(303));
        assert!(Expect::Status(400).accepts(400) && !Expect::Status(400).accepts(404));
        assert!(Expect::ClientError.accepts(403) && !Expect::ClientError.accepts(502));
    }
}
