//! The checks of the set-up itself: sandbox mode, the public URL and the redirect URIs it makes,
//! and the permissions of the files that hold what storelink keeps secret.

use std::path::{Path, PathBuf};

use oauth2::{CsrfToken, PkceCodeChallenge};
use url::Url;

use super::Check;
use crate::{config::Settings, db, domain::StoreDomain, keys, platforms::Registry};

/// Sandbox mode, and why it is on or off.
pub(super) fn sandbox(settings: &Settings) -> Check {
    if settings.sandbox {
        Check::warn(
            "sandbox mode",
            format!(
                "on ({}): stand-ins for the platforms hand out tokens to anyone; for real stores \
                 set a platform's client id and STORELINK_MASTER_KEY (or STORELINK_SANDBOX=off)",
                settings.sandbox_why
            ),
        )
    } else {
        Check::ok("sandbox mode", format!("off ({})", settings.sandbox_why))
    }
}

/// The public URL `serve` would use: the setting, else `http://localhost:{bind port}`.
pub(super) fn public_url(settings: &Settings) -> Url {
    settings.public_url.clone().unwrap_or_else(|| {
        let port = settings.bind.port();
        // Built from a u16 port only (no outside text): it always parses.
        Url::parse(&format!("http://localhost:{port}")).expect("a localhost URL with a port parses")
    })
}

/// https outside sandbox mode.
pub(super) fn public_url_check(settings: &Settings, public_url: &Url) -> Check {
    let name = "public URL";
    let shown = public_url.as_str().trim_end_matches('/');
    match (settings.sandbox, public_url.scheme(), &settings.public_url) {
        (true, _, _) => Check::ok(name, format!("{shown} (sandbox mode: http is fine here)")),
        (false, "https", _) => Check::ok(name, shown),
        (false, _, None) => Check::fail(
            name,
            format!(
                "STORELINK_PUBLIC_URL is not set, so merchants would be sent to {shown}: set it \
                 to the https:// address merchants reach"
            ),
        ),
        (false, _, Some(_)) => Check::fail(
            name,
            format!(
                "{shown} is not https outside sandbox mode: set STORELINK_PUBLIC_URL to the \
                 https:// address merchants reach (platforms refuse http redirect URIs, and \
                 console cookies are Secure only over https)"
            ),
        ),
    }
}

/// The redirect URI each platform's install flow sends, to compare with what is registered.
pub(super) fn redirect_uris(registry: &Registry) -> Vec<Check> {
    let state = CsrfToken::new("doctor".to_owned());
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let domain = StoreDomain::parse("store.example.com").ok();
    registry
        .all()
        .filter_map(|driver| {
            let flow = driver.code_flow()?;
            let authorize = flow.authorize_url(domain.as_ref(), &state, &challenge);
            let redirect = authorize
                .query_pairs()
                .find(|(name, _)| name == "redirect_uri")
                .map(|(_, value)| value.into_owned())?;
            let platform = driver.platform();
            Some(Check::ok(
                format!("{} redirect URI", platform.short_name()),
                format!(
                    "{redirect} (register exactly this with {})",
                    platform.display_name()
                ),
            ))
        })
        .collect()
}

/// The SQLite database's files, the sandbox's development key and `.env`: readable by
/// storelink's user only.
pub(super) fn file_permissions(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(path) = db::sqlite_path(&settings.database_url)
        && path.exists()
    {
        let files: Vec<PathBuf> = ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                PathBuf::from(name)
            })
            .collect();
        checks.push(private_files(
            "database file",
            &files,
            "storelink serve also tightens them at start",
        ));
    }
    if settings.sandbox && settings.master_key.is_none() {
        let key = keys::dev_key_path(&settings.database_url);
        if key.exists() {
            checks.push(private_files(
                "development key file",
                &[key],
                "it opens every stored credential",
            ));
        }
    }
    let env_file = Path::new(".env");
    if holds_secrets(env_file) {
        checks.push(private_files(
            ".env",
            &[env_file.to_owned()],
            "it holds secrets",
        ));
    }
    checks
}

/// Whether a settings file sets a master key, a secret, a password or a token (read, never
/// shown).
fn holds_secrets(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, _)| {
            name.trim()
                .trim_start_matches("export ")
                .to_ascii_uppercase()
        })
        .any(|name| {
            ["MASTER_KEY", "SECRET", "PASSWORD", "TOKEN"]
                .iter()
                .any(|word| name.contains(word))
        })
}

/// Whether every one of `files` that exists is readable and writable by its owner only.
fn private_files(name: &str, files: &[PathBuf], why: &str) -> Check {
    let open: Vec<(String, u32)> = files
        .iter()
        .filter_map(|file| Some((file.display().to_string(), mode(file)?)))
        .filter(|(_, mode)| mode & 0o077 != 0)
        .collect();
    if open.is_empty() {
        let shown = files.first().map(|f| f.display().to_string());
        return Check::ok(
            name,
            format!("{} readable by its owner only", shown.unwrap_or_default()),
        );
    }
    let listed: Vec<String> = open
        .iter()
        .map(|(file, mode)| format!("{file} (mode {:04o})", mode & 0o7777))
        .collect();
    let names: Vec<&str> = open.iter().map(|(file, _)| file.as_str()).collect();
    Check::fail(
        name,
        format!(
            "{} readable by others: chmod 600 {} ({why})",
            listed.join(", "),
            names.join(" ")
        ),
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode(_path: &Path) -> Option<u32> {
    None
}
