//! Tenant schemas (docs/api.md, Tenant schemas): a tenant's own rules for the fields of a
//! resource type, on top of the built-in ones: a type for each custom field, fields it requires,
//! ranges, lengths, patterns and choices. A definition is checked whole when it is put, and its
//! patterns are compiled once, when it is read, never per row.

use std::borrow::Cow;
use std::cmp::Ordering;

use std::collections::{BTreeMap, HashSet};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::FieldError;
use crate::fields::{self, Checked, Rule, Violation};
use crate::record::{custom_name, ResourceType};

/// A schema defines at most this many fields.
pub const MAX_FIELDS: usize = 500;
/// Field names, patterns and enum values: at most 1 KB each.
pub const MAX_TEXT: usize = 1024;
/// An enum has at most this many values.
pub const MAX_VALUES: usize = 1000;
/// What a pattern may compile to: a pattern is checked against every cell of its column.
const PATTERN_BYTES: usize = 1 << 20;

/// A tenant's schema of one resource type: a definition per field it sets rules for. Serialized
/// as `{"fields": {...}}`, the way the API shows it and the store keeps it; a request body is
/// read with [`parse`], which names every wrong rule, and a stored schema with `Deserialize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: BTreeMap<String, FieldDef>,
}

/// The type of a custom field's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    String,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    Email,
    Phone,
    Url,
    Enum,
}

/// The rules of one field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// A custom field's type; none on a built-in field, which keeps its own rule.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FieldType>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Number>,
    /// In characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
    /// An enum's values, each the canonical spelling of itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A regular expression of the `regex` crate, compiled when the definition is read. A value
