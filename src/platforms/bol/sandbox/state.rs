//! The bol.com stand-in's state: its signing keys, the codes and refresh tokens it has issued,
//! its retailers' own credentials, and the Retailer API's rate limit.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use serde_json::{Map, json};
use zeroize::Zeroizing;

use crate::{
    clock::Clock,
    crypto::{Keyring, constant_time_eq, hex, hmac_sha256, random_hex},
    platforms::{
        bol::{BolClient, BolConfig, settings::SANDBOX_ISSUER_PATH},
        kit::endpoints::sandbox_issuer,
        kit::jwt,
    },
    sandbox::codes::CodeStore,
};

/// The platform's name on the stand-in's pages.
pub const PLATFORM: &str = "bol.com";
/// How long a sandbox access token lives, in seconds: short, so refreshes are exercised.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 120;
/// How long a sandbox refresh token lives, in seconds (bol.com's live about a year).
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 365 * 24 * 60 * 60;
/// Requests per second per retailer the orders endpoint answers before `429`.
pub const RATE_LIMIT_PER_SECOND: u32 = 5;
/// Spent refresh tokens remembered at most.
const MAX_SPENT: usize = 100_000;

/// The retailer accounts a sandbox user can pick: id and name.
pub const RETAILERS: [(&str, &str); 3] = [
    ("1100001", "Tulip Traders"),
    ("1100002", "Windmill Wares"),
    ("1100003", "Stroopwafel Supplies"),
];

/// The bol.com stand-in's state.
pub struct SandboxBol {
    /// storelink's intermediary client, as the sandbox has it registered.
    pub(super) client: Option<BolClient>,
    pub(super) redirect_uri: String,
    /// Sent as `iss` with every authorization answer.
    pub(super) issuer: String,
    pub(super) access_key: Zeroizing<[u8; 32]>,
    refresh_key: Zeroizing<[u8; 32]>,
    credentials_key: Zeroizing<[u8; 32]>,
    pub(super) codes: CodeStore<String>,
    /// The time (the application's clock, moved by tests).
    pub(super) clock: Arc<dyn Clock>,
    /// Spent refresh tokens' nonces, with when they would have expired.
    spent: Mutex<HashMap<String, i64>>,
    /// Per retailer: when the current one-second window started, and requests in it.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent: use them as they are.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl SandboxBol {
    /// A stand-in that expects storelink's own bol.com settings.
    pub fn new(keyring: &Keyring, clock: Arc<dyn Clock>, config: &BolConfig) -> Self {
        let key = |label| keyring.current().derive_subkey(label);
        Self {
            client: config.code_flow().cloned(),
            redirect_uri: config.redirect_uri.to_string(),
            issuer: sandbox_issuer(&config.redirect_uri, SANDBOX_ISSUER_PATH),
            access_key: key("sandbox bol access tokens"),
            refresh_key: key("sandbox bol refresh tokens"),
            credentials_key: key("sandbox bol client credentials"),
            codes: CodeStore::default(),
            clock,
            spent: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// New API credentials of `retailer`'s own, as the Seller Dashboard creates them: a client
    /// id naming the retailer, and a secret derived from it.
    pub fn create_client_credentials(&self, retailer: &str) -> (String, String) {
        let client_id = format!("sbx-{retailer}-{}", random_hex(6));
        let secret = self.client_secret_for(&client_id);
        (client_id, secret)
    }

    fn client_secret_for(&self, client_id: &str) -> String {
        hex(hmac_sha256(self.credentials_key.as_ref(), client_id.as_bytes()).as_ref())
    }

    /// The retailer whose own credentials these are, if they are valid.
    pub(super) fn retailer_of_credentials(&self, client_id: &str, secret: &str) -> Option<String> {
        let retailer = client_id.strip_prefix("sbx-")?.split('-').next()?;
        let valid = known_retailer(retailer)
            && constant_time_eq(
                secret.as_bytes(),
                self.client_secret_for(client_id).as_bytes(),
            );
        valid.then(|| retailer.to_owned())
    }

    /// A signed access token for `retailer`.
    pub fn issue_access_token(&self, retailer: &str, client_id: &str, now: i64) -> String {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(retailer));
        claims.insert("client_id".into(), json!(client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ACCESS_TOKEN_LIFETIME_SECS));
        claims.insert("jti".into(), json!(random_hex(8)));
        jwt::sign_hs256(self.access_key.as_ref(), &claims)
    }

    /// A signed refresh token for `retailer`: `rt.{retailer}.{expires}.{nonce}.{signature}`.
    pub(super) fn issue_refresh_token(&self, retailer: &str, now: i64) -> String {
        let expires = now + REFRESH_TOKEN_LIFETIME_SECS;
        let nonce = random_hex(16);
        let signature = self.sign_refresh(retailer, expires, &nonce);
        format!("rt.{retailer}.{expires}.{nonce}.{signature}")
    }

    fn sign_refresh(&self, retailer: &str, expires: i64, nonce: &str) -> String {
        let message = format!("{retailer}|{expires}|{nonce}");
        hex(&hmac_sha256(self.refresh_key.as_ref(), message.as_bytes())[..16])
    }

    /// Spends a refresh token: the retailer it was issued to, or why it is refused.
    pub(super) fn spend_refresh_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<String, &'static str> {
        let parts: Vec<&str> = token.split('.').collect();
        let ["rt", retailer, expires_text, nonce, signature] = parts.as_slice() else {
            return Err("Refresh token is invalid");
        };
        let expires: i64 = expires_text
            .parse()
            .map_err(|_| "Refresh token is invalid")?;
        let expected = self.sign_refresh(retailer, expires, nonce);
        if !constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
            return Err("Refresh token is invalid");
        }
        if now >= expires {
            return Err("Refresh token has expired");
        }
        let mut spent = locked(&self.spent);
        if spent.contains_key(*nonce) {
            return Err("Refresh token has already been used");
        }
        if spent.len() >= MAX_SPENT {
            spent.retain(|_, exp| *exp > now);
        }
        spent.insert((*nonce).to_owned(), expires);
        Ok((*retailer).to_owned())
    }

    /// Counts a request of `retailer`'s; `false` once it is past the limit for this second.
    pub(super) fn within_rate_limit(&self, retailer: &str) -> bool {
        let mut windows = locked(&self.windows);
        let now = Instant::now();
        let window = windows.entry(retailer.to_owned()).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= RATE_LIMIT_PER_SECOND
    }
}

