//! One object of a JSON source as the fields of one row: nested objects flattened under dotted
//! names, arrays joined or kept as compact JSON, each field handed to a sink.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::bad_file::BadFile;
use crate::chunking::ScanError;

use super::cap::STRING_CAP;

/// Where the flattened fields of each object go, in the order the source holds them.
pub(super) trait Sink {
    fn field(&mut self, name: String, text: String) -> Result<(), ScanError>;
    fn end_object(&mut self) -> Result<(), ScanError>;
}

/// A sink, and the failure of its own that stopped the parse (a serde error only carries text).
pub(super) struct Walk<S> {
    pub(super) sink: S,
    pub(super) failure: Option<ScanError>,
}

impl<S: Sink> Walk<S> {
    pub(super) fn stop<E: de::Error>(&mut self, failure: ScanError) -> E {
        let error = E::custom(&failure);
        self.failure = Some(failure);
        error
    }

    pub(super) fn field<E: de::Error>(&mut self, name: String, text: String) -> Result<(), E> {
        self.sink.field(name, text).map_err(|f| self.stop(f))
    }

    pub(super) fn end_object<E: de::Error>(&mut self) -> Result<(), E> {
        self.sink.end_object().map_err(|f| self.stop(f))
    }

    /// Why the parse stopped at `line` of the file: the sink's failure, a failed read, or bad JSON.
    pub(super) fn verdict(&mut self, e: serde_json::Error, line: u64) -> ScanError {
        if let Some(failure) = self.failure.take() {
            return failure;
        }
        if e.is_io() {
            return ScanError::Read(e.into());
        }
        // serde_json ends its message with its own position, which is wrong for a JSONL line.
        let text = e.to_string();
        let what = text.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&text);
        BadFile::Unsupported(format!("invalid JSON at line {line} column {}: {what}", e.column())).into()
    }
}

/// Where a value sits in the source, to say which one has the wrong shape.
#[derive(Clone, Copy)]
pub(super) enum Place {
    File,
    Element(u64),
    Line(u64),
}

/// A value that must be the file's array of objects (`Place::File`), or one of the objects.
pub(super) struct Expect<'a, S> {
    pub(super) place: Place,
    pub(super) walk: &'a mut Walk<S>,
}

impl<S: Sink> Expect<'_, S> {
    pub(super) fn wrong<E: de::Error>(self, found: &str) -> Result<(), E> {
        let message = match self.place {
            Place::File => format!("the JSON file is not an array of objects (found {found})"),
            Place::Element(n) => format!("element {n} of the JSON array is not an object (found {found})"),
            Place::Line(n) => format!("line {n} of the JSONL file is not an object (found {found})"),
        };
        Err(self.walk.stop(BadFile::Unsupported(message).into()))
    }
}

impl<'de, S: Sink> DeserializeSeed<'de> for Expect<'_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Expect<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if matches!(self.place, Place::File) { "an array of objects" } else { "an object" })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !matches!(self.place, Place::File) {
            return self.wrong("an array");
        }
        let mut n = 1;
        while seq.next_element_seed(Expect { place: Place::Element(n), walk: &mut *self.walk })?.is_some() {
            n += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if matches!(self.place, Place::File) {
            return self.wrong("an object");
        }
        flatten(&mut map, None, self.walk)?;
        self.walk.end_object()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.wrong("a string")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.wrong("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.wrong("a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.wrong("a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.wrong("a number")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.wrong("null")
    }
}

/// Hands each field of an object to the sink, the fields of nested objects under dotted names.
pub(super) fn flatten<'de, A: MapAccess<'de>, S: Sink>(
    map: &mut A,
    prefix: Option<&str>,
    walk: &mut Walk<S>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<String>()? {
        let name = match prefix {
            Some(prefix) => format!("{prefix}.{key}"),
            None => key,
        };
        map.next_value_seed(Field { name, walk: &mut *walk })?;
    }
    Ok(())
}

/// The value of a field: a nested object is flattened further, anything else is one cell.
pub(super) struct Field<'a, S> {
    pub(super) name: String,
    pub(super) walk: &'a mut Walk<S>,
}

impl<S: Sink> Field<'_, S> {
    pub(super) fn cell<E: de::Error>(self, text: String) -> Result<(), E> {
        self.walk.field(self.name, text)
    }
}

impl<'de, S: Sink> DeserializeSeed<'de> for Field<'_, S> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Field<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        flatten(&mut map, Some(&self.name), self.walk)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let parts = parts(&mut seq, STRING_CAP + 1)?;
        let text = if parts.iter().all(|p| p.scalar.is_some()) {
            parts.into_iter().filter_map(|p| p.scalar).collect::<Vec<_>>().join(";")
        } else {
            Part::array(parts)
        };
        self.cell(text)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.cell(v.to_owned())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.cell(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.cell(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.cell(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.cell(serde_json::Value::from(v).to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.cell(String::new())
    }
}

/// A value inside an array: its cell text when it is a scalar, and its compact JSON either way,
/// since whether the array is joined or kept as JSON is known only at its end.
pub(super) struct Part {
    pub(super) scalar: Option<String>,
    pub(super) json: String,
}

impl Part {
    pub(super) fn scalar(text: String) -> Self {
        Self { json: text.clone(), scalar: Some(text) }
    }

    pub(super) fn array(parts: Vec<Part>) -> String {
        format!("[{}]", parts.into_iter().map(|p| p.json).collect::<Vec<_>>().join(","))
    }
}

/// The parts of an array until they make `left` bytes, however they are written out (joined or
/// as JSON); the rest is read and dropped: what is kept is over the field limit already, so a
/// huge array costs what a 64 KB one does.
pub(super) fn parts<'de, A: SeqAccess<'de>>(seq: &mut A, mut left: usize) -> Result<Vec<Part>, A::Error> {
    let mut parts = Vec::new();
    while left > 0 {
        let Some(part) = seq.next_element_seed(Compact { left })? else { return Ok(parts) };
        left = left.saturating_sub(part.scalar.as_ref().map_or(part.json.len(), String::len) + 1);
        parts.push(part);
    }
    while seq.next_element::<de::IgnoredAny>()?.is_some() {}
    Ok(parts)
}

/// Reads a value inside an array as a [`Part`], keys in the order the source has them; past
/// `left` bytes the rest of it is dropped, as in [`parts`].
pub(super) struct Compact {
    pub(super) left: usize,
}

impl<'de> DeserializeSeed<'de> for Compact {
    type Value = Part;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Part, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Compact {
    type Value = Part;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Part, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.left == 0 {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(Compact { left: self.left })?;
            let entry = format!("{}:{}", serde_json::Value::from(key), value.json);
            self.left = self.left.saturating_sub(entry.len() + 1);
            entries.push(entry);
        }
        Ok(Part { scalar: None, json: format!("{{{}}}", entries.join(",")) })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Part, A::Error> {
        Ok(Part { scalar: None, json: Part::array(parts(&mut seq, self.left)?) })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Part, E> {
        Ok(Part { scalar: Some(v.to_owned()), json: serde_json::Value::from(v).to_string() })
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Part, E> {
        Ok(Part::scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Part, E> {
        Ok(Part::scalar(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Part, E> {
        Ok(Part::scalar(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Part, E> {
        Ok(Part::scalar(serde_json::Value::from(v).to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Part, E> {
        Ok(Part { scalar: Some(String::new()), json: "null".into() })
    }
}
