//! The sandbox gateway's signing key: an RSA key (2048 bits) generated once per process, the
//! first time it is needed, and kept in memory only. A restart makes a new one; storelink then
//! meets an unknown `kid` and fetches the stand-in's key set again. The key signs sandbox
//! tokens only, and storelink trusts it only when `COMMERCETOOLS_MC_API_URL` points at the
//! stand-in (which sandbox mode does when the variable is unset).

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{
    RsaPrivateKey, RsaPublicKey, pkcs1::EncodeRsaPrivateKey as _, traits::PublicKeyParts as _,
};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::platforms::commercetools::forward_to::jwks;

/// Bits of the generated key.
pub const KEY_BITS: usize = 2048;

/// An RSA key that signs forward-to tokens, with its key id.
pub struct GatewayKey {
    kid: String,
    /// The private key (PKCS #1 DER, as jsonwebtoken takes it; zeroed when dropped).
    signer: EncodingKey,
    public: RsaPublicKey,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceCell<Arc<GatewayKey>> = OnceCell::const_new();

impl GatewayKey {
    /// A new random key (a second or so of work: call it off the async threads, or use
    /// [`GatewayKey::shared`]). Its `kid` is derived from its modulus.
    pub fn generate() -> Result<Self, rsa::Error> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)?;
        let public = private.to_public_key();
        let digest = Sha256::digest(public.n().to_bytes_be());
        let kid = format!("sandbox-{}", B64URL.encode(&digest[..12]));
        let der = private.to_pkcs1_der().map_err(rsa::Error::from)?;
        Ok(Self {
            kid,
            signer: EncodingKey::from_rsa_der(der.as_bytes()),
            public,
        })
    }

    /// The process's sandbox key, generated on first use.
    pub async fn shared() -> Result<Arc<Self>, String> {
        SHARED
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(Self::generate)
                    .await
                    .map_err(|e| format!("the key generation stopped: {e}"))?
                    .map(Arc::new)
                    .map_err(|e| format!("no key could be generated: {e}"))
            })
            .await
            .cloned()
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// The key set publishing this key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [jwks::jwk(&self.public, &self.kid)] })
    }

    /// A compact JWS of `claims` with `header` exactly as given, its signature RS256 under this
    /// key whatever the header says. Tests use it to forge headers that [`jsonwebtoken::encode`]
    /// would not write (another `alg` over an RS256 signature, `crit`, keys of the signer's
    /// own in `jwk`), so the token is put together here; only the signature is jsonwebtoken's
    /// ([`jsonwebtoken::crypto::sign`]).
    pub fn sign_with_header(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> String {
        let signed = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        // The key was generated in this process and RS256 signs any bytes with it: no outside
        // input can make this fail (the sandbox stand-in only).
        let signature =
            jsonwebtoken::crypto::sign(signed.as_bytes(), &self.signer, Algorithm::RS256)
                .expect("a key generated here signs");
        format!("{signed}.{signature}")
    }

    /// A JWT of `claims`, signed RS256 under this key and naming it by `kid`
    /// ([`jsonwebtoken::encode`]).
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        // A JSON value always serializes, and the key was generated here (see above).
        jsonwebtoken::encode(&header, claims, &self.signer).expect("a key generated here signs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::commercetools::forward_to::{
        Refusal,
        jwt::{Expected, Token},
    };

    #[tokio::test]
    async fn signed_tokens_verify_with_the_published_key_and_tampered_ones_do_not() {
        let key = GatewayKey::shared().await.unwrap();
        let keys = jwks::parse_jwks(key.jwks().to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some(key.kid()));
        let issuer = "http://localhost:3000/sandbox/commercetools/mc";
        let claims = serde_json::json!({
            "iss": issuer,
            "aud": "http://localhost:3000/api/v1/installs",
            "sub": "u-1",
            "exp": 2_000,
            format!("{issuer}/claims/project_key"): "acme-shop",
        });
        let expected = Expected {
            issuer,
            audience: "http://localhost:3000/api/v1/installs",
            now: 1_000,
        };
        let token = key.sign(&claims);
        let parsed = Token::parse(&token).unwrap();
        assert_eq!(parsed.kid.as_deref(), Some(key.kid()));
        let verified = parsed.verify(&keys[0].verifier, &expected).unwrap();
        assert_eq!(verified.project_key, "acme-shop");

        // Another project, the signature kept.
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut other = claims.clone();
        other[format!("{issuer}/claims/project_key")] = "other-shop".into();
        let forged = B64URL.encode(other.to_string());
        parts[1] = &forged;
        let tampered = parts.join(".");
        assert_eq!(
            Token::parse(&tampered)
                .unwrap()
                .verify(&keys[0].verifier, &expected),
            Err(Refusal::BadSignature)
        );
        assert!(!format!("{key:?}").contains("private"));
    }

    /// The claims through the whole path (jsonwebtoken's checks, then storelink's), each wrong
    /// one refused as `check_claims` alone refuses it, on the app's clock: `now` is in 1970,
    /// so a token jsonwebtoken would find expired on the system clock verifies.
    #[tokio::test]
    async fn each_claim_is_refused_through_jsonwebtoken_as_named() {
        let key = GatewayKey::shared().await.unwrap();
        let keys = jwks::parse_jwks(key.jwks().to_string().as_bytes()).unwrap();
        let issuer = "http://localhost:3000/sandbox/commercetools/mc";
        let audience = "http://localhost:3000/api/v1/installs";
        let project = format!("{issuer}/claims/project_key");
        let now = 1_000;
        let good = serde_json::json!({
            "iss": issuer,
            "aud": audience,
            "sub": "u-1",
            "exp": now + 60,
            project.clone(): "acme-shop",
        });
        let verify = |claims: &serde_json::Value| {
            Token::parse(&key.sign(claims))?.verify(
                &keys[0].verifier,
                &Expected {
                    issuer,
                    audience,
                    now,
                },
            )
        };
        let with = |name: &str, value: serde_json::Value| {
            let mut claims = good.clone();
            claims[name] = value;
            verify(&claims)
        };
        let without = |name: &str| {
            let mut claims = good.clone();
            claims.as_object_mut().unwrap().remove(name);
            verify(&claims)
        };
        let leeway = crate::platforms::commercetools::forward_to::jwt::LEEWAY_SECS;
        let many: Vec<String> = (0..16)
            .map(|n| format!("https://{n}.example.com"))
            .collect();

        assert!(verify(&good).is_ok());
        assert!(with("exp", (now - leeway).into()).is_ok());
        assert!(
            with(
                "aud",
                serde_json::json!(["https://other.example.com", audience])
            )
            .is_ok()
        );
        assert_eq!(
            with("iss", "https://mc.example.com".into()),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(
            with("iss", serde_json::json!([issuer])),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(with("iss", 7.into()), Err(Refusal::WrongIssuer));
        assert_eq!(without("iss"), Err(Refusal::WrongIssuer));
        assert_eq!(
            with("aud", format!("{audience}/").into()),
            Err(Refusal::WrongAudience)
        );
        assert_eq!(without("aud"), Err(Refusal::WrongAudience));
        let mut too_many = many.clone();
        too_many.push(audience.to_owned());
        assert_eq!(with("aud", too_many.into()), Err(Refusal::WrongAudience));
        let mut sixteen = many[1..].to_vec();
        sixteen.push(audience.to_owned());
        assert!(with("aud", sixteen.into()).is_ok());
        assert_eq!(
            with("exp", (now - leeway - 1).into()),
            Err(Refusal::Expired)
        );
        assert_eq!(with("exp", "soon".into()), Err(Refusal::Malformed));
        assert_eq!(without("exp"), Err(Refusal::Malformed));
        assert_eq!(
            with("nbf", (now + leeway + 1).into()),
            Err(Refusal::NotYetValid)
        );
        assert!(with("nbf", (now + leeway).into()).is_ok());
        assert_eq!(with("sub", "".into()), Err(Refusal::NoSubject));
        assert_eq!(with("sub", 7.into()), Err(Refusal::NoSubject));
        assert_eq!(without("sub"), Err(Refusal::NoSubject));
        assert_eq!(with(&project, "Acme Shop".into()), Err(Refusal::NoProject));
        assert_eq!(without(&project), Err(Refusal::NoProject));
        // Not an object.
        let list = key.sign(&serde_json::json!([1]));
        assert_eq!(
            Token::parse(&list).unwrap().verify(
                &keys[0].verifier,
                &Expected {
                    issuer,
                    audience,
                    now
                }
            ),
            Err(Refusal::Malformed)
        );
    }

    /// Headers jsonwebtoken would not write, over a good RS256 signature: refused for their
    /// algorithm or `crit`; keys named by the token are ignored, not refused.
    #[tokio::test]
    async fn forged_headers_over_a_good_signature() {
        let key = GatewayKey::shared().await.unwrap();
        let keys = jwks::parse_jwks(key.jwks().to_string().as_bytes()).unwrap();
        let issuer = "http://localhost:3000/sandbox/commercetools/mc";
        let audience = "http://localhost:3000/api/v1/installs";
        let claims = serde_json::json!({
            "iss": issuer,
            "aud": audience,
            "sub": "u-1",
            "exp": 2_000,
            format!("{issuer}/claims/project_key"): "acme-shop",
        });
        let expected = Expected {
            issuer,
            audience,
            now: 1_000,
        };
        let kid = key.kid();
        let signed = |header: serde_json::Value| key.sign_with_header(&header, &claims);
        for (alg, named) in [("HS256", "HS256"), ("RS384", "RS384"), ("none", "none")] {
            assert_eq!(
                Token::parse(&signed(serde_json::json!({"alg": alg, "kid": kid}))).map(|t| t.kid),
                Err(Refusal::Algorithm(named.to_owned())),
                "{alg}"
            );
        }
        for crit in [
            serde_json::json!(["exp"]),
            serde_json::json!([]),
            "exp".into(),
        ] {
            assert_eq!(
                Token::parse(&signed(
                    serde_json::json!({"alg": "RS256", "kid": kid, "crit": crit})
                ))
                .map(|t| t.kid),
                Err(Refusal::Malformed),
                "{crit}"
            );
        }
        let elsewhere = "https://evil.example.com/jwks.json";
        let ignored = signed(serde_json::json!({
            "alg": "RS256",
            "kid": kid,
            "jku": elsewhere,
            "x5u": elsewhere,
            "jwk": jwks::jwk(key.public_key(), "in-the-token"),
        }));
        let token = Token::parse(&ignored).unwrap();
        assert_eq!(token.kid.as_deref(), Some(kid));
        assert!(token.verify(&keys[0].verifier, &expected).is_ok());
        assert_eq!(
            Token::parse(&signed(
                serde_json::json!({"alg": "RS256", "kid": "k".repeat(257)})
            ))
            .map(|t| t.kid),
            Err(Refusal::Malformed)
        );
    }
}