/// matches when the expression matches anywhere in it: `^...$` makes it match the whole value.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl Pattern {
    /// Compiled within a size limit; why not, for people, when it does not compile.
    pub fn new(source: &str) -> Result<Self, String> {
        let compiled = RegexBuilder::new(source).size_limit(PATTERN_BYTES).dfa_size_limit(PATTERN_BYTES).build();
        compiled.map(Self).map_err(|e| {
            let why = match e {
                regex::Error::CompiledTooBig(_) => format!("it compiles to over {PATTERN_BYTES} bytes"),
                // The last line says what is wrong; the lines before it repeat the pattern.
                e => e.to_string().lines().last().unwrap_or_default().trim_start_matches("error: ").to_string(),
            };
            format!(
                "the pattern does not compile: {why}. Patterns are of the Rust regex crate, which only takes \
                 linear-time expressions (no look-around, no back-references)"
            )
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.0.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Pattern::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.get(name)
    }
}

/// What a definition makes of a value's text: the text as it is, or a value of the field's type.
enum Typed<'d> {
    Same,
    New(Checked<'d>),
}

impl FieldDef {
    /// A value as its field's rule left it, checked against the definition and given its type.
    pub fn check<'v>(&'v self, value: Checked<'v>) -> Result<Checked<'v>, Violation> {
        let typed = match &value {
            Checked::Null => return self.present(value),
            Checked::List(items) if items.is_empty() => return self.present(value),
            Checked::List(_) => return Ok(value),
            Checked::Text(text) => self.typed(text)?,
            // A constant the import already typed.
            Checked::Bool(b) => self.typed(if *b { "true" } else { "false" })?,
            // A number already (a constant typed at create): its text may be `1e-6`, which no
            // file's decimal is, so only its range is checked.
            Checked::Number(n) if matches!(self.kind, Some(FieldType::Decimal)) => {
                self.in_range(n)?;
                Typed::Same
            }
            Checked::Number(n) if matches!(self.kind, Some(FieldType::Integer)) && (n.is_i64() || n.is_u64()) => {
                self.in_range(n)?;
                Typed::Same
            }
            // A built-in number (`employees`): its text meets the rules.
            Checked::Number(n) => self.typed(&n.to_string())?,
        };
        match typed {
            Typed::Same => Ok(value),
            Typed::New(typed) => Ok(typed),
        }
    }

    /// A value as text, its field's rule already applied (the empty text is null): checked and
    /// typed as a record holds it. For constants, before an import takes them.
    pub fn check_value(&self, value: &str) -> Result<Value, Violation> {
        let checked = if value.is_empty() { Checked::Null } else { Checked::Text(Cow::Borrowed(value)) };
        self.check(checked).map(Checked::into_value)
    }

    /// A constant as the import keeps it, checked and typed.
    pub fn check_constant(&self, value: &Value) -> Result<Value, Violation> {
        let checked = match value {
            Value::Null => Checked::Null,
            Value::String(text) => return self.check_value(text),
            Value::Number(n) => Checked::Number(n.clone()),
            Value::Bool(b) => Checked::Bool(*b),
            Value::Array(items) => Checked::List(items.iter().filter_map(Value::as_str).collect()),
            Value::Object(_) => return Ok(value.clone()),
        };
        self.check(checked).map(Checked::into_value)
    }

    /// An empty value: fine unless the field is required.
    fn present<'v>(&self, value: Checked<'v>) -> Result<Checked<'v>, Violation> {
        match self.required {
            true => Err(("required", "a value is required".into())),
            false => Ok(value),
        }
    }

    /// `text` as a value of the field's type, within its rules.
    fn typed(&self, text: &str) -> Result<Typed<'_>, Violation> {
        let typed = match self.kind.unwrap_or_default() {
            FieldType::String => Typed::Same,
            FieldType::Integer => {
                let n = fields::without_separators(text).parse::<i64>().map_err(|_| not_a(text, "whole number"))?;
                Typed::New(Checked::Number(n.into()))
            }
            FieldType::Decimal => {
                let plain = fields::without_separators(text);
                let n = Some(&plain)
                    .filter(|plain| fields::is_decimal(plain))
                    .and_then(|plain| Number::from_f64(plain.parse().ok()?))
                    .ok_or_else(|| not_a(text, "decimal number"))?;
                Typed::New(Checked::Number(n))
            }
            FieldType::Boolean => Typed::New(Checked::Bool(boolean(text)?)),
            FieldType::Date => date(text)?,
            FieldType::Datetime => Typed::New(Checked::Text(Cow::Owned(datetime(text)?))),
            FieldType::Email => as_built_in(Rule::Email, text)?,
            FieldType::Phone => as_built_in(Rule::Phone, text)?,
            FieldType::Url => match url::Url::parse(text) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()) =>
                {
                    Typed::Same
                }
                _ => return Err(not_a(text, "http or https URL")),
            },
            FieldType::Enum => self.choice(text)?,
        };
        if let Typed::New(Checked::Number(n)) = &typed {
            self.in_range(n)?;
        }
        if let Some(max) = self.max_length {
            let chars = text.chars().count() as u64;
            if chars > max {
                return Err(("too_long", format!("{chars} characters; the maximum is {max}")));
            }
        }
        match &self.pattern {
            Some(pattern) if !pattern.is_match(text) => {
                Err(("pattern_mismatch", format!("`{text}` does not match the pattern `{}`", pattern.as_str())))
            }
            _ => Ok(typed),
        }
    }

    /// One of the enum's values: as written, else ignoring case, as the definition spells it.
    fn choice(&self, text: &str) -> Result<Typed<'_>, Violation> {
        if self.values.iter().any(|v| v == text) {
            return Ok(Typed::Same);
        }
        fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
            s.chars().flat_map(char::to_lowercase)
        }
        match self.values.iter().find(|v| folded(v).eq(folded(text))) {
            Some(v) => Ok(Typed::New(Checked::Text(Cow::Borrowed(v)))),
            None => {
                let listed = self.values.iter().take(10).map(String::as_str).collect::<Vec<_>>().join(", ");
                let more = if self.values.len() > 10 { ", ..." } else { "" };
                Err(("invalid_enum", format!("`{text}` is not one of {listed}{more}")))
            }
        }
    }

    fn in_range(&self, n: &Number) -> Result<(), Violation> {
        if let Some(min) = self.min.as_ref().filter(|min| order(n, min) == Some(Ordering::Less)) {
            return Err(("out_of_range", format!("{n} is under the minimum {min}")));
        }
        if let Some(max) = self.max.as_ref().filter(|max| order(n, max) == Some(Ordering::Greater)) {
            return Err(("out_of_range", format!("{n} is over the maximum {max}")));
        }
        Ok(())
    }
}

