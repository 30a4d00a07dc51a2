//! Identifiers (`identifier_field`): records are keyed by their type's default
//! identifier; a type may also be matched on one alternate field, kept unique per tenant by an
//! index the process step maintains with every record write (`external_id` for contacts,
//! `domain` for accounts).

use serde_json::Value;

use crate::record::{Fields, ResourceType};
use crate::validate::normalize_identifier;

/// The field besides the default identifier that records of this type can be matched on.
pub fn alternate(resource: ResourceType) -> Option<&'static str> {
    resource.spec().alternate
}

/// The fields an import may match records on.
pub fn allowed(resource: ResourceType) -> Vec<&'static str> {
    std::iter::once(resource.default_identifier()).chain(alternate(resource)).collect()
}

/// A record's value of `field`, as matching compares it.
pub fn value_of(resource: ResourceType, field: &str, fields: &Fields) -> Option<String> {
    match fields.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(normalize_identifier(resource, field, s.trim())),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_type_matches_on_its_default_and_its_alternate() {
        assert_eq!(allowed(ResourceType::Contact), ["email", "external_id"]);
        assert_eq!(allowed(ResourceType::Account), ["external_id", "domain"]);
        assert_eq!(allowed(ResourceType::Group), ["name"]);
    }

    #[test]
    fn values_compare_as_matching_does() {
        let fields =
            json!({"email": " Ann@Example.com ", "external_id": "", "phone": null}).as_object().cloned().unwrap();
        assert_eq!(value_of(ResourceType::Contact, "email", &fields).as_deref(), Some("ann@example.com"));
        assert_eq!(value_of(ResourceType::Contact, "external_id", &fields), None);
        assert_eq!(value_of(ResourceType::Contact, "phone", &fields), None);
    }
}
