//! The forward-to JWT itself. [`jsonwebtoken`] reads the header and checks the RS256 signature
//! and the claims it knows (`iss`, `aud`, which claims must be there); storelink adds what it
//! cannot do:
//!
//! - the time: `exp` and `nbf` are checked against the app's clock (the `now` passed in, which
//!   tests move), not the system clock that `jsonwebtoken` would read;
//! - every algorithm but RS256 is refused before a key is looked for, named in the refusal even
//!   when `jsonwebtoken` has no name for it (`none`);
//! - a `crit` header is refused, since no extension is understood (`jsonwebtoken` reads `crit`
//!   but does not act on it);
//! - `iss` must be one string (`jsonwebtoken` also takes a list holding it), `aud` a string or a
//!   list of at most [`MAX_AUDIENCES`], `sub` a short printable name, and the project claim
//!   `{iss}/claims/project_key` a project key.
//!
//! Keys are never taken from the token: `jwk`, `jku`, `x5u` and `x5c` are ignored, and only the
//! header's `kid` is used, to pick a key of the gateway's own set ([`super::jwks`]).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use super::Refusal;
use crate::platforms::commercetools::cloud::is_project_key;

/// The longest token looked into; the gateway's are well under a kilobyte.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Seconds a token is still accepted after its `exp` (and before its `nbf`), for clocks that
/// disagree a little.
pub const LEEWAY_SECS: i64 = 10;
/// The longest `sub` accepted (it names the caller in logs and the audit log).
const MAX_SUBJECT_LEN: usize = 128;
/// The most audiences one token may list.
const MAX_AUDIENCES: usize = 16;
/// The longest `kid` looked up.
const MAX_KID_LEN: usize = 256;

/// A token whose header has been read, its algorithm already known to be RS256.
#[derive(Debug)]
pub struct Token<'a> {
    /// The header's `kid`, when it has one.
    pub kid: Option<String>,
    /// The whole token, for [`jsonwebtoken::decode`].
    text: &'a str,
}

/// What the claims must say.
pub struct Expected<'a> {
    /// The gateway of the request's cloud identifier (and version).
    pub issuer: &'a str,
    /// storelink's public origin and the request's path.
    pub audience: &'a str,
    /// Now, Unix seconds, from the app's clock.
    pub now: i64,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The Merchant Center user (`sub`).
    pub subject: String,
    /// The project (`{iss}/claims/project_key`).
    pub project_key: String,
}

impl<'a> Token<'a> {
    /// Reads the header of `text` ([`jsonwebtoken::decode_header`]): only `alg: RS256` gets
    /// further, so `none`, `HS256` (an RSA public key used as an HMAC secret) and anything else
    /// are refused before a key is looked for.
    pub fn parse(text: &'a str) -> Result<Self, Refusal> {
        if text.len() > MAX_TOKEN_LEN {
            return Err(Refusal::Malformed);
        }
        let mut parts = text.split('.');
        let (Some(header), Some(_payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Malformed);
        };
        let parsed = match jsonwebtoken::decode_header(text) {
            Ok(parsed) => parsed,
            // jsonwebtoken's header has no room for an algorithm it does not implement (`none`,
            // `rs256`) or for no algorithm at all: such a header is refused for its algorithm,
            // as the others are, rather than as merely malformed.
            Err(_) => return Err(unreadable_header(header)),
        };
        if parsed.alg != Algorithm::RS256 {
            return Err(Refusal::Algorithm(format!("{:?}", parsed.alg)));
        }
        // RFC 7515 4.1.11: a recipient that does not understand every extension `crit` lists
        // must refuse the token. storelink understands none; jsonwebtoken reads the field but
        // leaves acting on it to its caller. (A `"crit": null` reads as absent: it names no
        // extension.)
        if parsed.crit.is_some() {
            return Err(Refusal::Malformed);
        }
        if parsed
            .kid
            .as_ref()
            .is_some_and(|kid| kid.len() > MAX_KID_LEN)
        {
            return Err(Refusal::Malformed);
        }
        if signature.is_empty() {
            return Err(Refusal::BadSignature);
        }
        Ok(Self {
            kid: parsed.kid,
            text,
        })
    }

    /// Checks the signature with `key` and the claims against `expected`
    /// ([`jsonwebtoken::decode`]), then what storelink asks of the claims beyond that
    /// ([`check_claims`]).
    pub fn verify(&self, key: &DecodingKey, expected: &Expected<'_>) -> Result<Verified, Refusal> {
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(self.text, key, &validation(expected))
                .map_err(|e| refusal(e.kind()))?
                .claims;
        check_claims(&claims, expected)
    }
}

