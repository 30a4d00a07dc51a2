//! `merge`: create the record, or update the fields the file maps, and tell which it was.
//! How each field is updated is its update rule (`update_rule`,
//! `update_rule_by_field`): by default a value from the file replaces the stored one and a
//! null clears it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::record::{Fields, StoredRecord};
use crate::sync::Changes;
use crate::validate::Candidate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateRule {
    /// The file's value replaces the stored one; a null clears it.
    #[default]
    Always,
    /// Only values the file has replace stored ones; its nulls change nothing.
    IfNewIsNotNull,
    /// Only fields the record lacks are set.
    IfExistingIsNull,
    /// Each field by `update_rule_by_field`, the others `always`.
    UseFieldRule,
}

impl UpdateRule {
    pub const NAMES: [&'static str; 4] = ["always", "if_new_is_not_null", "if_existing_is_null", "use_field_rule"];

    pub fn parse(s: &str) -> Option<Self> {
        let all = [Self::Always, Self::IfNewIsNotNull, Self::IfExistingIsNull, Self::UseFieldRule];
        Self::NAMES.iter().position(|n| *n == s).map(|i| all[i])
    }
}

/// `import_rule`: which rows may create records and which may update them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportRule {
    #[default]
    CreateAndUpdate,
    /// Existing records are left untouched.
    CreateOnly,
    /// Unknown identifiers are warnings; nothing is created.
    UpdateOnly,
}

impl ImportRule {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create_and_update" => Some(Self::CreateAndUpdate),
            "create_only" => Some(Self::CreateOnly),
            "update_only" => Some(Self::UpdateOnly),
            _ => None,
        }
    }
}

/// The update rules of an import: one for every field, or one per field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRules {
    #[serde(default)]
    pub update_rule: UpdateRule,
    /// Fields by name (`custom.x` for custom ones), with `use_field_rule`.
    #[serde(default)]
    pub update_rule_by_field: BTreeMap<String, UpdateRule>,
}

impl UpdateRules {
    fn rule_of(&self, field: &str) -> UpdateRule {
        match self.update_rule {
            UpdateRule::UseFieldRule => self.update_rule_by_field.get(field).copied().unwrap_or_default(),
            rule => rule,
        }
    }
}

/// The outcome and, unless unchanged, the record to write.
pub fn merge(
    existing: Option<&StoredRecord>,
    candidate: &Candidate,
    import_id: &str,
    now: OffsetDateTime,
    rules: &UpdateRules,
    changes: &Changes,
) -> (Outcome, Option<StoredRecord>) {
    let fields = |old: Fields| {
        let mut fields = apply(old, &candidate.fields, rules, "");
        changes.apply(&mut fields);
        fields
    };
    match existing {
        None => {
            let record = StoredRecord {
                identifier: candidate.identifier.clone(),
                fields: fields(Map::new()),
                created_at: now,
                updated_at: now,
                last_import_id: import_id.to_string(),
                version: 1,
                seen_by: None,
            };
            (Outcome::Created, Some(record))
        }
        Some(old) => {
            let fields = fields(old.fields.clone());
            if fields == old.fields {
                return (Outcome::Unchanged, None);
            }
            let record = StoredRecord {
                fields,
                updated_at: now,
                last_import_id: import_id.to_string(),
                version: old.version + 1,
                ..old.clone()
            };
            (Outcome::Updated, Some(record))
        }
    }
}

