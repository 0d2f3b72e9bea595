//! JSON Web Tokens, as far as the platforms need them: reading a token's claims, and the
//! sandboxes' own tokens.
//!
//! bol.com's access tokens are JWTs. storelink reads two claims from them: `exp` and the claim
//! that names the retailer account (`BOL_ACCOUNT_CLAIM`). It does **not** verify their signature:
//! bol.com signs them with a key it does not publish to partners, and storelink received the
//! token directly from bol.com's token endpoint over TLS, so the claims are as trustworthy as the
//! connection. The Retailer API verifies every token on every call.
//!
//! The claims are read by hand here ([`read_claims_unverified`]: split, base64url, JSON) rather
//! than with [`jsonwebtoken::dangerous::insecure_decode`], which reads the header into
//! jsonwebtoken's typed header and so refuses any algorithm jsonwebtoken does not implement:
//! whether storelink can read the account of a token it does not verify should not depend on
//! the algorithm bol.com signs with.
//!
//! The sandboxes sign their tokens with HS256 under a key derived from the master key, and its API
//! verifies them ([`sign_hs256`], [`verify_hs256`]), both with [`jsonwebtoken`].

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

/// Longest token we look into; bol.com's are around a kilobyte.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of a JSON header and a JSON object payload.
    #[error("is not a JWT")]
    NotAJwt,
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("is longer than any JWT we accept")]
    TooLong,
    /// The signature did not verify (sandbox tokens only).
    #[error("has a signature that does not verify")]
    BadSignature,
    /// Signed with another algorithm than the one expected (sandbox tokens only).
    #[error("is signed with an unexpected algorithm")]
    WrongAlgorithm,
}

/// The payload of a JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Map<String, Value>);

impl Claims {
    /// A claim as a short printable string: a string, or an integer given where a string was
    /// expected. Empty, over-long, or control-character values count as absent.
    pub fn string(&self, name: &str) -> Option<String> {
        let value = match self.0.get(name)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => return None,
        };
        let printable = !value.is_empty()
            && value.chars().count() <= 128
            && !crate::domain::text::has_hidden_characters(&value);
        printable.then_some(value)
    }

    /// A claim holding a time as whole Unix seconds (`exp`, `iat`); a fraction is dropped.
    /// Values outside years 1970..=9999 count as absent.
    pub fn unix_time(&self, name: &str) -> Option<i64> {
        const YEAR_9999: f64 = 253_402_300_799.0;
        let seconds = self.0.get(name)?.as_f64()?;
        (seconds.is_finite() && (0.0..=YEAR_9999).contains(&seconds)).then_some(seconds as i64)
    }

    /// `exp`: when the token stops being valid.
    pub fn expires_at(&self) -> Option<i64> {
        self.unix_time("exp")
    }
}

/// Reads a JWT's claims **without verifying its signature** (see the module documentation for
/// why that is right for bol.com's tokens). Refuses anything that is not a compact JWS with a
/// JSON object header naming an algorithm and a JSON object payload.
pub fn read_claims_unverified(token: &str) -> Result<Claims, JwtError> {
    let (header, payload, _signature) = split(token)?;
    let header = decode_object(header)?;
    if !header.get("alg").is_some_and(Value::is_string) {
        return Err(JwtError::NotAJwt);
    }
    Ok(Claims(decode_object(payload)?))
}

/// Signs `claims` (a JSON object) with HS256 under `key`. Only the sandbox issues tokens.
pub fn sign_hs256(key: &[u8], claims: &Map<String, Value>) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    // HMAC takes a key of any length, and a JSON object always serializes.
    .expect("HS256 signs any claims under any key")
}

/// Verifies an HS256 token signed under `key` and returns its claims. Checks the signature
/// only: the caller checks `exp` against its own clock (the app's, which tests move).
pub fn verify_hs256(key: &[u8], token: &str) -> Result<Claims, JwtError> {
    let (header, _payload, _signature) = split(token)?;
    // Read here first so that a token of another algorithm, `none` included (which
    // jsonwebtoken's header cannot hold), is named as such rather than as no JWT.
    if decode_object(header)?.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::WrongAlgorithm);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(key),
        &validation,
    )
    .map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::InvalidAlgorithm => JwtError::WrongAlgorithm,
        _ => JwtError::NotAJwt,
    })?
    .claims;
    Ok(Claims(claims))
}

/// The three dot-separated parts of a compact JWS.
fn split(token: &str) -> Result<(&str, &str, &str), JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(JwtError::NotAJwt),
    }
}

