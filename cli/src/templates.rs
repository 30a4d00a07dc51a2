//! `importctl templates`: a tenant's saved import settings (docs/api.md, Templates). `save`
//! makes one of the settings an import ran with, so the next file of its kind takes them with
//! `importctl import FILE --template ID` (or `--template auto`).

use reqwest::Method;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::routes::{import_path, template_path, with_query};
use crate::summary::{self, emit, Output};
use crate::{outcome, CliError};

#[derive(Debug, clap::Subcommand)]
pub enum TemplatesCommand {
    /// The tenant's templates, each at its latest version.
    List {
        #[arg(long, value_parser = ["contact", "group", "account"])]
        resource_type: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One template, at its latest version or at --version.
    Show {
        id: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Save the settings an import ran with (its resolved mappings once its file was read) as
    /// a new template.
    Save {
        name: String,
        /// The import whose settings to save.
        #[arg(long = "from", value_name = "IMPORT_ID")]
        from: String,
    },
    /// Delete a template with every version; imports that took it keep their settings.
    Delete { id: String },
}

/// The settings a template holds, each with the value an import shows when it was not set: a
/// template holds only what differs from the defaults.
const SETTINGS: [(&str, Option<&str>); 12] = [
    ("mappings", None),
    ("value_mappings", None),
    ("constants", None),
    ("tags", None),
    ("update_rule", Some("always")),
    ("update_rule_by_field", None),
    ("import_rule", Some("create_and_update")),
    ("duplicates", Some("last")),
    ("csv", None),
    ("format", Some("auto")),
    ("compression", Some("auto")),
    ("xlsx", None),
];

pub async fn run(api: &Api, command: &TemplatesCommand, output: Output) -> Result<u8, CliError> {
    match command {
        TemplatesCommand::List { resource_type, limit, cursor } => {
            let query = [
                ("resource_type", resource_type.clone()),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor.clone()),
            ];
            let page = api.get(&with_query("/v1/templates", &query)).await?;
            match output {
                Output::Json => emit(format_args!("{page}\n")),
                Output::Table => emit(summary::templates_table(&page)),
            }
        }
        TemplatesCommand::Show { id, version } => {
            let path = with_query(&template_path(id), &[("version", version.map(|v| v.to_string()))]);
            show(&api.get(&path).await?, output);
        }
        TemplatesCommand::Save { name, from } => {
            let import = api.get(&import_path(from)).await?;
            let body = template_body(name, &import)?;
            show(&api.call(Method::POST, "/v1/templates", Some(&body)).await?, output);
        }
        TemplatesCommand::Delete { id } => {
            api.call(Method::DELETE, &template_path(id), None).await?;
            if output == Output::Table {
                emit(format_args!("template {id} deleted\n"));
            }
        }
    }
    Ok(outcome::OK)
}

fn show(template: &Value, output: Output) {
    match output {
        Output::Json => emit(format_args!("{template}\n")),
        Output::Table => emit(summary::template_table(template)),
    }
}

/// The body of a template named `name` holding the settings `import` shows, as the create body
/// takes them back: unset ones (defaults, empties, nulls) left out, as the API refuses some of
/// them (a null `csv.delimiter`, an empty `update_rule_by_field` without `use_field_rule`).
pub fn template_body(name: &str, import: &Value) -> Result<Value, CliError> {
    let Some(resource_type) = import["resource_type"].as_str() else {
        return Err(CliError::Usage(format!("not an import (no resource_type): {import}")));
    };
    let mut body = Map::new();
    body.insert("name".into(), name.into());
    body.insert("resource_type".into(), resource_type.into());
    for (key, default) in SETTINGS {
        let value = match (key, &import[key]) {
            ("csv", Value::Object(csv)) => {
                // A null option is detected, and a header row is the default.
                let unset = |option: &str, value: &Value| value.is_null() || (option == "has_header" && *value == true);
                let set = csv.iter().filter(|(option, value)| !unset(option, value));
                Value::Object(set.map(|(option, value)| (option.clone(), value.clone())).collect())
            }
            ("constants", Value::Object(constants)) => {
                Value::Object(constants.iter().map(|(field, value)| (field.clone(), constant(value))).collect())
            }
            (_, value) => value.clone(),
        };
        let unset = match &value {
            Value::Null => true,
            Value::Object(object) => object.is_empty(),
            Value::Array(items) => items.is_empty(),
            value => value.as_str().is_some_and(|v| Some(v) == default),
        };
        if !unset {
            body.insert(key.into(), value);
        }
    }
    Ok(Value::Object(body))
}

/// A constant as the create body takes it: the import shows a list field's (`tags`) as the
/// list its text made, and an empty one as null; a constant is a string, number or boolean.
fn constant(value: &Value) -> Value {
    match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ").into(),
        Value::Null => "".into(),
        value => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An import as the API shows it once prevalidated, with every setting at its default.
    fn import() -> Value {
        json!({
            "id": "imp_01j9zs7m8n9p0q1r2s3t4v5w6x", "resource_type": "contact", "action": "merge",
            "format": "auto", "compression": "auto", "mode": "async",
            "csv": {"delimiter": null, "encoding": null, "has_header": true},
            "identifier_field": "email", "in_preview": true, "dry_run": false,
            "mappings": {"E-Mail": "email", "Vorname": "first_name", "Notizen": null},
            "constants": {}, "value_mappings": {}, "tags": [], "sync_actions": [],
            "duplicates": "last", "import_rule": "create_and_update", "update_rule": "always",
            "update_rule_by_field": {}, "max_error_ratio": null, "max_errors": null, "max_removed_ratio": 0.5,
            "reference": "crm-42", "metadata": {"batch": "7"}, "retention": "P7D", "status": "preview_ready",
            "template": "auto", "suggested_template": {"id": "tpl_1", "version": 1, "name": "x", "matched": 1.0},
            "file_headers": ["E-Mail", "Vorname", "Notizen"], "stats": {"rows": 4}
        })
    }

    #[test]
    fn a_template_of_defaults_holds_the_mappings_alone() {
        // Every header resolved, the ignored one too: a template remembers the columns it leaves out.
        assert_eq!(
            template_body("Kontakte", &import()).unwrap(),
            json!({"name": "Kontakte", "resource_type": "contact",
                "mappings": {"E-Mail": "email", "Vorname": "first_name", "Notizen": null}})
        );
    }

    #[test]
    fn a_template_holds_every_setting_that_is_not_a_default_as_the_create_body_takes_it() {
        let mut import = import();
        let set = json!({
            "format": "csv", "compression": "gzip", "xlsx": {},
            "csv": {"delimiter": ";", "encoding": null, "has_header": false},
            "value_mappings": {"status": {"Ja": "subscribed"}},
            "constants": {"tags": ["fair", "2026"], "company": null, "custom.seats": 3, "custom.trial": true},
            "tags": ["spring"], "duplicates": "first", "import_rule": "update_only",
            "update_rule": "use_field_rule", "update_rule_by_field": {"first_name": "if_existing_is_null"},
            "sync_actions": [{"action": "add", "group": "Newsletter"}], "max_errors": 10
        });
        for (key, value) in set.as_object().unwrap() {
            import[key] = value.clone();
        }
        assert_eq!(
            template_body("Kontakte", &import).unwrap(),
            json!({"name": "Kontakte", "resource_type": "contact",
                "mappings": {"E-Mail": "email", "Vorname": "first_name", "Notizen": null},
                "value_mappings": {"status": {"Ja": "subscribed"}},
                "constants": {"tags": "fair, 2026", "company": "", "custom.seats": 3, "custom.trial": true},
                "tags": ["spring"], "update_rule": "use_field_rule",
                "update_rule_by_field": {"first_name": "if_existing_is_null"}, "import_rule": "update_only",
                "duplicates": "first", "csv": {"delimiter": ";", "has_header": false}, "format": "csv",
                "compression": "gzip"}),
            "nothing of the run itself (sync_actions, max_errors)"
        );
    }

    #[test]
    fn only_an_import_makes_a_template() {
        let error = template_body("x", &json!({"error": "nope"})).unwrap_err();
        assert!(matches!(error, CliError::Usage(m) if m.contains("not an import")));
    }
}
