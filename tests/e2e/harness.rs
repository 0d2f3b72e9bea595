//! Running one browser test: find (or skip without) the browser, start chromedriver once per
//! binary, start storelink in-process, open a browser session, run the test body, and on any
//! failure save a screenshot, the page source and a report before failing.

use std::{
    env,
    future::Future,
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Once, OnceLock},
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use fantoccini::{Client, ClientBuilder};
use futures::FutureExt as _;
use serde_json::json;
use storelink::db::Db;
use tempfile::TempDir;
use url::Url;

use crate::browser::Browser;

/// Set to `1` to make a missing browser fail the tests instead of skipping them.
pub const REQUIRED_VAR: &str = "STORELINK_E2E_REQUIRED";
/// Optional path of the Chromium (or Chrome) binary to drive.
pub const CHROMIUM_VAR: &str = "STORELINK_E2E_CHROMIUM";
/// Optional path of the chromedriver binary.
pub const CHROMEDRIVER_VAR: &str = "STORELINK_E2E_CHROMEDRIVER";
/// Optional directory for failure artifacts (default `target/e2e-artifacts`).
pub const ARTIFACTS_VAR: &str = "STORELINK_E2E_ARTIFACTS";

/// A whole test, body and checks, must finish within this.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Starting a browser session (Chromium's start-up) must finish within this.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Each step of saving artifacts and closing the session gets this long.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);
/// chromedriver must answer `/status` within this after being started.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Flags for headless Chromium running as root in a container, without any network chatter of
/// its own (so the browser log holds only what our pages cause).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1280,1024",
    "--lang=en-US",
];

/// What a test body gets: the browser, and the storelink it talks to.
pub struct E2e {
    /// The browser session, with helpers that check every page it lands on.
    pub browser: Browser,
    /// The storelink instance under test.
    pub app: TestApp,
}

/// A storelink started in-process for one test, with its own database.
#[derive(Clone)]
pub struct TestApp {
    /// Its public URL, `http://localhost:{port}/`: the host its cookies and redirect URIs use.
    pub base: Url,
    /// Its database.
    pub db: Db,
    /// Its clock: the real time, plus however far the test moved it.
    pub clock: ShiftedClock,
}

/// The system's clock moved forward by what a test asks ([`ShiftedClock::advance`]): time
/// keeps running, as the browser's does, and a test can still jump past an expiry.
#[derive(Debug, Clone, Default)]
pub struct ShiftedClock(Arc<std::sync::atomic::AtomicI64>);

impl ShiftedClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let seconds = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.0
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl storelink::clock::Clock for ShiftedClock {
    fn now(&self) -> time::OffsetDateTime {
        let shift = self.0.load(std::sync::atomic::Ordering::SeqCst);
        time::OffsetDateTime::now_utc() + time::Duration::seconds(shift)
    }
}

impl TestApp {
    /// Starts storelink with the sandbox providers, its database in `dir`.
    async fn start(dir: &Path) -> anyhow::Result<Self> {
        let url = format!("sqlite://{}", dir.join("e2e.db").display());
        let settings = storelink::config::Settings::sandbox_defaults(url);
        let clock = ShiftedClock::default();
        let app = storelink::app::Application::build(settings, Arc::new(clock.clone()))
            .await
            .context("failed to build storelink for the browser test")?;
        let base = app.public_url().clone();
        let db = app.state().db.clone();
        tokio::spawn(async move {
            if let Err(e) = app.run_until(std::future::pending()).await {
                eprintln!("e2e: the storelink under test stopped with an error: {e:#}");
            }
        });
        Ok(Self { base, db, clock })
    }

    /// Runs a `SELECT COUNT(*) ...` (or any query with one integer result).
    pub async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.db)
            .await
            .with_context(|| format!("query failed: {sql}"))
    }
}

