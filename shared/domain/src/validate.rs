//! Turning one file row into a record: trim, null the empty, check each value (docs/api.md, Row errors).
//! A bad row becomes row errors; it never fails the import.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smallvec::SmallVec;

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error_columns;
use crate::fields::{self, Checked, Rule, Violation};
use crate::mapping::ColumnMap;

use crate::record::{custom_name, Fields, ResourceType};
use crate::schema::{FieldDef, Schema};

/// A field is at most 64 KB.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Identifiers are DynamoDB sort keys: at most 1 KB.
pub const MAX_IDENTIFIER_BYTES: usize = 1024;
/// A record is at most 400 KB, DynamoDB's item limit; room is kept for bookkeeping.
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

/// What an import adds to or changes in every row (the create body's row settings).
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
    fn mapping(&self, field: &str) -> Option<&BTreeMap<String, String>> {
        self.value_mappings.get(field)
    }
}

/// The file value a mapping turns `value` into: exact first, then ignoring case.
fn map_value<'v>(mapping: Option<&'v BTreeMap<String, String>>, value: &'v str) -> &'v str {
    let Some(mapping) = mapping else { return value };
    mapping
        .get(value)
        .or_else(|| mapping.iter().find(|(k, _)| k.eq_ignore_ascii_case(value)).map(|(_, v)| v))
        .map_or(value, String::as_str)
}

/// A row's values as text: the `csv` crate's fields, read as bytes, with the text of the whole
/// row checked once (fields are cut at ASCII bytes, so each is text too) instead of each field
/// on its own. Or a `StringRecord`'s, already text.
#[derive(Debug, Clone, Copy)]
pub struct Cells<'a> {
    text: &'a str,
    fields: &'a csv::ByteRecord,
}

impl<'a> Cells<'a> {
    /// None when the row is not UTF-8.
    pub fn checked(fields: &'a csv::ByteRecord) -> Option<Self> {
        let text = simdutf8::basic::from_utf8(fields.as_slice()).ok()?;
        Some(Self { text, fields })
    }

    fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.text.get(self.fields.range(i)?)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl<'a> From<&'a csv::StringRecord> for Cells<'a> {
    fn from(record: &'a csv::StringRecord) -> Self {
        Self { text: record.as_slice(), fields: record.as_byte_record() }
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
    /// The tenant's schema of the type in force for the import, if any. None for a delete: it
    /// reads the identifier only, so no other field can be required of its rows.
    pub schema: Option<&'a Schema>,
}

impl<'a> RowRules<'a> {
    /// The identifier a row names, when its identifier cell is valid, whatever its other cells.
    pub fn identifier_of(&self, values: Cells) -> Option<String> {
        let cell = self.identifier_cell()?;
        let mut out = String::new();
        cell.read(values.get(cell.column)?, &mut out).map(str::to_string)
    }

    /// The identifier column with its rule and value mapping, resolved once for many rows.
    pub fn identifier_cell(&self) -> Option<IdentifierCell<'a>> {
        let field = self.identifier_field;
        Some(IdentifierCell {
            resource: self.resource,
            field,
            column: self.columns.column_of(field)?,
            rule: self.resource.rule(field),
            mapping: self.options.mapping(field),
            errors_file: error_columns::is_errors_file(self.headers),
        })
    }

    pub fn build(&self, row: u64, values: &csv::StringRecord) -> Result<Candidate, Vec<RowError>> {
        let plan = self.plan_with(self.mapped(), Vec::new());
        let mut identifier = String::new();
        let checked = plan.check(row, values.into(), &mut identifier)?;
        let mut fields = Map::new();
        for (column, value) in plan.columns.iter().zip(checked) {
            set_field(&mut fields, column.field, value.into_value());
        }
        for (field, value) in self.constants() {
            if let Ok(value) = value {
                set_field(&mut fields, field, value.into_owned());
            }
        }
        let candidate = Candidate { row, identifier, fields };
        fits(row, serde_json::to_vec(&candidate).map_or(usize::MAX, |v| v.len()))?;
        Ok(candidate)
    }

