//! Reading a CSV upload once, as a stream, to learn its shape and plan the fan-out: the file is
//! cut into chunks of whole records at byte offsets, so each transform reads just its range.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::bad_file::{BadFile, MAX_COLUMNS, MAX_FILE_BYTES, MAX_ROWS};
use crate::budget;
use crate::dedup::{Dedup, DuplicateRows, Duplicates};
use crate::dialect::{read_sample, Dialect, Encoding};
use crate::import::{FileInfo, SampleRecord};
use crate::mapping::{self, ColumnMap};
use crate::options::CsvOptions;
use crate::preview::Preview;
use crate::split::{self, Records, SplitError};
use crate::validate::{RowOptions, RowRules};

/// One transform's share of the file: bytes `[start, end)` hold rows `first_row..first_row+rows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u64,
    pub start: u64,
    pub end: u64,
    pub first_row: u64,
    pub rows: u64,
    /// Rows of this chunk that lose to another copy of the same identifier.
    #[serde(with = "row_runs")]
    pub skip_rows: Vec<u64>,
    /// Rows of this chunk that are errors as copies of one identifier (`duplicates: error`).
    #[serde(default, with = "row_runs")]
    pub duplicate_rows: Vec<u64>,
}

impl Chunk {
    /// The chunk with its rows that do not import as themselves (ascending): copies that lose,
    /// skipped, or with `duplicates: error` (`errors`) every copy, as error rows.
    pub fn with_copies(mut self, rows: Vec<u64>, errors: bool) -> Self {
        if errors {
            self.duplicate_rows = rows;
        } else {
            self.skip_rows = rows;
        }
        self
    }
}

/// Rows (ascending) as they travel in a message: a run of consecutive rows as `[first, last]`,
/// a row alone as itself. A chunk of a file whose copies cluster skips most of its rows: as
/// numbers its list alone could pass SQS's message size, and SQS bills each 64 KB.
mod row_runs {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// No chunk holds more rows than this (`CHUNK_ROWS` is at most 100,000).
    const MAX_RUN: u64 = 1_000_000;

    pub fn serialize<S: Serializer>(rows: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for run in rows.chunk_by(|a, b| a.checked_add(1) == Some(*b)) {
            match run {
                [one] => seq.serialize_element(one)?,
                [first, .., last] => seq.serialize_element(&[*first, *last])?,
                [] => {}
            }
        }
        seq.end()
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Run {
        One(u64),
        Span([u64; 2]),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let mut rows = Vec::new();
        for run in Vec::<Run>::deserialize(d)? {
            match run {
                Run::One(row) => rows.push(row),
                Run::Span([first, last]) if first <= last && last - first < MAX_RUN => rows.extend(first..=last),
                Run::Span([first, last]) => {
                    return Err(serde::de::Error::custom(format!("not a run of rows: [{first}, {last}]")))
                }
            }
        }
        Ok(rows)
    }
}

#[derive(Debug)]
pub struct Scan {
    pub headers: Vec<String>,
    pub columns: ColumnMap,
    pub chunks: Chunks,
    pub file: FileInfo,
    /// With `ScanRules::preview`: the first rows as they would import.
    pub samples: Vec<SampleRecord>,
    /// With `ScanRules::preview`: the distinct values of enum-like columns, by header.
    pub distinct_values: std::collections::BTreeMap<String, Vec<String>>,
    /// How many sample values were cut short.
    pub clipped_values: u64,
}

/// The plan: chunk bounds, and the duplicate rows of the whole file, one bit a row.
#[derive(Debug)]
pub struct Chunks {
    bounds: Vec<Chunk>,
    duplicates: DuplicateRows,
}

impl Chunks {
    pub fn total(&self) -> u64 {
        self.bounds.len() as u64
    }

    /// The chunks in order, each with its duplicate rows listed as it is taken, so only the
    /// chunks being sent hold their lists.
    pub fn iter(&self) -> impl Iterator<Item = Chunk> + '_ {
        self.bounds.iter().map(|chunk| {
            let rows = self.duplicates.rows_in(chunk.first_row..chunk.first_row + chunk.rows);
            chunk.clone().with_copies(rows, self.duplicates.are_errors())
        })
    }
}

