//! The upload key parser: any S3 event key decodes and parses without panicking, and only keys
//! of the shape the service builds parse; keys it builds, URL-encoded as S3 events carry them
//! (`+` for space), decode and parse back to their tenant and import.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use domain::import::{decode_key, is_import_id, new_import_id, parse_upload_key, upload_key};

#[derive(Arbitrary, Debug)]
struct Keys {
    raw: String,
    tenant: String,
}

fuzz_target!(|input: Keys| {
    let decoded = decode_key(&input.raw);
    if let Some((tenant, id)) = parse_upload_key(&decoded) {
        assert!(is_import_id(id) && !tenant.is_empty());
        assert_eq!(upload_key(tenant, id), decoded, "a key parses only as the key it is");
    }
    let id = new_import_id();
    let key = upload_key(&input.tenant, &id);
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    assert_eq!(decode_key(&encoded), key);
    let parsed = parse_upload_key(&key);
    // A tenant with a `/` (which the edge lets none through) makes a key of another shape.
    if input.tenant.is_empty() || input.tenant.contains('/') {
        assert_eq!(parsed, None);
    } else {
        assert_eq!(parsed, Some((input.tenant.as_str(), id.as_str())));
    }
});