/// `prefix` names the fields of a nested map (`custom.`) as rules know them.
fn apply(mut fields: Fields, changes: &Fields, rules: &UpdateRules, prefix: &str) -> Fields {
    for (name, value) in changes {
        if let ("", "custom", Value::Object(custom)) = (prefix, name.as_str(), value) {
            let merged = match fields.remove("custom") {
                Some(Value::Object(old)) => apply(old, custom, rules, "custom."),
                _ => apply(Map::new(), custom, rules, "custom."),
            };
            if !merged.is_empty() {
                fields.insert("custom".into(), Value::Object(merged));
            }
            continue;
        }
        let stored = fields.get(name).is_some_and(|v| !v.is_null());
        let write = match rules.rule_of(&format!("{prefix}{name}")) {
            UpdateRule::Always | UpdateRule::UseFieldRule => true,
            UpdateRule::IfNewIsNotNull => !value.is_null(),
            UpdateRule::IfExistingIsNull => !stored,
        };
        match (write, value) {
            (false, _) => {}
            (true, Value::Null) => {
                fields.remove(name);
            }
            (true, _) => {
                fields.insert(name.clone(), value.clone());
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn candidate(fields: Value) -> Candidate {
        Candidate { row: 1, identifier: "a@b.co".into(), fields: fields.as_object().unwrap().clone() }
    }

    #[test]
    fn creates_without_nulls() {
        let (o, r) = merge(
            None,
            &candidate(json!({"email": "a@b.co", "phone": null})),
            "imp_1",
            OffsetDateTime::UNIX_EPOCH,
            &UpdateRules::default(),
            &Changes::default(),
        );
        assert_eq!(o, Outcome::Created);
        let r = r.unwrap();
        assert_eq!(Value::Object(r.fields), json!({"email": "a@b.co"}));
        assert_eq!(r.version, 1);
    }

    #[test]
    fn same_values_are_unchanged_and_new_ones_update() {
        let (_, first) = merge(
            None,
            &candidate(json!({"email": "a@b.co", "custom": {"x": "1"}})),
            "imp_1",
            OffsetDateTime::UNIX_EPOCH,
            &UpdateRules::default(),
            &Changes::default(),
        );
        let first = first.unwrap();
        let (o, r) = merge(
            Some(&first),
            &candidate(json!({"email": "a@b.co", "custom": {"x": "1"}})),
            "imp_2",
            OffsetDateTime::UNIX_EPOCH,
            &UpdateRules::default(),
            &Changes::default(),
        );
        assert_eq!((o, r), (Outcome::Unchanged, None));
        let (o, r) = merge(
            Some(&first),
            &candidate(json!({"first_name": "Ann", "custom": {"x": null}})),
            "imp_2",
            OffsetDateTime::UNIX_EPOCH,
            &UpdateRules::default(),
            &Changes::default(),
        );
        assert_eq!(o, Outcome::Updated);
        let r = r.unwrap();
        assert_eq!(Value::Object(r.fields), json!({"email": "a@b.co", "first_name": "Ann"}));
        assert_eq!((r.version, r.last_import_id.as_str()), (2, "imp_2"));
    }

    #[test]
    fn each_update_rule_decides_per_field() {
        let stored = candidate(json!({"email": "a@b.co", "phone": "+1 555 0100", "custom": {"tier": "gold"}}));
        let (_, old) =
            merge(None, &stored, "imp_1", OffsetDateTime::UNIX_EPOCH, &UpdateRules::default(), &Changes::default());
        let old = old.unwrap();
        let row = candidate(json!({"phone": null, "city": "Köln", "custom": {"tier": "silver", "seats": "3"}}));
        let run = |rules: UpdateRules| {
            let (_, r) = merge(Some(&old), &row, "imp_2", OffsetDateTime::UNIX_EPOCH, &rules, &Changes::default());
            Value::Object(r.unwrap().fields)
        };
        let rule = |update_rule| UpdateRules { update_rule, ..UpdateRules::default() };
        assert_eq!(
            run(rule(UpdateRule::Always)),
            json!({"email": "a@b.co", "city": "Köln", "custom": {"tier": "silver", "seats": "3"}})
        );
        assert_eq!(
            run(rule(UpdateRule::IfNewIsNotNull)),
            json!({"email": "a@b.co", "phone": "+1 555 0100", "city": "Köln", "custom": {"tier": "silver", "seats": "3"}})
        );
        assert_eq!(
            run(rule(UpdateRule::IfExistingIsNull)),
            json!({"email": "a@b.co", "phone": "+1 555 0100", "city": "Köln", "custom": {"tier": "gold", "seats": "3"}})
        );
        let by_field = UpdateRules {
            update_rule: UpdateRule::UseFieldRule,
            update_rule_by_field: BTreeMap::from([
                ("phone".to_string(), UpdateRule::IfNewIsNotNull),
                ("custom.tier".to_string(), UpdateRule::IfExistingIsNull),
            ]),
        };
        assert_eq!(
            run(by_field),
            json!({"email": "a@b.co", "phone": "+1 555 0100", "city": "Köln", "custom": {"tier": "gold", "seats": "3"}})
        );
    }
}
