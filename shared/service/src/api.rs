//! The HTTP API's operations (SPEC §5), free of any HTTP framework: the handlers decode the
//! request, call one of these with the caller's tenant, and encode the answer.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};
use time::Duration;

pub use crate::deletion::delete_import;
use crate::pipeline::overwrite;
use crate::pipeline::revert;
use crate::ports::{Download, Queue, Restart};
use crate::publishing;
use crate::services::Services;
use crate::{outbound, webhooks};
use domain::dedup::Duplicates;
use domain::error::{Error, FieldError, Result};
use domain::error_files;
use domain::events::Kind;
use domain::fields;
use domain::idempotency::{self, KeyClaim};
use domain::import::{self, Format, Import, Links, Mode, Status};
use domain::merge::{ImportRule, UpdateRule, UpdateRules};
use domain::messages::{encode, PlanMessage};
use domain::options::{Action, CsvOptions};
use domain::record::{ResourceType, StoredRecord};
use domain::results;
use domain::revert_state::{RevertState, RevertStatus};
use domain::stats::Stats;
use domain::sync::{Changes, SyncAction};
use domain::time_fmt;
use domain::validate::normalize_identifier;
use domain::validate::RowOptions;

/// A page of a listing as the API answers it.
#[derive(Debug, Serialize)]
pub struct Listing<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// SPEC §5: inline inputs are at most 10,000 records and 5 MB; `mode: sync` takes at most 1,000.
pub const MAX_INPUTS: usize = 10_000;
pub const MAX_INPUT_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_SYNC_INPUTS: usize = 1_000;

/// Names and values (headers, field names, tags, metadata, references, constants,
/// mapped values) are at most 1 KB; `mappings` name at most a file's columns; `constants`,
/// `update_rule_by_field` and the fields of `value_mappings` at most 500 entries; `value_mappings`
/// at most 10,000 pairs in all; `tags` and `metadata` at most 50.
const MAX_TEXT: usize = 1024;
const MAX_MAPPINGS: usize = domain::bad_file::MAX_COLUMNS;
const MAX_FIELD_ENTRIES: usize = 500;
const MAX_VALUE_MAPPING_PAIRS: usize = 10_000;
const MAX_METADATA_KEYS: usize = 50;

/// What a request's settings may take on its import item (measured as JSON, never less than
/// DynamoDB counts): with the fixed fields and what a file adds, the item stays far under
/// DynamoDB's 400 KB. The body limit alone does not bound it: mappings are stored twice.
pub const MAX_SETTINGS_BYTES: usize = 200 * 1024;

/// The error naming the largest of an import's settings when together they take more than
/// `MAX_SETTINGS_BYTES` on its item.
fn settings_over_budget(import: &Import) -> Option<FieldError> {
    fn size(value: &impl Serialize) -> usize {
        serde_json::to_vec(value).map_or(usize::MAX / 16, |v| v.len())
    }
    let sizes = [
        ("mappings", 2 * size(&import.mappings)),
        ("constants", size(&import.options.constants)),
        ("value_mappings", size(&import.options.value_mappings)),
        ("update_rule_by_field", size(&import.update.update_rule_by_field)),
        ("tags", size(&import.changes.tags)),
        ("sync_actions", size(&import.changes.sync_actions)),
        ("metadata", size(&import.metadata)),
        ("reference", size(&import.reference)),
        ("reference_origin", size(&import.reference_origin)),
        ("webhook_url", size(&import.webhook_url)),
    ];
    let total: usize = sizes.iter().map(|(_, n)| n).sum();
    let (field, largest) = sizes.into_iter().max_by_key(|(_, n)| *n)?;
    (total > MAX_SETTINGS_BYTES).then(|| {
        let message = format!(
            "the import's settings take {total} bytes as stored (mappings count twice), at most \
             {MAX_SETTINGS_BYTES}; `{field}` takes {largest}"
        );
        FieldError::new(field, "too_large", message)
    })
}

/// `map.key` as an error's field, or the map alone when the key is too long to echo.
fn entry(map: &str, key: &str) -> String {
    if key.len() <= MAX_TEXT {
        format!("{map}.{key}")
    } else {
        map.to_string()
    }
}

/// A field of the resource (`custom.<name>` included) whose name is within the limit.
fn is_field(resource: ResourceType, field: &str) -> bool {
    field.len() <= MAX_TEXT && resource.has_field(field)
}

/// An object of at most `max` entries, or the error naming `field`.
fn bounded_object<'a>(
    value: &'a Value,
    field: &str,
    max: usize,
    what: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(m) if m.len() <= max => Some(m),
        Value::Object(_) => {
            errors.push(FieldError::new(field, "too_many", format!("at most {max} entries")));
            None
        }
        _ => {
            errors.push(FieldError::new(field, "invalid", format!("must be an object of {what}")));
            None
        }
    }
}