/// A base64url (unpadded) segment holding a JSON object.
fn decode_object(segment: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = B64URL.decode(segment).map_err(|_| JwtError::NotAJwt)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::NotAJwt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            B64URL.encode(header.as_bytes()),
            B64URL.encode(payload.as_bytes())
        )
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn reads_the_claims_of_a_well_formed_token() {
        let token = encode(
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"sub":"1100001","exp":1700000000,"iat":1699999400.5}"#,
        );
        let claims = read_claims_unverified(&token).unwrap();
        assert_eq!(claims.string("sub").as_deref(), Some("1100001"));
        assert_eq!(claims.expires_at(), Some(1_700_000_000));
        assert_eq!(claims.unix_time("iat"), Some(1_699_999_400));
        assert_eq!(claims.string("missing"), None);
    }

    #[test]
    fn numeric_account_claims_become_strings() {
        let token = encode(r#"{"alg":"RS256"}"#, r#"{"retailer_id":1100001}"#);
        let claims = read_claims_unverified(&token).unwrap();
        assert_eq!(claims.string("retailer_id").as_deref(), Some("1100001"));
    }

    #[test]
    fn hostile_and_malformed_tokens_are_refused() {
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        let cases: Vec<(String, JwtError)> = vec![
            (String::new(), JwtError::NotAJwt),
            ("opaque-access-token".into(), JwtError::NotAJwt),
            ("a.b".into(), JwtError::NotAJwt),
            ("a.b.c.d".into(), JwtError::NotAJwt),
            ("..".into(), JwtError::NotAJwt),
            ("!!!.???.sig".into(), JwtError::NotAJwt),
            (long, JwtError::TooLong),
            // JSON, but not objects
            (encode(r#"{"alg":"RS256"}"#, "[1,2]"), JwtError::NotAJwt),
            (encode(r#"{"alg":"RS256"}"#, r#""sub""#), JwtError::NotAJwt),
            (encode("[]", r#"{"sub":"x"}"#), JwtError::NotAJwt),
            // not JSON
            (encode(r#"{"alg":"RS256"}"#, "sub=x"), JwtError::NotAJwt),
            (
                encode(r#"{"alg":"RS256"}"#, "\u{0}\u{1}"),
                JwtError::NotAJwt,
            ),
            // a header without an algorithm
            (
                encode(r#"{"typ":"JWT"}"#, r#"{"sub":"x"}"#),
                JwtError::NotAJwt,
            ),
            (encode(r#"{"alg":7}"#, r#"{"sub":"x"}"#), JwtError::NotAJwt),
            // padded or standard-alphabet base64
            (
                format!("{}=.{}.c2ln", B64URL.encode(br#"{"alg":"x"}"#), "e30"),
                JwtError::NotAJwt,
            ),
            ("eyJhbGciOiJIUzI1NiJ9.e30+/.sig".into(), JwtError::NotAJwt),
        ];
        for (token, expected) in cases {
            assert_eq!(
                read_claims_unverified(&token),
                Err(expected),
                "{:.60}",
                token
            );
        }
    }

    #[test]
    fn claims_of_the_wrong_shape_count_as_absent() {
        let token = encode(
            r#"{"alg":"RS256"}"#,
            &json!({
                "sub": {"id": "x"}, "empty": "  ", "ctl": "a\u{7}b", "long": "x".repeat(200),
                "float": 1.5, "exp": "1700000000", "neg": -5, "huge": 1e300, "nan_like": null,
                "bool": true
            })
            .to_string(),
        );
        let claims = read_claims_unverified(&token).unwrap();
        for name in ["sub", "empty", "ctl", "long", "float", "bool", "nan_like"] {
            assert_eq!(claims.string(name), None, "{name}");
        }
        assert_eq!(claims.expires_at(), None, "a string exp is not a time");
        assert_eq!(claims.unix_time("neg"), None);
        assert_eq!(claims.unix_time("huge"), None);
    }

    #[test]
    fn hs256_round_trips_and_refuses_tampering() {
        let key = [7u8; 32];
        let token = sign_hs256(&key, &object(json!({"sub": "1100001", "exp": 10})));
        let claims = verify_hs256(&key, &token).unwrap();
        assert_eq!(claims.string("sub").as_deref(), Some("1100001"));
        assert_eq!(read_claims_unverified(&token).unwrap(), claims);

        assert_eq!(
            verify_hs256(&[8u8; 32], &token),
            Err(JwtError::BadSignature)
        );
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged_payload = B64URL.encode(br#"{"sub":"1100002","exp":10}"#);
        let forged = format!("{head}.{forged_payload}.{signature}");
        assert_eq!(verify_hs256(&key, &forged), Err(JwtError::BadSignature));
        let unsigned = format!("{head}.{forged_payload}.");
        assert_eq!(verify_hs256(&key, &unsigned), Err(JwtError::BadSignature));
    }

    #[test]
    fn hs256_refuses_other_algorithms() {
        let key = [7u8; 32];
        let none = encode(r#"{"alg":"none"}"#, r#"{"sub":"x"}"#);
        assert_eq!(verify_hs256(&key, &none), Err(JwtError::WrongAlgorithm));
        let rs = encode(r#"{"alg":"RS256"}"#, r#"{"sub":"x"}"#);
        assert_eq!(verify_hs256(&key, &rs), Err(JwtError::WrongAlgorithm));
        assert_eq!(verify_hs256(&key, "x.y"), Err(JwtError::NotAJwt));
    }
}
