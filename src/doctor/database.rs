//! The checks of the database: reachable, its migrations current and not newer than this
//! binary, and the master key against the credentials it holds. Every query reads; nothing is
//! created, migrated or re-sealed.

use std::path::PathBuf;

use secrecy::SecretString;

use super::Check;
use crate::{
    config::Settings,
    crypto::{Keyring, MasterKey},
    db::{self, Db, credentials, inspect},
    keys,
};

/// Stored credentials opened to check the master key.
const SAMPLE: i64 = 20;

/// Whether the database answers; `true` as the second value when it can be looked at further.
pub(super) async fn reachable(settings: &Settings, db: &Db) -> (Check, bool) {
    let url = &settings.database_url;
    let shown = db::display_url(url);
    if let Some(fault) = sqlite_file_fault(url) {
        return fault;
    }
    match sqlx::query("SELECT 1").execute(db).await {
        Ok(_) => (Check::ok("database", format!("{shown} answers")), true),
        Err(e) => (
            Check::fail(
                "database",
                format!(
                    "cannot reach {shown}: {e}; check STORELINK_DATABASE_URL, that the server \
                     runs and that it lets storelink's user in"
                ),
            ),
            false,
        ),
    }
}

/// For a SQLite URL, what is wrong before opening it: no file name, no folder, no file yet.
fn sqlite_file_fault(url: &str) -> Option<(Check, bool)> {
    if db::Backend::from_url(url) != Some(db::Backend::Sqlite) {
        return None;
    }
    let Some(path) = db::sqlite_path(url) else {
        let check = Check::fail(
            "database",
            "STORELINK_DATABASE_URL names an in-memory database: nothing would be kept; name a \
             file (sqlite:///var/lib/storelink/storelink.db)",
        );
        return Some((check, false));
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        let check = Check::fail(
            "database",
            format!(
                "the folder {} does not exist: create it (owned by storelink's user) or fix \
                 STORELINK_DATABASE_URL",
                folder.display()
            ),
        );
        return Some((check, false));
    }
    if !path.exists() {
        let check = Check::warn(
            "database",
            format!(
                "there is no database at {} yet: storelink serve (or storelink migrate) creates \
                 it",
                path.display()
            ),
        );
        return Some((check, false));
    }
    None
}

/// The migrations the database holds against those this binary carries.
pub(super) async fn migrations(db: &Db) -> Check {
    let name = "migrations";
    let status = match inspect::migration_status(db).await {
        Ok(status) => status,
        Err(e) => return Check::fail(name, format!("cannot read the migrations table: {e}")),
    };
    if !status.failed.is_empty() {
        return Check::fail(
            name,
            format!(
                "migration {} failed part-way: restore the backup taken before the upgrade \
                 (docs/deploy.md, when a migration fails)",
                list(&status.failed)
            ),
        );
    }
    if !status.unknown.is_empty() {
        return Check::fail(
            name,
            format!(
                "the database was migrated by a newer storelink: it holds migration {} that this \
                 storelink ({}) does not know; run the newer storelink, or restore the backup \
                 taken before the upgrade",
                list(&status.unknown),
                crate::version::LONG
            ),
        );
    }
    if !status.pending.is_empty() {
        return Check::warn(
            name,
            format!(
                "{} migration(s) not applied yet: storelink serve applies them at start (or run \
                 storelink migrate)",
                status.pending.len()
            ),
        );
    }
    Check::ok(
        name,
        format!(
            "{} applied, none pending, none newer than this storelink",
            status.current
        ),
    )
}

fn list(versions: &[i64]) -> String {
    let shown: Vec<String> = versions.iter().map(i64::to_string).collect();
    shown.join(", ")
}

/// The master keys `serve` would use, read without creating anything.
pub(super) enum Keys {
    /// Loaded, from where.
    Loaded(Keyring, String),
    /// Sandbox mode without a key, and no development key file yet.
    NoDevKeyYet(PathBuf),
    /// A key that does not parse, or a file that cannot be read.
    Bad(Check),
}

