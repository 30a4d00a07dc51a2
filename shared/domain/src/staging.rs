//! Staged copies: uploads whose bytes cannot be cut into CSV records at byte offsets (UTF-16 text,
//! JSON, JSONL) are first rewritten as a UTF-8 CSV, which the rest of the pipeline then scans and
//! chunks like any upload. Everything here streams, so memory stays flat in the size of the file:
//! it holds a buffer, one JSON object and the header set (at most `MAX_COLUMNS` names of 1 KB).
//! A JSON string is capped as it streams by ([`CapStrings`]), so no value is ever held whole.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use encoding_rs::DecoderResult;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::bad_file::{BadFile, MAX_COLUMNS, MAX_HEADER_CELL_BYTES};
use crate::chunking::ScanError;
use crate::dialect::Encoding;
use crate::validate::MAX_FIELD_BYTES;

/// Reads and writes go in blocks of this size.
const BUF: usize = 64 * 1024;

/// Re-encodes UTF-16 text as UTF-8, its BOM dropped. Text that is not valid in `encoding` fails
/// the file, naming the offset of the first bad byte.
pub fn transcode_utf16(mut reader: impl Read, encoding: Encoding, mut out: impl Write) -> Result<(), ScanError> {
    let mut decoder = match encoding {
        Encoding::Utf16Le => encoding_rs::UTF_16LE,
        Encoding::Utf16Be => encoding_rs::UTF_16BE,
        Encoding::Utf8 => encoding_rs::UTF_8,
        Encoding::Windows1252 => encoding_rs::WINDOWS_1252,
    }
    .new_decoder_with_bom_removal();
    let (mut input, mut output) = (vec![0u8; BUF], vec![0u8; 2 * BUF]);
    // Bytes of the source the decoder has taken, so bad text can be located.
    let mut offset = 0u64;
    loop {
        let n = read_some(&mut reader, &mut input)?;
        let mut src = &input[..n];
        loop {
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(src, &mut output, n == 0);
            out.write_all(&output[..written]).map_err(ScanError::Read)?;
            offset += read as u64;
            src = &src[read..];
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(bad, after) => {
                    let at = offset - u64::from(bad) - u64::from(after);
                    let message = format!("not valid {} at byte {at}", encoding.as_str());
                    return Err(BadFile::Unreadable { row: 0, message }.into());
                }
            }
        }
        if n == 0 {
            return out.flush().map_err(ScanError::Read);
        }
    }
}

fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, ScanError> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result.map_err(ScanError::Read),
        }
    }
}

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
fn write_error(e: csv::Error) -> ScanError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ScanError::Read(e),
        other => ScanError::Read(io::Error::other(format!("{other:?}"))),
    }
}

/// Where the flattened fields of each object go, in the order the source holds them.
trait Sink {
    fn field(&mut self, name: String, text: String) -> Result<(), ScanError>;
    fn end_object(&mut self) -> Result<(), ScanError>;
}

