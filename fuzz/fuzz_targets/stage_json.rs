//! JSON and JSONL staging of any bytes: a file either fails as bad (never as a retry) or stages
//! into the standard shape, a UTF-8 CSV whose header is the keys found and whose every row has
//! one cell a column; string values come through unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use domain::bad_file::{MAX_COLUMNS, MAX_HEADER_CELL_BYTES};
use domain::chunking::ScanError;
use domain::staging::{json_headers, json_to_csv};

fuzz_target!(|bytes: &[u8]| {
    for lines in [false, true] {
        let shape = match json_headers(bytes, lines) {
            Ok(shape) => shape,
            Err(ScanError::Bad(_)) => continue,
            Err(e) => panic!("an in-memory file failed as a retry: {e}"),
        };
        assert!(shape.headers.len() <= MAX_COLUMNS);
        assert!(shape.headers.iter().all(|h| h.len() <= MAX_HEADER_CELL_BYTES));
        let unique: std::collections::HashSet<_> = shape.headers.iter().collect();
        assert_eq!(unique.len(), shape.headers.len(), "a header is named twice");
        let mut staged = Vec::new();
        let rows =
            json_to_csv(bytes, lines, &shape.headers, &mut staged).expect("the second pass reads what the first did");
        assert_eq!(rows, shape.rows);
        let text = std::str::from_utf8(&staged).expect("the staged copy is UTF-8");
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a staged row reads")).collect();
        // Objects without keys have no columns: every line is empty, and a CSV reader skips it.
        let no_columns = shape.headers.is_empty();
        if !no_columns {
            assert_eq!(
                records.first().map(|r| r.iter().collect::<Vec<_>>()),
                Some(shape.headers.iter().map(String::as_str).collect())
            );
            assert_eq!(records.len() as u64, rows + 1, "one line a row after the header");
            assert!(records.iter().all(|r| r.len() == shape.headers.len()), "every row has every column");
        }
        if !lines && !no_columns {
            string_values_come_through(bytes, &shape.headers, &records[1..]);
        }
    }
});

/// Objects of short strings (and nulls) with plain keys are the cells, as `serde_json` reads them.
fn string_values_come_through(bytes: &[u8], headers: &[String], rows: &[csv::StringRecord]) {
    let Ok(Value::Array(objects)) =
        serde_json::from_slice::<Value>(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
    else {
        return;
    };
    assert_eq!(objects.len(), rows.len());
    for (object, row) in objects.iter().zip(rows) {
        let Value::Object(object) = object else { return };
        for (key, value) in object {
            let Some(column) = headers.iter().position(|h| h == key) else { continue };
            match value {
                Value::String(s) if s.len() <= 1024 && !key.contains('.') => assert_eq!(&row[column], s, "`{key}`"),
                Value::Null => assert_eq!(&row[column], "", "`{key}` is null"),
                _ => {}
            }
        }
    }
}