/// A built-in rule's check, under the code of a value of the wrong type.
fn as_built_in(rule: Rule, text: &str) -> Result<Typed<'static>, Violation> {
    match rule.check("", text) {
        Ok(_) => Ok(Typed::Same),
        Err((_, message)) => Err(("invalid_type", message)),
    }
}

fn not_a(text: &str, what: &str) -> Violation {
    ("invalid_type", format!("`{text}` is not a {what}"))
}

/// Whole numbers compared exactly; others as floating point.
fn order(a: &Number, b: &Number) -> Option<Ordering> {
    let whole = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (whole(a), whole(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn boolean(text: &str) -> Result<bool, Violation> {
    let is = |words: [&str; 5]| words.iter().any(|w| w.eq_ignore_ascii_case(text));
    if is(["true", "yes", "y", "1", "on"]) {
        Ok(true)
    } else if is(["false", "no", "n", "0", "off"]) {
        Ok(false)
    } else {
        Err(("invalid_type", format!("`{text}` is not true or false (true/false, yes/no, y/n, 1/0, on/off)")))
    }
}

/// `YYYY-MM-DD`, also as a workbook's midnight `YYYY-MM-DDT00:00:00`.
fn date(text: &str) -> Result<Typed<'static>, Violation> {
    let (day, time) = text.split_at_checked(10).unwrap_or((text, ""));
    let valid = day.starts_with(|c: char| c.is_ascii_digit())
        && time::Date::parse(day, format_description!("[year]-[month]-[day]")).is_ok();
    match (valid, time) {
        (true, "") => Ok(Typed::Same),
        (true, "T00:00:00") => Ok(Typed::New(Checked::Text(Cow::Owned(day.to_string())))),
        _ => Err(("invalid_type", format!("`{text}` is not a date (YYYY-MM-DD)"))),
    }
}

/// RFC 3339, or without an offset (`T` or a space between date and time) taken as UTC: in
/// RFC 3339 in UTC.
fn datetime(text: &str) -> Result<String, Violation> {
    let naive =
        format_description!("[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second][optional [.[subsecond]]]");
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| PrimitiveDateTime::parse(text, naive).map(PrimitiveDateTime::assume_utc))
        .map(|at| crate::time_fmt::rfc3339(at.to_offset(UtcOffset::UTC)))
        .map_err(|_| {
            ("invalid_type", format!("`{text}` is not a date and time (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)"))
        })
}

/// The types' names, for messages.
const TYPES: &str = "string, integer, decimal, boolean, date, datetime, email, phone, url, enum";

/// The rules a definition may hold.
const RULES: [&str; 7] = ["type", "required", "min", "max", "max_length", "pattern", "values"];

/// What a definition defines.
#[derive(Clone, Copy)]
enum Target {
    /// A built-in list (`tags`, `groups`).
    List,
    BuiltIn,
    Custom(FieldType),
}

impl Target {
    /// Why `rule` does not apply to the field, when it does not.
    fn refuses(self, rule: &str) -> Option<&'static str> {
        use FieldType::*;
        let (takes, why): (&[&str], _) = match self {
            Target::List => (&[], "a list field takes `required` only"),
            Target::BuiltIn => {
                (&["max_length", "pattern"], "a built-in field takes required, max_length and pattern only")
            }
            Target::Custom(Integer | Decimal) => {
                (&["type", "min", "max"], "a number takes type, required, min and max")
            }
            Target::Custom(Enum) => (&["type", "values"], "an enum takes type, required and values"),
            Target::Custom(String | Email | Phone | Url) => {
                (&["type", "max_length", "pattern"], "a text takes type, required, max_length and pattern")
            }
            Target::Custom(Boolean | Date | Datetime) => {
                (&["type"], "a boolean, date or datetime takes type and required")
            }
        };
        (rule != "required" && !takes.contains(&rule)).then_some(why)
    }
}

