//! The sandbox gateway's signing key: an RSA key (2048 bits) generated once per process, the
//! first time it is needed, and kept in memory only. A restart makes a new one; storelink then
//! meets an unknown `kid` and fetches the stand-in's key set again. The key signs sandbox
//! tokens only, and storelink trusts it only when `COMMERCETOOLS_MC_API_URL` points at the
//! stand-in (which sandbox mode does when the variable is unset).

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use rsa::{
    RsaPrivateKey, RsaPublicKey,
    pkcs1v15::SigningKey,
    signature::{SignatureEncoding as _, Signer as _},
    traits::PublicKeyParts as _,
};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::platforms::commercetools::forward_to::jwks;

/// Bits of the generated key.
pub const KEY_BITS: usize = 2048;

/// An RSA key that signs forward-to tokens, with its key id.
pub struct GatewayKey {
    kid: String,
    signer: SigningKey<Sha256>,
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
        Ok(Self {
            kid,
            signer: SigningKey::new(private),
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

    /// A compact RS256 JWS of `claims` with `header` as given (tests use this to forge headers).
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
        let signature = self.signer.sign(signed.as_bytes()).to_bytes();
        format!("{signed}.{}", B64URL.encode(signature))
    }

    /// A JWT of `claims`, signed RS256 under this key and naming it by `kid`.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        self.sign_with_header(
            &serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
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
}
