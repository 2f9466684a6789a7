//! Bearer-token expiry: a token shaped like a JWT (three base64url segments whose middle one is a
//! JSON object with a numeric `exp`, as Entra ID access tokens are) is refused once `exp` has
//! passed, as the service does. The signature is not checked (the emulator trusts any issuer);
//! tokens of any other shape are treated as opaque and never expire.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The `exp` claim (unix seconds) of a JWT-shaped token, or `None` for an opaque token.
pub(crate) fn jwt_expiry(token: &str) -> Option<i64> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.as_object()?.get("exp")?;
    // NumericDate may carry a fraction; a second that has begun counts as passed.
    exp.as_i64()
        .or_else(|| exp.as_f64().map(|f| f.floor() as i64))
}

/// `Some(exp)` when `token` is a JWT whose `exp` is at or before `now` (unix seconds).
pub(crate) fn expired_at(token: &str, now: i64) -> Option<i64> {
    jwt_expiry(token).filter(|&exp| exp <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn expiry_of_jwt_shaped_tokens() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000.9}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(expired_at(&jwt(r#"{"exp":100}"#), 100), Some(100));
        assert_eq!(expired_at(&jwt(r#"{"exp":101}"#), 100), None);
        // Padding tolerated.
        let padded = format!(
            "e30.{}.x",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":5}"#)
        );
        assert_eq!(jwt_expiry(&padded), Some(5));
    }

    #[test]
    fn opaque_tokens_never_expire() {
        for t in [
            "",
            "s3cret",
            "eyJ.static.token",
            "a.b",
            "a.b.c.d",
            &jwt(r#"{"nbf":1}"#),
            &jwt(r#"{"exp":"soon"}"#),
            &jwt(r#"[1,2]"#),
            "x.%%%.y",
        ] {
            assert_eq!(expired_at(t, i64::MAX), None, "{t}");
        }
    }
}
