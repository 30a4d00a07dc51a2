//! What the fuzz targets share: the `csv` crate as the oracle of records, and a reader that
//! hands bytes over a few at a time, so a reader's refills land anywhere in its input.

use std::io::Read;

/// Every record the `csv` crate (the transform's reader) reads from `bytes`, as fields.
pub fn csv_records(bytes: &[u8], delimiter: u8) -> Vec<Vec<Vec<u8>>> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(bytes);
    reader
        .byte_records()
        .map(|r| r.expect("the csv crate reads any bytes").iter().map(<[u8]>::to_vec).collect())
        .collect()
}

/// Reads of at most `step` bytes.
pub struct Trickle<'a> {
    pub bytes: &'a [u8],
    pub step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// A read size from 1 to 16 picked by the input itself, so each input is cut its own way.
pub fn step_for(bytes: &[u8]) -> usize {
    1 + bytes.iter().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(*b))) % 16
}

/// Records as the `csv` crate reads them from a record's offset in the middle of a file: it takes
/// a UTF-8 byte order mark there as the start of its input and drops it, where reading the whole
/// file keeps it in the first value. (Known: a chunk whose first row starts with U+FEFF reads
/// that value without it.)
pub fn from_offset(mut records: Vec<Vec<Vec<u8>>>) -> Vec<Vec<Vec<u8>>> {
    if let Some(first) = records.first_mut().and_then(|r| r.first_mut()) {
        if first.starts_with(b"\xEF\xBB\xBF") {
            first.drain(..3);
        }
    }
    records
}
