//! Turning one file row into a record: trim, null the empty, check each value (SPEC §6, §7).
//! A bad row becomes row errors; it never fails the import.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error_files;
use crate::fields;
use crate::mapping::ColumnMap;
use std::collections::BTreeMap;

use crate::record::{custom_name, Fields, ResourceType};

/// SPEC §8: a field is at most 64 KB.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Identifiers are DynamoDB sort keys: at most 1 KB.
pub const MAX_IDENTIFIER_BYTES: usize = 1024;
/// SPEC §8: a record is at most 400 KB, DynamoDB's item limit; room is kept for bookkeeping.
pub const MAX_RECORD_BYTES: usize = 380 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub row: u64,
    pub column: Option<String>,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// A row that passed: its identifier (normalized for matching) and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub row: u64,
    pub identifier: String,
    pub fields: Fields,
}

impl Candidate {
    /// Its size as a message and as a stored item, both JSON-like.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }
}

/// What an import adds to or changes in every row (SPEC §5 create body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowOptions {
    /// Field values set on every record, already normalized; they win over the file.
    #[serde(default)]
    pub constants: Map<String, Value>,
    /// Per field, file value → value, applied before the field's rule.
    #[serde(default)]
    pub value_mappings: BTreeMap<String, BTreeMap<String, String>>,
}

impl RowOptions {
    /// The file value a mapping turns `value` into: exact first, then ignoring case.
    fn map_value<'v>(&'v self, field: &str, value: &'v str) -> &'v str {
        let Some(mapping) = self.value_mappings.get(field) else { return value };
        mapping
            .get(value)
            .or_else(|| mapping.iter().find(|(k, _)| k.eq_ignore_ascii_case(value)).map(|(_, v)| v))
            .map_or(value, String::as_str)
    }
}

/// How rows of one import become records.
#[derive(Debug, Clone)]
pub struct RowRules<'a> {
    pub resource: ResourceType,
    pub identifier_field: &'a str,
    pub headers: &'a [String],
    pub columns: &'a ColumnMap,
    pub options: &'a RowOptions,
}

impl RowRules<'_> {
    /// A cell's value for its field: mapped, then checked and normalized by the field's rule.
    fn value(&self, field: &str, cell: &str) -> Result<Value, fields::Violation> {
        fields::check(self.resource, field, self.options.map_value(field, cell))
    }

    /// The identifier a row names, when its identifier cell is valid, whatever its other cells.
    pub fn identifier_of(&self, values: &csv::StringRecord) -> Option<String> {
        let raw = values.get(self.columns.column_of(self.identifier_field)?)?;
        let value = self.value(self.identifier_field, cell(raw)).ok()?;
        value.as_str().map(|v| normalize_identifier(self.resource, self.identifier_field, v))
    }

    pub fn build(&self, row: u64, values: &csv::StringRecord) -> Result<Candidate, Vec<RowError>> {
        let error = |column: Option<&String>, field: Option<&str>, code: &str, message: String| RowError {
            row,
            column: column.cloned(),
            field: field.map(str::to_string),
            code: code.to_string(),
            message,
        };
        if values.len() != self.headers.len() {
            return Err(vec![error(
                None,
                None,
                "ragged_row",
                format!("row has {} values, the header has {} columns", values.len(), self.headers.len()),
            )]);
        }
        let mut errors = Vec::new();
        let mut fields = Map::new();
        let mut identifier = None;
        for ((header, field), raw) in self.headers.iter().zip(&self.columns.columns).zip(values.iter()) {
            let Some(field) = field.as_deref() else {
                continue;
            };
            let value = cell(raw);
            if value.len() > MAX_FIELD_BYTES {
                errors.push(error(
                    Some(header),
                    Some(field),
                    "value_too_long",
                    format!("{} bytes, the limit is {MAX_FIELD_BYTES}", value.len()),
                ));
                continue;
            }
            let value = match self.value(field, value) {
                Ok(v) => v,
                Err((code, message)) => {
                    errors.push(error(Some(header), Some(field), code, message));
                    continue;
                }
            };
            if field == self.identifier_field {
                identifier = value.as_str().map(|v| normalize_identifier(self.resource, field, v));
            }
            set_field(&mut fields, field, value);
        }
        for (field, value) in &self.options.constants {
            set_field(&mut fields, field, value.clone());
        }
        match identifier {
            Some(identifier) if identifier.len() > MAX_IDENTIFIER_BYTES => {
                let column = self.columns.column_of(self.identifier_field).map(|i| &self.headers[i]);
                errors.push(error(
                    column,
                    Some(self.identifier_field),
                    "value_too_long",
                    format!("an identifier is at most {MAX_IDENTIFIER_BYTES} bytes"),
                ));
                Err(errors)
            }
            Some(identifier) if errors.is_empty() => {
                let candidate = Candidate { row, identifier, fields };
                let size = candidate.encoded_len();
                if size > MAX_RECORD_BYTES {
                    return Err(vec![error(
                        None,
                        None,
                        "record_too_large",
                        format!("the record is {size} bytes; the limit is {MAX_RECORD_BYTES}"),
                    )]);
                }
                Ok(candidate)
            }
            Some(_) => Err(errors),
            None => {
                let column = self.columns.column_of(self.identifier_field).map(|i| &self.headers[i]);
                let already = errors.iter().any(|e| e.field.as_deref() == Some(self.identifier_field));
                if !already {
                    errors.push(error(
                        column,
                        Some(self.identifier_field),
                        "missing_identifier",
                        format!("`{}` is required to match records", self.identifier_field),
                    ));
                }
                Err(errors)
            }
        }
    }
}

