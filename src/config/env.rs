//! The environment settings are read from, and reading one setting in one call: each variable is
//! spelled once, where it is read (`env.url("BOL_TOKEN_URL")?`), and every refusal is a
//! [`ConfigError`] naming it. storelink's own settings are read in [`super::Settings`]; each
//! platform reads its own from the same [`Env`] (`src/platforms/<name>/settings.rs`).

use std::{collections::BTreeMap, fmt, time::Duration};

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use super::values::{
    ConfigError, parse_bool, parse_count, parse_duration, parse_http_url, parse_issuer,
    parse_issuer_url, parse_networks,
};

/// The variables storelink may read, by name: the process's environment (and `.env`), or what a
/// test sets. Empty values count as unset (`FOO=` in a `.env` file means "no value"). `Debug`
/// shows the names only: values may be secrets.
#[derive(Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Env {
    /// The process's environment.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// The variables in `pairs`.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut env = Self::default();
        for (name, value) in pairs {
            env.set(name, value);
        }
        env
    }

    /// Sets `name` (an empty value unsets it).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        if value.trim().is_empty() {
            self.0.remove(&name);
        } else {
            self.0.insert(name, value);
        }
    }

    /// Unsets `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// The value of `name`, trimmed, when it is set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim())
    }

    /// The names of the variables set that start with `prefix`.
    pub fn names_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .range(prefix.to_owned()..)
            .map(|(name, _)| name.as_str())
            .take_while(move |name| name.starts_with(prefix))
    }

    /// `name` read with `parse`, whose refusal is worded as "expected ...".
    pub fn parse<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(|v| parse(v).map_err(|why| ConfigError::new(name, why)))
            .transpose()
    }

    /// `name` as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// `name` as a secret.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }

    /// `name` as `on`/`off` (or the usual spellings of both).
    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        self.get(name).map(|v| parse_bool(name, v)).transpose()
    }

    /// `name` as an http(s) URL with a host.
    pub fn url(&self, name: &'static str) -> Result<Option<Url>, ConfigError> {
        self.get(name).map(|v| parse_http_url(name, v)).transpose()
    }

    /// `name` as an issuer identifier (RFC 9207), kept as written.
    pub fn issuer(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        self.get(name).map(|v| parse_issuer(name, v)).transpose()
    }

    /// `name` as the base URL of a token issuer that serves its key set under it.
    pub fn issuer_url(&self, name: &'static str) -> Result<Option<Url>, ConfigError> {
        self.get(name)
            .map(|v| parse_issuer_url(name, v))
            .transpose()
    }

    /// `name` as a whole number within `min..=max`.
    pub fn count(
        &self,
        name: &'static str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        self.get(name)
            .map(|v| parse_count(name, v, min, max))
            .transpose()
    }

    /// `name` as a duration (`30s`, `500ms`, `2m`, or seconds).
    pub fn duration(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        self.get(name).map(|v| parse_duration(name, v)).transpose()
    }

    /// `name` as comma-separated addresses and networks.
    pub fn networks(&self, name: &'static str) -> Result<Option<Vec<IpNet>>, ConfigError> {
        self.get(name).map(|v| parse_networks(name, v)).transpose()
    }

    /// A pair of credentials (`id_name`, `secret_name`): both or neither.
    pub fn credentials(
        &self,
        id_name: &'static str,
        secret_name: &'static str,
        what: &str,
    ) -> Result<Option<(String, SecretString)>, ConfigError> {
        match (self.text(id_name), self.secret(secret_name)) {
            (Some(id), Some(secret)) => Ok(Some((id, secret))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                secret_name,
                format!("required when the other {what} credential is set"),
            )),
            (None, Some(_)) => Err(ConfigError::new(
                id_name,
                format!("required when the other {what} credential is set"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_unset_and_values_are_trimmed() {
        let env = Env::from_pairs([("A", " x "), ("B", "  "), ("C_ONE", "1"), ("C_TWO", "2")]);
        assert_eq!(env.get("A"), Some("x"));
        assert_eq!(env.get("B"), None);
        assert_eq!(
            env.names_with_prefix("C_").collect::<Vec<_>>(),
            ["C_ONE", "C_TWO"]
        );
        assert!(!format!("{env:?}").contains('x'), "Debug shows names only");
    }

    #[test]
    fn half_a_pair_of_credentials_names_the_missing_one() {
        let env = Env::from_pairs([("X_CLIENT_ID", "id")]);
        let err = env
            .credentials("X_CLIENT_ID", "X_CLIENT_SECRET", "X")
            .unwrap_err();
        assert_eq!(err.var, "X_CLIENT_SECRET");
        let env = Env::from_pairs([("X_CLIENT_SECRET", "s")]);
        let err = env
            .credentials("X_CLIENT_ID", "X_CLIENT_SECRET", "X")
            .unwrap_err();
        assert_eq!(err.var, "X_CLIENT_ID");
    }
}
