//! What a create or PATCH body asks for, once its typed fields are checked; or every field that
//! is wrong.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use time::Duration;

use super::bodies::{decode_object, from_object, CreateBody, Sent};
use super::checks::{self, settings_over_budget, MAX_SYNC_INPUTS};
use crate::outbound;
use crate::ports::RunSettings;
use domain::dedup::Duplicates;
use domain::error::{Error, FieldError, Result};
use domain::import::{self, Format, Import, Links, Mode, Status};
use domain::mapping::squash;
use domain::merge::{ImportRule, UpdateRule, UpdateRules};
use domain::options::{Action, CsvOptions};
use domain::record::ResourceType;
use domain::stats::Stats;
use domain::sync::Changes;
use domain::template::{is_template_id, AutoWord, TemplateUse, FILE_SETTINGS, SETTINGS};
use domain::time_fmt;
use domain::validate::RowOptions;

/// What a valid create body asks for.
pub(super) struct CreateRequest {
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
    max_errors: Option<u64>,
    template: Option<TemplateChoice>,
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

/// `template` as a create or PATCH body names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateChoice {
    /// Its latest version.
    Latest(String),
    Version(String, u32),
    /// The one the file's headers match best, if any.
    Auto,
}

impl TemplateChoice {
    /// The id and the version (none: the latest) of a template named by id.
    pub fn named(&self) -> Option<(&str, Option<u32>)> {
        match self {
            Self::Latest(id) => Some((id, None)),
            Self::Version(id, version) => Some((id, Some(*version))),
            Self::Auto => None,
        }
    }

    pub(super) fn read(value: &Value) -> Result<Self, FieldError> {
        let wrong = || FieldError::new("template", "invalid", r#"must be a template id, {"id", "version"} or "auto""#);
        match value {
            Value::String(s) if s == "auto" => Ok(Self::Auto),
            Value::String(id) if is_template_id(id) => Ok(Self::Latest(id.clone())),
            Value::Object(o) if o.len() == 2 => {
                let id = o.get("id").and_then(Value::as_str).filter(|id| is_template_id(id));
                let version = o.get("version").and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok());
                match (id, version) {
                    (Some(id), Some(version)) if version >= 1 => Ok(Self::Version(id.to_string(), version)),
                    _ => Err(wrong()),
                }
            }
            _ => Err(wrong()),
        }
    }
}

/// A whole number from 0; null is none.
fn count(sent: Sent<u64>, field: &str, errors: &mut Vec<FieldError>) -> Option<u64> {
    sent.optional(errors, || FieldError::new(field, "invalid", "must be a whole number from 0"))
}

