//! What a file puts on its import item (`file_headers`, `mappings`, `unmapped_headers`,
//! `sample_records` with their errors, `distinct_values`) kept within one budget of 96 KB,
//! measured as JSON, far below DynamoDB's 400 KB item, which the create body (at most 256 KB)
//! shares. The header and its mappings, which every step reads, must fit their share or the
//! file fails with a reason; what is only shown is clipped to what is left, and the import's
//! `clipped` counts what was cut, so no file leaves a plan too large to save.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bad_file::{BadFile, HEADER_BUDGET, MAX_HEADER_CELL_BYTES};
use crate::import::{Clipped, Plan};

/// All a file puts on its import.
pub const BUDGET: usize = 96 * 1024;
/// The error messages of sample records are cut at this length (they quote the bad value).
const MAX_MESSAGE_BYTES: usize = 256;
/// A failed file's `reason` is cut at this length.
const MAX_REASON_BYTES: usize = 1024;

/// Every column name at most 1 KB, and the names with their mappings within their share.
pub fn check_header(headers: &[String], mappings: &BTreeMap<String, Option<String>>) -> Result<(), BadFile> {
    check_names(headers)?;
    let bytes = json_len(headers) + json_len(mappings);
    if bytes > HEADER_BUDGET {
        return Err(BadFile::HeaderTooLarge(bytes));
    }
    Ok(())
}

/// Every column name at most 1 KB.
pub fn check_names(headers: &[String]) -> Result<(), BadFile> {
    match headers.iter().position(|h| h.len() > MAX_HEADER_CELL_BYTES) {
        Some(i) => Err(BadFile::LongHeader { column: i + 1, bytes: headers[i].len() }),
        None => Ok(()),
    }
}

/// Clips what the plan only shows to what the budget leaves after the header (which
/// [`check_header`] kept within its share): sample error messages are cut, then entries are
/// left out from the end. `clipped_values`: the sample values the preview cut already.
pub fn fit(plan: &mut Plan, clipped_values: u64) {
    let mut clipped = Clipped { values: clipped_values, ..Clipped::default() };
    for error in plan.sample_records.iter_mut().flat_map(|s| s.errors.iter_mut()) {
        clipped.values += u64::from(clip(&mut error.message, MAX_MESSAGE_BYTES));
    }
    let mut left = BUDGET.saturating_sub(json_len(&plan.file_headers) + json_len(&plan.mappings));
    clipped.unmapped_headers = keep_fitting(&mut plan.unmapped_headers, &mut left);
    clipped.sample_records = keep_fitting(&mut plan.sample_records, &mut left);
    let mut distinct: Vec<_> = std::mem::take(&mut plan.distinct_values).into_iter().collect();
    clipped.distinct_values = keep_fitting(&mut distinct, &mut left);
    plan.distinct_values = distinct.into_iter().collect();
    plan.clipped = (clipped != Clipped::default()).then_some(clipped);
}

/// A failed file's reason, short enough for the import.
pub fn reason(bad: &BadFile) -> String {
    let mut text = bad.to_string();
    clip(&mut text, MAX_REASON_BYTES);
    text
}

/// Cuts `text` to at most `max` bytes at a character boundary and marks it with `…`; whether
/// it did.
pub fn clip(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    text.truncate(cut);
    text.push('…');
    true
}

/// Keeps the first items that fit in `left`, taking their size from it; how many it left out.
fn keep_fitting<T: Serialize>(items: &mut Vec<T>, left: &mut usize) -> u64 {
    let fitting = items
        .iter()
        .take_while(|item| {
            let size = json_len(item) + 1;
            let fits = size <= *left;
            if fits {
                *left -= size;
            }
            fits
        })
        .count();
    let dropped = items.len() - fitting;
    items.truncate(fitting);
    dropped as u64
}

fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{FileInfo, SampleRecord};
    use crate::validate::RowError;

    fn plan(headers: usize, samples: usize, message: usize) -> Plan {
        let file_headers: Vec<String> = (0..headers).map(|i| format!("column {i} of a wide export")).collect();
        let error = |row| RowError {
            row,
            column: Some("email".into()),
            field: Some("email".into()),
            code: "invalid_email".into(),
            message: "é".repeat(message / 2),
        };
        Plan {
            run: 0,
            source_etag: None,
            mappings: file_headers.iter().map(|h| (h.clone(), None)).collect(),
            unmapped_headers: file_headers.clone(),
            file_headers,
            file: FileInfo::default(),
            chunks_total: 0,
            sample_records: (1..=samples as u64)
                .map(|row| SampleRecord { row, record: None, errors: vec![error(row)] })
                .collect(),
            distinct_values: (0..50).map(|i| (format!("c{i}"), vec!["x".repeat(60); 20])).collect(),
            queue: false,
            suggested_template: None,
            clipped: None,
        }
    }

    #[test]
    fn a_small_plan_is_kept_whole() {
        let mut small = plan(3, 2, 20);
        small.distinct_values.clear();
        let before = format!("{small:?}");
        fit(&mut small, 0);
        assert_eq!(format!("{small:?}"), before);
    }

    #[test]
    fn a_big_plan_is_clipped_under_budget_and_says_what_was_cut() {
        let mut big = plan(500, 10, 60_000);
        fit(&mut big, 2);
        let size = json_len(&big.file_headers)
            + json_len(&big.mappings)
            + json_len(&big.unmapped_headers)
            + json_len(&big.sample_records)
            + json_len(&big.distinct_values);
        assert!(size <= BUDGET, "{size}");
        let message = &big.sample_records[0].errors[0].message;
        assert!(message.len() <= MAX_MESSAGE_BYTES + 3 && message.ends_with('…'), "{message}");
        let clipped = big.clipped.unwrap();
        assert_eq!(clipped.values, 2 + 10);
        assert_eq!(clipped.unmapped_headers, 0, "the header's own share holds them");
        assert_eq!(clipped.sample_records, 0);
        assert_eq!(clipped.distinct_values as usize, 50 - big.distinct_values.len());
        assert!(clipped.distinct_values > 0);
    }

    #[test]
    fn long_or_too_many_names_fail_the_file() {
        let long = vec!["email".to_string(), "x".repeat(MAX_HEADER_CELL_BYTES + 1)];
        assert_eq!(check_names(&long), Err(BadFile::LongHeader { column: 2, bytes: MAX_HEADER_CELL_BYTES + 1 }));
        let wide: Vec<String> = (0..500).map(|i| format!("{i:04}{}", "n".repeat(200))).collect();
        let mappings = wide.iter().map(|h| (h.clone(), None)).collect();
        assert!(matches!(check_header(&wide, &mappings), Err(BadFile::HeaderTooLarge(_))));
        let usual: Vec<String> = (0..500).map(|i| format!("a column named {i:04}")).collect();
        let mappings = usual.iter().map(|h| (h.clone(), Some("custom.x".to_string()))).collect();
        assert_eq!(check_header(&usual, &mappings), Ok(()));
    }
}
