//! JSONL: one object a line, blank lines skipped.

use std::io::{BufRead, Read};

use serde::de::DeserializeSeed;

use crate::bad_file::BadFile;
use crate::chunking::ScanError;

use super::objects::{Expect, Place, Sink, Walk};

/// A JSON line longer than this is not one record of at most 400 KB (a whole array on one line,
/// say): the file fails instead of being held in memory.
pub(super) const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Feeds each object of the lines to the walk.
pub(super) fn objects<S: Sink>(mut source: impl BufRead, walk: &mut Walk<S>) -> Result<(), ScanError> {
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        let read = source.by_ref().take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut line).map_err(ScanError::Read)?;
        if read == 0 {
            break;
        }
        if read as u64 > MAX_LINE_BYTES {
            let message = format!("line {number} is longer than {} MB: is it JSON lines?", MAX_LINE_BYTES >> 20);
            return Err(BadFile::Unsupported(message).into());
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        // Without its line break, an object cut short is reported on its own line.
        let mut de = serde_json::Deserializer::from_slice(line.trim_ascii_end());
        let parsed =
            Expect { place: Place::Line(number), walk: &mut *walk }.deserialize(&mut de).and_then(|()| de.end());
        parsed.map_err(|e| walk.verdict(e, number))?;
    }
    Ok(())
}