/// The first pass: collects the header.
#[derive(Default)]
struct Union {
    shape: JsonShape,
    seen: HashSet<String>,
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
struct Rows<W: Write> {
    index: HashMap<String, usize>,
    cells: Vec<String>,
    csv: csv::Writer<W>,
    written: u64,
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

/// Feeds each object of the source to `sink`, and hands it back.
fn walk<S: Sink>(reader: impl Read, lines: bool, sink: S) -> Result<S, ScanError> {
    let mut walk = Walk { sink, failure: None };
    let source = BufReader::with_capacity(BUF, CapStrings::new(without_bom(reader)?));
    if lines {
        walk_lines(source, &mut walk)?;
    } else {
        // One element at a time: the array is never held whole.
        let mut de = serde_json::Deserializer::from_reader(source);
        let parsed = Expect { place: Place::File, walk: &mut walk }.deserialize(&mut de).and_then(|()| de.end());
        parsed.map_err(|e| {
            let line = e.line() as u64;
            walk.verdict(e, line)
        })?;
    }
    Ok(walk.sink)
}

/// A JSON line longer than this is not one record of SPEC's 400 KB (a whole array on one line,
/// say): the file fails instead of being held in memory.
const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

fn walk_lines<S: Sink>(mut source: impl BufRead, walk: &mut Walk<S>) -> Result<(), ScanError> {
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

/// Windows tools often start UTF-8 text with a BOM, which JSON parsers reject.
fn without_bom(mut reader: impl Read) -> Result<impl Read, ScanError> {
    let mut head = Vec::with_capacity(3);
    reader.by_ref().take(3).read_to_end(&mut head).map_err(ScanError::Read)?;
    if head == [0xEF, 0xBB, 0xBF] {
        head.clear();
    }
    Ok(io::Cursor::new(head).chain(reader))
}

/// Caps every JSON string of the source as it streams by, before the parser buffers it: past
/// `MAX_FIELD_BYTES` (counting each character or escape as at least one byte) the rest of the
/// string is skipped. What is kept is still over the limit, so the value becomes the row error
/// `value_too_long` (a name that long fails the file), never a silent truncation; and a 300 MB
/// string costs what a 64 KB one does.
struct CapStrings<R> {
    inner: R,
    lex: Lex,
    /// Bytes of the current string kept so far, at least.
    kept: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lex {
    Outside,
    InString,
    /// After a backslash.
    Escape,
    /// Hex digits of a `\u` escape left.
    Hex(u8),
    /// Past the cap: dropping the string up to its closing quote.
    Skip,
    SkipEscape,
}

/// The kept part of a capped string: one byte over the field limit.
const STRING_CAP: usize = MAX_FIELD_BYTES + 1;

impl<R> CapStrings<R> {
    fn new(inner: R) -> Self {
        Self { inner, lex: Lex::Outside, kept: 0 }
    }
}

impl<R: Read> Read for CapStrings<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            let mut out = 0;
            for i in 0..n {
                let b = buf[i];
                let (next, keep) = match (self.lex, b) {
                    (Lex::Outside, b'"') => {
                        self.kept = 0;
                        (Lex::InString, true)
                    }
                    (Lex::Outside, _) => (Lex::Outside, true),
                    (Lex::InString, b'"') => (Lex::Outside, true),
                    // Cut only where a character starts, outside any escape: what is kept stays
                    // valid UTF-8 and valid JSON.
                    (Lex::InString, _) if self.kept >= STRING_CAP && b & 0xC0 != 0x80 => match b {
                        b'\\' => (Lex::SkipEscape, false),
                        _ => (Lex::Skip, false),
                    },
                    (Lex::InString, b'\\') => {
                        self.kept += 1;
                        (Lex::Escape, true)
                    }
                    (Lex::InString, _) => {
                        self.kept += 1;
                        (Lex::InString, true)
                    }
                    (Lex::Escape, b'u') => (Lex::Hex(4), true),
                    (Lex::Escape, _) | (Lex::Hex(1), _) => (Lex::InString, true),
                    (Lex::Hex(left), _) => (Lex::Hex(left - 1), true),
                    (Lex::Skip, b'"') => (Lex::Outside, true),
                    (Lex::Skip, b'\\') => (Lex::SkipEscape, false),
                    (Lex::Skip, _) | (Lex::SkipEscape, _) => (Lex::Skip, false),
                };
                self.lex = next;
                if keep {
                    buf[out] = b;
                    out += 1;
                }
            }
            // All of a read skipped is not the end of the source.
            if out > 0 || n == 0 {
                return Ok(out);
            }
        }
    }
}

/// A sink, and the failure of its own that stopped the parse (a serde error only carries text).
struct Walk<S> {
    sink: S,
    failure: Option<ScanError>,
}

impl<S: Sink> Walk<S> {
    fn stop<E: de::Error>(&mut self, failure: ScanError) -> E {
        let error = E::custom(&failure);
        self.failure = Some(failure);
        error
    }

    fn field<E: de::Error>(&mut self, name: String, text: String) -> Result<(), E> {
        self.sink.field(name, text).map_err(|f| self.stop(f))
    }

    fn end_object<E: de::Error>(&mut self) -> Result<(), E> {
        self.sink.end_object().map_err(|f| self.stop(f))
    }

