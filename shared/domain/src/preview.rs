//! Preview (`in_preview`): the first rows as they would import, and the distinct values
//! of enum-like columns, so a user can fix mappings and `value_mappings` before anything is
//! written. Collected during prevalidation's one pass, in bounded memory; only the sample rows
//! are built as records. `budget` then fits them in the import.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::budget;
use crate::import::SampleRecord;
use crate::validate::{Candidate, RowError};

/// A preview shows up to 10 sample records.
pub const SAMPLE_ROWS: usize = 10;
/// A column with more distinct values than this is free text, not an enum.
const MAX_DISTINCT: usize = 20;
/// Longer values are free text too.
const MAX_VALUE_BYTES: usize = 64;
/// The preview lives in the import's item: sample values are clipped and enum-like columns
/// capped as they are collected (`budget` fits what is left).
const MAX_SAMPLE_VALUE_BYTES: usize = 256;
const MAX_ENUM_COLUMNS: usize = 50;

/// Kept between the invocations of a scan that continues, as the rest of its state.
#[derive(Serialize, Deserialize)]
enum Distinct {
    Open { values: BTreeSet<String>, filled: u64 },
    FreeText,
}

#[derive(Serialize, Deserialize)]
pub struct Preview {
    samples: Vec<SampleRecord>,
    columns: Vec<Distinct>,
    /// Sample values cut short.
    clipped: u64,
}

impl Preview {
    pub fn new(columns: usize) -> Self {
        let open = || Distinct::Open { values: BTreeSet::new(), filled: 0 };
        Self { samples: Vec::new(), columns: (0..columns).map(|_| open()).collect(), clipped: 0 }
    }

    /// A row's values; `build` makes its record, called only for the rows kept as samples.
    pub fn see(
        &mut self,
        row: u64,
        values: &csv::StringRecord,
        build: impl FnOnce() -> Result<Candidate, Vec<RowError>>,
    ) {
        if self.samples.len() < SAMPLE_ROWS {
            self.samples.push(match build() {
                Ok(candidate) => {
                    let record = clip(candidate.fields, &mut self.clipped);
                    SampleRecord { row, record: Some(record), errors: vec![] }
                }
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

    /// Enum-like columns are those whose few values repeat: on average at least twice each. With
    /// the samples, and how many of their values were cut short.
    pub fn finish(self, headers: &[String]) -> (Vec<SampleRecord>, BTreeMap<String, Vec<String>>, u64) {
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
        (self.samples, distinct, self.clipped)
    }
}

/// A sample record with its long text values cut, at a character boundary, marked so and
/// counted.
fn clip(mut fields: Map<String, Value>, clipped: &mut u64) -> Map<String, Value> {
    for value in fields.values_mut() {
        match value {
            Value::String(s) => *clipped += u64::from(budget::clip(s, MAX_SAMPLE_VALUE_BYTES)),
            Value::Object(inner) => *inner = clip(std::mem::take(inner), clipped),
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
        let mut built = 0;
        for row in 1..=12 {
            p.see(row, &record(&["v"]), || {
                built += 1;
                if row == 2 {
                    Err(vec![RowError {
                        row,
                        column: None,
                        field: None,
                        code: "ragged_row".into(),
                        message: "x".into(),
                    }])
                } else {
                    Ok(Candidate { row, identifier: format!("{row}"), fields: Default::default() })
                }
            });
        }
        let (samples, _, _) = p.finish(&["a".into()]);
        assert_eq!(samples.len(), SAMPLE_ROWS);
        assert_eq!(built, SAMPLE_ROWS, "rows past the samples are not built");
        assert_eq!(samples[1].errors[0].code, "ragged_row");
        assert!(samples[1].record.is_none());
    }

    #[test]
    fn long_sample_values_are_clipped() {
        let mut fields = Map::new();
        fields.insert("notes".into(), Value::String("é".repeat(1000)));
        fields.insert("custom".into(), serde_json::json!({"x": "y".repeat(300), "n": 5}));
        let mut count = 0;
        let clipped = clip(fields, &mut count);
        assert_eq!(count, 2);
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
            p.see(i + 1, &record(&[status, &unique, ""]), || Err(vec![]));
        }
        let (_, distinct, _) = p.finish(&["Opted In".into(), "Email".into(), "Empty".into()]);
        assert_eq!(distinct.len(), 1, "{distinct:?}");
        assert_eq!(distinct["Opted In"], ["No", "Yes"]);
    }
}
