//! Staged copies: uploads whose bytes cannot be cut into CSV records at byte offsets (UTF-16 text,
//! JSON, JSONL) are first rewritten as a UTF-8 CSV, which the rest of the pipeline then scans and
//! chunks like any upload. Everything here streams, so memory stays flat in the size of the file:
//! it holds a buffer, one JSON object and the header set (at most `MAX_COLUMNS` names of 1 KB).
//! A JSON string is capped as it streams by (`cap`), so no value is ever held whole.
//!
//! Workbooks (`workbook`) are staged the same way, a cell at a time.
//!
//! One module per input format (`utf16`, `json`, `jsonl`); the sources of objects share the two
//! passes (`passes`) and how an object becomes a row (`objects`), and are picked by `registry`.

mod cap;
mod json;
mod jsonl;
mod objects;
mod passes;
mod registry;
mod source;
mod utf16;
mod workbook;

pub use passes::{json_headers, json_to_csv, JsonShape};
pub use utf16::transcode_utf16;
pub use workbook::{workbook_to_csv, Sheet};

#[cfg(test)]
mod tests;