/// What a valid create body asks for.
struct CreateRequest {
    resource_type: ResourceType,
    action: Action,
    format: Format,
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

/// `allow_insecure_webhooks`: see `Settings`.
fn parse_create(body: &[u8], allow_insecure_webhooks: bool) -> Result<CreateRequest, Vec<FieldError>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| vec![FieldError::new("body", "invalid_json", format!("the body is not valid JSON: {e}"))])?;
    let Value::Object(obj) = value else {
        return Err(vec![FieldError::new("body", "invalid_json", "the body must be a JSON object")]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        let known = matches!(
            key.as_str(),
            "resource_type"
                | "action"
                | "format"
                | "mode"
                | "identifier_field"
                | "mappings"
                | "reference"
                | "reference_origin"
                | "metadata"
                | "retention"
                | "constants"
                | "tags"
                | "value_mappings"
                | "duplicates"
                | "max_error_ratio"
                | "inputs"
                | "csv"
                | "in_preview"
                | "dry_run"
                | "import_rule"
                | "update_rule"
                | "update_rule_by_field"
                | "sync_actions"
                | "max_removed_ratio"
                | "webhook_url"
        );
        if !known {
            errors.push(FieldError::new(key, "unknown_field", format!("`{key}` is not a field of an import")));
        }
    }
    let resource_type = match obj.get("resource_type") {
        None => {
            errors.push(FieldError::new("resource_type", "required", "resource_type is required"));
            None
        }
        Some(Value::String(s)) => match ResourceType::parse(s) {
            Some(resource) => Some(resource),
            None => {
                errors.push(FieldError::new("resource_type", "invalid", "must be one of contact, group, account"));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("resource_type", "invalid", "must be a string"));
            None
        }
    };
    let action = match obj.get("action").map(|v| v.as_str()) {
        None | Some(Some("merge")) => Action::Merge,
        Some(Some("delete")) => Action::Delete,
        Some(Some("overwrite")) => Action::Overwrite,
        Some(_) => {
            errors.push(FieldError::new("action", "invalid", "must be one of merge, overwrite, delete"));
            Action::Merge
        }
    };
    let inputs = inputs(&obj, &mut errors);
    let format = match obj.get("format") {
        None if inputs.is_some() => Format::Json,
        None => Format::Csv,
        Some(v) => match v.as_str().and_then(Format::parse) {
            Some(f) if inputs.is_some() && f != Format::Json => {
                errors.push(FieldError::new("format", "invalid", "inline inputs are JSON: omit format or use json"));
                Format::Json
            }
            Some(f) => f,
            None => {
                errors.push(FieldError::new("format", "invalid", "must be one of csv, json, jsonl"));
                Format::Csv
            }
        },
    };
    let mode = match obj.get("mode").map(|v| v.as_str()) {
        None | Some(Some("async")) => Mode::Async,
        Some(Some("sync")) => Mode::Sync,
        Some(_) => {
            errors.push(FieldError::new("mode", "invalid", "must be one of async, sync"));
            Mode::Async
        }
    };
    let in_preview = flag(&obj, "in_preview", &mut errors);
    let dry_run = flag(&obj, "dry_run", &mut errors);
    if mode == Mode::Sync {
        match &inputs {
            // Bad inputs are named as such.
            None if obj.contains_key("inputs") => {}
            None => errors.push(FieldError::new("mode", "invalid", "sync needs inline `inputs`")),
            Some((count, _)) if *count > MAX_SYNC_INPUTS => errors.push(FieldError::new(
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
    let csv = csv_options(&obj, format, &mut errors);
    let reference = text(&obj, "reference", &mut errors);
    let reference_origin = text(&obj, "reference_origin", &mut errors);
    let metadata = metadata(&obj, &mut errors);
    let retention = retention(&obj, &mut errors);
    let webhook_url = match obj.get("webhook_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => match outbound::check_url(url, allow_insecure_webhooks) {
            Ok(_) => Some(url.clone()),
            Err(message) => {
                errors.push(FieldError::new("webhook_url", "invalid", message));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("webhook_url", "invalid", "must be an https:// URL"));
            None
        }
    };
    let duplicates = match obj.get("duplicates") {
        None => Duplicates::default(),
        Some(v) => v.as_str().and_then(Duplicates::parse).unwrap_or_else(|| {
            errors.push(FieldError::new("duplicates", "invalid", "must be one of last, first, error"));
            Duplicates::default()
        }),
    };
    let import_rule = match obj.get("import_rule") {
        None => ImportRule::default(),
        Some(v) => v.as_str().and_then(ImportRule::parse).unwrap_or_else(|| {
            let message = "must be one of create_and_update, create_only, update_only";
            errors.push(FieldError::new("import_rule", "invalid", message));
            ImportRule::default()
        }),
    };
    let max_error_ratio = ratio(&obj, "max_error_ratio", &mut errors);
    let max_removed_ratio = ratio(&obj, "max_removed_ratio", &mut errors);
    if max_removed_ratio.is_some() && action != Action::Overwrite {
        errors.push(FieldError::new("max_removed_ratio", "invalid", "only an overwrite removes records"));
    }
    let mut options = RowOptions::default();
    let mut changes = Changes::default();

    let mut identifier_field = None;
    let mut mappings = BTreeMap::new();
    let mut update = UpdateRules::default();
    if let Some(resource) = resource_type {
        identifier_field = match obj.get("identifier_field") {
            None => Some(resource.default_identifier().to_string()),
            Some(Value::String(f)) if domain::identifiers::allowed(resource).contains(&f.as_str()) => Some(f.clone()),
            Some(_) => {
                errors.push(FieldError::new(
                    "identifier_field",
                    "invalid",
                    format!(
                        "{} records match on one of: {}",
                        resource.as_str(),
                        domain::identifiers::allowed(resource).join(", ")
                    ),
                ));
                None
            }
        };
        mappings = parse_mappings(obj.get("mappings"), resource, &mut errors);
        if let Some(id_field) = &identifier_field {
            options = row_options(&obj, resource, id_field, &mut errors);
        }
        changes = parse_changes(&obj, resource, action, &mut errors);
        update = update_rules(&obj, resource, &mut errors);
    }
    match (resource_type, identifier_field, retention) {
        (Some(resource_type), Some(identifier_field), Some(retention)) if errors.is_empty() => Ok(CreateRequest {
            resource_type,
            action,
            format,
            mode,
            inputs: inputs.map(|(_, bytes)| bytes),
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

/// `mappings`: header → a field of the resource or null; no field fed by two headers.
fn parse_mappings(
    value: Option<&Value>,
    resource: ResourceType,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, Option<String>> {
    let mut mappings = BTreeMap::new();
    let m = match value {
        None => return mappings,
        Some(Value::Object(m)) if m.len() > MAX_MAPPINGS => {
            errors.push(FieldError::new(
                "mappings",
                "invalid",
                format!("at most {MAX_MAPPINGS} headers (a file has at most that many columns)"),
            ));
            return mappings;
        }
        Some(Value::Object(m)) => m,
        Some(_) => {
            errors.push(FieldError::new("mappings", "invalid", "must be an object of header to field"));
            return mappings;
        }
    };
    for (header, target) in m {
        if header.trim().is_empty() || header.len() > MAX_TEXT {
            errors.push(FieldError::new(
                entry("mappings", header),
                "invalid",
                format!("a header is 1 to {MAX_TEXT} bytes"),
            ));
            continue;
        }
        match target {
            Value::Null => {
                mappings.insert(header.clone(), None);
            }
            Value::String(f) if is_field(resource, f) => {
                mappings.insert(header.clone(), Some(f.clone()));
            }
            _ => errors.push(FieldError::new(
                format!("mappings.{header}"),
                "unknown_field",
                format!("must be null or a field of {} (or custom.<name>)", resource.as_str()),
            )),
        }
    }
    let mut seen = BTreeMap::new();
    for (header, field) in &mappings {
        if let Some(f) = field {
            if let Some(first) = seen.insert(f.clone(), header.clone()) {
                errors.push(FieldError::new(
                    format!("mappings.{header}"),
                    "duplicate_target",
                    format!("`{f}` is already mapped from `{first}`"),
                ));
            }
        }
    }
    mappings
}

/// `update_rule` and, with `use_field_rule`, `update_rule_by_field` naming fields of the type.
fn update_rules(obj: &Map<String, Value>, resource: ResourceType, errors: &mut Vec<FieldError>) -> UpdateRules {
    let mut rules = UpdateRules::default();
    let names = UpdateRule::NAMES.join(", ");
    if let Some(v) = obj.get("update_rule") {
        match v.as_str().and_then(UpdateRule::parse) {
            Some(rule) => rules.update_rule = rule,
            None => errors.push(FieldError::new("update_rule", "invalid", format!("must be one of {names}"))),
        }
    }
    match obj.get("update_rule_by_field") {
        None | Some(Value::Null) => {}
        Some(_) if rules.update_rule != UpdateRule::UseFieldRule => {
            errors.push(FieldError::new("update_rule_by_field", "invalid", "applies with update_rule use_field_rule"))
        }
        Some(value) => {
            let m = bounded_object(value, "update_rule_by_field", MAX_FIELD_ENTRIES, "field to rule", errors);
            for (field, rule) in m.into_iter().flatten() {
                let name = entry("update_rule_by_field", field);
                match rule.as_str().and_then(UpdateRule::parse) {
                    _ if !is_field(resource, field) => errors.push(FieldError::new(
                        name,
                        "unknown_field",
                        format!("not a field of {}", resource.as_str()),
                    )),
                    Some(r) if r != UpdateRule::UseFieldRule => {
                        rules.update_rule_by_field.insert(field.clone(), r);
                    }
                    _ => errors.push(FieldError::new(
                        name,
                        "invalid",
                        "must be one of always, if_new_is_not_null, if_existing_is_null",
                    )),
                }
            }
        }
    }
    rules
}

const MAX_TAGS: usize = 50;

/// A name or tag: 1 to `MAX_TEXT` bytes once trimmed.
fn name(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty() && t.len() <= MAX_TEXT)
}

/// A share from 0 to 1; null is none.
fn ratio(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<f64> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64().filter(|r| (0.0..=1.0).contains(r)) {
            Some(r) => Some(r),
            None => {
                errors.push(FieldError::new(field, "invalid", "must be a number from 0 to 1"));
                None
            }
        },
    }
}

const MAX_SYNC_ACTIONS: usize = 50;

/// `tags` (any type) and `sync_actions` (contacts written by merge or overwrite): names of 1 to
/// `MAX_TEXT` bytes, statuses of SPEC §6.
fn parse_changes(
    obj: &Map<String, Value>,
    resource: ResourceType,
    action: Action,
    errors: &mut Vec<FieldError>,
) -> Changes {
    let mut changes = Changes::default();
    if action == Action::Delete && obj.get("tags").is_some_and(|t| !t.is_null()) {
        errors.push(FieldError::new("tags", "invalid", "tags are added to records a merge or overwrite writes"));
    }
    match obj.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tags)) if tags.len() <= MAX_TAGS => {
            for tag in tags {
                match name(Some(tag)) {
                    Some(t) => changes.tags.push(t.to_string()),
                    None => errors.push(FieldError::new(
                        "tags",
                        "invalid",
                        format!("tags are strings of 1 to {MAX_TEXT} bytes"),
                    )),
                }
            }
        }
        Some(_) => {
            errors.push(FieldError::new("tags", "invalid", format!("must be an array of at most {MAX_TAGS} strings")))
        }
    }
    let actions = match obj.get("sync_actions") {
        None | Some(Value::Null) => return changes,
        Some(Value::Array(a)) if a.len() <= MAX_SYNC_ACTIONS => a,
        Some(_) => {
            let message = format!("must be an array of at most {MAX_SYNC_ACTIONS} actions");
            errors.push(FieldError::new("sync_actions", "invalid", message));
            return changes;
        }
    };
    if resource != ResourceType::Contact || action == Action::Delete {
        errors.push(FieldError::new(
            "sync_actions",
            "invalid",
            "sync actions apply to contacts a merge or overwrite writes",
        ));
        return changes;
    }
    for (i, a) in actions.iter().enumerate() {
        let field = format!("sync_actions[{i}]");
        let parsed = match a.get("action").and_then(Value::as_str) {
            Some(kind @ ("add" | "remove")) => name(a.get("group")).map(|group| {
                let group = group.to_string();
                if kind == "add" {
                    SyncAction::Add { group }
                } else {
                    SyncAction::Remove { group }
                }
            }),
            Some("set_status") => a
                .get("status")
                .and_then(Value::as_str)
                .filter(|s| fields::STATUSES.contains(s))
                .map(|s| SyncAction::SetStatus { status: s.to_string() }),
            _ => None,
        };
        let known_keys =
            a.as_object().is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "action" | "group" | "status")));
        match parsed.filter(|_| known_keys) {
            Some(p) => changes.sync_actions.push(p),
            None => errors.push(FieldError::new(
                field,
                "invalid",
                format!(
                    "must be {{\"action\": \"add\" or \"remove\", \"group\": name}} or {{\"action\": \"set_status\", \"status\": one of {}}}",
                    fields::STATUSES.join(", ")
                ),
            )),
        }
    }
    changes
}