/// Reads the master keys as `serve` would, but never creates the development key.
pub(super) fn keyring(settings: &Settings) -> Keys {
    let name = "master key";
    let mut previous = Vec::new();
    for (i, encoded) in settings.previous_master_keys.iter().enumerate() {
        match MasterKey::from_base64(encoded) {
            Ok(key) => previous.push(key),
            Err(e) => {
                let detail = format!("STORELINK_PREVIOUS_MASTER_KEYS: key {}: {e}", i + 1);
                return Keys::Bad(Check::fail(name, detail));
            }
        }
    }
    if let Some(encoded) = &settings.master_key {
        return match MasterKey::from_base64(encoded) {
            Ok(key) => Keys::Loaded(
                Keyring::with_previous(key, previous),
                "STORELINK_MASTER_KEY".into(),
            ),
            Err(e) => Keys::Bad(Check::fail(name, format!("STORELINK_MASTER_KEY: {e}"))),
        };
    }
    let path = keys::dev_key_path(&settings.database_url);
    match std::fs::read_to_string(&path) {
        Ok(text) => match MasterKey::from_base64(&SecretString::from(text)) {
            Ok(key) => Keys::Loaded(
                Keyring::with_previous(key, previous),
                format!("the development key file {}", path.display()),
            ),
            Err(e) => Keys::Bad(Check::fail(
                name,
                format!("the development key file {}: {e}", path.display()),
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Keys::NoDevKeyYet(path),
        Err(e) => Keys::Bad(Check::fail(
            name,
            format!(
                "cannot read the development key file {}: {e}",
                path.display()
            ),
        )),
    }
}

/// The keys alone, when the database cannot be looked at.
pub(super) fn master_key_alone(keys: &Keys) -> Check {
    match keys {
        Keys::Bad(check) => check.clone(),
        Keys::Loaded(keyring, from) => Check::ok(
            "master key",
            format!(
                "{from} parses (key id {}); stored credentials not checked (no database)",
                keyring.current().id()
            ),
        ),
        Keys::NoDevKeyYet(_) => no_dev_key_yet(),
    }
}

fn no_dev_key_yet() -> Check {
    Check::ok(
        "master key",
        "sandbox mode: no development key yet; storelink serve creates one beside the database",
    )
}

/// The keys against the stored credentials: every key id in use is loaded, a sample opens, and
/// how many are still sealed with a previous key.
pub(super) async fn master_key(db: &Db, keys: &Keys) -> Vec<Check> {
    let name = "master key";
    let (keyring, from) = match keys {
        Keys::Bad(check) => return vec![check.clone()],
        Keys::NoDevKeyYet(path) => {
            return match credentials::count_by_key(db).await {
                Ok(counts) if counts.is_empty() => vec![no_dev_key_yet()],
                Ok(_) => vec![Check::fail(
                    name,
                    format!(
                        "credentials are stored, but the development key file {} is missing: \
                         put it back, or set STORELINK_MASTER_KEY to the key that sealed them",
                        path.display()
                    ),
                )],
                Err(e) => vec![Check::fail(name, format!("cannot read credentials: {e}"))],
            };
        }
        Keys::Loaded(keyring, from) => (keyring, from),
    };
    match key_findings(db, keyring, from).await {
        Ok(checks) => checks,
        Err(e) => vec![Check::fail(name, format!("cannot read credentials: {e}"))],
    }
}

async fn key_findings(db: &Db, keyring: &Keyring, from: &str) -> sqlx::Result<Vec<Check>> {
    let name = "master key";
    let current = keyring.current().id().to_owned();
    let missing: Vec<String> = credentials::key_ids_in_use(db)
        .await?
        .into_iter()
        .filter(|id| !keyring.has_key(id))
        .collect();
    if !missing.is_empty() {
        return Ok(vec![Check::fail(
            name,
            format!(
                "stored credentials were sealed under key id {}, which {from} (key id {current}) \
                 and STORELINK_PREVIOUS_MASTER_KEYS lack: set STORELINK_MASTER_KEY to the key \
                 they were sealed with (during a rotation, the old one in \
                 STORELINK_PREVIOUS_MASTER_KEYS)",
                missing.join(", ")
            ),
        )]);
    }
    let sample = credentials::sample(db, SAMPLE).await?;
    let opened = sample.iter().filter(|c| c.opens_with(keyring)).count();
    if opened < sample.len() {
        return Ok(vec![Check::fail(
            name,
            format!(
                "{} of {} sampled credentials do not open under the key of their key id: the \
                 key or the database was altered; restore the key they were sealed with",
                sample.len() - opened,
                sample.len()
            ),
        )]);
    }
    let counts = credentials::count_by_key(db).await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let previous: i64 = counts
        .iter()
        .filter(|(id, _)| *id != current)
        .map(|(_, n)| n)
        .sum();
    let mut checks = vec![Check::ok(
        name,
        format!(
            "{from} (key id {current}) opens {opened} of {} sampled credential(s) ({total} \
             stored)",
            sample.len()
        ),
    )];
    if previous > 0 {
        checks.push(Check::warn(
            "key rotation",
            format!(
                "{previous} stored credential(s) still sealed with a previous key: run storelink \
                 rotate-keys, then drop the old key from STORELINK_PREVIOUS_MASTER_KEYS"
            ),
        ));
    }
    Ok(checks)
}
