//! OrderCloud's settings (`ORDERCLOUD_API_URL`) and its hosts: which API bases a marketplace
//! connection may use.

use url::Url;

use crate::{
    config::{ConfigError, Env},
    platforms::kit::{connect::FieldError, endpoints::join},
};

/// The roles asked for unless the operator names others. OrderCloud grants only those the user
/// (or API client) has of them, without an error, so one all-encompassing list serves every
/// connection (reference 002).
pub const DEFAULT_SCOPE: &str = "FullAccess MeAdmin MeAddressAdmin MeXpAdmin AdminUserReader \
     AdminUserAdmin BuyerReader BuyerAdmin BuyerUserReader BuyerUserAdmin CatalogReader \
     CatalogAdmin CategoryReader CategoryAdmin InventoryAdmin OrderReader OrderAdmin \
     PasswordReset PriceScheduleReader PriceScheduleAdmin ProductReader ProductAdmin \
     ProductAssignmentAdmin PromotionReader PromotionAdmin ShipmentReader ShipmentAdmin \
     SupplierReader SupplierAdmin";

/// A token is renewed when this little of it remains, in seconds.
pub const MARGIN_SECS: i64 = 60;
/// The sandbox stand-in's path, under the public URL.
pub const SANDBOX_PATH: &str = "/sandbox/ordercloud";

/// One of OrderCloud's API hosts: an environment in a region.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// Sandbox, Staging or Production.
    pub environment: &'static str,
    /// The Azure region.
    pub region: &'static str,
    /// The API base URL.
    pub url: &'static str,
}

const fn host(environment: &'static str, region: &'static str, url: &'static str) -> Host {
    Host {
        environment,
        region,
        url,
    }
}

/// OrderCloud's API hosts, as its "Regions and environments" page lists them: US West has the
/// original names, the other regions `{region}-{environment}.ordercloud.io`.
pub const HOSTS: [Host; 15] = [
    host("Sandbox", "US West", "https://sandboxapi.ordercloud.io"),
    host("Staging", "US West", "https://stagingapi.ordercloud.io"),
    host("Production", "US West", "https://api.ordercloud.io"),
    host("Sandbox", "US East", "https://useast-sandbox.ordercloud.io"),
    host("Staging", "US East", "https://useast-staging.ordercloud.io"),
    host(
        "Production",
        "US East",
        "https://useast-production.ordercloud.io",
    ),
    host(
        "Sandbox",
        "Australia East",
        "https://australiaeast-sandbox.ordercloud.io",
    ),
    host(
        "Staging",
        "Australia East",
        "https://australiaeast-staging.ordercloud.io",
    ),
    host(
        "Production",
        "Australia East",
        "https://australiaeast-production.ordercloud.io",
    ),
    host(
        "Sandbox",
        "Europe West",
        "https://westeurope-sandbox.ordercloud.io",
    ),
    host(
        "Staging",
        "Europe West",
        "https://westeurope-staging.ordercloud.io",
    ),
    host(
        "Production",
        "Europe West",
        "https://westeurope-production.ordercloud.io",
    ),
    host(
        "Sandbox",
        "Japan East",
        "https://japaneast-sandbox.ordercloud.io",
    ),
    host(
        "Staging",
        "Japan East",
        "https://japaneast-staging.ordercloud.io",
    ),
    host(
        "Production",
        "Japan East",
        "https://japaneast-production.ordercloud.io",
    ),
];

/// OrderCloud's settings, resolved.
#[derive(Debug, Clone)]
pub struct OrderCloudConfig {
    /// `ORDERCLOUD_API_URL` (or the sandbox's, in sandbox mode): when set, the only API base.
    pub only_api_url: Option<Url>,
}

impl OrderCloudConfig {
    /// Reads `ORDERCLOUD_API_URL` from `env` and resolves it.
    pub fn from_env(env: &Env, sandbox: bool, public_url: &Url) -> Result<Self, ConfigError> {
        Self::resolve(env.url("ORDERCLOUD_API_URL")?.as_ref(), sandbox, public_url)
    }

    /// The configured base, else the sandbox's in sandbox mode, else none (any of [`HOSTS`]).
    pub fn resolve(
        configured: Option<&Url>,
        sandbox: bool,
        public_url: &Url,
    ) -> Result<Self, ConfigError> {
        let only_api_url = match configured {
            Some(url) => Some(url.clone()),
            None if sandbox => Some(join(public_url, SANDBOX_PATH, "STORELINK_PUBLIC_URL")?),
            None => None,
        };
        Ok(Self { only_api_url })
    }

    /// The API bases an operator may choose from: `(label, URL)`.
    pub fn choices(&self) -> Vec<(String, String)> {
        match &self.only_api_url {
            Some(url) => vec![(
                "The configured host (ORDERCLOUD_API_URL, or the sandbox)".to_owned(),
                base_text(url),
            )],
            None => HOSTS
                .iter()
                .map(|h| {
                    (
                        format!("{} ({})", h.environment, h.region),
                        h.url.to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// The API base `given` names: one of [`Self::choices`], compared without a trailing slash.
    /// Omitted, it is the configured one when there is one.
    pub fn api_base(&self, given: Option<&str>) -> Result<Url, FieldError> {
        let given = given.map(str::trim).filter(|g| !g.is_empty());
        let wrong = || {
            FieldError::new(
                "api_url",
                "Choose the API base URL of the marketplace's region and environment, as \
                 OrderCloud's API console shows it (one of OrderCloud's hosts).",
            )
        };
        let chosen = match (given, &self.only_api_url) {
            (None, Some(only)) => return Ok(only.clone()),
            (None, None) => return Err(wrong()),
            (Some(given), _) => given.trim_end_matches('/'),
        };
        self.choices()
            .into_iter()
            .find(|(_, url)| url == chosen)
            .and_then(|(_, url)| Url::parse(&url).ok())
            .ok_or_else(wrong)
    }
}

/// A base URL as written in choices: without a trailing slash.
pub fn base_text(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// `{base}/{path}`, for a base with or without a trailing slash.
pub fn under(base: &Url, path: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!("{}/{path}", base_text(base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> OrderCloudConfig {
        OrderCloudConfig { only_api_url: None }
    }

    #[test]
    fn only_known_hosts_are_bases() {
        let config = production();
        assert_eq!(
            config
                .api_base(Some("https://sandboxapi.ordercloud.io/"))
                .unwrap()
                .as_str(),
            "https://sandboxapi.ordercloud.io/"
        );
        assert!(
            config
                .api_base(Some("https://westeurope-production.ordercloud.io"))
                .is_ok()
        );
        for bad in [
            "https://evil.example",
            "http://sandboxapi.ordercloud.io",
            "https://sandboxapi.ordercloud.io.evil.example",
            "https://sandboxapi.ordercloud.io/v1",
            "https://user@sandboxapi.ordercloud.io",
            "",
        ] {
            assert_eq!(
                config.api_base(Some(bad)).unwrap_err().field,
                "api_url",
                "{bad}"
            );
        }
        assert!(config.api_base(None).is_err());
    }

    #[test]
    fn a_configured_base_is_the_only_one() {
        let only = Url::parse("http://127.0.0.1:9000/oc").unwrap();
        let config = OrderCloudConfig {
            only_api_url: Some(only.clone()),
        };
        assert_eq!(config.api_base(None).unwrap(), only);
        assert_eq!(
            config.api_base(Some("http://127.0.0.1:9000/oc/")).unwrap(),
            only
        );
        assert!(config.api_base(Some("https://api.ordercloud.io")).is_err());
    }
}
