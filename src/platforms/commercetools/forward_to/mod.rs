//! Requests forwarded by the commercetools Merchant Center API gateway ("forward-to"): a
//! Custom Application in the Merchant Center calls `/proxy/forward-to` on its cloud's gateway,
//! which checks that the logged-in user may use the project and forwards the request to
//! storelink with
//!
//! - `X-MC-API-Forward-To-Version: v2` (or `v1`, the legacy host names),
//! - `X-MC-API-Cloud-Identifier: gcp-eu` (one of the five clouds), and
//! - `Authorization: Bearer <JWT>`, signed RS256 by the gateway.
//!
//! [`ForwardTo::verify`] turns such a request into the [`McUser`] it proves ("user `sub` of
//! project P on cloud C asked for this path"), or a [`Refusal`]: the issuer is the gateway of
//! the request's cloud identifier (or `COMMERCETOOLS_MC_API_URL`, for every cloud), never one
//! the token names; its keys come from `{issuer}/.well-known/jwks.json` ([`jwks`]); only RS256
//! is accepted ([`jwt`]); `iss`, `aud` (storelink's public origin and the request's path: see
//! [`audience`]) and `exp` are checked on the app's clock. Every refusal is a value, never a
//! panic.

pub mod jwks;
pub mod jwt;

use url::Url;

use super::cloud::{self, CloudIdentifier};

/// The forward-to version header.
pub const VERSION_HEADER: &str = "x-mc-api-forward-to-version";
/// The cloud identifier header.
pub const CLOUD_HEADER: &str = "x-mc-api-cloud-identifier";

/// Why a forwarded request was not accepted. The text is safe to show the caller: it names
/// what was wrong, never a token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// One of the three headers is missing (named).
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// `X-MC-API-Forward-To-Version` is neither `v1` nor `v2`.
    #[error("the forward-to version is not v1 or v2")]
    UnknownVersion,
    /// `X-MC-API-Cloud-Identifier` names no cloud storelink serves.
    #[error("the cloud identifier is not one of gcp-au, gcp-eu, gcp-us, aws-fra, aws-ohio")]
    UnknownCloud,
    /// Version `v1` for a cloud that never had a legacy gateway.
    #[error("forward-to version v1 does not exist for this cloud")]
    NoLegacyGateway,
    /// `Authorization` is not `Bearer <token>`.
    #[error("the Authorization header is not a bearer token")]
    NotBearer,
    /// Not a JWT storelink can read.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// Signed with an algorithm other than RS256 (named, shortened).
    #[error("the token's algorithm {0:?} is not RS256")]
    Algorithm(String),
    /// No key of the gateway's has the token's `kid`.
    #[error("the token's key is not one of the gateway's")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// `iss` is not the gateway of the request's cloud identifier.
    #[error("the token was not issued by this cloud's Merchant Center gateway")]
    WrongIssuer,
    /// `aud` is not storelink's public origin and the request's path.
    #[error("the token is meant for another address")]
    WrongAudience,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// No usable `sub`.
    #[error("the token names no user")]
    NoSubject,
    /// No usable project claim.
    #[error("the token names no project")]
    NoProject,
    /// The gateway's keys could not be had (never fetched successfully): not the caller's
    /// fault, so answered as unavailable rather than unauthorized.
    #[error("the Merchant Center gateway's keys could not be fetched")]
    KeysUnavailable,
}

impl Refusal {
    /// Whether the fault is the gateway's reachability rather than the request's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable)
    }
}

/// The forward-to protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The legacy gateway host names.
    V1,
    /// The per-region gateway host names.
    V2,
}

impl Version {
    /// `v1` or `v2`, exactly.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "v1" => Some(Self::V1),
            "v2" => Some(Self::V2),
            _ => None,
        }
    }
}

/// The forward-to headers of a request, as raw values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarded<'a> {
    /// `X-MC-API-Forward-To-Version`.
    pub version: Option<&'a [u8]>,
    /// `X-MC-API-Cloud-Identifier`.
    pub cloud: Option<&'a [u8]>,
    /// `Authorization`.
    pub authorization: Option<&'a [u8]>,
}

impl<'a> Forwarded<'a> {
    /// The headers of `headers` that matter here.
    pub fn from_headers(headers: &'a reqwest::header::HeaderMap) -> Self {
        Self {
            version: headers.get(VERSION_HEADER).map(|v| v.as_bytes()),
            cloud: headers.get(CLOUD_HEADER).map(|v| v.as_bytes()),
            authorization: headers
                .get(reqwest::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        }
    }

    /// Whether the request claims to come through the gateway: it carries either
    /// Merchant-Center header. (An `Authorization` header alone is an API key.)
    pub fn claims_forwarding(&self) -> bool {
        self.version.is_some() || self.cloud.is_some()
    }
}

/// A Merchant Center user, as a verified forward-to request proves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McUser {
    /// The cloud the request came through.
    pub cloud: CloudIdentifier,
    /// The project the user works in.
    pub project_key: String,
    /// The user (`sub`).
    pub subject: String,
}

