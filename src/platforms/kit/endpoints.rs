//! Where a platform's endpoints are: what is configured, else the built-in sandbox in sandbox
//! mode, else the platform's production URL. Every platform's settings resolve the same way.

use url::Url;

use crate::config::ConfigError;

/// A platform URL that has a production default.
pub struct Endpoint<'a> {
    /// The setting's value, when set.
    pub configured: &'a Option<Url>,
    /// The sandbox's path for it, under the public URL.
    pub sandbox_path: &'a str,
    /// The production URL.
    pub production: &'a str,
    /// The setting's name, for errors.
    pub var: &'static str,
}

impl Endpoint<'_> {
    /// The URL to use: configured, else the sandbox's (in sandbox mode), else production.
    pub fn resolve(&self, sandbox: bool, public_url: &Url) -> Result<Url, ConfigError> {
        match self.configured {
            Some(url) => Ok(url.clone()),
            None if sandbox => join(public_url, self.sandbox_path, self.var),
            None => Url::parse(self.production).map_err(|e| ConfigError {
                var: self.var,
                reason: e.to_string(),
            }),
        }
    }
}

/// `path` under `base`, or an error naming the setting `var`.
pub fn join(base: &Url, path: &str, var: &'static str) -> Result<Url, ConfigError> {
    base.join(path).map_err(|e| ConfigError {
        var,
        reason: e.to_string(),
    })
}

/// A sandbox's issuer identifier: the origin of `public_url` (or of any URL under it) with
/// `path`.
pub fn sandbox_issuer(public_url: &Url, path: &str) -> String {
    format!("{}{path}", public_url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_then_sandbox_then_production() {
        let public = Url::parse("http://localhost:3000").unwrap();
        let configured = Some(Url::parse("https://token.example.com/t").unwrap());
        let endpoint = |configured| Endpoint {
            configured,
            sandbox_path: "/sandbox/x/token",
            production: "https://x.example.com/token",
            var: "X_TOKEN_URL",
        };
        assert_eq!(
            endpoint(&configured).resolve(true, &public).unwrap(),
            configured.clone().unwrap()
        );
        assert_eq!(
            endpoint(&None).resolve(true, &public).unwrap().as_str(),
            "http://localhost:3000/sandbox/x/token"
        );
        assert_eq!(
            endpoint(&None).resolve(false, &public).unwrap().as_str(),
            "https://x.example.com/token"
        );
    }
}
