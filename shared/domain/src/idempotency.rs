//! `Idempotency-Key` on create: a client that retries a create with the same key and
//! body gets the same import; the same key with another body is a 409. The key is claimed for
//! the import id before the import is stored, so a retry after a failure in between creates
//! that same import.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A key is kept this long: retries come within minutes, a day is generous.
pub const KEY_TTL_SECS: i64 = 24 * 3600;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    Claimed,
    /// The key was claimed before, for this import and a body with this fingerprint.
    Held {
        import_id: String,
        fingerprint: String,
    },
}

/// Keys are opaque to us but go into a store key: printable ASCII, 1 to 255 bytes.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid("Idempotency-Key", "invalid", "1 to 255 printable ASCII characters"));
    }
    Ok(())
}

/// The body's meaning, not its bytes: the same JSON with other spacing or key order is the same.
pub fn fingerprint(body: &serde_json::Value) -> String {
    let digest = Sha256::digest(body.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_layout_but_not_content() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "b":[1,2],"a":1 }"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"a": 2, "b": [1, 2]})));
    }

    #[test]
    fn keys_are_printable_and_bounded() {
        assert!(check_key("order-42:retry").is_ok());
        for bad in ["", " ", "é", &"k".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
