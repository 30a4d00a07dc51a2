//! Mapping file headers to record fields (`mappings`): explicit mappings first, then
//! auto-matching that ignores case and punctuation and knows common synonyms.

use std::collections::BTreeMap;

use crate::error::FieldError;
use crate::options::Action;
use crate::record::ResourceType;

/// Per file column, the field it feeds (None: ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    pub columns: Vec<Option<String>>,
    /// Headers that matched no field and were not mapped explicitly.
    pub unmapped: Vec<String>,
}

impl ColumnMap {
    /// Every header with its field or null, as the import reports its resolved `mappings`.
    /// Headers without a name are left out: they can only be ignored, and resolve so again.
    pub fn resolved(&self, headers: &[String]) -> BTreeMap<String, Option<String>> {
        headers.iter().cloned().zip(self.columns.iter().cloned()).filter(|(h, _)| !h.is_empty()).collect()
    }

    pub fn column_of(&self, field: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.as_deref() == Some(field))
    }

    /// The columns rows are read with: a delete needs only the identifier, so no other value
    /// can make its row an error.
    pub fn for_action(&self, action: Action, identifier_field: &str) -> Self {
        match action {
            Action::Merge | Action::Overwrite => self.clone(),
            Action::Delete => {
                let columns = self.columns.iter().map(|c| c.clone().filter(|f| f == identifier_field)).collect();
                Self { columns, unmapped: self.unmapped.clone() }
            }
        }
    }
}