    /// Why the parse stopped at `line` of the file: the sink's failure, a failed read, or bad JSON.
    fn verdict(&mut self, e: serde_json::Error, line: u64) -> ScanError {
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
enum Place {
    File,
    Element(u64),
    Line(u64),
}

/// A value that must be the file's array of objects (`Place::File`), or one of the objects.
struct Expect<'a, S> {
    place: Place,
    walk: &'a mut Walk<S>,
}

impl<S: Sink> Expect<'_, S> {
    fn wrong<E: de::Error>(self, found: &str) -> Result<(), E> {
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
fn flatten<'de, A: MapAccess<'de>, S: Sink>(
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
struct Field<'a, S> {
    name: String,
    walk: &'a mut Walk<S>,
}

impl<S: Sink> Field<'_, S> {
    fn cell<E: de::Error>(self, text: String) -> Result<(), E> {
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
struct Part {
    scalar: Option<String>,
    json: String,
}

impl Part {
    fn scalar(text: String) -> Self {
        Self { json: text.clone(), scalar: Some(text) }
    }

    fn array(parts: Vec<Part>) -> String {
        format!("[{}]", parts.into_iter().map(|p| p.json).collect::<Vec<_>>().join(","))
    }
}

/// The parts of an array until they make `left` bytes, however they are written out (joined or
/// as JSON); the rest is read and dropped: what is kept is over the field limit already, so a
/// huge array costs what a 64 KB one does.
fn parts<'de, A: SeqAccess<'de>>(seq: &mut A, mut left: usize) -> Result<Vec<Part>, A::Error> {
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
struct Compact {
    left: usize,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::MAX_FIELD_BYTES;

    /// Hands out 1, 2, 3, 1, ... bytes a read, so buffer boundaries fall everywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    fn trickle(data: &[u8]) -> Trickle<'_> {
        Trickle { data, step: 0 }
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.step = self.step % 3 + 1;
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Gives its bytes, then fails as a dropped connection does.
    struct Broken<'a>(&'a [u8]);

    impl Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset"));
            }
            self.0.read(buf)
        }
    }

    /// Accepts nothing, as a full disk does.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn utf16(units: impl IntoIterator<Item = u16>, encoding: Encoding) -> Vec<u8> {
        std::iter::once(0xFEFF)
            .chain(units)
            .flat_map(|u| if encoding == Encoding::Utf16Le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    }