/// Known fields at the top, `custom.x` under `custom`.
fn set_field(fields: &mut Fields, field: &str, value: Value) {
    match custom_name(field) {
        Some(name) => {
            if let Value::Object(m) = fields.entry("custom").or_insert_with(|| Value::Object(Map::new())) {
                m.insert(name.to_string(), value);
            }
        }
        None => {
            fields.insert(field.to_string(), value);
        }
    }
}

/// A cell trimmed, with the formula guard of an errors file taken off. A BOM inside the data is
/// never part of a value (the csv crate drops one only at the start of a reader, and chunks
/// start mid-file).
fn cell(raw: &str) -> &str {
    error_files::restore(raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'))
}

/// The identifier as records are matched by: emails ignore case.
pub fn normalize_identifier(resource: ResourceType, field: &str, value: &str) -> String {
    if resource == ResourceType::Contact && field == "email" {
        value.to_lowercase()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::resolve;
    use std::collections::BTreeMap;

    fn rules_for(headers: &[String], columns: &ColumnMap) -> RowRules<'static> {
        let headers: &'static [String] = Box::leak(headers.to_vec().into_boxed_slice());
        let columns: &'static ColumnMap = Box::leak(Box::new(columns.clone()));
        let options: &'static RowOptions = Box::leak(Box::default());
        RowRules { resource: ResourceType::Contact, identifier_field: "email", headers, columns, options }
    }

    fn rules(h: &[&str]) -> RowRules<'static> {
        let headers: Vec<String> = h.iter().map(|s| s.to_string()).collect();
        let columns = resolve(ResourceType::Contact, &headers, &BTreeMap::new()).unwrap();
        rules_for(&headers, &columns)
    }

    fn rec(v: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(v.to_vec())
    }

    #[test]
    fn trims_nulls_and_lowercases_the_identifier() {
        let r = rules(&["Email", "First Name", "Notes"]);
        let c = r.build(3, &rec(&["  Ann@Example.COM ", "", "x"])).unwrap();
        assert_eq!(c.identifier, "ann@example.com");
        assert_eq!(c.fields["email"], "Ann@Example.COM");
        assert_eq!(c.fields["first_name"], Value::Null);
        assert!(!c.fields.contains_key("Notes"));
    }

    #[test]
    fn custom_fields_nest() {
        let headers = vec!["email".to_string(), "Notes".to_string()];
        let explicit = BTreeMap::from([("Notes".to_string(), Some("custom.notes".to_string()))]);
        let columns = resolve(ResourceType::Contact, &headers, &explicit).unwrap();
        let c = rules_for(&headers, &columns).build(1, &rec(&["a@b.co", "hi"])).unwrap();
        assert_eq!(c.fields["custom"]["notes"], "hi");
    }

    #[test]
    fn bad_rows_name_row_column_and_code() {
        let r = rules(&["Email", "First Name"]);
        let e = r.build(7, &rec(&["not-an-email", "Ann"])).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].row, e[0].code.as_str()), (7, "invalid_email"));
        assert_eq!(e[0].column.as_deref(), Some("Email"));
        let e = r.build(8, &rec(&["", "Ann"])).unwrap_err();
        assert_eq!(e[0].code, "missing_identifier");
        let e = r.build(9, &rec(&["a@b.co"])).unwrap_err();
        assert_eq!(e[0].code, "ragged_row");
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        let e = r.build(10, &rec(&["a@b.co", &long])).unwrap_err();
        assert_eq!(e[0].code, "value_too_long");
        let c = r.build(11, &rec(&["\u{feff}a@b.co", "x"])).unwrap();
        assert_eq!(c.identifier, "a@b.co");
    }

    #[test]
    fn oversized_records_are_row_errors() {
        let headers: Vec<String> = (0..8).map(|i| if i == 0 { "email".into() } else { format!("c{i}") }).collect();
        let explicit: BTreeMap<String, Option<String>> =
            headers[1..].iter().map(|h| (h.clone(), Some(format!("custom.{h}")))).collect();
        let columns = resolve(ResourceType::Contact, &headers, &explicit).unwrap();
        let big = "x".repeat(60 * 1024);
        let mut values = vec!["a@b.co".to_string()];
        values.extend(std::iter::repeat_n(big, 7));
        let e = rules_for(&headers, &columns).build(1, &csv::StringRecord::from(values)).unwrap_err();
        assert_eq!(e[0].code, "record_too_large");
    }
}
