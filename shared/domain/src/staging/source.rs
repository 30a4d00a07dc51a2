//! Reading the source: the block size of reads and writes, and the BOM JSON parsers reject.

use std::io::{self, Read};

use crate::chunking::ScanError;

/// Reads and writes go in blocks of this size.
pub(super) const BUF: usize = 64 * 1024;

/// Windows tools often start UTF-8 text with a BOM, which JSON parsers reject.
pub(super) fn without_bom(mut reader: impl Read) -> Result<impl Read, ScanError> {
    let mut head = Vec::with_capacity(3);
    reader.by_ref().take(3).read_to_end(&mut head).map_err(ScanError::Read)?;
    if head == [0xEF, 0xBB, 0xBF] {
        head.clear();
    }
    Ok(io::Cursor::new(head).chain(reader))
}
