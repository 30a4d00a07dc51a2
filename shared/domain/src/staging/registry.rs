//! The readers of sources of objects, by format. A reader finds the objects in its stream and
//! hands each to the walk ([`Walk`]); a new format is a module with its `objects` and a line here.

use std::io::{BufReader, Read};

use crate::chunking::ScanError;

use super::cap::CapStrings;
use super::objects::{Sink, Walk};
use super::source::{without_bom, BUF};
use super::{json, jsonl};

/// Feeds each object of the source (JSONL when `lines`, else JSON) to `sink`, and hands it back.
pub(super) fn walk<S: Sink>(reader: impl Read, lines: bool, sink: S) -> Result<S, ScanError> {
    let mut walk = Walk { sink, failure: None };
    let source = BufReader::with_capacity(BUF, CapStrings::new(without_bom(reader)?));
    if lines {
        jsonl::objects(source, &mut walk)?;
    } else {
        json::objects(source, &mut walk)?;
    }
    Ok(walk.sink)
}
