//! HS256 tokens: the local host verifies them as API Gateway's JWT authorizer would; `importctl
//! token` mints them.

use std::collections::HashMap;

pub use importctl::token::{mint, now, sign};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The verified claims as the authorizer passes them on: every value a string.
pub fn verify(secret: &str, authorization: Option<&str>) -> Result<HashMap<String, String>, String> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .ok_or("no token: send the header `Authorization: Bearer <token>` (importctl token --tenant ID mints one)")?;
    // As API Gateway's authorizer: a token is good from `nbf` (when it has one) until `exp`.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_nbf = true;
    let data = decode::<Map<String, Value>>(token.trim(), &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map_err(|e| refused(e.kind()))?;
    Ok(data
        .claims
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

/// Why a token is refused, in words a person can act on (the library's names are Rust's).
fn refused(kind: &ErrorKind) -> String {
    let why = match kind {
        ErrorKind::InvalidSignature => "its signature does not match: it was signed with another secret",
        ErrorKind::ExpiredSignature => "it has expired: mint a new one (importctl token --tenant ID)",
        ErrorKind::ImmatureSignature => "it is not valid yet: its nbf (not before) is in the future",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "it is not signed with HS256",
        ErrorKind::MissingRequiredClaim(claim) => return format!("invalid token: it has no `{claim}` claim"),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            "it is malformed: a token is three base64url parts joined by dots (header.claims.signature)"
        }
        _ => "it could not be verified",
    };
    format!("invalid token: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_carry_the_tenant() {
        let t = mint("s3cret", "acme", 60);
        let claims = verify("s3cret", Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(claims["tenant_id"], "acme");
        assert_eq!(
            verify("other", Some(&format!("Bearer {t}"))).unwrap_err(),
            "invalid token: its signature does not match: it was signed with another secret"
        );
        assert_eq!(
            verify("s3cret", Some("Bearer abc")).unwrap_err(),
            "invalid token: it is malformed: a token is three base64url parts joined by dots (header.claims.signature)"
        );
        assert!(verify("s3cret", None).is_err());
        assert!(verify("s3cret", Some("Basic abc")).is_err());
    }

    #[test]
    fn a_token_outside_its_nbf_and_exp_is_refused() {
        let now = now();
        let bearer = |claims: Value| format!("Bearer {}", sign("s3cret", &claims));
        let valid_from = |nbf: u64| bearer(serde_json::json!({"tenant_id": "acme", "exp": now + 3600, "nbf": nbf}));
        let early = verify("s3cret", Some(&valid_from(now + 600)));
        assert_eq!(early.unwrap_err(), "invalid token: it is not valid yet: its nbf (not before) is in the future");
        assert!(verify("s3cret", Some(&valid_from(now - 60))).is_ok());
        let expired = bearer(serde_json::json!({"tenant_id": "acme", "exp": now - 3600}));
        assert_eq!(
            verify("s3cret", Some(&expired)).unwrap_err(),
            "invalid token: it has expired: mint a new one (importctl token --tenant ID)"
        );
    }
}
