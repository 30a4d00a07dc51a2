//! Local bearer tokens: HS256, signed with the local host's secret, carrying the tenant as the
//! deployed API's JWT authorizer expects it (`tenant_id` claim).

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The local host's secret unless `LOCAL_JWT_SECRET` says otherwise.
pub const LOCAL_SECRET: &str = "local-dev-secret";

/// A token for `tenant`, valid for `ttl_secs` from now.
pub fn mint(secret: &str, tenant: &str, ttl_secs: u64) -> String {
    let now = now();
    sign(secret, &json!({ "sub": format!("local-{tenant}"), "tenant_id": tenant, "iat": now, "exp": now + ttl_secs }))
}

/// Any claims as an HS256 token (tests make tokens the authorizer refuses with it).
pub fn sign(secret: &str, claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap_or_default()
}

/// Seconds since the epoch, as `exp` and `nbf` count them.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
}