/// Lower-case letters and digits only: `E-mail Address` → `emailaddress`.
pub fn squash(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

fn auto_match(resource: ResourceType, header: &str) -> Option<String> {
    // A header named as a custom field (as JSON's nested `custom` objects flatten) is that field.
    if crate::record::custom_name(header).is_some() {
        return Some(header.to_string());
    }
    let key = squash(header);
    if key.is_empty() {
        return None;
    }
    let found = resource.spec().fields.iter().find(|f| squash(f.name) == key || f.synonyms.contains(&key.as_str()));
    found.map(|f| f.name.to_string())
}

/// Columns our own errors files add; ignored so a fixed errors file imports as it is.
fn is_error_column(header: &str) -> bool {
    matches!(header, "error_row" | "error_field" | "error_code" | "error_message")
}

/// Resolves every header to a field. Explicit mappings win: by the header's own name, else by a
/// name that differs only in case and punctuation (a template's `E-Mail` is a file's `email`);
/// a field claimed twice, or an explicit mapping to an unknown field, is an error naming the
/// header.
pub fn resolve(
    resource: ResourceType,
    headers: &[String],
    explicit: &BTreeMap<String, Option<String>>,
) -> Result<ColumnMap, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut columns: Vec<Option<String>> = Vec::with_capacity(headers.len());
    let mut unmapped = Vec::new();
    let alike: BTreeMap<String, &Option<String>> = explicit
        .iter()
        .filter(|(h, _)| !headers.contains(h))
        .map(|(h, f)| (squash(h), f))
        .filter(|(key, _)| !key.is_empty())
        .collect();
    let mapped = |header: &String| explicit.get(header).or_else(|| alike.get(&squash(header)).copied());
    // The fields explicit mappings of the file's headers take.
    let claimed: Vec<&String> = headers.iter().filter_map(|h| mapped(h)?.as_ref()).collect();
    for header in headers {
        let field = match mapped(header) {
            Some(target) => target.clone(),
            None if is_error_column(header) => None,
            None => {
                let found = auto_match(resource, header);
                // An explicit mapping elsewhere takes the field; auto-matching never steals it.
                let taken = found.as_ref().is_some_and(|f| claimed.contains(&f));
                if found.is_none() || taken {
                    unmapped.push(header.clone());
                    None
                } else {
                    found
                }
            }
        };
        if let Some(f) = &field {
            if !resource.has_field(f) {
                errors.push(FieldError::new(
                    format!("mappings.{header}"),
                    "unknown_field",
                    format!("`{f}` is not a field of {}", resource.with_fields()),
                ));
            } else if columns.iter().any(|c| c.as_ref() == Some(f)) {
                // Two columns for one field: the second loses, so no value is silently replaced.
                unmapped.push(header.clone());
                columns.push(None);
                continue;
            }
        }
        columns.push(field);
    }
    if errors.is_empty() {
        Ok(ColumnMap { columns, unmapped })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn auto_matches_case_punctuation_and_synonyms() {
        let h = headers(&["E-mail Address", "First Name", "lname", "Zip Code", "Mailing State", "Favourite Colour"]);
        let m = resolve(ResourceType::Contact, &h, &BTreeMap::new()).unwrap();
        assert_eq!(
            m.columns,
            vec![
                Some("email".into()),
                Some("first_name".into()),
                Some("last_name".into()),
                Some("postal_code".into()),
                Some("region".into()),
                None
            ]
        );
        assert_eq!(m.unmapped, vec!["Favourite Colour".to_string()]);
    }

    #[test]
    fn mpdx_spouse_email_is_not_the_email() {
        let h = headers(&["Primary Email", "Spouse Email", "email-address"]);
        let m = resolve(ResourceType::Contact, &h, &BTreeMap::new()).unwrap();
        assert_eq!(m.column_of("email"), Some(0));
        assert_eq!(m.unmapped, vec!["Spouse Email".to_string(), "email-address".to_string()]);
    }

    #[test]
    fn a_mapping_of_a_header_spelled_otherwise_or_absent() {
        let h = headers(&["email", "Plan Name", "Mail"]);
        let explicit = BTreeMap::from([
            ("E-Mail".to_string(), Some("email".to_string())),
            ("plan_name".to_string(), Some("custom.plan".to_string())),
            ("Mail".to_string(), None),
        ]);
        let m = resolve(ResourceType::Contact, &h, &explicit).unwrap();
        assert_eq!(m.columns, [Some("email".into()), Some("custom.plan".into()), None]);
        // A mapping of a header the file lacks takes no field from the headers it has.
        let absent = BTreeMap::from([("Primary Mail".to_string(), Some("email".to_string()))]);
        let m = resolve(ResourceType::Contact, &headers(&["Email"]), &absent).unwrap();
        assert_eq!(m.column_of("email"), Some(0));
    }

    #[test]
    fn explicit_mappings_win_and_null_ignores() {
        let h = headers(&["Email", "Work", "Notes"]);
        let explicit = BTreeMap::from([
            ("Work".to_string(), Some("email".to_string())),
            ("Notes".to_string(), Some("custom.notes".to_string())),
            ("Email".to_string(), None),
        ]);
        let m = resolve(ResourceType::Contact, &h, &explicit).unwrap();
        assert_eq!(m.columns, vec![None, Some("email".into()), Some("custom.notes".into())]);
        assert!(m.unmapped.is_empty());
    }

    #[test]
    fn explicit_unknown_field_names_the_header() {
        let h = headers(&["A"]);
        let explicit = BTreeMap::from([("A".to_string(), Some("shoe_size".to_string()))]);
        let errs = resolve(ResourceType::Contact, &h, &explicit).unwrap_err();
        assert_eq!(errs[0].field, "mappings.A");
    }

    #[test]
    fn custom_headers_map_to_custom_fields() {
        let h = headers(&["email", "custom.plan", "custom."]);
        let m = resolve(ResourceType::Account, &h, &BTreeMap::new()).unwrap();
        assert_eq!(m.columns, vec![None, Some("custom.plan".into()), None]);
    }

    #[test]
    fn error_columns_of_our_errors_file_are_ignored() {
        let h = headers(&["email", "error_row", "error_message"]);
        let m = resolve(ResourceType::Contact, &h, &BTreeMap::new()).unwrap();
        assert_eq!(m.columns, vec![Some("email".into()), None, None]);
        assert!(m.unmapped.is_empty());
    }
}
