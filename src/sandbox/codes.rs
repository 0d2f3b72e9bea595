//! Authorization codes a sandbox has issued on Approve: single use, valid for
//! [`CODE_LIFETIME_SECS`], bound to the redirect URI and PKCE challenge of their request, and
//! bounded in number so a flood of approvals cannot grow memory without end.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};

use crate::crypto::{constant_time_eq, random_hex};

/// How long an issued code may be exchanged, in seconds.
pub const CODE_LIFETIME_SECS: i64 = 60;
/// Codes held at most; past this, approvals are refused until old codes expire.
const MAX_CODES: usize = 10_000;

/// One issued code and what it grants.
pub(crate) struct Issued<T> {
    /// What was approved (a store, a retailer account).
    pub grant: T,
    redirect_uri: String,
    code_challenge: Option<String>,
    expires_at: i64,
}

/// The codes waiting to be exchanged.
pub(crate) struct CodeStore<T> {
    codes: Mutex<HashMap<String, Issued<T>>>,
}

impl<T> Default for CodeStore<T> {
    fn default() -> Self {
        Self {
            codes: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> CodeStore<T> {
    fn locked(&self) -> MutexGuard<'_, HashMap<String, Issued<T>>> {
        // A panic while holding the lock cannot leave the map inconsistent: use it as it is.
        self.codes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issues a code for `grant`, or `None` when too many are waiting.
    pub(crate) fn issue(
        &self,
        grant: T,
        redirect_uri: &str,
        code_challenge: Option<&str>,
        now: i64,
    ) -> Option<String> {
        let mut codes = self.locked();
        codes.retain(|_, c| c.expires_at >= now);
        if codes.len() >= MAX_CODES {
            return None;
        }
        let code = random_hex(24);
        codes.insert(
            code.clone(),
            Issued {
                grant,
                redirect_uri: redirect_uri.to_owned(),
                code_challenge: code_challenge.filter(|c| !c.is_empty()).map(str::to_owned),
                expires_at: now + CODE_LIFETIME_SECS,
            },
        );
        Some(code)
    }

    /// Spends `code` and checks the token request against what it was issued for: not expired,
    /// the same redirect URI, and a PKCE verifier matching the challenge. Taking it out first
    /// means a code is spent whatever the outcome. The error is the `error_description`.
    pub(crate) fn redeem(
        &self,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        now: i64,
    ) -> Result<T, &'static str> {
        let issued = code
            .and_then(|code| self.locked().remove(code))
            .ok_or("Code doesn't exist, has been used, or is invalid for the client")?;
        if now > issued.expires_at {
            return Err("Code has expired");
        }
        if redirect_uri != Some(issued.redirect_uri.as_str()) {
            return Err("redirect_uri does not match the authorization request");
        }
        if let Some(challenge) = &issued.code_challenge {
            let verifier = code_verifier
                .filter(|v| !v.is_empty())
                .ok_or("code_verifier is required")?;
            let computed = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
                verifier.to_owned(),
            ));
            if !constant_time_eq(computed.as_str().as_bytes(), challenge.as_bytes()) {
                return Err("code_verifier does not match the code challenge");
            }
        }
        Ok(issued.grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_single_use_and_checked() {
        let store = CodeStore::default();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let code = store
            .issue("shop", "http://x/cb", Some(challenge.as_str()), 100)
            .unwrap();
        assert_eq!(
            store.redeem(
                Some(&code),
                Some("http://x/cb"),
                Some(verifier.secret()),
                160
            ),
            Ok("shop")
        );
        assert!(
            store
                .redeem(
                    Some(&code),
                    Some("http://x/cb"),
                    Some(verifier.secret()),
                    160
                )
                .is_err()
        );
    }

    #[test]
    fn expiry_redirect_uri_and_verifier_are_enforced() {
        let store = CodeStore::default();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let issue = || {
            store
                .issue((), "http://x/cb", Some(challenge.as_str()), 0)
                .unwrap()
        };
        let v = Some(verifier.secret().as_str());
        assert_eq!(
            store.redeem(Some(&issue()), Some("http://x/cb"), v, 61),
            Err("Code has expired")
        );
        assert!(
            store
                .redeem(Some(&issue()), Some("http://y/cb"), v, 1)
                .is_err()
        );
        assert!(
            store
                .redeem(Some(&issue()), Some("http://x/cb"), None, 1)
                .is_err()
        );
        assert!(
            store
                .redeem(
                    Some(&issue()),
                    Some("http://x/cb"),
                    Some("wrong-verifier-wrong-verifier-wrong-verifier"),
                    1
                )
                .is_err()
        );
        assert!(store.redeem(None, Some("http://x/cb"), v, 1).is_err());
    }
}
