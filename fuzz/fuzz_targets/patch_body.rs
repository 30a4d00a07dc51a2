//! The PATCH body parser on any bytes, for each resource type: a bad body is a 400 naming its
//! fields, and an accepted one round-trips through the body that asks for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use service::api::{parse_patch, PatchRequest};
use domain::error::Error;
use domain::import::Status;
use domain::record::ResourceType;

fuzz_target!(|body: &[u8]| {
    for resource in [ResourceType::Contact, ResourceType::Group, ResourceType::Account] {
        let asked = match parse_patch(body, resource) {
            Ok(asked) => asked,
            Err(Error::Invalid(fields)) => {
                assert!(!fields.is_empty(), "a 400 names no field");
                continue;
            }
            Err(e) => panic!("a body answers other than 400: {e}"),
        };
        let written = match &asked {
            PatchRequest::Interrupt => json!({"interrupt": true}),
            PatchRequest::Run { from: Status::PreviewReady, mappings: None } => json!({"in_preview": false}),
            PatchRequest::Run { from: Status::PreviewReady, mappings: Some(m) } => {
                json!({"in_preview": false, "mappings": m})
            }
            PatchRequest::Run { from: Status::Completed, mappings: None } => json!({"dry_run": false}),
            other => panic!("{other:?} is not a run a PATCH asks for"),
        };
        let again = parse_patch(&serde_json::to_vec(&written).unwrap(), resource);
        assert_eq!(again.ok().as_ref(), Some(&asked), "{written}");
        if asked == PatchRequest::Interrupt {
            assert_eq!(serde_json::from_slice::<Value>(body).ok(), Some(written));
        }
    }
});
