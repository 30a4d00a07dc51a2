//! Reading a CSV upload once, as a stream, to learn its shape and plan the fan-out: the file is
//! cut into chunks of whole records at byte offsets, so each transform reads just its range.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::dedup::Dedup;
use crate::import::FileInfo;
use crate::mapping::{self, ColumnMap};
use crate::validate::RowRules;

/// One transform's share of the file: bytes `[start, end)` hold rows `first_row..first_row+rows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u64,
    pub start: u64,
    pub end: u64,
    pub first_row: u64,
    pub rows: u64,
    /// Rows of this chunk that lose to a later copy of the same identifier.
    pub skip_rows: Vec<u64>,
}

#[derive(Debug)]
pub struct Scan {
    pub headers: Vec<String>,
    pub columns: ColumnMap,
    pub chunks: Vec<Chunk>,
    pub file: FileInfo,
}

/// Why a file cannot be imported at all (SPEC §7); becomes the import's `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFile {
    #[error("the file is empty: no header row")]
    NoHeader,
    #[error("the header has an empty column name (column {0})")]
    EmptyHeader(usize),
    #[error("the header names `{0}` more than once")]
    DuplicateHeader(String),
    #[error("no column maps to the identifier field `{0}`")]
    NoIdentifierColumn(String),
    #[error("mappings: {0}")]
    Mapping(String),
    #[error("row {row}: {message}")]
    Unreadable { row: u64, message: String },
}

/// What the scan needs to know of the import.
pub struct ScanRules<'a> {
    pub resource: crate::record::ResourceType,
    pub identifier_field: &'a str,
    pub explicit: &'a std::collections::BTreeMap<String, Option<String>>,
    pub chunk_rows: u64,
}

/// Rows are numbered from 1 for the first record after the header.
pub fn scan(reader: impl Read, size: u64, rules: &ScanRules) -> Result<Scan, BadFile> {
    let mut sniff = Sniff { inner: reader, first: Vec::new() };
    let mut csv = csv_reader(&mut sniff, true);
    let headers: Vec<String> = match csv.headers() {
        Ok(h) if !h.iter().all(|name| name.trim().is_empty()) => {
            h.iter().map(|s| s.trim().to_string()).collect()
        }
        Ok(_) => return Err(BadFile::NoHeader),
        Err(e) => return Err(unreadable(0, &e)),
    };
    let columns = mapping::resolve(rules.resource, &headers, rules.explicit).map_err(|errs| {
        BadFile::Mapping(errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
    })?;
    check_header(&headers, &columns)?;
    if columns.column_of(rules.identifier_field).is_none() {
        return Err(BadFile::NoIdentifierColumn(rules.identifier_field.to_string()));
    }
    let row_rules = RowRules {
        resource: rules.resource,
        identifier_field: rules.identifier_field,
        headers: &headers,
        columns: &columns,
    };

    let mut dedup = Dedup::default();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(unreadable(row + 1, &e)),
        }
        row += 1;
        let start = record.position().map_or(0, |p| p.byte());
        if (row - 1).is_multiple_of(rules.chunk_rows) {
            if let Some(last) = chunks.last_mut() {
                last.end = start;
            }
            chunks.push(Chunk {
                index: chunks.len() as u64,
                start,
                end: size,
                first_row: row,
                rows: 0,
                skip_rows: vec![],
            });
        }
        if let Some(last) = chunks.last_mut() {
            last.rows += 1;
        }
        if let Ok(candidate) = row_rules.build(row, &record) {
            dedup.see(&candidate.identifier, row);
        }
    }
    for skipped in dedup.into_skipped() {
        let i = ((skipped - 1) / rules.chunk_rows) as usize;
        chunks[i].skip_rows.push(skipped);
    }
    drop(csv);
    let had_bom = sniff.first.starts_with(b"\xEF\xBB\xBF");
    let line_ending = if sniff.first.windows(2).any(|w| w == b"\r\n") { "crlf" } else { "lf" };
    let file = FileInfo {
        size,
        rows: row,
        detected_encoding: "utf-8".into(),
        delimiter: ",".into(),
        had_bom,
        line_ending: line_ending.into(),
    };
    Ok(Scan { headers, columns, chunks, file })
}

/// The one CSV dialect of prevalidation and transform, so both see the same records.
pub fn csv_reader<R: Read>(reader: R, has_headers: bool) -> csv::Reader<R> {
    csv::ReaderBuilder::new().has_headers(has_headers).flexible(true).from_reader(reader)
}

fn check_header(headers: &[String], columns: &ColumnMap) -> Result<(), BadFile> {
    for (i, (h, field)) in headers.iter().zip(&columns.columns).enumerate() {
        if h.is_empty() && field.is_some() {
            return Err(BadFile::EmptyHeader(i + 1));
        }
        if let Some(j) = headers[..i].iter().position(|p| p == h) {
            if field.is_some() || columns.columns[j].is_some() {
                return Err(BadFile::DuplicateHeader(h.clone()));
            }
        }
    }
    Ok(())
}

fn unreadable(row: u64, e: &csv::Error) -> BadFile {
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        csv::ErrorKind::Io(io) => format!("read failed: {io}"),
        _ => e.to_string(),
    };
    BadFile::Unreadable { row, message }
}

/// Keeps the first bytes read, to tell the BOM and line endings without a second pass.
struct Sniff<R> {
    inner: R,
    first: Vec<u8>,
}

const SNIFF_BYTES: usize = 64 * 1024;

impl<R: Read> Read for Sniff<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = SNIFF_BYTES.saturating_sub(self.first.len()).min(n);
        self.first.extend_from_slice(&buf[..room]);
        Ok(n)
    }
}
