//! What the fuzz targets share: the `csv` crate as the oracle of records, and a reader that
//! hands bytes over a few at a time, so a reader's refills land anywhere in its input.

use std::io::Read;

use domain::dialect::{Dialect, Encoding};

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

/// Records as the transform reads them from a record's offset `start` in the middle of a file
/// (`Dialect::reader_at`): they must be the file's own records from there on.
pub fn records_at(bytes: &[u8], start: usize, delimiter: u8) -> Vec<Vec<Vec<u8>>> {
    let dialect = Dialect::for_reading(Encoding::Utf8, char::from(delimiter));
    let mut reader = dialect.reader_at(&bytes[start..], start as u64);
    reader
        .byte_records()
        .map(|r| r.expect("the csv crate reads any bytes").iter().map(<[u8]>::to_vec).collect())
        .collect()
}
