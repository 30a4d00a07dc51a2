use std::fmt;
use std::io::{self, Read, Write};

use crate::bad_file::{BadFile, MAX_COLUMNS};
use crate::chunking::ScanError;
use crate::dialect::Encoding;
use crate::validate::MAX_FIELD_BYTES;

use super::cap::STRING_CAP;
use super::*;

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
    let source = r#"{"tags": ["vip", "b2b", 3, true, null], "none": [], "items": [{"sku": "x", "qty": 2}, [1, "a"]]}"#;
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
        schema: None,
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
