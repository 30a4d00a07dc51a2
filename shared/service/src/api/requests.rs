//! What a create or PATCH body asks for, once its typed fields are checked; or every field that
//! is wrong.

use std::collections::BTreeMap;

use serde_json::Value;
use time::Duration;

use super::bodies::{decode, CreateBody, PatchBody, Sent};
use super::checks::{self, settings_over_budget, MAX_SYNC_INPUTS};
use crate::outbound;
use crate::ports::RunSettings;
use domain::dedup::Duplicates;
use domain::error::{Error, FieldError, Result};
use domain::import::{self, Format, Import, Links, Mode, Status};
use domain::merge::{ImportRule, UpdateRules};
use domain::options::{Action, CsvOptions};
use domain::record::ResourceType;
use domain::stats::Stats;
use domain::sync::Changes;
use domain::time_fmt;
use domain::validate::RowOptions;

/// What a valid create body asks for.
struct CreateRequest {
    resource_type: ResourceType,
    action: Action,
    format: Format,
    packing: import::Packing,
    upload: Option<import::UploadRequest>,
    source: Option<import::PullSource>,
    mode: Mode,
    /// Inline inputs, as the JSON file they become.
    inputs: Option<Vec<u8>>,
    csv: CsvOptions,
    in_preview: bool,
    dry_run: bool,
    identifier_field: String,
    mappings: BTreeMap<String, Option<String>>,
    options: RowOptions,
    changes: Changes,
    duplicates: Duplicates,
    import_rule: ImportRule,
    update: UpdateRules,
    max_error_ratio: Option<f64>,
    max_removed_ratio: f64,
    reference: Option<String>,
    reference_origin: Option<String>,
    metadata: BTreeMap<String, String>,
    retention: (String, Duration),
    webhook_url: Option<String>,
}

/// The error of a field that takes one of `names`.
fn one_of(field: &'static str, names: &'static str) -> impl FnOnce() -> FieldError {
    move || FieldError::new(field, "invalid", format!("must be one of {names}"))
}

fn flag(sent: Sent<bool>, field: &'static str, errors: &mut Vec<FieldError>) -> bool {
    sent.optional(errors, || FieldError::new(field, "invalid", "must be true or false")).unwrap_or(false)
}