    /// Each mapped column with its rule and value mapping.
    fn mapped(&self) -> Vec<Column<'a>> {
        self.headers
            .iter()
            .zip(&self.columns.columns)
            .enumerate()
            .filter_map(|(index, (header, field))| {
                let field = field.as_deref()?;
                let rule = self.resource.rule(field);
                let identifier = field == self.identifier_field;
                let (mapping, def) = (self.options.mapping(field), self.definition(field));
                Some(Column { index, header, field, rule, identifier, mapping, def })
            })
            .collect()
    }

    fn definition(&self, field: &str) -> Option<&'a FieldDef> {
        self.schema?.field(field)
    }

    /// The constants as records hold them: typed by their definitions, or what a definition
    /// refuses of them.
    fn constants(&self) -> impl Iterator<Item = (&'a str, Result<Cow<'a, Value>, Violation>)> + use<'a, '_> {
        self.options.constants.iter().map(|(field, value)| match self.definition(field) {
            Some(def) => (field.as_str(), def.check_constant(value).map(Cow::Owned)),
            None => (field.as_str(), Ok(Cow::Borrowed(value))),
        })
    }

    /// What the schema refuses of every row, whatever its cells: a constant its definition
    /// refuses, a required field no column maps and no constant sets. Row 0, for each row to
    /// take as its own.
    fn errors_of_every_row(&self, columns: &[Column]) -> Vec<RowError> {
        let refused = self.constants().filter_map(|(field, value)| {
            let (code, message) = value.err()?;
            Some(row_error(0, None, Some(field), code, format!("the constant: {message}")))
        });
        let fields = self.schema.map(|schema| &schema.fields).into_iter().flatten();
        let unset = fields.filter(|(field, def)| {
            def.required
                && !columns.iter().any(|c| c.field == field.as_str())
                && !self.options.constants.contains_key(*field)
        });
        let unset = unset.map(|(field, _)| {
            let message = format!("`{field}` is required: no column maps it and no constant sets it");
            row_error(0, None, Some(field), "required", message)
        });
        refused.chain(unset).collect()
    }

    /// The plan of `columns`, its records laid out as `layout`.
    fn plan_with(&self, columns: Vec<Column<'a>>, layout: Vec<Piece>) -> RowPlan<'a> {
        RowPlan {
            rules: self.clone(),
            every_row: self.errors_of_every_row(&columns),
            columns,
            layout,
            errors_file: error_columns::is_errors_file(self.headers),
        }
    }

    /// The rules resolved for many rows, with the JSON layout of their records.
    pub fn plan(&self) -> RowPlan<'a> {
        let columns = self.mapped();
        let mut slots = BTreeMap::new();
        for (i, column) in columns.iter().enumerate() {
            place(&mut slots, column.field, Slot::Column(i));
        }
        for (field, value) in self.constants() {
            if let Ok(value) = value {
                place(&mut slots, field, Slot::Constant(value));
            }
        }
        let mut layout = Vec::new();
        let mut text = Vec::new();
        flatten(&slots, &mut text, &mut layout);
        layout.push(Piece { text, column: None });
        self.plan_with(columns, layout)
    }
}

/// Where a row's identifier is and how it is read: prevalidation reads it from every row, so
/// without lookups by name and without allocating.
#[derive(Debug)]
pub struct IdentifierCell<'a> {
    resource: ResourceType,
    field: &'a str,
    pub column: usize,
    rule: Rule,
    mapping: Option<&'a BTreeMap<String, String>>,
    errors_file: bool,
}

impl IdentifierCell<'_> {
    /// The identifier the cell's text gives when it is valid, normalized into `out`.
    pub fn read<'o>(&self, raw: &str, out: &'o mut String) -> Option<&'o str> {
        let value = self.rule.check(self.field, map_value(self.mapping, cell(raw, self.errors_file))).ok()?;
        identifier_into(self.resource, self.field, &value, out).then_some(out.as_str())
    }
}

