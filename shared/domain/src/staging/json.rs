//! JSON: one array of objects.

use std::io::BufRead;

use serde::de::DeserializeSeed;

use crate::chunking::ScanError;

use super::objects::{Expect, Place, Sink, Walk};

/// Feeds each object of the array to the walk, one element at a time: the array is never held
/// whole.
pub(super) fn objects<S: Sink>(source: impl BufRead, walk: &mut Walk<S>) -> Result<(), ScanError> {
    let mut de = serde_json::Deserializer::from_reader(source);
    let parsed = Expect { place: Place::File, walk: &mut *walk }.deserialize(&mut de).and_then(|()| de.end());
    parsed.map_err(|e| {
        let line = e.line() as u64;
        walk.verdict(e, line)
    })
}