/// Why a scan stopped: the file is bad (final), or reading it failed (retry).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Bad(#[from] BadFile),
    #[error("reading the upload failed: {0}")]
    Read(std::io::Error),
    /// The temporary files of deduplication (retried: the next attempt may get a fresh disk).
    #[error("writing temporary files failed: {0}")]
    Spill(std::io::Error),
}

/// What the scan needs to know of the import.
pub struct ScanRules<'a> {
    pub resource: crate::record::ResourceType,
    pub identifier_field: &'a str,
    pub explicit: &'a std::collections::BTreeMap<String, Option<String>>,
    pub options: &'a RowOptions,
    pub duplicates: Duplicates,
    pub chunk_rows: u64,
    /// What the client said of its CSV; detected where silent.
    pub csv: &'a CsvOptions,
    /// Collect sample records and distinct values.
    pub preview: bool,
    /// The tenant's schema the sample records are checked against.
    pub schema: Option<&'a crate::schema::Schema>,
    pub action: crate::options::Action,
}

/// Where a scan that stopped goes on: the first byte of its next row (a chunk's start), the
/// rows before it and the chunks planned before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub offset: u64,
    pub rows: u64,
    pub chunks: u64,
}

/// What one part of a scan read: the chunks of its rows and their identifiers, undecided.
pub struct Part {
    pub headers: Vec<String>,
    pub columns: ColumnMap,
    pub bounds: Vec<Chunk>,
    pub dedup: Dedup,
    pub preview: Option<Preview>,
    /// The file so far: `rows` counts the rows of every part up to this one's end.
    pub file: FileInfo,
    /// Where the next part starts; none once the file has ended.
    pub next: Option<Resume>,
}

impl Part {
    /// A part that read the whole file, decided: the plan.
    pub fn into_scan(self) -> Result<Scan, ScanError> {
        let duplicates = self.dedup.finish(self.file.rows).map_err(ScanError::Spill)?;
        let (samples, distinct_values, clipped_values) =
            self.preview.map(|p| p.finish(&self.headers)).unwrap_or_default();
        Ok(Scan {
            headers: self.headers,
            columns: self.columns,
            chunks: Chunks { bounds: self.bounds, duplicates },
            file: self.file,
            samples,
            distinct_values,
            clipped_values,
        })
    }
}

/// Scans a whole file. Rows are numbered from 1 for the first record after the header.
pub fn scan(reader: impl Read, size: u64, rules: &ScanRules) -> Result<Scan, ScanError> {
    scan_part(reader, None, size, rules, &mut |_| false)?.into_scan()
}

/// A scan that goes on where another part stopped.
pub struct GoOn<'r> {
    pub from: Resume,
    /// The preview so far, with `ScanRules::preview`.
    pub preview: Option<Preview>,
    /// The file from `from.offset` on.
    pub rest: Box<dyn Read + 'r>,
}