/// A schema from a request body `{"fields": {"<field>": {definition}}}`, or an error for every
/// wrong part of it, named `fields.<field>.<rule>`.
pub fn parse(resource: ResourceType, body: &Value) -> Result<Schema, Vec<FieldError>> {
    let Some(body) = body.as_object() else {
        return Err(vec![FieldError::new("body", "invalid", "a schema is an object with `fields`")]);
    };
    let mut errors: Vec<FieldError> = body
        .keys()
        .filter(|key| *key != "fields")
        .map(|key| FieldError::new(named("body", key), "unknown_field", "a schema takes `fields` only"))
        .collect();
    let fields = match body.get("fields") {
        Some(Value::Object(fields)) if fields.len() <= MAX_FIELDS => fields,
        Some(Value::Object(_)) => {
            errors.push(FieldError::new("fields", "too_many", format!("at most {MAX_FIELDS} fields")));
            return Err(errors);
        }
        _ => {
            errors.push(FieldError::new("fields", "invalid", "`fields` is an object of field to definition"));
            return Err(errors);
        }
    };
    let mut schema = Schema::default();
    for (name, definition) in fields {
        if let Some(def) = field_def(resource, name, definition, &mut errors) {
            schema.fields.insert(name.clone(), def);
        }
    }
    if errors.is_empty() {
        Ok(schema)
    } else {
        Err(errors)
    }
}

/// `parent.key` as an error's field, or the parent alone when the key is too long to echo.
fn named(parent: &str, key: &str) -> String {
    match key.len() <= MAX_TEXT {
        true => format!("{parent}.{key}"),
        false => parent.to_string(),
    }
}

