//! The request bodies as typed structs. Every field says how it was sent, so a value of the
//! wrong type does not stop the decoding: each wrong field is named in one answer.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use domain::dedup::Duplicates;
use domain::error::FieldError;
use domain::import::{Compression, Format, Mode, SheetRef};
use domain::merge::{ImportRule, UpdateRule};
use domain::options::Action;
use domain::record::ResourceType;

/// A body field as sent: absent, null, a value of its type, or a value of another type (kept, so
/// the error can tell what it was).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Sent<T> {
    #[default]
    Absent,
    Null,
    Valid(T),
    Invalid(Value),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Sent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Sent::Null,
            value => match T::deserialize(&value) {
                Ok(valid) => Sent::Valid(valid),
                Err(_) => Sent::Invalid(value),
            },
        })
    }
}

/// One of an enum's names as sent: only a string is one (serde alone also takes the object
/// `{"name": null}` for a unit variant).
fn name_of<T: DeserializeOwned>(value: Value) -> Sent<T> {
    match value {
        Value::Null => Sent::Null,
        Value::String(_) => match T::deserialize(&value) {
            Ok(valid) => Sent::Valid(valid),
            Err(_) => Sent::Invalid(value),
        },
        other => Sent::Invalid(other),
    }
}

fn name<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<Sent<T>, D::Error> {
    Value::deserialize(deserializer).map(name_of)
}

/// An object of names, each as sent.
fn names<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<Sent<Entries<T>>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => Sent::Null,
        Value::Object(m) => Sent::Valid(m.into_iter().map(|(k, v)| (k, name_of(v))).collect()),
        other => Sent::Invalid(other),
    })
}

impl<T> Sent<T> {
    pub(super) fn is_absent(&self) -> bool {
        matches!(self, Sent::Absent)
    }

    /// The value; absent or null is none. Anything else is the error `wrong` makes.
    pub(super) fn optional(self, errors: &mut Vec<FieldError>, wrong: impl FnOnce() -> FieldError) -> Option<T> {
        match self {
            Sent::Absent | Sent::Null => None,
            Sent::Valid(value) => Some(value),
            Sent::Invalid(_) => {
                errors.push(wrong());
                None
            }
        }
    }

    /// The value, or `default` when absent; null or a value of another type is the error
    /// `wrong` makes (and `default` stands in).
    pub(super) fn or_default(self, default: T, errors: &mut Vec<FieldError>, wrong: impl FnOnce() -> FieldError) -> T {
        match self {
            Sent::Absent => default,
            Sent::Valid(value) => value,
            Sent::Null | Sent::Invalid(_) => {
                errors.push(wrong());
                default
            }
        }
    }
}

/// An object whose every value is as sent.
pub(super) type Entries<T> = BTreeMap<String, Sent<T>>;

/// `POST /v1/imports`. Unknown fields are collected, not refused one at a time.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CreateBody {
    #[serde(deserialize_with = "name")]
    pub resource_type: Sent<ResourceType>,
    #[serde(deserialize_with = "name")]
    pub action: Sent<Action>,
    #[serde(deserialize_with = "name")]
    pub format: Sent<Format>,
    #[serde(deserialize_with = "name")]
    pub compression: Sent<Compression>,
    pub zip_entry: Sent<String>,
    pub xlsx: Sent<XlsxBody>,
    pub upload: Sent<UploadBody>,
    pub source: Sent<SourceBody>,
    #[serde(deserialize_with = "name")]
    pub mode: Sent<Mode>,
    pub identifier_field: Sent<String>,
    pub mappings: Sent<Entries<String>>,
    pub reference: Sent<String>,
    pub reference_origin: Sent<String>,
    pub metadata: Sent<Entries<String>>,
    pub retention: Sent<String>,
    pub constants: Sent<Entries<Constant>>,
    pub tags: Sent<Vec<Sent<String>>>,
    pub value_mappings: Sent<Entries<Entries<String>>>,
    #[serde(deserialize_with = "name")]
    pub duplicates: Sent<Duplicates>,
    pub max_error_ratio: Sent<f64>,
    pub max_errors: Sent<u64>,
    pub template: Sent<Value>,
    pub inputs: Sent<Vec<Value>>,
    pub csv: Sent<CsvBody>,
    pub in_preview: Sent<bool>,
    pub dry_run: Sent<bool>,
    #[serde(deserialize_with = "name")]
    pub import_rule: Sent<ImportRule>,
    #[serde(deserialize_with = "name")]
    pub update_rule: Sent<UpdateRule>,
    #[serde(deserialize_with = "names")]
    pub update_rule_by_field: Sent<Entries<UpdateRule>>,
    pub sync_actions: Sent<Vec<Sent<SyncActionBody>>>,
    pub max_removed_ratio: Sent<f64>,
    pub webhook_url: Sent<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A constant as sent; it is stored as its text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(super) enum Constant {
    Text(String),
    Number(Number),
    Flag(bool),
}