/// What [`jsonwebtoken::decode`] checks: RS256 only; `exp`, `iss`, `aud` and `sub` present;
/// `iss` and `aud` the expected ones.
fn validation(expected: &Expected<'_>) -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // jsonwebtoken compares `exp` and `nbf` with the system clock (and has no way to be given
    // another); storelink's clock is the app's (tests move it), so its time checks are off and
    // [`check_claims`] checks both against `expected.now`, with [`LEEWAY_SECS`]. The leeway is
    // set here all the same, so that this says what a token is held to; it is inert while
    // jsonwebtoken's time checks are off.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = LEEWAY_SECS.unsigned_abs();
    validation
}

/// The refusal for what [`jsonwebtoken::decode`] found wrong. (When several required claims
/// are missing, which one it names first is not fixed.)
fn refusal(kind: &ErrorKind) -> Refusal {
    match kind {
        ErrorKind::InvalidSignature => Refusal::BadSignature,
        ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
        ErrorKind::InvalidAudience => Refusal::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "iss" => Refusal::WrongIssuer,
            "aud" => Refusal::WrongAudience,
            "sub" => Refusal::NoSubject,
            _ => Refusal::Malformed,
        },
        _ => Refusal::Malformed,
    }
}

/// The refusal for a header [`jsonwebtoken::decode_header`] could not read: for its algorithm
/// when it names none or another than RS256, otherwise as malformed.
fn unreadable_header(part: &str) -> Refusal {
    let header = B64URL
        .decode(part)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok());
    match header.as_ref().map(|header| header.get("alg")) {
        None => Refusal::Malformed,
        Some(Some(Value::String(alg))) if alg == "RS256" => Refusal::Malformed,
        Some(Some(Value::String(alg))) => Refusal::Algorithm(crate::domain::text::shorten(alg, 20)),
        Some(_) => Refusal::Algorithm("(none given)".to_owned()),
    }
}

/// The claims of a token whose signature verified, on storelink's terms: `iss` and `aud` again
/// (stricter than jsonwebtoken: one issuer string, a bounded audience list), `exp` and `nbf` on
/// the app's clock, `sub` and the project.
fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<Verified, Refusal> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected.issuer => {}
        _ => return Err(Refusal::WrongIssuer),
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(list)) if list.len() <= MAX_AUDIENCES => list
            .iter()
            .any(|aud| aud.as_str() == Some(expected.audience)),
        _ => false,
    };
    if !audience_matches {
        return Err(Refusal::WrongAudience);
    }
    let exp = seconds(claims.get("exp")).ok_or(Refusal::Malformed)?;
    if expected.now > exp.saturating_add(LEEWAY_SECS) {
        return Err(Refusal::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = seconds(Some(nbf)).ok_or(Refusal::Malformed)?;
        if expected.now.saturating_add(LEEWAY_SECS) < nbf {
            return Err(Refusal::NotYetValid);
        }
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub))
            if !sub.is_empty()
                && sub.len() <= MAX_SUBJECT_LEN
                && sub.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            sub.clone()
        }
        _ => return Err(Refusal::NoSubject),
    };
    let project_claim = format!("{}/claims/project_key", expected.issuer);
    let project_key = match claims.get(&project_claim) {
        Some(Value::String(key)) if is_project_key(key) => key.clone(),
        _ => return Err(Refusal::NoProject),
    };
    Ok(Verified {
        subject,
        project_key,
    })
}