/// A mapped column of a [`RowPlan`].
#[derive(Debug)]
struct Column<'a> {
    index: usize,
    header: &'a String,
    field: &'a str,
    rule: Rule,
    /// It holds the identifier.
    identifier: bool,
    mapping: Option<&'a BTreeMap<String, String>>,
    /// The field's definition in the tenant's schema.
    def: Option<&'a FieldDef>,
}

/// Where a record field's value comes from, as [`set_field`] would leave it.
enum Slot<'a> {
    Column(usize),
    Constant(Cow<'a, Value>),
    Custom(BTreeMap<&'a str, Slot<'a>>),
}

/// [`set_field`] on slots: the same fields win.
fn place<'a>(slots: &mut BTreeMap<&'a str, Slot<'a>>, field: &'a str, slot: Slot<'a>) {
    match custom_name(field) {
        Some(name) => {
            if let Slot::Custom(m) = slots.entry("custom").or_insert_with(|| Slot::Custom(BTreeMap::new())) {
                m.insert(name, slot);
            }
        }
        None => {
            slots.insert(field, slot);
        }
    }
}

/// The JSON of `slots` as a map encodes it (keys in order), cut where a column's value goes.
fn flatten(slots: &BTreeMap<&str, Slot>, text: &mut Vec<u8>, layout: &mut Vec<Piece>) {
    text.push(b'{');
    for (i, (key, slot)) in slots.iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        fields::write_json_str(text, key);
        text.push(b':');
        match slot {
            Slot::Column(c) => layout.push(Piece { text: std::mem::take(text), column: Some(*c) }),
            // Writing into a Vec cannot fail.
            Slot::Constant(value) => {
                let _ = serde_json::to_writer(&mut *text, value.as_ref());
            }
            Slot::Custom(inner) => flatten(inner, text, layout),
        }
    }
    text.push(b'}');
}

/// Literal JSON, then the value of a column (its place in [`RowPlan::columns`]).
#[derive(Debug)]
struct Piece {
    text: Vec<u8>,
    column: Option<usize>,
}

/// [`RowRules`] resolved once per chunk: each mapped column with its rule and value mapping,
/// and the layout of a record's JSON, so a row is checked and encoded without looking
/// anything up by name and without building a map.
#[derive(Debug)]
pub struct RowPlan<'a> {
    rules: RowRules<'a>,
    columns: Vec<Column<'a>>,
    layout: Vec<Piece>,
    /// The errors of every row, whatever its cells (row 0).
    every_row: Vec<RowError>,
    /// The file is one of our errors files: its formula guards come off.
    errors_file: bool,
}

