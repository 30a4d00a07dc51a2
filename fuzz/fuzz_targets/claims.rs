//! The claims reader on any claims: it answers a tenant only from `tenant_id`, only one that is
//! safe in keys and paths (else a 401), and the upload key built for it parses back.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lambda_edge::http::tenant_from_claims;
use domain::error::Error;
use domain::import::{new_import_id, parse_upload_key, upload_key};

#[derive(Arbitrary, Debug)]
struct Claims {
    tenant_id: Option<String>,
    others: HashMap<String, String>,
}

fuzz_target!(|input: Claims| {
    let mut claims = input.others;
    claims.remove("tenant_id");
    if let Some(tenant) = &input.tenant_id {
        claims.insert("tenant_id".into(), tenant.clone());
    }
    let tenant = match tenant_from_claims(Some(&claims)) {
        Ok(tenant) => tenant,
        Err(Error::Unauthorized(_)) => return,
        Err(e) => panic!("claims answer other than 401: {e}"),
    };
    assert_eq!(Some(&tenant), input.tenant_id.as_ref());
    assert!(!tenant.is_empty() && tenant.len() <= 64 && tenant != "." && tenant != "..");
    assert!(tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    let id = new_import_id();
    let key = upload_key(&tenant, &id);
    assert_eq!(parse_upload_key(&key), Some((tenant.as_str(), id.as_str())));
    assert!(key.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != ".."));
});