/// A NumericDate: whole (or fractional, rounded down) seconds.
fn seconds(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://mc-api.europe-west1.gcp.commercetools.com";
    const AUD: &str = "https://storelink.example.com/api/v1/installs";
    const NOW: i64 = 1_800_000_000;

    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.c2ln",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        )
    }

    fn good_claims() -> Value {
        json!({
            "iss": ISS,
            "aud": AUD,
            "exp": NOW + 60,
            "sub": "user-1",
            format!("{ISS}/claims/project_key"): "acme-shop",
        })
    }

    fn check(claims: Value) -> Result<Verified, Refusal> {
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        check_claims(
            &map,
            &Expected {
                issuer: ISS,
                audience: AUD,
                now: NOW,
            },
        )
    }

    #[test]
    fn only_rs256_is_read_further() {
        let claims = good_claims();
        for alg in ["none", "HS256", "RS384", "ES256", "PS256", "rs256"] {
            let text = token(json!({"alg": alg, "typ": "JWT"}), claims.clone());
            assert!(
                matches!(Token::parse(&text), Err(Refusal::Algorithm(_))),
                "{alg}"
            );
        }
        let no_alg = token(json!({"typ": "JWT"}), claims.clone());
        assert!(matches!(Token::parse(&no_alg), Err(Refusal::Algorithm(_))));
        let rs256 = token(json!({"alg": "RS256", "kid": "k1"}), claims);
        assert_eq!(Token::parse(&rs256).unwrap().kid.as_deref(), Some("k1"));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let claims = good_claims();
        let good = token(json!({"alg": "RS256"}), claims.clone());
        let unsigned = good.trim_end_matches("c2ln").to_owned();
        for text in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!.e30.c2ln",
            format!("{good}.extra").as_str(),
            token(json!({"alg": "RS256", "crit": ["exp"]}), claims.clone()).as_str(),
            token(json!({"alg": "RS256", "kid": 7}), claims.clone()).as_str(),
            "a".repeat(MAX_TOKEN_LEN + 1).as_str(),
        ] {
            assert!(Token::parse(text).is_err(), "{text:.40}");
        }
        assert!(matches!(
            Token::parse(&unsigned),
            Err(Refusal::BadSignature)
        ));
        // A header that is JSON but not an object.
        let array = format!("{}.e30.c2ln", B64URL.encode("[1]"));
        assert!(matches!(Token::parse(&array), Err(Refusal::Malformed)));
    }

    #[test]
    fn good_claims_name_the_user_and_project() {
        assert_eq!(
            check(good_claims()).unwrap(),
            Verified {
                subject: "user-1".into(),
                project_key: "acme-shop".into()
            }
        );
        let mut listed = good_claims();
        listed["aud"] = json!(["https://other.example.com", AUD]);
        assert!(check(listed).is_ok());
    }

    #[test]
    fn each_claim_is_checked() {
        let with = |name: &str, value: Value| {
            let mut claims = good_claims();
            claims[name] = value;
            check(claims)
        };
        let without = |name: &str| {
            let mut claims = good_claims();
            claims.as_object_mut().unwrap().remove(name);
            check(claims)
        };
        assert_eq!(
            with("iss", json!("https://mc-api.commercetools.com")),
            Err(Refusal::WrongIssuer)
        );
        assert_eq!(without("iss"), Err(Refusal::WrongIssuer));
        assert_eq!(
            with("aud", json!("https://storelink.example.com")),
            Err(Refusal::WrongAudience)
        );
        assert_eq!(
            with("aud", json!(format!("{AUD}/"))),
            Err(Refusal::WrongAudience)
        );
        assert_eq!(without("aud"), Err(Refusal::WrongAudience));
        assert_eq!(
            with("exp", json!(NOW - LEEWAY_SECS - 1)),
            Err(Refusal::Expired)
        );
        assert!(with("exp", json!(NOW - LEEWAY_SECS)).is_ok());
        assert_eq!(with("exp", json!("soon")), Err(Refusal::Malformed));
        assert_eq!(without("exp"), Err(Refusal::Malformed));
        assert_eq!(
            with("nbf", json!(NOW + LEEWAY_SECS + 1)),
            Err(Refusal::NotYetValid)
        );
        assert!(with("nbf", json!(NOW)).is_ok());
        assert_eq!(with("sub", json!("")), Err(Refusal::NoSubject));
        assert_eq!(with("sub", json!("a b")), Err(Refusal::NoSubject));
        assert_eq!(without("sub"), Err(Refusal::NoSubject));
        let project = format!("{ISS}/claims/project_key");
        assert_eq!(with(&project, json!("Acme Shop")), Err(Refusal::NoProject));
        assert_eq!(without(&project), Err(Refusal::NoProject));
        // The project claim is named after the expected issuer, not any issuer.
        let mut other = good_claims();
        other.as_object_mut().unwrap().remove(&project);
        other["https://mc-api.commercetools.com/claims/project_key"] = json!("acme-shop");
        assert_eq!(check(other), Err(Refusal::NoProject));
    }

    #[test]
    fn fractional_dates_round_down() {
        assert_eq!(seconds(Some(&json!(12.9))), Some(12));
        assert_eq!(seconds(Some(&json!(12))), Some(12));
        assert_eq!(seconds(Some(&json!(1e300))), None);
        assert_eq!(seconds(Some(&json!(null))), None);
        assert_eq!(seconds(None), None);
    }
}
