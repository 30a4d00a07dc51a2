//! What a command prints on stdout: a table for people, or the API's JSON as it came for scripts.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;

/// Writes to stdout. A reader that went away (`importctl records contact | head`) ends the
/// output, not the command: its exit code still says how the import ended.
pub fn emit(text: impl std::fmt::Display) {
    let _ = write!(std::io::stdout().lock(), "{text}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

const STATS: [&str; 10] =
    ["rows", "processed", "created", "updated", "unchanged", "deleted", "removed", "duplicates", "errors", "warnings"];

/// One import: what it is, how it ended, and every count of its stats.
pub fn import_table(import: &Value) -> String {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let mut lines: Vec<(&str, String)> = vec![
        ("import", text(&import["id"]).unwrap_or_default()),
        (
            "type",
            format!(
                "{} ({})",
                import["resource_type"].as_str().unwrap_or("?"),
                import["action"].as_str().unwrap_or("?")
            ),
        ),
        ("status", text(&import["status"]).unwrap_or_default()),
    ];
    if let Some(phase) = text(&import["phase"]) {
        lines.push(("phase", phase));
    }
    if let Some(reason) = text(&import["reason"]) {
        lines.push(("reason", reason));
    }
    if import["dry_run"] == true {
        lines.push(("dry run", "yes: nothing was written".into()));
    }
    match &import["template"] {
        Value::String(auto) => lines.push(("template", format!("{auto}: chosen once the file's headers are read"))),
        Value::Object(_) => lines.push(("template", versioned(&import["template"]))),
        _ => {}
    }
    let suggested = &import["suggested_template"];
    if suggested.is_object() {
        let share = (suggested["matched"].as_f64().unwrap_or(0.0) * 100.0).round();
        let name = suggested["name"].as_str().unwrap_or_default();
        lines.push(("suggested", format!("{name}: {} ({share} % of the headers)", versioned(suggested))));
    }
    if let Some(version) = import["schema_version"].as_u64() {
        lines.push(("schema", format!("version {version}")));
    }
    let file = &import["file"];
    if file.is_object() {
        let described = format!(
            "{} bytes, {} rows, {}, delimiter {}",
            file["size"],
            file["rows"],
            file["detected_encoding"].as_str().unwrap_or("?"),
            file["delimiter"]
        );
        lines.push(("file", described));
    }
    for name in STATS {
        lines.push((name, import["stats"][name].as_u64().unwrap_or(0).to_string()));
    }
    for (label, field) in [("created at", "created_at"), ("started at", "started_at"), ("completed at", "completed_at")]
    {
        if let Some(at) = text(&import[field]) {
            lines.push((label, at));
        }
    }
    lines.extend(revert_lines(&import["revert"]));
    if let Some(unmapped) = import["unmapped_headers"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<&str> = unmapped.iter().filter_map(Value::as_str).collect();
        lines.push(("unmapped", names.join(", ")));
    }
    table(&lines)
}

/// A template as `id (version n)`.
fn versioned(template: &Value) -> String {
    format!("{} (version {})", template["id"].as_str().unwrap_or("?"), template["version"])
}

/// A revert once asked: where it is, what it put back, what it left alone and why it failed.
fn revert_lines(revert: &Value) -> Vec<(&'static str, String)> {
    let Some(status) = revert["status"].as_str() else { return vec![] };
    let count = |name: &str| revert[name].as_u64().unwrap_or(0);
    let mut lines = vec![(
        "revert",
        format!(
            "{status}: {} deleted, {} restored, {} conflicts",
            count("deleted"),
            count("restored"),
            count("conflicts")
        ),
    )];
    let listed: Vec<&str> =
        revert["conflict_identifiers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !listed.is_empty() {
        let more = if (listed.len() as u64) < count("conflicts") { ", …" } else { "" };
        lines.push(("left as changed", format!("{}{more}", listed.join(", "))));
    }
    if let Some(reason) = revert["reason"].as_str() {
        lines.push(("revert reason", reason.to_string()));
    }
    lines
}

/// A page of imports, one line each, and where the next page starts.
pub fn list_table(page: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30} {:<9} {:<15} {:>10} {:>10}  {:<9}  created at",
        "import", "type", "status", "rows", "processed", "revert"
    );
    for import in page["data"].as_array().into_iter().flatten() {
        let stat = |name: &str| import["stats"][name].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<30} {:<9} {:<15} {:>10} {:>10}  {:<9}  {}",
            import["id"].as_str().unwrap_or_default(),
            import["resource_type"].as_str().unwrap_or_default(),
            import["status"].as_str().unwrap_or_default(),
            stat("rows"),
            stat("processed"),
            import["revert"]["status"].as_str().unwrap_or("-"),
            import["created_at"].as_str().unwrap_or_default()
        );
    }
    if let Some(cursor) = page["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {cursor}");
    }
    out
}

