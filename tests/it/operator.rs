//! The console's operator in tests: a browser logged in as one ([`ConsoleSession`], from
//! [`TestApp::operator`]), and the log-in itself ([`login_attempt`]) for the tests that look at
//! it, each answer as it came.

use secrecy::SecretString;
use storelink::{clock::Clock as _, db::operators, password};
use url::Url;

use crate::helpers::{TestApp, browser, csrf_in, location};

/// The test operator's email.
pub const EMAIL: &str = "ops@example.com";
/// The test operator's password (any operator a test adds has it).
pub const PASSWORD: &str = "correct horse battery staple";

/// Adds operator `email` through the library (the command line is tested on its own); it must
/// be new.
pub async fn add_operator(app: &TestApp, email: &str, password: &str) {
    let hash = password::hash(&SecretString::from(password)).unwrap();
    assert!(
        operators::add(&app.db, email, &hash, app.clock.unix())
            .await
            .unwrap(),
        "{email} is a new operator"
    );
}

/// The CSRF token of the login page at `base`, fetched in `browser` (which starts its session).
pub async fn login_csrf(base: &Url, browser: &reqwest::Client) -> String {
    let page = browser
        .get(base.join("/console/login").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_in(&page)
}

/// One log-in at `base` in `browser`, as a person does it: the login page, then its form with
/// `email`, `password` and the page's CSRF token. The answer, as it came.
pub async fn login_attempt(
    base: &Url,
    browser: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let token = login_csrf(base, browser).await;
    browser
        .post(base.join("/console/login").unwrap())
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap()
}

impl TestApp {
    /// Adds the test operator ([`EMAIL`], [`PASSWORD`]) and logs it in.
    pub async fn operator(&self) -> ConsoleSession {
        self.operator_as(EMAIL).await
    }

    /// Adds operator `email` (with [`PASSWORD`]) and logs it in.
    pub async fn operator_as(&self, email: &str) -> ConsoleSession {
        add_operator(self, email, PASSWORD).await;
        ConsoleSession::log_in(&self.base, email, PASSWORD).await
    }

    /// [`login_attempt`] at this app.
    pub async fn login_attempt(
        &self,
        browser: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        login_attempt(&self.base, browser, email, password).await
    }

    /// [`login_csrf`] at this app.
    pub async fn login_csrf(&self, browser: &reqwest::Client) -> String {
        login_csrf(&self.base, browser).await
    }
}

/// A browser logged in to the console: its cookies (it follows no redirect: tests look at each)
/// and its session's CSRF token, which [`post_form`](Self::post_form) adds to every form.
pub struct ConsoleSession {
    /// The browser itself, for what the methods do not cover.
    pub client: reqwest::Client,
    base: Url,
    csrf: String,
}

impl ConsoleSession {
    /// Logs operator `email` in at `base` in a new browser (the answer must be `303` to
    /// `/console`), then opens `/console` for the CSRF token (logging in gives the session a
    /// new one).
    pub async fn log_in(base: &Url, email: &str, password: &str) -> Self {
        let client = browser();
        let response = login_attempt(base, &client, email, password).await;
        assert_eq!(response.status(), 303, "{email} logs in");
        assert_eq!(location(&response), "/console");
        let mut session = Self {
            client,
            base: base.clone(),
            csrf: String::new(),
        };
        session.form_page("/console").await;
        session
    }

    /// The same browser (cookies and token) at another `base`: another instance behind the
    /// same load balancer.
    pub fn at(&self, base: &Url) -> Self {
        Self {
            client: self.client.clone(),
            base: base.clone(),
            csrf: self.csrf.clone(),
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// The CSRF token [`post_form`](Self::post_form) adds.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Takes the CSRF token of `page` (which must hold a form carrying one) as the session's.
    pub fn refresh_csrf(&mut self, page: &str) {
        self.csrf = csrf_in(page);
    }

    /// `GET path`, which must answer 200: the page.
    pub async fn get(&self, path: &str) -> String {
        let response = self.get_response(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    /// `GET path`, whatever it answers: the status and the page.
    pub async fn get_with_status(&self, path: &str) -> (u16, String) {
        let response = self.get_response(path).await;
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// `GET path`: the answer as it came.
    pub async fn get_response(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET path` ([`get`](Self::get)) and [`refresh_csrf`](Self::refresh_csrf) from the page:
    /// a form posted next carries the token of the page it is on.
    pub async fn form_page(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        self.refresh_csrf(&page);
        page
    }

    /// Posts `fields` as a form to `path`, with the session's `csrf_token` added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form = fields.to_vec();
        form.push(("csrf_token", &self.csrf));
        self.post_form_bare(path, &form).await
    }

    /// Posts exactly `fields` as a form to `path`, adding no token: for a form that has none, or
    /// to send a missing or forged one.
    pub async fn post_form_bare(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}