/// What a create body (decoded) asks for. `allow_insecure_webhooks`: see `Settings`.
pub(super) fn parse_object(
    object: Map<String, Value>,
    allow_insecure_webhooks: bool,
) -> Result<CreateRequest, Vec<FieldError>> {
    let body: CreateBody = from_object(object).map_err(|e| vec![e])?;
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
    let max_errors = count(body.max_errors, "max_errors", &mut errors);
    let template = match body.template {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(value) | Sent::Invalid(value) => TemplateChoice::read(&value).map_err(|e| errors.push(e)).ok(),
    };
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
            max_errors,
            template,
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
/// A template it names by id is not applied (see `create_import`).
pub fn import_from_body(
    tenant_id: &str,
    body: &[u8],
    allow_insecure_webhooks: bool,
) -> Result<(Import, Option<Vec<u8>>)> {
    let object = decode_object(body).map_err(|e| Error::Invalid(vec![e]))?;
    import_from_object(tenant_id, object, allow_insecure_webhooks)
}

/// [`import_from_body`] of a body decoded already.
pub(super) fn import_from_object(
    tenant_id: &str,
    object: Map<String, Value>,
    allow_insecure_webhooks: bool,
) -> Result<(Import, Option<Vec<u8>>)> {
    let req = parse_object(object, allow_insecure_webhooks).map_err(Error::Invalid)?;
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
        max_errors: req.max_errors,
        template: (req.template == Some(TemplateChoice::Auto)).then_some(TemplateUse::Auto(AutoWord::Auto)),
        suggested_template: None,
        schema_version: None,
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

/// The settings a PATCH that starts a run may change (with `template`): the create fields that
/// do not describe the file.
pub const RUN_SETTINGS: [&str; 11] = [
    "mappings",
    "value_mappings",
    "constants",
    "tags",
    "update_rule",
    "update_rule_by_field",
    "import_rule",
    "duplicates",
    "max_error_ratio",
    "max_errors",
    "sync_actions",
];

/// What a PATCH body asks of an import: `{"in_preview": false}` starts a previewed import,
/// `{"dry_run": false}` runs a completed dry run for real, both from the same upload and either
/// with any of [`RUN_SETTINGS`] and a `template`; `{"interrupt": true}` stops an import that is
/// not final.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchRequest {
    Interrupt,
    /// Run again from the upload, from a `PreviewReady` or a completed dry run, with the
    /// settings sent (create body fields, not checked yet: see [`run_settings`]).
    Run {
        from: Status,
        settings: Map<String, Value>,
        template: Option<TemplateChoice>,
    },
}

/// A PATCH body's shape, or the fields that are wrong.
pub fn parse_patch(body: &[u8]) -> Result<PatchRequest> {
    let mut body = decode_object(body).map_err(|e| Error::Invalid(vec![e]))?;
    if let Some(interrupt) = body.get("interrupt") {
        if *interrupt != Value::Bool(true) || body.len() > 1 {
            return Err(Error::invalid("interrupt", "invalid", "send {\"interrupt\": true} alone"));
        }
        return Ok(PatchRequest::Interrupt);
    }
    let mut errors = Vec::new();
    // Only `false` asks for a run; any other value of either is a wrong body.
    let asks = |field: &str| body.get(field).map(|v| *v == Value::Bool(false));
    let from = match (asks("in_preview"), asks("dry_run")) {
        (Some(true), None) => Status::PreviewReady,
        (None, Some(true)) => Status::Completed,
        _ => {
            errors.push(FieldError::new("body", "invalid", "send {\"in_preview\": false} or {\"dry_run\": false}"));
            Status::Completed
        }
    };
    body.remove("in_preview");
    body.remove("dry_run");
    let template = body
        .remove("template")
        .filter(|t| !t.is_null())
        .and_then(|t| TemplateChoice::read(&t).map_err(|e| errors.push(e)).ok());
    for key in body.keys().filter(|key| !RUN_SETTINGS.contains(&key.as_str())) {
        let takes = format!("PATCH takes in_preview or dry_run, interrupt, template, {}", RUN_SETTINGS.join(", "));
        errors.push(FieldError::new(key, "unknown_field", takes));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(PatchRequest::Run { from, settings: body, template })
}

/// The settings of `sent` (create body fields of [`RUN_SETTINGS`]) checked for `import` as a
/// create body's are; each one sent is set, the others left as they are. Its file is known by
/// now, so a mapping must name one of its headers.
pub fn run_settings(sent: Map<String, Value>, import: &Import) -> Result<RunSettings> {
    let keys: Vec<String> = sent.keys().cloned().collect();
    let sends = |key: &str| keys.iter().any(|k| k == key);
    let mut body = sent;
    // Fields by rule are checked against the rule the run will have.
    if sends("update_rule_by_field") && !sends("update_rule") {
        let rule = serde_json::to_value(import.update.update_rule).map_err(|e| Error::Internal(e.to_string()))?;
        body.insert("update_rule".into(), rule);
    }
    body.insert("resource_type".into(), import.resource_type.as_str().into());
    body.insert("action".into(), serde_json::to_value(import.action).map_err(|e| Error::Internal(e.to_string()))?);
    body.insert("identifier_field".into(), import.identifier_field.clone().into());
    let mut req = parse_object(body, true).map_err(Error::Invalid)?;
    let mut errors = Vec::new();
    // Known once prevalidated; before that the PATCH is a 409 anyway.
    if sends("mappings") && matches!(import.status, Status::PreviewReady | Status::Completed) {
        checks::mapped_headers(&req.mappings, &import.file_headers, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut settings = RunSettings::default();
    for key in &keys {
        match key.as_str() {
            "mappings" => settings.mappings = Some(std::mem::take(&mut req.mappings)),
            "constants" => settings.constants = Some(std::mem::take(&mut req.options.constants)),
            "value_mappings" => settings.value_mappings = Some(std::mem::take(&mut req.options.value_mappings)),
            "tags" => settings.tags = Some(std::mem::take(&mut req.changes.tags)),
            "sync_actions" => settings.sync_actions = Some(std::mem::take(&mut req.changes.sync_actions)),
            "update_rule" => {
                settings.update_rule = Some(req.update.update_rule);
                // Fields by rule apply with `use_field_rule` only: another rule ends them.
                if !sends("update_rule_by_field") && req.update.update_rule != UpdateRule::UseFieldRule {
                    settings.update_rule_by_field = Some(BTreeMap::new());
                }
            }
            "update_rule_by_field" => {
                settings.update_rule_by_field = Some(std::mem::take(&mut req.update.update_rule_by_field))
            }
            "import_rule" => settings.import_rule = Some(req.import_rule),
            "duplicates" => settings.duplicates = Some(req.duplicates),
            "max_error_ratio" => settings.max_error_ratio = Some(req.max_error_ratio),
            "max_errors" => settings.max_errors = Some(req.max_errors),
            _ => {}
        }
    }
    Ok(settings)
}

/// What a PATCH that starts a run from `from` sets: the settings `sent`, over those of the
/// `template` it names, if any (see [`run_settings`]).
pub fn patch_settings(
    mut sent: Map<String, Value>,
    template: Option<(&Value, TemplateUse)>,
    import: &Import,
    from: Status,
) -> Result<RunSettings> {
    if let Some((body, _)) = template {
        under_template(&mut sent, body, Some(&import.file_headers), false);
    }
    let mut settings = run_settings(sent, import)?;
    settings.template = template.map(|(_, used)| used);
    // An overwrite's guard holds the real run to what its dry run showed it would remove.
    if from == Status::Completed && import.action == Action::Overwrite && settings != RunSettings::default() {
        let message = "an overwrite's dry run runs for real as it was, removing what it showed; dry-run new settings";
        return Err(Error::invalid("body", "invalid", message));
    }
    Ok(settings)
}

/// `body` with a template's settings (`SETTINGS`) under its own: each setting the body does not
/// send is the template's. `headers`, when the file is known: the template's mappings name the
/// file's headers as they are spelled there (matched as templates are, ignoring case and
/// punctuation), and those of headers the file lacks are left out. `file`: whether the settings
/// that say how to read the file are taken.
pub fn under_template(body: &mut Map<String, Value>, template: &Value, headers: Option<&[String]>, file: bool) {
    // The rule and the fields by rule are one setting: either sent replaces both.
    let own = |key: &str| match key {
        "update_rule" | "update_rule_by_field" => {
            body.contains_key("update_rule") || body.contains_key("update_rule_by_field")
        }
        _ => body.contains_key(key),
    };
    let taken: Vec<&str> = SETTINGS.into_iter().filter(|k| (file || !FILE_SETTINGS.contains(k)) && !own(k)).collect();
    for key in taken {
        let Some(value) = template.get(key) else { continue };
        let value = match (key, value, headers) {
            ("mappings", Value::Object(m), Some(headers)) => Value::Object(
                m.iter()
                    .filter_map(|(h, f)| {
                        let same = headers.iter().find(|file| *file == h);
                        let like = || headers.iter().find(|file| squash(file) == squash(h));
                        same.or_else(like).map(|file| (file.clone(), f.clone()))
                    })
                    .collect(),
            ),
            _ => value.clone(),
        };
        body.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_create(body: &[u8], allow_insecure_webhooks: bool) -> Result<CreateRequest, Vec<FieldError>> {
        parse_object(decode_object(body).map_err(|e| vec![e])?, allow_insecure_webhooks)
    }

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
        assert_eq!(parse_patch(br#"{"interrupt":true}"#).unwrap(), PatchRequest::Interrupt);
        let run = parse_patch(br#"{"in_preview":false,"mappings":{"A":"email"},"template":"auto"}"#).unwrap();
        let PatchRequest::Run { from, settings, template } = run else { panic!() };
        assert_eq!((from, settings.len(), template), (Status::PreviewReady, 1, Some(TemplateChoice::Auto)));
        let wrong = |body: &str| -> Vec<String> {
            match parse_patch(body.as_bytes()) {
                Err(Error::Invalid(errors)) => errors.into_iter().map(|e| format!("{} {}", e.field, e.code)).collect(),
                other => panic!("{body}: {other:?}"),
            }
        };
        assert_eq!(wrong(r#"{"interrupt":true,"dry_run":false}"#), ["interrupt invalid"]);
        assert_eq!(wrong(r#"{"interrupt":null}"#), ["interrupt invalid"]);
        assert_eq!(wrong(r#"{"in_preview":true,"x":1}"#), ["body invalid", "x unknown_field"]);
        assert_eq!(
            wrong(r#"{"dry_run":false,"retention":"P1D","template":7}"#),
            ["template invalid", "retention unknown_field"]
        );
        assert_eq!(wrong("[]"), ["body invalid_json"]);
    }

    /// The settings a PATCH body sets on `import`.
    fn patched(body: &str, import: &Import) -> Result<RunSettings> {
        let PatchRequest::Run { from, settings, .. } = parse_patch(body.as_bytes())? else { panic!() };
        patch_settings(settings, None, import, from)
    }

    #[test]
    fn a_patch_sets_what_it_sends_and_leaves_the_rest() {
        let import = previewed(
            r#"{"resource_type":"contact","in_preview":true,"constants":{"city":"Oslo"}}"#,
            &["E-Mail", "Vorname", "Newsletter"],
        );
        let body = r#"{"in_preview":false,"mappings":{"Vorname":"first_name","Newsletter":"status"},
            "value_mappings":{"status":{"Ja":"subscribed"}},"tags":["fair"],"duplicates":"first","max_errors":3,
            "update_rule":"if_new_is_not_null","import_rule":"create_only","max_error_ratio":null}"#;
        let settings = patched(body, &import).unwrap();
        assert_eq!(settings.mappings.unwrap().len(), 2);
        assert_eq!(settings.value_mappings.unwrap()["status"]["Ja"], "subscribed");
        assert_eq!(settings.constants, None, "constants not sent stay as they are");
        assert_eq!(settings.tags.unwrap(), ["fair"]);
        assert_eq!(settings.duplicates, Some(Duplicates::First));
        assert_eq!((settings.max_errors, settings.max_error_ratio), (Some(Some(3)), Some(None)));
        assert_eq!(settings.import_rule, Some(ImportRule::CreateOnly));
        let settings = patched(r#"{"dry_run":false,"constants":{"status":"subscribed"}}"#, &import).unwrap();
        assert_eq!(settings.constants.unwrap()["status"].as_str(), Some("subscribed"));
        let Err(Error::Invalid(errors)) = patched(r#"{"dry_run":false,"max_errors":-1,"tags":[""]}"#, &import) else {
            panic!()
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["max_errors", "tags"]);
    }

    #[test]
    fn a_template_sets_what_the_patch_does_not() {
        let import = previewed(r#"{"resource_type":"contact","in_preview":true}"#, &["Mail", "plan"]);
        let template = serde_json::json!({"name": "t", "resource_type": "contact", "csv": {"delimiter": ";"},
            "mappings": {"Mail": "email", "Plan": "custom.plan", "Seats": "custom.seats"},
            "tags": ["from template"], "duplicates": "first"});
        let used = TemplateUse::Auto(AutoWord::Auto);
        let PatchRequest::Run { from, settings, .. } =
            parse_patch(br#"{"in_preview":false,"duplicates":"error"}"#).unwrap()
        else {
            panic!()
        };
        let settings = patch_settings(settings, Some((&template, used.clone())), &import, from).unwrap();
        assert_eq!(settings.duplicates, Some(Duplicates::Error), "the body's own setting wins");
        assert_eq!(settings.tags.unwrap(), ["from template"]);
        let mappings = settings.mappings.unwrap();
        assert_eq!(mappings.keys().collect::<Vec<_>>(), ["Mail", "plan"], "as the file spells them; no others");
        assert_eq!(settings.template, Some(used));
    }

    #[test]
    fn a_rule_and_its_fields_by_rule_go_together() {
        let body = r#"{"resource_type":"contact","in_preview":true,"update_rule":"use_field_rule",
            "update_rule_by_field":{"phone":"always"}}"#;
        let import = previewed(body, &["email"]);
        let by_field =
            patched(r#"{"in_preview":false,"update_rule_by_field":{"city":"if_existing_is_null"}}"#, &import);
        assert_eq!(by_field.unwrap().update_rule_by_field.unwrap().len(), 1, "checked against the import's rule");
        let settings = patched(r#"{"in_preview":false,"update_rule":"always"}"#, &import).unwrap();
        assert_eq!(settings.update_rule_by_field, Some(BTreeMap::new()), "another rule ends the fields by rule");
        let template =
            serde_json::json!({"update_rule": "use_field_rule", "update_rule_by_field": {"phone": "always"}});
        let mut sent = Map::from_iter([("update_rule".to_string(), Value::from("if_new_is_not_null"))]);
        under_template(&mut sent, &template, None, true);
        assert_eq!(sent.len(), 1, "the body's rule keeps the template's fields by rule out: {sent:?}");
    }

    #[test]
    fn a_mapping_must_name_a_header_of_the_file() {
        let import = previewed(r#"{"resource_type":"contact","in_preview":true}"#, &["Email", "First Name"]);
        let body = r#"{"in_preview":false,"mappings":{"Vorname":"first_name","Email":"email"}}"#;
        let Err(Error::Invalid(errors)) = patched(body, &import) else { panic!() };
        let waiting = Import { status: Status::AwaitingUpload, file_headers: vec![], ..import.clone() };
        assert!(patched(body, &waiting).is_ok(), "no file yet: the status answers (409)");
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
        assert!(patched(r#"{"dry_run":false}"#, &import).is_ok());
        let changed = patched(r#"{"dry_run":false,"constants":{"city":"Oslo"}}"#, &import);
        assert!(matches!(changed, Err(Error::Invalid(e)) if e[0].field == "body"));
    }

    #[test]
    fn a_template_is_named_by_id_by_id_and_version_or_auto() {
        let id = domain::template::new_template_id();
        let read = |v: Value| TemplateChoice::read(&v).ok();
        assert_eq!(read(Value::from(id.clone())), Some(TemplateChoice::Latest(id.clone())));
        assert_eq!(read(serde_json::json!({"id": id, "version": 2})), Some(TemplateChoice::Version(id.clone(), 2)));
        assert_eq!(read(Value::from("auto")), Some(TemplateChoice::Auto));
        for bad in [
            serde_json::json!({"id": id, "version": 0}),
            serde_json::json!({"id": id}),
            Value::from("tpl_x"),
            Value::from(1),
        ] {
            assert_eq!(read(bad.clone()), None, "{bad}");
        }
        assert_eq!(
            fields(r#"{"resource_type":"contact","template":"x","max_errors":1.5}"#),
            ["max_errors", "template"]
        );
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

    #[test]
    fn a_resent_start_has_its_settings_only_when_each_one_sent_is_the_imports() {
        let body = br#"{"resource_type":"contact","constants":{"city":"Oslo"}}"#;
        let (import, _) = import_from_body("acme", body, false).unwrap();
        let mappings = BTreeMap::from([("Vorname".to_string(), Some("first_name".to_string()))]);
        assert!(RunSettings::default().already(&mappings, &import), "nothing sent: nothing to change");
        let same = RunSettings {
            mappings: Some(mappings.clone()),
            constants: Some(import.options.constants.clone()),
            duplicates: Some(import.duplicates),
            ..Default::default()
        };
        assert!(same.already(&mappings, &import));
        let other = RunSettings { constants: Some(serde_json::Map::new()), ..Default::default() };
        assert!(!other.already(&mappings, &import));
        let value_mapped = RunSettings {
            value_mappings: Some(BTreeMap::from([("status".into(), BTreeMap::new())])),
            ..Default::default()
        };
        assert!(!value_mapped.already(&mappings, &import));
        let capped = RunSettings { max_errors: Some(Some(3)), ..Default::default() };
        assert!(!capped.already(&mappings, &import));
    }
}
