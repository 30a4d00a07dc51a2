//! The create body parser on any bytes: a bad body is a 400 naming its fields (never another
//! status), and an accepted one round-trips: the import it makes stores and reads back as it
//! was, and the body written out again makes the same import.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use service::api::import_from_body;
use domain::error::Error;
use domain::import::Import;

fuzz_target!(|body: &[u8]| {
    let allow_insecure_webhooks = body.len().is_multiple_of(2);
    let (import, inputs) = match import_from_body("acme", body, allow_insecure_webhooks) {
        Ok(made) => made,
        Err(Error::Invalid(fields)) => return assert!(!fields.is_empty(), "a 400 names no field"),
        Err(e) => panic!("a body answers other than 400: {e}"),
    };
    let stored = serde_json::to_vec(&import).expect("an import serializes");
    let read: Import = serde_json::from_slice(&stored).expect("a stored import reads back");
    assert_eq!(read, import);
    if let Some(inputs) = inputs {
        assert!(matches!(serde_json::from_slice(&inputs), Ok(Value::Array(_))), "inline inputs are a JSON array");
    }
    let value: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    let again = import_from_body("acme", &serde_json::to_vec(&value).unwrap(), allow_insecure_webhooks);
    let (again, _) = again.expect("the same body written out again is accepted");
    let same = Import {
        id: again.id.clone(),
        created_at: again.created_at,
        updated_at: again.updated_at,
        expires_at: again.expires_at,
        ..import
    };
    assert_eq!(again, same);
});
