//! The gateway's signing keys: reading a JSON Web Key Set, and keeping each issuer's set.
//!
//! A set is fetched from `{issuer}/.well-known/jwks.json` with storelink's HTTP client (which
//! never follows redirects and gives up after 10 s), at most [`MAX_JWKS_BYTES`] of it read. It
//! is kept and used until it is [`MAX_KEY_AGE_SECS`] old or a token names a key it lacks; then
//! it is fetched again, but at most [`MAX_FETCHES_PER_WINDOW`] times per issuer in any
//! [`FETCH_WINDOW_SECS`], so a flood of tokens naming made-up keys costs commercetools at most
//! a few requests a minute. One fetch per issuer runs at a time; requests that need the same
//! set wait for it rather than fetching again.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use jsonwebtoken::DecodingKey;
use rsa::{BigUint, RsaPublicKey, traits::PublicKeyParts as _};
use serde::Deserialize;

use super::Refusal;
use crate::platforms::kit::http::{Transport, read_limited};

/// The largest key set read.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Keys kept from one set (the rest are ignored).
pub const MAX_KEYS: usize = 16;
/// A set older than this is fetched again before it is used (when the fetch budget allows;
/// otherwise the old set stays in use).
pub const MAX_KEY_AGE_SECS: i64 = 3600;
/// Fetches allowed per issuer within [`FETCH_WINDOW_SECS`].
pub const MAX_FETCHES_PER_WINDOW: usize = 3;
/// The fetch budget's window, in seconds.
pub const FETCH_WINDOW_SECS: i64 = 60;
/// The smallest RSA modulus accepted, in bits.
const MIN_MODULUS_BITS: usize = 2048;

/// One usable key of a set.
#[derive(Clone)]
pub struct Key {
    /// Its `kid`, when the set gives one.
    pub kid: Option<String>,
    /// The key, ready to verify RS256 signatures ([`jsonwebtoken::decode`]).
    pub verifier: DecodingKey,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: String,
    e: String,
}

/// The RS256 signing keys of a key set document; keys of other types, uses or algorithms, and
/// RSA keys shorter than 2048 bits, are skipped. `None` when the document is not a key set.
pub fn parse_jwks(body: &[u8]) -> Option<Vec<Key>> {
    let set: Jwks = serde_json::from_slice(body).ok()?;
    Some(
        set.keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter(|jwk| {
                jwk.kty == "RSA"
                    && jwk.usage.as_deref().is_none_or(|u| u == "sig")
                    && jwk.alg.as_deref().is_none_or(|a| a == "RS256")
                    && jwk.kid.as_deref().is_none_or(|k| k.len() <= 256)
            })
            .filter_map(|jwk| {
                // The key is checked here, once, rather than at each token (jsonwebtoken takes
                // any components): `new` refuses moduli over 4096 bits and unusable exponents,
                // and moduli under 2048 bits are skipped.
                let n = BigUint::from_bytes_be(&B64URL.decode(&jwk.n).ok()?);
                let e = BigUint::from_bytes_be(&B64URL.decode(&jwk.e).ok()?);
                let key = RsaPublicKey::new(n, e).ok()?;
                if key.n().bits() < MIN_MODULUS_BITS {
                    return None;
                }
                Some(Key {
                    verifier: DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok()?,
                    kid: jwk.kid,
                })
            })
            .take(MAX_KEYS)
            .collect(),
    )
}

/// One issuer's keys as last fetched, and when it was fetched.
#[derive(Default)]
struct KeySet {
    keys: Vec<Key>,
    /// When the keys were fetched, Unix seconds; `None` before the first good fetch.
    fetched_at: Option<i64>,
    /// When fetches (good or not) started, within the window.
    fetches: VecDeque<i64>,
}

impl KeySet {
    /// The key a token names: by `kid`; a token without one may use the only key of a set of
    /// one.
    fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }

    /// Whether another fetch fits in the budget at `now`; if so, it is counted.
    fn take_fetch(&mut self, now: i64) -> bool {
        while self
            .fetches
            .front()
            .is_some_and(|at| now - at >= FETCH_WINDOW_SECS)
        {
            self.fetches.pop_front();
        }
        if self.fetches.len() >= MAX_FETCHES_PER_WINDOW {
            return false;
        }
        self.fetches.push_back(now);
        true
    }

    fn fresh(&self, now: i64) -> bool {
        self.fetched_at
            .is_some_and(|at| now - at < MAX_KEY_AGE_SECS && now >= at)
    }
}

/// Every issuer's key set, fetched when needed.
pub struct KeyCache {
    http: reqwest::Client,
    sets: Mutex<HashMap<String, Arc<tokio::sync::Mutex<KeySet>>>>,
}