impl McUser {
    /// The `account_id` of the commercetools installs this user may see.
    pub fn account_id(&self) -> String {
        cloud::account_id(self.cloud, &self.project_key)
    }

    /// How logs and the audit log name this caller (the token never appears).
    pub fn actor(&self) -> String {
        format!("merchant-center:{}", self.subject)
    }
}

/// The `aud` a forward-to token for `path` must carry: storelink's public origin and the path,
/// or the origin alone when the path is `/` (as the gateway and commercetools' own backend
/// package make it).
pub fn audience(public_url: &Url, path: &str) -> String {
    let origin = public_url.origin().ascii_serialization();
    match path {
        "" | "/" => origin,
        path => format!("{origin}{path}"),
    }
}

/// Which gateway issues the tokens of each cloud and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuers {
    /// commercetools' gateways, per cloud identifier.
    Commercetools,
    /// One issuer for every cloud and version (`COMMERCETOOLS_MC_API_URL`: tests, the sandbox),
    /// without a trailing slash.
    Only(String),
}

impl Issuers {
    /// `COMMERCETOOLS_MC_API_URL` when set; otherwise, in sandbox mode, the built-in stand-in
    /// at `{public_url}{sandbox_path}`; otherwise commercetools' own gateways.
    pub fn resolve(
        configured: Option<&Url>,
        sandbox: bool,
        public_url: &Url,
        sandbox_path: &str,
    ) -> Self {
        match configured {
            Some(url) => Self::Only(url.as_str().trim_end_matches('/').to_owned()),
            None if sandbox => Self::Only(format!(
                "{}{sandbox_path}",
                public_url.origin().ascii_serialization()
            )),
            None => Self::Commercetools,
        }
    }

    /// The issuer of `version` tokens for `cloud`.
    pub fn issuer(&self, version: Version, cloud: CloudIdentifier) -> Result<String, Refusal> {
        match (self, version) {
            (Self::Only(issuer), _) => Ok(issuer.clone()),
            (Self::Commercetools, Version::V2) => Ok(cloud.mc_api_issuer()),
            (Self::Commercetools, Version::V1) => cloud
                .legacy_mc_api_issuer()
                .map(str::to_owned)
                .ok_or(Refusal::NoLegacyGateway),
        }
    }
}

/// Verifies forward-to requests; held in the app state, its key sets shared by every request.
pub struct ForwardTo {
    issuers: Issuers,
    keys: jwks::KeyCache,
}

impl ForwardTo {
    /// A verifier trusting `issuers`, fetching their keys with `http` (storelink's client).
    pub fn new(issuers: Issuers, http: reqwest::Client) -> Self {
        Self {
            issuers,
            keys: jwks::KeyCache::new(http),
        }
    }

    /// Which gateways are trusted.
    pub fn issuers(&self) -> &Issuers {
        &self.issuers
    }

    /// The user a forwarded request proves, for a request to `audience` (see [`audience`])
    /// at `now` (Unix seconds, the app's clock).
    pub async fn verify(
        &self,
        forwarded: &Forwarded<'_>,
        audience: &str,
        now: i64,
    ) -> Result<McUser, Refusal> {
        let version = forwarded
            .version
            .ok_or(Refusal::MissingHeader("X-MC-API-Forward-To-Version"))?;
        let cloud = forwarded
            .cloud
            .ok_or(Refusal::MissingHeader("X-MC-API-Cloud-Identifier"))?;
        let authorization = forwarded
            .authorization
            .ok_or(Refusal::MissingHeader("Authorization"))?;
        let version = std::str::from_utf8(version)
            .ok()
            .and_then(Version::parse)
            .ok_or(Refusal::UnknownVersion)?;
        let cloud = std::str::from_utf8(cloud)
            .ok()
            .and_then(CloudIdentifier::parse)
            .ok_or(Refusal::UnknownCloud)?;
        let issuer = self.issuers.issuer(version, cloud)?;
        let token = std::str::from_utf8(authorization)
            .ok()
            .and_then(bearer)
            .ok_or(Refusal::NotBearer)?;
        let token = jwt::Token::parse(token)?;
        let key = self.keys.key(&issuer, token.kid.as_deref(), now).await?;
        let verified = token.verify(
            &key.verifier,
            &jwt::Expected {
                issuer: &issuer,
                audience,
                now,
            },
        )?;
        Ok(McUser {
            cloud,
            project_key: verified.project_key,
            subject: verified.subject,
        })
    }
}