/// Scans a file, or the part of it from `go_on`, until its end or until `stop`, asked at each
/// chunk's start after the part's first with the rows the part has read, says so (it is told
/// first with 0 rows, once the part's first row is read). `head` reads the file from its start, for its header.
pub fn scan_part<'r>(
    head: impl Read + 'r,
    go_on: Option<GoOn<'r>>,
    size: u64,
    rules: &ScanRules,
    stop: &mut dyn FnMut(u64) -> bool,
) -> Result<Part, ScanError> {
    if size > MAX_FILE_BYTES {
        return Err(BadFile::TooLarge(size).into());
    }
    let mut head = head;
    let sample = read_sample(&mut head).map_err(ScanError::Read)?;
    let dialect = Dialect::detect(&sample, rules.csv);
    if !dialect.encoding.is_ascii_compatible() {
        // Prevalidation re-encodes such files first; this scan reads bytes.
        return Err(BadFile::Unsupported(format!("{} must be re-encoded first", dialect.encoding.as_str())).into());
    }
    let has_header = rules.csv.has_header;
    let utf8 = dialect.encoding == Encoding::Utf8;
    let delimiter = dialect.delimiter;
    let whole: Box<dyn Read + 'r> = Box::new(std::io::Cursor::new(sample).chain(head));
    let mut records = Records::new(whole, delimiter, utf8);
    let mut scratch = Vec::new();
    let mut raw = csv::ByteRecord::new();
    match records.advance() {
        Ok(true) => split::byte_record(records.record(), delimiter, &mut scratch, &mut raw),
        Ok(false) => return Err(BadFile::NoHeader.into()),
        Err(e) => return Err(split_error(1, e)),
    }
    // Without a header the first record is data, and only gives the number of columns.
    let headers: Vec<String> = match dialect.decode(&raw) {
        Some(h) if !has_header => (1..=h.len()).map(|i| format!("column_{i}")).collect(),
        Some(h) if !h.iter().all(|name| name.trim().is_empty()) => h.iter().map(|s| s.trim().to_string()).collect(),
        Some(_) => return Err(BadFile::NoHeader.into()),
        None => return Err(not_text(0, dialect)),
    };
    if headers.len() > MAX_COLUMNS {
        return Err(BadFile::TooManyColumns(headers.len()).into());
    }
    budget::check_names(&headers)?;
    let columns = mapping::resolve(rules.resource, &headers, rules.explicit).map_err(|errs| {
        BadFile::Mapping(errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
    })?;
    check_header(&headers, &columns)?;
    budget::check_header(&headers, &columns.resolved(&headers))?;
    if columns.column_of(rules.identifier_field).is_none() {
        return Err(BadFile::NoIdentifierColumn(rules.identifier_field.to_string()).into());
    }
    let read = columns.for_action(rules.action, rules.identifier_field);
    let row_rules = RowRules {
        resource: rules.resource,
        identifier_field: rules.identifier_field,
        headers: &headers,
        columns: &read,
        options: rules.options,
        schema: rules.schema,
    };

    // Without a header, the record read for the columns is the first row.
    let mut first_is_data = !has_header;
    let (from, mut preview) = match go_on {
        Some(GoOn { from, preview, rest }) => {
            records = Records::starting_at(rest, from.offset, delimiter, utf8);
            first_is_data = false;
            (from, preview)
        }
        None => (Resume { offset: 0, rows: 0, chunks: 0 }, None),
    };
    if rules.preview && preview.is_none() {
        preview = Some(Preview::new(headers.len()));
    }
    let mut dedup = Dedup::new(rules.duplicates);
    let mut bounds: Vec<Chunk> = Vec::new();
    let id_cell = row_rules.identifier_cell();
    records.find_column(id_cell.as_ref().map(|cell| cell.column));
    let mut identifier = String::new();
    let mut row = from.rows;
    let mut next = None;
    loop {
        if !std::mem::take(&mut first_is_data) {
            match records.advance() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(split_error(row + 1, e)),
            }
        }
        if row == from.rows {
            // The part's first row is in: the scan starts now.
            stop(0);
        }
        let starts_chunk = row.is_multiple_of(rules.chunk_rows);
        if starts_chunk && row > from.rows && stop(row - from.rows) {
            let chunks = from.chunks + bounds.len() as u64;
            next = Some(Resume { offset: records.start(), rows: row, chunks });
            break;
        }
        row += 1;
        // The text is checked as it is read; this row holds the first bad byte if it ends past it.
        if records.bad_text_at().is_some_and(|at| at < records.end()) {
            return Err(not_text(row, dialect));
        }
        if row > MAX_ROWS {
            return Err(BadFile::TooManyRows.into());
        }
        if starts_chunk {
            let start = records.start();
            if let Some(last) = bounds.last_mut() {
                last.end = start;
            }
            bounds.push(Chunk {
                index: from.chunks + bounds.len() as u64,
                start,
                end: size,
                first_row: row,
                rows: 0,
                skip_rows: vec![],
                duplicate_rows: vec![],
            });
        }
        if let Some(last) = bounds.last_mut() {
            last.rows += 1;
        }
        let record = records.record();
        if let Some(id_cell) = id_cell.as_ref() {
            if let Some(at) = records.column_start() {
                let cell = split::field_at(record, at, delimiter, &mut scratch);
                let Some(cell) = dialect.decode_value(cell) else { return Err(not_text(row, dialect)) };
                if let Some(identifier) = id_cell.read(&cell, &mut identifier) {
                    dedup.see(identifier, row).map_err(ScanError::Spill)?;
                }
            }
        }
        if let Some(p) = preview.as_mut() {
            split::byte_record(record, delimiter, &mut scratch, &mut raw);
            let Some(record) = dialect.decode(&raw) else { return Err(not_text(row, dialect)) };
            p.see(row, &record, || row_rules.build(row, &record));
        }
    }
    match next {
        Some(next) => {
            if let Some(last) = bounds.last_mut() {
                last.end = next.offset;
            }
        }
        None if records.bad_text_at().is_some() => return Err(not_text(row.max(1), dialect)),
        None => {}
    }
    let file = FileInfo {
        size,
        rows: row,
        detected_encoding: dialect.encoding.as_str().into(),
        delimiter: (dialect.delimiter as char).to_string(),
        had_bom: dialect.had_bom,
        line_ending: dialect.line_ending.into(),
        format: "csv".into(),
        compression: "none".into(),
        ..FileInfo::default()
    };
    Ok(Part { headers, columns, bounds, dedup, preview, file, next })
}

