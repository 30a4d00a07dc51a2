//! `sync`: what an import does to every record it writes besides its mapped fields (the create
//! fields `tags`, `sync_actions`): tags and groups are added to what the record has, groups removed
//! from it, a status set. They apply on top of the merged fields, so a record keeps the tags
//! and groups it had; a group a contact is added to exists as a group record.

use crate::record::Fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One of an import's `sync_actions` (contacts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SyncAction {
    Add { group: String },
    Remove { group: String },
    SetStatus { status: String },
}

/// An import's changes to every record it writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Added to every record's `tags`.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub sync_actions: Vec<SyncAction>,
}

impl Changes {
    pub fn apply(&self, fields: &mut Fields) {
        add(fields, "tags", &self.tags);
        for action in &self.sync_actions {
            match action {
                SyncAction::Add { group } => add(fields, "groups", std::slice::from_ref(group)),
                SyncAction::Remove { group } => remove(fields, "groups", group),
                SyncAction::SetStatus { status } => {
                    fields.insert("status".into(), Value::String(status.clone()));
                }
            }
        }
    }

    /// The groups contacts are added to.
    pub fn added_groups(&self) -> impl Iterator<Item = &str> {
        self.sync_actions.iter().filter_map(|a| match a {
            SyncAction::Add { group } => Some(group.as_str()),
            _ => None,
        })
    }
}

fn list(fields: &mut Fields, name: &str) -> Vec<Value> {
    match fields.remove(name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn add(fields: &mut Fields, name: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let mut items = list(fields, name);
    for value in values {
        let value = Value::String(value.clone());
        if !items.contains(&value) {
            items.push(value);
        }
    }
    fields.insert(name.into(), Value::Array(items));
}

fn remove(fields: &mut Fields, name: &str, value: &str) {
    let mut items = list(fields, name);
    items.retain(|v| v.as_str() != Some(value));
    // An empty list is no list: values are null when empty.
    if !items.is_empty() {
        fields.insert(name.into(), Value::Array(items));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn actions_add_to_and_remove_from_what_the_record_has() {
        let changes = Changes {
            tags: vec!["imported".into(), "vip".into()],
            sync_actions: vec![
                SyncAction::Add { group: "Donors".into() },
                SyncAction::Remove { group: "Prospects".into() },
                SyncAction::SetStatus { status: "subscribed".into() },
            ],
        };
        let mut record = fields(json!({"tags": ["vip", "old"], "groups": ["Prospects", "Staff"], "status": "pending"}));
        changes.apply(&mut record);
        assert_eq!(
            Value::Object(record),
            json!({"tags": ["vip", "old", "imported"], "groups": ["Staff", "Donors"], "status": "subscribed"})
        );
        let mut bare = fields(json!({"email": "a@b.co", "groups": ["Prospects"]}));
        Changes { sync_actions: vec![SyncAction::Remove { group: "Prospects".into() }], ..Changes::default() }
            .apply(&mut bare);
        assert_eq!(Value::Object(bare), json!({"email": "a@b.co"}), "an emptied list is no list");
    }

    #[test]
    fn actions_read_and_write_as_spec_shows_them() {
        let actions: Vec<SyncAction> = serde_json::from_value(
            json!([{"action": "add", "group": "A"}, {"action": "set_status", "status": "bounced"}]),
        )
        .unwrap();
        assert_eq!(actions[0], SyncAction::Add { group: "A".into() });
        assert_eq!(serde_json::to_value(&actions[1]).unwrap(), json!({"action": "set_status", "status": "bounced"}));
    }
}