/// `csv`. The flattened `unknown` also keeps an array from decoding as the struct's fields in
/// order: only an object is a `csv`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct CsvBody {
    pub delimiter: Sent<String>,
    pub encoding: Sent<String>,
    pub has_header: Sent<bool>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// `xlsx`: which sheet imports; like `CsvBody`, an object only.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct XlsxBody {
    pub sheet: Sent<SheetRef>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// `upload`: what the client says of the file it will send; an object only.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct UploadBody {
    pub size: Sent<u64>,
    pub multipart: Sent<bool>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// `source`: `url`, or `s3` with its fields; objects only.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct SourceBody {
    pub url: Sent<String>,
    pub s3: Sent<S3Body>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct S3Body {
    pub bucket: Sent<String>,
    pub key: Sent<String>,
    pub role_arn: Sent<String>,
    pub external_id: Sent<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// One of `sync_actions`: `action` with a `group` or a `status`; like `CsvBody`, an object only.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct SyncActionBody {
    pub action: Sent<String>,
    pub group: Sent<String>,
    pub status: Sent<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A body that is valid JSON and an object, as the object.
pub(super) fn decode_object(body: &[u8]) -> Result<Map<String, Value>, FieldError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(FieldError::new("body", "invalid_json", "the body must be a JSON object")),
        Err(e) => Err(FieldError::new("body", "invalid_json", format!("the body is not valid JSON: {e}"))),
    }
}

/// An object's fields as `T`'s.
pub(super) fn from_object<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, FieldError> {
    // Every field is a `Sent` and unknown ones are collected: an object always decodes.
    serde_json::from_value(Value::Object(object)).map_err(|e| FieldError::new("body", "invalid_json", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: &str) -> CreateBody {
        from_object(decode_object(body.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn each_field_says_how_it_was_sent() {
        let body = create(r#"{"action":"delete","format":7,"mode":null,"dry_run":true,"colour":"red"}"#);
        assert_eq!(body.action, Sent::Valid(Action::Delete));
        assert_eq!(body.format, Sent::Invalid(Value::from(7)));
        assert_eq!(body.mode, Sent::Null);
        assert_eq!(body.resource_type, Sent::Absent);
        assert_eq!(body.dry_run, Sent::Valid(true));
        assert_eq!(body.unknown.keys().collect::<Vec<_>>(), ["colour"]);
    }

    #[test]
    fn a_wrong_entry_is_kept_beside_the_right_ones() {
        let body = create(r#"{"mappings":{"A":"email","B":null,"C":3},"tags":["x",1]}"#);
        let Sent::Valid(mappings) = body.mappings else { panic!("{:?}", body.mappings) };
        assert_eq!(mappings["A"], Sent::Valid("email".into()));
        assert_eq!(mappings["B"], Sent::Null);
        assert_eq!(mappings["C"], Sent::Invalid(Value::from(3)));
        assert_eq!(body.tags, Sent::Valid(vec![Sent::Valid("x".into()), Sent::Invalid(Value::from(1))]));
    }

    #[test]
    fn objects_only_decode_as_objects() {
        // Without the flattened map, serde would take an array for the fields in order.
        let body = create(r#"{"csv":[";","utf-8",true],"sync_actions":[["add","vip"],{"action":"add","x":1}]}"#);
        assert!(matches!(body.csv, Sent::Invalid(Value::Array(_))), "{:?}", body.csv);
        let Sent::Valid(actions) = body.sync_actions else { panic!("{:?}", body.sync_actions) };
        assert!(matches!(actions[0], Sent::Invalid(Value::Array(_))), "{:?}", actions[0]);
        let Sent::Valid(second) = &actions[1] else { panic!("{:?}", actions[1]) };
        assert_eq!(second.unknown.keys().collect::<Vec<_>>(), ["x"]);
    }

    #[test]
    fn a_name_is_a_string() {
        let body = create(
            r#"{"action":{"merge":null},"mode":"sync","update_rule_by_field":{"a":"always","b":{"always":null}}}"#,
        );
        assert!(matches!(body.action, Sent::Invalid(Value::Object(_))), "{:?}", body.action);
        assert_eq!(body.mode, Sent::Valid(Mode::Sync));
        let Sent::Valid(rules) = body.update_rule_by_field else { panic!() };
        assert_eq!(rules["a"], Sent::Valid(UpdateRule::Always));
        assert!(matches!(rules["b"], Sent::Invalid(Value::Object(_))), "{:?}", rules["b"]);
        assert_eq!(create(r#"{"format":"xml"}"#).format, Sent::Invalid(Value::from("xml")));
    }

    #[test]
    fn constants_keep_their_text() {
        let body = create(r#"{"constants":{"a":" x ","b":1.5,"c":false,"d":null,"e":[1]}}"#);
        let Sent::Valid(c) = body.constants else { panic!() };
        assert_eq!(c["a"], Sent::Valid(Constant::Text(" x ".into())));
        assert_eq!(c["b"], Sent::Valid(Constant::Number(Number::from_f64(1.5).unwrap())));
        assert_eq!(c["c"], Sent::Valid(Constant::Flag(false)));
        assert_eq!(c["d"], Sent::Null);
        assert!(matches!(c["e"], Sent::Invalid(_)));
    }

    #[test]
    fn only_a_json_object_is_a_body() {
        let field = |body: &str| decode_object(body.as_bytes()).unwrap_err();
        assert_eq!(field("[1]").message, "the body must be a JSON object");
        assert!(field("{").message.starts_with("the body is not valid JSON: "));
        assert_eq!(decode_object(br#"{"interrupt":null,"x":1}"#).unwrap().len(), 2);
    }
}