fn check_header(headers: &[String], columns: &ColumnMap) -> Result<(), BadFile> {
    for (i, (h, field)) in headers.iter().zip(&columns.columns).enumerate() {
        if h.is_empty() && field.is_some() {
            return Err(BadFile::EmptyHeader(i + 1));
        }
        if let Some(j) = headers[..i].iter().position(|p| p == h) {
            if field.is_some() || columns.columns[j].is_some() {
                return Err(BadFile::DuplicateHeader(h.clone()));
            }
        }
    }
    Ok(())
}

/// A failed read is retried; bytes that are not CSV fail the file.
fn split_error(row: u64, e: SplitError) -> ScanError {
    match e {
        SplitError::Read(io) => ScanError::Read(io),
        SplitError::UnterminatedQuote => BadFile::UnterminatedQuote(row).into(),
        SplitError::TooLong => BadFile::Unreadable { row, message: e.to_string() }.into(),
    }
}

fn not_text(row: u64, dialect: Dialect) -> ScanError {
    BadFile::Unreadable { row, message: format!("not valid {}", dialect.encoding.as_str()) }.into()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde_json::Value;

    use super::*;
    use crate::record::ResourceType;

    static NO_OPTIONS: std::sync::LazyLock<RowOptions> = std::sync::LazyLock::new(RowOptions::default);
    static NO_MAPPINGS: BTreeMap<String, Option<String>> = BTreeMap::new();
    static DETECT: std::sync::LazyLock<CsvOptions> = std::sync::LazyLock::new(CsvOptions::default);

    /// Contacts by email, in chunks of 10.
    fn email_rules() -> ScanRules<'static> {
        ScanRules {
            options: &NO_OPTIONS,
            duplicates: Duplicates::Last,
            resource: ResourceType::Contact,
            identifier_field: "email",
            explicit: &NO_MAPPINGS,
            chunk_rows: 10,
            csv: &DETECT,
            preview: false,
            schema: None,
            action: Default::default(),
        }
    }

    fn testdata(path: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)).unwrap()
    }

    /// Scans with the first column as the identifier, so any file plans.
    fn scan_any(bytes: &[u8], chunk_rows: u64) -> Result<Scan, ScanError> {
        let mut reader = Dialect::sniff(bytes).reader(bytes, true);
        let first =
            String::from_utf8_lossy(reader.byte_headers().unwrap().get(0).unwrap_or_default()).trim().to_string();
        let explicit = BTreeMap::from([(first, Some("external_id".to_string()))]);
        let rules = ScanRules {
            options: &NO_OPTIONS,
            duplicates: Duplicates::Last,
            resource: ResourceType::Contact,
            identifier_field: "external_id",
            explicit: &explicit,
            chunk_rows,
            csv: &DETECT,
            preview: false,
            schema: None,
            action: Default::default(),
        };
        scan(bytes, bytes.len() as u64, &rules)
    }

    /// What a transform reads: each chunk's byte range alone, without the header.
    fn read_chunks(bytes: &[u8], scan: &Scan) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for chunk in scan.chunks.iter() {
            let part = &bytes[chunk.start as usize..chunk.end as usize];
            let mut reader = Dialect::sniff(bytes).reader(part, false);
            let got: Vec<Vec<String>> =
                reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
            assert_eq!(got.len() as u64, chunk.rows, "chunk {} holds exactly its rows", chunk.index);
            rows.extend(got);
        }
        rows
    }

    #[test]
    fn csv_spectrum_records_survive_chunking() {
        for name in [
            "comma_in_quotes",
            "empty",
            "empty_crlf",
            "escaped_quotes",
            "json",
            "newlines",
            "newlines_crlf",
            "quotes_and_newlines",
            "simple",
            "simple_crlf",
            "utf8",
        ] {
            let bytes = testdata(&format!("csv-spectrum/csvs/{name}.csv"));
            let expected: Vec<BTreeMap<String, String>> =
                serde_json::from_slice(&testdata(&format!("csv-spectrum/json/{name}.json"))).unwrap();
            for chunk_rows in [1, 2, 1000] {
                let scan = scan_any(&bytes, chunk_rows).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(scan.file.rows as usize, expected.len(), "{name}");
                let rows = read_chunks(&bytes, &scan);
                let got: Vec<BTreeMap<String, String>> =
                    rows.iter().map(|r| scan.headers.iter().cloned().zip(r.iter().cloned()).collect()).collect();
                assert_eq!(got, expected, "{name} in chunks of {chunk_rows}");
            }
        }
    }

    /// csv-spectrum's expected JSON for this file is an object with another phone number; its CSV
    /// holds U+FFFD where a degree sign was, which is valid UTF-8.
    #[test]
    fn csv_spectrum_location_coordinates() {
        let bytes = testdata("csv-spectrum/csvs/location_coordinates.csv");
        let scan = scan_any(&bytes, 1).unwrap();
        let rows = read_chunks(&bytes, &scan);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "37\u{FFFD}36'37.8\"N 121\u{FFFD}2'17.9\"W");
        assert_eq!(rows[0][2], "Modesto");
    }

    #[test]
    fn chunks_cover_the_rows_in_order() {
        let bytes = b"email\na@x.io\nb@x.io\nc@x.io\nd@x.io\ne@x.io\n";
        let scan = scan_any(bytes, 2).unwrap();
        let chunks: Vec<Chunk> = scan.chunks.iter().collect();
        let plan: Vec<(u64, u64)> = chunks.iter().map(|c| (c.first_row, c.rows)).collect();
        assert_eq!(plan, vec![(1, 2), (3, 2), (5, 1)]);
        assert_eq!(chunks.last().unwrap().end, bytes.len() as u64);
        assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn duplicates_are_planned_as_skips_in_their_own_chunk() {
        let bytes = b"external_id\nA\nB\nA\nC\nA\n";
        let scan = scan_any(bytes, 2).unwrap();
        let skips: Vec<Vec<u64>> = scan.chunks.iter().map(|c| c.skip_rows.clone()).collect();
        assert_eq!(skips, vec![vec![1], vec![3], vec![]]);
    }

    #[test]
    fn a_bom_is_reported_and_kept_out_of_the_header() {
        let bytes = testdata("mpdx-fixtures/sample_csv_with_bom.csv");
        let scan = scan_any(&bytes, 1000).unwrap();
        assert!(scan.file.had_bom);
        assert_eq!(scan.headers[0], "Contact Name");
        assert_eq!(scan.file.line_ending, "lf");
    }

    #[test]
    fn mpdx_headers_map_to_contact_fields() {
        let bytes = testdata("mpdx-fixtures/sample_csv_with_custom_headers.csv");
        let rules = email_rules();
        let scan = scan(bytes.as_slice(), bytes.len() as u64, &rules).unwrap();
        let resolved = scan.columns.resolved(&scan.headers);
        assert_eq!(resolved["email-address"].as_deref(), Some("email"));
        assert_eq!(resolved["fname"].as_deref(), Some("first_name"));
        assert_eq!(resolved["zip-code"].as_deref(), Some("postal_code"));
        assert_eq!(resolved["Spouse-email-address"], None);
    }

    /// Parts that stop every two chunks and go on from where they stopped plan the chunks of
    /// one scan, quoted line breaks and all, and count every row once.
    #[test]
    fn a_scan_in_parts_plans_the_chunks_of_one_scan() {
        let mut file = String::from("email,notes\r\n");
        for i in 1..=95 {
            file.push_str(&format!("p{}@x.io,\"a\r\nquoted, {i}\"\r\n", i % 30));
        }
        let bytes = file.as_bytes();
        let rules = email_rules();
        let whole = scan(bytes, bytes.len() as u64, &rules).unwrap();
        let (mut bounds, mut from, mut parts) = (Vec::new(), None, 0);
        loop {
            let go_on = from.map(|from: Resume| GoOn {
                from,
                preview: None,
                rest: Box::new(&bytes[from.offset as usize..]) as Box<dyn Read>,
            });
            let part = scan_part(bytes, go_on, bytes.len() as u64, &rules, &mut |rows| rows >= 20).unwrap();
            bounds.extend(part.bounds);
            parts += 1;
            match part.next {
                Some(next) => from = Some(next),
                None => {
                    assert_eq!(part.file.rows, 95);
                    break;
                }
            }
        }
        assert_eq!(parts, 5);
        assert_eq!(bounds, whole.chunks.bounds);
    }

    #[test]
    fn skipped_rows_travel_as_runs_and_read_back_as_rows() {
        let chunk = Chunk {
            index: 0,
            start: 0,
            end: 1,
            first_row: 1,
            rows: 20,
            skip_rows: vec![1, 2, 3, 5, 7, 8, 20],
            duplicate_rows: vec![],
        };
        let json = serde_json::to_value(&chunk).unwrap();
        assert_eq!(json["skip_rows"], serde_json::json!([[1, 3], 5, [7, 8], 20]));
        assert_eq!(serde_json::from_value::<Chunk>(json).unwrap(), chunk);
        // A message sent before runs, with its rows as numbers, reads the same.
        let mut old = serde_json::to_value(&chunk).unwrap();
        old["skip_rows"] = serde_json::json!([1, 2, 3, 5, 7, 8, 20]);
        assert_eq!(serde_json::from_value::<Chunk>(old.clone()).unwrap(), chunk);
        for bad in [serde_json::json!([[5, 3]]), serde_json::json!([[1, 10_000_000]]), serde_json::json!(["x"])] {
            old["skip_rows"] = bad;
            assert!(serde_json::from_value::<Chunk>(old.clone()).is_err());
        }
    }

    #[test]
    fn files_that_cannot_be_read_say_why() {
        let rules = email_rules();
        let run = |b: &[u8]| match scan(b, b.len() as u64, &rules) {
            Err(ScanError::Bad(bad)) => bad,
            other => panic!("{other:?}"),
        };
        assert_eq!(run(b""), BadFile::NoHeader);
        assert_eq!(run(b"name\nAnn\n"), BadFile::NoIdentifierColumn("email".into()));
        assert_eq!(run(b"email,email\na@x.io,b@x.io\n"), BadFile::DuplicateHeader("email".into()));
        assert!(scan(b"email,,x\na@x.io,1,2\n".as_slice(), 20, &rules).is_ok(), "an empty, unmapped header is fine");
        // Until other encodings are detected, a Latin-1 file fails clearly instead of importing mojibake.
        // Valid UTF-8 in the sniffed start, then a byte that is not: the row says where.
        let mut late = b"email\n".to_vec();
        let mut good_rows = 0;
        while late.len() < 70 * 1024 {
            late.extend_from_slice(b"someone@example.com\n");
            good_rows += 1;
        }
        late.extend_from_slice(b"caf\xe9@example.com\n");
        let result = scan_any(&late, 10).map(|s| s.file);
        let expected = good_rows + 1;
        assert!(
            matches!(result, Err(ScanError::Bad(BadFile::Unreadable { row, .. })) if row == expected),
            "{result:?}"
        );
        let utf16 = b"\xFF\xFEe\x00m\x00";
        assert!(matches!(scan_any(utf16, 10), Err(ScanError::Bad(BadFile::Unsupported(_)))));
    }

    #[test]
    fn an_unterminated_quote_fails_instead_of_swallowing_rows() {
        let rules = email_rules();
        let bad = b"email,notes\na@x.io,\"oops\nb@x.io,fine\nc@x.io,fine\n";
        assert!(matches!(scan(bad.as_slice(), 40, &rules), Err(ScanError::Bad(BadFile::UnterminatedQuote(1)))));
        let good = b"email,notes\na@x.io,\"multi\nline \"\"quoted\"\"\"\nb@x.io,\"x\"\n";
        assert_eq!(scan(good.as_slice(), 40, &rules).unwrap().file.rows, 2);
        // A quote inside an unquoted field is a literal, in the last row too.
        let inch = b"email,notes\na@x.io,12\" screens\nb@x.io,5'11\"\n";
        assert_eq!(scan(inch.as_slice(), 40, &rules).unwrap().file.rows, 2);
        let late = b"email,notes\na@x.io,fine\nb@x.io,\"never closed\nc@x.io,x\n";
        assert!(matches!(scan(late.as_slice(), 40, &rules), Err(ScanError::Bad(BadFile::UnterminatedQuote(2)))));
    }

    #[test]
    fn too_many_columns_fail_the_file() {
        let rules = email_rules();
        let header = std::iter::once("email".to_string()).chain((1..=500).map(|i| format!("c{i}"))).collect::<Vec<_>>();
        let file = format!("{}\n", header.join(","));
        assert!(matches!(scan(file.as_bytes(), 9, &rules), Err(ScanError::Bad(BadFile::TooManyColumns(501)))));
    }

    #[test]
    fn windows_1252_files_decode() {
        let bytes = testdata("mpdx-fixtures/sample_csv_iso_8950_1.csv");
        let scan = scan_any(&bytes, 10).unwrap();
        assert_eq!((scan.file.detected_encoding.as_str(), scan.file.line_ending.as_str()), ("windows-1252", "crlf"));
        let dialect = Dialect::for_reading(Encoding::Windows1252, ',');
        let chunk = scan.chunks.iter().next().unwrap();
        let part = &bytes[chunk.start as usize..chunk.end as usize];
        let first = dialect.reader(part, false).byte_records().next().unwrap().unwrap();
        assert_eq!(&dialect.decode(&first).unwrap()[0], "Lané, John");
    }

    #[test]
    fn semicolons_and_tabs_are_detected() {
        let cases =
            [(&b"email;name\na@x.io;Ann, B\n"[..], ";", "Ann, B"), (&b"email\tname\na@x.io\tAnn\n"[..], "\t", "Ann")];
        for (bytes, delimiter, name) in cases {
            let scan = scan_any(bytes, 10).unwrap();
            assert_eq!(scan.file.delimiter, delimiter);
            assert_eq!(scan.headers, ["email", "name"]);
            assert_eq!(read_chunks(bytes, &scan)[0][1], name);
        }
    }

    #[test]
    fn ragged_rows_still_plan() {
        let bytes: &[u8] = b"email,name\na@x.io,Ann\nb@x.io\nc@x.io,Cy,extra\n";
        let scan = scan_any(bytes, 10).unwrap();
        assert_eq!(scan.file.rows, 3);
        assert_eq!(Value::from(scan.chunks.total()), Value::from(1));
    }
}