impl RowPlan<'_> {
    /// What [`RowRules::build`] gives, with the candidate appended to `out` as its JSON (as
    /// `serde_json` writes a [`Candidate`]) rather than built; an error row appends nothing.
    /// The row's identifier goes to `identifier`.
    pub fn encode(
        &self,
        row: u64,
        values: Cells,
        out: &mut Vec<u8>,
        identifier: &mut String,
    ) -> Result<(), Vec<RowError>> {
        let checked = self.check(row, values, identifier)?;
        let start = out.len();
        self.write(row, identifier, &checked, out);
        fits(row, out.len() - start).inspect_err(|_| out.truncate(start))
    }

    /// Each mapped cell checked, in column order; the row's identifier into `identifier`. On
    /// the stack and into the caller's buffer: this runs for every row.
    fn check<'r>(
        &'r self,
        row: u64,
        values: Cells<'r>,
        identifier: &mut String,
    ) -> Result<SmallVec<[Checked<'r>; 16]>, Vec<RowError>> {
        let rules = &self.rules;
        if values.len() != rules.headers.len() {
            let message = format!("row has {} values, the header has {} columns", values.len(), rules.headers.len());
            return Err(vec![row_error(row, None, None, "ragged_row", message)]);
        }
        let mut errors = Vec::new();
        let mut checked = SmallVec::new();
        let mut found = false;
        for column in &self.columns {
            let Some(raw) = values.get(column.index) else { continue };
            let (header, field) = (Some(column.header), Some(column.field));
            let value = cell(raw, self.errors_file);
            if value.len() > MAX_FIELD_BYTES {
                let message = format!("{} bytes, the limit is {MAX_FIELD_BYTES}", value.len());
                errors.push(row_error(row, header, field, "value_too_long", message));
                continue;
            }
            let value = column.rule.check(column.field, map_value(column.mapping, value)).and_then(|value| {
                if column.identifier {
                    found = identifier_into(rules.resource, column.field, &value, identifier);
                }
                match column.def {
                    Some(def) => def.check(value),
                    None => Ok(value),
                }
            });
            match value {
                Ok(value) => checked.push(value),
                Err((code, message)) => errors.push(row_error(row, header, field, code, message)),
            }
        }
        errors.extend(self.every_row.iter().map(|e| RowError { row, ..e.clone() }));
        let id_column = || rules.columns.column_of(rules.identifier_field).map(|i| &rules.headers[i]);
        match found.then_some(identifier.as_str()) {
            Some(id) if id.len() > MAX_IDENTIFIER_BYTES => {
                let message = format!("an identifier is at most {MAX_IDENTIFIER_BYTES} bytes");
                errors.push(row_error(row, id_column(), Some(rules.identifier_field), "value_too_long", message));
                Err(errors)
            }
            Some(_) if errors.is_empty() => Ok(checked),
            Some(_) => Err(errors),
            None => {
                let already = errors.iter().any(|e| e.field.as_deref() == Some(rules.identifier_field));
                if !already {
                    let message = format!("`{}` is required to match records", rules.identifier_field);
                    errors.push(row_error(
                        row,
                        id_column(),
                        Some(rules.identifier_field),
                        "missing_identifier",
                        message,
                    ));
                }
                Err(errors)
            }
        }
    }

    /// The candidate's JSON, as `serde_json` writes it: `row`, `identifier`, then `fields`
    /// with its keys in map order.
    fn write(&self, row: u64, identifier: &str, checked: &[Checked], out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"row\":");
        out.extend_from_slice(itoa::Buffer::new().format(row).as_bytes());
        out.extend_from_slice(b",\"identifier\":");
        fields::write_json_str(out, identifier);
        out.extend_from_slice(b",\"fields\":");
        for piece in &self.layout {
            out.extend_from_slice(&piece.text);
            if let Some(value) = piece.column.and_then(|c| checked.get(c)) {
                value.write_json(out);
            }
        }
        out.push(b'}');
    }
}

/// A record of `size` bytes as JSON fits in a store item.
fn fits(row: u64, size: usize) -> Result<(), Vec<RowError>> {
    if size > MAX_RECORD_BYTES {
        let message = format!("the record is {size} bytes; the limit is {MAX_RECORD_BYTES}");
        return Err(vec![row_error(row, None, None, "record_too_large", message)]);
    }
    Ok(())
}

fn row_error(row: u64, column: Option<&String>, field: Option<&str>, code: &str, message: String) -> RowError {
    RowError { row, column: column.cloned(), field: field.map(str::to_string), code: code.to_string(), message }
}