/// `constants` and `value_mappings`: every field named must exist, every constant must
/// pass its field's rule, and no constant may set the identifier.
fn row_options(
    obj: &Map<String, Value>,
    resource: ResourceType,
    identifier: &str,
    errors: &mut Vec<FieldError>,
) -> RowOptions {
    let mut options = RowOptions::default();
    match obj.get("constants") {
        None | Some(Value::Null) => {}
        Some(value) => {
            let m = bounded_object(value, "constants", MAX_FIELD_ENTRIES, "field to value", errors);
            for (field, value) in m.into_iter().flatten() {
                let name = entry("constants", field);
                let text = match value {
                    Value::String(s) => s.trim().to_string(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        errors.push(FieldError::new(name, "invalid", "a constant is a string, number or boolean"));
                        continue;
                    }
                };
                if text.len() > MAX_TEXT {
                    errors.push(FieldError::new(name, "too_long", format!("a constant is at most {MAX_TEXT} bytes")));
                } else if !is_field(resource, field) {
                    errors.push(FieldError::new(
                        name,
                        "unknown_field",
                        format!("not a field of {}", resource.as_str()),
                    ));
                } else if field == identifier {
                    errors.push(FieldError::new(name, "invalid", "the identifier cannot be a constant"));
                } else {
                    match fields::check(resource, field, &text) {
                        Ok(v) => {
                            options.constants.insert(field.clone(), v);
                        }
                        Err((code, message)) => errors.push(FieldError::new(name, code, message)),
                    }
                }
            }
        }
    }
    match obj.get("value_mappings") {
        None | Some(Value::Null) => {}
        Some(value) => {
            let m = bounded_object(value, "value_mappings", MAX_FIELD_ENTRIES, "field to mappings", errors);
            let pairs: usize = m.into_iter().flatten().filter_map(|(_, v)| v.as_object()).map(Map::len).sum();
            if pairs > MAX_VALUE_MAPPING_PAIRS {
                let message = format!("at most {MAX_VALUE_MAPPING_PAIRS} pairs in all; this has {pairs}");
                errors.push(FieldError::new("value_mappings", "too_many", message));
                return options;
            }
            for (field, mapping) in m.into_iter().flatten() {
                let name = entry("value_mappings", field);
                if !is_field(resource, field) {
                    errors.push(FieldError::new(
                        name,
                        "unknown_field",
                        format!("not a field of {}", resource.as_str()),
                    ));
                    continue;
                }
                let pairs: Option<BTreeMap<String, String>> = mapping.as_object().and_then(|o| {
                    o.iter()
                        .map(|(k, v)| match v.as_str() {
                            Some(v) if k.len() <= MAX_TEXT && v.len() <= MAX_TEXT => Some((k.clone(), v.to_string())),
                            _ => None,
                        })
                        .collect()
                });
                match pairs {
                    Some(p) => {
                        options.value_mappings.insert(field.clone(), p);
                    }
                    None => errors.push(FieldError::new(
                        name,
                        "invalid",
                        format!("must be an object of file value to value, each at most {MAX_TEXT} bytes"),
                    )),
                }
            }
        }
    }
    options
}

