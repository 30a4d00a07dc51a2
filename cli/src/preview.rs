//! What a preview shows a person deciding how to start an import: each header and the field it
//! feeds, the sample records as a table with their errors, and the distinct values of the columns
//! that look like a list of choices, which `--value-map` maps.

use std::fmt::Write as _;

use serde_json::Value;

/// A cell at most this wide: a table a terminal holds, not the whole value.
const CELL: usize = 24;

/// The preview of `import`, then how to start it.
pub fn preview_tables(import: &Value) -> String {
    let mut out = String::new();
    let headers: Vec<&str> =
        import["file_headers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let _ = writeln!(out, "\nmappings (file header → field)");
    let mapping_rows: Vec<Vec<String>> = headers
        .iter()
        .map(|h| {
            let field = import["mappings"][h].as_str().map_or_else(|| "(not imported)".to_string(), str::to_string);
            vec![(*h).to_string(), field]
        })
        .collect();
    out.push_str(&grid(&[], &mapping_rows));
    let samples = import["sample_records"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !samples.is_empty() {
        let _ = writeln!(out, "\nsample records");
        out.push_str(&sample_table(samples));
    }
    if let Some(values) = import["distinct_values"].as_object().filter(|v| !v.is_empty()) {
        let _ = writeln!(out, "\ndistinct values (map them with --value-map 'field:value=new value')");
        let rows: Vec<Vec<String>> = values
            .iter()
            .map(|(header, list)| {
                let list: Vec<&str> = list.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                vec![header.clone(), list.join(", ")]
            })
            .collect();
        out.push_str(&grid(&[], &rows));
    }
    if import["status"] == "preview_ready" {
        let id = import["id"].as_str().unwrap_or("ID");
        let _ = writeln!(
            out,
            "\nstart it: importctl start {id} [--map 'File Header=field'] [--value-map 'field:value=new value'] \
             [--constant field=value] --wait"
        );
        if let Some(template) = import["suggested_template"]["id"].as_str() {
            let _ = writeln!(out, "or with its suggested template: importctl start {id} --template {template} --wait");
        }
    }
    out
}

/// One line a sample: its row, the fields it would write (in the order the file maps them), and
/// its errors as `field code`.
fn sample_table(samples: &[Value]) -> String {
    let mut fields: Vec<String> = Vec::new();
    for record in samples.iter().filter_map(|s| s["record"].as_object()) {
        for key in record.keys() {
            if !fields.contains(key) {
                fields.push(key.clone());
            }
        }
    }
    let mut head = vec!["row".to_string()];
    head.extend(fields.iter().cloned());
    head.push("errors".into());
    let rows: Vec<Vec<String>> = samples
        .iter()
        .map(|sample| {
            let mut row = vec![sample["row"].to_string()];
            row.extend(fields.iter().map(|f| cell(&sample["record"][f])));
            let errors: Vec<String> = sample["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| format!("{} {}", e["field"].as_str().unwrap_or("?"), e["code"].as_str().unwrap_or("?")))
                .collect();
            row.push(errors.join("; "));
            row
        })
        .collect();
    grid(&head, &rows)
}

/// A value as a cell: text as it is, anything else as JSON, absent as nothing; cut to `CELL`.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > CELL {
        let cut: String = text.chars().take(CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Rows in columns padded to their widest cell, under a header line when there is one.
fn grid(head: &[String], rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).chain([head.len()]).max().unwrap_or(0);
    let width = |i: usize| {
        let cells = rows.iter().filter_map(|r| r.get(i)).chain(head.get(i));
        cells.map(|c| c.chars().count()).max().unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = String::new();
    if !head.is_empty() {
        out.push_str(&line(head));
    }
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_preview_shows_mappings_samples_and_values() {
        let import = json!({
            "id": "imp_1", "status": "preview_ready",
            "file_headers": ["E-mail", "Vorname", "Opted In"],
            "mappings": {"E-mail": "email", "Vorname": null, "Opted In": null},
            "sample_records": [
                {"row": 1, "record": {"email": "ann@example.com", "first_name": "Ann"}, "errors": []},
                {"row": 2, "record": null, "errors": [{"field": "email", "code": "invalid_email"}]}
            ],
            "distinct_values": {"Opted In": ["No", "Yes"]}
        });
        let out = preview_tables(&import);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"  E-mail    email"), "{out}");
        assert!(lines.contains(&"  Vorname   (not imported)"), "{out}");
        assert!(lines.contains(&"  row  email            first_name  errors"), "{out}");
        assert!(lines.contains(&"  1    ann@example.com  Ann"), "{out}");
        assert!(lines.contains(&"  2                                 email invalid_email"), "{out}");
        assert!(lines.contains(&"  Opted In  No, Yes"), "{out}");
        assert!(out.contains("importctl start imp_1"), "{out}");
        assert!(!out.contains("--template"), "no template suggested: {out}");
        let suggested = json!({"id": "imp_1", "status": "preview_ready",
            "suggested_template": {"id": "tpl_1", "version": 2, "name": "Kontakte", "matched": 0.8}});
        let out = preview_tables(&suggested);
        assert!(out.contains("importctl start imp_1 --template tpl_1 --wait"), "{out}");
        let started = preview_tables(&json!({"id": "imp_1", "status": "completed"}));
        assert!(!started.contains("start it"), "{started}");
    }

    #[test]
    fn long_values_are_cut_to_a_cell() {
        assert_eq!(cell(&json!("x".repeat(40))).chars().count(), CELL);
        assert_eq!(cell(&json!(["a"])), "[\"a\"]");
        assert_eq!(cell(&Value::Null), "");
    }
}
