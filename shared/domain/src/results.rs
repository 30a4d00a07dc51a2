//! The results file: one line per input row with its row number, identifier, outcome
//! and record key, so every row can be matched to what happened to it. Transform knows the
//! outcome of rows that never reach a batch (errors, skipped duplicates) and where the others
//! went; process stores each batch's outcomes with its ledger entry, written once with the
//! batch, so a redelivery never changes them. Completion joins the two, chunk by chunk.

use crate::error::{Error, Result};
use crate::error_columns::neutralize;
use crate::error_files;
use crate::merge::Outcome;

pub const HEADER: &str = "row,identifier,outcome,record_key\n";

// The codes a process batch stores, one character per record.
const CREATED: char = 'c';
const UPDATED: char = 'u';
const UNCHANGED: char = 'n';
/// A row the process step rejected (`process`).
pub const ERROR: char = 'e';
/// `import_rule: update_only` or `action: delete`, and a row whose record does not exist:
/// nothing happened to it.
pub const SKIPPED_UNKNOWN: char = 's';
pub const DELETED: char = 'd';

/// The code of a merge's outcome.
pub fn code(outcome: Outcome) -> char {
    match outcome {
        Outcome::Created => CREATED,
        Outcome::Updated => UPDATED,
        Outcome::Unchanged => UNCHANGED,
    }
}

pub fn word(code: char) -> Option<&'static str> {
    match code {
        CREATED => Some("created"),
        UPDATED => Some("updated"),
        UNCHANGED => Some("unchanged"),
        ERROR => Some("error"),
        SKIPPED_UNKNOWN => Some("skipped_unknown"),
        DELETED => Some("deleted"),
        _ => None,
    }
}

pub fn results_csv_key(tenant_id: &str, import_id: &str) -> String {
    format!("{}results.csv", error_files::prefix(tenant_id, import_id))
}

pub fn part_prefix(tenant_id: &str, import_id: &str, run: u32) -> String {
    format!("{}rows-", error_files::part_dir(tenant_id, import_id, run))
}

/// One chunk's rows in order: CSV lines whose outcome is final, or `@batch:position` for a row
/// whose record went to a process batch. Written by hand, a line a row: four known fields need
/// no general CSV writer, and this runs for every row of the file.
#[derive(Debug, Default)]
pub struct RowLines {
    out: Vec<u8>,
}

impl RowLines {
    pub fn decided(&mut self, row: u64, identifier: &str, outcome: &str, key: &str) {
        self.push(row, identifier, None, outcome, key);
    }

    pub fn pending(&mut self, row: u64, identifier: &str, key: &str, batch: u64, position: usize) {
        self.push(row, identifier, Some((batch, position)), "", key);
    }

    fn push(&mut self, row: u64, identifier: &str, pending: Option<(u64, usize)>, outcome: &str, key: &str) {
        let out = &mut self.out;
        out.extend_from_slice(itoa::Buffer::new().format(row).as_bytes());
        out.push(b',');
        csv_field(out, &neutralize(identifier));
        out.push(b',');
        match pending {
            Some((batch, position)) => {
                out.push(b'@');
                out.extend_from_slice(itoa::Buffer::new().format(batch).as_bytes());
                out.push(b':');
                out.extend_from_slice(itoa::Buffer::new().format(position).as_bytes());
            }
            None => csv_field(out, outcome),
        }
        out.push(b',');
        csv_field(out, &neutralize(key));
        out.push(b'\n');
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

/// A field as the `csv` crate writes one: quoted when it holds a comma, a quote or a line break.
fn csv_field(out: &mut Vec<u8>, value: &str) {
    // Without an early exit the check runs on many bytes at a time.
    if !value.bytes().fold(false, |quote, b| quote | matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(b'"');
    for (i, part) in value.split('"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'"');
}

/// A part with every pending outcome replaced by the batch's.
pub fn resolve(part: &[u8], outcome: impl Fn(u64, usize) -> Option<&'static str>) -> Result<Vec<u8>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(part);
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::with_capacity(part.len()));
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| Error::Internal(format!("results part: {e}")))? {
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        if let Some(pending) = cells.get(2).and_then(|c| c.strip_prefix('@')) {
            let (batch, position) = pending
                .split_once(':')
                .and_then(|(b, p)| Some((b.parse().ok()?, p.parse().ok()?)))
                .ok_or_else(|| Error::Internal(format!("results part: bad pending outcome {pending}")))?;
            let word = outcome(batch, position)
                .ok_or_else(|| Error::Internal(format!("no outcome stored for batch {batch} position {position}")))?;
            cells[2] = word.to_string();
        }
        writer.write_record(&cells).map_err(|e| Error::Internal(e.to_string()))?;
    }
    writer.into_inner().map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_take_their_batch_outcome() {
        let mut lines = RowLines::default();
        lines.pending(1, "Ann@Example.com", "ann@example.com", 0, 0);
        lines.decided(2, "bad", "error", "");
        lines.pending(3, "=cmd", "=cmd", 1, 0);
        let out = resolve(&lines.into_bytes(), |batch, position| match (batch, position) {
            (0, 0) => Some("created"),
            (1, 0) => Some("unchanged"),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1,Ann@Example.com,created,ann@example.com\n2,bad,error,\n3,'=cmd,unchanged,'=cmd\n"
        );
    }

    #[test]
    fn lines_are_what_the_csv_crate_writes() {
        let mut lines = RowLines::default();
        let mut writer = csv::Writer::from_writer(Vec::new());
        for (row, value) in
            ["plain", "a,b", "say \"hi\"", "\"", "two\nlines", "cr\r", "", "=1+1", "é,\"\r\n"].iter().enumerate()
        {
            let row = row as u64 + 1;
            lines.decided(row, value, "error", value);
            let cells =
                [row.to_string(), neutralize(value).into_owned(), "error".into(), neutralize(value).into_owned()];
            writer.write_record(&cells).unwrap();
        }
        assert_eq!(
            String::from_utf8(lines.into_bytes()).unwrap(),
            String::from_utf8(writer.into_inner().unwrap()).unwrap()
        );
    }

    #[test]
    fn a_missing_outcome_is_an_error_not_a_guess() {
        let mut lines = RowLines::default();
        lines.pending(1, "a", "a", 5, 3);
        assert!(resolve(&lines.into_bytes(), |_, _| None).is_err());
    }
}
