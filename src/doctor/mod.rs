//! `storelink doctor`: what is wrong with a set-up, before merchants find out. One line per
//! check, `ok`, `warn` or `FAIL`, each naming the setting or command that fixes it; any `FAIL`
//! makes the command exit 1.
//!
//! It reads the same settings as `storelink serve` and looks at the database without changing
//! it (a read-only pool that creates nothing: see [`crate::db::inspect`]), so it runs beside a
//! live `serve`. It never prints a secret: settings are named, not shown, and database URLs are
//! shown without their user info or parameters.
//!
//! The checks: the settings parse ([`setup`]); sandbox mode and why; the public URL and the
//! redirect URIs it makes; the database reachable, its migrations current and not newer than
//! this binary ([`database`]); the master key against a sample of stored credentials; file
//! permissions of the SQLite database and key files; each platform's token endpoint and the
//! clock against its `Date` header ([`platforms`]).

mod database;
mod platforms;
mod setup;

use std::fmt;

use crate::config::{Env, Settings};

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Nothing to do.
    Ok,
    /// Worth a look; storelink works.
    Warn,
    /// storelink will not work as it should until this is fixed.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    /// How it went.
    pub(crate) status: Status,
    /// What was checked ("database", "public URL", ...).
    pub(crate) name: String,
    /// What was found and, unless ok, what fixes it. Never a secret.
    pub(crate) detail: String,
}

impl Check {
    fn new(status: Status, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            name: name.into(),
            detail: detail.into(),
        }
    }

    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Status::Ok, name, detail)
    }

    fn warn(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Status::Warn, name, detail)
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Status::Fail, name, detail)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4} {}: {}", self.status, self.name, self.detail)
    }
}

/// The checks so far; each is printed as it is made, so a slow one shows where it is.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Every check, in order.
    pub(crate) checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, check: Check) {
        println!("{check}");
        self.checks.push(check);
    }

    fn extend(&mut self, checks: impl IntoIterator<Item = Check>) {
        for check in checks {
            self.add(check);
        }
    }

    /// How many checks ended with `status`.
    pub(crate) fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// Runs every check on the settings in `env`, printing each line to standard output.
pub(crate) async fn run(env: Env) -> Report {
    let mut report = Report::default();
    let settings = match Settings::from_vars(env) {
        Ok(settings) => settings,
        Err(e) => {
            // Nothing else can be known without them.
            report.add(Check::fail("settings", e.to_string()));
            return report;
        }
    };
    report.add(Check::ok(
        "settings",
        "storelink's settings parse (environment, and .env in the working directory)",
    ));
    report.add(setup::sandbox(&settings));
    let public_url = setup::public_url(&settings);
    report.add(setup::public_url_check(&settings, &public_url));
    report.extend(setup::file_permissions(&settings));

    let db = match crate::db::inspect::open_read_only(&settings.database_url) {
        Ok(db) => db,
        Err(e) => {
            report.add(Check::fail("database", format!("{e:#}")));
            return report;
        }
    };
    let (reached, usable) = database::reachable(&settings, &db).await;
    report.add(reached);
    let keys = database::keyring(&settings);
    if usable {
        report.add(database::migrations(&db).await);
        report.extend(database::master_key(&db, &keys).await);
    } else {
        report.add(database::master_key_alone(&keys));
    }

    match platforms::registry(&settings, &public_url, &db) {
        Ok(registry) => {
            report.extend(setup::redirect_uris(&registry));
            let probes = platforms::token_endpoints(
                &settings,
                &public_url,
                &registry,
                usable.then_some(&db),
            );
            report.extend(probes.await);
            registry.shutdown().await;
        }
        Err(e) => report.add(Check::fail("platform settings", e)),
    }
    db.close().await;
    report
}
