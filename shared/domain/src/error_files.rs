//! The errors files a user fixes and imports again: the CSV holds each bad row in the
//! file's own columns plus `error_row`, `error_field`, `error_code`, `error_message`; the JSON
//! says the same for programs. Each transform writes its chunk's part; the step that completes
//! the import joins the parts in chunk order.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use crate::error_columns::neutralize;
use crate::validate::{Cells, RowError};

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

pub fn part_prefix(tenant_id: &str, import_id: &str, run: u32) -> String {
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

    /// The CSV lines and the JSON lines.
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        (self.csv, self.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
