//! HS256 tokens: the local host verifies them as API Gateway's JWT authorizer would; `importctl
//! token` mints them.

use std::collections::HashMap;

pub use importctl::token::mint;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The verified claims as the authorizer passes them on: every value a string.
pub fn verify(secret: &str, authorization: Option<&str>) -> Result<HashMap<String, String>, String> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .ok_or("missing bearer token")?;
    // As API Gateway's authorizer: a token is good from `nbf` (when it has one) until `exp`.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_nbf = true;
    let data = decode::<Map<String, Value>>(token.trim(), &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map_err(|e| format!("invalid token: {e}"))?;
    Ok(data
        .claims
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_carry_the_tenant() {
        let t = mint("s3cret", "acme", 60);
        let claims = verify("s3cret", Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(claims["tenant_id"], "acme");
        assert!(verify("other", Some(&format!("Bearer {t}"))).is_err());
        assert!(verify("s3cret", None).is_err());
        assert!(verify("s3cret", Some("Basic abc")).is_err());
    }

    #[test]
    fn a_token_before_its_nbf_is_refused() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let token = |nbf: u64| {
            let claims = serde_json::json!({"tenant_id": "acme", "exp": now + 3600, "nbf": nbf});
            let key = jsonwebtoken::EncodingKey::from_secret(b"s3cret");
            jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let early = verify("s3cret", Some(&format!("Bearer {}", token(now + 600))));
        assert!(early.is_err_and(|e| e.contains("ImmatureSignature")), "a token not yet valid passes");
        assert!(verify("s3cret", Some(&format!("Bearer {}", token(now - 60)))).is_ok());
    }
}
