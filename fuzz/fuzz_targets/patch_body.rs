//! The PATCH body parser on any bytes, for a previewed import of each resource type: a bad body
//! is a 400 naming its fields, and an accepted one round-trips through the body that asks for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use service::api::{import_from_body, parse_patch, PatchRequest};
use domain::error::Error;
use domain::import::Status;

fuzz_target!(|body: &[u8]| {
    for resource in ["contact", "group", "account"] {
        let create = json!({"resource_type": resource, "in_preview": true}).to_string();
        let (mut import, _) = import_from_body("acme", create.as_bytes(), false).expect("a valid create");
        import.status = Status::PreviewReady;
        import.file_headers = vec!["email".into(), "name".into(), "domain".into(), "Vorname".into()];
        let asked = match parse_patch(body, &import) {
            Ok(asked) => asked,
            Err(Error::Invalid(fields)) => {
                assert!(!fields.is_empty(), "a 400 names no field");
                continue;
            }
            Err(e) => panic!("a body answers other than 400: {e}"),
        };
        let written = match &asked {
            PatchRequest::Interrupt => json!({"interrupt": true}),
            PatchRequest::Run { from, settings } => {
                // The status is the handler's to check (409): the body asks for either run.
                let asks = if *from == Status::PreviewReady { "in_preview" } else { "dry_run" };
                let mut written = Map::from_iter([(asks.to_string(), json!(false))]);
                if let Some(m) = &settings.mappings {
                    written.insert("mappings".into(), json!(m));
                }
                if let Some(c) = &settings.constants {
                    written.insert("constants".into(), json!(c));
                }
                if let Some(v) = &settings.value_mappings {
                    written.insert("value_mappings".into(), json!(v));
                }
                Value::Object(written)
            }
        };
        let again = parse_patch(&serde_json::to_vec(&written).unwrap(), &import);
        assert_eq!(again.ok().as_ref(), Some(&asked), "{written}");
        if asked == PatchRequest::Interrupt {
            assert_eq!(serde_json::from_slice::<Value>(body).ok(), Some(written));
        }
    }
});