impl KeyCache {
    /// An empty cache fetching with `http` (storelink's client: no redirects, a timeout).
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            sets: Mutex::new(HashMap::new()),
        }
    }

    /// The key `kid` of `issuer`, fetching the issuer's set first when it has none yet, is
    /// old, or lacks the key, as the fetch budget allows.
    pub async fn key(&self, issuer: &str, kid: Option<&str>, now: i64) -> Result<Key, Refusal> {
        let set = {
            // Issuers come from settings and the five clouds, never from a token: the map
            // stays small.
            let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
            sets.entry(issuer.to_owned()).or_default().clone()
        };
        let mut set = set.lock().await;
        if set.fresh(now)
            && let Some(key) = set.find(kid)
        {
            return Ok(key.clone());
        }
        if set.take_fetch(now) {
            match self.fetch(issuer).await {
                Ok(keys) => {
                    set.keys = keys;
                    set.fetched_at = Some(now);
                }
                // An old set stays in use while the gateway cannot be reached.
                Err(why) => {
                    tracing::warn!(%issuer, why, "forward-to: cannot fetch the gateway's keys")
                }
            }
        }
        if let Some(key) = set.find(kid) {
            return Ok(key.clone());
        }
        if set.fetched_at.is_none() {
            return Err(Refusal::KeysUnavailable);
        }
        Err(Refusal::UnknownKey)
    }

    async fn fetch(&self, issuer: &str) -> Result<Vec<Key>, &'static str> {
        let url = format!("{issuer}/.well-known/jwks.json");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| match Transport::of(&e) {
                Transport::Timeout => "no answer in time",
                _ => "unreachable",
            })?;
        if !response.status().is_success() {
            return Err("an error status");
        }
        let body = read_limited(response, MAX_JWKS_BYTES)
            .await
            .map_err(|e| match e {
                Transport::TooLarge => "a key set larger than 64 KiB",
                Transport::Timeout => "no answer in time",
                Transport::Unreachable => "unreachable",
            })?;
        parse_jwks(&body).ok_or("not a key set")
    }
}

/// A public key as a JWK of a key set (`kty`, `use`, `alg`, `kid`, `n`, `e`): what a gateway
/// publishes (the sandbox's, and tests').
pub fn jwk(key: &RsaPublicKey, kid: &str) -> serde_json::Value {
    serde_json::json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": B64URL.encode(key.n().to_bytes_be()),
        "e": B64URL.encode(key.e().to_bytes_be()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_sets_keep_only_rs256_signing_keys() {
        let small =
            json!({"kty": "RSA", "kid": "small", "n": B64URL.encode([0xC5u8; 128]), "e": "AQAB"});
        let good_n = B64URL.encode([0xC5u8; 256]);
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "a", "use": "sig", "alg": "RS256", "n": good_n, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": good_n, "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": good_n, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            small,
            {"kty": "RSA", "kid": "bad", "n": "!!", "e": "AQAB"},
            {"kty": "RSA", "n": good_n, "e": "AQAB"},
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<Option<&str>> = keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, vec![Some("a"), None]);
        assert!(parse_jwks(b"not json").is_none());
        assert!(parse_jwks(b"{\"keys\": 1}").is_none());
        assert_eq!(parse_jwks(b"{\"keys\": []}").map(|k| k.len()), Some(0));
    }

    #[test]
    fn fetches_are_budgeted_per_window() {
        let mut set = KeySet::default();
        let start = 1_000;
        for _ in 0..MAX_FETCHES_PER_WINDOW {
            assert!(set.take_fetch(start));
        }
        assert!(!set.take_fetch(start));
        assert!(!set.take_fetch(start + FETCH_WINDOW_SECS - 1));
        assert!(set.take_fetch(start + FETCH_WINDOW_SECS));
    }

    #[test]
    fn keys_are_found_by_kid_or_as_the_only_one() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "a", "n": B64URL.encode([0xC5u8; 256]), "e": "AQAB"},
        ]});
        let mut set = KeySet {
            keys: parse_jwks(doc.to_string().as_bytes()).unwrap(),
            ..KeySet::default()
        };
        assert!(set.find(Some("a")).is_some());
        assert!(set.find(Some("b")).is_none());
        assert!(set.find(None).is_some());
        set.keys.push(set.keys[0].clone());
        assert!(set.find(None).is_none(), "ambiguous without a kid");
    }

    #[test]
    fn sets_go_stale() {
        let set = KeySet {
            fetched_at: Some(1_000),
            ..KeySet::default()
        };
        assert!(set.fresh(1_000 + MAX_KEY_AGE_SECS - 1));
        assert!(!set.fresh(1_000 + MAX_KEY_AGE_SECS));
        assert!(!set.fresh(999), "a clock set back refetches");
        assert!(!KeySet::default().fresh(1_000));
    }
}
