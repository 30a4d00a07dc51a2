//! Preview (SPEC §5 `in_preview`): the first rows as they would import, and the distinct values
//! of enum-like columns, so a user can fix mappings and `value_mappings` before anything is
//! written. Collected during prevalidation's one pass, in bounded memory.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::import::SampleRecord;
use crate::validate::{Candidate, RowError};

/// SPEC §5: up to 10 sample records.
pub const SAMPLE_ROWS: usize = 10;
/// A column with more distinct values than this is free text, not an enum.
const MAX_DISTINCT: usize = 20;
/// Longer values are free text too.
const MAX_VALUE_BYTES: usize = 64;
/// The preview lives in the import's item (400 KB at most): sample values are clipped and
/// enum-like columns capped, so any file previews.
const MAX_SAMPLE_VALUE_BYTES: usize = 256;
const MAX_ENUM_COLUMNS: usize = 50;

enum Distinct {
    Open { values: BTreeSet<String>, filled: u64 },
    FreeText,
}

pub struct Preview {
    samples: Vec<SampleRecord>,
    columns: Vec<Distinct>,
}

impl Preview {
    pub fn new(columns: usize) -> Self {
        let open = || Distinct::Open { values: BTreeSet::new(), filled: 0 };
        Self { samples: Vec::new(), columns: (0..columns).map(|_| open()).collect() }
    }

    pub fn see(&mut self, row: u64, values: &csv::StringRecord, built: Result<Candidate, Vec<RowError>>) {
        if self.samples.len() < SAMPLE_ROWS {
            self.samples.push(match built {
                Ok(candidate) => SampleRecord { row, record: Some(clip(candidate.fields)), errors: vec![] },
                Err(errors) => SampleRecord { row, record: None, errors },
            });
        }
        for (column, value) in self.columns.iter_mut().zip(values.iter()) {
            let value = value.trim();
            let Distinct::Open { values, filled } = column else { continue };
            if value.is_empty() {
                continue;
            }
            *filled += 1;
            if value.len() > MAX_VALUE_BYTES || (values.len() == MAX_DISTINCT && !values.contains(value)) {
                *column = Distinct::FreeText;
            } else if !values.contains(value) {
                values.insert(value.to_string());
            }
        }
    }

    /// Enum-like columns are those whose few values repeat: on average at least twice each.
    pub fn finish(self, headers: &[String]) -> (Vec<SampleRecord>, BTreeMap<String, Vec<String>>) {
        let distinct = headers
            .iter()
            .zip(self.columns)
            .filter_map(|(header, column)| match column {
                Distinct::Open { values, filled } if !values.is_empty() && filled >= 2 * values.len() as u64 => {
                    Some((header.clone(), values.into_iter().collect()))
                }
                _ => None,
            })
            .take(MAX_ENUM_COLUMNS)
            .collect();
        (self.samples, distinct)
    }
}

/// A sample record with its long text values cut, at a character boundary, and marked so.
fn clip(mut fields: Map<String, Value>) -> Map<String, Value> {
    for value in fields.values_mut() {
        match value {
            Value::String(s) if s.len() > MAX_SAMPLE_VALUE_BYTES => {
                let cut = (0..=MAX_SAMPLE_VALUE_BYTES).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                s.truncate(cut);
                s.push('…');
            }
            Value::Object(inner) => *inner = clip(std::mem::take(inner)),
            _ => {}
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(values: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(values.to_vec())
    }

    #[test]
    fn samples_stop_at_ten_and_keep_errors() {
        let mut p = Preview::new(1);
        for row in 1..=12 {
            let built = if row == 2 {
                Err(vec![RowError { row, column: None, field: None, code: "ragged_row".into(), message: "x".into() }])
            } else {
                Ok(Candidate { row, identifier: format!("{row}"), fields: Default::default() })
            };
            p.see(row, &record(&["v"]), built);
        }
        let (samples, _) = p.finish(&["a".into()]);
        assert_eq!(samples.len(), SAMPLE_ROWS);
        assert_eq!(samples[1].errors[0].code, "ragged_row");
        assert!(samples[1].record.is_none());
    }

    #[test]
    fn long_sample_values_are_clipped() {
        let mut fields = Map::new();
        fields.insert("notes".into(), Value::String("é".repeat(1000)));
        fields.insert("custom".into(), serde_json::json!({"x": "y".repeat(300), "n": 5}));
        let clipped = clip(fields);
        assert_eq!(clipped["notes"].as_str().unwrap(), format!("{}…", "é".repeat(128)));
        assert_eq!(clipped["custom"]["x"].as_str().unwrap().len(), 256 + '…'.len_utf8());
        assert_eq!(clipped["custom"]["n"], 5);
    }

    #[test]
    fn only_repeating_short_values_are_enum_like() {
        let mut p = Preview::new(3);
        for i in 0..40 {
            let status = if i % 3 == 0 { "Yes" } else { "No" };
            let unique = format!("person{i}@example.com");
            p.see(i + 1, &record(&[status, &unique, ""]), Err(vec![]));
        }
        let (_, distinct) = p.finish(&["Opted In".into(), "Email".into(), "Empty".into()]);
        assert_eq!(distinct.len(), 1, "{distinct:?}");
        assert_eq!(distinct["Opted In"], ["No", "Yes"]);
    }
}