/// `allow_insecure_webhooks`: see `Settings`.
fn parse_create(body: &[u8], allow_insecure_webhooks: bool) -> Result<CreateRequest, Vec<FieldError>> {
    let body: CreateBody = decode(body).map_err(|e| vec![e])?;
    let mut errors: Vec<FieldError> = body
        .unknown
        .keys()
        .map(|key| FieldError::new(key, "unknown_field", format!("`{key}` is not a field of an import")))
        .collect();
    let resource_type = match body.resource_type {
        Sent::Absent => {
            errors.push(FieldError::new("resource_type", "required", "resource_type is required"));
            None
        }
        Sent::Valid(resource) => Some(resource),
        Sent::Invalid(Value::String(_)) => {
            let names = ResourceType::ALL.map(ResourceType::as_str).join(", ");
            errors.push(FieldError::new("resource_type", "invalid", format!("must be one of {names}")));
            None
        }
        Sent::Null | Sent::Invalid(_) => {
            errors.push(FieldError::new("resource_type", "invalid", "must be a string"));
            None
        }
    };
    let action = body.action.or_default(Action::Merge, &mut errors, one_of("action", "merge, overwrite, delete"));
    let inputs_sent = !body.inputs.is_absent();
    let inputs = checks::inputs(body.inputs, &mut errors);
    let format = match body.format {
        Sent::Absent if inputs.is_some() => Format::Json,
        Sent::Valid(f) if inputs.is_some() && f != Format::Json => {
            errors.push(FieldError::new("format", "invalid", "inline inputs are JSON: omit format or use json"));
            Format::Json
        }
        sent => sent.or_default(Format::Auto, &mut errors, one_of("format", "auto, csv, json, jsonl, xlsx")),
    };
    let upload = checks::upload(body.upload, inputs.is_some(), &mut errors);
    let elsewhere = if inputs.is_some() {
        Some("inline inputs")
    } else if upload.is_some() {
        Some("an upload")
    } else {
        None
    };
    let source = checks::source(body.source, elsewhere, allow_insecure_webhooks, &mut errors);
    let packing = checks::packing((body.compression, body.zip_entry, body.xlsx), format, inputs.is_some(), &mut errors);
    let mode = body.mode.or_default(Mode::Async, &mut errors, one_of("mode", "async, sync"));
    let in_preview = flag(body.in_preview, "in_preview", &mut errors);
    let dry_run = flag(body.dry_run, "dry_run", &mut errors);
    if mode == Mode::Sync {
        match &inputs {
            // Bad inputs are named as such.
            None if inputs_sent => {}
            None => errors.push(FieldError::new("mode", "invalid", "sync needs inline `inputs`")),
            Some(given) if given.count > MAX_SYNC_INPUTS => errors.push(FieldError::new(
                "inputs",
                "too_many",
                format!("sync takes at most {MAX_SYNC_INPUTS} inputs; use mode async"),
            )),
            Some(_) => {}
        }
        if in_preview {
            errors.push(FieldError::new("in_preview", "invalid", "a sync import cannot stop for a preview"));
        }
    }
    let csv = checks::csv_options(body.csv, format, &mut errors);
    let reference = checks::text(body.reference, "reference", &mut errors);
    let reference_origin = checks::text(body.reference_origin, "reference_origin", &mut errors);
    let metadata = checks::metadata(body.metadata, &mut errors);
    let retention = checks::retention(body.retention, &mut errors);
    let webhook_url = match body.webhook_url {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(url) => match outbound::check_url(&url, allow_insecure_webhooks) {
            Ok(_) => Some(url),
            Err(message) => {
                errors.push(FieldError::new("webhook_url", "invalid", message));
                None
            }
        },
        Sent::Invalid(_) => {
            errors.push(FieldError::new("webhook_url", "invalid", "must be an https:// URL"));
            None
        }
    };
    let duplicates =
        body.duplicates.or_default(Duplicates::default(), &mut errors, one_of("duplicates", "last, first, error"));
    let import_rule = body.import_rule.or_default(
        ImportRule::default(),
        &mut errors,
        one_of("import_rule", "create_and_update, create_only, update_only"),
    );
    let max_error_ratio = checks::ratio(body.max_error_ratio, "max_error_ratio", &mut errors);
    let max_removed_ratio = checks::ratio(body.max_removed_ratio, "max_removed_ratio", &mut errors);
    if max_removed_ratio.is_some() && action != Action::Overwrite {
        errors.push(FieldError::new("max_removed_ratio", "invalid", "only an overwrite removes records"));
    }
    let mut options = RowOptions::default();
    let mut changes = Changes::default();
    let mut identifier_field = None;
    let mut mappings = BTreeMap::new();
    let mut update = UpdateRules::default();
    if let Some(resource) = resource_type {
        let allowed = domain::identifiers::allowed(resource);
        identifier_field = match body.identifier_field {
            Sent::Absent => Some(resource.default_identifier().to_string()),
            Sent::Valid(f) if allowed.contains(&f.as_str()) => Some(f),
            _ => {
                let message = format!("{} records match on one of: {}", resource.as_str(), allowed.join(", "));
                errors.push(FieldError::new("identifier_field", "invalid", message));
                None
            }
        };
        mappings = checks::mappings(body.mappings, resource, &mut errors);
        if let Some(given) = &inputs {
            checks::mapped_headers(&mappings, &given.headers, &mut errors);
        }
        if let Some(id_field) = &identifier_field {
            options = checks::row_options(body.constants, body.value_mappings, resource, id_field, &mut errors);
        }
        changes = checks::changes(body.tags, body.sync_actions, resource, action, &mut errors);
        update = checks::update_rules(body.update_rule, body.update_rule_by_field, resource, &mut errors);
    }
    match (resource_type, identifier_field, retention) {
        (Some(resource_type), Some(identifier_field), Some(retention)) if errors.is_empty() => Ok(CreateRequest {
            resource_type,
            action,
            format,
            packing,
            upload,
            source,
            mode,
            inputs: inputs.map(|given| given.bytes),
            csv,
            in_preview,
            dry_run,
            identifier_field,
            mappings,
            options,
            changes,
            duplicates,
            import_rule,
            update,
            max_error_ratio,
            max_removed_ratio: max_removed_ratio.unwrap_or(import::DEFAULT_MAX_REMOVED_RATIO),
            reference,
            reference_origin,
            metadata,
            retention,
            webhook_url,
        }),
        _ => Err(errors),
    }
}