/// `inputs`: an array of objects within SPEC's limits; its count and its bytes as a JSON file.
fn inputs(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<(usize, Vec<u8>)> {
    let value = obj.get("inputs")?;
    let Value::Array(items) = value else {
        errors.push(FieldError::new("inputs", "invalid", "must be an array of objects"));
        return None;
    };
    if items.is_empty() || items.len() > MAX_INPUTS {
        errors.push(FieldError::new("inputs", "invalid", format!("must hold 1 to {MAX_INPUTS} records")));
        return None;
    }
    if let Some(i) = items.iter().position(|v| !v.is_object()) {
        errors.push(FieldError::new(format!("inputs[{i}]"), "invalid", "each input is an object"));
        return None;
    }
    // An input's keys are its file's headers: named, printable, within a name's and a file's limits.
    let mut headers = HashSet::new();
    for (i, keys) in items.iter().filter_map(Value::as_object).map(Map::keys).enumerate() {
        for key in keys {
            if key.trim().is_empty() || key.len() > MAX_TEXT || key.chars().any(char::is_control) {
                let message = format!("keys are 1 to {MAX_TEXT} bytes, not blank, without control characters");
                errors.push(FieldError::new(format!("inputs[{i}]"), "invalid_key", message));
                return None;
            }
            headers.insert(key.as_str());
        }
        if headers.len() > MAX_MAPPINGS {
            let message = format!("at most {MAX_MAPPINGS} distinct keys (a file's columns)");
            errors.push(FieldError::new("inputs", "too_many_columns", message));
            return None;
        }
    }
    let bytes = serde_json::to_vec(value).ok()?;
    if bytes.len() > MAX_INPUT_BYTES {
        errors.push(FieldError::new("inputs", "too_large", format!("at most {MAX_INPUT_BYTES} bytes")));
        return None;
    }
    Some((items.len(), bytes))
}

fn flag(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> bool {
    match obj.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new(field, "invalid", "must be true or false"));
            false
        }
    }
}

