//! Records: the resource types a tenant imports and the fields each one has (SPEC §6).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Contact,
    Group,
    Account,
}

impl ResourceType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contact" => Some(Self::Contact),
            "group" => Some(Self::Group),
            "account" => Some(Self::Account),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Group => "group",
            Self::Account => "account",
        }
    }

    pub fn default_identifier(self) -> &'static str {
        match self {
            Self::Contact => "email",
            Self::Account => "external_id",
            Self::Group => "name",
        }
    }

    /// The known fields; any `custom.<name>` is accepted besides these.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Contact => &[
                "email",
                "external_id",
                "first_name",
                "last_name",
                "phone",
                "company",
                "title",
                "city",
                "region",
                "country",
                "postal_code",
                "status",
                "groups",
                "tags",
            ],
            Self::Account => &[
                "external_id",
                "name",
                "domain",
                "industry",
                "phone",
                "city",
                "country",
                "employees",
                "annual_revenue",
                "tags",
            ],
            Self::Group => &["name", "description", "tags"],
        }
    }

    pub fn has_field(self, field: &str) -> bool {
        self.fields().contains(&field) || custom_name(field).is_some()
    }
}

/// `custom.x` → `x`, for fields that land in the record's `custom` map.
pub fn custom_name(field: &str) -> Option<&str> {
    field.strip_prefix("custom.").filter(|n| !n.is_empty())
}

/// A record's fields as written: known fields at the top, custom ones under `custom`.
pub type Fields = Map<String, Value>;

/// A record as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub identifier: String,
    pub fields: Fields,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub last_import_id: String,
    /// Bumped on every write; writers condition on the version they read.
    pub version: u64,
    /// The last `overwrite` import whose file named the record: its cleanup keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<String>,
}

impl StoredRecord {
    /// The record as the API shows it: its fields, then the bookkeeping the store keeps.
    pub fn to_json(&self) -> Value {
        let mut out = self.fields.clone();
        out.insert("created_at".into(), Value::String(crate::time_fmt::rfc3339(self.created_at)));
        out.insert("updated_at".into(), Value::String(crate::time_fmt::rfc3339(self.updated_at)));
        out.insert("last_import_id".into(), Value::String(self.last_import_id.clone()));
        Value::Object(out)
    }
}