/// One template: what it is, then each setting it holds; its mappings a header a line.
pub fn template_table(template: &Value) -> String {
    let text = |name: &str| template[name].as_str().unwrap_or_default().to_string();
    let mut lines: Vec<(&str, String)> = vec![
        ("template", versioned(template)),
        ("name", text("name")),
        ("type", text("resource_type")),
        ("created at", text("created_at")),
        ("updated at", text("updated_at")),
    ];
    const SHOWN: [&str; 6] = ["id", "version", "name", "resource_type", "created_at", "updated_at"];
    for (key, value) in template.as_object().into_iter().flatten().filter(|(key, _)| !SHOWN.contains(&key.as_str())) {
        match value {
            Value::Object(mappings) if key == "mappings" => {
                for (i, (header, field)) in mappings.iter().enumerate() {
                    let field = field.as_str().unwrap_or("(not imported)");
                    lines.push((if i == 0 { "mappings" } else { "" }, format!("{header} → {field}")));
                }
            }
            Value::String(setting) => lines.push((key.as_str(), setting.clone())),
            value => lines.push((key.as_str(), value.to_string())),
        }
    }
    table(&lines)
}

/// A page of templates, one line each, and where the next page starts.
pub fn templates_table(page: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<30} {:>7}  {:<7}  {:<24}  name", "template", "version", "type", "updated at");
    for template in page["data"].as_array().into_iter().flatten() {
        let text = |name: &str| template[name].as_str().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<30} {:>7}  {:<7}  {:<24}  {}",
            text("id"),
            // A JSON value ignores widths: padded as text.
            template["version"].to_string(),
            text("resource_type"),
            text("updated_at"),
            text("name")
        );
    }
    if let Some(cursor) = page["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {cursor}");
    }
    out
}