/// `csv`: a delimiter of `,` `;` tab `|`, an encoding we read, `has_header`; only for CSV files.
fn csv_options(obj: &Map<String, Value>, format: Format, errors: &mut Vec<FieldError>) -> CsvOptions {
    let mut options = CsvOptions::default();
    let m = match obj.get("csv") {
        None | Some(Value::Null) => return options,
        Some(Value::Object(m)) if format == Format::Csv => m,
        Some(Value::Object(_)) => {
            errors.push(FieldError::new("csv", "invalid", "csv options apply to format csv only"));
            return options;
        }
        Some(_) => {
            errors.push(FieldError::new("csv", "invalid", "must be an object"));
            return options;
        }
    };
    for (key, value) in m {
        let name = format!("csv.{key}");
        match (key.as_str(), value) {
            ("delimiter", Value::String(d)) => match domain::dialect::parse_delimiter(d) {
                Some(_) => options.delimiter = Some(d.clone()),
                None => errors.push(FieldError::new(name, "invalid", "must be one of \",\", \";\", \"\\t\", \"|\"")),
            },
            ("encoding", Value::String(e)) => match domain::dialect::Encoding::parse(e) {
                Some(enc) => options.encoding = Some(enc.as_str().to_string()),
                None => errors.push(FieldError::new(
                    name,
                    "invalid",
                    "must be one of utf-8, utf-16le, utf-16be, windows-1252",
                )),
            },
            ("has_header", Value::Bool(b)) => options.has_header = *b,
            ("delimiter" | "encoding" | "has_header", _) => {
                errors.push(FieldError::new(name, "invalid", "has the wrong type"))
            }
            _ => errors.push(FieldError::new(name, "unknown_field", "csv takes delimiter, encoding, has_header")),
        }
    }
    options
}

fn text(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_TEXT => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(field, "invalid", format!("must be a string of at most {MAX_TEXT} bytes")));
            None
        }
    }
}

fn metadata(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match obj.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) if m.len() <= MAX_METADATA_KEYS => {
            for (k, v) in m {
                match v {
                    Value::String(s) if !k.is_empty() && k.len() <= MAX_TEXT && s.len() <= MAX_TEXT => {
                        out.insert(k.clone(), s.clone());
                    }
                    _ => errors.push(FieldError::new(
                        entry("metadata", k),
                        "invalid",
                        format!("keys of 1 to {MAX_TEXT} bytes, values strings of at most {MAX_TEXT}"),
                    )),
                }
            }
        }
        Some(_) => errors.push(FieldError::new(
            "metadata",
            "invalid",
            format!("must be an object of at most {MAX_METADATA_KEYS} string values"),
        )),
    }
    out
}

