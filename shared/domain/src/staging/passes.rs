//! The two passes over a source of objects (JSON, JSONL): the staged copy's header, then its rows.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};

use crate::bad_file::{BadFile, MAX_COLUMNS, MAX_HEADER_CELL_BYTES};
use crate::chunking::ScanError;

use super::objects::Sink;
use super::registry::walk;
use super::source::BUF;

/// What the first pass over a JSON or JSONL source finds: the staged copy's header and row count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonShape {
    /// The flattened keys of all objects, in the order first seen.
    pub headers: Vec<String>,
    /// How many objects the source holds.
    pub rows: u64,
}

/// First pass over a JSON array of objects, or JSONL (`lines`: one object a line, blank lines
/// skipped): the union of the objects' keys, nested objects flattened with dots
/// (`{"custom": {"plan": "gold"}}` has the key `custom.plan`). No objects at all is not an error
/// here: the caller decides.
pub fn json_headers(reader: impl Read, lines: bool) -> Result<JsonShape, ScanError> {
    Ok(walk(reader, lines, Union::default())?.shape)
}

/// Second pass: writes the staged CSV, the header row then one row per object, values in the
/// order of `headers` (from [`json_headers`]; a key not among them is left out). A missing key
/// or null is empty, an array of scalars is joined with `;`, an array holding objects or arrays
/// is its compact JSON. Returns the rows written.
pub fn json_to_csv(reader: impl Read, lines: bool, headers: &[String], out: impl Write) -> Result<u64, ScanError> {
    let mut csv = csv::WriterBuilder::new().buffer_capacity(BUF).from_writer(out);
    csv.write_record(headers).map_err(write_error)?;
    let index = headers.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
    let sink = Rows { index, cells: vec![String::new(); headers.len()], csv, written: 0 };
    let mut rows = walk(reader, lines, sink)?;
    rows.csv.flush().map_err(ScanError::Read)?;
    Ok(rows.written)
}

/// A failed write of the staged copy is retried, like a failed read.
pub(super) fn write_error(e: csv::Error) -> ScanError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ScanError::Read(e),
        other => ScanError::Read(io::Error::other(format!("{other:?}"))),
    }
}

/// The first pass: collects the header.
#[derive(Default)]
pub(super) struct Union {
    pub(super) shape: JsonShape,
    pub(super) seen: HashSet<String>,
}

impl Sink for Union {
    fn field(&mut self, name: String, _: String) -> Result<(), ScanError> {
        if !self.seen.contains(&name) {
            // Stopping at the first name over the limit keeps the set bounded.
            if self.shape.headers.len() == MAX_COLUMNS {
                return Err(BadFile::TooManyColumns(MAX_COLUMNS + 1).into());
            }
            if name.len() > MAX_HEADER_CELL_BYTES {
                return Err(BadFile::LongHeader { column: self.shape.headers.len() + 1, bytes: name.len() }.into());
            }
            self.seen.insert(name.clone());
            self.shape.headers.push(name);
        }
        Ok(())
    }

    fn end_object(&mut self) -> Result<(), ScanError> {
        self.shape.rows += 1;
        Ok(())
    }
}

/// The second pass: writes each object as a row.
pub(super) struct Rows<W: Write> {
    pub(super) index: HashMap<String, usize>,
    pub(super) cells: Vec<String>,
    pub(super) csv: csv::Writer<W>,
    pub(super) written: u64,
}

impl<W: Write> Sink for Rows<W> {
    fn field(&mut self, name: String, text: String) -> Result<(), ScanError> {
        if let Some(&i) = self.index.get(&name) {
            self.cells[i] = text;
        }
        Ok(())
    }

    fn end_object(&mut self) -> Result<(), ScanError> {
        self.csv.write_record(&self.cells).map_err(write_error)?;
        self.cells.iter_mut().for_each(String::clear);
        self.written += 1;
        Ok(())
    }
}