/// Runs one browser test. `name` names the artifacts (use the test function's name).
///
/// The body gets a fresh browser and a fresh storelink. If it returns an error, panics, times
/// out, or leaves an error in the browser log, the test fails after saving a screenshot, the
/// page source and a report under [`artifacts_dir`]. Without a browser the test is skipped
/// with a message, or fails when `STORELINK_E2E_REQUIRED=1`.
pub async fn run<F, Fut>(name: &str, body: F)
where
    F: FnOnce(E2e) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let Some(driver) = driver_or_skip(name).await else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("storelink-e2e-")
        .tempdir()
        .unwrap_or_else(|e| panic!("{name}: cannot create a temporary directory: {e}"));
    let app = match TestApp::start(dir.path()).await {
        Ok(app) => app,
        Err(e) => panic!("{name}: {e:#}"),
    };
    let (client, _profile) = match open_session(&driver).await {
        Ok(session) => session,
        Err(e) => panic!("{name}: {e:#}"),
    };

    let browser = Browser::new(client.clone(), app.base.clone());
    let journal = browser.journal();
    let body = AssertUnwindSafe(async move { body(E2e { browser, app }).await }).catch_unwind();
    let failure = match tokio::time::timeout(TEST_TIMEOUT, body).await {
        Err(_) => Some(anyhow!(
            "timed out after {} s (a page never loaded, or a wait never ended)",
            TEST_TIMEOUT.as_secs()
        )),
        Ok(Err(panic)) => Some(anyhow!("panicked: {}", panic_message(panic.as_ref()))),
        Ok(Ok(Err(e))) => Some(e),
        // Whatever the last page logged after its check still counts.
        Ok(Ok(Ok(()))) => crate::checks::leftover_log_problems(&client)
            .await
            .err()
            .map(|e| e.context("the browser log has errors from the last page")),
    };

    let artifacts = match &failure {
        Some(error) => Some(save_artifacts(name, &client, error, &journal.lines()).await),
        None => {
            remove_stale_artifacts(name);
            None
        }
    };
    match tokio::time::timeout(CLEANUP_TIMEOUT, client.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("e2e: {name}: closing the browser session failed: {e}"),
        Err(_) => eprintln!("e2e: {name}: closing the browser session timed out"),
    }
    drop(dir);

    if let Some(error) = failure {
        let saved = artifacts.unwrap_or_default();
        panic!("browser test {name} failed: {error:#}\n{saved}");
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

// ----- failure artifacts -----

/// Where failing tests leave their screenshot, page source and report:
/// `$STORELINK_E2E_ARTIFACTS`, else `$CARGO_TARGET_DIR/e2e-artifacts`, else
/// `target/e2e-artifacts` in the package.
pub fn artifacts_dir() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = env::var_os(ARTIFACTS_VAR).filter(|v| !v.is_empty()) {
        return manifest_dir.join(dir);
    }
    let target = env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(|t| manifest_dir.join(t))
        .unwrap_or_else(|| manifest_dir.join("target"));
    target.join("e2e-artifacts")
}

/// Saves `{name}.png`, `{name}.html` and `{name}.txt`; returns a message naming them (or what
/// could not be saved). Never fails: the test is failing already.
async fn save_artifacts(
    name: &str,
    client: &Client,
    error: &anyhow::Error,
    journal: &[String],
) -> String {
    let dir = artifacts_dir();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        let message = format!("could not create {}: {e}", dir.display());
        eprintln!("e2e: {name}: {message}");
        return message;
    }
    let mut saved = Vec::new();
    let mut problems = Vec::new();

    let url = match tokio::time::timeout(CLEANUP_TIMEOUT, client.current_url()).await {
        Ok(Ok(url)) => url.to_string(),
        Ok(Err(e)) => format!("(unknown: {e})"),
        Err(_) => "(unknown: the browser did not answer)".to_owned(),
    };
    match tokio::time::timeout(CLEANUP_TIMEOUT, client.screenshot()).await {
        Ok(Ok(png)) => write_artifact(&dir.join(format!("{name}.png")), &png, &mut saved),
        Ok(Err(e)) => problems.push(format!("screenshot failed: {e}")),
        Err(_) => problems.push("screenshot timed out".to_owned()),
    }
    match tokio::time::timeout(CLEANUP_TIMEOUT, client.source()).await {
        Ok(Ok(html)) => write_artifact(
            &dir.join(format!("{name}.html")),
            html.as_bytes(),
            &mut saved,
        ),
        Ok(Err(e)) => problems.push(format!("page source failed: {e}")),
        Err(_) => problems.push("page source timed out".to_owned()),
    }
    let log = match tokio::time::timeout(CLEANUP_TIMEOUT, crate::checks::browser_log(client)).await
    {
        Ok(Ok(entries)) => entries
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(Err(e)) => format!("  (could not read it: {e:#})"),
        Err(_) => "  (could not read it: timed out)".to_owned(),
    };
    let report = format!(
        "test: {name}\nerror: {error:#}\n\nlast URL: {url}\n\npages visited (HTTP status, URL, title):\n{}\n\nbrowser log since the last page check:\n{log}\n",
        journal
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    write_artifact(
        &dir.join(format!("{name}.txt")),
        report.as_bytes(),
        &mut saved,
    );

    let mut message = format!("failure artifacts: {}", saved.join(", "));
    if !problems.is_empty() {
        message.push_str(&format!(" (also: {})", problems.join("; ")));
    }
    message
}