/// SPEC: an ISO 8601 duration from P1D to P90D; days or weeks.
fn retention(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<(String, Duration)> {
    let Some(v) = obj.get("retention") else {
        return Some(("P7D".into(), Duration::days(7)));
    };
    let days = v.as_str().and_then(|s| {
        let s = s.strip_prefix('P')?;
        let (n, unit) = s.split_at(s.char_indices().last()?.0);
        let n: i64 = n.parse().ok()?;
        match unit {
            "D" => Some(n),
            "W" => n.checked_mul(7),
            _ => None,
        }
    });
    match days {
        Some(d) if (1..=90).contains(&d) => Some((v.as_str().unwrap_or_default().to_string(), Duration::days(d))),
        _ => {
            errors.push(FieldError::new("retention", "invalid", "must be an ISO 8601 duration from P1D to P90D"));
            None
        }
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

pub async fn create_import(
    svc: &Services,
    tenant_id: &str,
    body: &[u8],
    idempotency_key: Option<&str>,
) -> Result<Import> {
    let (mut import, inputs) = import_from_body(tenant_id, body, svc.settings.allow_insecure_webhooks)?;
    if let Some(key) = idempotency_key {
        idempotency::check_key(key)?;
        let value: Value = serde_json::from_slice(body).map_err(|e| Error::Internal(e.to_string()))?;
        let fingerprint = idempotency::fingerprint(&value);
        match svc.imports.claim_key(tenant_id, key, &fingerprint, &import.id).await? {
            KeyClaim::Claimed => {}
            KeyClaim::Held { fingerprint: held, .. } if held != fingerprint => {
                return Err(Error::Conflict("this Idempotency-Key was used with another body".into()));
            }
            KeyClaim::Held { import_id, .. } => match get_import(svc, tenant_id, &import_id).await {
                Err(Error::NotFound) => import.id = import_id, // the first request died before storing it
                found => return found,
            },
        }
    }
    // After the key: a retry of a stored overwrite answers with it, not with a conflict.
    if import.action == Action::Overwrite {
        refuse_overwrite_while_running(svc, tenant_id, import.resource_type).await?;
    }
    let key = import::upload_key(tenant_id, &import.id);
    // Inline inputs are the upload: no link to send a file to.
    if inputs.is_none() {
        import.links.upload = Some(svc.files.presign_upload(&key, svc.settings.upload_url_ttl_secs).await?);
    }
    if !svc.imports.create(&import).await? {
        // A concurrent retry with the same key stored it first.
        return get_import(svc, tenant_id, &import.id).await;
    }
    tracing::info!(tenant_id, import_id = import.id.as_str(), "import created");
    publishing::publish(svc, tenant_id, &import.id, Kind::Created, Some(0)).await?;
    if let Some(inputs) = inputs {
        // An async import goes on from the upload's event, as a file would; a sync one is run here.
        svc.files.put(&key, inputs).await?;
        if import.mode == Mode::Sync {
            if let Err(e) = crate::pipeline::inline::run(svc, tenant_id, &import.id).await {
                // Nothing redelivers an in-memory queue: the import says it failed.
                tracing::error!(tenant_id, import_id = import.id.as_str(), error = %e, "sync import failed");
                let from = [Status::AwaitingUpload, Status::Queued, Status::Processing];
                crate::pipeline::complete::fail(svc, tenant_id, &import.id, 0, &from, "internal_error").await?;
            }
            return get_import(svc, tenant_id, &import.id).await;
        }
    }
    Ok(import)
}

/// SPEC §9: an overwrite refuses (409) while another import of its type runs, so it never
/// removes records a running import is about to name (its run checks again when it starts).
async fn refuse_overwrite_while_running(svc: &Services, tenant_id: &str, resource: ResourceType) -> Result<()> {
    match overwrite::running_beside(svc, tenant_id, "", resource).await? {
        Some(other) => Err(Error::Conflict(format!(
            "import {} of {} records is {}: an overwrite waits until it is final",
            other.id,
            resource.as_str(),
            other.status.as_str()
        ))),
        None => Ok(()),
    }
}

pub async fn get_import(svc: &Services, tenant_id: &str, import_id: &str) -> Result<Import> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let import = svc.imports.get(tenant_id, import_id).await?.map(|s| s.import).ok_or(Error::NotFound)?;
    with_links(svc, import).await
}

/// SPEC §5: download links live at most 15 minutes.
const DOWNLOAD_TTL_SECS: u64 = 900;

/// The import with signed links to the files it has, each a download of a fixed type: the
/// source is the tenant's bytes as they came, never a page to render.
async fn with_links(svc: &Services, mut import: Import) -> Result<Import> {
    let (tenant, id) = (import.tenant_id.as_str(), import.id.as_str());
    let link = |key: String, suffix: String, content_type| async move {
        let download = Download { filename: format!("{id}{suffix}"), content_type };
        svc.files.presign_download(&key, DOWNLOAD_TTL_SECS, &download).await
    };
    if import.has_upload_file {
        let suffix = format!("-source.{}", import.format.as_str());
        import.links.source = Some(link(import::upload_key(tenant, id), suffix, "application/octet-stream").await?);
    }
    if import.has_errors_file {
        let csv = link(error_files::errors_csv_key(tenant, id), "-errors.csv".into(), "text/csv").await?;
        let json = link(error_files::errors_json_key(tenant, id), "-errors.json".into(), "application/json").await?;
        (import.links.errors_csv, import.links.errors_json) = (Some(csv), Some(json));
    }
    if import.has_results_file {
        import.links.results_csv =
            Some(link(results::results_csv_key(tenant, id), "-results.csv".into(), "text/csv").await?);
    }
    Ok(import)
}

/// `POST /v1/imports/{id}/revert` (SPEC §9): a completed import that wrote records starts
/// reverting; the import reports its progress in `revert`. Asked again while reverting, the plan
/// is sent again (a lost one resumes; units already reverted stay so); a failed revert
/// resumes the same way.
pub async fn revert_import(svc: &Services, tenant_id: &str, import_id: &str) -> Result<Import> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let stored = svc.imports.get(tenant_id, import_id).await?.ok_or(Error::NotFound)?;
    let import = &stored.import;
    if import.status != Status::Completed || import.dry_run {
        let what = if import.dry_run { "a dry run" } else { import.status.as_str() };
        return Err(Error::Conflict(format!(
            "only a completed import that wrote records can be reverted; this one is {what}"
        )));
    }
    match import.revert.as_ref().map(|r| r.status) {
        Some(RevertStatus::Reverted) => return Err(Error::Conflict("the import was reverted already".into())),
        Some(RevertStatus::Reverting) => {}
        // Lost to a concurrent request that resumed it: that one is as good.
        Some(RevertStatus::Failed) => {
            if !svc.imports.resume_revert(tenant_id, import_id).await?
                && !svc.imports.get(tenant_id, import_id).await?.is_some_and(|s| s.import.is_reverting())
            {
                return Err(Error::Conflict("the import changed meanwhile; read it again".into()));
            }
        }
        None => {
            let state = RevertState::requested(time_fmt::now());
            // Lost to a concurrent request for the same revert: that one is as good.
            if !svc.imports.begin_revert(tenant_id, import_id, &state).await?
                && !svc.imports.get(tenant_id, import_id).await?.is_some_and(|s| s.import.is_reverting())
            {
                return Err(Error::Conflict("the import changed meanwhile; read it again".into()));
            }
        }
    }
    revert::request(svc, tenant_id, import_id).await?;
    tracing::info!(tenant_id, import_id, "revert requested");
    get_import(svc, tenant_id, import_id).await
}

/// `PATCH /v1/imports/{id}`: `{"in_preview": false, "mappings"?}` starts a previewed import,
/// What a PATCH body asks of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchRequest {
    Interrupt,
    /// Run again from the upload, from a `PreviewReady` or a completed dry run, with new mappings.
    Run {
        from: Status,
        mappings: Option<BTreeMap<String, Option<String>>>,
    },
}

