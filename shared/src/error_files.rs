//! The errors files a user fixes and imports again (docs/api.md): the CSV holds each bad row in the
//! file's own columns plus `error_row`, `error_field`, `error_code`, `error_message`; the JSON
//! says the same for programs. Each transform writes its chunk's part; the step that completes
//! the import joins the parts in chunk order.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::services::Services;
use crate::validate::{Cells, RowError};

pub const ERROR_COLUMNS: [&str; 4] = ["error_row", "error_field", "error_code", "error_message"];

/// Spreadsheets run cells that start with these as formulas, even after spaces.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn runs_as_formula(cell: &str) -> bool {
    cell.trim_start_matches(' ').starts_with(FORMULA_STARTS)
}

/// A cell a spreadsheet would run as a formula gets a leading apostrophe.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if runs_as_formula(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Undoes [`neutralize`] on a cell of an errors file, so it imports as it is: the apostrophe
/// comes off only where `neutralize` put one. Other files keep their apostrophes.
pub fn restore(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if runs_as_formula(rest) => rest,
        _ => value,
    }
}

/// A file with every `error_*` column is one of our errors files, imported again.
pub fn is_errors_file(headers: &[String]) -> bool {
    ERROR_COLUMNS.iter().all(|column| headers.iter().any(|h| h == column))
}

/// Where an import's files for the user live; parts of each run under `parts/{run}/`.
pub fn prefix(tenant_id: &str, import_id: &str) -> String {
    format!("results/{tenant_id}/{import_id}/")
}

pub fn part_dir(tenant_id: &str, import_id: &str, run: u32) -> String {
    format!("{}parts/{run}/", prefix(tenant_id, import_id))
}

pub fn errors_csv_key(tenant_id: &str, import_id: &str) -> String {
    format!("{}errors.csv", prefix(tenant_id, import_id))
}

pub fn errors_json_key(tenant_id: &str, import_id: &str) -> String {
    format!("{}errors.json", prefix(tenant_id, import_id))
}

fn part_prefix(tenant_id: &str, import_id: &str, run: u32) -> String {
    format!("{}errors-", part_dir(tenant_id, import_id, run))
}

/// One chunk's bad rows, as CSV lines and JSON lines.
#[derive(Debug, Default)]
pub struct ErrorLines {
    csv: Vec<u8>,
    json: Vec<u8>,
}

impl ErrorLines {
    pub fn is_empty(&self) -> bool {
        self.csv.is_empty()
    }

    pub fn add(&mut self, headers: &[String], values: Cells, errors: &[RowError]) {
        let Some(first) = errors.first() else { return };
        let join = |f: &dyn Fn(&RowError) -> String| errors.iter().map(f).collect::<Vec<_>>().join("; ");
        let field = join(&|e| e.field.clone().or_else(|| e.column.clone()).unwrap_or_default());
        let code = join(&|e| e.code.clone());
        let message = join(&|e| e.message.clone());
        // The file's own columns, padded or cut to the header, so the error columns line up.
        let cells: Vec<&str> = (0..headers.len()).map(|i| values.get(i).unwrap_or_default()).collect();
        let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
        let row = first.row.to_string();
        let record = cells.iter().map(|c| neutralize(c)).chain([
            Cow::Borrowed(row.as_str()),
            neutralize(&field),
            Cow::Borrowed(code.as_str()),
            neutralize(&message),
        ]);
        if writer.write_record(record.map(|c| c.into_owned())).is_ok() {
            self.csv.extend(writer.into_inner().unwrap_or_default());
        }
        let values: Map<String, Value> =
            headers.iter().zip(values.iter()).map(|(h, v)| (h.clone(), Value::String(v.to_string()))).collect();
        let line = json!({ "row": first.row, "errors": errors, "values": values });
        self.json.extend(line.to_string().into_bytes());
        self.json.push(b'\n');
    }