/// The import a create body asks for, before it is stored, with its inline inputs as the JSON
/// file they become; or the fields that are wrong. `allow_insecure_webhooks`: see `Settings`.
pub fn import_from_body(
    tenant_id: &str,
    body: &[u8],
    allow_insecure_webhooks: bool,
) -> Result<(Import, Option<Vec<u8>>)> {
    let req = parse_create(body, allow_insecure_webhooks).map_err(Error::Invalid)?;
    let now = time_fmt::now();
    let import = Import {
        id: import::new_import_id(),
        tenant_id: tenant_id.to_string(),
        resource_type: req.resource_type,
        action: req.action,
        format: req.format,
        packing: req.packing,
        upload: req.upload,
        source: req.source,
        mode: req.mode,
        csv: req.csv,
        in_preview: req.in_preview,
        dry_run: req.dry_run,
        identifier_field: req.identifier_field,
        mappings: req.mappings,
        options: req.options,
        changes: req.changes,
        duplicates: req.duplicates,
        import_rule: req.import_rule,
        update: req.update,
        max_error_ratio: req.max_error_ratio,
        max_removed_ratio: req.max_removed_ratio,
        reference: req.reference,
        reference_origin: req.reference_origin,
        metadata: req.metadata,
        retention: req.retention.0,
        webhook_url: req.webhook_url,
        status: Status::AwaitingUpload,
        phase: None,
        reason: None,
        stats: Stats::default(),
        file_headers: vec![],
        unmapped_headers: vec![],
        sample_records: vec![],
        distinct_values: BTreeMap::new(),
        clipped: None,
        has_upload_file: false,
        has_errors_file: false,
        has_results_file: false,
        file: None,
        links: Links::default(),
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        interrupted_at: None,
        expires_at: now + req.retention.1,
        revert: None,
    };
    if let Some(error) = settings_over_budget(&import) {
        return Err(Error::Invalid(vec![error]));
    }
    Ok((import, req.inputs))
}

/// What a PATCH body asks of an import: `{"in_preview": false}` starts a previewed import,
/// `{"dry_run": false}` runs a completed dry run for real, both from the same upload and either
/// with new `mappings`, `constants` or `value_mappings`; `{"interrupt": true}` stops an import
/// that is not final.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchRequest {
    Interrupt,
    /// Run again from the upload, from a `PreviewReady` or a completed dry run.
    Run {
        from: Status,
        settings: RunSettings,
    },
}