/// Whether `id` is one of the sandbox's retailer accounts.
pub(super) fn known_retailer(id: &str) -> bool {
    RETAILERS.iter().any(|(r, _)| *r == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::SystemClock,
        crypto::MasterKey,
        platforms::{bol::settings::BolSettings, kit::jwt},
    };

    fn sandbox() -> SandboxBol {
        let keyring = Keyring::new(MasterKey::from_base64(&MasterKey::generate_base64()).unwrap());
        let public = url::Url::parse("http://localhost:3000").unwrap();
        let config = BolConfig::resolve(&BolSettings::default(), true, &public).unwrap();
        SandboxBol::new(&keyring, Arc::new(SystemClock), &config)
    }

    #[test]
    fn refresh_tokens_are_single_use_and_expire() {
        let sandbox = sandbox();
        let token = sandbox.issue_refresh_token("1100001", 1000);
        assert_eq!(
            sandbox.spend_refresh_token(&token, 1001).unwrap(),
            "1100001"
        );
        assert_eq!(
            sandbox.spend_refresh_token(&token, 1002),
            Err("Refresh token has already been used")
        );
        let old = sandbox.issue_refresh_token("1100001", 0);
        assert_eq!(
            sandbox.spend_refresh_token(&old, REFRESH_TOKEN_LIFETIME_SECS),
            Err("Refresh token has expired")
        );
        let forged = token.replace("1100001", "1100002");
        assert_eq!(
            sandbox.spend_refresh_token(&forged, 1001),
            Err("Refresh token is invalid")
        );
        assert!(sandbox.spend_refresh_token("rt.x", 1).is_err());
    }

    #[test]
    fn own_credentials_name_their_retailer() {
        let sandbox = sandbox();
        let (id, secret) = sandbox.create_client_credentials("1100002");
        assert_eq!(
            sandbox.retailer_of_credentials(&id, &secret).as_deref(),
            Some("1100002")
        );
        assert_eq!(sandbox.retailer_of_credentials(&id, "wrong"), None);
        let other = id.replace("1100002", "1100003");
        assert_eq!(sandbox.retailer_of_credentials(&other, &secret), None);
    }

    #[test]
    fn access_tokens_verify_and_carry_the_retailer() {
        let sandbox = sandbox();
        let token = sandbox.issue_access_token("1100003", "cid", 500);
        let claims = jwt::verify_hs256(sandbox.access_key.as_ref(), &token).unwrap();
        assert_eq!(claims.string("sub").as_deref(), Some("1100003"));
        assert_eq!(claims.expires_at(), Some(500 + ACCESS_TOKEN_LIFETIME_SECS));
        assert_eq!(claims.unix_time("iat"), Some(500));
    }

    #[test]
    fn rate_limit_counts_per_retailer() {
        let sandbox = sandbox();
        for _ in 0..RATE_LIMIT_PER_SECOND {
            assert!(sandbox.within_rate_limit("1100001"));
        }
        assert!(!sandbox.within_rate_limit("1100001"));
        assert!(sandbox.within_rate_limit("1100002"));
    }
}
