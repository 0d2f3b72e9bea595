//! The master keys, loaded at start-up: the current one (or, in sandbox mode, a development key
//! kept beside the database), the previous ones of a rotation, and the check that every stored
//! credential can be opened with them.

use crate::{
    config::Settings,
    crypto::{Keyring, MasterKey},
    db::{self, Db, credentials},
};

/// Loads the master key (and any previous ones); in sandbox mode without one, creates a development key beside the
/// database (once) and says so loudly.
pub(crate) fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let previous = settings
        .previous_master_keys
        .iter()
        .enumerate()
        .map(|(i, encoded)| {
            MasterKey::from_base64(encoded)
                .map_err(|e| anyhow::anyhow!("STORELINK_PREVIOUS_MASTER_KEYS: key {}: {e}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(encoded) = &settings.master_key {
        let key = MasterKey::from_base64(encoded)
            .map_err(|e| anyhow::anyhow!("STORELINK_MASTER_KEY: {e}"))?;
        return Ok(Keyring::with_previous(key, previous));
    }
    if !settings.sandbox {
        anyhow::bail!("STORELINK_MASTER_KEY: required outside sandbox mode");
    }
    let path = dev_key_path(&settings.database_url);
    let (key, created) = MasterKey::load_or_create_dev_key(&path)?;
    tracing::warn!(
        path = %path.display(),
        created,
        "sandbox mode: credentials are sealed with a development key kept in a file; \
         set STORELINK_MASTER_KEY (see `storelink keygen`) for real use"
    );
    Ok(Keyring::with_previous(key, previous))
}

/// `storelink.db` -> `storelink.db.master-key`, beside the database.
pub(crate) fn dev_key_path(database_url: &str) -> std::path::PathBuf {
    match db::sqlite_path(database_url) {
        Some(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".master-key");
            path.with_file_name(name)
        }
        None => std::path::PathBuf::from("storelink.master-key"),
    }
}

/// Refuses to start when stored credentials were sealed under a key this process lacks: better
/// a clear stop now than credentials that cannot be opened when they are needed.
pub(crate) async fn check_keys_in_use(db: &Db, keyring: &Keyring) -> anyhow::Result<()> {
    let unknown: Vec<String> = credentials::key_ids_in_use(db)
        .await?
        .into_iter()
        .filter(|id| !keyring.has_key(id))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "STORELINK_MASTER_KEY: stored credentials were sealed under key id {}, but the \
             configured key has id {}; start with the key they were sealed with",
            unknown.join(", "),
            keyring.current().id()
        );
    }
    Ok(())
}