/// The identifier a checked identifier cell gives, normalized for matching, into `out`; false
/// when the cell gives none.
fn identifier_into(resource: ResourceType, field: &str, value: &Checked, out: &mut String) -> bool {
    match value {
        Checked::Text(text) => {
            normalize_identifier_into(resource, field, text, out);
            true
        }
        _ => false,
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

/// A cell trimmed, and in an errors file imported again with the formula guard the errors file
/// added taken off (then trimmed as the original cell was). A BOM inside the data is never part
/// of a value (the csv crate drops one only at the start of a reader, and chunks start mid-file).
fn cell(raw: &str, errors_file: bool) -> &str {
    match errors_file {
        true => trim(error_columns::restore(trim(raw))),
        false => trim(raw),
    }
}

fn trim(raw: &str) -> &str {
    let b = raw.as_bytes();
    // Most cells start and end with a visible ASCII character: nothing to trim.
    let visible = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    match visible(b.first()) && visible(b.last()) {
        true => raw,
        false => raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'),
    }
}

/// The identifier as records are matched by: emails ignore case.
pub fn normalize_identifier(resource: ResourceType, field: &str, value: &str) -> String {
    let mut out = String::new();
    normalize_identifier_into(resource, field, value, &mut out);
    out
}

/// [`normalize_identifier`] into a buffer that is reused.
fn normalize_identifier_into(resource: ResourceType, field: &str, value: &str, out: &mut String) {
    out.clear();
    if resource.rule(field) != Rule::Email {
        out.push_str(value);
    } else if value.is_ascii() {
        out.push_str(value);
        out.make_ascii_lowercase();
    } else {
        // `to_lowercase` knows the final sigma, which lower-casing char by char does not.
        out.push_str(&value.to_lowercase());
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
        RowRules { resource: ResourceType::Contact, identifier_field: "email", headers, columns, options, schema: None }
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
    fn apostrophes_come_off_only_where_an_errors_file_put_them() {
        let errors_file = rules(&["email", "First Name", "error_row", "error_field", "error_code", "error_message"]);
        let cells = ["a@b.co", "' =1+1", "3", "email", "invalid_email", "x"];
        let c = errors_file.build(1, &rec(&cells)).unwrap();
        assert_eq!(c.fields["first_name"], "=1+1", "neutralized behind a space, restored and trimmed");
        let c = errors_file.build(2, &rec(&["a@b.co", "'Connor", "3", "email", "invalid_email", "x"])).unwrap();
        assert_eq!(c.fields["first_name"], "'Connor", "an apostrophe the errors file did not put stays");
        let plain = rules(&["email", "First Name", "error_message"]);
        let c = plain.build(1, &rec(&["a@b.co", "'=1+1", "x"])).unwrap();
        assert_eq!(c.fields["first_name"], "'=1+1", "not an errors file: the cell is the user's own");
        let mut out = Vec::new();
        let mut identifier = String::new();
        errors_file.plan().encode(1, (&rec(&cells)).into(), &mut out, &mut identifier).unwrap();
        assert!(String::from_utf8(out).unwrap().contains(r#""first_name":"=1+1""#));
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

    #[test]
    fn encoded_rows_are_the_json_of_built_ones() {
        let headers: Vec<String> =
            ["E-mail", "Notes", "Tags", "Status", "Country", "Extra", "First", "Given Name", "Phone", "Skip"]
                .map(String::from)
                .to_vec();
        let explicit = BTreeMap::from([
            ("Notes".to_string(), Some("custom.notes".to_string())),
            ("Extra".to_string(), Some("custom.a_extra".to_string())),
            ("Skip".to_string(), None),
        ]);
        let columns = resolve(ResourceType::Contact, &headers, &explicit).unwrap();
        let mut options = RowOptions::default();
        options.constants.insert("custom.notes".into(), Value::from("constant wins"));
        options.constants.insert("custom.z".into(), Value::from(7));
        options.constants.insert("city".into(), Value::from("Köln"));
        options.value_mappings.insert("status".into(), BTreeMap::from([("Yes".to_string(), "subscribed".to_string())]));
        let rules = RowRules {
            resource: ResourceType::Contact,
            identifier_field: "email",
            headers: &headers,
            columns: &columns,
            options: &options,
            schema: None,
        };
        let rows = [
            ["Ann@Example.COM", "n", "x, y; x", "yes", "Germany", "\"quoted\"\\", "Ann", "Anna", "+49 30 1", ""],
            ["b@c.de", "", "", "", "", "", "", "tab\there\u{7f}\u{1f}", "", "ignored"],
            ["bad", "", "", "nope", "Atlantis", "", "", "", "12", ""],
            ["", "", "", "", "", "", "", "", "", ""],
        ];
        encodes_as_built(&rules, &rows);
        let c = rules.build(1, &csv::StringRecord::from(rows[0].to_vec())).unwrap();
        assert_eq!(
            c.fields["custom"],
            serde_json::json!({"a_extra": "\"quoted\"\\", "notes": "constant wins", "z": 7})
        );
        assert_eq!((c.fields["status"].as_str(), c.fields["first_name"].as_str()), (Some("subscribed"), Some("Ann")));
    }

    /// Each row encoded by the plan is the JSON of the candidate built, or the same errors.
    fn encodes_as_built<const N: usize>(rules: &RowRules, rows: &[[&str; N]]) {
        let plan = rules.plan();
        for (i, values) in rows.iter().enumerate() {
            let record = csv::StringRecord::from(values.to_vec());
            let row = i as u64 + 1;
            let mut out = b"prefix".to_vec();
            // The buffer of the row before, reused.
            let mut identifier = String::from("stale");
            match (rules.build(row, &record), plan.encode(row, (&record).into(), &mut out, &mut identifier)) {
                (Ok(candidate), Ok(())) => {
                    assert_eq!(identifier, candidate.identifier);
                    assert_eq!(out[6..], serde_json::to_vec(&candidate).unwrap()[..], "row {row}");
                }
                (Err(built), Err(encoded)) => {
                    assert_eq!(built, encoded);
                    assert_eq!(out, b"prefix");
                }
                (built, encoded) => panic!("row {row}: {built:?} but {encoded:?}"),
            }
        }
    }

    /// Contacts by email with custom columns `Seats`, `Active`, `Since`, `Seen`, `Plan`, `Price`,
    /// `Site`, then `Phone`, under `schema` and `constants`.
    fn typed_rules(schema: Value, constants: Value) -> RowRules<'static> {
        let headers: Vec<String> =
            ["email", "Seats", "Active", "Since", "Seen", "Plan", "Price", "Site", "Phone"].map(String::from).to_vec();
        let explicit =
            headers[1..8].iter().map(|h| (h.clone(), Some(format!("custom.{}", h.to_lowercase())))).collect();
        let columns = resolve(ResourceType::Contact, &headers, &explicit).unwrap();
        let mut rules = rules_for(&headers, &columns);
        let Value::Object(constants) = constants else { panic!("constants are an object") };
        rules.options = Box::leak(Box::new(RowOptions { constants, ..RowOptions::default() }));
        rules.schema = Some(Box::leak(Box::new(crate::schema::parse(ResourceType::Contact, &schema).unwrap())));
        rules
    }

    fn typed_schema() -> Value {
        serde_json::json!({"fields": {
            "custom.seats": {"type": "integer", "min": 1, "max": 5000},
            "custom.active": {"type": "boolean"},
            "custom.since": {"type": "date"},
            "custom.seen": {"type": "datetime"},
            "custom.plan": {"type": "enum", "values": ["Gold", "Silver"], "required": true},
            "custom.price": {"type": "decimal"},
            "custom.site": {"type": "url"},
            "custom.source": {"type": "integer"},
            "phone": {"pattern": "^\\+"},
        }})
    }

    #[test]
    fn a_schema_types_the_values_of_its_fields() {
        let rules = typed_rules(typed_schema(), serde_json::json!({"custom.source": "7"}));
        let cells = [
            "a@b.co",
            "1,200",
            "Yes",
            "2024-02-29",
            "2024-05-01T10:20:30+02:00",
            "gold",
            "12.50",
            "https://x.io",
            "+1 5555",
        ];
        let c = rules.build(1, &rec(&cells)).unwrap();
        assert_eq!(
            Value::Object(c.fields),
            serde_json::json!({
                "email": "a@b.co",
                "phone": "+1 5555",
                "custom": {"active": true, "plan": "Gold", "price": 12.5, "seats": 1200, "seen": "2024-05-01T08:20:30Z",
                           "since": "2024-02-29", "site": "https://x.io", "source": 7},
            })
        );
        let cells = ["a@b.co", "abc", "maybe", "2023-02-29", "later", "Bronze", "1e5", "x.io", "5555 5555"];
        let errors = rules.build(2, &rec(&cells)).unwrap_err();
        let found: Vec<_> = errors.iter().map(|e| (e.column.as_deref().unwrap(), e.code.as_str())).collect();
        assert_eq!(
            found,
            [
                ("Seats", "invalid_type"),
                ("Active", "invalid_type"),
                ("Since", "invalid_type"),
                ("Seen", "invalid_type"),
                ("Plan", "invalid_enum"),
                ("Price", "invalid_type"),
                ("Site", "invalid_type"),
                ("Phone", "pattern_mismatch"),
            ]
        );
        assert_eq!(errors[0].message, "`abc` is not a whole number");
        assert_eq!(errors[0].field.as_deref(), Some("custom.seats"));
        let errors = rules.build(3, &rec(&["a@b.co", "9000", "", "", "", "", "", "", ""])).unwrap_err();
        let found: Vec<_> = errors.iter().map(|e| (e.column.as_deref().unwrap(), e.code.as_str())).collect();
        assert_eq!(found, [("Seats", "out_of_range"), ("Plan", "required")]);
        assert_eq!(errors[0].message, "9000 is over the maximum 5000");
    }

    #[test]
    fn required_fields_without_a_column_fail_every_row_unless_a_constant_sets_them() {
        let schema =
            serde_json::json!({"fields": {"custom.tier": {"required": true}, "custom.n": {"type": "integer"}}});
        let rules = typed_rules(schema.clone(), serde_json::json!({}));
        let cells = ["a@b.co", "", "", "", "", "", "", "", ""];
        for row in [1, 2] {
            let errors = rules.build(row, &rec(&cells)).unwrap_err();
            let want = RowError {
                row,
                column: None,
                field: Some("custom.tier".into()),
                code: "required".into(),
                message: "`custom.tier` is required: no column maps it and no constant sets it".into(),
            };
            assert_eq!(errors, [want]);
        }
        let rules = typed_rules(schema.clone(), serde_json::json!({"custom.tier": "gold"}));
        assert!(rules.build(1, &rec(&cells)).is_ok());
        let rules = typed_rules(schema, serde_json::json!({"custom.tier": "gold", "custom.n": "many"}));
        let errors = rules.build(1, &rec(&cells)).unwrap_err();
        assert_eq!((errors[0].column.as_deref(), errors[0].field.as_deref()), (None, Some("custom.n")));
        assert_eq!(
            (errors[0].code.as_str(), errors[0].message.as_str()),
            ("invalid_type", "the constant: `many` is not a whole number")
        );
    }

    #[test]
    fn encoded_rows_with_a_schema_are_the_json_of_built_ones() {
        let rules = typed_rules(typed_schema(), serde_json::json!({"custom.source": "7", "city": "Köln"}));
        let rows = [
            [
                "a@b.co",
                "1,200",
                "Yes",
                "2024-02-29T00:00:00",
                "2024-05-01 10:20:30.5",
                "gold",
                "-0.5",
                "http://x.io",
                "+1 5555",
            ],
            ["b@b.co", "5000", "off", "2024-01-01", "2024-05-01T10:20:30Z", "Silver", "3", "https://x.io/a\"b", ""],
            ["c@b.co", "0", "", "", "", "Gold", "", "", "5555"],
            ["d@b.co", "", "", "", "", "", "", "", ""],
        ];
        encodes_as_built(&rules, &rows);
        let built = rows.map(|cells| rules.build(1, &rec(&cells)).is_ok());
        assert_eq!(built, [true, true, false, false], "typed records, then errors");
        let rules = typed_rules(typed_schema(), serde_json::json!({"custom.source": "x"}));
        encodes_as_built(&rules, &rows[..1]);
    }
}