fn write_artifact(path: &Path, bytes: &[u8], saved: &mut Vec<String>) {
    match std::fs::write(path, bytes) {
        Ok(()) => saved.push(path.display().to_string()),
        Err(e) => eprintln!("e2e: cannot write {}: {e}", path.display()),
    }
}

/// A passing test removes what an earlier failing run of it left behind.
fn remove_stale_artifacts(name: &str) {
    let dir = artifacts_dir();
    for ext in ["png", "html", "txt"] {
        let _ = std::fs::remove_file(dir.join(format!("{name}.{ext}")));
    }
}

// ----- the browser -----

/// The chromedriver shared by every test of this binary.
struct Driver {
    /// `http://127.0.0.1:{port}/`.
    url: String,
    /// The browser binary sessions are started with.
    chromium: PathBuf,
    /// While this pipe is open the watchdog waits; when this process ends, for whatever reason,
    /// it closes and the watchdog kills chromedriver's process group (browsers included).
    _watchdog: ChildStdin,
}

static DRIVER: OnceLock<Result<Arc<Driver>, String>> = OnceLock::new();

/// The shared chromedriver, started on first use; `None` when the browser is missing and not
/// required (the test is then skipped, loudly).
async fn driver_or_skip(name: &str) -> Option<Arc<Driver>> {
    let found = match tokio::task::spawn_blocking(|| DRIVER.get_or_init(start_driver).clone()).await
    {
        Ok(found) => found,
        Err(e) => panic!("{name}: starting chromedriver panicked: {e}"),
    };
    match found {
        Ok(driver) => Some(driver),
        Err(reason) if reason.starts_with(MISSING) && !required() => {
            // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
            // and a skipped browser test must not go unnoticed.
            static BANNER: Once = Once::new();
            BANNER.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\n==================== BROWSER TESTS SKIPPED ====================\n\
                     e2e: {reason}\n\
                     The browser tests pass without running. Install the browser (Debian:\n\
                     apt-get install chromium chromium-driver), or run scripts/test, which\n\
                     installs it and sets {REQUIRED_VAR}=1 so that they must run.\n\
                     ===============================================================\n"
                );
            });
            let _ = writeln!(std::io::stderr(), "e2e: skipped {name} (no browser)");
            None
        }
        Err(reason) => panic!("{name}: {reason}"),
    }
}

const MISSING: &str = "browser not found:";

fn required() -> bool {
    env::var(REQUIRED_VAR).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Finds the binaries and starts chromedriver on a free port, retrying if another process took
/// the port first.
fn start_driver() -> Result<Arc<Driver>, String> {
    let chromedriver = find_binary(CHROMEDRIVER_VAR, &["chromedriver"]);
    let chromium = find_binary(
        CHROMIUM_VAR,
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
    );
    let (chromedriver, chromium) = match (chromedriver, chromium) {
        (Ok(d), Ok(c)) => (d, c),
        (d, c) => {
            let missing: Vec<String> = [d.err(), c.err()].into_iter().flatten().collect();
            let mut reason = format!("{MISSING} {}", missing.join("; "));
            if required() {
                reason.push_str(&format!(
                    " ({REQUIRED_VAR}=1 is set, so the browser tests must run)"
                ));
            }
            return Err(reason);
        }
    };
    let mut last_error = String::new();
    for _ in 0..3 {
        match spawn_driver(&chromedriver) {
            Ok((url, watchdog)) => {
                return Ok(Arc::new(Driver {
                    url,
                    chromium,
                    _watchdog: watchdog,
                }));
            }
            Err(e) => last_error = format!("{e:#}"),
        }
    }
    Err(format!(
        "chromedriver ({}) did not start: {last_error}",
        chromedriver.display()
    ))
}

/// `$var` if set, else the first of `names` found on the `PATH`.
fn find_binary(var: &str, names: &[&str]) -> Result<PathBuf, String> {
    if let Some(path) = env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "{var}={} is not an executable file",
                path.display()
            ))
        };
    }
    let path = env::var_os("PATH").unwrap_or_default();
    for dir in env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "none of {} is on the PATH (or set {var})",
        names.join(", ")
    ))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Starts chromedriver in its own process group, with a watchdog that kills that group when
