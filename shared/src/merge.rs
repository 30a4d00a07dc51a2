//! `merge`: create the record, or update the fields the file maps, and tell which it was.
//! A null from the file clears the field (update rule `always`).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::record::{Fields, StoredRecord};
use crate::validate::Candidate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// The outcome and, unless unchanged, the record to write.
pub fn merge(
    existing: Option<&StoredRecord>,
    candidate: &Candidate,
    import_id: &str,
    now: OffsetDateTime,
) -> (Outcome, Option<StoredRecord>) {
    match existing {
        None => {
            let record = StoredRecord {
                identifier: candidate.identifier.clone(),
                fields: apply(Map::new(), &candidate.fields),
                created_at: now,
                updated_at: now,
                last_import_id: import_id.to_string(),
                version: 1,
            };
            (Outcome::Created, Some(record))
        }
        Some(old) => {
            let fields = apply(old.fields.clone(), &candidate.fields);
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

fn apply(mut fields: Fields, changes: &Fields) -> Fields {
    for (name, value) in changes {
        match (name.as_str(), value) {
            ("custom", Value::Object(custom)) => {
                let merged = match fields.remove("custom") {
                    Some(Value::Object(old)) => apply(old, custom),
                    _ => apply(Map::new(), custom),
                };
                if !merged.is_empty() {
                    fields.insert("custom".into(), Value::Object(merged));
                }
            }
            (_, Value::Null) => {
                fields.remove(name);
            }
            _ => {
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
        let (o, r) =
            merge(None, &candidate(json!({"email": "a@b.co", "phone": null})), "imp_1", OffsetDateTime::UNIX_EPOCH);
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
        );
        let first = first.unwrap();
        let (o, r) = merge(
            Some(&first),
            &candidate(json!({"email": "a@b.co", "custom": {"x": "1"}})),
            "imp_2",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!((o, r), (Outcome::Unchanged, None));
        let (o, r) = merge(
            Some(&first),
            &candidate(json!({"first_name": "Ann", "custom": {"x": null}})),
            "imp_2",
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(o, Outcome::Updated);
        let r = r.unwrap();
        assert_eq!(Value::Object(r.fields), json!({"email": "a@b.co", "first_name": "Ann"}));
        assert_eq!((r.version, r.last_import_id.as_str()), (2, "imp_2"));
    }
}