    fn transcode(source: impl Read, encoding: Encoding) -> Result<String, ScanError> {
        let mut out = Vec::new();
        transcode_utf16(source, encoding, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn bad<T: fmt::Debug>(result: Result<T, ScanError>) -> BadFile {
        match result {
            Err(ScanError::Bad(bad)) => bad,
            other => panic!("expected a bad file, got {other:?}"),
        }
    }

    fn message<T: fmt::Debug>(result: Result<T, ScanError>) -> String {
        bad(result).to_string()
    }

    /// Both passes, each reading the source a few bytes at a time.
    fn stage(source: &str, lines: bool) -> (JsonShape, String) {
        let shape = json_headers(trickle(source.as_bytes()), lines).unwrap();
        let mut out = Vec::new();
        let rows = json_to_csv(trickle(source.as_bytes()), lines, &shape.headers, &mut out).unwrap();
        assert_eq!(rows, shape.rows);
        (shape, String::from_utf8(out).unwrap())
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn utf16_becomes_utf8_without_bom_in_both_byte_orders() {
        let text = "name,city\nRené,日本 🎉\n\"Zoë 😀\",x\n";
        for encoding in [Encoding::Utf16Le, Encoding::Utf16Be] {
            let source = utf16(text.encode_utf16(), encoding);
            assert_eq!(transcode(source.as_slice(), encoding).unwrap(), text, "{encoding:?}");
            // Reads of 1-3 bytes split code units and surrogate pairs.
            assert_eq!(transcode(trickle(&source), encoding).unwrap(), text, "{encoding:?} trickled");
            // Many buffers' worth.
            let long = text.repeat(10_000);
            assert_eq!(transcode(utf16(long.encode_utf16(), encoding).as_slice(), encoding).unwrap(), long);
        }
    }

    #[test]
    fn lone_surrogates_fail_with_their_offset() {
        let a = u16::from(b'a');
        // After the BOM and `a`, a high surrogate followed by `a`; then a low one alone; then a
        // high one at the end of the file.
        for (units, at) in [(vec![a, 0xD800, a], 4), (vec![a, a, 0xDC00, a], 6), (vec![a, 0xD83D], 4)] {
            for encoding in [Encoding::Utf16Le, Encoding::Utf16Be] {
                let source = utf16(units.clone(), encoding);
                let expected = format!("row 0: not valid {} at byte {at}", encoding.as_str());
                assert_eq!(message(transcode(source.as_slice(), encoding)), expected);
                assert_eq!(message(transcode(trickle(&source), encoding)), expected);
            }
        }
        // A file cut inside a code unit.
        assert_eq!(
            message(transcode([0xFF, 0xFE, b'a', 0, b'b'].as_slice(), Encoding::Utf16Le)),
            "row 0: not valid utf-16le at byte 4"
        );
    }

    #[test]
    fn failed_reads_and_writes_are_retried() {
        let source = utf16("a,b\n".encode_utf16(), Encoding::Utf16Le);
        assert!(matches!(transcode(Broken(&source), Encoding::Utf16Le), Err(ScanError::Read(_))));
        assert!(matches!(transcode_utf16(source.as_slice(), Encoding::Utf16Le, Full), Err(ScanError::Read(_))));

        fn read<T>(result: Result<T, ScanError>) -> bool {
            matches!(result, Err(ScanError::Read(e)) if e.kind() == io::ErrorKind::ConnectionReset)
        }
        assert!(read(json_headers(Broken(b"[{\"a\": 1}, "), false)));
        assert!(read(json_headers(Broken(b"{\"a\": 1}\n"), true)));
        assert!(read(json_headers(Broken(b""), false)));
        let headers = strings(&["a"]);
        assert!(read(json_to_csv(Broken(b"[{\"a\": 1}"), false, &headers, io::sink())));
        assert!(matches!(json_to_csv(b"[{\"a\": 1}]".as_slice(), false, &headers, Full), Err(ScanError::Read(_))));
    }

    #[test]
    fn json_array_headers_are_the_union_of_keys_in_first_seen_order() {
        let source = r#"[
            {"name": "Ann", "email": "ann@example.com"},
            {"email": "bob@example.com", "phone": "+1 555 0100", "name": "Bob"},
            {"age": 30, "vip": true, "score": -1.5, "note": null, "email": "cy@example.com"}
        ]"#;
        let (shape, csv) = stage(source, false);
        assert_eq!(shape.headers, strings(&["name", "email", "phone", "age", "vip", "score", "note"]));
        assert_eq!(shape.rows, 3);
        assert_eq!(
            csv,
            "name,email,phone,age,vip,score,note\n\
             Ann,ann@example.com,,,,,\n\
             Bob,bob@example.com,+1 555 0100,,,,\n\
             ,cy@example.com,,30,true,-1.5,\n"
        );
    }

    #[test]
    fn jsonl_skips_blank_lines() {
        let source = "{\"b\": 1, \"a\": \"x\"}\n\n   \r\n{\"c\": false}\r\n\t\n{\"a\": \"y\"}";
        let (shape, csv) = stage(source, true);
        assert_eq!(shape, JsonShape { headers: strings(&["b", "a", "c"]), rows: 3 });
        assert_eq!(csv, "b,a,c\n1,x,\n,,false\n,y,\n");
    }

    #[test]
    fn a_utf8_bom_is_skipped() {
        let (shape, csv) = stage("\u{feff}[{\"a\": 1}]", false);
        assert_eq!(shape.headers, strings(&["a"]));
        assert_eq!(csv, "a\n1\n");
        assert_eq!(stage("\u{feff}{\"a\": 1}\n", true).1, "a\n1\n");
    }

    #[test]
    fn nested_objects_flatten_with_dots() {
        let source = r#"[{"email": "a@x.com", "custom": {"plan": "gold", "limits": {"seats": 5}}, "empty": {}},
                         {"custom": {"plan": "free", "since": "2024"}, "": {"x": 1}}]"#;
        let (shape, csv) = stage(source, false);
        assert_eq!(shape.headers, strings(&["email", "custom.plan", "custom.limits.seats", "custom.since", ".x"]));
        assert_eq!(csv, "email,custom.plan,custom.limits.seats,custom.since,.x\na@x.com,gold,5,,\n,free,,2024,1\n");
    }

    #[test]
    fn arrays_of_scalars_are_joined_and_others_kept_as_json() {
        let source =
            r#"{"tags": ["vip", "b2b", 3, true, null], "none": [], "items": [{"sku": "x", "qty": 2}, [1, "a"]]}"#;
        let (shape, csv) = stage(source, true);
        assert_eq!(shape.headers, strings(&["tags", "none", "items"]));
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(row.iter().collect::<Vec<_>>(), ["vip;b2b;3;true;", "", r#"[{"sku":"x","qty":2},[1,"a"]]"#]);
    }

    #[test]
    fn awkward_strings_round_trip_through_the_csv() {
        let value = "=SUM(A1:A2)\n\"quoted\", with comma\r\nand \\ backslash, é 😀";
        let long = "x".repeat(MAX_FIELD_BYTES + 10);
        // `json!` sorts the keys.
        let source = serde_json::json!([{"s": value, "long": long, "n": 12345678901u64}]).to_string();
        let (_, csv) = stage(&source, false);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["long", "n", "s"]);
        let row = reader.records().next().unwrap().unwrap();
        // Cut one byte past the field limit: still a `value_too_long` row error.
        assert_eq!(row.iter().collect::<Vec<_>>(), [&long[..STRING_CAP], "12345678901", value]);
    }

    /// `[{"email": "a@b.co", "notes": "xxx…"}]` with a notes string of `len` bytes (with an
    /// escape, a multi-byte character and a quote in it), made as it is read: never in memory.
    struct HugeString {
        parts: [Vec<u8>; 2],
        left: u64,
        at: usize,
    }

    impl HugeString {
        fn new(len: u64) -> Self {
            let head = br#"[{"email": "a@b.co", "notes": ""#.to_vec();
            Self { parts: [head, br#""}, {"email": "c@d.co", "notes": "fine"}]"#.to_vec()], left: len, at: 0 }
        }
    }

    impl Read for HugeString {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at < self.parts[0].len() {
                let n = (self.parts[0].len() - self.at).min(buf.len());
                buf[..n].copy_from_slice(&self.parts[0][self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if self.left > 0 {
                let n = (self.left as usize).min(buf.len()) / 8 * 8;
                for chunk in buf[..n].chunks_mut(8) {
                    chunk.copy_from_slice(r#"é\\\"xy"#.as_bytes());
                }
                self.left -= n as u64;
                return Ok(n);
            }
            let tail = &self.parts[1][self.at - self.parts[0].len()..];
            let n = tail.len().min(buf.len());
            buf[..n].copy_from_slice(&tail[..n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Counts what is written, keeping only the start.
    #[derive(Default)]
    struct Counting {
        written: u64,
        start: Vec<u8>,
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written += buf.len() as u64;
            let room = (1usize << 20).saturating_sub(self.start.len());
            self.start.extend_from_slice(&buf[..room.min(buf.len())]);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_huge_string_is_capped_as_it_streams_into_a_row_error() {
        let len = 120 << 20;
        let shape = json_headers(HugeString::new(len), false).unwrap();
        assert_eq!((shape.headers.as_slice(), shape.rows), (strings(&["email", "notes"]).as_slice(), 2));
        let mut out = Counting::default();
        json_to_csv(HugeString::new(len), false, &shape.headers, &mut out).unwrap();
        assert!(out.written < 1 << 20, "the staged copy holds {} bytes", out.written);
        let mut reader = csv::Reader::from_reader(out.start.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[1][1], "fine");
        let notes = &rows[0][1];
        assert!(notes.len() > MAX_FIELD_BYTES && notes.len() < 2 * MAX_FIELD_BYTES, "{}", notes.len());
        assert!(notes.starts_with(r#"é\"xyé"#), "escapes and characters survive the cut");
        // The transform then refuses the value with a reason.
        let headers = shape.headers.clone();
        let columns = crate::mapping::resolve(
            crate::record::ResourceType::Contact,
            &headers,
            &[("notes".to_string(), Some("custom.notes".to_string()))].into(),
        )
        .unwrap();
        let options = crate::validate::RowOptions::default();
        let rules = crate::validate::RowRules {
            resource: crate::record::ResourceType::Contact,
            identifier_field: "email",
            headers: &headers,
            columns: &columns,
            options: &options,
        };
        let errors = rules.build(1, &rows[0]).unwrap_err();
        assert_eq!(errors[0].code, "value_too_long");
        assert!(errors[0].message.contains("the limit is 65536"), "{}", errors[0].message);
    }

    #[test]
    fn huge_arrays_are_cut_past_the_field_limit() {
        let many = vec!["ab"; 1_000_000];
        let nested = vec![serde_json::json!({"k": many[..100_000]}); 10];
        let source = serde_json::json!([{"email": "a@b.co", "tags": many, "nested": nested}]).to_string();
        let (_, csv) = stage(&source, false);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        for (i, cell) in row.iter().enumerate().skip(1) {
            assert!(cell.len() > MAX_FIELD_BYTES && cell.len() < 2 * MAX_FIELD_BYTES, "cell {i}: {}", cell.len());
        }
        assert!(row[2].starts_with("ab;ab;"), "{}", &row[2][..10]);
    }

    #[test]
    fn names_over_1_kb_fail_the_file() {
        let source = format!(r#"[{{"email": "a@b.co", "{}": 1}}]"#, "k".repeat(2000));
        assert_eq!(bad(json_headers(source.as_bytes(), false)), BadFile::LongHeader { column: 2, bytes: 2000 });
    }

    #[test]
    fn no_objects_is_an_empty_shape() {
        for (source, lines) in [("[]", false), (" [ ]\n", false), ("", true), ("\n  \n", true)] {
            assert_eq!(json_headers(source.as_bytes(), lines).unwrap(), JsonShape::default(), "{source:?}");
        }
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let json = message(json_headers("[\n  {\"a\": 1},\n  {\"a\": }\n]".as_bytes(), false));
        assert!(json.starts_with("invalid JSON at line 3 column 9: "), "{json}");
        let jsonl = message(json_headers("{\"a\": 1}\n\n{\"a\": 2,\n".as_bytes(), true));
        assert!(jsonl.starts_with("invalid JSON at line 3 column 8: "), "{jsonl}");
        let trailing = message(json_headers("[{\"a\": 1}] x".as_bytes(), false));
        assert!(trailing.contains("invalid JSON at line 1 column 12: trailing characters"), "{trailing}");
        let two = message(json_headers("{\"a\": 1} {\"a\": 2}\n".as_bytes(), true));
        assert!(two.contains("invalid JSON at line 1 column 10: trailing characters"), "{two}");
        let empty = message(json_headers("".as_bytes(), false));
        assert!(empty.contains("invalid JSON"), "{empty}");
    }

    #[test]
    fn a_json_file_must_be_an_array_of_objects() {
        assert_eq!(
            message(json_headers(r#"{"a": 1}"#.as_bytes(), false)),
            "the JSON file is not an array of objects (found an object)"
        );
        assert!(message(json_headers("\"a\"".as_bytes(), false)).contains("not an array of objects (found a string)"));
        assert_eq!(
            message(json_headers(r#"[{"a": 1}, 2]"#.as_bytes(), false)),
            "element 2 of the JSON array is not an object (found a number)"
        );
        assert_eq!(
            message(json_headers("{\"a\": 1}\n\n[{\"a\": 1}]\n".as_bytes(), true)),
            "line 3 of the JSONL file is not an object (found an array)"
        );
        assert!(message(json_headers("null\n".as_bytes(), true)).contains("(found null)"));
    }

    #[test]
    fn more_than_max_columns_keys_fail() {
        let object = |range: std::ops::Range<usize>| {
            serde_json::Value::Object(range.map(|i| (format!("k{i}"), serde_json::Value::from(i))).collect())
        };
        let exactly = serde_json::json!([object(0..300), object(200..MAX_COLUMNS)]).to_string();
        assert_eq!(json_headers(exactly.as_bytes(), false).unwrap().headers.len(), MAX_COLUMNS);
        let over = serde_json::json!([object(0..300), object(200..MAX_COLUMNS + 1)]).to_string();
        assert_eq!(bad(json_headers(over.as_bytes(), false)), BadFile::TooManyColumns(MAX_COLUMNS + 1));
        let one_line = format!("{}\n", object(0..MAX_COLUMNS + 50));
        assert_eq!(bad(json_headers(one_line.as_bytes(), true)), BadFile::TooManyColumns(MAX_COLUMNS + 1));
    }
}