fn table(lines: &[(&str, String)]) -> String {
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_shows_the_ending_and_every_count() {
        let import = json!({
            "id": "imp_1", "resource_type": "contact", "action": "merge", "status": "failed",
            "phase": "transforming", "reason": "too_many_errors", "dry_run": false,
            "stats": {"rows": 10, "processed": 4, "created": 1, "errors": 3},
            "unmapped_headers": ["Shoe size"], "started_at": "2026-11-24T10:00:00Z", "completed_at": null
        });
        let table = import_table(&import);
        // Labels padded to one width: every value starts in the same column.
        let column = table.lines().next().and_then(|l| l.find("imp_1")).unwrap();
        let rows: Vec<(&str, &str)> = table.lines().map(|l| (l[..column].trim_end(), &l[column..])).collect();
        for row in [
            ("import", "imp_1"),
            ("type", "contact (merge)"),
            ("reason", "too_many_errors"),
            ("processed", "4"),
            ("errors", "3"),
            ("warnings", "0"),
            ("unmapped", "Shoe size"),
        ] {
            assert!(rows.contains(&row), "{row:?} in\n{table}");
        }
        assert!(!table.contains("completed at"), "{table}");
        assert!(!table.contains("revert"), "no revert asked: {table}");
    }

    #[test]
    fn a_revert_shows_its_counts_and_conflicts() {
        let import = json!({"id": "imp_1", "status": "completed", "stats": {}, "revert": {
            "status": "reverted", "deleted": 3, "restored": 1, "conflicts": 2,
            "conflict_identifiers": ["ann@example.com", "bob@example.com"]}});
        let table = import_table(&import);
        assert!(table.contains("revert           reverted: 3 deleted, 1 restored, 2 conflicts\n"), "{table}");
        assert!(table.contains("left as changed  ann@example.com, bob@example.com\n"), "{table}");
        let failed = json!({"revert": {"status": "failed", "conflicts": 150, "conflict_identifiers": ["a"],
            "reason": "internal_error: revert failed (throttled)"}});
        let table = import_table(&failed);
        assert!(table.contains("a, …\n") && table.contains("internal_error: revert failed (throttled)"), "{table}");
    }

    #[test]
    fn an_import_names_its_template_its_suggestion_and_its_schema() {
        let import = json!({"id": "imp_1", "status": "preview_ready", "template": {"id": "tpl_1", "version": 2},
            "suggested_template": {"id": "tpl_2", "version": 1, "name": "Kontakte", "matched": 0.8},
            "schema_version": 4});
        // The value of a label's line, whatever the labels' width.
        let value = |table: &str, label: &str| {
            table
                .lines()
                .find_map(|l| l.strip_prefix(label).filter(|v| v.starts_with("  ")).map(|v| v.trim().to_string()))
        };
        let table = import_table(&import);
        assert_eq!(value(&table, "template").as_deref(), Some("tpl_1 (version 2)"), "{table}");
        let suggested = value(&table, "suggested");
        assert_eq!(suggested.as_deref(), Some("Kontakte: tpl_2 (version 1) (80 % of the headers)"), "{table}");
        assert_eq!(value(&table, "schema").as_deref(), Some("version 4"), "{table}");
        let auto = import_table(&json!({"id": "imp_1", "template": "auto"}));
        let said = value(&auto, "template");
        assert_eq!(said.as_deref(), Some("auto: chosen once the file's headers are read"), "{auto}");
        assert_eq!([value(&auto, "suggested"), value(&auto, "schema")], [None, None], "{auto}");
    }

    #[test]
    fn a_template_shows_its_mappings_a_header_a_line_then_its_settings() {
        let template = json!({"id": "tpl_1", "version": 2, "name": "Kontakte", "resource_type": "contact",
            "mappings": {"E-Mail": "email", "Notizen": null}, "duplicates": "first", "csv": {"delimiter": ";"},
            "created_at": "2026-11-24T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z"});
        let table = template_table(&template);
        let lines: Vec<&str> = table.lines().collect();
        for line in [
            "template    tpl_1 (version 2)",
            "type        contact",
            "mappings    E-Mail → email",
            "            Notizen → (not imported)",
            "duplicates  first",
            "csv         {\"delimiter\":\";\"}",
        ] {
            assert!(lines.contains(&line), "{line:?} in\n{table}");
        }
        let listed = templates_table(&json!({"data": [template], "next_cursor": "abc"}));
        let line = listed.lines().nth(1).unwrap_or_default();
        assert!(
            line.starts_with("tpl_1 ") && line.contains("       2  contact  ") && line.ends_with("  Kontakte"),
            "{listed}"
        );
        assert!(listed.ends_with("more: --cursor abc\n"), "{listed}");
    }

    #[test]
    fn a_listing_names_its_next_page() {
        let page = json!({"data": [{"id": "imp_1", "resource_type": "group", "status": "queued",
            "stats": {"rows": 5}, "created_at": "2026-11-24T10:00:00Z"}], "next_cursor": "abc"});
        let out = list_table(&page);
        assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("imp_1") && l.contains("queued")), "{out}");
        let reverted = json!({"data": [{"id": "imp_2", "status": "completed", "revert": {"status": "reverted"}}]});
        assert!(list_table(&reverted)
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("completed") && l.contains(" reverted ")));
        assert!(out.ends_with("more: --cursor abc\n"), "{out}");
    }
}
