//! Records: the resource types a tenant imports, each described by one table (its fields with
//! their rules and synonyms, its identifier and alternate identifier), and the records stored.
//! A new type is a table like [`CONTACT`] and its registration in [`ResourceType`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::fields::{Rule, Violation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Contact,
    Group,
    Account,
}

/// A record type, whole.
#[derive(Debug)]
pub struct TypeSpec {
    /// Its name in the API and in the store's keys.
    pub name: &'static str,
    /// The field records are keyed by.
    pub identifier: &'static str,
    /// The one other field records can be matched on, kept unique per tenant by an index the
    /// process step maintains with every record write.
    pub alternate: Option<&'static str>,
    /// The known fields; any `custom.<name>` is accepted besides these. A header matches the
    /// first field it names.
    pub fields: &'static [FieldSpec],
}

/// A known field of a record type.
#[derive(Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    pub rule: Rule,
    /// Other names a file's header may give it, in lower-case letters and digits only (the
    /// field's own name matches too).
    pub synonyms: &'static [&'static str],
}

const fn field(name: &'static str, rule: Rule, synonyms: &'static [&'static str]) -> FieldSpec {
    FieldSpec { name, rule, synonyms }
}

pub const CONTACT: TypeSpec = TypeSpec {
    name: "contact",
    identifier: "email",
    alternate: Some("external_id"),
    fields: &[
        field(
            "email",
            Rule::Email,
            &["emailaddress", "mail", "primaryemail", "primaryemailaddress", "workemail", "contactemail"],
        ),
        field("external_id", Rule::Short, &["externalid", "contactid"]),
        field("first_name", Rule::Short, &["first", "firstname", "givenname", "fname", "forename"]),
        field("last_name", Rule::Short, &["last", "lastname", "surname", "familyname", "lname"]),
        field(
            "phone",
            Rule::Phone,
            &["phonenumber", "primaryphone", "telephone", "tel", "mobile", "mobilephone", "cellphone", "workphone"],
        ),
        field("company", Rule::Short, &["companyname", "organization", "organisation", "employer"]),
        field("title", Rule::Short, &["jobtitle", "position"]),
        field("city", Rule::Short, &["town", "mailingcity"]),
        field("region", Rule::Short, &["state", "province", "stateprovince", "mailingstate", "county"]),
        field("country", Rule::Country, &["countrycode", "mailingcountry"]),
        field(
            "postal_code",
            Rule::Short,
            &["postcode", "zip", "zipcode", "postalcode", "mailingpostalcode", "mailingzip"],
        ),
        field("status", Rule::Status, &[]),
        field("groups", Rule::List, &[]),
        field("tags", Rule::List, &[]),
    ],
};

pub const ACCOUNT: TypeSpec = TypeSpec {
    name: "account",
    identifier: "external_id",
    alternate: Some("domain"),
    fields: &[
        field("external_id", Rule::Short, &["externalid", "accountid"]),
        field("name", Rule::Short, &["accountname", "companyname", "company", "organization"]),
        field("domain", Rule::Domain, &["website", "companydomain"]),
        field("industry", Rule::Short, &[]),
        field("phone", Rule::Phone, &[]),
        field("city", Rule::Short, &[]),
        field("country", Rule::Country, &[]),
        field("employees", Rule::Integer, &["numberofemployees", "employeecount", "headcount"]),
        field("annual_revenue", Rule::Decimal, &["revenue", "annualrevenue"]),
        field("tags", Rule::List, &[]),
    ],
};

pub const GROUP: TypeSpec = TypeSpec {
    name: "group",
    identifier: "name",
    alternate: None,
    fields: &[
        field("name", Rule::Short, &["groupname", "group", "list", "listname"]),
        field("description", Rule::Long, &[]),
        field("tags", Rule::List, &[]),
    ],
};

impl ResourceType {
    /// Every type, in the order the API names them.
    pub const ALL: [ResourceType; 3] = [Self::Contact, Self::Group, Self::Account];

    /// The type's table.
    pub fn spec(self) -> &'static TypeSpec {
        match self {
            Self::Contact => &CONTACT,
            Self::Group => &GROUP,
            Self::Account => &ACCOUNT,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    pub fn default_identifier(self) -> &'static str {
        self.spec().identifier
    }

    /// A known field of the type (not a custom one).
    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.spec().fields.iter().find(|f| f.name == name)
    }

    /// The type with its fields, for a message about a name that is none of them: a person
    /// should not have to look the fields up elsewhere.
    pub fn with_fields(self) -> String {
        let names: Vec<&str> = self.spec().fields.iter().map(|f| f.name).collect();
        format!("{} ({}, or custom.<name>)", self.as_str(), names.join(", "))
    }

    pub fn has_field(self, field: &str) -> bool {
        self.field(field).is_some() || custom_name(field).is_some()
    }

    /// The rule a field's values follow: custom fields take any text a field may hold.
    pub fn rule(self, field: &str) -> Rule {
        match self.field(field) {
            Some(known) => known.rule,
            None if field.starts_with("custom.") => Rule::Long,
            None => Rule::Short,
        }
    }

    /// `value` of `field` checked and normalized.
    pub fn check(self, field: &str, value: &str) -> Result<Value, Violation> {
        self.rule(field).check(field, value).map(crate::fields::Checked::into_value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_registered_under_its_own_name() {
        for resource in ResourceType::ALL {
            assert_eq!(ResourceType::parse(resource.as_str()), Some(resource));
            let json = serde_json::to_value(resource).unwrap();
            assert_eq!(json, Value::String(resource.as_str().into()), "the stored name is the table's");
        }
        assert_eq!(ResourceType::parse("contacts"), None);
    }

    #[test]
    fn tables_are_consistent() {
        for resource in ResourceType::ALL {
            let spec = resource.spec();
            assert!(resource.field(spec.identifier).is_some(), "{}: the identifier is a field", spec.name);
            assert!(
                spec.alternate.is_none_or(|a| resource.field(a).is_some() && a != spec.identifier),
                "{}",
                spec.name
            );
            // A header is squashed before it is matched: a synonym that is not squashed never
            // matches, and one that two fields share matches the first only.
            let mut claimed = std::collections::HashMap::new();
            for field in spec.fields {
                let own: String = field.name.chars().filter(char::is_ascii_alphanumeric).collect();
                let names: std::collections::HashSet<&str> =
                    field.synonyms.iter().copied().chain([own.as_str()]).collect();
                for name in names {
                    assert!(
                        name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                        "{}: {name}",
                        spec.name
                    );
                    let first = claimed.insert(name.to_string(), field.name);
                    assert_eq!(first, None, "{}: `{name}` names {} and {}", spec.name, field.name, first.unwrap_or(""));
                }
            }
        }
    }

    #[test]
    fn fields_follow_their_tables_rule_and_custom_fields_take_long_text() {
        assert_eq!(ResourceType::Contact.rule("email"), Rule::Email);
        assert_eq!(ResourceType::Account.rule("domain"), Rule::Domain);
        assert_eq!(ResourceType::Group.rule("description"), Rule::Long);
        assert_eq!(ResourceType::Group.rule("tags"), Rule::List);
        assert_eq!(ResourceType::Contact.rule("custom.notes"), Rule::Long);
        assert!(ResourceType::Contact.has_field("custom.notes"));
        assert!(!ResourceType::Contact.has_field("custom."));
        assert!(!ResourceType::Group.has_field("email"));
    }
}