    /// Stores a part: a chunk's (`{chunk:010}`) or a process batch's from one of its rows on
    /// (`{chunk:010}-{batch:06}-{row:03}`, row 0 for a whole batch); the same unit of work
    /// always writes the same part.
    pub async fn save(self, svc: &Services, tenant_id: &str, import_id: &str, run: u32, part: &str) -> Result<()> {
        let base = format!("{}{part}", part_prefix(tenant_id, import_id, run));
        svc.files.put(&format!("{base}.csv"), self.csv).await?;
        svc.files.put(&format!("{base}.jsonl"), self.json).await
    }
}

/// Joins the parts into `errors.csv` and `errors.json`, one part in memory at a time.
pub async fn assemble(svc: &Services, tenant_id: &str, import_id: &str, run: u32, headers: &[String]) -> Result<()> {
    let parts = svc.files.list(&part_prefix(tenant_id, import_id, run)).await?;
    let mut csv_out = svc.files.create(&errors_csv_key(tenant_id, import_id)).await?;
    let mut header = csv::WriterBuilder::new().from_writer(Vec::new());
    let columns = headers.iter().map(|h| neutralize(h).into_owned()).chain(ERROR_COLUMNS.map(String::from));
    if header.write_record(columns).is_ok() {
        csv_out.write(&header.into_inner().unwrap_or_default()).await?;
    }
    for key in parts.iter().filter(|k| k.ends_with(".csv")) {
        csv_out.write(&svc.files.read(key).await?).await?;
    }
    csv_out.finish().await?;

    let mut json_out = svc.files.create(&errors_json_key(tenant_id, import_id)).await?;
    json_out.write(b"[").await?;
    let mut first = true;
    for key in parts.iter().filter(|k| k.ends_with(".jsonl")) {
        let part = svc.files.read(key).await?;
        for line in part.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            json_out.write(if first { b"\n" } else { b",\n" }).await?;
            json_out.write(line).await?;
            first = false;
        }
    }
    json_out.write(b"\n]\n").await?;
    json_out.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_and_restored() {
        for cell in ["=1+2", "+1 213 555", "-5", "@SUM(A1)", "\tx"] {
            let n = neutralize(cell);
            assert!(n.starts_with('\''), "{cell}");
            assert_eq!(restore(&n), cell);
        }
        assert_eq!(neutralize("plain"), "plain");
        assert_eq!(restore("'quoted"), "'quoted");
    }

    #[test]
    fn formulas_behind_spaces_are_neutralized_too() {
        for cell in [" =1+1", "   @SUM(A1)", " -5"] {
            assert_eq!(neutralize(cell), format!("'{cell}"));
            assert_eq!(restore(&neutralize(cell)), cell);
        }
        assert_eq!(neutralize(" plain"), " plain");
        assert_eq!(restore("' plain"), "' plain", "an apostrophe neutralize did not put stays");
    }

    #[test]
    fn an_errors_file_has_every_error_column() {
        let headers = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_errors_file(&headers(&["email", "error_row", "error_field", "error_code", "error_message"])));
        assert!(!is_errors_file(&headers(&["email", "error_message"])));
        assert!(!is_errors_file(&headers(&["email"])));
    }

    #[test]
    fn a_bad_row_keeps_its_columns_and_gets_error_columns() {
        let headers = vec!["email".to_string(), "phone".to_string()];
        let errors = vec![RowError {
            row: 7,
            column: Some("email".into()),
            field: Some("email".into()),
            code: "invalid_email".into(),
            message: "`x` is not a valid email address".into(),
        }];
        let mut lines = ErrorLines::default();
        lines.add(&headers, (&csv::StringRecord::from(vec!["x", "+1 555 0100"])).into(), &errors);
        let text = String::from_utf8(lines.csv.clone()).unwrap();
        assert_eq!(text, "x,'+1 555 0100,7,email,invalid_email,`x` is not a valid email address\n");
        let json: Value = serde_json::from_slice(&lines.json).unwrap();
        assert_eq!(json["values"]["phone"], "+1 555 0100");
        assert_eq!(json["errors"][0]["code"], "invalid_email");
    }
}
