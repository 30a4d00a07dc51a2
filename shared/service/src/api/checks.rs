//! The checks of a create body's fields that need more than their type: limits, names of the
//! resource's fields, the rules between fields. Each names the fields that are wrong.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};
use time::Duration;

use super::bodies::{Constant, CsvBody, Entries, S3Body, Sent, SourceBody, SyncActionBody, UploadBody, XlsxBody};
use domain::bad_file::MAX_FILE_BYTES;
use domain::error::FieldError;
use domain::fields;
use domain::import::{
    Compression, Format, Import, Packing, PullSource, S3Source, SheetRef, UploadRequest, WorkbookOptions,
};
use domain::mapping::squash;
use domain::merge::{UpdateRule, UpdateRules};
use domain::options::{Action, CsvOptions};
use domain::record::ResourceType;
use domain::staging;
use domain::sync::{Changes, SyncAction};
use domain::validate::RowOptions;

/// Inline inputs are at most 10,000 records and 5 MB; `mode: sync` takes at most 1,000.
pub const MAX_INPUTS: usize = 10_000;
pub const MAX_INPUT_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_SYNC_INPUTS: usize = 1_000;

/// Names and values (headers, field names, tags, metadata, references, constants,
/// mapped values) are at most 1 KB; `mappings` name at most a file's columns; `constants`,
/// `update_rule_by_field` and the fields of `value_mappings` at most 500 entries; `value_mappings`
/// at most 10,000 pairs in all; `tags` and `metadata` at most 50.
pub(super) const MAX_TEXT: usize = 1024;
const MAX_MAPPINGS: usize = domain::bad_file::MAX_COLUMNS;
const MAX_FIELD_ENTRIES: usize = 500;
const MAX_VALUE_MAPPING_PAIRS: usize = 10_000;
const MAX_METADATA_KEYS: usize = 50;
const MAX_TAGS: usize = 50;
const MAX_SYNC_ACTIONS: usize = 50;

/// What a request's settings may take on its import item (measured as JSON, never less than
/// DynamoDB counts): with the fixed fields and what a file adds, the item stays far under
/// DynamoDB's 400 KB. The body limit alone does not bound it: mappings are stored twice.
pub const MAX_SETTINGS_BYTES: usize = 200 * 1024;

