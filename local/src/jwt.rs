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
    let data = decode::<Map<String, Value>>(
        token.trim(),
        &DecodingKey::from_secret(secret.as_bytes()),
        &Validation::new(Algorithm::HS256),
    )
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
}