/// A PATCH body read for `import`, or the fields that are wrong. Its file is known by now, so
/// a mapping must name one of its headers.
pub fn parse_patch(body: &[u8], import: &Import) -> Result<PatchRequest> {
    let body: PatchBody = decode(body).map_err(|e| Error::Invalid(vec![e]))?;
    if !body.interrupt.is_absent() {
        if body.interrupt != Sent::Valid(true) || body.len() > 1 {
            return Err(Error::invalid("interrupt", "invalid", "send {\"interrupt\": true} alone"));
        }
        return Ok(PatchRequest::Interrupt);
    }
    let mut errors: Vec<FieldError> = body
        .unknown
        .keys()
        .map(|key| {
            let takes = "PATCH takes in_preview, dry_run, mappings, constants, value_mappings, interrupt";
            FieldError::new(key, "unknown_field", takes)
        })
        .collect();
    // Only `false` asks for a run; any other value of either is a wrong body.
    let asks = |sent: &Sent<bool>| (!sent.is_absent()).then(|| *sent == Sent::Valid(false));
    let from = match (asks(&body.in_preview), asks(&body.dry_run)) {
        (Some(true), None) => Status::PreviewReady,
        (None, Some(true)) => Status::Completed,
        _ => {
            errors.push(FieldError::new("body", "invalid", "send {\"in_preview\": false} or {\"dry_run\": false}"));
            Status::Completed
        }
    };
    let resource = import.resource_type;
    let mut settings = RunSettings::default();
    if !body.mappings.is_absent() {
        let mappings = checks::mappings(body.mappings, resource, &mut errors);
        // Known once prevalidated; before that the PATCH is a 409 anyway.
        if matches!(import.status, Status::PreviewReady | Status::Completed) {
            checks::mapped_headers(&mappings, &import.file_headers, &mut errors);
        }
        settings.mappings = Some(mappings);
    }
    let (constants_sent, value_mappings_sent) = (!body.constants.is_absent(), !body.value_mappings.is_absent());
    let options =
        checks::row_options(body.constants, body.value_mappings, resource, &import.identifier_field, &mut errors);
    settings.constants = constants_sent.then_some(options.constants);
    settings.value_mappings = value_mappings_sent.then_some(options.value_mappings);
    // An overwrite's guard holds the real run to what its dry run showed it would remove.
    if from == Status::Completed && import.action == Action::Overwrite && settings != RunSettings::default() {
        let message = "an overwrite's dry run runs for real as it was, removing what it showed; dry-run new settings";
        errors.push(FieldError::new("body", "invalid", message));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(PatchRequest::Run { from, settings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Vec<String> {
        parse_create(body.as_bytes(), false).err().unwrap().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn minimal_body_gets_defaults() {
        let r = parse_create(br#"{"resource_type":"contact"}"#, false).ok().unwrap();
        assert_eq!(r.identifier_field, "email");
        assert_eq!(r.retention.0, "P7D");
    }

    #[test]
    fn every_bad_field_is_named() {
        let f = fields(
            r#"{"resource_type":"contact","colour":1,"format":"xml","retention":"P1Y","dry_run":1,"mappings":{"A":"nope"}}"#,
        );
        for expected in ["colour", "format", "retention", "dry_run", "mappings.A"] {
            assert!(f.contains(&expected.to_string()), "{expected} missing from {f:?}");
        }
        assert_eq!(fields("{}"), vec!["resource_type"]);
        assert_eq!(fields("[1]"), vec!["body"]);
        assert_eq!(fields("not json"), vec!["body"]);
        assert_eq!(fields(r#"{"resource_type":"contact","identifier_field":"tags"}"#), vec!["identifier_field"]);
        assert_eq!(fields(r#"{"resource_type":"contact","retention":"P1é"}"#), vec!["retention"]);
        assert_eq!(fields(r#"{"resource_type":"contact","mappings":{"":"email"}}"#), vec!["mappings."]);
    }

    /// Each wrong field as `field code: message`.
    fn details(body: &str) -> Vec<String> {
        let errors = parse_create(body.as_bytes(), false).err().unwrap();
        errors.into_iter().map(|e| format!("{} {}: {}", e.field, e.code, e.message)).collect()
    }

    #[test]
    fn each_error_keeps_its_code_and_message() {
        assert_eq!(details("{}"), ["resource_type required: resource_type is required"]);
        assert_eq!(
            details(r#"{"resource_type":"robot","colour":"red","action":1,"dry_run":"yes","retention":null}"#),
            [
                "colour unknown_field: `colour` is not a field of an import",
                "resource_type invalid: must be one of contact, group, account",
                "action invalid: must be one of merge, overwrite, delete",
                "dry_run invalid: must be true or false",
                "retention invalid: must be an ISO 8601 duration from P1D to P90D",
            ]
        );
        assert_eq!(details(r#"{"resource_type":null}"#), ["resource_type invalid: must be a string"]);
        assert_eq!(
            details(r#"{"resource_type":"contact","csv":{"zz":1,"delimiter":"x","has_header":null}}"#),
            [
                "csv.delimiter invalid: must be one of \",\", \";\", \"\\t\", \"|\"",
                "csv.has_header invalid: has the wrong type",
                "csv.zz unknown_field: csv takes delimiter, encoding, has_header",
            ]
        );
        assert_eq!(
            details(r#"{"resource_type":"contact","constants":{"first_name":[1],"nope":"x","email":"a@b.co"}}"#),
            [
                "constants.email invalid: the identifier cannot be a constant",
                "constants.first_name invalid: a constant is a string, number or boolean",
                "constants.nope unknown_field: not a field of contact (email, external_id, first_name, last_name, \
                 phone, company, title, city, region, country, postal_code, status, groups, tags, or custom.<name>)",
            ]
        );
        let sync =
            details(r#"{"resource_type":"contact","sync_actions":[{"action":"add","group":"vip"},["add","x"]]}"#);
        assert_eq!(sync.len(), 1);
        assert!(sync[0].starts_with("sync_actions[1] invalid: must be {\"action\""), "{sync:?}");
        assert_eq!(
            details(r#"{"resource_type":"contact","tags":["a",""],"mode":"sync","inputs":[1]}"#),
            ["inputs[0] invalid: each input is an object", "tags invalid: tags are strings of 1 to 1024 bytes",]
        );
    }

    /// A previewed contact import of a file with these headers.
    fn previewed(body: &str, headers: &[&str]) -> Import {
        let (mut import, _) = import_from_body("acme", body.as_bytes(), false).unwrap();
        import.file_headers = headers.iter().map(|h| h.to_string()).collect();
        import.status = Status::PreviewReady;
        import
    }

    #[test]
    fn a_patch_asks_one_thing() {
        let import = previewed(r#"{"resource_type":"contact","in_preview":true}"#, &["A", "Ja?"]);
        let patch = |body: &str| parse_patch(body.as_bytes(), &import);
        assert_eq!(patch(r#"{"interrupt":true}"#).unwrap(), PatchRequest::Interrupt);
        let run = patch(r#"{"in_preview":false,"mappings":{"A":"email"}}"#).unwrap();
        let mappings = Some(BTreeMap::from([("A".to_string(), Some("email".to_string()))]));
        let settings = RunSettings { mappings, ..RunSettings::default() };
        assert_eq!(run, PatchRequest::Run { from: Status::PreviewReady, settings });
        let wrong = |body: &str| -> Vec<String> {
            match patch(body) {
                Err(Error::Invalid(errors)) => errors.into_iter().map(|e| format!("{} {}", e.field, e.code)).collect(),
                other => panic!("{body}: {other:?}"),
            }
        };
        assert_eq!(wrong(r#"{"interrupt":true,"dry_run":false}"#), ["interrupt invalid"]);
        assert_eq!(wrong(r#"{"interrupt":null}"#), ["interrupt invalid"]);
        assert_eq!(wrong(r#"{"in_preview":true,"x":1}"#), ["x unknown_field", "body invalid"]);
        assert_eq!(wrong(r#"{"in_preview":false,"mappings":{"A":"nope"}}"#), ["mappings.A unknown_field"]);
        assert_eq!(wrong("[]"), ["body invalid_json"]);
    }

    #[test]
    fn a_patch_sets_what_it_sends_and_leaves_the_rest() {
        let import = previewed(
            r#"{"resource_type":"contact","in_preview":true,"constants":{"city":"Oslo"}}"#,
            &["E-Mail", "Vorname", "Newsletter"],
        );
        let body = r#"{"in_preview":false,"mappings":{"Vorname":"first_name","Newsletter":"status"},
            "value_mappings":{"status":{"Ja":"subscribed"}}}"#;
        let PatchRequest::Run { settings, .. } = parse_patch(body.as_bytes(), &import).unwrap() else { panic!() };
        assert_eq!(settings.mappings.unwrap().len(), 2);
        assert_eq!(settings.value_mappings.unwrap()["status"]["Ja"], "subscribed");
        assert_eq!(settings.constants, None, "constants not sent stay as they are");
        let body = r#"{"dry_run":false,"constants":{"status":"subscribed"}}"#;
        let PatchRequest::Run { from, settings } = parse_patch(body.as_bytes(), &import).unwrap() else { panic!() };
        assert_eq!((from, settings.constants.unwrap()["status"].as_str()), (Status::Completed, Some("subscribed")));
    }

    #[test]
    fn a_mapping_must_name_a_header_of_the_file() {
        let import = previewed(r#"{"resource_type":"contact","in_preview":true}"#, &["Email", "First Name"]);
        let body = br#"{"in_preview":false,"mappings":{"Vorname":"first_name","Email":"email"}}"#;
        let Err(Error::Invalid(errors)) = parse_patch(body, &import) else { panic!() };
        let waiting = Import { status: Status::AwaitingUpload, file_headers: vec![], ..import.clone() };
        assert!(parse_patch(body, &waiting).is_ok(), "no file yet: the status answers (409)");
        let said: Vec<String> = errors.iter().map(|e| format!("{} {}: {}", e.field, e.code, e.message)).collect();
        assert_eq!(
            said,
            [r#"mappings.Vorname unknown_header: the file has no header "Vorname"; its headers: Email, First Name"#]
        );
        // Inline inputs are a file known at create: their keys are its headers, nested ones
        // flattened as the file's columns are.
        let inline = r#"{"resource_type":"contact","inputs":[{"email":"a@b.co"},{"name":"A","custom":{"plan":"x"}}],
            "mappings":{"nom":"first_name","custom.plan":"custom.tier"}}"#;
        assert_eq!(
            details(inline),
            [r#"mappings.nom unknown_header: the file has no header "nom"; its headers: email, custom.plan, name"#]
        );
    }

    #[test]
    fn an_overwrite_dry_run_runs_for_real_as_it_was() {
        let import = previewed(r#"{"resource_type":"contact","action":"overwrite","dry_run":true}"#, &["email"]);
        assert!(parse_patch(br#"{"dry_run":false}"#, &import).is_ok());
        let changed = parse_patch(br#"{"dry_run":false,"constants":{"city":"Oslo"}}"#, &import);
        assert!(matches!(changed, Err(Error::Invalid(e)) if e[0].field == "body"));
    }

    #[test]
    fn two_headers_cannot_feed_one_field() {
        let f = fields(r#"{"resource_type":"contact","mappings":{"A":"email","B":"email"}}"#);
        assert_eq!(f, vec!["mappings.B"]);
    }

    #[test]
    fn webhook_url_is_checked_and_kept() {
        let body = |url: &str| format!(r#"{{"resource_type":"contact","webhook_url":{url}}}"#);
        let kept = parse_create(body(r#""https://hooks.example.com/imports""#).as_bytes(), false).ok().unwrap();
        assert_eq!(kept.webhook_url.as_deref(), Some("https://hooks.example.com/imports"));
        assert_eq!(parse_create(body("null").as_bytes(), false).ok().unwrap().webhook_url, None);
        for bad in [
            r#""http://example.com/x""#,
            r#""ftp://example.com/x""#,
            r#""not a url""#,
            "1",
            "[]",
            r#""https://10.0.0.1/""#,
        ] {
            assert_eq!(fields(&body(bad)), vec!["webhook_url"], "{bad}");
        }
        let loopback = body(r#""http://127.0.0.1:8080/hook""#);
        assert_eq!(fields(&loopback), vec!["webhook_url"]);
        assert!(parse_create(loopback.as_bytes(), true).is_ok());
    }

    #[test]
    fn retention_accepts_days_and_weeks_in_range() {
        for (v, ok) in [("P1D", true), ("P90D", true), ("P2W", true), ("P91D", false), ("P0D", false), ("PT1H", false)]
        {
            let body = format!(r#"{{"resource_type":"contact","retention":"{v}"}}"#);
            assert_eq!(parse_create(body.as_bytes(), false).is_ok(), ok, "{v}");
        }
    }
}