/// this process ends, and waits until it answers.
fn spawn_driver(chromedriver: &Path) -> anyhow::Result<(String, ChildStdin)> {
    let port = free_port()?;
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log_path = dir.join("chromedriver.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .context("cannot share the chromedriver log")?,
        )
        .stderr(log)
        // Its own group: Ctrl-C in a terminal does not reach it, and the watchdog can kill it
        // together with every browser it started.
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {}", chromedriver.display()))?;
    let group = child.id();

    // The watchdog's stdin is a pipe only this process writes to. When this process exits the
    // pipe closes, `read` returns, and the whole chromedriver group goes.
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(
            "read _ignored; kill -s TERM -- -\"$1\" 2>/dev/null; sleep 3; \
             kill -s KILL -- -\"$1\" 2>/dev/null; exit 0",
        )
        .arg("storelink-e2e-watchdog")
        .arg(group.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let watchdog_stdin = match watchdog.as_mut().map(|w| w.stdin.take()) {
        Ok(Some(stdin)) => stdin,
        Ok(None) => {
            let _ = child.kill();
            bail!("the chromedriver watchdog has no stdin")
        }
        Err(e) => {
            let _ = child.kill();
            bail!("cannot start the chromedriver watchdog (sh): {e}")
        }
    };

    match wait_until_ready(&mut child, port) {
        Ok(()) => Ok((format!("http://127.0.0.1:{port}/"), watchdog_stdin)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e.context(format!("see {}", log_path.display())))
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port for chromedriver")?;
    Ok(listener.local_addr()?.port())
}

/// Polls `GET /status` until chromedriver says it is ready.
fn wait_until_ready(child: &mut Child, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Some(status) = child.try_wait().context("cannot watch chromedriver")? {
            bail!("chromedriver exited at start-up ({status})");
        }
        if let Ok(body) = http_get(address, "/status")
            && body.contains("\"ready\":true")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "chromedriver did not answer on port {port} within {} s",
                DRIVER_START_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal blocking `GET`, enough for chromedriver's `/status`: returns what arrived before
/// the connection closed or went quiet (chromedriver may keep it open).
fn http_get(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// A new browser session with a fresh profile; the profile directory lives as long as the
/// returned guard, which must outlive the session.
async fn open_session(driver: &Driver) -> anyhow::Result<(Client, TempDir)> {
    let profile = tempfile::Builder::new()
        .prefix("storelink-e2e-chromium-")
        .tempdir()
        .context("cannot create a browser profile directory")?;
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let capabilities = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "goog:chromeOptions": {
            "binary": driver.chromium.display().to_string(),
            "args": args,
        },
        // Collect the console (errors, CSP violations, failed loads) for the page checks.
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        bail!("capabilities must be a JSON object");
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut builder = ClientBuilder::new(connector);
    builder.capabilities(capabilities);
    let connect = builder.connect(&driver.url);
    let client = tokio::time::timeout(SESSION_TIMEOUT, connect)
        .await
        .map_err(|_| {
            anyhow!(
                "the browser did not start within {} s",
                SESSION_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| {
            format!(
                "chromedriver could not start {} (check that chromium and chromedriver are the \
                 same version; chromedriver's log is {})",
                driver.chromium.display(),
                artifacts_dir().join("chromedriver.log").display()
            )
        })?;
    Ok((client, profile))
}
