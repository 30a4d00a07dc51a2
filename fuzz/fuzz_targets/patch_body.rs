//! The PATCH body parser on any bytes, for a previewed import of each resource type: a bad body
//! is a 400 naming its fields, an accepted one round-trips through the body that asks for it, and
//! its settings are checked into a 400 or the settings of a run, never anything else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use service::api::{import_from_body, parse_patch, patch_settings, PatchRequest, TemplateChoice};
use domain::error::Error;
use domain::import::Status;

fuzz_target!(|body: &[u8]| {
    for resource in ["contact", "group", "account"] {
        let create = json!({"resource_type": resource, "in_preview": true}).to_string();
        let (mut import, _) = import_from_body("acme", create.as_bytes(), false).expect("a valid create");
        import.status = Status::PreviewReady;
        import.file_headers = vec!["email".into(), "name".into(), "domain".into(), "Vorname".into()];
        let asked = match parse_patch(body) {
            Ok(asked) => asked,
            Err(Error::Invalid(fields)) => {
                assert!(!fields.is_empty(), "a 400 names no field");
                continue;
            }
            Err(e) => panic!("a body answers other than 400: {e}"),
        };
        let written = match &asked {
            PatchRequest::Interrupt => json!({"interrupt": true}),
            PatchRequest::Run { from, settings, template } => {
                // The status is the handler's to check (409): the body asks for either run.
                let asks = if *from == Status::PreviewReady { "in_preview" } else { "dry_run" };
                let mut written = settings.clone();
                written.insert(asks.to_string(), json!(false));
                match template {
                    Some(TemplateChoice::Auto) => written.insert("template".into(), json!("auto")),
                    Some(TemplateChoice::Latest(id)) => written.insert("template".into(), json!(id)),
                    Some(TemplateChoice::Version(id, v)) => {
                        written.insert("template".into(), json!({"id": id, "version": v}))
                    }
                    None => None,
                };
                match patch_settings(settings.clone(), None, &import, *from) {
                    Ok(_) => {}
                    Err(Error::Invalid(fields)) => assert!(!fields.is_empty(), "a 400 names no field"),
                    Err(e) => panic!("settings answer other than 400: {e}"),
                }
                Value::Object(written)
            }
        };
        let again = parse_patch(&serde_json::to_vec(&written).unwrap());
        assert_eq!(again.ok().as_ref(), Some(&asked), "{written}");
        if asked == PatchRequest::Interrupt {
            assert_eq!(serde_json::from_slice::<Value>(body).ok(), Some(written));
        }
    }
});