/// One field's definition, its errors into `errors`.
fn field_def(resource: ResourceType, name: &str, definition: &Value, errors: &mut Vec<FieldError>) -> Option<FieldDef> {
    let at = named("fields", name);
    let target = match resource.field(name) {
        _ if name.len() > MAX_TEXT => {
            errors.push(FieldError::new(at, "invalid", format!("a field name is at most {MAX_TEXT} bytes")));
            return None;
        }
        Some(known) if known.rule == Rule::List => Target::List,
        Some(_) => Target::BuiltIn,
        None if custom_name(name).is_some() => Target::Custom(FieldType::default()),
        None => {
            let message = format!("not a field of {}", resource.with_fields());
            errors.push(FieldError::new(at, "unknown_field", message));
            return None;
        }
    };
    let Some(rules) = definition.as_object() else {
        errors.push(FieldError::new(at, "invalid", "a definition is an object of rules"));
        return None;
    };
    let before = errors.len();
    let mut def = FieldDef::default();
    let target = match (target, rules.get("type")) {
        (Target::Custom(_), Some(kind)) => match FieldType::deserialize(kind) {
            Ok(kind) => Target::Custom(kind),
            Err(_) => {
                errors.push(FieldError::new(format!("{at}.type"), "invalid", format!("a type is one of {TYPES}")));
                return None;
            }
        },
        (target, _) => target,
    };
    if let Target::Custom(kind) = target {
        def.kind = Some(kind);
    }
    for (rule, value) in rules {
        let path = named(&at, rule);
        if !RULES.contains(&rule.as_str()) {
            let message = format!("`{rule}` is not a rule; a definition takes {}", RULES.join(", "));
            errors.push(FieldError::new(path, "unknown_field", message));
            continue;
        }
        if let Some(why) = target.refuses(rule) {
            errors.push(FieldError::new(path, "invalid", why));
            continue;
        }
        let read = match rule.as_str() {
            "required" => value.as_bool().map(|b| def.required = b).ok_or_else(|| "true or false".into()),
            "min" => value.as_number().map(|n| def.min = Some(n.clone())).ok_or_else(|| "a number".into()),
            "max" => value.as_number().map(|n| def.max = Some(n.clone())).ok_or_else(|| "a number".into()),
            "max_length" => {
                let n = value.as_u64().filter(|n| *n >= 1);
                n.map(|n| def.max_length = Some(n)).ok_or_else(|| "a whole number of 1 or more".into())
            }
            "pattern" => match value.as_str() {
                Some(p) if p.len() > MAX_TEXT => Err(format!("a pattern is at most {MAX_TEXT} bytes")),
                Some(p) => Pattern::new(p).map(|p| def.pattern = Some(p)),
                None => Err("a regular expression, as a string".into()),
            },
            "values" => enum_values(value).map(|values| def.values = values),
            // The type is read above.
            _ => Ok(()),
        };
        if let Err(message) = read {
            errors.push(FieldError::new(path, "invalid", message));
        }
    }
    if def.kind == Some(FieldType::Enum) && !rules.contains_key("values") {
        errors.push(FieldError::new(format!("{at}.values"), "invalid", "an enum takes its `values`"));
    }
    if let (Some(min), Some(max)) = (&def.min, &def.max) {
        if order(min, max) == Some(Ordering::Greater) {
            errors.push(FieldError::new(format!("{at}.min"), "invalid", format!("{min} is over the maximum {max}")));
        }
    }
    (errors.len() == before).then_some(def)
}

