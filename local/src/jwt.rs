//! HS256 tokens: the local host verifies them as API Gateway's JWT authorizer would, and mints
//! them for local use (`make token`).

use std::collections::HashMap;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Map, Value};

/// A token for `tenant`, valid for `ttl_secs`.
pub fn mint(secret: &str, tenant: &str, ttl_secs: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let claims = json!({ "sub": format!("local-{tenant}"), "tenant_id": tenant, "iat": now, "exp": now + ttl_secs });
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap_or_default()
}

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
