//! The shared `TestApp`: the app in-process on `127.0.0.1:0`, a temporary database, a clock the
//! tests move, and a stand-in Maropost and bol.com (one wiremock server, bol.com under `/bol/`)
//! that records every request.

use std::{collections::HashMap, sync::Arc, time::Duration};

use crate::database::TestDatabase;
pub use crate::database::contains;
use storelink::db::Db;
use storelink::{
    app::Application, clock::ManualClock, config::Settings, crypto::MasterKey, state::AppState,
};
use url::Url;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-7f3a9c";
pub const TOKEN_PATH: &str = "/oauth/v2/token";
pub const AUTHORIZE_PATH: &str = "/oauth/v2/auth";
pub const BOL_CLIENT_ID: &str = "bol-intermediary-id";
pub const BOL_CLIENT_SECRET: &str = "bol-intermediary-secret-4d1e";
pub const BOL_AUTHORIZE_PATH: &str = "/bol/authorize";
pub const BOL_TOKEN_PATH: &str = "/bol/token";
/// `BOL_API_URL`: the Retailer API's base on the stand-in.
pub const BOL_API_PATH: &str = "/bol/retailer";
/// Where the stand-in Maropost serves its API (`{store_domain}` filled in).
pub const MAROPOST_API_PATH: &str = "/maropost/{store_domain}/do/WS/NetoAPI";
/// Where the stand-in OrderCloud marketplace is (`ORDERCLOUD_API_URL`).
pub const ORDERCLOUD_PATH: &str = "/ordercloud";
/// The stand-in commercetools auth and API hosts (`COMMERCETOOLS_AUTH_URL`, `..._API_URL`).
pub const COMMERCETOOLS_AUTH_PATH: &str = "/ct/auth/{region}";
pub const COMMERCETOOLS_API_PATH: &str = "/ct/api/{region}";

/// A change to the settings a test wants.
pub type Configure = Box<dyn FnOnce(&mut Settings) + Send>;

/// How a test wants its app.
pub struct Options {
    /// Use the built-in sandbox instead of the wiremock stand-in.
    pub sandbox: bool,
    pub accept_panel_installs: bool,
    pub http_timeout: Duration,
    pub public_url: Option<Url>,
    /// Point the token URL somewhere else (e.g. a closed port).
    pub token_url: Option<Url>,
    /// `BOL_ACCOUNT_CLAIM`.
    pub bol_account_claim: Option<String>,
    /// `STORELINK_API_RATE_LIMIT` (the default when `None`).
    pub api_rate_limit: Option<u32>,
    /// `STORELINK_PROXY_MAX_RESPONSE` (the default when `None`).
    pub proxy_max_response: Option<usize>,
    /// Anything else, changed on the settings just before the app is built (the stand-ins'
    /// URLs are filled in by then).
    pub configure: Option<Configure>,
    /// The test looks at SQLite's own files: SQLite even when the run is on PostgreSQL.
    pub sqlite_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sandbox: false,
            accept_panel_installs: true,
            http_timeout: Duration::from_secs(10),
            public_url: None,
            token_url: None,
            bol_account_claim: None,
            api_rate_limit: None,
            proxy_max_response: None,
            configure: None,
            sqlite_only: false,
        }
    }
}