/// The error naming the largest of an import's settings when together they take more than
/// `MAX_SETTINGS_BYTES` on its item.
pub(super) fn settings_over_budget(import: &Import) -> Option<FieldError> {
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

/// An object of at most `max` entries (none when absent or null), or the error naming `field`.
fn bounded_object<T>(
    sent: Sent<BTreeMap<String, T>>,
    field: &str,
    max: usize,
    what: &str,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, T> {
    match sent {
        Sent::Absent | Sent::Null => BTreeMap::new(),
        Sent::Valid(m) if m.len() <= max => m,
        Sent::Valid(_) => {
            errors.push(FieldError::new(field, "too_many", format!("at most {max} entries")));
            BTreeMap::new()
        }
        Sent::Invalid(_) => {
            errors.push(FieldError::new(field, "invalid", format!("must be an object of {what}")));
            BTreeMap::new()
        }
    }
}

/// Each key of `mappings` names a header of the file, when the file is known (as written, or
/// differing in case and punctuation only, as `mapping::resolve` takes it): a key that names none
/// maps nothing, and the header the user meant stays unmapped without a word.
pub(super) fn mapped_headers(
    mappings: &BTreeMap<String, Option<String>>,
    headers: &[String],
    errors: &mut Vec<FieldError>,
) {
    const SHOWN: usize = 20;
    let mut known: Vec<&str> = headers.iter().take(SHOWN).map(String::as_str).collect();
    if headers.len() > SHOWN {
        known.push("…");
    }
    let names = |key: &String| headers.contains(key) || headers.iter().any(|h| squash(h) == squash(key));
    for key in mappings.keys().filter(|key| !names(key)) {
        let message = format!("the file has no header {key:?}; its headers: {}", known.join(", "));
        errors.push(FieldError::new(entry("mappings", key), "unknown_header", message));
    }
}

/// A name or tag: 1 to `MAX_TEXT` bytes once trimmed.
fn name(sent: &Sent<String>) -> Option<&str> {
    match sent {
        Sent::Valid(s) => Some(s.trim()).filter(|t| !t.is_empty() && t.len() <= MAX_TEXT),
        _ => None,
    }
}

/// `mappings` (present): header → a field of the resource or null; no field fed by two headers.
pub(super) fn mappings(
    sent: Sent<Entries<String>>,
    resource: ResourceType,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, Option<String>> {
    let mut mappings = BTreeMap::new();
    let m = match sent {
        Sent::Absent => return mappings,
        Sent::Valid(m) if m.len() > MAX_MAPPINGS => {
            errors.push(FieldError::new(
                "mappings",
                "invalid",
                format!("at most {MAX_MAPPINGS} headers (a file has at most that many columns)"),
            ));
            return mappings;
        }
        Sent::Valid(m) => m,
        Sent::Null | Sent::Invalid(_) => {
            errors.push(FieldError::new("mappings", "invalid", "must be an object of header to field"));
            return mappings;
        }
    };
    for (header, target) in m {
        if header.trim().is_empty() || header.len() > MAX_TEXT {
            errors.push(FieldError::new(
                entry("mappings", &header),
                "invalid",
                format!("a header is 1 to {MAX_TEXT} bytes"),
            ));
            continue;
        }
        match target {
            Sent::Null => {
                mappings.insert(header, None);
            }
            Sent::Valid(f) if is_field(resource, &f) => {
                mappings.insert(header, Some(f));
            }
            _ => errors.push(FieldError::new(
                format!("mappings.{header}"),
                "unknown_field",
                format!("must be null or a field of {}", resource.with_fields()),
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
pub(super) fn update_rules(
    rule: Sent<UpdateRule>,
    by_field: Sent<Entries<UpdateRule>>,
    resource: ResourceType,
    errors: &mut Vec<FieldError>,
) -> UpdateRules {
    let names = UpdateRule::NAMES.join(", ");
    let update_rule = rule.or_default(UpdateRule::default(), errors, || {
        FieldError::new("update_rule", "invalid", format!("must be one of {names}"))
    });
    let mut rules = UpdateRules { update_rule, ..UpdateRules::default() };
    if matches!(by_field, Sent::Absent | Sent::Null) {
        return rules;
    }
    if rules.update_rule != UpdateRule::UseFieldRule {
        errors.push(FieldError::new("update_rule_by_field", "invalid", "applies with update_rule use_field_rule"));
        return rules;
    }
    let m = bounded_object(by_field, "update_rule_by_field", MAX_FIELD_ENTRIES, "field to rule", errors);
    for (field, rule) in m {
        let name = entry("update_rule_by_field", &field);
        match rule {
            _ if !is_field(resource, &field) => errors.push(FieldError::new(
                name,
                "unknown_field",
                format!("not a field of {}", resource.with_fields()),
            )),
            Sent::Valid(r) if r != UpdateRule::UseFieldRule => {
                rules.update_rule_by_field.insert(field, r);
            }
            _ => errors.push(FieldError::new(
                name,
                "invalid",
                "must be one of always, if_new_is_not_null, if_existing_is_null",
            )),
        }
    }
    rules
}

/// A share from 0 to 1; null is none.
pub(super) fn ratio(sent: Sent<f64>, field: &str, errors: &mut Vec<FieldError>) -> Option<f64> {
    match sent {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(r) if (0.0..=1.0).contains(&r) => Some(r),
        _ => {
            errors.push(FieldError::new(field, "invalid", "must be a number from 0 to 1"));
            None
        }
    }
}

/// `tags` (any type) and `sync_actions` (contacts written by merge or overwrite): names of 1 to
/// `MAX_TEXT` bytes, and a contact's statuses.
pub(super) fn changes(
    tags: Sent<Vec<Sent<String>>>,
    sync_actions: Sent<Vec<Sent<SyncActionBody>>>,
    resource: ResourceType,
    action: Action,
    errors: &mut Vec<FieldError>,
) -> Changes {
    let mut changes = Changes::default();
    if action == Action::Delete && !matches!(tags, Sent::Absent | Sent::Null) {
        errors.push(FieldError::new("tags", "invalid", "tags are added to records a merge or overwrite writes"));
    }
    match tags {
        Sent::Absent | Sent::Null => {}
        Sent::Valid(tags) if tags.len() <= MAX_TAGS => {
            for tag in &tags {
                match name(tag) {
                    Some(t) => changes.tags.push(t.to_string()),
                    None => errors.push(FieldError::new(
                        "tags",
                        "invalid",
                        format!("tags are strings of 1 to {MAX_TEXT} bytes"),
                    )),
                }
            }
        }
        _ => errors.push(FieldError::new("tags", "invalid", format!("must be an array of at most {MAX_TAGS} strings"))),
    }
    let actions = match sync_actions {
        Sent::Absent | Sent::Null => return changes,
        Sent::Valid(a) if a.len() <= MAX_SYNC_ACTIONS => a,
        _ => {
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
    for (i, sent) in actions.iter().enumerate() {
        match sync_action(sent) {
            Some(p) => changes.sync_actions.push(p),
            None => errors.push(FieldError::new(
                format!("sync_actions[{i}]"),
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

/// `{"action": "add" | "remove", "group"}` or `{"action": "set_status", "status"}`, no other key.
fn sync_action(sent: &Sent<SyncActionBody>) -> Option<SyncAction> {
    let Sent::Valid(body) = sent else { return None };
    if !body.unknown.is_empty() {
        return None;
    }
    match &body.action {
        Sent::Valid(kind) if kind == "add" || kind == "remove" => name(&body.group).map(|group| {
            let group = group.to_string();
            if kind == "add" {
                SyncAction::Add { group }
            } else {
                SyncAction::Remove { group }
            }
        }),
        Sent::Valid(kind) if kind == "set_status" => match &body.status {
            Sent::Valid(s) if fields::STATUSES.contains(&s.as_str()) => {
                Some(SyncAction::SetStatus { status: s.clone() })
            }
            _ => None,
        },
        _ => None,
    }
}

/// `constants` and `value_mappings`: every field named must exist, every constant must
/// pass its field's rule, and no constant may set the identifier.
pub(super) fn row_options(
    constants: Sent<Entries<Constant>>,
    value_mappings: Sent<Entries<Entries<String>>>,
    resource: ResourceType,
    identifier: &str,
    errors: &mut Vec<FieldError>,
) -> RowOptions {
    let mut options = RowOptions::default();
    for (field, value) in bounded_object(constants, "constants", MAX_FIELD_ENTRIES, "field to value", errors) {
        let name = entry("constants", &field);
        let text = match value {
            Sent::Valid(Constant::Text(s)) => s.trim().to_string(),
            Sent::Valid(Constant::Number(n)) => n.to_string(),
            Sent::Valid(Constant::Flag(b)) => b.to_string(),
            _ => {
                errors.push(FieldError::new(name, "invalid", "a constant is a string, number or boolean"));
                continue;
            }
        };
        if text.len() > MAX_TEXT {
            errors.push(FieldError::new(name, "too_long", format!("a constant is at most {MAX_TEXT} bytes")));
        } else if !is_field(resource, &field) {
            errors.push(FieldError::new(name, "unknown_field", format!("not a field of {}", resource.with_fields())));
        } else if field == identifier {
            errors.push(FieldError::new(name, "invalid", "the identifier cannot be a constant"));
        } else {
            match resource.check(&field, &text) {
                Ok(v) => {
                    options.constants.insert(field, v);
                }
                Err((code, message)) => errors.push(FieldError::new(name, code, message)),
            }
        }
    }
    let m = bounded_object(value_mappings, "value_mappings", MAX_FIELD_ENTRIES, "field to mappings", errors);
    let pairs: usize = m.values().map(|v| if let Sent::Valid(o) = v { o.len() } else { 0 }).sum();
    if pairs > MAX_VALUE_MAPPING_PAIRS {
        let message = format!("at most {MAX_VALUE_MAPPING_PAIRS} pairs in all; this has {pairs}");
        errors.push(FieldError::new("value_mappings", "too_many", message));
        return options;
    }
    for (field, mapping) in m {
        let name = entry("value_mappings", &field);
        if !is_field(resource, &field) {
            errors.push(FieldError::new(name, "unknown_field", format!("not a field of {}", resource.with_fields())));
            continue;
        }
        let pairs: Option<BTreeMap<String, String>> = match mapping {
            Sent::Valid(o) => o
                .into_iter()
                .map(|(k, v)| match v {
                    Sent::Valid(v) if k.len() <= MAX_TEXT && v.len() <= MAX_TEXT => Some((k, v)),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        match pairs {
            Some(p) => {
                options.value_mappings.insert(field, p);
            }
            None => errors.push(FieldError::new(
                name,
                "invalid",
                format!("must be an object of file value to value, each at most {MAX_TEXT} bytes"),
            )),
        }
    }
    options
}

/// Inline inputs as the file they become.
pub(super) struct Inputs {
    pub count: usize,
    /// The JSON file.
    pub bytes: Vec<u8>,
    /// Its headers: every key, nested ones flattened (`custom.plan`), in the order first seen.
    pub headers: Vec<String>,
}

/// The headers of inline inputs as sent, when they are a file (see [`inputs`]).
pub(super) fn inline_headers(sent: Option<&Value>) -> Option<Vec<String>> {
    let Value::Array(items) = sent? else { return None };
    inputs(Sent::Valid(items.clone()), &mut Vec::new()).map(|given| given.headers)
}

/// `inputs` (present): an array of objects within the limits, as the file they become.
pub(super) fn inputs(sent: Sent<Vec<Value>>, errors: &mut Vec<FieldError>) -> Option<Inputs> {
    let items = match sent {
        Sent::Absent => return None,
        Sent::Valid(items) => items,
        Sent::Null | Sent::Invalid(_) => {
            errors.push(FieldError::new("inputs", "invalid", "must be an array of objects"));
            return None;
        }
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
    let bytes = serde_json::to_vec(&items).ok()?;
    if bytes.len() > MAX_INPUT_BYTES {
        errors.push(FieldError::new("inputs", "too_large", format!("at most {MAX_INPUT_BYTES} bytes")));
        return None;
    }
    // The file's columns: nested objects flatten to dotted names, as prevalidation reads them.
    let headers = staging::json_headers(bytes.as_slice(), false)
        .map_or_else(|_| headers.into_iter().map(str::to_string).collect(), |shape| shape.headers);
    Some(Inputs { count: items.len(), bytes, headers })
}

/// An object field's body as sent: none when absent or null, when `not_here` says why it does not
/// apply to this import, or when it is not an object (both errors of `field`).
fn object<T>(sent: Sent<T>, field: &str, not_here: Option<&str>, errors: &mut Vec<FieldError>) -> Option<T> {
    match (sent, not_here) {
        (Sent::Absent | Sent::Null, _) => None,
        (Sent::Valid(body), None) => Some(body),
        (Sent::Valid(_), Some(why)) => {
            errors.push(FieldError::new(field, "invalid", why));
            None
        }
        (Sent::Invalid(_), _) => {
            errors.push(FieldError::new(field, "invalid", "must be an object"));
            None
        }
    }
}

/// The keys of the object `field` that it does not take, each an error saying what it takes.
fn unknown_fields(
    field: &str,
    unknown: &BTreeMap<String, Value>,
    message: impl Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) {
    for key in unknown.keys() {
        errors.push(FieldError::new(format!("{field}.{key}"), "unknown_field", message(key)));
    }
}

/// `compression`, `zip_entry` and `xlsx`: how an uploaded file is read; none applies to inline
/// inputs, `zip_entry` only to a zip and `xlsx` only to a workbook.
pub(super) fn packing(
    (compression, zip_entry, xlsx): (Sent<Compression>, Sent<String>, Sent<XlsxBody>),
    format: Format,
    inline: bool,
    errors: &mut Vec<FieldError>,
) -> Packing {
    let names = Compression::ALL.map(Compression::as_str).join(", ");
    let compression = compression.or_default(Compression::Auto, errors, || {
        FieldError::new("compression", "invalid", format!("must be one of {names}"))
    });
    if inline && compression != Compression::Auto {
        errors.push(FieldError::new("compression", "invalid", "inline inputs are not compressed"));
    }
    let zip_entry = text(zip_entry, "zip_entry", errors);
    if zip_entry.is_some() && !matches!(compression, Compression::Auto | Compression::Zip) {
        errors.push(FieldError::new("zip_entry", "invalid", "names a file in a zip: compression must be zip or auto"));
    }
    let not_here =
        (!matches!(format, Format::Xlsx | Format::Auto)).then_some("xlsx options apply to format xlsx or auto only");
    let xlsx = object(xlsx, "xlsx", not_here, errors).map(|body| {
        unknown_fields("xlsx", &body.unknown, |key| format!("`{key}` is not an xlsx option"), errors);
        let sheet = match body.sheet {
            Sent::Absent | Sent::Null => None,
            Sent::Valid(SheetRef::Name(name)) if name.is_empty() || name.len() > MAX_TEXT => {
                errors.push(FieldError::new("xlsx.sheet", "invalid", format!("a name of 1 to {MAX_TEXT} bytes")));
                None
            }
            Sent::Valid(sheet) => Some(sheet),
            Sent::Invalid(_) => {
                let message = "a sheet's name, or its index from 0";
                errors.push(FieldError::new("xlsx.sheet", "invalid", message));
                None
            }
        };
        WorkbookOptions { sheet }
    });
    Packing { compression, zip_entry, xlsx }
}

/// `upload`: the file's size (at most 1 TiB) and whether to upload it in parts; not with inline
/// inputs.
pub(super) fn upload(sent: Sent<UploadBody>, inline: bool, errors: &mut Vec<FieldError>) -> Option<UploadRequest> {
    let body = object(sent, "upload", inline.then_some("inline inputs are not uploaded"), errors)?;
    unknown_fields("upload", &body.unknown, |key| format!("`{key}` is not an upload field"), errors);
    let size = match body.size {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(size) if size <= MAX_FILE_BYTES => Some(size),
        _ => {
            errors.push(FieldError::new(
                "upload.size",
                "invalid",
                format!("bytes, a whole number up to {MAX_FILE_BYTES}"),
            ));
            None
        }
    };
    let multipart = body
        .multipart
        .or_default(false, errors, || FieldError::new("upload.multipart", "invalid", "must be a boolean"));
    Some(UploadRequest { size, multipart })
}

/// `source`: one of `url` (checked as webhook URLs are) or `s3`; instead of an upload or inline
/// inputs.
pub(super) fn source(
    sent: Sent<SourceBody>,
    elsewhere: Option<&str>,
    allow_loopback: bool,
    errors: &mut Vec<FieldError>,
) -> Option<PullSource> {
    let instead = elsewhere.map(|other| format!("a pulled source comes instead of {other}"));
    let body = object(sent, "source", instead.as_deref(), errors)?;
    unknown_fields("source", &body.unknown, |_| "a source is `url` or `s3`".into(), errors);
    match (body.url, body.s3) {
        (Sent::Valid(url), Sent::Absent) => match crate::outbound::check_url(&url, allow_loopback) {
            Ok(_) => Some(PullSource::Url(url)),
            Err(message) => {
                errors.push(FieldError::new("source.url", "invalid", message));
                None
            }
        },
        (Sent::Absent, Sent::Valid(s3)) => s3_source(s3, errors).map(PullSource::S3),
        (Sent::Absent, Sent::Absent) => {
            errors.push(FieldError::new("source", "invalid", "give `url` or `s3`"));
            None
        }
        (Sent::Absent, _) => {
            errors.push(FieldError::new("source.s3", "invalid", "must be an object with bucket and key"));
            None
        }
        (_, Sent::Absent) => {
            errors.push(FieldError::new("source.url", "invalid", "must be an https:// URL"));
            None
        }
        _ => {
            errors.push(FieldError::new("source", "invalid", "give `url` or `s3`, not both"));
            None
        }
    }
}

fn s3_source(body: S3Body, errors: &mut Vec<FieldError>) -> Option<S3Source> {
    let found = errors.len();
    unknown_fields("source.s3", &body.unknown, |_| "takes bucket, key, role_arn, external_id".into(), errors);
    let bucket_name = |b: &str| {
        (3..=63).contains(&b.len())
            && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
    };
    let bucket = match body.bucket {
        Sent::Valid(b) if bucket_name(&b) => Some(b),
        _ => {
            errors.push(FieldError::new("source.s3.bucket", "invalid", "a bucket name: 3 to 63 of a-z, 0-9, - and ."));
            None
        }
    };
    let key = match body.key {
        Sent::Valid(k) if !k.is_empty() && k.len() <= 1024 => Some(k),
        _ => {
            errors.push(FieldError::new("source.s3.key", "invalid", "an object key of 1 to 1,024 bytes"));
            None
        }
    };
    let role_arn = match body.role_arn {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(arn)
            if arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/") && arn.len() <= 2048 =>
        {
            Some(arn)
        }
        _ => {
            errors.push(FieldError::new(
                "source.s3.role_arn",
                "invalid",
                "an IAM role ARN (arn:aws:iam::123456789012:role/name)",
            ));
            None
        }
    };
    let external_id = match body.external_id {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(id) if (2..=1224).contains(&id.len()) && role_arn.is_some() => Some(id),
        _ => {
            errors.push(FieldError::new("source.s3.external_id", "invalid", "2 to 1,224 characters, with role_arn"));
            None
        }
    };
    if errors.len() != found {
        return None;
    }
    Some(S3Source { bucket: bucket?, key: key?, role_arn, external_id })
}

/// `csv`: a delimiter of `,` `;` tab `|`, an encoding we read, `has_header`; only for CSV files.
pub(super) fn csv_options(sent: Sent<CsvBody>, format: Format, errors: &mut Vec<FieldError>) -> CsvOptions {
    let mut options = CsvOptions::default();
    let not_here = (!matches!(format, Format::Csv | Format::Auto)).then_some("csv options apply to format csv only");
    let Some(body) = object(sent, "csv", not_here, errors) else { return options };
    let mut found = Vec::new();
    let wrong_type = |key: &str| FieldError::new(format!("csv.{key}"), "invalid", "has the wrong type");
    match body.delimiter {
        Sent::Absent => {}
        Sent::Valid(d) if domain::dialect::parse_delimiter(&d).is_some() => options.delimiter = Some(d),
        Sent::Valid(_) => {
            found.push(FieldError::new("csv.delimiter", "invalid", "must be one of \",\", \";\", \"\\t\", \"|\""))
        }
        Sent::Null | Sent::Invalid(_) => found.push(wrong_type("delimiter")),
    }
    match body.encoding {
        Sent::Absent => {}
        Sent::Valid(e) => match domain::dialect::Encoding::parse(&e) {
            Some(enc) => options.encoding = Some(enc.as_str().to_string()),
            None => found.push(FieldError::new(
                "csv.encoding",
                "invalid",
                "must be one of utf-8, utf-16le, utf-16be, windows-1252",
            )),
        },
        Sent::Null | Sent::Invalid(_) => found.push(wrong_type("encoding")),
    }
    options.has_header = body.has_header.or_default(options.has_header, &mut found, || wrong_type("has_header"));
    unknown_fields("csv", &body.unknown, |_| "csv takes delimiter, encoding, has_header".into(), &mut found);
    // Named in the order of the keys, as sent.
    found.sort_by(|a, b| a.field.cmp(&b.field));
    errors.append(&mut found);
    options
}

/// `reference`, `reference_origin`: a string of at most `MAX_TEXT` bytes, or none.
pub(super) fn text(sent: Sent<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match sent {
        Sent::Absent | Sent::Null => None,
        Sent::Valid(s) if s.len() <= MAX_TEXT => Some(s),
        _ => {
            errors.push(FieldError::new(field, "invalid", format!("must be a string of at most {MAX_TEXT} bytes")));
            None
        }
    }
}

pub(super) fn metadata(sent: Sent<Entries<String>>, errors: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match sent {
        Sent::Absent | Sent::Null => {}
        Sent::Valid(m) if m.len() <= MAX_METADATA_KEYS => {
            for (k, v) in m {
                match v {
                    Sent::Valid(s) if !k.is_empty() && k.len() <= MAX_TEXT && s.len() <= MAX_TEXT => {
                        out.insert(k, s);
                    }
                    _ => errors.push(FieldError::new(
                        entry("metadata", &k),
                        "invalid",
                        format!("keys of 1 to {MAX_TEXT} bytes, values strings of at most {MAX_TEXT}"),
                    )),
                }
            }
        }
        _ => errors.push(FieldError::new(
            "metadata",
            "invalid",
            format!("must be an object of at most {MAX_METADATA_KEYS} string values"),
        )),
    }
    out
}

/// An ISO 8601 duration from P1D to P90D, in days or weeks; P7D when absent.
pub(super) fn retention(sent: Sent<String>, errors: &mut Vec<FieldError>) -> Option<(String, Duration)> {
    let text = match sent {
        Sent::Absent => return Some(("P7D".into(), Duration::days(7))),
        Sent::Valid(text) => text,
        Sent::Null | Sent::Invalid(_) => String::new(),
    };
    let days = (|| {
        let s = text.strip_prefix('P')?;
        let (n, unit) = s.split_at(s.char_indices().last()?.0);
        let n: i64 = n.parse().ok()?;
        match unit {
            "D" => Some(n),
            "W" => n.checked_mul(7),
            _ => None,
        }
    })();
    match days {
        Some(d) if (1..=90).contains(&d) => Some((text, Duration::days(d))),
        _ => {
            errors.push(FieldError::new("retention", "invalid", "must be an ISO 8601 duration from P1D to P90D"));
            None
        }
    }
}