/// The token of `Bearer <token>` (the scheme's case does not matter).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_the_public_origin_and_the_path() {
        let public = Url::parse("https://storelink.example.com/").unwrap();
        assert_eq!(
            audience(&public, "/api/v1/installs"),
            "https://storelink.example.com/api/v1/installs"
        );
        assert_eq!(audience(&public, "/"), "https://storelink.example.com");
        let local = Url::parse("http://localhost:3000").unwrap();
        assert_eq!(
            audience(&local, "/api/v1/installs/ab/proxy/x"),
            "http://localhost:3000/api/v1/installs/ab/proxy/x"
        );
        let default_port = Url::parse("https://storelink.example.com:443/").unwrap();
        assert_eq!(
            audience(&default_port, "/"),
            "https://storelink.example.com"
        );
    }

    #[test]
    fn issuers_follow_the_setting_the_sandbox_or_the_cloud() {
        let public = Url::parse("http://localhost:3000/").unwrap();
        let set = Url::parse("https://mc.example.com/").unwrap();
        let only = Issuers::resolve(Some(&set), true, &public, "/sandbox/commercetools/mc");
        assert_eq!(only, Issuers::Only("https://mc.example.com".into()));
        for cloud in CloudIdentifier::ALL {
            assert_eq!(
                only.issuer(Version::V1, cloud).unwrap(),
                "https://mc.example.com"
            );
        }
        let sandbox = Issuers::resolve(None, true, &public, "/sandbox/commercetools/mc");
        assert_eq!(
            sandbox,
            Issuers::Only("http://localhost:3000/sandbox/commercetools/mc".into())
        );
        let real = Issuers::resolve(None, false, &public, "/sandbox/commercetools/mc");
        assert_eq!(
            real.issuer(Version::V2, CloudIdentifier::AwsFra).unwrap(),
            "https://mc-api.eu-central-1.aws.commercetools.com"
        );
        assert_eq!(
            real.issuer(Version::V1, CloudIdentifier::GcpUs).unwrap(),
            "https://mc-api.commercetools.co"
        );
        assert_eq!(
            real.issuer(Version::V1, CloudIdentifier::GcpAu),
            Err(Refusal::NoLegacyGateway)
        );
    }

    #[test]
    fn forwarding_is_claimed_by_either_merchant_center_header() {
        assert!(!Forwarded::default().claims_forwarding());
        let key_only = Forwarded {
            authorization: Some(b"Bearer slk_x"),
            ..Forwarded::default()
        };
        assert!(!key_only.claims_forwarding());
        let cloud_only = Forwarded {
            cloud: Some(b"gcp-eu"),
            ..Forwarded::default()
        };
        assert!(cloud_only.claims_forwarding());
    }

    #[tokio::test]
    async fn each_missing_or_bad_header_is_named() {
        let verifier = ForwardTo::new(Issuers::Commercetools, reqwest::Client::new());
        let full = Forwarded {
            version: Some(b"v2"),
            cloud: Some(b"gcp-eu"),
            authorization: Some(b"Bearer a.b.c"),
        };
        let refused = |f: Forwarded<'static>| {
            let verifier = &verifier;
            async move { verifier.verify(&f, "https://x", 0).await.unwrap_err() }
        };
        assert_eq!(
            refused(Forwarded {
                version: None,
                ..full
            })
            .await,
            Refusal::MissingHeader("X-MC-API-Forward-To-Version")
        );
        assert_eq!(
            refused(Forwarded {
                cloud: None,
                ..full
            })
            .await,
            Refusal::MissingHeader("X-MC-API-Cloud-Identifier")
        );
        assert_eq!(
            refused(Forwarded {
                authorization: None,
                ..full
            })
            .await,
            Refusal::MissingHeader("Authorization")
        );
        assert_eq!(
            refused(Forwarded {
                version: Some(b"v3"),
                ..full
            })
            .await,
            Refusal::UnknownVersion
        );
        assert_eq!(
            refused(Forwarded {
                cloud: Some(b"aws-cn"),
                ..full
            })
            .await,
            Refusal::UnknownCloud
        );
        assert_eq!(
            refused(Forwarded {
                cloud: Some(b"\xff"),
                ..full
            })
            .await,
            Refusal::UnknownCloud
        );
        assert_eq!(
            refused(Forwarded {
                authorization: Some(b"Basic abc"),
                ..full
            })
            .await,
            Refusal::NotBearer
        );
        assert_eq!(
            refused(Forwarded {
                authorization: Some(b"Bearer "),
                ..full
            })
            .await,
            Refusal::NotBearer
        );
        assert_eq!(refused(full).await, Refusal::Malformed);
    }

    #[test]
    fn users_are_named_by_subject_and_scoped_to_cloud_and_project() {
        let user = McUser {
            cloud: CloudIdentifier::GcpEu,
            project_key: "acme-shop".into(),
            subject: "u-1".into(),
        };
        assert_eq!(user.account_id(), "gcp-eu:acme-shop");
        assert_eq!(user.actor(), "merchant-center:u-1");
    }
}