pub struct TestApp {
    /// `http://localhost:{port}/`
    pub base: Url,
    pub db: Db,
    pub state: AppState,
    pub clock: ManualClock,
    /// The stand-in Maropost, and bol.com under `/bol/`.
    pub maropost: MockServer,
    pub dir: tempfile::TempDir,
    /// What the app was built with (a second process on the same database uses them too).
    pub settings: Settings,
    /// Last, so a PostgreSQL database is dropped after everything else of the test.
    pub database: TestDatabase,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_sandbox() -> TestApp {
    spawn_with(Options {
        sandbox: true,
        ..Options::default()
    })
    .await
}

pub async fn spawn_with(options: Options) -> TestApp {
    if std::env::var_os("STORELINK_TEST_LOG").is_some() {
        // The app's log on stderr while debugging a test (`RUST_LOG` filters it).
        storelink::telemetry::init();
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = TestDatabase::create(dir.path(), options.sqlite_only).await;
    let maropost = MockServer::start().await;
    let mut settings = Settings::sandbox_defaults(database.url.clone());
    if database.is_postgres() {
        // In sandbox mode a PostgreSQL instance keeps its development key in the working
        // directory; a test's key is its own.
        settings.master_key = Some(MasterKey::generate_base64());
    }
    settings.sandbox = options.sandbox;
    settings.http_timeout = options.http_timeout;
    settings.public_url = options.public_url;
    if !options.accept_panel_installs {
        settings.env.set("MAROPOST_ACCEPT_PANEL_INSTALLS", "off");
    }
    if let Some(limit) = options.api_rate_limit {
        settings.api.rate_limit = limit;
    }
    if let Some(cap) = options.proxy_max_response {
        settings.api.proxy_max_response = cap;
    }
    if !options.sandbox {
        settings.master_key = Some(MasterKey::generate_base64());
        let stand_in = |path: &str| format!("{}{path}", maropost.uri());
        let token_url = options
            .token_url
            .map_or_else(|| stand_in(TOKEN_PATH), |url| url.to_string());
        let env = &mut settings.env;
        env.set("MAROPOST_CLIENT_ID", CLIENT_ID);
        env.set("MAROPOST_CLIENT_SECRET", CLIENT_SECRET);
        env.set("MAROPOST_AUTHORIZE_URL", stand_in(AUTHORIZE_PATH));
        env.set("MAROPOST_TOKEN_URL", token_url);
        env.set("MAROPOST_API_URL_TEMPLATE", stand_in(MAROPOST_API_PATH));
        env.set("BOL_CLIENT_ID", BOL_CLIENT_ID);
        env.set("BOL_CLIENT_SECRET", BOL_CLIENT_SECRET);
        env.set("BOL_AUTHORIZE_URL", stand_in(BOL_AUTHORIZE_PATH));
        env.set("BOL_TOKEN_URL", stand_in(BOL_TOKEN_PATH));
        env.set("BOL_API_URL", stand_in(BOL_API_PATH));
        if let Some(claim) = options.bol_account_claim {
            env.set("BOL_ACCOUNT_CLAIM", claim);
        }
        env.set("ORDERCLOUD_API_URL", stand_in(ORDERCLOUD_PATH));
        env.set("COMMERCETOOLS_AUTH_URL", stand_in(COMMERCETOOLS_AUTH_PATH));
        env.set("COMMERCETOOLS_API_URL", stand_in(COMMERCETOOLS_API_PATH));
        // The stand-ins listen on 127.0.0.1.
        settings.allow_private_endpoints = true;
    }
    if let Some(configure) = options.configure {
        configure(&mut settings);
    }
    let clock = ManualClock::new();
    let app = Application::build(settings.clone(), Arc::new(clock.clone()))
        .await
        .expect("the app builds");
    let base = Url::parse(&format!("http://localhost:{}/", app.port())).unwrap();
    let state = app.state();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        base,
        db: state.db.clone(),
        state,
        clock,
        maropost,
        dir,
        settings,
        database,
    }
}

/// A browser: keeps cookies, never follows redirects (tests look at each one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Maropost's documented token answer for `store_id`.
pub fn token_answer(store_id: &str, domain: &str, access_token: &str) -> serde_json::Value {
    serde_json::json!({
        "scope": "api user address",
        "store_id": store_id,
        "store_domain": domain,
        "store_name": "Ryan's Surf Shop",
        "store_timezone": "Australia/Brisbane",
        "access_token": access_token,
        "user": {"id": "77", "first_name": "Ryan", "last_name": "Murtagh", "email": "ryan@example.com"},
        "billing_address": {"street1": "1 Beach Rd", "street2": "", "city": "Brisbane",
            "state": "QLD", "post_code": "4000", "country_name": "Australia", "country_code": "AU"}
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// Makes the stand-in token endpoint answer `response`.
    pub async fn token_endpoint_answers(&self, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(response)
            .mount(&self.maropost)
            .await;
    }

    /// The form bodies the stand-in token endpoint received.
    pub async fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.maropost
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == TOKEN_PATH)
            .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
            .collect()
    }

    /// Starts an install in `browser`; returns the authorize URL's query.
    pub async fn start_install(
        &self,
        browser: &reqwest::Client,
        domain: &str,
    ) -> HashMap<String, String> {
        let response = browser
            .get(self.url("/install/maropost"))
            .query(&[("store_domain", domain)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "install start redirects");
        let location = location(&response);
        Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    /// Calls the callback in `browser` with `params`.
    pub async fn callback(
        &self,
        browser: &reqwest::Client,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        browser
            .get(self.url("/oauth/maropost/callback"))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// A full install of `store_id` through the stand-in, answering `access_token`.
    pub async fn install(
        &self,
        browser: &reqwest::Client,
        store_id: &str,
        domain: &str,
        token: &str,
    ) {
        self.maropost.reset().await;
        self.token_endpoint_answers(
            ResponseTemplate::new(200).set_body_json(token_answer(store_id, domain, token)),
        )
        .await;
        let authorize = self.start_install(browser, domain).await;
        let response = self
            .callback(
                browser,
                &[("code", "code-1"), ("state", &authorize["state"])],
            )
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/installed");
    }

    /// Everything the database keeps at rest ([`TestDatabase::at_rest`]).
    pub async fn at_rest(&self) -> Vec<(String, Vec<u8>)> {
        self.database.at_rest(&self.db, self.dir.path()).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `csrf_token` field's value in a page (the first such field): the console's forms and the
/// merchant's order-updates form carry one.
pub fn csrf_in(body: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = body.find(marker).expect("a csrf_token field") + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// A port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The real `storelink` binary, started with only `vars` in its environment, in `dir` (so no
/// `.env` of the checkout is read), on a port of its own; its log lines so far are in `log`,
/// and `lines` reads the rest.
pub struct RunningBinary {
    pub child: tokio::process::Child,
    pub port: u16,
    pub log: String,
    pub lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
}

/// Starts the binary (see [`RunningBinary`]) and waits until it listens.
pub async fn start_binary(dir: &std::path::Path, vars: &[(&str, &str)]) -> RunningBinary {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .env_clear()
        .env("STORELINK_BIND", "127.0.0.1:0")
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("its stderr is piped");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut log = String::new();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            // Text logs say `address=127.0.0.1:PORT`, JSON logs `"address":"127.0.0.1:PORT"`.
            let found = line
                .split("127.0.0.1:")
                .nth(1)
                .filter(|_| line.contains("storelink is listening"))
                .map(|rest| {
                    rest.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                });
            if let Some(port) = found.and_then(|p| p.parse::<u16>().ok()) {
                return port;
            }
        }
        panic!("the binary stopped before listening:\n{log}");
    })
    .await
    .expect("the binary listens within 30 s");
    RunningBinary {
        child,
        port,
        log,
        lines,
    }
}