/// 1 to [`MAX_VALUES`] distinct strings, none empty, each at most [`MAX_TEXT`] bytes.
fn enum_values(value: &Value) -> Result<Vec<String>, String> {
    let wrong = || format!("1 to {MAX_VALUES} distinct strings, none empty, each at most {MAX_TEXT} bytes");
    let items = value.as_array().filter(|items| (1..=MAX_VALUES).contains(&items.len())).ok_or_else(wrong)?;
    let mut seen = HashSet::new();
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let value = item.as_str().filter(|s| !s.is_empty() && s.len() <= MAX_TEXT).ok_or_else(wrong)?;
        if !seen.insert(value) {
            return Err(format!("`{value}` is there twice"));
        }
        values.push(value.to_string());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(definition: Value) -> FieldDef {
        let mut schema = parse(ResourceType::Contact, &json!({"fields": {"custom.x": definition}})).unwrap();
        schema.fields.remove("custom.x").unwrap()
    }

    /// The errors of a body, as `field code`.
    fn refusals(body: Value) -> Vec<String> {
        let errors = parse(ResourceType::Contact, &body).unwrap_err();
        errors.iter().map(|e| format!("{} {}", e.field, e.code)).collect()
    }

    #[test]
    fn every_wrong_rule_is_named() {
        let body = json!({"fields": {
            "custom.type": {"type": "integr"},
            "custom.range": {"type": "integer", "min": 5, "max": 1},
            "custom.backref": {"pattern": "(a)\\1"},
            "custom.lookahead": {"pattern": "a(?=b)"},
            "custom.not_enum": {"type": "string", "values": ["x"]},
            "custom.no_values": {"type": "enum"},
            "custom.twice": {"type": "enum", "values": ["a", "a"]},
            "custom.empty": {"type": "enum", "values": []},
            "custom.rule": {"colour": "red"},
            "custom.shapes": {"required": "yes", "max_length": 0, "pattern": 3},
            "custom.flag": {"type": "boolean", "min": 1},
            "custom.number": {"type": "decimal", "max_length": 3},
            "custom.not_a_definition": 3,
            "phone": {"type": "string", "min": 1},
            "tags": {"max_length": 3, "required": true},
            "nope": {},
            "custom.": {},
        }});
        let mut want = vec![
            "fields.custom.type.type invalid",
            "fields.custom.range.min invalid",
            "fields.custom.backref.pattern invalid",
            "fields.custom.lookahead.pattern invalid",
            "fields.custom.not_enum.values invalid",
            "fields.custom.no_values.values invalid",
            "fields.custom.twice.values invalid",
            "fields.custom.empty.values invalid",
            "fields.custom.rule.colour unknown_field",
            "fields.custom.shapes.required invalid",
            "fields.custom.shapes.max_length invalid",
            "fields.custom.shapes.pattern invalid",
            "fields.custom.flag.min invalid",
            "fields.custom.number.max_length invalid",
            "fields.custom.not_a_definition invalid",
            "fields.phone.type invalid",
            "fields.phone.min invalid",
            "fields.tags.max_length invalid",
            "fields.nope unknown_field",
            "fields.custom. unknown_field",
        ];
        let mut got = refusals(body);
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn patterns_that_are_not_linear_time_say_why() {
        let errors = parse(ResourceType::Contact, &json!({"fields": {"custom.x": {"pattern": "(a)\\1"}}})).unwrap_err();
        assert!(errors[0].message.contains("no look-around, no back-references"), "{}", errors[0].message);
        assert!(!errors[0].message.contains('\n'), "{}", errors[0].message);
        let huge = Pattern::new(r"\w{1000}\w{1000}").unwrap_err();
        assert!(huge.contains(&format!("over {PATTERN_BYTES} bytes")), "{huge}");
        let long = "a".repeat(MAX_TEXT + 1);
        assert_eq!(refusals(json!({"fields": {"custom.x": {"pattern": long}}})), ["fields.custom.x.pattern invalid"]);
    }

    #[test]
    fn bodies_and_field_maps_of_the_wrong_shape() {
        assert_eq!(refusals(json!([])), ["body invalid"]);
        assert_eq!(refusals(json!({})), ["fields invalid"]);
        assert_eq!(refusals(json!({"fields": []})), ["fields invalid"]);
        assert_eq!(refusals(json!({"fields": {}, "version": 2})), ["body.version unknown_field"]);
        let many: serde_json::Map<String, Value> =
            (0..=MAX_FIELDS).map(|i| (format!("custom.f{i}"), json!({}))).collect();
        assert_eq!(refusals(json!({ "fields": many })), ["fields too_many"]);
        let long = format!("custom.{}", "x".repeat(MAX_TEXT));
        assert_eq!(refusals(json!({"fields": {long: {}}})), ["fields invalid"]);
        let values: Vec<String> = (0..=MAX_VALUES).map(|i| i.to_string()).collect();
        assert_eq!(
            refusals(json!({"fields": {"custom.x": {"type": "enum", "values": values}}})),
            ["fields.custom.x.values invalid"]
        );
        assert!(parse(ResourceType::Group, &json!({"fields": {"phone": {}}})).is_err(), "not a group's field");
    }

    #[test]
    fn schemas_read_back_as_they_are_shown() {
        let body = json!({"fields": {
            "custom.seats": {"type": "integer", "min": 1, "max": 1e3, "required": true},
            "custom.plan": {"type": "enum", "values": ["Gold", "Silver"]},
            "custom.note": {"max_length": 10, "pattern": "^[a-z]+$"},
            "phone": {"required": true, "pattern": "^\\+"},
            "tags": {"required": false},
        }});
        let schema = parse(ResourceType::Contact, &body).unwrap();
        let shown = serde_json::to_value(&schema).unwrap();
        assert_eq!(
            shown,
            json!({"fields": {
                "custom.note": {"type": "string", "required": false, "max_length": 10, "pattern": "^[a-z]+$"},
                "custom.plan": {"type": "enum", "required": false, "values": ["Gold", "Silver"]},
                "custom.seats": {"type": "integer", "required": true, "min": 1, "max": 1000.0},
                "phone": {"required": true, "pattern": "^\\+"},
                "tags": {"required": false},
            }})
        );
        let stored = Schema::deserialize(&shown).unwrap();
        assert_eq!(stored, schema);
        assert!(stored.field("custom.note").unwrap().pattern.as_ref().unwrap().is_match("abc"), "compiled as read");
        assert!(Schema::deserialize(&json!({"fields": {"custom.x": {"pattern": "(a)\\1"}}})).is_err());
    }

    /// `value` of a field defined as `definition`: its JSON, or its error code.
    fn checked(definition: &FieldDef, value: &str) -> Result<Value, &'static str> {
        definition.check_value(value).map_err(|(code, _)| code)
    }

    #[test]
    fn each_type_takes_its_values_and_gives_them_their_json() {
        let huge = "9".repeat(400);
        let cases = [
            (
                json!({"type": "integer"}),
                vec![
                    ("1,200", Ok(json!(1200))),
                    ("-5", Ok(json!(-5))),
                    ("1.5", Err("invalid_type")),
                    ("abc", Err("invalid_type")),
                ],
            ),
            (
                json!({"type": "decimal"}),
                vec![
                    ("-1,234.50", Ok(json!(-1234.5))),
                    ("7", Ok(json!(7.0))),
                    ("1e5", Err("invalid_type")),
                    ("$12", Err("invalid_type")),
                    (&huge, Err("invalid_type")),
                ],
            ),
            (
                json!({"type": "boolean"}),
                vec![
                    ("Yes", Ok(json!(true))),
                    ("OFF", Ok(json!(false))),
                    ("1", Ok(json!(true))),
                    ("n", Ok(json!(false))),
                    ("maybe", Err("invalid_type")),
                ],
            ),
            (
                json!({"type": "date"}),
                vec![
                    ("2024-02-29", Ok(json!("2024-02-29"))),
                    ("2024-02-29T00:00:00", Ok(json!("2024-02-29"))),
                    ("2023-02-29", Err("invalid_type")),
                    ("2024-2-1", Err("invalid_type")),
                    ("+202-01-01", Err("invalid_type")),
                    ("2024-02-29T10:00:00", Err("invalid_type")),
                    ("2024-02-2é", Err("invalid_type")),
                ],
            ),
            (
                json!({"type": "datetime"}),
                vec![
                    ("2024-05-01T10:20:30+02:00", Ok(json!("2024-05-01T08:20:30Z"))),
                    ("2024-05-01 10:20:30", Ok(json!("2024-05-01T10:20:30Z"))),
                    ("2024-05-01T10:20:30.250", Ok(json!("2024-05-01T10:20:30.25Z"))),
                    ("2024-05-01", Err("invalid_type")),
                    ("yesterday", Err("invalid_type")),
                ],
            ),
            (
                json!({"type": "email"}),
                vec![("Ann@Example.com", Ok(json!("Ann@Example.com"))), ("nope", Err("invalid_type"))],
            ),
            (
                json!({"type": "phone"}),
                vec![("+1 (213) 222-3333", Ok(json!("+1 (213) 222-3333"))), ("call me", Err("invalid_type"))],
            ),
            (
                json!({"type": "url"}),
                vec![
                    ("https://example.com/x?y", Ok(json!("https://example.com/x?y"))),
                    ("http://localhost:8080", Ok(json!("http://localhost:8080"))),
                    ("ftp://example.com", Err("invalid_type")),
                    ("example.com", Err("invalid_type")),
                    ("http://", Err("invalid_type")),
                ],
            ),
            (
                json!({"type": "enum", "values": ["Gold", "Silver", "Ärger"]}),
                vec![
                    ("Gold", Ok(json!("Gold"))),
                    ("sILVER", Ok(json!("Silver"))),
                    ("ärger", Ok(json!("Ärger"))),
                    ("Bronze", Err("invalid_enum")),
                ],
            ),
            (json!({"type": "string"}), vec![("anything", Ok(json!("anything"))), ("", Ok(Value::Null))]),
        ];
        for (definition, values) in cases {
            let field = def(definition.clone());
            for (value, want) in values {
                assert_eq!(checked(&field, value), want, "{definition} {value}");
            }
        }
    }

    #[test]
    fn rules_bound_values_in_plain_words() {
        let seats = def(json!({"type": "integer", "min": 1, "max": 10, "required": true}));
        assert_eq!(seats.check_value("42"), Err(("out_of_range", "42 is over the maximum 10".into())));
        assert_eq!(seats.check_value("0"), Err(("out_of_range", "0 is under the minimum 1".into())));
        assert_eq!(seats.check_value("abc"), Err(("invalid_type", "`abc` is not a whole number".into())));
        assert_eq!(seats.check_value(""), Err(("required", "a value is required".into())));
        assert_eq!(checked(&seats, "10"), Ok(json!(10)));
        let price = def(json!({"type": "decimal", "min": 0.5, "max": 9007199254740993u64}));
        assert_eq!(checked(&price, "0.25"), Err("out_of_range"));
        assert_eq!(checked(&price, "0.5"), Ok(json!(0.5)));
        let code = def(json!({"max_length": 3, "pattern": "^[A-Z]+$"}));
        assert_eq!(checked(&code, "ABC"), Ok(json!("ABC")));
        assert_eq!(checked(&code, "ABCD"), Err("too_long"));
        assert_eq!(checked(&code, "AbC"), Err("pattern_mismatch"));
        assert_eq!(checked(&def(json!({"max_length": 3})), "ÄÖÜ"), Ok(json!("ÄÖÜ")), "characters, not bytes");
        assert_eq!(checked(&def(json!({"pattern": "b"})), "abc"), Ok(json!("abc")), "unanchored: anywhere");
    }

    #[test]
    fn constants_are_checked_and_typed_as_cells_are() {
        let seats = def(json!({"type": "integer", "max": 10}));
        assert_eq!(seats.check_constant(&json!("7")), Ok(json!(7)));
        assert_eq!(seats.check_constant(&json!(7)), Ok(json!(7)));
        assert_eq!(seats.check_constant(&json!("70")).map_err(|e| e.0), Err("out_of_range"));
        let flag = def(json!({"type": "boolean", "required": true}));
        assert_eq!(flag.check_constant(&json!(true)), Ok(json!(true)));
        assert_eq!(flag.check_constant(&Value::Null).map_err(|e| e.0), Err("required"));
        let employees = FieldDef { pattern: Some(Pattern::new("^[0-9]{1,3}$").unwrap()), ..FieldDef::default() };
        assert_eq!(employees.check_constant(&json!(120)), Ok(json!(120)), "a built-in number stays one");
        assert_eq!(employees.check_constant(&json!(1200)).map_err(|e| e.0), Err("pattern_mismatch"));
        let tags = FieldDef { required: true, ..FieldDef::default() };
        assert_eq!(tags.check_constant(&json!(["a"])), Ok(json!(["a"])));
        assert_eq!(tags.check_constant(&json!([])).map_err(|e| e.0), Err("required"));
        // A constant typed at create is checked again when the run is planned, as a number.
        let score = def(json!({"type": "decimal", "max": 1}));
        let typed = score.check_constant(&json!("0.000001")).unwrap();
        assert_eq!(score.check_constant(&typed), Ok(json!(0.000001)), "1e-6 is a decimal");
        assert_eq!(score.check_constant(&json!(2.5)).map_err(|e| e.0), Err("out_of_range"));
        assert_eq!(seats.check_constant(&json!(1.5)).map_err(|e| e.0), Err("invalid_type"));
    }
}
