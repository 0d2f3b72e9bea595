//! commercetools' clouds: the five cloud identifiers the Merchant Center names a region by
//! (`gcp-eu`, ...), the host part each stands for (`europe-west1.gcp`), the Merchant Center API
//! gateway each is served from (the issuer of its forward-to JWTs), and how a commercetools
//! install's `account_id` is made from a cloud and a project key.

use std::fmt;

/// A commercetools cloud region, as the Merchant Center's `X-MC-API-Cloud-Identifier` header
/// and storelink's forms name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloudIdentifier {
    /// Google Cloud, Australia (`australia-southeast1.gcp`).
    GcpAu,
    /// Google Cloud, Europe (`europe-west1.gcp`).
    GcpEu,
    /// Google Cloud, North America (`us-central1.gcp`).
    GcpUs,
    /// AWS, Frankfurt (`eu-central-1.aws`).
    AwsFra,
    /// AWS, Ohio (`us-east-2.aws`).
    AwsOhio,
}

impl CloudIdentifier {
    /// Every cloud identifier, in the order forms list them.
    pub const ALL: [Self; 5] = [
        Self::GcpEu,
        Self::GcpUs,
        Self::GcpAu,
        Self::AwsFra,
        Self::AwsOhio,
    ];

    /// The identifier as written in headers and forms (exactly, lower case); `None` for
    /// anything else, including the clouds storelink does not serve (`aws-cn`, `azure-us`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The identifier as written in headers and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GcpAu => "gcp-au",
            Self::GcpEu => "gcp-eu",
            Self::GcpUs => "gcp-us",
            Self::AwsFra => "aws-fra",
            Self::AwsOhio => "aws-ohio",
        }
    }

    /// The region part of commercetools' host names: `api.{region}.commercetools.com`,
    /// `auth.{region}...`, `mc-api.{region}...`.
    pub fn region(self) -> &'static str {
        match self {
            Self::GcpAu => "australia-southeast1.gcp",
            Self::GcpEu => "europe-west1.gcp",
            Self::GcpUs => "us-central1.gcp",
            Self::AwsFra => "eu-central-1.aws",
            Self::AwsOhio => "us-east-2.aws",
        }
    }

    /// The Merchant Center API gateway of this cloud, which is also the `iss` of the JWTs it
    /// signs for forward-to requests (version `v2`).
    pub fn mc_api_issuer(self) -> String {
        format!("https://mc-api.{}.commercetools.com", self.region())
    }

    /// The gateway's legacy host name, the `iss` of forward-to version `v1` JWTs: only the two
    /// oldest clouds had one.
    pub fn legacy_mc_api_issuer(self) -> Option<&'static str> {
        match self {
            Self::GcpEu => Some("https://mc-api.commercetools.com"),
            Self::GcpUs => Some("https://mc-api.commercetools.co"),
            Self::GcpAu | Self::AwsFra | Self::AwsOhio => None,
        }
    }
}

impl fmt::Display for CloudIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a commercetools install's `account_id` is stored: `{cloud}:{project_key}` (for example
/// `gcp-eu:acme-shop`). A project key is unique within its cloud only, so the cloud is part of
/// the account. A forwarded Merchant Center caller of project P on cloud C sees the installs on
/// platform `commercetools` with exactly this account id.
pub fn account_id(cloud: CloudIdentifier, project_key: &str) -> String {
    format!("{cloud}:{project_key}")
}

/// The cloud an install's `account_id` (`{cloud}:{project_key}`, [`account_id`]) names, if it
/// names one.
pub fn cloud_of(account_id: &str) -> Option<CloudIdentifier> {
    let (cloud, _) = account_id.split_once(':')?;
    CloudIdentifier::parse(cloud)
}

/// Whether `key` has the form of a commercetools project key: 2 to 36 lower-case letters,
/// digits, `-` or `_`.
pub fn is_project_key(key: &str) -> bool {
    (2..=36).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_read_back_as_written() {
        for cloud in CloudIdentifier::ALL {
            assert_eq!(CloudIdentifier::parse(cloud.as_str()), Some(cloud));
            assert_eq!(cloud.to_string(), cloud.as_str());
        }
        for other in [
            "", "GCP-EU", " gcp-eu", "gcp-eu ", "aws-cn", "azure-us", "eu",
        ] {
            assert_eq!(CloudIdentifier::parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn an_account_names_its_cloud() {
        for cloud in CloudIdentifier::ALL {
            assert_eq!(cloud_of(&account_id(cloud, "acme-shop")), Some(cloud));
        }
        for other in ["", "acme-shop", "aws-cn:acme", ":acme", "GCP-EU:acme"] {
            assert_eq!(cloud_of(other), None, "{other:?}");
        }
    }

    #[test]
    fn each_cloud_has_its_region_and_gateway() {
        let expected = [
            (
                "gcp-au",
                "australia-southeast1.gcp",
                "https://mc-api.australia-southeast1.gcp.commercetools.com",
            ),
            (
                "gcp-eu",
                "europe-west1.gcp",
                "https://mc-api.europe-west1.gcp.commercetools.com",
            ),
            (
                "gcp-us",
                "us-central1.gcp",
                "https://mc-api.us-central1.gcp.commercetools.com",
            ),
            (
                "aws-fra",
                "eu-central-1.aws",
                "https://mc-api.eu-central-1.aws.commercetools.com",
            ),
            (
                "aws-ohio",
                "us-east-2.aws",
                "https://mc-api.us-east-2.aws.commercetools.com",
            ),
        ];
        for (id, region, issuer) in expected {
            let cloud = CloudIdentifier::parse(id).unwrap();
            assert_eq!(cloud.region(), region);
            assert_eq!(cloud.mc_api_issuer(), issuer);
        }
    }

    #[test]
    fn only_the_oldest_clouds_have_legacy_issuers() {
        assert_eq!(
            CloudIdentifier::GcpEu.legacy_mc_api_issuer(),
            Some("https://mc-api.commercetools.com")
        );
        assert_eq!(
            CloudIdentifier::GcpUs.legacy_mc_api_issuer(),
            Some("https://mc-api.commercetools.co")
        );
        for cloud in [
            CloudIdentifier::GcpAu,
            CloudIdentifier::AwsFra,
            CloudIdentifier::AwsOhio,
        ] {
            assert_eq!(cloud.legacy_mc_api_issuer(), None);
        }
    }

    #[test]
    fn account_ids_name_cloud_and_project() {
        assert_eq!(
            account_id(CloudIdentifier::GcpEu, "acme-shop"),
            "gcp-eu:acme-shop"
        );
        assert_eq!(account_id(CloudIdentifier::AwsOhio, "p_1"), "aws-ohio:p_1");
    }

    #[test]
    fn project_keys_have_their_form() {
        for good in ["acme-shop", "ab", "p_1", "a".repeat(36).as_str()] {
            assert!(is_project_key(good), "{good:?}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "acme shop",
            "acme:shop",
            "acme/shop",
            "a".repeat(37).as_str(),
        ] {
            assert!(!is_project_key(bad), "{bad:?}");
        }
    }
}