/// A PATCH body read for an import of `resource`, or the fields that are wrong.
pub fn parse_patch(body: &[u8], resource: ResourceType) -> Result<PatchRequest> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", "invalid_json", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(Error::invalid("body", "invalid_json", "the body must be a JSON object"));
    };
    if let Some(interrupt) = obj.get("interrupt") {
        if interrupt != &Value::Bool(true) || obj.len() > 1 {
            return Err(Error::invalid("interrupt", "invalid", "send {\"interrupt\": true} alone"));
        }
        return Ok(PatchRequest::Interrupt);
    }
    let mut errors = Vec::new();
    for key in obj.keys() {
        match key.as_str() {
            "in_preview" | "dry_run" | "mappings" => {}
            _ => errors.push(FieldError::new(
                key,
                "unknown_field",
                "PATCH takes in_preview, mappings, dry_run, interrupt",
            )),
        }
    }
    let start_preview = obj.get("in_preview").map(|v| v == &Value::Bool(false));
    let run_for_real = obj.get("dry_run").map(|v| v == &Value::Bool(false));
    let mappings = obj.get("mappings").map(|m| parse_mappings(Some(m), resource, &mut errors));
    let from = match (start_preview, run_for_real) {
        (Some(true), None) => Status::PreviewReady,
        (None, Some(true)) if mappings.is_none() => Status::Completed,
        (None, Some(true)) => {
            errors.push(FieldError::new("mappings", "invalid", "a dry run runs again as it was; preview to change"));
            Status::Completed
        }
        _ => {
            errors.push(FieldError::new("body", "invalid", "send {\"in_preview\": false} or {\"dry_run\": false}"));
            Status::Completed
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(PatchRequest::Run { from, mappings })
}

/// `{"dry_run": false}` runs a completed dry run for real, both from the same upload;
/// `{"interrupt": true}` stops an import that is not final.
pub async fn patch_import(svc: &Services, tenant_id: &str, import_id: &str, body: &[u8]) -> Result<Import> {
    if !import::is_import_id(import_id) {
        return Err(Error::NotFound);
    }
    let stored = svc.imports.get(tenant_id, import_id).await?.ok_or(Error::NotFound)?;
    let (import, progress) = (&stored.import, stored.progress);
    let (from, mappings) = match parse_patch(body, import.resource_type)? {
        PatchRequest::Interrupt => {
            if !svc.imports.interrupt(tenant_id, import_id).await? {
                let status = import.status.as_str();
                return Err(Error::Conflict(format!("the import is already final (status {status})")));
            }
            tracing::info!(tenant_id, import_id, "import interrupted");
            publishing::publish(svc, tenant_id, import_id, Kind::Interrupted, None).await?;
            return get_import(svc, tenant_id, import_id).await;
        }
        PatchRequest::Run { from, mappings } => (from, mappings),
    };
    if let Some(m) = &mappings {
        if let Some(error) = settings_over_budget(&Import { mappings: m.clone(), ..import.clone() }) {
            return Err(Error::Invalid(vec![error]));
        }
    }
    // A PATCH whose plan message was lost is sent again; planning the same run twice is harmless.
    let resend = import.status == Status::Queued && progress.run > 0;
    if !resend {
        let ok = match from {
            Status::PreviewReady => import.status == Status::PreviewReady,
            _ => import.status == Status::Completed && import.dry_run,
        };
        if !ok {
            let what = if from == Status::PreviewReady { "is not preview_ready" } else { "is not a completed dry run" };
            return Err(Error::Conflict(format!("the import {what} (status {})", import.status.as_str())));
        }
        if import.action == Action::Overwrite {
            refuse_overwrite_while_running(svc, tenant_id, import.resource_type).await?;
        }
        let restart =
            Restart { from, run: progress.run, mappings, dry_run: from == Status::PreviewReady && import.dry_run };
        if !svc.imports.restart(tenant_id, import_id, &restart).await? {
            return Err(Error::Conflict("the import changed meanwhile; read it and try again".into()));
        }
    }
    let run = if resend { progress.run } else { progress.run + 1 };
    let plan = PlanMessage { tenant_id: tenant_id.into(), import_id: import_id.into(), run };
    svc.queue.send(Queue::Transform, tenant_id, vec![encode(&plan)?]).await?;
    tracing::info!(tenant_id, import_id, run, "run started from the upload");
    get_import(svc, tenant_id, import_id).await
}

/// `limit` 1..=100 (default 20), an opaque `cursor` from the previous page, `status` filter.
pub async fn list_imports(svc: &Services, tenant_id: &str, query: &HashMap<String, String>) -> Result<Listing<Import>> {
    let mut errors = Vec::new();
    check_query(query, &["status", "limit", "cursor"], &mut errors);
    let limit = limit(query, &mut errors);
    let status = match query.get("status") {
        None => None,
        Some(s) => {
            let st = Status::parse(s);
            if st.is_none() {
                errors.push(FieldError::new("status", "invalid", "not an import status"));
            }
            st
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let page = svc.imports.list(tenant_id, status, limit, query.get("cursor").map(String::as_str)).await?;
    let mut data = Vec::with_capacity(page.items.len());
    for import in page.items {
        data.push(with_links(svc, import).await?);
    }
    Ok(Listing { data, next_cursor: page.next_cursor })
}

pub async fn list_records(
    svc: &Services,
    tenant_id: &str,
    resource_type: &str,
    query: &HashMap<String, String>,
) -> Result<Listing<Value>> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let mut errors = Vec::new();
    check_query(query, &["limit", "cursor"], &mut errors);
    let limit = limit(query, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let page = svc.records.list(tenant_id, resource, limit, query.get("cursor").map(String::as_str)).await?;
    Ok(Listing { data: page.items.iter().map(StoredRecord::to_json).collect(), next_cursor: page.next_cursor })
}

pub async fn get_record(svc: &Services, tenant_id: &str, resource_type: &str, identifier: &str) -> Result<Value> {
    let resource = ResourceType::parse(resource_type).ok_or(Error::NotFound)?;
    let field = resource.default_identifier();
    let id = normalize_identifier(resource, field, identifier.trim());
    // No stored identifier is empty or longer than a DynamoDB sort key.
    if id.is_empty() || id.len() > domain::validate::MAX_IDENTIFIER_BYTES {
        return Err(Error::NotFound);
    }
    svc.records.get(tenant_id, resource, &id).await?.map(|r| r.to_json()).ok_or(Error::NotFound)
}

fn check_query(query: &HashMap<String, String>, allowed: &[&str], errors: &mut Vec<FieldError>) {
    for key in query.keys().filter(|k| !allowed.contains(&k.as_str())) {
        errors.push(FieldError::new(key, "unknown_parameter", format!("allowed: {}", allowed.join(", "))));
    }
}

fn limit(query: &HashMap<String, String>, errors: &mut Vec<FieldError>) -> usize {
    match query.get("limit") {
        None => 20,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("limit", "invalid", "must be a whole number from 1 to 100"));
                20
            }
        },
    }
}

/// `GET /v1/webhooks/secret`.
pub async fn webhook_secret(svc: &Services, tenant_id: &str) -> Result<Value> {
    Ok(serde_json::json!({ "secret": webhooks::current_secret(svc, tenant_id).await? }))
}

/// `POST /v1/webhooks/secret/rotate`: the new secret; the old one signs 24 hours more.
pub async fn rotate_webhook_secret(svc: &Services, tenant_id: &str) -> Result<Value> {
    Ok(serde_json::json!({ "secret": webhooks::rotate_secret(svc, tenant_id).await? }))
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
